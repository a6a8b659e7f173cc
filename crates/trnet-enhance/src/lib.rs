//! Speech-enhancement front ends behind one trait ([`Enhancer`]): noisy 16 kHz audio in, enhanced audio of the
//! same length out.
//!
//! - `classical`: weight-free MMSE log-spectral amplitude estimator over a minimum-statistics noise tracker
//!   (`min_stats`); the default when no model file is configured.
//! - `gtcrn`: GTCRN's streaming ONNX export, frame by frame over the utterance.
//! - `onnx`: ONNX Runtime plumbing: loading the runtime library, sessions, checked inputs.
//! - `quality`: SNR and SI-SDR against a clean reference.

pub mod classical;
pub mod enhancer;
pub mod error;
pub mod gtcrn;
pub mod min_stats;
pub mod onnx;
pub mod quality;

pub use enhancer::Enhancer;
pub use error::Error;
pub use onnx::SessionOptions;
pub type Result<T, E = Error> = std::result::Result<T, E>;
