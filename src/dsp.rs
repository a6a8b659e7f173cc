//! Signal processing exports: STFT/iSTFT, mixing at an SNR, fixed-length framing. Typed arrays are read in
//! place; results are handed to JavaScript without copying.

use crate::errors::{Code, Failure, guard};
use napi::bindgen_prelude::Float32Array;
use napi_derive::napi;
use serde::de::DeserializeOwned;
use trnet_dsp::{frames, mix, stft};

/// The engine value named `name` in its serde form (e.g. `PadMode` from "repeat"), so the names are defined
/// once, by the crate that owns the type; an unknown name is TRNET_INVALID_ARGUMENT listing the known ones.
pub(crate) fn by_name<T: DeserializeOwned>(what: &str, name: &str, fix: &str) -> Result<T, Failure> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|e| {
        // serde says "unknown variant `x`, expected `a` or `b`": keep the list as what was expected.
        let message = e.to_string();
        let expected = message.split_once(", expected ").map_or(message.as_str(), |(_, names)| names).to_string();
        trnet_dsp::Error::invalid(what, expected, format!("{name:?}"), fix).into()
    })
}

#[napi(object)]
pub struct StftOptions {
    pub n_fft: u32,
    pub hop_length: u32,
    /// Default n_fft.
    pub win_length: Option<u32>,
    /// "hann" | "sqrt-hann" | "hamming" | "rectangular" (periodic, as torch's defaults); default "hann".
    pub window: Option<String>,
    /// Default true.
    pub center: Option<bool>,
    /// "reflect" | "constant"; default "reflect".
    pub pad_mode: Option<String>,
}

#[napi(object)]
pub struct Spectrogram {
    pub frames: u32,
    pub bins: u32,
    /// frames × bins × (re, im), frame-major.
    pub data: Float32Array,
}

fn stft_config(o: &StftOptions) -> Result<stft::StftConfig, Failure> {
    let bad =
        |what: &str, expected: &str, found: &str| -> Failure { trnet_dsp::Error::invalid(what, expected, format!("{found:?}"), "See StftOptions.").into() };
    // Listed here rather than parsed by serde: JavaScript gets the named windows only (not `custom`), and the
    // error lists exactly those.
    let window = match o.window.as_deref().unwrap_or("hann") {
        "hann" => stft::Window::Hann,
        "sqrt-hann" => stft::Window::SqrtHann,
        "hamming" => stft::Window::Hamming,
        "rectangular" => stft::Window::Rectangular,
        other => return Err(bad("window", "\"hann\", \"sqrt-hann\", \"hamming\" or \"rectangular\"", other)),
    };
    let pad_mode = by_name("padMode", o.pad_mode.as_deref().unwrap_or("reflect"), "See StftOptions.")?;
    Ok(stft::StftConfig {
        n_fft: o.n_fft as usize,
        hop_length: o.hop_length as usize,
        win_length: o.win_length.unwrap_or(o.n_fft) as usize,
        window,
        center: o.center.unwrap_or(true),
        pad_mode,
    })
}

#[napi]
pub fn stft(signal: Float32Array, options: StftOptions) -> napi::Result<Spectrogram, Code> {
    guard(|| {
        let s = stft::Stft::new(stft_config(&options)?)?.forward(&signal)?;
        Ok(Spectrogram { frames: s.frames as u32, bins: s.bins as u32, data: Float32Array::new(s.data) })
    })
}

/// Inverse of `stft` with the same options; `length` trims or extends the output (default: natural length).
#[napi]
pub fn istft(spectrogram: Spectrogram, options: StftOptions, length: Option<u32>) -> napi::Result<Float32Array, Code> {
    guard(|| {
        let spec = stft::Spectrogram { frames: spectrogram.frames as usize, bins: spectrogram.bins as usize, data: spectrogram.data.to_vec() };
        let out = stft::Stft::new(stft_config(&options)?)?.inverse(&spec, length.map(|l| l as usize))?;
        Ok(Float32Array::new(out))
    })
}

#[napi(object)]
pub struct Mixture {
    pub noisy: Float32Array,
    pub noise_offset: u32,
    pub noise_gain: f64,
    pub realised_snr_db: f64,
}

/// Mixes `noise` into `speech` at `snrDb` (powers over the utterance); the excerpt offset comes from `seed`.
#[napi]
pub fn mix_at_snr(speech: Float32Array, noise: Float32Array, snr_db: f64, seed: i64) -> napi::Result<Mixture, Code> {
    guard(|| {
        let m = mix::mix_at_snr(&speech, &noise, snr_db, seed as u64)?;
        Ok(Mixture { noisy: Float32Array::new(m.noisy), noise_offset: m.noise_offset as u32, noise_gain: m.noise_gain, realised_snr_db: m.realised_snr_db })
    })
}

#[napi(object)]
pub struct FixedLength {
    pub data: Float32Array,
    pub frames: u32,
    pub valid_frames: u32,
}

/// Pads ("zero" | "repeat") or truncates a row-major frames × `bins` matrix to `target` frames.
#[napi]
pub fn fix_length(features: Float32Array, bins: u32, target: u32, mode: String) -> napi::Result<FixedLength, Code> {
    guard(|| {
        let mode: frames::PadMode = by_name("pad mode", &mode, "Pick one of those.")?;
        let f = frames::fix_length(&features, bins as usize, target as usize, mode)?;
        Ok(FixedLength { data: Float32Array::new(f.data), frames: f.frames as u32, valid_frames: f.valid_frames as u32 })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trnet_train::features::NoisyCopies;

    #[test]
    fn names_are_the_engine_types_serde_names_and_unknown_ones_list_them() {
        assert_eq!(by_name::<frames::PadMode>("pad", "repeat", "").unwrap(), frames::PadMode::Repeat);
        assert_eq!(by_name::<NoisyCopies>("noisy", "one-per-snr", "").unwrap(), NoisyCopies::OnePerSnr);
        let err = by_name::<NoisyCopies>("noisy", "every-snr", "See FeatureSetOptions.").unwrap_err();
        assert_eq!(err.code.0, "TRNET_INVALID_ARGUMENT");
        for part in ["noisy", "`none`", "`one-per-utterance`", "`one-per-snr`", "\"every-snr\"", "See FeatureSetOptions."] {
            assert!(err.message.contains(part), "{part} missing in {}", err.message);
        }
    }
}
