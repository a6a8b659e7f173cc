//! Log-Mel filterbank exports (torchaudio.compliance.kaldi.fbank options and defaults), single and batch.

use crate::audio::ItemError;
use crate::errors::{Code, Failure, guard};
use crate::jobs::{Job, Progress, ProgressFn, spawn};
use napi::Env;
use napi::bindgen_prelude::{AbortSignal, Float32Array};
use napi_derive::napi;
use serde::{Deserialize, Serialize};
use trnet_dsp::batch::BatchControl;
use trnet_dsp::fbank::{self, FbankOptions as Opts};

/// torchaudio's names in camelCase; every field optional with torchaudio's default (23 bins — pass
/// `numMelBins: 80` for the paper's features). `ditherSeed` is ours: dither is reproducible per call.
/// The options are parsed by trnet-dsp's own `FbankOptions` (its serde form: defaults, checks, names), so
/// this declaration only gives them their TypeScript type; a test keeps its fields equal to that struct's.
#[napi(object)]
#[derive(Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FbankOptions {
    pub blackman_coeff: Option<f64>,
    pub dither: Option<f64>,
    pub dither_seed: Option<i64>,
    pub energy_floor: Option<f64>,
    pub frame_length: Option<f64>,
    pub frame_shift: Option<f64>,
    pub high_freq: Option<f64>,
    pub htk_compat: Option<bool>,
    pub low_freq: Option<f64>,
    /// Ours: the floor on the mel energies before the log (default Kaldi's, float32's epsilon ≈ 1.19e-7).
    pub log_floor: Option<f64>,
    pub min_duration: Option<f64>,
    pub num_mel_bins: Option<u32>,
    pub preemphasis_coefficient: Option<f64>,
    pub raw_energy: Option<bool>,
    pub remove_dc_offset: Option<bool>,
    pub round_to_power_of_two: Option<bool>,
    pub sample_frequency: Option<f64>,
    pub snip_edges: Option<bool>,
    pub subtract_mean: Option<bool>,
    pub use_energy: Option<bool>,
    pub use_log_fbank: Option<bool>,
    pub use_power: Option<bool>,
    pub vtln_high: Option<f64>,
    pub vtln_low: Option<f64>,
    pub vtln_warp: Option<f64>,
    /// "povey" | "hamming" | "hanning" | "rectangular" | "blackman".
    pub window_type: Option<String>,
}

/// The engine's options: the fields given, torchaudio's defaults for the rest (trnet-dsp's serde form).
pub(crate) fn to_options(o: Option<FbankOptions>) -> Result<Opts, Failure> {
    let mut value = serde_json::to_value(o.unwrap_or_default()).expect("plain options serialise");
    if let serde_json::Value::Object(fields) = &mut value {
        fields.retain(|_, v| !v.is_null()); // absent: the default
    }
    serde_json::from_value(value).map_err(|e| {
        trnet_dsp::Error::invalid(
            "fbank options",
            "torchaudio's fbank options (see FbankOptions)",
            e.to_string(),
            "Fix or remove the option named in the message.",
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declaration_has_exactly_the_engines_fields() {
        // logFloor is serialised only when it is not Kaldi's (feature-store keys stay as they were): set it.
        let sample = Opts { log_floor: 1e-10, ..Opts::paper() };
        let mut engine = serde_json::to_value(&sample).unwrap();
        // `channel` is not offered: the input is always mono, so it cannot change anything.
        engine.as_object_mut().unwrap().remove("channel");
        let declared: FbankOptions =
            serde_json::from_value(engine.clone()).unwrap_or_else(|e| panic!("the declaration lacks an engine option or takes another type: {e}"));
        let back = serde_json::to_value(&declared).unwrap();
        assert_eq!(back, engine, "a declared option the engine lacks shows as null");
        assert_eq!(to_options(Some(declared)).unwrap(), sample);
    }

    #[test]
    fn absent_options_take_torchaudio_defaults_and_bad_ones_are_coded_errors() {
        assert_eq!(to_options(None).unwrap(), Opts::default());
        assert_eq!(to_options(Some(FbankOptions { num_mel_bins: Some(80), ..Default::default() })).unwrap(), Opts::paper());
        let err = to_options(Some(FbankOptions { window_type: Some("kaiser".into()), ..Default::default() })).unwrap_err();
        assert_eq!(err.code.0, "TRNET_INVALID_ARGUMENT");
        assert!(err.message.contains("povey"), "{}", err.message);
    }
}

#[napi(object)]
pub struct Features {
    pub frames: u32,
    /// Columns per frame (num_mel_bins, plus one with useEnergy).
    pub bins: u32,
    /// frames × bins, row-major.
    pub data: Float32Array,
}

impl From<fbank::Features> for Features {
    fn from(f: fbank::Features) -> Self {
        Features { frames: f.frames as u32, bins: f.bins as u32, data: Float32Array::new(f.data) }
    }
}

/// Log-Mel filterbank of one waveform (read in place; the result is handed over without a copy).
#[napi]
pub fn fbank(wave: Float32Array, options: Option<FbankOptions>) -> napi::Result<Features, Code> {
    guard(|| Ok(fbank::Fbank::new(to_options(options)?)?.compute(&wave)?.into()))
}

#[napi(object)]
pub struct FeaturesBatchItem {
    pub features: Option<Features>,
    pub error: Option<ItemError>,
}

/// Filterbanks of many waveforms on all cores; one item per waveform, in order.
#[napi(ts_return_type = "Promise<Array<FeaturesBatchItem>>")]
pub fn fbank_batch(
    env: &Env,
    waves: Vec<Float32Array>,
    options: Option<FbankOptions>,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<Vec<FeaturesBatchItem>>, Code> {
    spawn(
        env,
        move |ctx| {
            let opts = to_options(options)?;
            opts.validate()?; // invalid options fail the call, not every item
            let slices: Vec<&[f32]> = waves.iter().map(|w| &w[..]).collect();
            let on_done = |done: usize, total: usize| ctx.report(Progress::Fbank { done: done as u32, total: total as u32 });
            let cancelled = || ctx.keep_going().is_break();
            let results = fbank::compute_batch_with(&opts, &slices, &BatchControl { on_done: &on_done, cancelled: &cancelled });
            ctx.check_aborted()?;
            Ok(results
                .into_iter()
                .map(|r| match r.expect("not cancelled") {
                    Ok(f) => FeaturesBatchItem { features: Some(f.into()), error: None },
                    Err(e) => FeaturesBatchItem { features: None, error: Some(Failure::from(e).into()) },
                })
                .collect())
        },
        on_progress,
        signal,
    )
}
