//! Frame windows, as torchaudio builds them (symmetric: the last sample mirrors the first).

use super::options::WindowType;
use std::f64::consts::PI;

/// The window of `size` samples (size >= 2, checked by the options). Computed in f64, stored in f32.
pub(crate) fn window(kind: WindowType, size: usize, blackman_coeff: f64) -> Vec<f32> {
    let a = 2.0 * PI / (size - 1) as f64;
    (0..size)
        .map(|n| {
            let n = n as f64;
            let hann = || 0.5 - 0.5 * (a * n).cos();
            let w = match kind {
                WindowType::Hanning => hann(),
                // Hann raised to 0.85: Kaldi's default, zero at both edges.
                WindowType::Povey => hann().powf(0.85),
                WindowType::Hamming => 0.54 - 0.46 * (a * n).cos(),
                WindowType::Rectangular => 1.0,
                // Kaldi's generalized Blackman (not torch.blackman_window's fixed coefficients).
                WindowType::Blackman => blackman_coeff - 0.5 * (a * n).cos() + (0.5 - blackman_coeff) * (2.0 * a * n).cos(),
            };
            w as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_shaped() {
        for kind in WindowType::ALL {
            let w = window(kind, 400, 0.42);
            for i in 0..200 {
                assert!((w[i] - w[399 - i]).abs() < 1e-6, "{kind} not symmetric at {i}");
            }
            assert!(w.iter().all(|&v| v <= 1.0 + 1e-6));
        }
        assert_eq!(window(WindowType::Povey, 400, 0.42)[0], 0.0);
        assert!((window(WindowType::Hamming, 400, 0.42)[0] - 0.08).abs() < 1e-6);
        assert!(window(WindowType::Rectangular, 7, 0.42).iter().all(|&v| v == 1.0));
        // Blackman with coefficient 0.42 is zero at the edges (0.42 - 0.5 + 0.08).
        assert!(window(WindowType::Blackman, 400, 0.42)[0].abs() < 1e-6);
    }
}
