//! Times one training step and inference of the paper-size TRNet on random data, the same measurement as
//! scripts/reference/torch_train_step.py makes for PyTorch eager, and prints the same JSON.
//!
//!   source scripts/env.sh
//!   cargo run --release -p trnet-train --example train_speed --target x86_64-unknown-linux-gnu -- --threads 2
//!
//! Options: --threads N (2), --batch B (32), --frames T (500), --bins F (80), --steps S (5 timed steps
//! after 2 warm-up steps), --variant NAME (trnet), --device D (cpu), --only both|train|infer (both), --amp
//! (float16 autocast of forward and losses on CUDA, as `mixedPrecision`; no loss scaling, timing only),
//! --malloc fast|default|env (fast: trnet's run-time tuning, `trnet_runtime::allocator`, held for the whole
//! run as a job holds it; default: glibc as it comes; env: leave malloc to the MALLOC_* environment
//! variables), --thread worker|main (worker: run on a spawned thread, as the addon runs jobs on a libuv
//! worker thread, whose malloc arena is not the main one).
//!
//! A training step is what the trainer does per batch: forward in training mode, the variant's losses (the
//! frozen reference encoder's h_s included), zero grads, backward, Adam step. Inference is a forward pass
//! in eval mode without gradients. The reference encoder has random weights: timing does not care.
//! Reported: medians of the timed runs, the fastest run (`*_min_s`, `*_best`), and per run the median
//! process CPU time (`train_step_cpu_s`, `infer_cpu_utt_per_s`) and minor page faults, steadier figures on
//! a machine shared with other work.

use std::time::Instant;
use tch::nn::VarStore;
use tch::{Kind, Tensor};
use trnet_model::{ModelConfig, TrnetModel, Variant};
use trnet_train::adam::Adam;
use trnet_train::batcher::Batch;
use trnet_train::forward;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad value for {name}: {v}")))
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// (process CPU seconds, minor page faults) so far.
fn usage() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (secs(u.ru_utime) + secs(u.ru_stime), u.ru_minflt as f64)
}

/// Times `f` `steps` times after `warmup` untimed runs: (sorted wall seconds, median CPU seconds, median faults).
fn timed(
    warmup: usize,
    steps: usize,
    mut f: impl FnMut() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<(Vec<f64>, f64, f64), Box<dyn std::error::Error>> {
    for _ in 0..warmup {
        f()?;
    }
    let (mut wall, mut cpu, mut faults) = (vec![], vec![], vec![]);
    for _ in 0..steps {
        let (c0, f0) = usage();
        let start = Instant::now();
        f()?;
        wall.push(start.elapsed().as_secs_f64());
        let (c1, f1) = usage();
        cpu.push(c1 - c0);
        faults.push(f1 - f0);
    }
    for v in [&mut wall, &mut cpu, &mut faults] {
        v.sort_by(f64::total_cmp);
    }
    Ok((wall.clone(), cpu[cpu.len() / 2], faults[faults.len() / 2]))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    // The addon runs jobs on a libuv worker thread, whose malloc arena is not the main thread's.
    if arg::<String>(&args, "--thread", "worker".into()) == "worker" {
        return std::thread::spawn(move || run(args).map_err(|e| e.to_string())).join().expect("the worker panicked").map_err(Into::into);
    }
    run(args)
}

fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let threads: usize = arg(&args, "--threads", 2);
    let (b, t, f): (i64, i64, i64) = (arg(&args, "--batch", 32), arg(&args, "--frames", 500), arg(&args, "--bins", 80));
    let steps: usize = arg(&args, "--steps", 5);
    let only: String = arg(&args, "--only", "both".into());
    // float16 autocast of forward and losses on CUDA, as TrainConfig.mixedPrecision (no loss scaling: timing only).
    let amp = args.iter().any(|a| a == "--amp");
    let variant: Variant = arg::<String>(&args, "--variant", "trnet".into()).parse()?;
    let device = trnet_model::parse_device(&arg::<String>(&args, "--device", "cpu".into()))?.resolve()?;
    // "fast" / "default": trnet's run-time setting (trnet_runtime::allocator), held for the whole run as a
    // job would; "env": leave malloc alone (to compare with MALLOC_* variables set by the caller).
    let malloc: String = arg(&args, "--malloc", "fast".into());
    let _job = match malloc.as_str() {
        "env" => None,
        m => {
            trnet_runtime::allocator::configure(m.parse()?);
            Some(trnet_runtime::allocator::job_scope())
        }
    };
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);

    let config = ModelConfig { n_mels: f as usize, ..ModelConfig::paper(variant) };
    let vs = VarStore::new(device);
    let model = TrnetModel::new(&vs.root(), &config)?;
    let mut ref_vs = VarStore::new(device);
    let reference = TrnetModel::new(&ref_vs.root(), &ModelConfig { variant: Variant::BaselineClean, ..config.clone() })?;
    ref_vs.freeze();
    let mut adam = Adam::new(&vs, 1e-3, 0.9, 0.999, 1e-8, 0.0)?;

    let opts = (Kind::Float, device);
    let xs = Tensor::randn([b, t, f], opts);
    let batch = Batch {
        x: &xs + Tensor::randn([b, t, f], opts) * 0.5,
        xe: variant.needs_enhanced().then(|| &xs + Tensor::randn([b, t, f], opts) * 0.2),
        xs: (variant.has_low_loss() || variant.has_high_loss()).then(|| xs.shallow_clone()),
        mask: Tensor::ones([b, t], (Kind::Bool, device)),
        labels: Tensor::arange(b, (Kind::Int64, device)).remainder(config.num_classes as i64),
        items: (0..b as usize).collect(),
    };
    let sync = |x: &Tensor| x.sum(Kind::Float).double_value(&[]);

    let mut step = || -> Result<(), Box<dyn std::error::Error>> {
        let out = forward::forward(&model, &batch, true, amp)?;
        let losses = forward::losses(&model, &out, &batch, Some(reference.encoder()), amp)?;
        adam.zero_grad();
        losses.total.f_backward()?;
        adam.step()?;
        sync(&losses.total);
        Ok(())
    };
    let (mut train, mut train_cpu, mut train_faults) = (vec![f64::NAN], f64::NAN, f64::NAN);
    if only != "infer" {
        (train, train_cpu, train_faults) = timed(2, steps, &mut step)?;
    }
    let infer = || -> Result<(), Box<dyn std::error::Error>> {
        tch::no_grad(|| -> Result<(), Box<dyn std::error::Error>> {
            let out = forward::forward(&model, &batch, false, amp)?;
            sync(&out.logits);
            Ok(())
        })
    };
    let (mut inf, mut infer_cpu, mut infer_faults) = (vec![f64::NAN], f64::NAN, f64::NAN);
    if only != "train" {
        (inf, infer_cpu, infer_faults) = timed(1, steps, infer)?;
    }
    let num = |v: f64| if v.is_finite() { format!("{v:.4}") } else { "null".into() };
    let ups = |s: f64| num(b as f64 / s);
    println!(
        "{{\"impl\": \"trnet (tch {})\", \"variant\": \"{variant}\", \"device\": \"{device:?}\", \"threads\": {threads}, \"malloc\": \"{malloc}\", \"amp\": {amp}, \"batch\": {b}, \"frames\": {t}, \"bins\": {f}, \"train_step_s\": {}, \"infer_utt_per_s\": {}, \"train_step_min_s\": {}, \"infer_utt_per_s_best\": {}, \"train_step_cpu_s\": {}, \"infer_cpu_utt_per_s\": {}, \"train_step_faults\": {}, \"infer_faults\": {}, \"peak_rss_mib\": {:.0}}}",
        trnet_runtime::torch::torch_info().version,
        num(train[train.len() / 2]),
        ups(inf[inf.len() / 2]),
        num(train[0]),
        ups(inf[0]),
        num(train_cpu),
        ups(infer_cpu),
        num(train_faults),
        num(infer_faults),
        peak_rss_mib()
    );
    Ok(())
}
