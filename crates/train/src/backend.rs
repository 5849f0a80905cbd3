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
//! - `auto` — `wgpu` on a hardware GPU when one exists, else `cpu`. A software Vulkan adapter
//!   is slower than the CPU backend, so `auto` never picks it.

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

/// Pick the device for `kind`; `index` selects among GPUs.
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

/// wgpu adapters already opened in this process: a runtime registers once, so a second
/// `init` of the same adapter fails; later selections reuse the first.
static OPENED: std::sync::Mutex<Vec<(String, Selected)>> = std::sync::Mutex::new(Vec::new());

fn wgpu(kind: DeviceKind, label: &str, index: usize) -> std::result::Result<Selected, String> {
    let key = format!("{kind:?}");
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = opened.iter().find(|(k, _)| *k == key) {
        return Ok(s.clone());
    }
    let selected = open_wgpu(kind, label, index)?;
    opened.push((key, selected.clone()));
    Ok(selected)
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
