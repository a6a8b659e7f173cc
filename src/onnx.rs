//! `OnnxSession`: an ONNX model run through ONNX Runtime, for the SE front ends and for diagnostics.

use crate::errors::{Code, guard};
use napi::bindgen_prelude::Float32Array;
use napi_derive::napi;
use trnet_enhance::onnx::{Feed, OnnxModel, SessionOptions, TensorSpec};

#[napi(object)]
pub struct OnnxSessionOptions {
    /// Threads ONNX Runtime may use inside one operator (default 1).
    pub intra_threads: Option<u32>,
}

#[napi(object)]
pub struct TensorInfo {
    pub name: String,
    pub element_type: String,
    /// -1 marks a dimension of any size.
    pub shape: Vec<i64>,
}

impl From<&TensorSpec> for TensorInfo {
    fn from(s: &TensorSpec) -> Self {
        TensorInfo { name: s.name.clone(), element_type: s.element_type.clone(), shape: s.shape.clone() }
    }
}

#[napi(object)]
pub struct NamedTensor {
    pub name: String,
    pub dims: Vec<i64>,
    pub data: Float32Array,
}

#[napi]
pub struct OnnxSession {
    model: OnnxModel,
}

#[napi]
impl OnnxSession {
    /// Loads a model file (loading ONNX Runtime first if this is the first model).
    #[napi(factory)]
    pub fn load(path: String, options: Option<OnnxSessionOptions>) -> napi::Result<Self, Code> {
        let intra_threads = options.and_then(|o| o.intra_threads).map_or(SessionOptions::default().intra_threads, |n| n as usize);
        guard(|| Ok(OnnxSession { model: OnnxModel::load(&path, SessionOptions { intra_threads, ..SessionOptions::default() })? }))
    }

    #[napi(getter)]
    pub fn inputs(&self) -> Vec<TensorInfo> {
        self.model.inputs.iter().map(Into::into).collect()
    }

    #[napi(getter)]
    pub fn outputs(&self) -> Vec<TensorInfo> {
        self.model.outputs.iter().map(Into::into).collect()
    }

    #[napi(getter)]
    pub fn intra_threads(&self) -> u32 {
        self.model.intra_threads as u32
    }

    /// Runs one step. Every declared input must be given once; outputs come back in the model's order.
    #[napi]
    pub fn run(&mut self, feeds: Vec<NamedTensor>) -> napi::Result<Vec<NamedTensor>, Code> {
        guard(|| {
            let borrowed: Vec<Feed<'_>> = feeds.iter().map(|f| Feed { name: &f.name, shape: &f.dims, data: &f.data }).collect();
            let fetched = self.model.run(&borrowed)?;
            Ok(fetched.into_iter().map(|f| NamedTensor { name: f.name, dims: f.shape, data: Float32Array::new(f.data) }).collect())
        })
    }
}
