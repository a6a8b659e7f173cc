//! A loaded model for predictions (issue 13): `NativeModel.load(dir, options)` rebuilds a checkpoint folder
//! (verified against its checksums), folds its BatchNorms into its convs for prediction (`prepare_inference`, in
//! the `precision` asked for). `predictAudio` runs the whole prediction from audio (decode, SE front end, fbank,
//! forward pass) in one job on one of the model's threads; `predict` runs batches of feature matrices through it
//! (trnet_train::predict: the evaluation forward pass, folded). `close()` drops the weights; later calls fail with
//! TRNET_MODEL_CLOSED. Jobs already running keep the model alive until they finish (they hold an `Arc`).
//! Loading is synchronous (a checkpoint of the paper's size is a few MB).
//!
//! The SE front end is loaded with the model and kept open until `close()`: predictions run on the model's own
//! enhancer pool, so an ONNX session (0.05–0.2 s to create, longer than enhancing a 5-s clip) is made once per
//! worker thread for the model's life, not once per prediction.

use crate::audio::{AudioInput, input_at_16k};
use crate::dsp::by_name;
use crate::enhance::{EnhancerOptions, pool};
use crate::errors::{Code, Failure, guard};
use crate::features::{FbankOptions, to_options};
use crate::front_end::{FrontEnd, Lap, StageClock, enhance_all};
use crate::jobs::{Job, JobThread, spawn, spawn_on};
use napi::Env;
use napi::bindgen_prelude::Float32Array;
use napi::bindgen_prelude::ToNapiValue;
use napi_derive::napi;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use trnet_dsp::frames::PadMode;
use trnet_enhance::EnhancerPool;
use trnet_model::Checkpoint;
use trnet_runtime::allocator::{JobScope, job_scope};
use trnet_train::predict::{PredictInput, PredictOutput, predict, predict_embedded};
use trnet_train::timeline::{TimelineSpec, timeline};

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
    /// libtorch intra-op threads for this model's forward passes, set (at::set_num_threads) on each prediction
    /// job's thread before its forward pass; null: leave libtorch's setting. The setting is libtorch's: threads
    /// that start libtorch work later in the process inherit it, as with training's `threads`.
    pub intra_op_threads: Option<u32>,
    /// "fp32" (default) | "bf16": the number format of the encoder's convolutions (trnet_model::inference). bf16
    /// needs a CPU with AVX-512 BF16 (TRNET_DEVICE_UNAVAILABLE otherwise) and changes the probabilities slightly.
    #[napi(ts_type = "'fp32' | 'bf16'")]
    pub precision: Option<String>,
    /// The SE front end the model was trained with, loaded now and kept open until `close()`; variants that
    /// read Xe need it for `enhance`. `cacheDir` is honoured (predictions usually leave it out).
    pub enhancer: Option<EnhancerOptions>,
    /// Long-lived job threads for the model's predictions (default 1): a job goes to the least busy one, so up
    /// to this many run their SE front end and fbank at once (forward passes take turns on the model).
    pub threads: Option<u32>,
}

#[napi(object)]
pub struct ModelInput {
    /// Log-Mel features of the input audio, frames × bins row-major.
    pub x: Float32Array,
    /// Log-Mel features of the SE front end's output (same shape); required by variants that read Xe.
    pub xe: Option<Float32Array>,
}

#[napi(object)]
pub struct WaveOptions {
    /// The fbank the model was trained with.
    pub fbank: Option<FbankOptions>,
    /// Factor on the samples (input and SE output) before the fbank (`features.waveformScale`; default 1).
    pub waveform_scale: Option<f64>,
    /// Also return each input's representation (`embedding`).
    pub embeddings: Option<bool>,
}

/// Milliseconds per stage of `predictAudio`.
#[napi(object)]
pub struct PipelineStages {
    pub decode: f64,
    pub enhance: f64,
    pub fbank: f64,
    pub forward: f64,
}

#[napi(object)]
pub struct AudioPredictions {
    pub outputs: Vec<ModelOutput>,
    /// Wall-clock time of each stage.
    pub ms: PipelineStages,
    /// The process's CPU time (all threads) during each stage.
    pub cpu: PipelineStages,
}

#[napi(object)]
pub struct ModelOutput {
    /// Class probabilities (softmax), in class-index order.
    pub probabilities: Vec<f64>,
    /// The noise-level estimate c ∈ [0, 1]; null for variants without the SNR-aware module.
    pub c: Option<f64>,
    /// Frames of the input that were utterance rather than padding.
    pub valid_frames: u32,
    /// The utterance's representation (what the classifier reads: h~ for the calibrated TRNet variants, h
    /// otherwise), when `predict` was asked for it.
    pub embedding: Option<Float32Array>,
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
    /// The variant reads Xe (the fbank of the SE front end's output).
    reads_xe: bool,
    precision: &'static str,
    num_classes: u32,
    n_mels: u32,
    jobs: Arc<JobCount>,
    // The trained frame count, outside the lock (which a forward pass holds) for samplesKept.
    frames: usize,
    intra_op_threads: Option<usize>,
    /// The threads the model's prediction jobs (predict, predictAudio, timeline) run on: a thread per job cost
    /// more than a job's own overhead. Each job goes to the one with the fewest jobs queued.
    workers: Vec<JobThread>,
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
            let precision = trnet_model::Precision::parse(options.precision.as_deref().unwrap_or("fp32"))?;
            trnet_model::check_precision(precision, device)?;
            let mut checkpoint = tch::no_grad(|| trnet_model::checkpoint::load(Path::new(&dir), device))?;
            // The weights are final: fold BatchNorm into the convs once, for every prediction of the model's life.
            checkpoint.model.prepare_inference(precision)?;
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
                reads_xe: config.variant.needs_enhanced(),
                precision: precision.name(),
                num_classes: config.num_classes as u32,
                n_mels: config.n_mels as u32,
                loaded: RwLock::new(Some(Arc::new(Mutex::new(Loaded { checkpoint, frames, pad, _malloc: malloc })))),
                jobs: Arc::default(),
                frames,
                intra_op_threads: options.intra_op_threads.map(|n| n.max(1) as usize),
                workers: (0..options.threads.unwrap_or(1).max(1)).map(|_| JobThread::start("trnet-model")).collect(),
            })
        })
    }

    #[napi(getter)]
    pub fn variant(&self) -> String {
        self.variant.clone()
    }

    /// The number format of the encoder's convolutions: "fp32" or "bf16" (load's `precision`).
    #[napi(getter)]
    pub fn precision(&self) -> String {
        self.precision.to_string()
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

    /// Class probabilities and c for each input (and with `embeddings`, its representation), on a job thread.
    #[napi(ts_return_type = "Promise<Array<ModelOutput>>")]
    pub fn predict(&self, env: &Env, inputs: Vec<ModelInput>, embeddings: Option<bool>) -> napi::Result<Job<Vec<ModelOutput>>, Code> {
        self.model_job(env, move |loaded| {
            let borrowed: Vec<PredictInput<'_>> = inputs.iter().map(|i| PredictInput { x: &i.x, xe: i.xe.as_deref() }).collect();
            let run = if embeddings == Some(true) { predict_embedded } else { predict };
            let loaded = lock(loaded);
            let outputs = run(&loaded.checkpoint.model, &borrowed, loaded.frames, loaded.pad)?;
            Ok(outputs.into_iter().map(model_output).collect())
        })
    }

    /// The whole prediction in one job on one of the model's threads: decoding (paths and bytes; samples at
    /// another rate are resampled), the cut to what the model's frames read, the SE front end (variants that
    /// read Xe), the waveform scale, the fbank of the input and of the SE output, then the forward pass under the
    /// model's lock. One hop instead of one per stage (each hop, with its thread start and its copies into and
    /// out of JavaScript arrays, cost ≈ 0.2–0.5 ms), and the event loop never decodes. Stage times come with it.
    #[napi(ts_return_type = "Promise<AudioPredictions>")]
    pub fn predict_audio(&self, env: &Env, inputs: Vec<AudioInput>, options: WaveOptions) -> napi::Result<Job<AudioPredictions>, Code> {
        let front = self.front_end(&options, "predictAudio").map_err(Failure::into_napi)?;
        let run = if options.embeddings == Some(true) { predict_embedded } else { predict };
        self.model_job(env, move |loaded| {
            let mut clock = StageClock::start();
            let (net, laps) = front.network_inputs(&inputs, &mut clock)?;
            let loaded = lock(loaded);
            let outputs = run(&loaded.checkpoint.model, &net.inputs(), loaded.frames, loaded.pad)?;
            drop(loaded);
            let forward = clock.lap();
            let [decode, enhance, fbank] = laps;
            let stages = |f: fn(&Lap) -> f64| PipelineStages { decode: f(&decode), enhance: f(&enhance), fbank: f(&fbank), forward: f(&forward) };
            Ok(AudioPredictions { outputs: outputs.into_iter().map(model_output).collect(), ms: stages(|l| l.ms), cpu: stages(|l| l.cpu_ms) })
        })
    }

    /// The network's inputs `predictAudio` computes for each input (`x`, and `xe` for the variants that read
    /// it: frames × bins, before padding or cutting to the trained frame count), on one of the model's threads.
    #[napi(ts_return_type = "Promise<Array<ModelInput>>")]
    pub fn audio_frames(&self, env: &Env, inputs: Vec<AudioInput>, options: WaveOptions) -> napi::Result<Job<Vec<ModelInput>>, Code> {
        let front = self.front_end(&options, "audioFrames").map_err(Failure::into_napi)?;
        self.loaded().map_err(Failure::into_napi)?;
        spawn_on(env, self.worker(), move |_ctx| {
            let (net, _) = front.network_inputs(&inputs, &mut StageClock::start())?;
            let mut xe = net.xe.into_iter();
            Ok(net.x.into_iter().map(|x| ModelInput { x: x.into(), xe: xe.next().map(Float32Array::new) }).collect())
        })
    }

    /// Samples of 16 kHz input the model's frames read with the fbank `fbank` (trnet_train's `samples_kept_for`,
    /// the cut training made before enhancement); null when the fbank averages over the whole input
    /// (subtractMean), which then is kept whole.
    #[napi]
    pub fn samples_kept(&self, fbank: Option<FbankOptions>) -> napi::Result<Option<u32>, Code> {
        guard(|| {
            let opts = to_options(fbank)?;
            trnet_dsp::fbank::Fbank::new(opts.clone())?;
            self.loaded()?;
            Ok(trnet_train::features::samples_kept_for(self.frames, &opts).map(|k| u32::try_from(k).unwrap_or(u32::MAX)))
        })
    }

    /// Windows along a whole recording (`input`, decoded whole to 16 kHz mono and, for the variants that read
    /// Xe, enhanced whole), each marked silent by its level or classified, in one job on one of the model's
    /// threads (trnet_train::timeline: only the fbank and the forward pass run per window, under the model's lock).
    #[napi(ts_return_type = "Promise<Array<TimelineWindow>>")]
    pub fn timeline(&self, env: &Env, input: AudioInput, options: TimelineOptions) -> napi::Result<Job<Vec<TimelineWindow>>, Code> {
        let fbank = to_options(options.fbank.clone()).map_err(Failure::into_napi)?;
        let pool = self.reads_xe.then(|| self.enhancer_pool("timeline")).transpose().map_err(Failure::into_napi)?;
        let spec = TimelineSpec {
            window: options.window as usize,
            hop: options.hop as usize,
            relative_db: options.silence_relative_db,
            floor_db: options.silence_floor_db,
            waveform_scale: options.waveform_scale.unwrap_or(1.0) as f32,
        };
        self.model_job(env, move |loaded| {
            let wave = input_at_16k(&input, 0, None)?;
            let enhanced = match &pool {
                Some(pool) => Some(enhance_all(pool, &[&wave])?.remove(0)),
                None => None,
            };
            let loaded = lock(loaded);
            let windows = timeline(&loaded.checkpoint.model, &wave, enhanced.as_deref(), &fbank, loaded.frames, loaded.pad, &spec)?;
            Ok(windows
                .into_iter()
                .map(|w| TimelineWindow { start: w.range.start as u32, end: w.range.end as u32, level_db: w.level_db, output: w.output.map(model_output) })
                .collect())
        })
    }

    /// Native prediction jobs (predict, timeline) of this model running or waiting for the model now.
    #[napi(getter)]
    pub fn active_jobs(&self) -> u32 {
        self.jobs.active.load(Ordering::SeqCst)
    }

    /// The most native prediction jobs of this model that were ever running or waiting at once: what the
    /// façade's bound on concurrent predictions (load's `threads`) is checked against.
    #[napi(getter)]
    pub fn peak_jobs(&self) -> u32 {
        self.jobs.peak.load(Ordering::SeqCst)
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
        for worker in &self.workers {
            worker.stop();
        }
    }
}

impl NativeModel {
    fn loaded(&self) -> Result<Arc<Mutex<Loaded>>, Failure> {
        self.loaded.read().ok().and_then(|l| l.clone()).ok_or_else(closed)
    }

    /// The model's SE front end, for `what`; an error when the model was loaded without one.
    fn enhancer_pool(&self, what: &str) -> Result<Arc<EnhancerPool>, Failure> {
        self.enhancer.read().ok().and_then(|e| e.clone()).ok_or_else(|| {
            Failure::new(
                Code("TRNET_INVALID_ARGUMENT"),
                format!(
                    "{what}: expected a model loaded with its SE front end ({{ enhancer }}) for a variant that reads Xe, found variant {} without one. Pass the enhancer to NativeModel.load.",
                    self.variant
                ),
            )
        })
    }

    fn worker(&self) -> &JobThread {
        self.workers.iter().min_by_key(|w| w.queued()).expect("a model has at least one worker")
    }

    /// One prediction job on the loaded model, on the least busy of its threads: counted in `jobs` (the bound
    /// `threads` is checked against), with the model's libtorch intra-op threads set on the job's thread. `work`
    /// takes the model's lock (`lock`) for its forward passes only, so other jobs' decoding and SE run meanwhile.
    fn model_job<T: ToNapiValue + Send + 'static>(
        &self,
        env: &Env,
        work: impl FnOnce(&Mutex<Loaded>) -> Result<T, Failure> + Send + 'static,
    ) -> napi::Result<Job<T>, Code> {
        let loaded = self.loaded().map_err(Failure::into_napi)?;
        let running = JobCount::start(&self.jobs);
        let intra = self.intra_op_threads;
        spawn_on(env, self.worker(), move |_ctx| {
            let _running = running;
            set_intra_op_threads(intra);
            work(&loaded)
        })
    }

    /// What a job needs for the network's inputs from audio: the SE front end (variants that read Xe), the
    /// fbank, the waveform scale and the samples the model's frames read.
    fn front_end(&self, options: &WaveOptions, what: &str) -> Result<FrontEnd, Failure> {
        let pool = self.reads_xe.then(|| self.enhancer_pool(what)).transpose()?;
        let fbank = to_options(options.fbank.clone())?;
        let keep = trnet_train::features::samples_kept_for(self.frames, &fbank);
        Ok(FrontEnd { pool, fbank, scale: options.waveform_scale.unwrap_or(1.0), keep })
    }
}

#[napi(object)]
pub struct TimelineOptions {
    /// Samples per window (16 kHz), at most what the model's frames read.
    pub window: u32,
    /// Samples between window starts, 1..=window.
    pub hop: u32,
    /// A window more than this many dB below the loudest window is silent.
    pub silence_relative_db: f64,
    /// A window below this level (dB re full scale) is silent.
    pub silence_floor_db: f64,
    /// The fbank the model was trained with.
    pub fbank: Option<FbankOptions>,
    /// Factor on the samples before the fbank (`features.waveformScale`; default 1).
    pub waveform_scale: Option<f64>,
}

#[napi(object)]
pub struct TimelineWindow {
    /// First sample of the window.
    pub start: u32,
    /// One past its last sample.
    pub end: u32,
    /// Mean power of the window's input samples, dB re full scale (-Infinity for digital silence).
    pub level_db: f64,
    /// The prediction; null for a silent window.
    pub output: Option<ModelOutput>,
}

/// Native jobs of one model running now and at most at once (a job counts from its call until it settles).
#[derive(Default)]
struct JobCount {
    active: AtomicU32,
    peak: AtomicU32,
}

/// Held by a job while it runs; dropping it (at the job's end, or if the job never starts) counts it out.
struct Running(Arc<JobCount>);

impl JobCount {
    fn start(count: &Arc<JobCount>) -> Running {
        let now = count.active.fetch_add(1, Ordering::SeqCst) + 1;
        count.peak.fetch_max(now, Ordering::SeqCst);
        Running(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// libtorch's intra-op thread count for the forward passes of this job's thread, when the model sets one.
fn set_intra_op_threads(n: Option<usize>) {
    if let Some(n) = n {
        trnet_runtime::torch::set_intra_op_threads(n);
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

/// The model, for one job. A panic in an earlier prediction poisons the lock; the model itself is unchanged by a
/// forward pass.
fn lock(loaded: &Mutex<Loaded>) -> std::sync::MutexGuard<'_, Loaded> {
    loaded.lock().unwrap_or_else(|p| p.into_inner())
}

fn model_output(o: PredictOutput) -> ModelOutput {
    ModelOutput {
        probabilities: o.probs.iter().map(|&p| f64::from(p)).collect(),
        c: o.c.map(f64::from),
        valid_frames: o.valid_frames as u32,
        embedding: o.embedding.map(Float32Array::new),
    }
}

fn closed() -> Failure {
    Failure::new(CLOSED, "expected an open model, found one that was closed with close(). Load it again with load(dir).")
}

// ONNX export (issue 13): an impl block of its own, so that it stays apart from the prediction methods above.

#[napi(object)]
pub struct OnnxWritten {
    /// Size of the file.
    pub bytes: f64,
    /// The graph's input names, in order (x, xe, valid_frames as the variant reads them).
    pub inputs: Vec<String>,
    /// The graph's output names, in order (probabilities, and c for the variants that have it).
    pub outputs: Vec<String>,
}

#[napi]
impl NativeModel {
    /// Writes the model's eval-mode forward pass to `path` as one ONNX graph (trnet_model::onnx). `metadata`
    /// (class names, feature settings, SE front end…) goes into its metadata_props, and `fbank` with every
    /// default filled in as `trnet.fbank`, so the file says exactly how its frames are computed.
    #[napi(ts_return_type = "Promise<OnnxWritten>")]
    pub fn export_onnx(
        &self,
        env: &Env,
        path: String,
        metadata: std::collections::HashMap<String, String>,
        fbank: Option<crate::features::FbankOptions>,
    ) -> napi::Result<Job<OnnxWritten>, Code> {
        let loaded = self.loaded.read().ok().and_then(|l| l.clone()).ok_or_else(|| closed().into_napi())?;
        let fbank = guard(|| crate::features::to_options(fbank))?;
        spawn(
            env,
            move |_ctx| {
                // Sorted by key: the same model and metadata always give the same file.
                let mut entries: Vec<(String, String)> = metadata.into_iter().collect();
                entries.push(("trnet.fbank".into(), serde_json::to_string(&fbank).expect("fbank options serialise")));
                entries.sort();
                let loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
                let model = &loaded.checkpoint.model;
                let bytes = trnet_model::onnx::export(model, Path::new(&path), &entries)? as f64;
                let names = |v: Vec<&str>| v.into_iter().map(String::from).collect();
                Ok(OnnxWritten {
                    bytes,
                    inputs: names(trnet_model::onnx::input_names(model.variant())),
                    outputs: names(trnet_model::onnx::output_names(model.variant())),
                })
            },
            None,
            None,
        )
    }
}
