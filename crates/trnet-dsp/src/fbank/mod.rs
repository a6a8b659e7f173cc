//! Log-Mel filterbank equal to `torchaudio.compliance.kaldi.fbank` (Kaldi's `compute-fbank-feats`).
//!
//! Per frame: (dither) → remove DC → raw log energy → pre-emphasis → window → zero-pad → real FFT →
//! power (or magnitude) → sparse triangular mel bank → log. Options, defaults, frame counting, edge handling
//! and errors follow torchaudio; `tests/fbank_parity.rs` checks the output against torchaudio fixtures.
//!
//! Arithmetic is float32 like torchaudio's (sums of a frame in f64), so results agree to ~1e-4 in the log
//! domain; both are subject to float32 rounding in bins ~1e-10 below their frame's peak power.
//!
//! ```
//! use trnet_dsp::fbank::{Fbank, FbankOptions};
//! let mut fbank = Fbank::new(FbankOptions::paper()).unwrap();
//! let wave = vec![0.0f32; 16_000]; // 1 s at 16 kHz
//! let feats = fbank.compute(&wave).unwrap();
//! assert_eq!((feats.frames, feats.bins), (98, 80));
//! ```

mod fastlog;
mod mel;
mod options;
mod window;

use std::sync::Arc;

use crate::batch::{BatchControl, par_map_init};
use crate::rng::SplitMix64;
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

pub use options::{FbankOptions, KALDI_LOG_FLOOR, WindowType};

use crate::{Error, Result};
use mel::MelBank;
use options::Geometry;

/// float32 machine epsilon: torchaudio's (and Kaldi's) floor before every log.
const EPSILON: f32 = f32::EPSILON;

/// Features of one utterance, row-major: `data[frame * bins + column]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub frames: usize,
    /// Columns per frame: `num_mel_bins`, plus one with `use_energy`.
    pub bins: usize,
    pub data: Vec<f32>,
}

impl Features {
    /// The columns of frame `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.bins..(i + 1) * self.bins]
    }
}

/// A filterbank for one set of options: window, mel bank, FFT plan and buffers are made once in [`Fbank::new`]
/// and reused by every `compute` call, which allocates nothing but its output.
pub struct Fbank {
    opts: FbankOptions,
    geo: Geometry,
    window: Vec<f32>,
    mel: MelBank,
    fft: Arc<dyn RealToComplex<f32>>,
    /// One frame of raw samples (window_size).
    frame: Vec<f32>,
    /// FFT input: windowed frame followed by zeros (padded_size). realfft uses it as scratch, so the
    /// padding is re-zeroed every frame.
    fft_in: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Power or magnitude of FFT bins 0..padded/2 (the Nyquist bin has no mel weight).
    power: Vec<f32>,
    mel_out: Vec<f32>,
}

impl std::fmt::Debug for Fbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fbank").field("opts", &self.opts).field("geometry", &self.geo).finish_non_exhaustive()
    }
}

impl Fbank {
    /// Validates the options (errors name the option, what is accepted and how to fix it) and precomputes
    /// everything that does not depend on the signal.
    pub fn new(opts: FbankOptions) -> Result<Self> {
        let geo = opts.geometry()?;
        let window = window::window(opts.window_type, geo.window_size, opts.blackman_coeff);
        let mel =
            mel::mel_bank(opts.num_mel_bins, geo.padded_size, opts.sample_frequency, geo.low_freq, geo.high_freq, opts.vtln_low, geo.vtln_high, opts.vtln_warp);
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(geo.padded_size);
        Ok(Fbank {
            frame: vec![0.0; geo.window_size],
            fft_in: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            power: vec![0.0; geo.padded_size / 2],
            mel_out: vec![0.0; opts.num_mel_bins],
            opts,
            geo,
            window,
            mel,
            fft,
        })
    }

    pub fn options(&self) -> &FbankOptions {
        &self.opts
    }

    /// Samples per frame (frame_length in samples).
    pub fn window_size(&self) -> usize {
        self.geo.window_size
    }

    /// Samples between frame starts (frame_shift in samples).
    pub fn window_shift(&self) -> usize {
        self.geo.window_shift
    }

    /// Columns per frame: `num_mel_bins`, plus one with `use_energy`.
    pub fn num_columns(&self) -> usize {
        self.opts.num_mel_bins + usize::from(self.opts.use_energy)
    }

    /// Frames `compute` returns for `num_samples` samples, by torchaudio's rule:
    /// snip_edges: 1 + (n - window) / shift; otherwise (n + shift / 2) / shift.
    /// 0 when the signal is shorter than `min_duration`, and 0 when it is shorter than one frame
    /// (for which `compute` returns an error, as torchaudio raises). Also 0 without snip_edges when the
    /// shift exceeds twice the signal (torchaudio fails there; here it is simply no frame).
    pub fn num_frames(&self, num_samples: usize) -> usize {
        let Geometry { window_size: ws, window_shift: shift, .. } = self.geo;
        if num_samples < ws || self.too_short(num_samples) {
            0
        } else if self.opts.snip_edges {
            1 + (num_samples - ws) / shift
        } else {
            (num_samples + shift / 2) / shift
        }
    }

    fn too_short(&self, num_samples: usize) -> bool {
        (num_samples as f64) < self.opts.min_duration * self.opts.sample_frequency
    }

    /// Features of a mono waveform sampled at `sample_frequency` (any scale: [-1, 1] or int16-like).
    pub fn compute(&mut self, wave: &[f32]) -> Result<Features> {
        self.check_wave(wave)?;
        let bins = self.num_columns();
        let mut data = vec![0.0; self.num_frames(wave.len()) * bins];
        let frames = self.compute_checked(wave, &mut data);
        Ok(Features { frames, bins, data })
    }

    /// Like [`Fbank::compute`], writing `frames × num_columns()` values row-major into `out` (which may be
    /// longer) and returning the number of frames.
    pub fn compute_into(&mut self, wave: &[f32], out: &mut [f32]) -> Result<usize> {
        self.check_wave(wave)?;
        let needed = self.num_frames(wave.len()) * self.num_columns();
        if out.len() < needed {
            return Err(Error::invalid(
                "fbank output buffer",
                format!("at least {needed} floats ({} frames × {} columns)", self.num_frames(wave.len()), self.num_columns()),
                format!("{} floats", out.len()),
                "size the buffer with num_frames(wave.len()) * num_columns()",
            ));
        }
        Ok(self.compute_checked(wave, out))
    }

    /// The computation proper, on a waveform that passed `check_wave` and a large enough `out`.
    fn compute_checked(&mut self, wave: &[f32], out: &mut [f32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { self.compute_avx2(wave, out) };
        }
        self.compute_frames(wave, out)
    }

    /// `compute_frames` compiled for AVX2: the per-frame arithmetic (DC removal, pre-emphasis and window, power,
    /// mel bank, log) inlined and vectorized 8 wide instead of SSE2's 4. The same IEEE operations in the same
    /// order (no FMA: Rust never fuses a multiply and an add by itself), so the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn compute_avx2(&mut self, wave: &[f32], out: &mut [f32]) -> usize {
        self.compute_frames(wave, out)
    }

    #[inline(always)]
    fn compute_frames(&mut self, wave: &[f32], out: &mut [f32]) -> usize {
        let frames = self.num_frames(wave.len());
        let cols = self.num_columns();
        let needed = frames * cols;
        let mut dither = (self.opts.dither != 0.0).then(|| Gaussian::new(self.opts.dither_seed));
        for (f, row) in out[..needed].chunks_exact_mut(cols).enumerate() {
            self.fill_frame(wave, f);
            // Like torchaudio, noise is drawn per frame, so overlapping samples get independent noise.
            if let Some(g) = dither.as_mut() {
                let d = self.opts.dither as f32;
                for x in &mut self.frame {
                    *x += d * g.sample();
                }
            }
            self.frame_features(row);
        }
        if self.opts.subtract_mean && frames > 0 {
            subtract_column_mean(&mut out[..needed], cols);
        }
        frames
    }

    fn check_wave(&self, wave: &[f32]) -> Result<()> {
        // Branch-free scan per block (vectorizes); the position is only looked up on failure.
        if wave.chunks(256).any(|b| b.iter().fold(false, |bad, x| bad | !x.is_finite()))
            && let Some(i) = wave.iter().position(|x| !x.is_finite())
        {
            return Err(Error::invalid(
                format!("waveform sample {i}"),
                "a finite number",
                wave[i],
                "remove or repair NaN/infinite samples before computing features",
            ));
        }
        let ws = self.geo.window_size;
        if wave.len() < ws {
            // torchaudio asserts 2 <= window_size <= len(waveform) whatever snip_edges is.
            return Err(Error::invalid(
                "waveform length",
                format!("at least one frame: {ws} samples ({} ms at {} Hz)", self.opts.frame_length, self.opts.sample_frequency),
                format!("{} samples", wave.len()),
                "pad the audio to at least one frame, or skip such short clips",
            ));
        }
        Ok(())
    }

    #[inline(always)]
    /// Copies frame `f` into `self.frame`. With snip_edges off, frames are centred every shift and the
    /// signal is mirrored at both ends (x[-1] = x[0], x[n] = x[n-1], as torchaudio and Kaldi do).
    fn fill_frame(&mut self, wave: &[f32], f: usize) {
        let Geometry { window_size: ws, window_shift: shift, .. } = self.geo;
        let n = wave.len() as isize;
        let start = if self.opts.snip_edges { (f * shift) as isize } else { (f * shift) as isize - (ws / 2) as isize + (shift / 2) as isize };
        if start >= 0 && start + ws as isize <= n {
            self.frame.copy_from_slice(&wave[start as usize..start as usize + ws]);
        } else {
            for (j, x) in self.frame.iter_mut().enumerate() {
                let t = start + j as isize;
                // n >= window_size keeps one reflection in range.
                let t = if t < 0 {
                    -t - 1
                } else if t >= n {
                    2 * n - 1 - t
                } else {
                    t
                };
                *x = wave[t as usize];
            }
        }
    }

    /// Features of the frame in `self.frame` into `row`.
    #[inline(always)]
    fn frame_features(&mut self, row: &mut [f32]) {
        let ws = self.geo.window_size;
        let frame = &mut self.frame;
        if self.opts.remove_dc_offset {
            // f64 sum: the mean of a frame must not drift with int16-scale samples.
            let mean = (sum_f64(frame, |x| x) / ws as f64) as f32;
            for x in frame.iter_mut() {
                *x -= mean;
            }
        }
        let use_energy = self.opts.use_energy;
        let mut log_energy = 0.0;
        if use_energy && self.opts.raw_energy {
            log_energy = log_energy_of(sum_squares(frame), self.opts.energy_floor);
        }
        // Pre-emphasis (x[-1] = x[0]) and window in one pass, into the FFT input.
        let c = self.opts.preemphasis_coefficient as f32;
        let (fft_in, pad) = self.fft_in.split_at_mut(ws);
        fft_in[0] = (frame[0] - c * frame[0]) * self.window[0];
        for ((y, w), x) in fft_in[1..].iter_mut().zip(&self.window[1..]).zip(frame.windows(2)) {
            *y = (x[1] - c * x[0]) * w;
        }
        pad.fill(0.0);
        if use_energy && !self.opts.raw_energy {
            log_energy = log_energy_of(sum_squares(&self.fft_in[..ws]), self.opts.energy_floor);
        }

        self.fft.process_with_scratch(&mut self.fft_in, &mut self.spectrum, &mut self.scratch).expect("buffers were sized by the FFT plan");
        if self.opts.use_power {
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.re * c.re + c.im * c.im;
            }
        } else {
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = (c.re * c.re + c.im * c.im).sqrt();
            }
        }
        self.mel.apply(&self.power, &mut self.mel_out);

        let (mel_cols, energy_col) = match (use_energy, self.opts.htk_compat) {
            (false, _) => (&mut row[..], None),
            (true, false) => {
                let (e, m) = row.split_at_mut(1);
                (m, Some(&mut e[0]))
            }
            (true, true) => {
                let (m, e) = row.split_at_mut(self.opts.num_mel_bins);
                (m, Some(&mut e[0]))
            }
        };
        if self.opts.use_log_fbank {
            fastlog::ln_floored(&self.mel_out, self.opts.log_floor as f32, mel_cols);
        } else {
            mel_cols.copy_from_slice(&self.mel_out);
        }
        if let Some(e) = energy_col {
            *e = log_energy;
        }
    }
}

/// ln(max(energy, eps)), then floored at ln(energy_floor) unless energy_floor is 0.
fn log_energy_of(energy: f64, energy_floor: f64) -> f32 {
    let e = (energy as f32).max(EPSILON).ln();
    if energy_floor == 0.0 { e } else { e.max(energy_floor.ln() as f32) }
}

#[inline(always)]
fn sum_squares(x: &[f32]) -> f64 {
    sum_f64(x, |v| v * v)
}

/// Σ f(x) in f64 with 8 independent accumulators: a single running sum is a serial chain of dependent adds,
/// several times slower than the rest of the frame's arithmetic.
#[inline(always)]
fn sum_f64(x: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().map(|&v| f(v as f64)).sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += f(c[i] as f64);
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + rest
}

/// Cepstral-mean-style normalisation over the utterance (`subtract_mean`), means accumulated in f64.
fn subtract_column_mean(data: &mut [f32], cols: usize) {
    let frames = data.len() / cols;
    let mut mean = vec![0.0f64; cols];
    for row in data.chunks_exact(cols) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / frames as f64) as f32).collect();
    for row in data.chunks_exact_mut(cols) {
        for (v, m) in row.iter_mut().zip(&mean) {
            *v -= m;
        }
    }
}

/// Standard normal samples by Box–Muller from a seeded `StdRng`, so dither is reproducible.
struct Gaussian {
    rng: SplitMix64,
    spare: Option<f32>,
}

impl Gaussian {
    fn new(seed: u64) -> Self {
        Gaussian { rng: SplitMix64::new(seed), spare: None }
    }

    fn sample(&mut self) -> f32 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - U keeps the radius finite (U is in [0, 1)).
        let u1: f64 = 1.0 - self.rng.next_f64();
        let u2: f64 = self.rng.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some((r * s) as f32);
        (r * c) as f32
    }
}

/// Features of many waveforms in parallel on rayon's pool (one [`Fbank`] per worker job, reused across the
/// waveforms it takes). Results are in input order; each waveform's result is what [`Fbank::compute`] gives.
/// Run it inside `rayon::ThreadPool::install` to choose the number of threads.
pub fn compute_batch(opts: &FbankOptions, waves: &[&[f32]]) -> Vec<Result<Features>> {
    compute_batch_with(opts, waves, &BatchControl::NONE).into_iter().map(|r| r.expect("never cancelled")).collect()
}

/// [`compute_batch`] with progress and cancellation (`None` marks waveforms skipped after cancelling).
pub fn compute_batch_with(opts: &FbankOptions, waves: &[&[f32]], control: &BatchControl<'_>) -> Vec<Option<Result<Features>>> {
    par_map_init(waves, || Reused::take(opts), |fbank, wave| fbank.compute(opts, wave), control)
}

/// [`compute_batch`] on the calling thread, one waveform after another: for the two waveforms of one
/// prediction (input and SE output), the hop to rayon's pool and back costs more than the second core saves.
pub fn compute_here(opts: &FbankOptions, waves: &[&[f32]]) -> Vec<Result<Features>> {
    let mut fbank = Reused::take(opts);
    waves.iter().map(|wave| fbank.compute(opts, wave)).collect()
}

thread_local! {
    /// The last filterbank a batch used on this thread, kept for the next batch with the same options: a
    /// prediction computes the fbank of two 5-s waveforms per call, and making the filterbank (mel bank, FFT
    /// plan, window) took ≈ 50 µs a time, up to three times a call, against ≈ 400 µs for each waveform.
    static LAST: std::cell::RefCell<Option<Fbank>> = const { std::cell::RefCell::new(None) };
}

/// A batch worker's filterbank: this thread's last one when its options match, else a new one; handed back to
/// the thread when the worker is done with it.
struct Reused(Option<Result<Fbank>>);

impl Reused {
    fn take(opts: &FbankOptions) -> Self {
        let last = LAST.with(|l| l.borrow_mut().take()).filter(|f| f.opts == *opts);
        Reused(Some(last.map_or_else(|| Fbank::new(opts.clone()), Ok)))
    }

    fn compute(&mut self, opts: &FbankOptions, wave: &[f32]) -> Result<Features> {
        match &mut self.0 {
            Some(Ok(fbank)) => fbank.compute(wave),
            // Invalid options: every waveform gets the validation error.
            _ => Fbank::new(opts.clone()).and_then(|mut f| f.compute(wave)),
        }
    }
}

impl Drop for Reused {
    fn drop(&mut self) {
        if let Some(Ok(fbank)) = self.0.take() {
            // `try_with`: the thread may be exiting (its locals already gone); then the filterbank is dropped.
            let _ = LAST.try_with(|l| *l.borrow_mut() = Some(fbank));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|i| ((i as f32) * 0.013).sin() * 0.2 + (rng.next_f64() as f32 - 0.5) * 0.02).collect()
    }

    /// The AVX2 build of the frame loop runs the same operations as the baseline (SSE2) build: the same bits,
    /// for option sets that take every branch of the frame arithmetic.
    #[test]
    fn the_avx2_frame_loop_gives_the_baseline_bits() {
        let w = wave(24_000, 3);
        for opts in [
            FbankOptions::paper(),
            FbankOptions { use_energy: true, dither: 0.5, ..FbankOptions::paper() },
            FbankOptions { use_energy: true, raw_energy: false, htk_compat: true, ..FbankOptions::paper() },
            FbankOptions { use_power: false, remove_dc_offset: false, snip_edges: false, ..FbankOptions::paper() },
            FbankOptions { use_log_fbank: false, subtract_mean: true, ..FbankOptions::paper() },
        ] {
            let mut fbank = Fbank::new(opts.clone()).unwrap();
            let fast = fbank.compute(&w).unwrap();
            let mut baseline = vec![0.0; fast.data.len()];
            let frames = fbank.compute_frames(&w, &mut baseline);
            assert_eq!(frames, fast.frames);
            let same = fast.data.iter().zip(&baseline).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{opts:?}: the AVX2 path differs from the baseline");
        }
    }

    /// A batch reuses its thread's last filterbank only for the same options, and gives what a fresh one gives.
    #[test]
    fn batches_reuse_a_filterbank_only_for_the_same_options() {
        let (a, b) = (wave(8_000, 1), wave(9_000, 2));
        let paper = FbankOptions::paper();
        let other = FbankOptions { num_mel_bins: 40, ..FbankOptions::paper() };
        for opts in [&paper, &paper, &other, &paper] {
            // The calling thread's own filterbank (compute_here) and the pool's give the same features.
            for got in [compute_batch(opts, &[&a, &b]), compute_here(opts, &[&a, &b])] {
                for (g, w) in got.into_iter().zip([&a, &b]) {
                    assert_eq!(g.unwrap(), Fbank::new(opts.clone()).unwrap().compute(w).unwrap());
                }
            }
        }
        let bad = FbankOptions { frame_shift: 0.0, ..FbankOptions::paper() };
        assert!(compute_batch(&bad, &[&a]).remove(0).is_err());
        assert!(compute_here(&bad, &[&a, &b]).iter().all(Result::is_err));
    }
}
