//! Tensor ops on caller-owned memory. They wrap the caller's buffers as tensors (`from_blob`) instead of
//! copying, so data crosses from JavaScript into libtorch and back without an intermediate copy.

use crate::{Error, Result};
use std::ops::ControlFlow;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Row-wise softmax of a `rows × cols` matrix, written into `out` (same length as `input`).
pub fn softmax_rows_into(input: &[f32], cols: usize, out: &mut [f32]) -> Result<()> {
    if cols == 0 || input.len() % cols != 0 {
        return Err(Error::invalid(
            "softmax input",
            format!("a length that is a multiple of the column count {cols} (> 0)"),
            format!("{} values", input.len()),
            "Pass rows × cols values in row-major order.",
        ));
    }
    if out.len() != input.len() {
        return Err(Error::invalid("softmax output", format!("{} values", input.len()), format!("{} values", out.len()), "Allocate the output with the input's length."));
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

/// Result of [`matmul_burn`].
#[derive(Debug, Clone, Copy)]
pub struct BurnReport {
    pub steps_done: usize,
    pub seconds: f64,
    pub gflops: f64,
    /// Sum of the last product's entries: a checksum that the work really ran.
    pub checksum: f64,
}

/// Multiplies two seeded `size × size` matrices `steps` times on `device`, calling `on_step(done)` after each
/// step; `ControlFlow::Break` from it stops early. A real, measurable native job for `trnet doctor --bench`
/// and for proving the async job plumbing (progress, abort, timers staying live).
pub fn matmul_burn(size: usize, steps: usize, device: Device, seed: i64, mut on_step: impl FnMut(usize) -> ControlFlow<()>) -> Result<BurnReport> {
    if size == 0 || size > 8192 {
        return Err(Error::invalid("matrix size", "1..=8192", size, "Pick a smaller size."));
    }
    tch::manual_seed(seed);
    let n = size as i64;
    let a = Tensor::f_randn([n, n], (Kind::Float, device)).map_err(Error::torch("allocating matrices"))?;
    let b = Tensor::f_randn([n, n], (Kind::Float, device)).map_err(Error::torch("allocating matrices"))?;
    let start = Instant::now();
    let mut last = None;
    let mut done = 0;
    while done < steps {
        let c = a.f_matmul(&b).map_err(Error::torch("multiplying matrices"))?;
        // Wait for the device so timing and progress mean finished work.
        let s = c.f_sum(Kind::Double).and_then(|s| s.f_double_value(&[])).map_err(Error::torch("reading back a result"))?;
        last = Some(s);
        done += 1;
        if on_step(done).is_break() {
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let flops = 2.0 * (n as f64).powi(3) * done as f64;
    Ok(BurnReport { steps_done: done, seconds, gflops: if seconds > 0.0 { flops / seconds / 1e9 } else { 0.0 }, checksum: last.unwrap_or(0.0) })
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

    #[test]
    fn burn_is_deterministic_and_stops_when_asked() {
        let full = matmul_burn(32, 4, Device::Cpu, 7, |_| ControlFlow::Continue(())).unwrap();
        let again = matmul_burn(32, 4, Device::Cpu, 7, |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(full.steps_done, 4);
        assert_eq!(full.checksum, again.checksum);
        let stopped = matmul_burn(32, 10, Device::Cpu, 7, |done| if done == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }).unwrap();
        assert_eq!(stopped.steps_done, 2);
    }
}
