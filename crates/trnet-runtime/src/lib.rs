//! Process-level facts and settings, kept apart from the model: what libtorch this process loaded and how
//! it runs, how glibc's malloc treats training jobs, and a smoke job for devices and the job plumbing.
//! Knows nothing of the model or of Node.
//!
//! - `torch`: the loaded libtorch (version, where from, CUDA, cuDNN) and its thread pools.
//! - `allocator`: glibc malloc tuning for training and evaluation jobs (`MallocMode`, `job_scope`).
//! - `burn`: `matmul_burn`, seeded matrix products with progress and early stop.

pub mod allocator;
pub mod burn;
pub mod error;
pub mod torch;

pub use error::Error;
pub type Result<T, E = Error> = std::result::Result<T, E>;
