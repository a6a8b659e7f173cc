//! The N-API layer: converts JavaScript values to Rust and back and dispatches to the crates that do the
//! work. It holds no numeric logic of its own (ARCHITECTURE.md).

// napi-derive registers exports only outside `cfg(test)`, so the test build sees them as unused.
#![cfg_attr(test, allow(dead_code))]

mod audio;
mod configs;
mod dsp;
mod enhance;
mod errors;
mod features;
mod front_end;
mod info;
mod jobs;
mod model;
mod onnx;
mod reports;
mod tensor;
mod train;
