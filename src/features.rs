//! Log-Mel filterbank exports (torchaudio.compliance.kaldi.fbank options and defaults), single and batch.

use crate::audio::ItemError;
use crate::errors::{guard, Code, Failure};
use crate::jobs::{spawn, Job, Progress, ProgressFn};
use napi::bindgen_prelude::{AbortSignal, Float32Array};
use napi::Env;
use napi_derive::napi;
use trnet_dsp::batch::BatchControl;
use trnet_dsp::fbank::{self, FbankOptions as Opts};

/// torchaudio's names in camelCase; every field optional with torchaudio's default (23 bins — pass
/// `numMelBins: 80` for the paper's features). `ditherSeed` is ours: dither is reproducible per call.
#[napi(object)]
#[derive(Default, Clone)]
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

pub(crate) fn to_options(o: Option<FbankOptions>) -> Result<Opts, Failure> {
    let o = o.unwrap_or_default();
    let d = Opts::default();
    Ok(Opts {
        blackman_coeff: o.blackman_coeff.unwrap_or(d.blackman_coeff),
        channel: d.channel,
        dither: o.dither.unwrap_or(d.dither),
        dither_seed: o.dither_seed.map_or(d.dither_seed, |s| s as u64),
        energy_floor: o.energy_floor.unwrap_or(d.energy_floor),
        frame_length: o.frame_length.unwrap_or(d.frame_length),
        frame_shift: o.frame_shift.unwrap_or(d.frame_shift),
        high_freq: o.high_freq.unwrap_or(d.high_freq),
        htk_compat: o.htk_compat.unwrap_or(d.htk_compat),
        low_freq: o.low_freq.unwrap_or(d.low_freq),
        min_duration: o.min_duration.unwrap_or(d.min_duration),
        num_mel_bins: o.num_mel_bins.map_or(d.num_mel_bins, |n| n as usize),
        preemphasis_coefficient: o.preemphasis_coefficient.unwrap_or(d.preemphasis_coefficient),
        raw_energy: o.raw_energy.unwrap_or(d.raw_energy),
        remove_dc_offset: o.remove_dc_offset.unwrap_or(d.remove_dc_offset),
        round_to_power_of_two: o.round_to_power_of_two.unwrap_or(d.round_to_power_of_two),
        sample_frequency: o.sample_frequency.unwrap_or(d.sample_frequency),
        snip_edges: o.snip_edges.unwrap_or(d.snip_edges),
        subtract_mean: o.subtract_mean.unwrap_or(d.subtract_mean),
        use_energy: o.use_energy.unwrap_or(d.use_energy),
        use_log_fbank: o.use_log_fbank.unwrap_or(d.use_log_fbank),
        use_power: o.use_power.unwrap_or(d.use_power),
        vtln_high: o.vtln_high.unwrap_or(d.vtln_high),
        vtln_low: o.vtln_low.unwrap_or(d.vtln_low),
        vtln_warp: o.vtln_warp.unwrap_or(d.vtln_warp),
        window_type: match o.window_type {
            Some(name) => name.parse()?,
            None => d.window_type,
        },
    })
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
            fbank::Fbank::new(opts.clone())?; // invalid options fail the call, not every item
            let slices: Vec<&[f32]> = waves.iter().map(|w| &w[..]).collect();
            let on_done = |done: usize, total: usize| ctx.report(Progress { stage: "fbank".into(), done: done as u32, total: total as u32, metrics: None });
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
