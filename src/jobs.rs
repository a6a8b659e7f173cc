//! The pattern every long native job follows: the work runs on a thread of its own and settles a Promise,
//! reports progress through a JavaScript callback, and stops early when an AbortSignal fires (the work polls
//! a flag between steps); the Promise then rejects with an Error named "AbortError" (code "ABORT_ERR").
//!
//! Why not napi's AsyncTask: it runs on libuv's thread pool (4 threads by default), which Node also uses for
//! fs, dns.lookup, crypto and zlib. A job holding a pool thread for minutes or hours would queue every such
//! call behind it: four trainings and a `fs.promises.readFile` waited seconds. A job here is one OS thread
//! (started in microseconds beside work that lasts seconds to hours) and settles its Promise through napi's
//! deferred, which queues the settlement onto the JS thread from any thread.

use crate::errors::{ABORTED, Code, Failure, Outcome, catch};
use napi::bindgen_prelude::{AbortSignal, PromiseRaw, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Status};
use napi_derive::napi;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// One progress event: a union discriminated by `stage` in the generated TypeScript (`{ stage: 'decode';
/// done; total } | …`), so each job's callback gets exactly the fields its stage has. The façade narrows it
/// to the stages of one job (ts/jobs.ts).
#[napi(discriminant = "stage", discriminant_case = "lowercase")]
#[derive(Clone)]
pub enum Progress {
    /// Files decoded (loadAudioBatch).
    Decode { done: u32, total: u32 },
    /// Waveforms whose filterbank is done (fbankBatch).
    Fbank { done: u32, total: u32 },
    /// Waveforms enhanced (enhanceBatch).
    Enhance { done: u32, total: u32 },
    /// Utterances whose features are done (buildFeatureSet).
    Features {
        done: u32,
        total: u32,
        // Set (true) on the single event of a build that found its feature store and computed nothing.
        cached: Option<bool>,
    },
    /// After every optimiser step (trainModel, resumeTraining).
    Step {
        // Optimiser steps done / planned in the whole run.
        done: u32,
        total: u32,
        // 1-based.
        epoch: u32,
        // The step's learning rate.
        lr: f64,
        // This batch's cross-entropy and total loss.
        ce: f64,
        loss: f64,
        // L_low and L_high, for the variants that have them.
        low: Option<f64>,
        high: Option<f64>,
    },
    /// After an epoch's validation and checkpoints (trainModel, resumeTraining).
    Epoch {
        done: u32,
        total: u32,
        epoch: u32,
        // The rate the epoch ran with.
        lr: f64,
        // Means over the epoch's training items.
        ce: f64,
        loss: f64,
        low: Option<f64>,
        high: Option<f64>,
        // Validation UAR, WAR and mean cross-entropy of this epoch.
        val_uar: f64,
        val_war: f64,
        val_ce: f64,
        // The best epoch so far and its validation UAR.
        best_epoch: Option<u32>,
        best_uar: Option<f64>,
    },
    /// Items evaluated (evaluateCheckpoint).
    Evaluate { done: u32, total: u32 },
    /// Multiplications done (matmulBurn).
    Matmul { done: u32, total: u32 },
}

pub type ProgressFn = ThreadsafeFunction<Progress, (), Progress, Status, false>;

/// What a job's work sees: whether it was aborted, and where to report progress.
pub struct JobContext {
    aborted: Arc<AtomicBool>,
    progress: Option<ProgressFn>,
}

impl JobContext {
    pub fn report(&self, progress: Progress) {
        if let Some(f) = &self.progress {
            // Queued in order on the JS thread; never blocks the work.
            f.call(progress, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// `Break` once the job has been aborted: the shape step callbacks in the core crates return.
    pub fn keep_going(&self) -> ControlFlow<()> {
        if self.aborted.load(Ordering::Relaxed) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    /// An `AbortError` failure if the job was aborted.
    pub fn check_aborted(&self) -> Outcome<()> {
        match self.keep_going() {
            ControlFlow::Break(()) => Err(Failure::new(ABORTED, "The operation was aborted")),
            ControlFlow::Continue(()) => Ok(()),
        }
    }
}

/// The Promise a job export returns (its TypeScript type comes from `ts_return_type`).
pub type Job<T> = PromiseRaw<'static, T>;

type Settle<T> = Box<dyn FnOnce(Env) -> napi::Result<T>>;

/// Stack size of a job thread: what libuv gives its pool threads (which ran these jobs before) by default.
const JOB_STACK: usize = 8 << 20;

/// Starts `work` on a thread of its own, wired to the caller's progress callback and AbortSignal, and
/// returns the Promise it settles. Panics in `work` become TRNET_PANIC rejections (`catch`).
pub fn spawn<T>(
    env: &Env,
    work: impl FnOnce(&JobContext) -> Outcome<T> + Send + 'static,
    progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<T>, Code>
where
    T: ToNapiValue + Send + 'static,
{
    start(env, work, progress, signal, None)
}

/// `spawn` on `thread` (after the jobs queued there before it) instead of a new thread; on a new thread after
/// all if `thread` has been stopped.
pub fn spawn_on<T>(env: &Env, thread: &JobThread, work: impl FnOnce(&JobContext) -> Outcome<T> + Send + 'static) -> napi::Result<Job<T>, Code>
where
    T: ToNapiValue + Send + 'static,
{
    start(env, work, None, None, Some(thread))
}

fn start<T>(
    env: &Env,
    work: impl FnOnce(&JobContext) -> Outcome<T> + Send + 'static,
    progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
    thread: Option<&JobThread>,
) -> napi::Result<Job<T>, Code>
where
    T: ToNapiValue + Send + 'static,
{
    let aborted = Arc::new(AtomicBool::new(false));
    if let Some(signal) = &signal {
        let flag = aborted.clone();
        signal.on_abort(move || flag.store(true, Ordering::Relaxed));
    }
    let io = |what: String| Failure::new(Code("TRNET_IO"), what).into_napi();
    let (deferred, promise) = env.create_deferred::<T, Settle<T>>().map_err(|e| io(format!("cannot create the Promise of a job: {e}")))?;
    let context = JobContext { aborted, progress };
    let run: Task = Box::new(move || {
        let outcome = catch(|| work(&context));
        // The progress function is released before the settlement is queued, so no event can follow it.
        drop(context);
        deferred.resolve(Box::new(move |env: Env| match outcome {
            Ok(value) => Ok(value),
            // Rebuilt on the JS thread as a coded JavaScript error, kept as the rejection value.
            Err(failure) => Err(napi::Error::from(failure.to_js(&env)?)),
        }));
    });
    let run = match thread {
        Some(t) => match t.send(run) {
            Ok(()) => return Ok(PromiseRaw::new(env.raw(), promise.raw())),
            Err(run) => run,
        },
        None => run,
    };
    std::thread::Builder::new()
        .name("trnet-job".into())
        .stack_size(JOB_STACK)
        .spawn(run)
        .map_err(|e| io(format!("the system refused a thread for the job ({e}); too many jobs or threads are running. Wait for some to finish.")))?;
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}

type Task = Box<dyn FnOnce() + Send>;

/// One long-lived job thread that runs the jobs given to it (`spawn_on`) one after another, for short jobs on
/// state that only one job can use at a time anyway (a loaded model's forward passes). A new thread per job cost a
/// 5-s prediction ≈ 0.5 ms of CPU (thread start and libtorch's per-thread setup on it), ≈ 8 % of the forward
/// pass. The thread ends when the `JobThread` is stopped or dropped, after the jobs already queued.
pub struct JobThread {
    queue: std::sync::Mutex<Option<std::sync::mpsc::Sender<Task>>>,
    /// Jobs sent to this thread that have not finished yet.
    queued: Arc<AtomicUsize>,
}

impl JobThread {
    /// A thread named `name`, or none if the system refuses one (jobs then get threads of their own).
    pub fn start(name: &str) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Task>();
        let started = std::thread::Builder::new().name(name.into()).stack_size(JOB_STACK).spawn(move || {
            while let Ok(task) = rx.recv() {
                task();
            }
        });
        JobThread { queue: std::sync::Mutex::new(started.ok().map(|_| tx)), queued: Arc::default() }
    }

    /// Jobs sent here and not finished yet (a caller with several threads picks the least busy).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Lets the thread end once the jobs queued so far are done; later jobs get threads of their own.
    pub fn stop(&self) {
        if let Ok(mut q) = self.queue.lock() {
            *q = None;
        }
    }

    fn send(&self, task: Task) -> Result<(), Task> {
        let queue = self.queue.lock().ok();
        let Some(tx) = queue.as_ref().and_then(|q| q.as_ref()) else { return Err(task) };
        let queued = self.queued.clone();
        queued.fetch_add(1, Ordering::SeqCst);
        tx.send(Box::new(move || {
            task();
            queued.fetch_sub(1, Ordering::SeqCst);
        }))
        .map_err(|e| e.0)
    }
}

#[napi(object)]
pub struct BurnOptions {
    /// Matrix size n (n × n), default 256.
    pub size: Option<u32>,
    /// Multiplications to run, default 20.
    pub steps: Option<u32>,
    /// "auto" | "cpu" | "cuda" | "cuda:N", default "cpu".
    pub device: Option<String>,
    pub seed: Option<i64>,
}

#[napi(object)]
pub struct BurnResult {
    pub steps_done: u32,
    pub seconds: f64,
    pub gflops: f64,
    pub checksum: f64,
    pub device: String,
}

/// Multiplies seeded matrices on libtorch as a long job: `trnet doctor --bench` measures the machine with it,
/// and the tests prove the job pattern (progress order, abort, a live event loop) on it.
#[napi(ts_return_type = "Promise<BurnResult>")]
pub fn matmul_burn(
    env: &Env,
    options: BurnOptions,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> napi::Result<Job<BurnResult>, Code> {
    spawn(
        env,
        move |ctx| {
            let size = options.size.unwrap_or(256) as usize;
            let steps = options.steps.unwrap_or(20) as usize;
            let device = trnet_model::parse_device(options.device.as_deref().unwrap_or("cpu"))?.resolve()?;
            let report = trnet_runtime::burn::matmul_burn(size, steps, device, options.seed.unwrap_or(0), |done| {
                ctx.report(Progress::Matmul { done: done as u32, total: steps as u32 });
                ctx.keep_going()
            })?;
            ctx.check_aborted()?;
            Ok(BurnResult {
                steps_done: report.steps_done as u32,
                seconds: report.seconds,
                gflops: report.gflops,
                checksum: report.checksum,
                device: format!("{device:?}").to_lowercase(),
            })
        },
        on_progress,
        signal,
    )
}
