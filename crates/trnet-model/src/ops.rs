//! Tensor ops on caller-owned memory. They wrap the caller's buffers as tensors (`from_blob`) instead of
//! copying, so data crosses from JavaScript into libtorch and back without an intermediate copy.

use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

/// Row-wise softmax of a `rows × cols` matrix, written into `out` (same length as `input`).
pub fn softmax_rows_into(input: &[f32], cols: usize, out: &mut [f32]) -> Result<()> {
    if cols == 0 || !input.len().is_multiple_of(cols) {
        return Err(Error::invalid(
            "softmax input",
            format!("a length that is a multiple of the column count {cols} (> 0)"),
            format!("{} values", input.len()),
            "Pass rows × cols values in row-major order.",
        ));
    }
    if out.len() != input.len() {
        return Err(Error::invalid(
            "softmax output",
            format!("{} values", input.len()),
            format!("{} values", out.len()),
            "Allocate the output with the input's length.",
        ));
    }
    if input.is_empty() {
        return Ok(());
    }
    let shape = [(input.len() / cols) as i64, cols as i64];
    // SAFETY: both tensors are views of slices that outlive them (dropped at the end of this function);
    // the input view is only read, and `out` is exclusively borrowed for the write.
    let (x, y) = unsafe {
        (
            Tensor::from_blob(input.as_ptr().cast(), &shape, &[], Kind::Float, Device::Cpu),
            Tensor::from_blob(out.as_mut_ptr().cast(), &shape, &[], Kind::Float, Device::Cpu),
        )
    };
    let result = x.f_softmax_int_out(&y, 1, Kind::Float).map_err(Error::torch("computing a softmax"))?;
    debug_assert_eq!(result.data_ptr(), out.as_mut_ptr().cast());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_writes_rows_that_sum_to_one_into_the_callers_buffer() {
        let input = [1.0f32, 2.0, 3.0, -1.0, 0.0, 1000.0];
        let mut out = [0.0f32; 6];
        softmax_rows_into(&input, 3, &mut out).unwrap();
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
        let z: f64 = e.iter().sum();
        for i in 0..3 {
            assert!((out[i] as f64 - e[i] / z).abs() < 1e-6, "{out:?}");
        }
        assert!((out[5] - 1.0).abs() < 1e-6 && out[3] < 1e-30, "large logits must not overflow: {out:?}");
    }

    #[test]
    fn softmax_rejects_ragged_input() {
        let mut out = [0.0f32; 5];
        let err = softmax_rows_into(&[0.0; 5], 2, &mut out).unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
        assert!(err.to_string().contains("5 values"), "{err}");
    }
}
