//! Speech-enhancement front ends. So far: the ONNX Runtime plumbing every ONNX-based enhancer stands on
//! (`onnx`): loading the runtime library dynamically, sessions with explicit threads, checked inputs.

pub mod error;
pub mod onnx;

pub use error::Error;
pub type Result<T, E = Error> = std::result::Result<T, E>;
