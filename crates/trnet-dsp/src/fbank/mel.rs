//! Triangular mel filter bank, stored sparse: each bin keeps only its non-zero run of FFT bins.
//!
//! The weights are computed in f32 with torchaudio's order of operations (its `get_mel_banks` works in
//! torch's default float32), so the bank matches the reference to the last bit or so, not just to f64 accuracy.

/// Kaldi's mel scale: 1127 ln(1 + f / 700).
fn mel_scale_f64(freq: f64) -> f64 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

fn mel_scale(freq: f32) -> f32 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

fn inverse_mel_scale(mel: f32) -> f32 {
    700.0 * ((mel / 1127.0).exp() - 1.0)
}

/// Piecewise-linear VTLN frequency warp (Kaldi's, as in torchaudio's `vtln_warp_freq`):
/// identity outside [low, high], slope 1/warp between the inflection points l and h, linear joins elsewhere.
struct Vtln {
    low: f32,
    high: f32,
    l: f32,
    h: f32,
    scale: f32,
    scale_left: f32,
    scale_right: f32,
}

impl Vtln {
    fn new(vtln_low: f64, vtln_high: f64, low: f64, high: f64, warp: f64) -> Self {
        let l = vtln_low * warp.max(1.0);
        let h = vtln_high * warp.min(1.0);
        let scale = 1.0 / warp;
        let (fl, fh) = (scale * l, scale * h);
        let scale_left = (fl - low) / (l - low);
        let scale_right = (high - fh) / (high - h);
        Vtln {
            low: low as f32,
            high: high as f32,
            l: l as f32,
            h: h as f32,
            scale: scale as f32,
            scale_left: scale_left as f32,
            scale_right: scale_right as f32,
        }
    }

    fn warp_freq(&self, f: f32) -> f32 {
        // Same precedence as torchaudio's masked assignments (outside > below l > below h > the rest).
        if f < self.low || f > self.high {
            f
        } else if f < self.l {
            self.low + self.scale_left * (f - self.low)
        } else if f < self.h {
            self.scale * f
        } else {
            self.high + self.scale_right * (f - self.high)
        }
    }

    fn warp_mel(&self, mel: f32) -> f32 {
        mel_scale(self.warp_freq(inverse_mel_scale(mel)))
    }
}

/// Sparse filter bank: bin b covers FFT bins `start[b] .. start[b] + len(b)`, weights at `offset[b]..offset[b+1]`.
#[derive(Debug, Clone)]
pub(crate) struct MelBank {
    pub start: Vec<usize>,
    pub offset: Vec<usize>,
    pub weights: Vec<f32>,
}

impl MelBank {
    #[cfg(test)]
    pub fn num_bins(&self) -> usize {
        self.start.len()
    }

    /// Applies the bank to `spectrum` (power or magnitude of FFT bins 0..padded/2), one value per mel bin.
    #[inline(always)]
    pub fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        for (b, o) in out.iter_mut().enumerate() {
            let w = &self.weights[self.offset[b]..self.offset[b + 1]];
            let s = &spectrum[self.start[b]..self.start[b] + w.len()];
            *o = dot(w, s);
        }
    }

    /// The dense row of bin `b` over `n` FFT bins (tests and diagnostics).
    #[cfg(test)]
    pub fn dense_row(&self, b: usize, n: usize) -> Vec<f32> {
        let mut row = vec![0.0; n];
        let w = &self.weights[self.offset[b]..self.offset[b + 1]];
        row[self.start[b]..self.start[b] + w.len()].copy_from_slice(w);
        row
    }
}

/// Dot product with 8 independent accumulators, so the compiler can keep it in SIMD registers.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// Builds the bank like torchaudio's `get_mel_banks`. `high_freq` and `vtln_high` are the effective values
/// (offsets from Nyquist already applied); the options were validated before.
#[allow(clippy::too_many_arguments)]
pub(crate) fn mel_bank(
    num_bins: usize,
    padded_size: usize,
    sample_freq: f64,
    low_freq: f64,
    high_freq: f64,
    vtln_low: f64,
    vtln_high: f64,
    vtln_warp: f64,
) -> MelBank {
    // The Nyquist bin (index padded/2) gets weight 0 in torchaudio (the bank is padded with a zero column).
    let num_fft_bins = padded_size / 2;
    let fft_bin_width = (sample_freq / padded_size as f64) as f32;
    let mel_low = mel_scale_f64(low_freq);
    let mel_high = mel_scale_f64(high_freq);
    // num_bins + 1 intervals: the outer bins' triangles spread to the band edges.
    let delta = ((mel_high - mel_low) / (num_bins as f64 + 1.0)) as f32;
    let mel_low = mel_low as f32;
    let vtln = (vtln_warp != 1.0).then(|| Vtln::new(vtln_low, vtln_high, low_freq, high_freq, vtln_warp));

    let fft_mel: Vec<f32> = (0..num_fft_bins).map(|k| mel_scale(fft_bin_width * k as f32)).collect();
    let mut bank = MelBank { start: Vec::with_capacity(num_bins), offset: vec![0], weights: Vec::new() };
    let mut row = vec![0.0f32; num_fft_bins];
    for b in 0..num_bins {
        let bf = b as f32;
        let (mut left, mut center, mut right) = (mel_low + bf * delta, mel_low + (bf + 1.0) * delta, mel_low + (bf + 2.0) * delta);
        if let Some(v) = &vtln {
            (left, center, right) = (v.warp_mel(left), v.warp_mel(center), v.warp_mel(right));
        }
        for (w, &mel) in row.iter_mut().zip(&fft_mel) {
            let up = (mel - left) / (center - left);
            let down = (right - mel) / (right - center);
            *w = if vtln.is_none() {
                // left < center < right, so the smaller slope clamped at 0 is the triangle.
                up.min(down).max(0.0)
            } else if left < mel && mel <= center {
                // Warping may reorder the corners, so torchaudio selects each side explicitly.
                up
            } else if center < mel && mel < right {
                down
            } else {
                0.0
            };
        }
        let first = row.iter().position(|&w| w != 0.0);
        let (start, end) = match first {
            Some(s) => (s, num_fft_bins - row.iter().rev().position(|&w| w != 0.0).unwrap_or(0)),
            // An empty bin (possible with very many bins): torchaudio gives it energy 0, so does an empty run.
            None => (0, 0),
        };
        bank.start.push(start);
        bank.weights.extend_from_slice(&row[start..end]);
        bank.offset.push(bank.weights.len());
    }
    bank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triangles_peak_once_and_cover_the_band() {
        let bank = mel_bank(80, 512, 16000.0, 20.0, 8000.0, 100.0, 7500.0, 1.0);
        assert_eq!(bank.num_bins(), 80);
        let mut prev_start = 0;
        for b in 0..80 {
            let row = bank.dense_row(b, 256);
            let max = row.iter().cloned().fold(0.0f32, f32::max);
            assert!(max > 0.0 && max <= 1.0, "bin {b} max {max}");
            assert!(row.iter().all(|&w| (0.0..=1.0).contains(&w)));
            assert!(bank.start[b] >= prev_start, "bins move up in frequency");
            prev_start = bank.start[b];
        }
        // Nothing below 20 Hz (bin 0 is DC, bin 1 is 31.25 Hz).
        assert_eq!(bank.dense_row(0, 256)[0], 0.0);
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.01).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn vtln_warp_is_identity_at_the_edges() {
        let v = Vtln::new(100.0, 7500.0, 20.0, 8000.0, 0.9);
        assert!((v.warp_freq(20.0) - 20.0).abs() < 1e-3);
        assert!((v.warp_freq(8000.0) - 8000.0).abs() < 1e-2);
        assert!((v.warp_freq(1000.0) - 1000.0 / 0.9).abs() < 1e-2);
    }
}
