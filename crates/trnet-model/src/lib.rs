//! TRNet on libtorch (tch). This crate knows nothing of Node; the addon converts and dispatches.
//!
//! So far: the model config (`config`), the libtorch runtime facts (`runtime`), device selection (`device`)
//! and the tensor ops the addon's round-trip and job plumbing are proven with (`ops`). The encoder,
//! SNR-aware module and FiLM bridge land here next (see ARCHITECTURE.md).

pub mod config;
pub mod device;
pub mod error;
pub mod ops;
pub mod runtime;

pub use config::{ClassifierInput, HeadInit, ModelConfig, NoLowInput, Variant};
pub use device::{parse_device, DeviceSpec};
pub use error::Error;
pub type Result<T, E = Error> = std::result::Result<T, E>;
