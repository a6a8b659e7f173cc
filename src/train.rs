//! Training exports: feature sets computed natively from audio (held in Rust memory or in an on-disk
//! feature store, never copied to JavaScript), training and resuming a TRNet variant as a long job, and evaluating a checkpoint. Configs
//! cross as JSON objects and are parsed by the Rust structs that define them (TrainConfig, ModelConfig), so
//! there is one definition of every field and default; reports come back as JSON text for the façade to parse.

use crate::enhance::{session, spec, EnhancerOptions};
use crate::errors::{guard, Code, Failure};
use crate::features::{to_options, FbankOptions};
use crate::jobs::{spawn, Job, JobContext, Progress, ProgressFn};
use napi::bindgen_prelude::{AbortSignal, AsyncTask};
use napi_derive::napi;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use trnet_dsp::batch::BatchControl;
use trnet_dsp::frames::PadMode;
use trnet_enhance::cache::EnhanceCache;
use trnet_enhance::Enhancer;
use trnet_train::features::{dataset_from_audio, load_noises, stored_dataset_from_audio, AudioDatasetSpec, NoisyCopies, StoreOptions, Utterance};
use trnet_train::{Dataset, TrainHooks, TrainProgress};

#[napi(object)]
pub struct UtteranceSpec {
    pub path: String,
    /// Class index 0..numClasses−1.
    pub label: u32,
    pub speaker: String,
    pub id: Option<String>,
}

#[napi(object)]
pub struct FeatureSetOptions {
    /// Noise recordings to draw from (16 kHz after decoding); needed unless `noisy` is "none".
    pub noises: Option<Vec<String>>,
    /// "none" | "one-per-utterance" (an SNR drawn per item: training) | "one-per-snr" (every SNR: test sets).
    pub noisy: Option<String>,
    /// Add each utterance's clean version (the paper's IEM part). Default true.
    pub include_clean: Option<bool>,
    /// Default [20, 15, 10, 5, 0].
    pub snrs_db: Option<Vec<f64>>,
    pub seed: Option<i64>,
    /// Frames per item, default 500.
    pub frames: Option<u32>,
    /// "zero" (default) | "repeat".
    pub pad: Option<String>,
    /// Default: the paper's 80-bin fbank.
    pub fbank: Option<FbankOptions>,
    /// The frozen SE front end (with `cacheDir` to cache its outputs). Default: classical.
    pub enhancer: Option<EnhancerOptions>,
    /// Keep the features on disk in a feature store under `store.dir` (one subfolder per set of inputs),
    /// reused by later calls with the same inputs. Default: in memory.
    pub store: Option<FeatureStoreOptions>,
}

#[napi(object)]
#[derive(Clone)]
pub struct FeatureStoreOptions {
    /// The folder that holds feature stores (created if absent).
    pub dir: String,
}

/// Most classes `classCounts` counts (far above any emotion set).
const MAX_CLASSES: u32 = 1 << 16;

/// A set of (X, Xe, Xs) feature items in native memory or in a feature store on disk, ready for training or
/// evaluation.
#[napi]
pub struct FeatureSet {
    inner: Arc<Dataset>,
    store: Option<String>,
    cached: bool,
}

impl FeatureSet {
    fn in_memory(ds: Dataset) -> Self {
        FeatureSet { inner: Arc::new(ds), store: None, cached: false }
    }
}

#[napi]
impl FeatureSet {
    #[napi(getter)]
    pub fn length(&self) -> u32 {
        self.inner.len() as u32
    }

    #[napi(getter)]
    pub fn frames(&self) -> u32 {
        self.inner.frames() as u32
    }

    #[napi(getter)]
    pub fn bins(&self) -> u32 {
        self.inner.bins() as u32
    }

    /// Items per class 0..numClasses−1.
    #[napi]
    pub fn class_counts(&self, num_classes: u32) -> napi::Result<Vec<u32>, Code> {
        guard(|| {
            // The count sizes the result: a wrapped −1 (4294967295) must not become a 32 GB allocation.
            if num_classes == 0 || num_classes > MAX_CLASSES {
                return Err(trnet_dsp::Error::invalid("numClasses", format!("1..={MAX_CLASSES}"), num_classes, "Pass the model's number of classes, e.g. 4.").into());
            }
            Ok(self.inner.class_counts(num_classes as usize).into_iter().map(|n| n as u32).collect())
        })
    }

    /// The folder of the feature store the items read from (for `openFeatureSet`); null when in memory.
    #[napi(getter)]
    pub fn store_path(&self) -> Option<String> {
        self.store.clone()
    }

    /// True when `buildFeatureSet` found an existing store for its inputs and computed nothing.
    #[napi(getter)]
    pub fn cached(&self) -> bool {
        self.cached
    }

    /// Each item's speaker, in item order (for choosing folds).
    #[napi]
    pub fn speakers(&self) -> Vec<String> {
        self.inner.items().iter().map(|i| i.speaker.clone()).collect()
    }

    /// The items at `indices`, in that order, sharing this set's features (nothing is copied or read).
    #[napi]
    pub fn subset(&self, indices: Vec<u32>) -> napi::Result<FeatureSet, Code> {
        guard(|| {
            let indices: Vec<usize> = indices.into_iter().map(|i| i as usize).collect();
            Ok(FeatureSet { inner: Arc::new(self.inner.subset(&indices)?), store: self.store.clone(), cached: self.cached })
        })
    }
}

fn audio_spec(o: &FeatureSetOptions) -> Result<AudioDatasetSpec, Failure> {
    let d = AudioDatasetSpec::default();
    let bad = |what: &str, expected: &str, found: &str| -> Failure { trnet_dsp::Error::invalid(what, expected, format!("{found:?}"), "See FeatureSetOptions.").into() };
    Ok(AudioDatasetSpec {
        frames: o.frames.map_or(d.frames, |f| f as usize),
        pad: match o.pad.as_deref().unwrap_or("zero") {
            "zero" => PadMode::Zero,
            "repeat" => PadMode::Repeat,
            other => return Err(bad("pad", "\"zero\" or \"repeat\"", other)),
        },
        fbank: match &o.fbank {
            Some(f) => to_options(Some(f.clone()))?,
            None => d.fbank,
        },
        include_clean: o.include_clean.unwrap_or(d.include_clean),
        noisy: match o.noisy.as_deref().unwrap_or("one-per-utterance") {
            "none" => NoisyCopies::None,
            "one-per-utterance" => NoisyCopies::OnePerUtterance,
            "one-per-snr" => NoisyCopies::OnePerSnr,
            other => return Err(bad("noisy", "\"none\", \"one-per-utterance\" or \"one-per-snr\"", other)),
        },
        snrs_db: o.snrs_db.clone().unwrap_or(d.snrs_db),
        seed: o.seed.map_or(d.seed, |s| s as u64),
    })
}

/// Decodes, mixes, enhances (through the cache when configured) and computes features on all cores; with
/// `store`, into (or from) a feature store on disk.
#[napi(ts_return_type = "Promise<FeatureSet>")]
pub fn build_feature_set(
    utterances: Vec<UtteranceSpec>,
    options: FeatureSetOptions,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Job<FeatureSet>> {
    spawn(
        move |ctx| {
            let spec_ = audio_spec(&options)?;
            let enhancer_options = options.enhancer.unwrap_or_default();
            let enhancer_spec = spec(&enhancer_options)?;
            let sessions = session(&enhancer_options);
            let cache = enhancer_options.cache_dir.as_ref().map(EnhanceCache::open).transpose()?;
            // Enhancers need `&mut` and are not Sync: workers borrow one from a pool (built on demand).
            let pool: Mutex<Vec<Box<dyn Enhancer>>> = Mutex::new(vec![trnet_enhance::build(&enhancer_spec, sessions)?]);
            let first_error: Mutex<Option<Failure>> = Mutex::new(None);
            let enhance = |noisy: &[f32]| -> Vec<f32> {
                let taken = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let mut enhancer = match taken.map_or_else(|| trnet_enhance::build(&enhancer_spec, sessions), Ok) {
                    Ok(e) => e,
                    Err(e) => {
                        first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e.into());
                        return noisy.to_vec();
                    }
                };
                let result = match &cache {
                    Some(c) => c.enhance(enhancer.as_mut(), noisy).map(|(s, _)| s),
                    None => enhancer.enhance(noisy),
                };
                pool.lock().unwrap_or_else(|p| p.into_inner()).push(enhancer);
                result.unwrap_or_else(|e| {
                    // The engine's enhancer hook cannot fail; the first failure fails the whole call below.
                    first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e.into());
                    noisy.to_vec()
                })
            };
            let noise_paths: Vec<PathBuf> = options.noises.unwrap_or_default().into_iter().map(PathBuf::from).collect();
            let utts: Vec<Utterance> = utterances
                .into_iter()
                .map(|u| Utterance { path: u.path.into(), label: u.label as usize, speaker: u.speaker, id: u.id.unwrap_or_default() })
                .collect();
            let on_done = |done: usize, total: usize| ctx.report(Progress { stage: "features".into(), done: done as u32, total: total as u32, metrics: None });
            let cancelled = || ctx.keep_going().is_break();
            let control = BatchControl { on_done: &on_done, cancelled: &cancelled };
            let set = match &options.store {
                None => load_noises(&noise_paths).and_then(|noises| dataset_from_audio(&utts, &noises, &spec_, &enhance, &control)).map(FeatureSet::in_memory),
                Some(store) => {
                    let fingerprint = pool.lock().unwrap_or_else(|p| p.into_inner())[0].fingerprint();
                    let options = StoreOptions { root: Path::new(&store.dir), enhancer: &fingerprint };
                    stored_dataset_from_audio(&utts, &noise_paths, &spec_, &enhance, &options, &control).map(|s| {
                        if s.cached {
                            // One event, so a progress bar completes and says why it was instant.
                            let n = utts.len() as u32;
                            ctx.report(Progress { stage: "features".into(), done: n, total: n, metrics: Some(HashMap::from([("cached".to_string(), 1.0)])) });
                        }
                        FeatureSet { inner: Arc::new(s.dataset), store: Some(s.dir.to_string_lossy().into_owned()), cached: s.cached }
                    })
                }
            };
            if let Some(f) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(f);
            }
            Ok(set?)
        },
        on_progress,
        signal,
    )
}

/// Reopens a feature store written by `buildFeatureSet` with `store` (its `storePath`), after checking that it
/// is whole; the items read their features from disk when batches need them.
#[napi(ts_return_type = "Promise<FeatureSet>")]
pub fn open_feature_set(dir: String, signal: Option<AbortSignal>) -> AsyncTask<Job<FeatureSet>> {
    spawn(
        move |_| {
            let inner = trnet_train::store::open(Path::new(&dir))?;
            Ok(FeatureSet { inner: Arc::new(inner), store: Some(dir), cached: true })
        },
        None,
        signal,
    )
}

fn report_progress(ctx: &JobContext, p: &TrainProgress) {
    let stage = match p.stage {
        trnet_train::Stage::Step => "step",
        trnet_train::Stage::Epoch => "epoch",
    };
    let metrics: HashMap<String, f64> = p.metrics().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    ctx.report(Progress { stage: stage.into(), done: p.global_step as u32, total: p.total_steps as u32, metrics: Some(metrics) });
}

/// The engine's own parsers (validation included), so a bad field gets TRNET_INVALID_CONFIG naming it.
fn train_config(v: &Value) -> Result<trnet_train::TrainConfig, Failure> {
    Ok(trnet_train::TrainConfig::from_json(&v.to_string())?)
}

/// Runs `run` (a train or resume call) as the body of a job, wiring its progress and cancellation hooks.
fn training_job(ctx: &JobContext, run: impl FnOnce(&TrainHooks<'_>) -> trnet_train::Result<trnet_train::TrainReport>) -> Result<String, Failure> {
    let on_progress = |p: TrainProgress| report_progress(ctx, &p);
    let cancelled = || ctx.keep_going().is_break();
    let report = run(&TrainHooks { on_progress: &on_progress, cancelled: &cancelled })?;
    Ok(serde_json::to_string(&report).expect("reports serialise"))
}

/// Trains `modelConfig`'s variant (`{ variant: "trnet", … }`) with `trainConfig` on `trainSet`, choosing the
/// best epoch by validation UAR; writes `outDir/best` and a resumable `outDir/last`. TRNet variants need
/// `reference`, the folder of a trained Baseline-c checkpoint (its frozen encoder gives h_s).
#[napi(ts_return_type = "Promise<string>")]
pub fn train_model(
    train_config_json: Value,
    model_config: Value,
    train_set: &FeatureSet,
    val_set: &FeatureSet,
    reference: Option<String>,
    out_dir: String,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Job<String>> {
    let (train_set, val_set) = (train_set.inner.clone(), val_set.inner.clone());
    spawn(
        move |ctx| {
            let tc = train_config(&train_config_json)?;
            let mc = trnet_model::config::ModelConfig::from_json(&model_config.to_string())?;
            training_job(ctx, |hooks| trnet_train::train(&tc, &mc, &train_set, &val_set, reference.as_deref().map(Path::new), Path::new(&out_dir), hooks))
        },
        on_progress,
        signal,
    )
}

/// Continues an interrupted `trainModel` run from `outDir/last`; ends as an uninterrupted run would.
#[napi(ts_return_type = "Promise<string>")]
pub fn resume_training(
    train_config_json: Value,
    train_set: &FeatureSet,
    val_set: &FeatureSet,
    reference: Option<String>,
    out_dir: String,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Job<String>> {
    let (train_set, val_set) = (train_set.inner.clone(), val_set.inner.clone());
    spawn(
        move |ctx| {
            let tc = train_config(&train_config_json)?;
            training_job(ctx, |hooks| trnet_train::resume(&tc, &train_set, &val_set, reference.as_deref().map(Path::new), Path::new(&out_dir), hooks))
        },
        on_progress,
        signal,
    )
}

/// Evaluates the checkpoint in `checkpointDir` (e.g. a run's `best`) on `set`: UAR, WAR, confusion, predictions.
#[napi(ts_return_type = "Promise<string>")]
pub fn evaluate_checkpoint(
    checkpoint_dir: String,
    set: &FeatureSet,
    device: Option<String>,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Job<String>> {
    let set = set.inner.clone();
    spawn(
        move |ctx| {
            let device = trnet_model::parse_device(device.as_deref().unwrap_or("cpu"))?.resolve()?;
            let checkpoint = tch::no_grad(|| trnet_model::checkpoint::load(Path::new(&checkpoint_dir), device))?;
            let on_batch = |done: usize, total: usize| ctx.report(Progress { stage: "evaluate".into(), done: done as u32, total: total as u32, metrics: None });
            let cancelled = || ctx.keep_going().is_break();
            let options = trnet_train::EvalOptions { on_batch: &on_batch, cancelled: &cancelled, ..Default::default() };
            let report = trnet_train::evaluate(&checkpoint.model, &set, &options)?;
            Ok(serde_json::to_string(&report).expect("reports serialise"))
        },
        on_progress,
        signal,
    )
}
