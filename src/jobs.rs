//! The pattern every long native job follows: the work runs on libuv's thread pool and settles a Promise,
//! reports progress through a JavaScript callback, and stops early when an AbortSignal fires (the work polls
//! a flag between steps; a job still queued is cancelled by napi before it starts). Either way the Promise
//! rejects with an Error named "AbortError" (code "ABORT_ERR").

use crate::errors::{catch, Failure, Outcome, ABORTED};
use napi::bindgen_prelude::{AbortSignal, AsyncTask, ToNapiValue, TypeName};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status, Task};
use napi_derive::napi;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One progress event. The TypeScript façade narrows it to a union per job (by `stage`).
#[napi(object)]
#[derive(Clone)]
pub struct Progress {
    pub stage: String,
    pub done: u32,
    pub total: u32,
    pub metrics: Option<HashMap<String, f64>>,
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

type Work<T> = Box<dyn FnOnce(&JobContext) -> Outcome<T> + Send>;

pub struct Job<T> {
    work: Option<Work<T>>,
    context: JobContext,
    failure: Option<Failure>,
}

/// Wraps `work` as an async task wired to the caller's progress callback and AbortSignal.
pub fn spawn<T>(work: impl FnOnce(&JobContext) -> Outcome<T> + Send + 'static, progress: Option<ProgressFn>, signal: Option<AbortSignal>) -> AsyncTask<Job<T>>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    let aborted = Arc::new(AtomicBool::new(false));
    if let Some(signal) = &signal {
        let flag = aborted.clone();
        signal.on_abort(move || flag.store(true, Ordering::Relaxed));
    }
    let job = Job { work: Some(Box::new(work)), context: JobContext { aborted, progress }, failure: None };
    AsyncTask::with_optional_signal(job, signal)
}

impl<T> Task for Job<T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<T> {
        let work = self.work.take().expect("a job's work runs once");
        catch(|| work(&self.context)).map_err(|failure| {
            let reason = failure.message.clone();
            self.failure = Some(failure);
            napi::Error::from_reason(reason)
        })
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<T> {
        Ok(output)
    }

    /// Rebuilds the failure as a coded JavaScript error (the task's own error type cannot carry our codes).
    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<T> {
        match &self.failure {
            Some(failure) => Err(napi::Error::from(failure.to_js(&env)?)),
            None => Err(err),
        }
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
    options: BurnOptions,
    #[napi(ts_arg_type = "((progress: Progress) => void) | undefined | null")] on_progress: Option<ProgressFn>,
    signal: Option<AbortSignal>,
) -> AsyncTask<Job<BurnResult>> {
    spawn(
        move |ctx| {
            let size = options.size.unwrap_or(256) as usize;
            let steps = options.steps.unwrap_or(20) as usize;
            let device = trnet_model::parse_device(options.device.as_deref().unwrap_or("cpu"))?.resolve()?;
            let report = trnet_runtime::burn::matmul_burn(size, steps, device, options.seed.unwrap_or(0), |done| {
                ctx.report(Progress { stage: "matmul".into(), done: done as u32, total: steps as u32, metrics: None });
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
