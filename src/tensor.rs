//! Tensor ops on JavaScript typed arrays: the input is read in place and the output buffer is written by
//! libtorch and handed to JavaScript as is, so no copy is made either way.

use crate::errors::{Code, guard};
use napi::bindgen_prelude::Float32Array;
use napi_derive::napi;

/// Row-wise softmax of `logits` (rows × `classes`, row-major).
#[napi]
pub fn softmax(logits: Float32Array, classes: u32) -> napi::Result<Float32Array, Code> {
    guard(|| {
        let mut out = vec![0.0f32; logits.len()];
        trnet_model::ops::softmax_rows_into(&logits, classes as usize, &mut out)?;
        Ok(Float32Array::new(out))
    })
}
