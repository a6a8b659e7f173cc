//! Options of `torchaudio.compliance.kaldi.fbank`, same names and defaults, and their validation.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// Window applied to each frame before the FFT (`window_type` in torchaudio/Kaldi).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum WindowType {
    /// Hann window raised to the power 0.85 (Kaldi's default): like Hann, but reaches zero at the edges.
    #[default]
    Povey,
    Hamming,
    Hanning,
    Rectangular,
    /// Generalized Blackman window with `blackman_coeff`.
    Blackman,
}

impl WindowType {
    pub const ALL: [WindowType; 5] = [WindowType::Povey, WindowType::Hamming, WindowType::Hanning, WindowType::Rectangular, WindowType::Blackman];

    /// The name torchaudio and Kaldi use for this window.
    pub fn name(self) -> &'static str {
        match self {
            WindowType::Povey => "povey",
            WindowType::Hamming => "hamming",
            WindowType::Hanning => "hanning",
            WindowType::Rectangular => "rectangular",
            WindowType::Blackman => "blackman",
        }
    }
}

impl fmt::Display for WindowType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WindowType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        WindowType::ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| {
            Error::invalid(
                "fbank option window_type",
                "one of \"povey\", \"hamming\", \"hanning\", \"rectangular\", \"blackman\"",
                format!("{s:?}"),
                "use one of the supported window names (torchaudio/Kaldi spelling, lower case)",
            )
        })
    }
}

/// Options of the filterbank, named and defaulted exactly like `torchaudio.compliance.kaldi.fbank`.
///
/// Frequencies are in Hz, durations of frames in milliseconds, `min_duration` in seconds.
/// `FbankOptions::default()` is torchaudio's default (23 bins); [`FbankOptions::paper`] is the paper's 80 bins.
///
/// With the `serde` feature the JSON form uses camelCase names; absent fields take the defaults above and
/// unknown fields are an error, so a misspelt option cannot silently fall back to its default.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(default, rename_all = "camelCase", deny_unknown_fields))]
pub struct FbankOptions {
    /// Constant coefficient of the generalized Blackman window.
    pub blackman_coeff: f64,
    /// torchaudio's channel selector. The input here is always mono, so only -1 (expect mono) and 0 are
    /// accepted and neither changes anything.
    pub channel: i64,
    /// Standard deviation of Gaussian noise added to every frame before anything else (0 = off).
    pub dither: f64,
    /// Seed of the dither noise. Not a torchaudio option: torchaudio draws from torch's global generator;
    /// here every `compute` call restarts from this seed, so the output is a pure function of options and input.
    pub dither_seed: u64,
    /// Floor on the log energy (absolute, not log): applied as max(log E, ln energy_floor); 0 disables it.
    pub energy_floor: f64,
    /// Frame length in milliseconds.
    pub frame_length: f64,
    /// Frame shift in milliseconds.
    pub frame_shift: f64,
    /// High cutoff of the mel bins; values <= 0 are an offset from Nyquist.
    pub high_freq: f64,
    /// With `use_energy`, put the energy last instead of first.
    pub htk_compat: bool,
    /// Low cutoff of the mel bins.
    pub low_freq: f64,
    /// Floor on the mel energies before the log, ln(max(E, log_floor)). Not a torchaudio option: Kaldi and
    /// torchaudio floor at float32's machine epsilon (≈ 1.19e-7, [`KALDI_LOG_FLOOR`], the default). On samples
    /// in [-1, 1] that floor sits inside quiet speech's range, and it is what digital silence becomes.
    /// Left out of the serialised form at its default, so feature-store keys made before it existed hold.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "is_kaldi_log_floor"))]
    pub log_floor: f64,
    /// Signals shorter than this (seconds) give no frames.
    pub min_duration: f64,
    /// Number of triangular mel bins.
    pub num_mel_bins: usize,
    /// Pre-emphasis: x[i] -= c * x[i-1] within each frame (x[-1] taken as x[0]).
    pub preemphasis_coefficient: f64,
    /// Energy measured before pre-emphasis and windowing (true) or after (false).
    pub raw_energy: bool,
    /// Subtract each frame's mean.
    pub remove_dc_offset: bool,
    /// Zero-pad each frame to the next power of two for the FFT.
    pub round_to_power_of_two: bool,
    /// Sample rate of the waveform in Hz.
    pub sample_frequency: f64,
    /// True: only frames that fit completely in the signal. False: frames every `frame_shift`, reflecting
    /// the signal at both ends.
    pub snip_edges: bool,
    /// Subtract the mean of each column over the utterance.
    pub subtract_mean: bool,
    /// Add the log energy as an extra column (first, or last with `htk_compat`).
    pub use_energy: bool,
    /// Log of the mel energies (true) or the linear energies (false).
    pub use_log_fbank: bool,
    /// Power spectrum (true) or magnitude spectrum (false).
    pub use_power: bool,
    /// High inflection point of VTLN warping; negative values are an offset from Nyquist.
    pub vtln_high: f64,
    /// Low inflection point of VTLN warping.
    pub vtln_low: f64,
    /// VTLN warp factor (1.0 = no warping).
    pub vtln_warp: f64,
    /// Window applied to every frame.
    pub window_type: WindowType,
}

impl Default for FbankOptions {
    fn default() -> Self {
        FbankOptions {
            blackman_coeff: 0.42,
            channel: -1,
            dither: 0.0,
            dither_seed: 0,
            energy_floor: 1.0,
            frame_length: 25.0,
            frame_shift: 10.0,
            high_freq: 0.0,
            htk_compat: false,
            low_freq: 20.0,
            log_floor: KALDI_LOG_FLOOR,
            min_duration: 0.0,
            num_mel_bins: 23,
            preemphasis_coefficient: 0.97,
            raw_energy: true,
            remove_dc_offset: true,
            round_to_power_of_two: true,
            sample_frequency: 16_000.0,
            snip_edges: true,
            subtract_mean: false,
            use_energy: false,
            use_log_fbank: true,
            use_power: true,
            vtln_high: -500.0,
            vtln_low: 100.0,
            vtln_warp: 1.0,
            window_type: WindowType::Povey,
        }
    }
}

impl FbankOptions {
    /// The paper's front end (§4.2): 80 log-Mel bins, 25 ms window, 10 ms shift, 16 kHz; the rest default.
    pub fn paper() -> Self {
        FbankOptions { num_mel_bins: 80, ..FbankOptions::default() }
    }
}

/// Sizes and frequencies derived from validated options, in samples and Hz.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geometry {
    pub window_size: usize,
    pub window_shift: usize,
    pub padded_size: usize,
    pub low_freq: f64,
    /// Effective high cutoff (offset from Nyquist already applied).
    pub high_freq: f64,
    /// Effective VTLN high inflection point (offset from Nyquist already applied).
    pub vtln_high: f64,
}

fn bad(option: &str, expected: impl fmt::Display, found: impl fmt::Display, fix: impl fmt::Display) -> Error {
    Error::invalid(format!("fbank option {option}"), expected, found, fix)
}

/// Kaldi's and torchaudio's floor before the log of the mel energies: float32's machine epsilon.
pub const KALDI_LOG_FLOOR: f64 = f32::EPSILON as f64;

#[cfg(feature = "serde")]
fn is_kaldi_log_floor(v: &f64) -> bool {
    *v == KALDI_LOG_FLOOR
}

fn finite(option: &str, v: f64) -> Result<f64> {
    if v.is_finite() { Ok(v) } else { Err(bad(option, "a finite number", v, "pass a finite value")) }
}

/// Largest FFT size accepted; far beyond any speech frame, it only stops absurd allocations.
const MAX_PADDED_SIZE: usize = 1 << 22;

impl FbankOptions {
    /// Checks the options as `Fbank::new` does, without building a filterbank.
    pub fn validate(&self) -> Result<()> {
        self.geometry().map(|_| ())
    }

    /// Checks the options the way torchaudio and Kaldi do and derives the frame geometry.
    pub(crate) fn geometry(&self) -> Result<Geometry> {
        for (name, v) in [
            ("blackman_coeff", self.blackman_coeff),
            ("dither", self.dither),
            ("energy_floor", self.energy_floor),
            ("frame_length", self.frame_length),
            ("frame_shift", self.frame_shift),
            ("high_freq", self.high_freq),
            ("low_freq", self.low_freq),
            ("log_floor", self.log_floor),
            ("min_duration", self.min_duration),
            ("preemphasis_coefficient", self.preemphasis_coefficient),
            ("sample_frequency", self.sample_frequency),
            ("vtln_high", self.vtln_high),
            ("vtln_low", self.vtln_low),
            ("vtln_warp", self.vtln_warp),
        ] {
            finite(name, v)?;
        }
        if self.channel != -1 && self.channel != 0 {
            return Err(bad("channel", "-1 or 0 (the input is mono)", self.channel, "mix or pick the channel before computing features"));
        }
        let sf = self.sample_frequency;
        if sf <= 0.0 {
            return Err(bad("sample_frequency", "> 0 Hz", sf, "pass the waveform's sample rate, e.g. 16000"));
        }
        // Same arithmetic and truncation as torchaudio: int(sample_frequency * ms * 0.001).
        let window_size = (sf * self.frame_length * 0.001).trunc();
        let window_shift = (sf * self.frame_shift * 0.001).trunc();
        if window_shift < 1.0 {
            return Err(bad(
                "frame_shift",
                "at least one sample (frame_shift > 0 ms)",
                format!("{} ms = {window_shift} samples at {sf} Hz", self.frame_shift),
                "use a positive frame_shift, e.g. 10 ms",
            ));
        }
        if window_size < 2.0 {
            return Err(bad(
                "frame_length",
                "at least 2 samples",
                format!("{} ms = {window_size} samples at {sf} Hz", self.frame_length),
                "use a longer frame_length, e.g. 25 ms",
            ));
        }
        if window_size > MAX_PADDED_SIZE as f64 || window_shift > MAX_PADDED_SIZE as f64 {
            return Err(bad(
                "frame_length/frame_shift",
                format!("at most {MAX_PADDED_SIZE} samples"),
                format!("{} ms / {} ms at {sf} Hz", self.frame_length, self.frame_shift),
                "use speech-sized frames, e.g. 25 ms / 10 ms",
            ));
        }
        let window_size = window_size as usize;
        let window_shift = window_shift as usize;
        let padded_size = if self.round_to_power_of_two { window_size.next_power_of_two() } else { window_size };
        if padded_size % 2 != 0 {
            return Err(bad(
                "frame_length",
                "an even number of samples per frame when round_to_power_of_two is false",
                format!("{window_size} samples ({} ms at {sf} Hz)", self.frame_length),
                "set round_to_power_of_two to true or pick a frame_length giving an even sample count",
            ));
        }
        if !(0.0..=1.0).contains(&self.preemphasis_coefficient) {
            return Err(bad("preemphasis_coefficient", "a value in [0, 1]", self.preemphasis_coefficient, "use 0.97 (default) or 0 to disable"));
        }
        if self.dither < 0.0 {
            return Err(bad("dither", ">= 0 (the noise's standard deviation)", self.dither, "use 0 to disable dither, or a small positive value"));
        }
        // The log runs in float32: the floor must be a positive normal float32.
        if !(f32::MIN_POSITIVE as f64..=f32::MAX as f64).contains(&self.log_floor) {
            return Err(bad("log_floor", "a positive normal float32 (≥ 1.2e-38)", self.log_floor, "use 1.1920929e-7 (Kaldi's, the default) or e.g. 1e-10"));
        }
        if self.energy_floor < 0.0 {
            return Err(bad("energy_floor", ">= 0 (0 disables the floor)", self.energy_floor, "use 1.0 (default) or 0"));
        }
        if self.min_duration < 0.0 {
            return Err(bad("min_duration", ">= 0 seconds", self.min_duration, "use 0 (default) to accept any length"));
        }
        // Kaldi requires at least 3 bins; torchaudio's own assert is stricter (> 3).
        if self.num_mel_bins < 3 {
            return Err(bad("num_mel_bins", "at least 3", self.num_mel_bins, "use e.g. 23 (default) or 80 (paper)"));
        }
        if self.num_mel_bins > 1 << 16 {
            return Err(bad("num_mel_bins", "at most 65536", self.num_mel_bins, "use e.g. 23 (default) or 80 (paper)"));
        }
        let nyquist = 0.5 * sf;
        let low_freq = self.low_freq;
        let high_freq = if self.high_freq <= 0.0 { self.high_freq + nyquist } else { self.high_freq };
        if !(0.0 <= low_freq && low_freq < nyquist && 0.0 < high_freq && high_freq <= nyquist && low_freq < high_freq) {
            return Err(bad(
                "low_freq/high_freq",
                format!("0 <= low_freq < high_freq <= Nyquist ({nyquist} Hz); high_freq <= 0 means Nyquist + high_freq"),
                format!("low_freq {low_freq} Hz, high_freq {} Hz (effective {high_freq} Hz)", self.high_freq),
                "use e.g. low_freq 20 and high_freq 0 (= Nyquist)",
            ));
        }
        let vtln_high = if self.vtln_high < 0.0 { self.vtln_high + nyquist } else { self.vtln_high };
        if self.vtln_warp != 1.0 {
            let w = self.vtln_warp;
            if w <= 0.0 {
                return Err(bad("vtln_warp", "> 0 (1.0 = no warping)", w, "use a warp factor around 0.8..1.2, or 1.0"));
            }
            // torchaudio's checks in get_mel_banks and vtln_warp_freq, which only apply when warping.
            let l = self.vtln_low * w.max(1.0);
            let h = vtln_high * w.min(1.0);
            if !(low_freq < self.vtln_low
                && self.vtln_low < high_freq
                && 0.0 < vtln_high
                && vtln_high < high_freq
                && self.vtln_low < vtln_high
                && l > low_freq
                && h < high_freq)
            {
                return Err(bad(
                    "vtln_low/vtln_high",
                    format!(
                        "low_freq ({low_freq}) < vtln_low < effective vtln_high < effective high_freq ({high_freq}); vtln_high < 0 means Nyquist + vtln_high"
                    ),
                    format!("vtln_low {}, vtln_high {} (effective {vtln_high})", self.vtln_low, self.vtln_high),
                    "use vtln_low 100 and vtln_high -500 (defaults), or vtln_warp 1.0 to disable warping",
                ));
            }
        }
        Ok(Geometry { window_size, window_shift, padded_size, low_freq, high_freq, vtln_high })
    }
}
