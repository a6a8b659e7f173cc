//! `trnet-task`: runs one experiment task without Node, from the description the TypeScript runner writes
//! (`trnet tasks <config> --describe`). For GPU machines and cluster nodes that have libtorch but no Node; the
//! results land in the shared run folder exactly as `trnet run-task` leaves them. See docs/cluster.md.
//!
//!   trnet-task <task.json | task folder>            [--device D] [--json]
//!   trnet-task <run folder> [--index N]             [--device D] [--json]
//!
//! With a run folder the index comes from --index, else SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX.
//! Exit codes: 0 done (or already finished), 1 the task failed (the message names its TRNET_* code), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;
use trnet_train::task::{self, RunOptions, Status, TaskError};
use trnet_train::{Stage, TrainHooks, TrainProgress};

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
    let hooks = TrainHooks { on_progress: &on_progress, cancelled: &|| false };
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
        Err(e) => {
            report(&e, json);
            ExitCode::from(1)
        }
    }
}
