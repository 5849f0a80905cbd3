//! `backend = "auto"` for a forecast job: the device that forecasts the catalogue sooner,
//! measured on the spot rather than assumed.
//!
//! When a hardware GPU exists and the catalogue is large enough to matter, the run's network is
//! timed on both devices on a probe batch of the network's input shape (after an untimed pass:
//! on the GPU of the same batch, which compiles its kernels for that shape; on the CPU, which has
//! nothing to compile, of a few windows): on the CPU one batch of 256 on one core, scaled by the
//! cores (batches run one per core), on the GPU one batch of up to 16,384 (the job's batches are
//! larger, so this favours the CPU a little). Each time is extrapolated to the catalogue and the
//! faster device wins; the forecast summary's backend line says the two estimates. Reading,
//! routing and writing cost the same on both and are left out. The CPU's probe is a cost every
//! `auto` job pays, so it is kept small: on an H200 machine the first design (an untimed and a
//! timed pass of 1,024 windows) took about 1 s of a 30,490-SKU job whose network took 0.7 s.
//!
//! The CPU is probed first: when its estimate is below what opening a GPU costs (the adapter,
//! the buffers and the kernels' compilation: [`GPU_START_SECONDS`], measured on an H100), the
//! GPU is not opened at all, since it cannot win back its own start.

use std::time::Instant;

use burn::prelude::*;
use restock_model::{DemandModel, DemandModelConfig, ModelInput};

use crate::{Error, Result};

/// Below this many SKUs a forecast job does not probe: the CPU takes about a second for them.
pub const MIN_PROBE_SKUS: usize = 4096;

/// The CPU's probe batch: a quarter of its forecast batch, enough to time a core's throughput.
pub const CPU_PROBE_BATCH: usize = crate::network::CPU_BATCH / 4;

/// Windows of the CPU's untimed pass before its probe (allocations, caches).
pub const CPU_WARMUP_BATCH: usize = 16;

/// The GPU's largest probe batch.
pub const GPU_PROBE_BATCH: usize = 16_384;

/// Seconds to open a GPU and compile the network's kernels before its first forecast: about
/// 2.7 s on an NVIDIA H100 through Vulkan (docs/benchmarks.md, session 9: the whole 30,490-SKU
/// command took 4.32 s on the GPU with 0.31 s of network, against 1.69 s on the CPU); set a
/// little below it, so a close call is still measured.
pub const GPU_START_SECONDS: f64 = 2.5;

/// A timed forecast of `batch` windows; `lanes` such batches run at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// Windows in the probe batch.
    pub batch: usize,
    /// Seconds for it, readback included.
    pub seconds: f64,
    /// Batches that run at once (the CPU's cores; 1 on a GPU).
    pub lanes: usize,
}

impl Probe {
    /// Estimated network seconds for `skus` windows.
    pub fn seconds_for(&self, skus: usize) -> f64 {
        let per_second = (self.batch * self.lanes.max(1)) as f64 / self.seconds.max(1e-9);
        skus as f64 / per_second
    }
}

/// Whether the GPU forecasts `skus` sooner than the CPU, and why, in words.
pub fn prefer_gpu(cpu: &Probe, gpu: &Probe, skus: usize) -> (bool, String) {
    let (c, g) = (cpu.seconds_for(skus), gpu.seconds_for(skus));
    let gpu_wins = g < c;
    let why = format!(
        "auto: about {g:.2} s of network on the GPU against {c:.2} s on the CPU for ~{skus} SKUs \
         (probes: {} windows in {:.3} s on the GPU; {} in {:.3} s on one of {} cores)",
        gpu.batch, gpu.seconds, cpu.batch, cpu.seconds, cpu.lanes
    );
    (gpu_wins, why)
}

/// Why the GPU is not worth opening for `skus` SKUs, when the CPU's estimate is below the GPU's
/// start-up; `None` when it may be.
pub fn cpu_is_sooner_than_gpu_start(cpu: &Probe, skus: usize) -> Option<String> {
    let c = cpu.seconds_for(skus);
    (c < GPU_START_SECONDS).then(|| {
        format!(
            "auto: about {c:.2} s of network on the CPU for ~{skus} SKUs (probe: {} windows in \
             {:.3} s on one of {} cores), less than the ~{GPU_START_SECONDS} s a GPU takes to \
             start; the GPU was not opened",
            cpu.batch, cpu.seconds, cpu.lanes
        )
    })
}

/// Time `model` on `device` forecasting `batch` windows of zeros, after one untimed pass of
/// `warmup` windows (on a GPU the same `batch`, so its kernels are compiled for that shape).
pub fn probe(
    model: &DemandModel,
    config: &DemandModelConfig,
    device: &Device,
    (warmup, batch): (usize, usize),
    lanes: usize,
) -> Result<Probe> {
    let (c, h) = (config.context, config.horizon);
    let most = warmup.max(batch);
    let past_y = vec![0.0f32; most * c];
    let mask = vec![1.0f32; most * c];
    let past_x = vec![0.0f32; most * c * config.past_features];
    let future_x = vec![0.0f32; most * h * config.future_features];
    let statics = vec![0u32; most * config.static_cardinalities.len()];
    let run = |batch: usize| -> Result<()> {
        let input = ModelInput::from_slices(
            config, batch, &past_y, &mask, &past_x, &future_x, &statics, device,
        );
        model
            .forward(input)?
            .try_into_data()
            .map_err(|e| Error::Network(format!("probing the device: {e}")))?;
        Ok(())
    };
    run(warmup.max(1))?;
    let t = Instant::now();
    run(batch)?;
    Ok(Probe {
        batch,
        seconds: t.elapsed().as_secs_f64(),
        lanes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faster_device_for_the_catalogue_wins() {
        // CPU: 1,024 windows in 0.1 s per core, 16 cores: 163,840 windows/s.
        let cpu = Probe {
            batch: 1024,
            seconds: 0.1,
            lanes: 16,
        };
        // GPU: 16,384 in 0.05 s: 327,680 windows/s.
        let gpu = Probe {
            batch: 16_384,
            seconds: 0.05,
            lanes: 1,
        };
        assert!((cpu.seconds_for(163_840) - 1.0).abs() < 1e-9);
        let (wins, why) = prefer_gpu(&cpu, &gpu, 1_000_000);
        assert!(wins, "{why}");
        assert!(
            why.contains("3.05 s of network on the GPU against 6.10 s on the CPU"),
            "{why}"
        );
        let slow_gpu = Probe {
            seconds: 0.5,
            ..gpu
        };
        assert!(!prefer_gpu(&cpu, &slow_gpu, 1_000_000).0);
    }

    #[test]
    fn a_catalogue_the_cpu_forecasts_before_a_gpu_starts_stays_on_the_cpu() {
        // The H100 machine's probe: 1,024 windows in 0.542 s on one of 16 cores.
        let cpu = Probe {
            batch: 1024,
            seconds: 0.542,
            lanes: 16,
        };
        let why = cpu_is_sooner_than_gpu_start(&cpu, 30_490).expect("the CPU is sooner");
        assert!(why.contains("about 1.01 s of network on the CPU"), "{why}");
        assert!(why.contains("the GPU was not opened"), "{why}");
        // A million SKUs take the CPU ~33 s: the GPU is worth probing.
        assert_eq!(cpu_is_sooner_than_gpu_start(&cpu, 1_000_000), None);
    }

    #[test]
    fn a_probe_times_the_network_on_the_cpu() {
        let device = Device::flex();
        device.seed(1);
        let config = DemandModelConfig {
            context: 8,
            horizon: 2,
            past_features: 3,
            future_features: 1,
            static_cardinalities: vec![3],
            embedding_dim: 2,
            hidden: 4,
            layers: 1,
            dropout: 0.0,
            decoder_hidden: 4,
            horizon_embedding: 2,
            quantiles: vec![0.1, 0.5, 0.9],
        };
        let model = config.init(&device);
        let p = probe(&model, &config, &device, (8, 64), 2).unwrap();
        assert_eq!((p.batch, p.lanes), (64, 2));
        assert!(p.seconds > 0.0 && p.seconds.is_finite());
    }
}
