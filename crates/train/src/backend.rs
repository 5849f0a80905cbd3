//! Picking the device the network runs on.
//!
//! burn 0.22 has one tensor type for every backend; the device decides. `Device::default()`
//! silently prefers wgpu when it is compiled in, so restock always picks explicitly:
//!
//! - `cpu` — burn's flex backend (the CPU fallback; faster than ndarray here, see
//!   docs/benchmarks.md);
//! - `ndarray` — burn's older CPU backend, kept for comparison;
//! - `wgpu` — a GPU through Vulkan/Metal/DX12: discrete, then integrated, then virtual GPU
//!   number `device`; failing those, any adapter wgpu offers, a software one (lavapipe) included;
//! - `auto` — what is faster for the work ([`Work`]): for training, `wgpu` on a hardware GPU when
//!   one exists, else `cpu` (a software Vulkan adapter is slower than the CPU backend, so `auto`
//!   never picks it); for forecasting, `cpu` here, without probing for a GPU. A forecast job of a
//!   catalogue of 4,096 SKUs or more goes further (`restock_infer::auto`): it times the run's
//!   network on both devices and takes the one that forecasts the catalogue sooner. On the one
//!   GPU machine measured before that (issue 15: an H100 with 16 cores), restock's wgpu path
//!   forecast 30,490 SKUs in 3.0 s against 1.4 s on the CPU, and 1,000,000 SKUs in 41.9 s
//!   against 42.7 s, while it trained 4× faster than the CPU. The description says which rule
//!   chose.

use burn::prelude::*;

use crate::config::BackendKind;
use crate::{Error, Result};

/// A device and a human description of it.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The device (without autodiff).
    pub device: Device,
    /// What was picked, e.g. `wgpu: NVIDIA H100 (discrete GPU 0)` or `cpu (flex)`.
    pub description: String,
    /// Whether the device is a GPU through wgpu.
    pub is_wgpu: bool,
}

/// What the device is for: `auto` picks differently (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Training: a hardware GPU when there is one.
    Training,
    /// Forecasting a catalogue: the CPU.
    Forecasting,
}

/// Pick the device for `kind` and `work`; `index` selects among GPUs.
pub fn select_for(kind: BackendKind, index: usize, work: Work) -> Result<Selected> {
    if kind == BackendKind::Auto && work == Work::Forecasting {
        let mut s = cpu();
        s.description.push_str(
            " — auto: forecasting is faster on the CPU backend than through wgpu (measured on an \
             H100; ask for --backend wgpu to use a GPU)",
        );
        return Ok(s);
    }
    select(kind, index)
}

/// Pick the device for `kind` (for `auto`, as for training); `index` selects among GPUs.
pub fn select(kind: BackendKind, index: usize) -> Result<Selected> {
    match kind {
        BackendKind::Cpu => Ok(cpu()),
        #[allow(deprecated)] // kept to compare with flex (docs/benchmarks.md)
        BackendKind::Ndarray => Ok(Selected {
            device: Device::ndarray(),
            description: "cpu (ndarray)".into(),
            is_wgpu: false,
        }),
        BackendKind::Wgpu => {
            let mut tried = Vec::new();
            let kinds = [
                ("discrete GPU", DeviceKind::DiscreteGpu(index)),
                ("integrated GPU", DeviceKind::IntegratedGpu(index)),
                ("virtual GPU", DeviceKind::VirtualGpu(index)),
                ("software adapter", DeviceKind::Cpu),
            ];
            for (label, kind) in kinds {
                match wgpu(kind, label, index) {
                    Ok(selected) => return Ok(selected),
                    Err(reason) => tried.push(format!("{label} {index}: {reason}")),
                }
            }
            Err(Error::Backend {
                backend: "wgpu".into(),
                reason: format!(
                    "no adapter found ({}); on Linux install a Vulkan driver (Debian: mesa-vulkan-drivers)",
                    tried.join("; ")
                ),
            })
        }
        BackendKind::Auto => {
            for (label, kind) in [
                ("discrete GPU", DeviceKind::DiscreteGpu(index)),
                ("integrated GPU", DeviceKind::IntegratedGpu(index)),
            ] {
                if let Ok(selected) = wgpu(kind, label, index) {
                    return Ok(selected);
                }
            }
            let mut s = cpu();
            s.description
                .push_str(" — auto: no hardware GPU adapter found");
            Ok(s)
        }
    }
}

fn cpu() -> Selected {
    Selected {
        device: Device::flex(),
        description: "cpu (flex)".into(),
        is_wgpu: false,
    }
}

/// wgpu adapters this process has asked for, and what came of it: a runtime registers once, so
/// a second `init` of the same adapter fails, and later selections reuse the first; an adapter
/// that is not there is not probed again either (each probe loads the Vulkan driver stack, which
/// on a headless machine also prints its complaints, once per probe: a weekly cycle selects a
/// device a dozen times).
static OPENED: std::sync::Mutex<Vec<(String, std::result::Result<Selected, String>)>> =
    std::sync::Mutex::new(Vec::new());

fn wgpu(kind: DeviceKind, label: &str, index: usize) -> std::result::Result<Selected, String> {
    let key = format!("{kind:?}");
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = opened.iter().find(|(k, _)| *k == key) {
        return s.clone();
    }
    let selected = open_wgpu(kind, label, index);
    opened.push((key, selected.clone()));
    selected
}

fn open_wgpu(kind: DeviceKind, label: &str, index: usize) -> std::result::Result<Selected, String> {
    // Acquiring an adapter can panic inside the driver stack on broken installs; treat a panic as
    // "not available" rather than taking the run down.
    let software = matches!(kind, DeviceKind::Cpu);
    let acquired =
        std::panic::catch_unwind(move || Device::wgpu_options().device_kind(kind).init());
    match acquired {
        Ok(Ok(device)) => {
            let name = device
                .identity()
                .map(|id| id.name)
                .unwrap_or_else(|| "unnamed adapter".into());
            let which = if software {
                label.to_string()
            } else {
                format!("{label} {index}")
            };
            Ok(Selected {
                device,
                description: format!("wgpu: {name} ({which})"),
                is_wgpu: true,
            })
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the driver panicked while opening the adapter".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_forecasts_on_the_cpu_and_says_why() {
        let s = select_for(BackendKind::Auto, 0, Work::Forecasting).expect("cpu");
        assert!(!s.is_wgpu);
        assert!(
            s.description.starts_with("cpu (flex) — auto: forecasting"),
            "{}",
            s.description
        );
        // An explicit kind is obeyed whatever the work.
        let s = select_for(BackendKind::Cpu, 0, Work::Forecasting).expect("cpu");
        assert_eq!(s.description, "cpu (flex)");
    }
}
