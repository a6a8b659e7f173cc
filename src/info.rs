//! `info()`: what this build runs on, for `trnet doctor` and bug reports.

use crate::errors::{Code, guard};
use napi_derive::napi;

#[napi(object)]
pub struct NativeInfo {
    pub trnet_version: String,
    /// Version of the libtorch this process loaded, e.g. "2.11.0+cu130".
    pub libtorch_version: String,
    pub libtorch_dir: Option<String>,
    pub cuda_available: bool,
    pub cuda_device_count: u32,
    pub cudnn_available: bool,
    /// CUDA runtime libtorch was built with, e.g. "13.0"; null for a CPU-only libtorch.
    pub cuda_runtime_version: Option<String>,
    /// Null when ONNX Runtime could not be loaded; `onnxruntimeError` then says why.
    pub onnxruntime_version: Option<String>,
    pub onnxruntime_library: Option<String>,
    pub onnxruntime_error: Option<String>,
    pub torch_intra_op_threads: u32,
    pub torch_inter_op_threads: u32,
    /// Intra-op threads an ONNX session gets unless told otherwise.
    pub onnx_intra_threads_default: u32,
    pub cpu_count: u32,
    /// Threads Node gives native async work (UV_THREADPOOL_SIZE, default 4).
    pub libuv_threadpool_size: u32,
}

#[napi]
pub fn info() -> napi::Result<NativeInfo, Code> {
    guard(|| Ok(collect()))
}

fn collect() -> NativeInfo {
    let torch = trnet_runtime::torch::torch_info();
    let ort = trnet_enhance::onnx::runtime();
    let cuda = torch.cuda_runtime_version;
    NativeInfo {
        trnet_version: env!("CARGO_PKG_VERSION").to_string(),
        libtorch_version: torch.version,
        libtorch_dir: torch.library_dir.map(|p| p.display().to_string()),
        cuda_available: torch.cuda_available,
        cuda_device_count: torch.cuda_device_count as u32,
        cudnn_available: torch.cudnn_available,
        cuda_runtime_version: (cuda > 0).then(|| format!("{}.{}", cuda / 1000, (cuda % 1000) / 10)),
        onnxruntime_version: ort.as_ref().ok().map(|i| i.version.clone()),
        onnxruntime_library: ort.as_ref().ok().map(|i| i.library.display().to_string()),
        onnxruntime_error: ort.as_ref().err().map(ToString::to_string),
        torch_intra_op_threads: torch.intra_op_threads as u32,
        torch_inter_op_threads: torch.inter_op_threads as u32,
        onnx_intra_threads_default: trnet_enhance::onnx::SessionOptions::default().intra_threads as u32,
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()) as u32,
        libuv_threadpool_size: std::env::var("UV_THREADPOOL_SIZE").ok().and_then(|v| v.parse().ok()).unwrap_or(4).clamp(1, 1024),
    }
}

/// Where glibc's malloc tuning for training and evaluation jobs stands (`trnet_runtime::allocator`).
#[napi(object)]
pub struct MallocStatus {
    /// "fast" (keep and reuse freed memory while a job runs; the default) or "default" (glibc's behaviour).
    pub mode: String,
    /// Whether the mode's settings are in force now: "fast" only while a job runs, "default" outside that.
    pub applied: bool,
    /// False where the C library is not glibc: nothing is tuned there.
    pub supported: bool,
    /// Training and evaluation jobs running now.
    pub jobs: u32,
}

/// Chooses how malloc treats a job's large buffers (`mode` "fast" | "default"), or with no mode reports
/// where it stands.
#[napi]
pub fn configure_malloc(mode: Option<String>) -> napi::Result<MallocStatus, Code> {
    guard(|| {
        use trnet_runtime::allocator;
        let s = match mode {
            Some(m) => allocator::configure(m.parse()?),
            None => allocator::status(),
        };
        Ok(MallocStatus { mode: s.mode.to_string(), applied: s.applied, supported: s.supported, jobs: s.jobs as u32 })
    })
}
