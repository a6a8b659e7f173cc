//! Speech enhancement exports: the SE front ends (classical, GTCRN, CMGAN-format, model cards), batch
//! enhancement on all cores with an on-disk cache, quality metrics, and WAV output.

use crate::audio::ItemError;
use crate::errors::{Code, Failure, guard};
use crate::jobs::{Job, Progress, ProgressFn, spawn};
use napi::Env;
use napi::bindgen_prelude::{AbortSignal, Float32Array};
use napi_derive::napi;
use std::path::PathBuf;
use trnet_dsp::batch::BatchControl;
use trnet_enhance::cache::EnhanceCache;
use trnet_enhance::{EnhancerPool, EnhancerSpec, SessionOptions};

#[napi(object)]
#[derive(Default)]
pub struct EnhancerOptions {
    /// "classical" (weight-free, the default) | "gtcrn" | "cmgan" | "card".
    pub kind: Option<String>,
    /// ONNX model file for "gtcrn" and "cmgan".
    pub model: Option<String>,
    /// JSON model card for "card".
    pub card: Option<String>,
    /// Folder of the enhancement cache; no caching when absent.
    pub cache_dir: Option<String>,
    /// ONNX Runtime intra-op threads per session (default 1; batches run one session per core).
    pub intra_threads: Option<u32>,
}

fn spec(o: &EnhancerOptions) -> Result<EnhancerSpec, Failure> {
    let kind = o.kind.as_deref().unwrap_or("classical");
    let path = |field: &Option<String>, name: &str| -> Result<PathBuf, Failure> {
        field.as_ref().map(PathBuf::from).ok_or_else(|| {
            trnet_dsp::Error::invalid(
                format!("enhancer {kind:?}"),
                format!("a `{name}` path"),
                "none",
                format!("Pass {{ kind: {kind:?}, {name}: '/path/to/file' }}."),
            )
            .into()
        })
    };
    Ok(match kind {
        "classical" => EnhancerSpec::Classical,
        "gtcrn" => EnhancerSpec::Gtcrn { model: path(&o.model, "model")? },
        "cmgan" => EnhancerSpec::Cmgan { model: path(&o.model, "model")? },
        "card" => EnhancerSpec::Card { card: path(&o.card, "card")? },
        other => {
            return Err(trnet_dsp::Error::invalid(
                "enhancer kind",
                "\"classical\", \"gtcrn\", \"cmgan\" or \"card\"",
                format!("{other:?}"),
                "Pick one of those.",
            )
            .into());
        }
    })
}

fn session(o: &EnhancerOptions) -> SessionOptions {
    SessionOptions { intra_threads: o.intra_threads.map_or(SessionOptions::default().intra_threads, |n| n as usize), ..SessionOptions::default() }
}

/// The enhancer pool these options describe (with its cache when `cacheDir` is set); its first enhancer is
/// built now, so a bad model fails the call before any audio.
pub(crate) fn pool(o: &EnhancerOptions) -> Result<EnhancerPool, Failure> {
    let spec = spec(o)?;
    let cache = o.cache_dir.as_ref().map(EnhanceCache::open).transpose()?;
    Ok(EnhancerPool::new(spec, session(o), cache)?)
}

#[napi(object)]
pub struct EnhancerInfo {
    pub name: String,
    /// Identifies the model file's content and every setting that changes the output (the cache key's prefix).
    pub fingerprint: String,
}

/// Builds the enhancer (loading and checking any model) and describes it.
#[napi]
pub fn enhancer_info(options: EnhancerOptions) -> napi::Result<EnhancerInfo, Code> {
    guard(|| {
        let e = trnet_enhance::build(&spec(&options)?, session(&options))?;
        Ok(EnhancerInfo { name: e.name().to_string(), fingerprint: e.fingerprint() })
    })
}

#[napi(object)]
pub struct EnhanceItem {
    /// The enhanced audio, same length as the input, when it worked.
    pub samples: Option<Float32Array>,
    /// Whether it came from the cache.
    pub cached: bool,
    pub error: Option<ItemError>,
}

/// Enhances 16 kHz mono waveforms on all cores (one enhancer per worker), using the cache when configured.
#[napi(ts_return_type = "Promise<Array<EnhanceItem>>")]
pub fn enhance_batch(
    env: &Env,
    waves: Vec<Float32Array>,
    options: EnhancerOptions,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<Vec<EnhanceItem>>, Code> {
    spawn(
        env,
        move |ctx| {
            let pool = pool(&options)?;
            let inputs: Vec<&[f32]> = waves.iter().map(|w| &w[..]).collect();
            let on_done = |done: usize, total: usize| ctx.report(Progress::Enhance { done: done as u32, total: total as u32 });
            let cancelled = || ctx.keep_going().is_break();
            let results = pool.enhance_batch(&inputs, &BatchControl { on_done: &on_done, cancelled: &cancelled });
            ctx.check_aborted()?;
            Ok(results
                .into_iter()
                .map(|r| match r.expect("not cancelled") {
                    Ok(e) => EnhanceItem { samples: Some(Float32Array::new(e.samples)), cached: e.cached, error: None },
                    Err(e) => EnhanceItem { samples: None, cached: false, error: Some(Failure::from(e).into()) },
                })
                .collect())
        },
        on_progress,
        signal,
    )
}

/// SNR of `estimate` against `reference` in dB: 10·log10(Σ ref² / Σ (est − ref)²).
#[napi]
pub fn snr_db(reference: Float32Array, estimate: Float32Array) -> napi::Result<f64, Code> {
    guard(|| Ok(trnet_enhance::quality::snr_db(&reference, &estimate)?))
}

/// Scale-invariant SDR in dB (both signals made zero-mean first).
#[napi]
pub fn si_sdr_db(reference: Float32Array, estimate: Float32Array) -> napi::Result<f64, Code> {
    guard(|| Ok(trnet_enhance::quality::si_sdr_db(&reference, &estimate)?))
}

/// Writes mono samples as a 32-bit float WAV file (atomically).
#[napi]
pub fn write_wav(path: String, samples: Float32Array, sample_rate: u32) -> napi::Result<(), Code> {
    guard(|| Ok(trnet_dsp::audio::write_wav(std::path::Path::new(&path), &samples, sample_rate)?))
}
