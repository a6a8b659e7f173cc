//! The one trait every front end implements, and what they share: input checks, STFT framing that also
//! accepts very short inputs, and the pieces of a fingerprint.

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use trnet_dsp::stft::{PadMode, Spectrogram, Stft, StftConfig, Window};

/// A speech-enhancement front end: noisy 16 kHz mono audio in, enhanced audio out.
///
/// Contract for every implementation:
/// - the output has exactly as many samples as the input and is aligned with it sample for sample (no delay);
/// - empty input gives empty output; non-finite samples are an error (`TRNET_INVALID_ARGUMENT`);
/// - the same input gives the same output on the same machine (no randomness, state reset per call).
pub trait Enhancer: Send {
    /// A short, human-readable name ("gtcrn", "classical-mmse-lsa", a card's name, ...).
    fn name(&self) -> &str;
    /// The sample rate the enhancer expects and returns. Every trnet enhancer runs at 16 kHz.
    fn sample_rate(&self) -> u32 {
        trnet_dsp::SAMPLE_RATE
    }
    fn enhance(&mut self, noisy: &[f32]) -> Result<Vec<f32>>;
    /// Identifies what the enhancer computes: the model file's content hash (SHA-256) and every setting that
    /// changes the output, plus a version of trnet's own pre/post-processing. Equal fingerprints mean equal
    /// outputs, so it can key a cache of enhanced audio. Thread counts are left out: they do not change results
    /// beyond float rounding.
    fn fingerprint(&self) -> String;
}

/// Rejects NaN and infinite samples before they spread through an STFT into every output sample.
pub(crate) fn check_noisy(noisy: &[f32]) -> Result<()> {
    if let Some(i) = noisy.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "noisy audio for enhancement",
            "finite samples",
            format!("{} at sample {i} of {}", noisy[i], noisy.len()),
            "Check the decoder output; a clipped or corrupt file can decode to NaN.",
        ));
    }
    Ok(())
}

/// A centred STFT whose reflect padding needs more than n_fft/2 samples. Shorter inputs (which torch.stft
/// rejects) are zero-padded instead, so every enhancer accepts every length ≥ 1; for longer inputs the
/// configured padding is used unchanged.
pub(crate) struct Framing {
    main: Stft,
    /// The same STFT with constant (zero) padding, for inputs too short to reflect.
    short: Stft,
}

impl Framing {
    pub fn new(config: StftConfig) -> Result<Self> {
        let short = Stft::new(StftConfig { pad_mode: PadMode::Constant, ..config.clone() })?;
        Ok(Framing { main: Stft::new(config)?, short })
    }

    pub fn config(&self) -> &StftConfig {
        self.main.config()
    }

    fn pick(&self, len: usize) -> &Stft {
        let c = self.main.config();
        if c.center && c.pad_mode == PadMode::Reflect && len <= c.n_fft / 2 { &self.short } else { &self.main }
    }

    pub fn analyse(&self, signal: &[f32]) -> Result<Spectrogram> {
        Ok(self.pick(signal.len()).forward(signal)?)
    }

    /// Inverse STFT trimmed or zero-extended to `len` samples.
    pub fn synthesise(&self, spec: &Spectrogram, len: usize) -> Result<Vec<f32>> {
        Ok(self.main.inverse(spec, Some(len))?)
    }
}

/// STFT settings as they appear in fingerprints and messages.
pub(crate) fn describe_stft(c: &StftConfig) -> String {
    let window = match &c.window {
        Window::Hann => "hann".to_string(),
        Window::SqrtHann => "sqrt_hann".to_string(),
        Window::Hamming => "hamming".to_string(),
        Window::Rectangular => "rectangular".to_string(),
        Window::Custom(w) => format!("custom[{}]", w.len()),
    };
    let pad = match c.pad_mode {
        PadMode::Reflect => "reflect",
        PadMode::Constant => "constant",
    };
    format!("n_fft={},hop={},win={},window={window},center={},pad={pad}", c.n_fft, c.hop_length, c.win_length, c.center)
}

/// SHA-256 of a file's bytes, hex.
pub(crate) fn file_sha256(path: &Path) -> Result<String> {
    let fail = |e: std::io::Error| Error::ModelLoad { path: path.to_path_buf(), reason: format!("cannot read it to hash it: {e}") };
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_inputs_fall_back_to_zero_padding() {
        let framing = Framing::new(StftConfig::gtcrn()).unwrap();
        let x = vec![0.25f32; 200];
        let spec = framing.analyse(&x).unwrap();
        assert_eq!(spec.frames, 1);
        assert_eq!(framing.synthesise(&spec, x.len()).unwrap().len(), 200);
        // Long enough to reflect: the configured padding is used (torch's frame count).
        assert_eq!(framing.analyse(&vec![0.0; 257]).unwrap().frames, 2);
    }

    #[test]
    fn non_finite_samples_are_rejected_with_their_position() {
        let err = check_noisy(&[0.0, 1.0, f32::NAN]).unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
        assert!(err.to_string().contains("NaN at sample 2 of 3"), "{err}");
    }
}
