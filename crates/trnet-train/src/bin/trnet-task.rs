//! `trnet-task`: runs one experiment task without Node, from the description the TypeScript runner writes
//! (`trnet tasks <config> --describe`). For GPU machines and cluster nodes that have libtorch but no Node; the
//! results land in the shared run folder exactly as `trnet run-task` leaves them. See docs/cluster.md.
//!
//!   trnet-task <task.json | task folder>            [--device D] [--json]
//!   trnet-task <run folder> [--index N]             [--device D] [--json]
//!
//! With a run folder the index comes from --index, else SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX.
//! Exit codes: 0 done (or already finished), 1 the task failed (the message names its TRNET_* code), 2 usage,
//! 3 stopped by SIGTERM or SIGINT (EXIT_STOPPED): the task stopped at the next step or evaluation batch and saved
//! its resumable state (`run/last`, as a cancelled `train` does); the same command resumes it. Slurm sends SIGTERM
//! at a time limit and SIGKILL `KillWait` seconds later (30 by default); a second signal exits at once with
//! 128 + the signal's number, as an uncaught one would.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use trnet_train::task::{self, RunOptions, Status, TaskError};
use trnet_train::{Stage, TrainHooks, TrainProgress};

/// The exit status of a task stopped by a signal, resumable (see the module comment).
const EXIT_STOPPED: u8 = 3;

/// The first SIGTERM/SIGINT received (0: none). Set from the signal handler; polled by the training loop's
/// cancellation hook at every step and evaluation batch.
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap, and _exit on the second signal (the user or the scheduler
    // insists; the task's last/ from its previous epoch or cancel is still there to resume from).
    if STOP_SIGNAL.swap(signal, Ordering::SeqCst) != 0 {
        unsafe { libc::_exit(128 + signal) }
    }
}

fn catch_stop_signals() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only touches an atomic and calls _exit, both async-signal-safe; SA_RESTART keeps
        // interrupted reads and writes (stores, checkpoints) from failing with EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "a signal",
    }
}

const USAGE: &str = "usage: trnet-task <task.json | task folder | run folder> [--index N] [--device cpu|cuda|cuda:N|auto] [--json]";

struct Args {
    target: PathBuf,
    index: Option<String>,
    device: Option<String>,
    json: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let (mut target, mut index, mut device, mut json) = (None, None, None, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => json = true,
            "--index" => index = Some(it.next().ok_or("--index: expected a number")?.clone()),
            "--device" => device = Some(it.next().ok_or("--device: expected cpu, cuda, cuda:N or auto")?.clone()),
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if target.is_none() => target = Some(PathBuf::from(s)),
            s => return Err(format!("expected one task description, found a second argument {s:?}")),
        }
    }
    Ok(Args { target: target.ok_or("expected a task description, a task folder or a run folder")?, index, device, json })
}

/// The array index: --index, else SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX (as `trnet run-task`).
fn index(flag: Option<String>) -> Result<usize, String> {
    let (source, raw) = match flag {
        Some(v) => ("--index", v),
        None => match (std::env::var("SLURM_ARRAY_TASK_ID"), std::env::var("JOB_COMPLETION_INDEX")) {
            (Ok(v), _) => ("SLURM_ARRAY_TASK_ID", v),
            (_, Ok(v)) => ("JOB_COMPLETION_INDEX", v),
            _ => return Err("task index: expected --index N, or SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX in the environment, found none".into()),
        },
    };
    raw.parse().map_err(|_| format!("{source}: expected a non-negative integer, found {raw:?}"))
}

fn report(e: &TaskError, json: bool) {
    let mut chain = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    if json {
        println!("{}", serde_json::json!({ "stage": "error", "code": e.code, "message": e.message, "causes": chain }));
    } else {
        eprintln!("trnet-task: [{}] {}", e.code, e.message);
        for c in chain {
            eprintln!("  caused by: {c}");
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("trnet-task: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let json = args.json;
    let file = if args.target.join("plan.json").is_file() {
        let i = match index(args.index) {
            Ok(i) => i,
            Err(msg) => {
                eprintln!("trnet-task: {msg}\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        match task::find_in_run(&args.target, i) {
            Ok(f) => f,
            Err(e) => {
                report(&e, json);
                return ExitCode::from(1);
            }
        }
    } else {
        args.target.clone()
    };
    let loaded = match task::load(&file) {
        Ok(t) => t,
        Err(e) => {
            report(&e, json);
            return ExitCode::from(1);
        }
    };
    let id = loaded.description.id.clone();
    let on_progress = |p: TrainProgress| {
        if p.stage == Stage::Epoch {
            if json {
                println!("{}", serde_json::json!({ "stage": "epoch", "task": id, "epoch": p.epoch, "metrics": p.metrics() }));
            } else {
                let m: Vec<String> = p.metrics().iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
                eprintln!("{id}: epoch {} {}", p.epoch, m.join(", "));
            }
        }
    };
    catch_stop_signals();
    let stop_requested = || STOP_SIGNAL.load(Ordering::SeqCst) != 0;
    let hooks = TrainHooks { on_progress: &on_progress, cancelled: &stop_requested };
    let options = RunOptions { device: args.device, hooks };
    let started = std::time::Instant::now();
    match task::run_task(&loaded, &options) {
        Ok(outcome) => {
            let status = if outcome.status == Status::Finished { "finished" } else { "skipped" };
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "stage": "done", "task": id, "status": status, "seconds": started.elapsed().as_secs_f64(), "metrics": outcome.metrics })
                );
            } else {
                println!("task {} ({id}): {status} in {:.1} s", loaded.description.index, started.elapsed().as_secs_f64());
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.code == "ABORT_ERR" && stop_requested() => {
            let signal = signal_name(STOP_SIGNAL.load(Ordering::SeqCst));
            let checkpoint = loaded.dir.join("run").join(trnet_train::run::LAST);
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "stage": "stopped", "task": id, "signal": signal, "checkpoint": checkpoint, "exitCode": EXIT_STOPPED, "seconds": started.elapsed().as_secs_f64() })
                );
            } else {
                eprintln!("trnet-task: {id}: stopped by {signal}; its state is saved in {}; run the same command again to resume", checkpoint.display());
            }
            ExitCode::from(EXIT_STOPPED)
        }
        Err(e) => {
            report(&e, json);
            ExitCode::from(1)
        }
    }
}
