//! Time per epoch of real `train` calls at the paper's sizes (500 frames × 80 bins, channels 32/64/128/256,
//! batch 32) on random features read from a feature store on disk, as an experiment's tasks read them; then the
//! evaluation rate of the trained checkpoint (after one untimed pass). Prints one JSON line per variant.
//! bench/epoch.ts runs it next to PyTorch eager and projects an IEMOCAP task from it; scripts/gpu/check.sh runs it
//! with --device cuda.
//!
//!   cargo run --release -p trnet-train --example epoch_speed --target x86_64-unknown-linux-gnu -- \
//!     --utterances 64 --epochs 1 --threads 2 [--device cpu|cuda] [--variants baseline-c,trnet] [--memory] [--amp]
//!     [--bf16] [--loss-read-every N] [--adam flat] [--resident] [--tasks K]
//!
//! Each utterance gives a clean and a noisy item (the IEM + IEM-ESC training view; Baseline-c reads the clean
//! ones only), validation is a quarter as many utterances. `train_step_s` is the steady time per step inside the
//! epoch (batch reads included), from the progress events: the span from an epoch's first step event to its last
//! over steps − 1 (so pass a multiple of 32 utterances, ≥ 64: the last batch must be full, and there must be two);
//! `validation_and_checkpoints_s` runs from the last step event to the epoch event. With
//! `--memory` the features stay in memory instead of a store. `--amp` sets mixedPrecision (CUDA only), `--bf16`
//! mixedPrecision with mixedPrecisionDtype "bfloat16"; `--loss-read-every N`, `--adam flat` and `--resident` set
//! lossReadEvery, adamUpdate and residentFeatures. With lossReadEvery N the step events arrive N at a time, so the
//! steady step time is the span between an epoch's first and last reads over the steps between them. `--tasks K`
//! runs K such runs at once on K threads of this process (as an experiment with tasksPerDevice K does), each
//! printing its lines with its "task" number.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;
use trnet_dsp::rng::SplitMix64;
use trnet_model::{ModelConfig, Variant};
use trnet_train::{AdamUpdate, Dataset, EvalOptions, Item, MixedPrecisionDtype, Stage, TrainConfig, TrainHooks, TrainProgress, evaluate, store, train};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Process CPU seconds so far (steadier than wall time on a machine shared with other work).
fn cpu_s() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

fn random_set(utterances: usize, seed: u64) -> Dataset {
    let (t, f) = (500, 80);
    let mut rng = SplitMix64::new(seed);
    let mut ds = Dataset::new(t, f).unwrap();
    let mut spec = |scale: f64| -> Arc<[f32]> { (0..t * f).map(|_| (rng.next_gaussian() * scale) as f32).collect::<Vec<_>>().into() };
    for u in 0..utterances {
        let xs = spec(1.0);
        ds.push(Item::clean(xs.clone(), u % 4).enhanced(spec(1.0)).speaker(format!("s{}", seed)).id(format!("{seed}-{u}"))).unwrap();
        ds.push(Item::noisy(spec(1.0), Some(xs.into()), u % 4, Some(5.0), None).enhanced(spec(1.0)).speaker(format!("s{}", seed)).id(format!("{seed}-{u}n")))
            .unwrap();
    }
    ds
}

/// One epoch's progress events: (wall, CPU) seconds at its first and last step events, the step events seen, the
/// wall seconds at its epoch event (which follows validation and the checkpoints), and the steps of its first and
/// last step events.
type Marks = ((f64, f64), (f64, f64), usize, f64, (usize, usize));

fn main() {
    // On a spawned thread, as the addon runs jobs on a libuv worker thread.
    std::thread::spawn(run).join().expect("the run panicked");
}

fn run() {
    let args: Vec<String> = std::env::args().collect();
    let tasks: usize = arg(&args, "--tasks", 1);
    if tasks > 1 {
        std::thread::scope(|scope| {
            for task in 0..tasks {
                let args = &args;
                scope.spawn(move || run_one(args, Some(task)));
            }
        });
    } else {
        run_one(&args, None);
    }
}

fn run_one(args: &[String], task: Option<usize>) {
    let args = args.to_vec();
    let utterances: usize = arg(&args, "--utterances", 64);
    let epochs: usize = arg(&args, "--epochs", 1);
    let threads: usize = arg(&args, "--threads", 2);
    let device: String = arg(&args, "--device", "cpu".to_string());
    let variants: String = arg(&args, "--variants", "baseline-c,trnet".to_string());
    let memory = args.iter().any(|a| a == "--memory");
    let amp = args.iter().any(|a| a == "--amp");
    let bf16 = args.iter().any(|a| a == "--bf16");
    let loss_read_every: usize = arg(&args, "--loss-read-every", 1);
    let adam: String = arg(&args, "--adam", "per-tensor".to_string());
    let resident = args.iter().any(|a| a == "--resident");
    if task.is_none_or(|t| t == 0) {
        trnet_runtime::allocator::configure("fast".parse().unwrap());
    }

    let dir = std::env::temp_dir().join(format!("trnet-epoch-speed-{}-{}", std::process::id(), task.unwrap_or(0)));
    let _ = std::fs::remove_dir_all(&dir);
    let (train_set, val_set) = if memory {
        (random_set(utterances, 1), random_set(utterances.div_ceil(4), 2))
    } else {
        let t = store::save(&random_set(utterances, 1), &dir.join("store-train"), "", serde_json::Value::Null).unwrap();
        let v = store::save(&random_set(utterances.div_ceil(4), 2), &dir.join("store-val"), "", serde_json::Value::Null).unwrap();
        (store::open(&t).unwrap(), store::open(&v).unwrap())
    };
    let config = TrainConfig {
        epochs,
        device: device.clone(),
        threads: Some(threads),
        mixed_precision: amp || bf16,
        mixed_precision_dtype: if bf16 { MixedPrecisionDtype::Bfloat16 } else { MixedPrecisionDtype::Float16 },
        loss_read_every,
        adam_update: if adam == "flat" { AdamUpdate::Flat } else { AdamUpdate::PerTensor },
        resident_features: resident,
        ..Default::default()
    };
    let mut reference = None;
    for name in variants.split(',') {
        let variant: Variant = name.parse().unwrap();
        // Baseline-c trains and validates on the clean items only, as an experiment's Baseline-c task does.
        let (tr, va) = if variant == Variant::BaselineClean {
            (train_set.subset(&train_set.clean_indices()).unwrap(), val_set.subset(&val_set.clean_indices()).unwrap())
        } else {
            (train_set.clone(), val_set.clone())
        };
        let marks: RefCell<Vec<Marks>> = RefCell::new(Vec::new());
        let on_progress = |p: TrainProgress| {
            let now = (p.elapsed_s, cpu_s());
            let mut m = marks.borrow_mut();
            match p.stage {
                Stage::Step => {
                    // The epoch's first read delivers steps 1..=first together: the span starts at its last event.
                    let first = loss_read_every.min(p.steps_per_epoch);
                    if m.len() < p.epoch {
                        m.push((now, now, 0, f64::NAN, (first, p.step)));
                    }
                    let e = m.last_mut().unwrap();
                    if p.step <= first {
                        e.0 = now;
                    }
                    e.1 = now;
                    e.2 += 1;
                    e.4.1 = p.step;
                }
                Stage::Epoch => {
                    if let Some(e) = m.last_mut() {
                        e.3 = now.0;
                    }
                }
            }
        };
        let hooks = TrainHooks { on_progress: &on_progress, cancelled: &|| false };
        let start = Instant::now();
        let report = train(&config, &ModelConfig::paper(variant), &tr, &va, reference.as_deref(), &dir.join(name), &hooks).unwrap();
        let total = start.elapsed().as_secs_f64();
        // A step's event comes after it, so the time between an epoch's first and last events covers its steps
        // but the first (which also warms up): the steady step time is that span over steps − 1.
        let m = marks.borrow();
        let steps: usize = m.iter().map(|e| e.2).sum();
        let spans = m.iter().map(|e| e.4.1.saturating_sub(e.4.0)).sum::<usize>().max(1) as f64;
        let step_s = m.iter().map(|e| e.1.0 - e.0.0).sum::<f64>() / spans;
        let step_cpu_s = m.iter().map(|e| e.1.1 - e.0.1).sum::<f64>() / spans;
        let epoch_s: Vec<f64> = report.history.iter().map(|h| h.seconds).collect();
        let train_s = step_s * steps as f64;
        let other_s: f64 = m.iter().map(|e| e.3 - e.1.0).sum();

        // Evaluation rate of the best checkpoint on the validation items (batch 32, as the runner evaluates).
        let dev = trnet_model::parse_device(&device).unwrap().resolve().unwrap();
        let checkpoint = tch::no_grad(|| trnet_model::checkpoint::load(&report.best_dir, dev)).unwrap();
        // Once untimed: the first batch after loading pays for allocations a long evaluation does not.
        let _ = evaluate(&checkpoint.model, &va, &EvalOptions::default()).unwrap();
        let (eval_start, eval_cpu) = (Instant::now(), cpu_s());
        let _ = evaluate(&checkpoint.model, &va, &EvalOptions::default()).unwrap();
        let (eval_s, eval_cpu_s) = (eval_start.elapsed().as_secs_f64(), cpu_s() - eval_cpu);
        println!(
            "{}",
            serde_json::json!({
                "variant": name,
                "task": task,
                "device": report.device,
                "mixed_precision": report.mixed_precision,
                "bf16": bf16,
                "loss_read_every": loss_read_every,
                "adam": adam,
                "resident": resident,
                "threads": threads,
                "features": if memory { "memory" } else { "store" },
                "train_items": report.train_items,
                "val_items": report.val_items,
                "epochs": report.epochs_run,
                "steps": steps,
                "epoch_s": epoch_s,
                "train_phase_s": train_s,
                "train_step_s": step_s,
                "train_step_cpu_s": step_cpu_s,
                "validation_and_checkpoints_s": other_s,
                "call_s": total,
                "eval_items_per_s": va.len() as f64 / eval_s,
                "eval_cpu_items_per_s": va.len() as f64 / eval_cpu_s,
            })
        );
        reference = Some(report.best_dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
