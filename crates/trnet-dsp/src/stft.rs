//! STFT and inverse STFT with `torch.stft` / `torch.istft` semantics (onesided, unnormalised), as the
//! speech-enhancement front ends expect them: GTCRN uses n_fft 512, hop 256, √Hann, centred with reflect
//! padding; CMGAN uses n_fft 400, hop 100, Hamming.

use crate::{Error, Result};
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::f64::consts::PI;
use std::sync::Arc;

/// Analysis/synthesis window, periodic as in torch's `*_window(periodic=True)` default. With the `serde`
/// feature: "hann", "sqrt-hann", "hamming", "rectangular" or `{ "custom": [...] }`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "kebab-case"))]
pub enum Window {
    Hann,
    /// Square root of a periodic Hann window (GTCRN).
    SqrtHann,
    Hamming,
    Rectangular,
    /// Any window of length `win_length`.
    Custom(Vec<f32>),
}

impl Window {
    fn samples(&self, len: usize) -> Result<Vec<f32>> {
        let n = len as f64;
        let hann = |i: usize| 0.5 - 0.5 * (2.0 * PI * i as f64 / n).cos();
        Ok(match self {
            Window::Hann => (0..len).map(|i| hann(i) as f32).collect(),
            Window::SqrtHann => (0..len).map(|i| hann(i).sqrt() as f32).collect(),
            Window::Hamming => (0..len).map(|i| (0.54 - 0.46 * (2.0 * PI * i as f64 / n).cos()) as f32).collect(),
            Window::Rectangular => vec![1.0; len],
            Window::Custom(w) if w.len() == len => w.clone(),
            Window::Custom(w) => {
                return Err(Error::invalid(
                    "custom STFT window",
                    format!("{len} samples (win_length)"),
                    format!("{} samples", w.len()),
                    "Pass a window as long as win_length.",
                ));
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum PadMode {
    Reflect,
    Constant,
}

/// With the `serde` feature the JSON form uses camelCase names; every field is required.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "camelCase", deny_unknown_fields))]
pub struct StftConfig {
    pub n_fft: usize,
    pub hop_length: usize,
    /// Window length (≤ n_fft); the window is centred in the n_fft frame, zeros around it, as torch does.
    pub win_length: usize,
    pub window: Window,
    /// Pad n_fft/2 samples on both sides so that frame t is centred on sample t·hop.
    pub center: bool,
    pub pad_mode: PadMode,
}

impl StftConfig {
    /// GTCRN's front end (models/gtcrn/README.md).
    pub fn gtcrn() -> Self {
        StftConfig { n_fft: 512, hop_length: 256, win_length: 512, window: Window::SqrtHann, center: true, pad_mode: PadMode::Reflect }
    }

    /// CMGAN's front end.
    pub fn cmgan() -> Self {
        StftConfig { n_fft: 400, hop_length: 100, win_length: 400, window: Window::Hamming, center: true, pad_mode: PadMode::Reflect }
    }
}

/// A onesided complex spectrogram, frame-major: `data[(t * bins + k) * 2]` is the real part of bin k in
/// frame t and the next value its imaginary part.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    pub frames: usize,
    pub bins: usize,
    pub data: Vec<f32>,
}

impl Spectrogram {
    pub fn bin(&self, frame: usize, k: usize) -> Complex32 {
        let i = (frame * self.bins + k) * 2;
        Complex32::new(self.data[i], self.data[i + 1])
    }
}

pub struct Stft {
    config: StftConfig,
    /// The window placed in an n_fft frame.
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

impl Stft {
    pub fn new(config: StftConfig) -> Result<Self> {
        let StftConfig { n_fft, hop_length, win_length, .. } = config;
        if !(2..=crate::limits::MAX_N_FFT).contains(&n_fft) {
            return Err(Error::invalid("n_fft", format!("2..={}", crate::limits::MAX_N_FFT), n_fft, "Use a frame length such as 512."));
        }
        if hop_length == 0 || hop_length > n_fft {
            return Err(Error::invalid("hop_length", format!("1..={n_fft} (n_fft)"), hop_length, "Use a hop no longer than the frame."));
        }
        if win_length == 0 || win_length > n_fft {
            return Err(Error::invalid("win_length", format!("1..={n_fft} (n_fft)"), win_length, "Use a window no longer than n_fft."));
        }
        let mut window = vec![0.0; n_fft];
        let left = (n_fft - win_length) / 2;
        window[left..left + win_length].copy_from_slice(&config.window.samples(win_length)?);
        let mut planner = RealFftPlanner::<f32>::new();
        Ok(Stft { forward: planner.plan_fft_forward(n_fft), inverse: planner.plan_fft_inverse(n_fft), window, config })
    }

    pub fn config(&self) -> &StftConfig {
        &self.config
    }

    pub fn bins(&self) -> usize {
        self.config.n_fft / 2 + 1
    }

    /// Frames `forward` makes from `len` samples.
    pub fn num_frames(&self, len: usize) -> usize {
        let n_fft = self.config.n_fft;
        let padded = if self.config.center { len + 2 * (n_fft / 2) } else { len };
        if padded < n_fft { 0 } else { 1 + (padded - n_fft) / self.config.hop_length }
    }

    pub fn forward(&self, signal: &[f32]) -> Result<Spectrogram> {
        let padded = self.pad(signal)?;
        let frames = self.num_frames(signal.len());
        let bins = self.bins();
        // A short hop over a long signal multiplies its size by n_fft/hop: bounded against the input here.
        let mut data = crate::limits::zeros(
            "spectrogram (frames × bins × 2)",
            frames.checked_mul(bins).and_then(|n| n.checked_mul(2)),
            "Use a longer hop_length or a shorter signal.",
        )?;
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { self.analyse_frames_avx2(&padded, &mut data, bins) };
            return Ok(Spectrogram { frames, bins, data });
        }
        self.analyse_frames(&padded, &mut data, bins);
        Ok(Spectrogram { frames, bins, data })
    }

    /// Weighted overlap-add inverse (torch.istft): the sum of windowed frames divided by the sum of squared
    /// windows. `length` trims or zero-extends the result (default: what the frames cover, minus the centre
    /// padding).
    pub fn inverse(&self, spec: &Spectrogram, length: Option<usize>) -> Result<Vec<f32>> {
        let StftConfig { n_fft, hop_length, center, .. } = self.config;
        if spec.bins != self.bins() || spec.data.len() != spec.frames * spec.bins * 2 {
            return Err(Error::invalid(
                "spectrogram",
                format!("{} bins (n_fft {n_fft}) and frames × bins × 2 values", self.bins()),
                format!("{} bins, {} frames, {} values", spec.bins, spec.frames, spec.data.len()),
                "Pass a spectrogram made with the same n_fft.",
            ));
        }
        let total = if spec.frames == 0 { 0 } else { n_fft + (spec.frames - 1) * hop_length };
        let offset = if center { n_fft / 2 } else { 0 };
        let natural = total.saturating_sub(2 * offset);
        // Past what the frames cover the output is only zeros. The signal a spectrogram was made from is at
        // most one frame longer than that (an uncentred STFT drops a partial last hop); anything longer is a
        // caller's mistake (a wrapped negative number, a length in bytes), not a request for gigabytes of zeros.
        if let Some(l) = length
            && l > total + n_fft
        {
            return Err(Error::invalid(
                "istft length",
                format!("at most {} samples (what {} frames of hop {hop_length} cover, plus one frame)", total + n_fft, spec.frames),
                l,
                "Pass the length of the signal the spectrogram was made from, or none.",
            ));
        }
        let length = length.unwrap_or(natural);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return Ok(unsafe { self.overlap_add_avx2(spec, total, offset, length) });
        }
        Ok(self.overlap_add(spec, total, offset, length))
    }

    /// The frame loop of `forward`: window, FFT, and the bins into `data` (frame-major, (real, imag) pairs).
    #[inline(always)]
    fn analyse_frames(&self, padded: &[f32], data: &mut [f32], bins: usize) {
        let n_fft = self.config.n_fft;
        let mut frame = self.forward.make_input_vec();
        let mut spectrum = self.forward.make_output_vec();
        let mut scratch = self.forward.make_scratch_vec();
        for (t, row) in data.chunks_exact_mut(bins * 2).enumerate() {
            let start = t * self.config.hop_length;
            for ((f, &x), &w) in frame.iter_mut().zip(&padded[start..start + n_fft]).zip(&self.window) {
                *f = x * w;
            }
            self.forward.process_with_scratch(&mut frame, &mut spectrum, &mut scratch).expect("buffers are sized by the plan");
            for (pair, c) in row.chunks_exact_mut(2).zip(&spectrum) {
                pair[0] = c.re;
                pair[1] = c.im;
            }
        }
    }

    /// `analyse_frames` compiled for AVX2 (the same operations in the same order: the same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn analyse_frames_avx2(&self, padded: &[f32], data: &mut [f32], bins: usize) {
        self.analyse_frames(padded, data, bins)
    }

    /// The weighted overlap-add of `inverse`, trimmed or zero-extended to `length` samples.
    #[inline(always)]
    fn overlap_add(&self, spec: &Spectrogram, total: usize, offset: usize, length: usize) -> Vec<f32> {
        let StftConfig { n_fft, hop_length, .. } = self.config;
        let mut sum = vec![0.0f64; total];
        let mut envelope = vec![0.0f64; total];
        let mut spectrum = self.inverse.make_input_vec();
        let mut frame = self.inverse.make_output_vec();
        let mut scratch = self.inverse.make_scratch_vec();
        let last = spectrum.len() - 1;
        let scale = n_fft as f32;
        // Slices rather than indices in the loops below, so that they vectorise (no bounds check per sample).
        for (t, row) in spec.data.chunks_exact(spec.bins * 2).enumerate() {
            for (c, pair) in spectrum.iter_mut().zip(row.chunks_exact(2)) {
                *c = Complex32::new(pair[0], pair[1]);
            }
            // A real signal's DC (and, for even n_fft, Nyquist) bins are real; torch ignores their imaginary parts.
            spectrum[0].im = 0.0;
            if n_fft % 2 == 0 {
                spectrum[last].im = 0.0;
            }
            self.inverse.process_with_scratch(&mut spectrum, &mut frame, &mut scratch).expect("imaginary parts that must be zero were zeroed");
            let start = t * hop_length;
            for ((s, &x), &w) in sum[start..start + n_fft].iter_mut().zip(&frame).zip(&self.window) {
                *s += (x / scale * w) as f64;
            }
            for (e, &w) in envelope[start..start + n_fft].iter_mut().zip(&self.window) {
                *e += (w * w) as f64;
            }
        }
        let mut out = vec![0.0f32; length];
        let covered = length.min(total.saturating_sub(offset));
        if covered > 0 {
            for ((o, &s), &e) in out[..covered].iter_mut().zip(&sum[offset..offset + covered]).zip(&envelope[offset..offset + covered]) {
                // Samples no window reaches (envelope ≈ 0) cannot be recovered; leave them at zero.
                *o = if e > 1e-11 { (s / e) as f32 } else { 0.0 };
            }
        }
        out
    }

    /// `overlap_add` compiled for AVX2 (the same IEEE operations in the same order, no FMA: the same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn overlap_add_avx2(&self, spec: &Spectrogram, total: usize, offset: usize, length: usize) -> Vec<f32> {
        self.overlap_add(spec, total, offset, length)
    }

    fn pad<'a>(&self, signal: &'a [f32]) -> Result<std::borrow::Cow<'a, [f32]>> {
        if !self.config.center {
            return Ok(signal.into());
        }
        let p = self.config.n_fft / 2;
        let n = signal.len();
        let mut out = Vec::with_capacity(n + 2 * p);
        match self.config.pad_mode {
            PadMode::Constant => {
                out.resize(p, 0.0);
                out.extend_from_slice(signal);
                out.resize(n + 2 * p, 0.0);
            }
            PadMode::Reflect => {
                if n <= p {
                    return Err(Error::invalid(
                        "signal for a centred STFT with reflect padding",
                        format!("more than n_fft/2 = {p} samples"),
                        format!("{n} samples"),
                        "Use a longer signal or pad_mode Constant.",
                    ));
                }
                // Reflect without repeating the edge sample, as torch's "reflect" does.
                out.extend((1..=p).rev().map(|i| signal[i]));
                out.extend_from_slice(signal);
                out.extend((1..=p).map(|i| signal[n - 1 - i]));
            }
        }
        Ok(out.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
    }

    #[test]
    fn perfect_reconstruction_for_overlapping_windows() {
        let x = noise(16_000 + 123, 1);
        let configs = [
            StftConfig::gtcrn(),
            StftConfig::cmgan(),
            StftConfig { n_fft: 512, hop_length: 128, win_length: 400, window: Window::Hann, center: true, pad_mode: PadMode::Constant },
            StftConfig { n_fft: 256, hop_length: 64, win_length: 256, window: Window::Hann, center: false, pad_mode: PadMode::Reflect },
        ];
        for config in configs {
            let stft = Stft::new(config.clone()).unwrap();
            let spec = stft.forward(&x).unwrap();
            assert_eq!(spec.frames, stft.num_frames(x.len()));
            let y = stft.inverse(&spec, Some(x.len())).unwrap();
            // Without centring the first and last partial hops are not covered by a full overlap.
            let edge = if config.center { 0 } else { config.n_fft };
            let err = x[edge..x.len() - edge].iter().zip(&y[edge..y.len() - edge]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 1e-5, "{config:?}: max error {err}");
        }
    }

    #[test]
    fn frame_count_and_bin_of_a_pure_tone_match_torch_conventions() {
        let stft = Stft::new(StftConfig::gtcrn()).unwrap();
        // torch.stft(center=True) gives 1 + len // hop frames.
        assert_eq!(stft.num_frames(16_000), 1 + 16_000 / 256);
        // A cosine at exactly bin 32 (1 kHz) peaks there, with magnitude sum(window)/2.
        let x: Vec<f32> = (0..8192).map(|i| (2.0 * PI * 1000.0 * i as f64 / 16_000.0).cos() as f32).collect();
        let spec = stft.forward(&x).unwrap();
        let t = spec.frames / 2;
        let peak = (0..spec.bins).max_by(|&a, &b| spec.bin(t, a).norm().total_cmp(&spec.bin(t, b).norm())).unwrap();
        assert_eq!(peak, 32);
        let wsum: f32 = stft.window.iter().sum();
        assert!((spec.bin(t, 32).norm() - wsum / 2.0).abs() / (wsum / 2.0) < 1e-3);
    }

    #[test]
    fn rejects_bad_configs_and_short_reflect_input() {
        let bad = StftConfig { hop_length: 0, ..StftConfig::gtcrn() };
        assert_eq!(Stft::new(bad).err().unwrap().code(), "TRNET_INVALID_ARGUMENT");
        let stft = Stft::new(StftConfig::gtcrn()).unwrap();
        let err = stft.forward(&[0.0; 100]).unwrap_err();
        assert!(err.to_string().contains("more than n_fft/2 = 256 samples"), "{err}");
        let constant = Stft::new(StftConfig { pad_mode: PadMode::Constant, ..StftConfig::gtcrn() }).unwrap();
        assert_eq!(constant.forward(&[0.0; 100]).unwrap().frames, 1);
    }

    #[test]
    fn sizes_are_bounded_before_allocating() {
        assert!(Stft::new(StftConfig { n_fft: 1 << 31, hop_length: 256, win_length: 512, ..StftConfig::gtcrn() }).is_err());
        // 60 s at hop 1 with n_fft 65536: 9.6e5 frames × 32769 bins × 2 would be 250 GB.
        let huge =
            Stft::new(StftConfig { n_fft: 1 << 16, hop_length: 1, win_length: 1 << 16, window: Window::Hann, center: true, pad_mode: PadMode::Constant })
                .unwrap();
        assert_eq!(huge.forward(&vec![0.0; 960_000]).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
        let stft = Stft::new(StftConfig::gtcrn()).unwrap();
        let spec = stft.forward(&[0.5; 1000]).unwrap();
        let err = stft.inverse(&spec, Some(u32::MAX as usize)).unwrap_err();
        assert!(err.to_string().contains("istft length"), "{err}");
        assert_eq!(stft.inverse(&spec, Some(1000)).unwrap().len(), 1000);
    }
}
