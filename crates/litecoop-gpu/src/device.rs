//! Adapter discovery and selection, and the open device with its limits and error capture.

use litecoop_ir::legality::DeviceLimits;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Why no device could be opened.
#[derive(Debug, Error, Serialize, Deserialize)]
pub enum DeviceError {
    /// No adapter at all.
    #[error("no GPU adapter found (no Vulkan, Metal, DX12 or GL driver). On Debian/Ubuntu run `scripts/setup` to install Mesa's software Vulkan driver (lavapipe)")]
    NoAdapter,
    /// The `--adapter` choice matches nothing.
    #[error(
        "no adapter matches `{choice}`; run `litecoop devices` to list them (choose by index or by part of the name)"
    )]
    NoMatch {
        /// What the user asked for.
        choice: String,
    },
    /// The adapter refused to open a device.
    #[error("adapter `{adapter}` could not open a device: {message}")]
    RequestDevice {
        /// The adapter.
        adapter: String,
        /// wgpu's message.
        message: String,
    },
}

/// What `litecoop devices` shows of one adapter.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterSummary {
    /// Position in the list (usable with `--adapter`).
    pub index: usize,
    /// Adapter name.
    pub name: String,
    /// Vulkan, Metal, Dx12 or Gl.
    pub backend: String,
    /// DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu or Other.
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version details.
    pub driver_info: String,
    /// The limits legality uses.
    pub limits: DeviceLimits,
    /// Whether compute passes can write timestamps.
    pub timestamp_query: bool,
    /// Whether subgroup operations are available.
    pub subgroups: bool,
    /// Whether f16 arithmetic is available in shaders.
    pub shader_f16: bool,
}

impl AdapterSummary {
    /// A stable identity of the device and driver, for caches and databases.
    pub fn fingerprint(&self) -> String {
        format!("{} | {} | {} | {}", self.name, self.backend, self.driver, self.driver_info)
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
    wgpu::Instance::new(desc)
}

/// The limits legality uses; subgroup sizes only when the adapter offers subgroup operations.
fn limits_of(l: &wgpu::Limits, info: &wgpu::AdapterInfo, subgroups: bool) -> DeviceLimits {
    DeviceLimits {
        max_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
        max_workgroup_size_x: l.max_compute_workgroup_size_x,
        max_workgroup_size_y: l.max_compute_workgroup_size_y,
        max_workgroup_storage_bytes: l.max_compute_workgroup_storage_size,
        max_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        max_storage_buffer_binding_size: l.max_storage_buffer_binding_size.min(l.max_buffer_size),
        max_storage_buffers_per_stage: l.max_storage_buffers_per_shader_stage,
        min_subgroup_size: if subgroups { info.subgroup_min_size } else { 0 },
        max_subgroup_size: if subgroups { info.subgroup_max_size } else { 0 },
    }
}

fn summarize(index: usize, a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let features = a.features();
    let subgroups = features.contains(wgpu::Features::SUBGROUP);
    let limits = limits_of(&a.limits(), &info, subgroups);
    AdapterSummary {
        index,
        name: info.name,
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: info.driver,
        driver_info: info.driver_info,
        limits,
        timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        subgroups,
        shader_f16: features.contains(wgpu::Features::SHADER_F16),
    }
}

/// Native APIs (Vulkan, Metal, DX12) first; GL only when none of them has an adapter, since GL adds
/// nothing for compute and its EGL probing is noisy. `WGPU_BACKEND` (e.g. `gl`) overrides.
fn adapters() -> Vec<wgpu::Adapter> {
    let list = |backends| pollster::block_on(instance(backends).enumerate_adapters(backends));
    if let Some(backends) = wgpu::Backends::from_env() {
        return list(backends);
    }
    let native = list(wgpu::Backends::PRIMARY);
    if !native.is_empty() {
        return native;
    }
    list(wgpu::Backends::SECONDARY)
}

/// Every adapter wgpu can see, in a stable order.
pub fn list_adapters() -> Vec<AdapterSummary> {
    adapters().iter().enumerate().map(|(i, a)| summarize(i, a)).collect()
}

/// Preference when the user does not choose: discrete, integrated, virtual, CPU; native APIs before GL.
fn rank(a: &AdapterSummary) -> (u8, u8) {
    let kind = match a.device_type.as_str() {
        "DiscreteGpu" => 0,
        "IntegratedGpu" => 1,
        "VirtualGpu" => 2,
        "Cpu" => 3,
        _ => 4,
    };
    (kind, u8::from(a.backend == "Gl"))
}

/// The index of the adapter to use: `choice` is an index or a case-insensitive part of the name.
pub fn choose(list: &[AdapterSummary], choice: Option<&str>) -> Result<usize, DeviceError> {
    if list.is_empty() {
        return Err(DeviceError::NoAdapter);
    }
    match choice {
        None => Ok(list.iter().min_by_key(|a| (rank(a), a.index)).map(|a| a.index).unwrap_or(0)),
        Some(c) => {
            if let Ok(i) = c.parse::<usize>() {
                return list.get(i).map(|a| a.index).ok_or_else(|| DeviceError::NoMatch { choice: c.into() });
            }
            let needle = c.to_lowercase();
            list.iter()
                .filter(|a| a.name.to_lowercase().contains(&needle))
                .min_by_key(|a| (rank(a), a.index))
                .map(|a| a.index)
                .ok_or_else(|| DeviceError::NoMatch { choice: c.into() })
        }
    }
}

/// An open device with what the measurer needs to know about it.
pub struct Gpu {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter it was opened on.
    pub adapter: AdapterSummary,
    /// Limits requested (the adapter's own).
    pub limits: DeviceLimits,
    /// Whether timestamps were enabled.
    pub timestamps: bool,
    lost: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Gpu {
    /// Opens the chosen adapter (see [`choose`]) with all of its limits, and timestamp queries and subgroup
    /// operations if it has them.
    pub fn open(choice: Option<&str>) -> Result<Gpu, DeviceError> {
        let adapters = adapters();
        let list: Vec<AdapterSummary> = adapters.iter().enumerate().map(|(i, a)| summarize(i, a)).collect();
        let index = choose(&list, choice)?;
        let adapter = &adapters[index];
        let summary = list[index].clone();
        let mut features = wgpu::Features::empty();
        if summary.timestamp_query {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        if summary.subgroups {
            features |= wgpu::Features::SUBGROUP;
        }
        let desc = wgpu::DeviceDescriptor {
            label: Some("litecoop"),
            required_features: features,
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| DeviceError::RequestDevice { adapter: summary.name.clone(), message: e.to_string() })?;
        let lost = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(Mutex::new(Vec::new()));
        {
            let lost = lost.clone();
            device.set_device_lost_callback(move |reason, message| {
                tracing::warn!("device lost ({reason:?}): {message}");
                lost.store(true, Ordering::SeqCst);
            });
            let errors = errors.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                if let Ok(mut list) = errors.lock() {
                    list.push(e.to_string());
                }
            }));
        }
        Ok(Gpu {
            device,
            queue,
            limits: summary.limits,
            timestamps: summary.timestamp_query,
            adapter: summary,
            lost,
            errors,
        })
    }

    /// True once the driver reported the device lost.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Errors reported outside any error scope since the last call.
    pub fn take_errors(&self) -> Vec<String> {
        self.errors.lock().map(|mut e| std::mem::take(&mut *e)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(index: usize, name: &str, device_type: &str, backend: &str) -> AdapterSummary {
        AdapterSummary {
            index,
            name: name.into(),
            backend: backend.into(),
            device_type: device_type.into(),
            driver: String::new(),
            driver_info: String::new(),
            limits: DeviceLimits::webgpu_default(),
            timestamp_query: false,
            subgroups: false,
            shader_f16: false,
        }
    }

    #[test]
    fn prefers_discrete_then_integrated_then_cpu() {
        let list = vec![
            adapter(0, "llvmpipe", "Cpu", "Vulkan"),
            adapter(1, "Intel UHD", "IntegratedGpu", "Vulkan"),
            adapter(2, "NVIDIA H100", "DiscreteGpu", "Gl"),
            adapter(3, "NVIDIA H100", "DiscreteGpu", "Vulkan"),
        ];
        assert_eq!(choose(&list, None).unwrap(), 3);
        assert_eq!(choose(&list[..2], None).unwrap(), 1);
        assert_eq!(choose(&list, Some("llvm")).unwrap(), 0);
        assert_eq!(choose(&list, Some("2")).unwrap(), 2);
        assert!(choose(&list, Some("radeon")).is_err());
        assert!(choose(&list, Some("9")).is_err());
        assert!(matches!(choose(&[], None), Err(DeviceError::NoAdapter)));
    }
}
