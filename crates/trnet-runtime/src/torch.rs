//! Facts about the libtorch this process loaded: version, where from, CUDA, threads.

use std::path::{Path, PathBuf};
use tch::Cuda;

#[derive(Debug, Clone)]
pub struct TorchInfo {
    /// Version of the loaded libtorch, e.g. "2.11.0+cu130".
    pub version: String,
    /// Directory the loaded libtorch_cpu.so came from.
    pub library_dir: Option<PathBuf>,
    pub cuda_available: bool,
    pub cuda_device_count: usize,
    pub cudnn_available: bool,
    /// CUDA runtime version libtorch was built with (e.g. 13000 for 13.0), 0 without CUDA support.
    pub cuda_runtime_version: i64,
    pub intra_op_threads: usize,
    pub inter_op_threads: usize,
}

pub fn torch_info() -> TorchInfo {
    let library_dir = loaded_library_dir("libtorch_cpu.so");
    let version = library_dir
        .as_deref()
        .and_then(version_beside)
        .unwrap_or_else(|| format!("{} (compiled against; the loaded copy carries no version file)", env!("TRNET_LIBTORCH_VERSION")));
    TorchInfo {
        version,
        library_dir,
        cuda_available: Cuda::is_available(),
        cuda_device_count: Cuda::device_count().max(0) as usize,
        cudnn_available: Cuda::cudnn_is_available(),
        cuda_runtime_version: if tch::utils::has_cudart() { tch::utils::version_cudart() } else { 0 },
        intra_op_threads: tch::get_num_threads().max(0) as usize,
        inter_op_threads: tch::get_num_interop_threads().max(0) as usize,
    }
}

/// Sets libtorch's intra-op thread count (its pool is process-wide).
pub fn set_intra_op_threads(n: usize) {
    tch::set_num_threads(n.max(1) as i32);
}

/// The directory of a shared library mapped into this process, read from /proc/self/maps (Linux).
fn loaded_library_dir(file_name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(Path::new)
        .find(|p| p.file_name().is_some_and(|f| f == file_name))
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

/// A PyPI wheel keeps `torch/version.py` next to `torch/lib`; a libtorch zip keeps `build-version`.
fn version_beside(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        let line = text.lines().find(|l| l.starts_with("__version__"))?;
        return Some(line.split(['\'', '"']).nth(1)?.to_string());
    }
    std::fs::read_to_string(root.join("build-version")).ok().map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_loaded_libtorch() {
        // Any tensor op makes sure libtorch is mapped before we look for it.
        let _ = tch::Tensor::from_slice(&[1.0f32]).sum(tch::Kind::Float);
        let info = torch_info();
        assert!(info.library_dir.is_some(), "libtorch_cpu.so not found in /proc/self/maps");
        assert!(info.version.starts_with(env!("TRNET_LIBTORCH_VERSION").split('+').next().unwrap()), "{info:?}");
        assert!(info.intra_op_threads >= 1);
        assert_eq!(info.cuda_available, info.cuda_device_count > 0);
    }
}
