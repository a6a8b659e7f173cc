//! A real, measurable native job: seeded matrix products on a device, with progress and early stop. `trnet
//! doctor --bench` times it, the tests use it to prove the async job plumbing (progress, abort, timers
//! staying live), and `examples/cuda_check` to prove a build drives CUDA.

use crate::{Error, Result};
use std::ops::ControlFlow;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

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
    fn burn_is_deterministic_and_stops_when_asked() {
        let full = matmul_burn(32, 4, Device::Cpu, 7, |_| ControlFlow::Continue(())).unwrap();
        let again = matmul_burn(32, 4, Device::Cpu, 7, |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(full.steps_done, 4);
        assert_eq!(full.checksum, again.checksum);
        let stopped = matmul_burn(32, 10, Device::Cpu, 7, |done| if done == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }).unwrap();
        assert_eq!(stopped.steps_done, 2);
    }
}
