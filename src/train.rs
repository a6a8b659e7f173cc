//! Training exports: feature sets computed natively from audio (held in Rust memory or in an on-disk
//! feature store, never copied to JavaScript), training and resuming a TRNet variant as a long job, and evaluating a checkpoint. Configs
//! cross as JSON objects and are parsed by the Rust structs that define them (TrainConfig, ModelConfig), so
//! there is one definition of every field and default (their TypeScript types: configs.rs); reports come
//! back as typed objects (reports.rs).

use crate::dsp::by_name;
use crate::enhance::{EnhancerOptions, pool as enhancer_pool};
use crate::errors::{Code, Failure, guard};
use crate::features::{FbankOptions, to_options};
use crate::jobs::{Job, JobContext, Progress, ProgressFn, spawn};
use crate::reports::{EvalReport, TrainReport};
use napi::Env;
use napi::bindgen_prelude::AbortSignal;
use napi_derive::napi;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trnet_dsp::batch::BatchControl;
use trnet_train::features::{AudioDatasetSpec, StoreOptions, Utterance, dataset_from_audio, load_noises, stored_dataset_from_audio};
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
    /// The engine's names (NoisyCopies' serde form); a string here, so that any other name is a
    /// TRNET_INVALID_ARGUMENT listing them rather than napi's uncoded conversion error.
    #[napi(ts_type = "'none' | 'one-per-utterance' | 'one-per-snr'")]
    pub noisy: Option<String>,
    /// Add each utterance's clean version (the paper's IEM part). Default true.
    pub include_clean: Option<bool>,
    /// Default [20, 15, 10, 5, 0].
    pub snrs_db: Option<Vec<f64>>,
    pub seed: Option<i64>,
    /// Frames per item, default 500.
    pub frames: Option<u32>,
    /// "zero" (default) | "repeat".
    #[napi(ts_type = "'zero' | 'repeat'")]
    pub pad: Option<String>,
    /// Default: the paper's 80-bin fbank.
    pub fbank: Option<FbankOptions>,
    /// Multiplies the waveform just before the fbank (not before mixing or enhancement); default 1 (samples in
    /// [-1, 1]). The authors' code computes the fbank on int16-scaled samples: 32768.
    pub waveform_scale: Option<f64>,
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
                return Err(
                    trnet_dsp::Error::invalid("numClasses", format!("1..={MAX_CLASSES}"), num_classes, "Pass the model's number of classes, e.g. 4.").into()
                );
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
    Ok(AudioDatasetSpec {
        frames: o.frames.map_or(d.frames, |f| f as usize),
        pad: o.pad.as_deref().map_or(Ok(d.pad), |name| by_name("pad", name, "See FeatureSetOptions."))?,
        fbank: match &o.fbank {
            Some(f) => to_options(Some(f.clone()))?,
            None => d.fbank,
        },
        waveform_scale: match o.waveform_scale {
            None => d.waveform_scale,
            Some(v) if v.is_finite() && v > 0.0 && v <= 1e6 => v as f32,
            Some(v) => {
                return Err(trnet_train::Error::invalid(
                    "waveformScale",
                    "a number in (0, 1e6]: 1 for samples in [-1, 1], 32768 for int16 scale",
                    v,
                    "Pass 1 or 32768.",
                )
                .into());
            }
        },
        include_clean: o.include_clean.unwrap_or(d.include_clean),
        noisy: o.noisy.as_deref().map_or(Ok(d.noisy), |name| by_name("noisy", name, "See FeatureSetOptions."))?,
        snrs_db: o.snrs_db.clone().unwrap_or(d.snrs_db),
        seed: o.seed.map_or(d.seed, |s| s as u64),
    })
}

/// Decodes, mixes, enhances (through the cache when configured) and computes features on all cores; with
/// `store`, into (or from) a feature store on disk.
#[napi(ts_return_type = "Promise<FeatureSet>")]
pub fn build_feature_set(
    env: &Env,
    utterances: Vec<UtteranceSpec>,
    options: FeatureSetOptions,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<FeatureSet>, Code> {
    spawn(
        env,
        move |ctx| {
            let spec_ = audio_spec(&options)?;
            let pool = enhancer_pool(&options.enhancer.unwrap_or_default())?;
            let enhance = |noisy: &[f32]| pool.enhance(noisy).map(|e| e.samples);
            let noise_paths: Vec<PathBuf> = options.noises.unwrap_or_default().into_iter().map(PathBuf::from).collect();
            let utts: Vec<Utterance> = utterances
                .into_iter()
                .map(|u| Utterance { path: u.path.into(), label: u.label as usize, speaker: u.speaker, id: u.id.unwrap_or_default() })
                .collect();
            let on_done = |done: usize, total: usize| ctx.report(Progress::Features { done: done as u32, total: total as u32, cached: None });
            let cancelled = || ctx.keep_going().is_break();
            let control = BatchControl { on_done: &on_done, cancelled: &cancelled };
            let set = match &options.store {
                None => load_noises(&noise_paths).and_then(|noises| dataset_from_audio(&utts, &noises, &spec_, &enhance, &control)).map(FeatureSet::in_memory),
                Some(store) => {
                    let options = StoreOptions { root: Path::new(&store.dir), enhancer: pool.fingerprint() };
                    stored_dataset_from_audio(&utts, &noise_paths, &spec_, &enhance, &options, &control).map(|s| {
                        if s.cached {
                            // One event, so a progress bar completes and says why it was instant.
                            let n = utts.len() as u32;
                            ctx.report(Progress::Features { done: n, total: n, cached: Some(true) });
                        }
                        FeatureSet { inner: Arc::new(s.dataset), store: Some(s.dir.to_string_lossy().into_owned()), cached: s.cached }
                    })
                }
            };
            Ok(set?)
        },
        on_progress,
        signal,
    )
}

/// Reopens a feature store written by `buildFeatureSet` with `store` (its `storePath`), after checking that it
/// is whole; the items read their features from disk when batches need them.
#[napi(ts_return_type = "Promise<FeatureSet>")]
pub fn open_feature_set(env: &Env, dir: String, signal: Option<AbortSignal>) -> napi::Result<Job<FeatureSet>, Code> {
    spawn(
        env,
        move |_| {
            let inner = trnet_train::store::open(Path::new(&dir))?;
            Ok(FeatureSet { inner: Arc::new(inner), store: Some(dir), cached: true })
        },
        None,
        signal,
    )
}

/// The engine's own parsers (validation included), so a bad field gets TRNET_INVALID_CONFIG naming it.
fn train_config(v: &Value) -> Result<trnet_train::TrainConfig, Failure> {
    Ok(trnet_train::TrainConfig::from_json(&v.to_string())?)
}

/// Runs `run` (a train or resume call) as the body of a job, wiring its progress and cancellation hooks.
fn training_job(ctx: &JobContext, run: impl FnOnce(&TrainHooks<'_>) -> trnet_train::Result<trnet_train::TrainReport>) -> Result<TrainReport, Failure> {
    let on_progress = |p: TrainProgress| ctx.report(Progress::from(&p));
    let cancelled = || ctx.keep_going().is_break();
    Ok(run(&TrainHooks { on_progress: &on_progress, cancelled: &cancelled })?.into())
}

/// Trains `modelConfig`'s variant (`{ variant: "trnet", … }`) with `trainConfig` on `trainSet`, choosing the
/// best epoch by validation UAR; writes `outDir/best` and a resumable `outDir/last`. TRNet variants need
/// `reference`, the folder of a trained Baseline-c checkpoint (its frozen encoder gives h_s).
#[napi(ts_return_type = "Promise<TrainReport>")]
pub fn train_model(
    env: &Env,
    #[napi(ts_arg_type = "TrainConfig")] train_config_json: Value,
    #[napi(ts_arg_type = "ModelConfig")] model_config: Value,
    train_set: &FeatureSet,
    val_set: &FeatureSet,
    reference: Option<String>,
    out_dir: String,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<TrainReport>, Code> {
    let (train_set, val_set) = (train_set.inner.clone(), val_set.inner.clone());
    spawn(
        env,
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
#[napi(ts_return_type = "Promise<TrainReport>")]
pub fn resume_training(
    env: &Env,
    #[napi(ts_arg_type = "TrainConfig")] train_config_json: Value,
    train_set: &FeatureSet,
    val_set: &FeatureSet,
    reference: Option<String>,
    out_dir: String,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<TrainReport>, Code> {
    let (train_set, val_set) = (train_set.inner.clone(), val_set.inner.clone());
    spawn(
        env,
        move |ctx| {
            let tc = train_config(&train_config_json)?;
            training_job(ctx, |hooks| trnet_train::resume(&tc, &train_set, &val_set, reference.as_deref().map(Path::new), Path::new(&out_dir), hooks))
        },
        on_progress,
        signal,
    )
}

/// Evaluates the checkpoint in `checkpointDir` (e.g. a run's `best`) on `set`: UAR, WAR, confusion, predictions
/// (with each item's representation when `embeddings` is true).
#[napi(ts_return_type = "Promise<EvalReport>")]
pub fn evaluate_checkpoint(
    env: &Env,
    checkpoint_dir: String,
    set: &FeatureSet,
    device: Option<String>,
    embeddings: Option<bool>,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<EvalReport>, Code> {
    let set = set.inner.clone();
    spawn(
        env,
        move |ctx| {
            let device = trnet_model::parse_device(device.as_deref().unwrap_or("cpu"))?.resolve()?;
            let checkpoint = tch::no_grad(|| trnet_model::checkpoint::load(Path::new(&checkpoint_dir), device))?;
            let on_batch = |done: usize, total: usize| ctx.report(Progress::Evaluate { done: done as u32, total: total as u32 });
            let cancelled = || ctx.keep_going().is_break();
            let options =
                trnet_train::EvalOptions { on_batch: &on_batch, cancelled: &cancelled, embeddings: embeddings.unwrap_or(false), ..Default::default() };
            Ok(trnet_train::evaluate(&checkpoint.model, &set, &options)?.into())
        },
        on_progress,
        signal,
    )
}
