//! A loaded model for predictions (issue 13): `NativeModel.load(dir, options)` rebuilds a checkpoint folder
//! (verified against its checksums) and `predict` runs batches of feature matrices through it on a job thread
//! (trnet_train::predict, the evaluation forward pass). `close()` drops the weights; later calls fail with
//! TRNET_MODEL_CLOSED. Jobs already running keep the model alive until they finish (they hold an `Arc`).
//! Loading is synchronous (a checkpoint of the paper's size is a few MB).
//!
//! The SE front end is loaded with the model and kept open until `close()`: `enhance` runs on the model's own
//! enhancer pool, so an ONNX session (0.05–0.2 s to create, longer than enhancing a 5-s clip) is made once per
//! worker thread for the model's life, not once per prediction.

use crate::dsp::by_name;
use crate::enhance::{EnhanceItem, EnhancerOptions, pool};
use crate::errors::{Code, Failure, guard};
use crate::jobs::{Job, spawn};
use napi::Env;
use napi::bindgen_prelude::Float32Array;
use napi_derive::napi;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use trnet_dsp::batch::BatchControl;
use trnet_dsp::frames::PadMode;
use trnet_enhance::EnhancerPool;
use trnet_model::Checkpoint;
use trnet_runtime::allocator::{JobScope, job_scope};
use trnet_train::predict::{PredictInput, predict};

const CLOSED: Code = Code("TRNET_MODEL_CLOSED");

#[napi(object)]
pub struct ModelLoadOptions {
    /// Frames per input the model was trained with (the experiment's features.frames).
    pub frames: u32,
    /// "zero" (default) | "repeat": how training padded short utterances.
    #[napi(ts_type = "'zero' | 'repeat'")]
    pub pad: Option<String>,
    /// "cpu" (default) | "cuda" | "cuda:N" | "auto".
    pub device: Option<String>,
    /// The SE front end the model was trained with, loaded now and kept open until `close()`; variants that
    /// read Xe need it for `enhance`. `cacheDir` is honoured (predictions usually leave it out).
    pub enhancer: Option<EnhancerOptions>,
}

#[napi(object)]
pub struct ModelInput {
    /// Log-Mel features of the input audio, frames × bins row-major.
    pub x: Float32Array,
    /// Log-Mel features of the SE front end's output (same shape); required by variants that read Xe.
    pub xe: Option<Float32Array>,
}

#[napi(object)]
pub struct ModelOutput {
    /// Class probabilities (softmax), in class-index order.
    pub probabilities: Vec<f64>,
    /// The noise-level estimate c ∈ [0, 1]; null for variants without the SNR-aware module.
    pub c: Option<f64>,
    /// Frames of the input that were utterance rather than padding.
    pub valid_frames: u32,
}

struct Loaded {
    checkpoint: Checkpoint,
    frames: usize,
    pad: PadMode,
    // A loaded model is one long job for the allocator (trnet_runtime::allocator): its forward passes reuse the
    // memory the last one freed. Without it every prediction was a job of its own whose end restored glibc's
    // defaults and ran malloc_trim, so the next forward pass faulted all its activations in again. Dropped
    // with the model (after close() and the predictions still running).
    _malloc: JobScope,
}

#[napi]
pub struct NativeModel {
    // libtorch tensors are Send but not Sync: one prediction at a time runs on a model (the others wait for the
    // lock on their job threads; each forward pass uses libtorch's intra-op threads).
    loaded: RwLock<Option<Arc<Mutex<Loaded>>>>,
    // The persistent SE front end (Sync: each worker borrows one of its enhancers), apart from the model's
    // lock so that one prediction's enhancement runs while another's forward pass holds the model.
    enhancer: RwLock<Option<Arc<EnhancerPool>>>,
    variant: String,
    num_classes: u32,
    n_mels: u32,
}

#[napi]
impl NativeModel {
    /// Loads the checkpoint folder `dir` (model.safetensors + config.json, checked against checksums.json).
    #[napi(factory)]
    pub fn load(dir: String, options: ModelLoadOptions) -> napi::Result<Self, Code> {
        guard(|| {
            let pad: PadMode = by_name("pad", options.pad.as_deref().unwrap_or("zero"), "Pass \"zero\" or \"repeat\".")?;
            if options.frames == 0 {
                return Err(trnet_dsp::Error::invalid("frames", "at least 1", 0, "Pass the frame count the model was trained with (features.frames).").into());
            }
            let device = trnet_model::parse_device(options.device.as_deref().unwrap_or("cpu"))?.resolve()?;
            let checkpoint = tch::no_grad(|| trnet_model::checkpoint::load(Path::new(&dir), device))?;
            let config = &checkpoint.config;
            // Only the variants that read Xe get an SE front end: the others would hold a session for nothing.
            let enhancer = match &options.enhancer {
                Some(o) if config.variant.needs_enhanced() => Some(Arc::new(pool(o)?)),
                _ => None,
            };
            let frames = options.frames as usize;
            let malloc = job_scope();
            warm_up(&checkpoint, enhancer.as_deref(), frames, pad)?;
            Ok(NativeModel {
                enhancer: RwLock::new(enhancer),
                variant: config.variant.name().to_string(),
                num_classes: config.num_classes as u32,
                n_mels: config.n_mels as u32,
                loaded: RwLock::new(Some(Arc::new(Mutex::new(Loaded { checkpoint, frames, pad, _malloc: malloc })))),
            })
        })
    }

    #[napi(getter)]
    pub fn variant(&self) -> String {
        self.variant.clone()
    }

    #[napi(getter)]
    pub fn num_classes(&self) -> u32 {
        self.num_classes
    }

    /// Log-Mel bins per frame the model reads.
    #[napi(getter)]
    pub fn n_mels(&self) -> u32 {
        self.n_mels
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.loaded.read().map_or(true, |l| l.is_none())
    }

    /// Enhances 16 kHz mono waveforms with the model's SE front end, on a job thread (all cores for several
    /// inputs). Each item has `samples` or its own `error`, as `enhanceBatch`.
    #[napi(ts_return_type = "Promise<Array<EnhanceItem>>")]
    pub fn enhance(&self, env: &Env, waves: Vec<Float32Array>) -> napi::Result<Job<Vec<EnhanceItem>>, Code> {
        if self.closed() {
            return Err(closed().into_napi());
        }
        let pool = self.enhancer.read().ok().and_then(|e| e.clone()).ok_or_else(|| {
            Failure::new(
                Code("TRNET_INVALID_ARGUMENT"),
                format!(
                    "enhance: expected a model loaded with its SE front end ({{ enhancer }}) for a variant that reads Xe, found variant {} without one. Pass the enhancer to NativeModel.load.",
                    self.variant
                ),
            )
            .into_napi()
        })?;
        spawn(
            env,
            move |_ctx| {
                let inputs: Vec<&[f32]> = waves.iter().map(|w| &w[..]).collect();
                let results = pool.enhance_batch(&inputs, &BatchControl::NONE);
                Ok(results
                    .into_iter()
                    .map(|r| match r.expect("no cancellation") {
                        Ok(e) => EnhanceItem { samples: Some(Float32Array::new(e.samples)), cached: e.cached, error: None },
                        Err(e) => EnhanceItem { samples: None, cached: false, error: Some(Failure::from(e).into()) },
                    })
                    .collect())
            },
            None,
            None,
        )
    }

    /// Class probabilities and c for each input, on a job thread.
    #[napi(ts_return_type = "Promise<Array<ModelOutput>>")]
    pub fn predict(&self, env: &Env, inputs: Vec<ModelInput>) -> napi::Result<Job<Vec<ModelOutput>>, Code> {
        let loaded = self.loaded.read().ok().and_then(|l| l.clone()).ok_or_else(|| closed().into_napi())?;
        spawn(
            env,
            move |_ctx| {
                let borrowed: Vec<PredictInput<'_>> = inputs.iter().map(|i| PredictInput { x: &i.x, xe: i.xe.as_deref() }).collect();
                // A panic in an earlier prediction poisons the lock; the model itself is unchanged by a forward pass.
                let loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
                let outputs = predict(&loaded.checkpoint.model, &borrowed, loaded.frames, loaded.pad)?;
                Ok(outputs
                    .into_iter()
                    .map(|o| ModelOutput {
                        probabilities: o.probs.iter().map(|&p| f64::from(p)).collect(),
                        c: o.c.map(f64::from),
                        valid_frames: o.valid_frames as u32,
                    })
                    .collect())
            },
            None,
            None,
        )
    }

    /// Frees the model and its SE front end (after the predictions already running). Closing twice is allowed.
    #[napi]
    pub fn close(&self) {
        if let Ok(mut l) = self.loaded.write() {
            *l = None;
        }
        if let Ok(mut e) = self.enhancer.write() {
            *e = None;
        }
    }
}

/// One prediction on silence, so that the first real one does not pay the one-time costs: libtorch's kernels
/// for the model's input shape (batch 1) and ONNX Runtime's first run (measured by bench/predict.ts's cold
/// start). An SE front end with a cache is left alone (its cache would get an entry for silence).
fn warm_up(checkpoint: &Checkpoint, enhancer: Option<&EnhancerPool>, frames: usize, pad: PadMode) -> Result<(), Failure> {
    let model = &checkpoint.model;
    let zeros = vec![0.0f32; frames * checkpoint.config.n_mels];
    let xe = model.variant().needs_enhanced().then_some(&zeros[..]);
    tch::no_grad(|| predict(model, &[PredictInput { x: &zeros, xe }], frames, pad))?;
    if let Some(pool) = enhancer.filter(|p| p.cache().is_none()) {
        pool.enhance(&vec![0.0f32; 16_000])?;
    }
    Ok(())
}

fn closed() -> Failure {
    Failure::new(CLOSED, "expected an open model, found one that was closed with close(). Load it again with load(dir).")
}
