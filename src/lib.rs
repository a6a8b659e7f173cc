//! The N-API layer: converts JavaScript values to Rust and back and dispatches to the crates that do the
//! work. It holds no numeric logic of its own (ARCHITECTURE.md).

mod dsp;
mod errors;
mod info;
mod jobs;
mod onnx;
mod tensor;
