//! Speech-enhancement front ends behind one trait ([`Enhancer`]): noisy 16 kHz audio in, enhanced audio of the
//! same length out.
//!
//! - `onnx`: ONNX Runtime plumbing: loading the runtime library, sessions, checked inputs.
//! - `quality`: SNR and SI-SDR against a clean reference.

pub mod enhancer;
pub mod error;
pub mod onnx;
pub mod quality;

pub use enhancer::Enhancer;
pub use error::Error;
pub use onnx::SessionOptions;
pub type Result<T, E = Error> = std::result::Result<T, E>;
