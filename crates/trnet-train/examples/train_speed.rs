//! Times one training step and inference of the paper-size TRNet on random data, the same measurement as
//! scripts/reference/torch_train_step.py makes for PyTorch eager, and prints the same JSON.
//!
//!   source scripts/env.sh
//!   cargo run --release -p trnet-train --example train_speed --target x86_64-unknown-linux-gnu -- --threads 2
//!
//! Options: --threads N (2), --batch B (32), --frames T (500), --bins F (80), --steps S (5 timed steps
//! after 2 warm-up steps), --variant NAME (trnet), --device D (cpu).
//!
//! A training step is what the trainer does per batch: forward in training mode, the variant's losses (the
//! frozen reference encoder's h_s included), zero grads, backward, Adam step. Inference is a forward pass
//! in eval mode without gradients. The reference encoder has random weights: timing does not care.
//! Reported: medians of the timed runs, and the fastest run (`*_min_s`, `*_best`), which is the steadier
//! figure on a machine shared with other work.

use std::time::Instant;
use tch::nn::VarStore;
use tch::{Kind, Tensor};
use trnet_model::{ModelConfig, TrnetModel, Variant};
use trnet_train::adam::Adam;
use trnet_train::batcher::Batch;
use trnet_train::forward;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse().unwrap_or_else(|_| panic!("bad value for {name}: {v}"))).unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()).map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = arg(&args, "--threads", 2);
    let (b, t, f): (i64, i64, i64) = (arg(&args, "--batch", 32), arg(&args, "--frames", 500), arg(&args, "--bins", 80));
    let steps: usize = arg(&args, "--steps", 5);
    let variant: Variant = arg::<String>(&args, "--variant", "trnet".into()).parse()?;
    let device = trnet_model::parse_device(&arg::<String>(&args, "--device", "cpu".into()))?.resolve()?;
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

    let mut step = || -> Result<f64, Box<dyn std::error::Error>> {
        let start = Instant::now();
        let out = forward::forward(&model, &batch, true, false)?;
        let losses = forward::losses(&model, &out, &batch, Some(reference.encoder()), false)?;
        adam.zero_grad();
        losses.total.f_backward()?;
        adam.step()?;
        sync(&losses.total);
        Ok(start.elapsed().as_secs_f64())
    };
    for _ in 0..2 {
        step()?;
    }
    let mut times: Vec<f64> = (0..steps).map(|_| step()).collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    let (train_step_s, train_step_min_s) = (times[times.len() / 2], times[0]);

    let infer = || -> Result<f64, Box<dyn std::error::Error>> {
        let start = Instant::now();
        tch::no_grad(|| -> Result<(), Box<dyn std::error::Error>> {
            let out = forward::forward(&model, &batch, false, false)?;
            sync(&out.logits);
            Ok(())
        })?;
        Ok(start.elapsed().as_secs_f64())
    };
    infer()?;
    let mut times: Vec<f64> = (0..steps).map(|_| infer()).collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    let (infer_utt_per_s, infer_utt_per_s_best) = (b as f64 / times[times.len() / 2], b as f64 / times[0]);

    println!(
        "{{\"impl\": \"trnet (tch {})\", \"variant\": \"{variant}\", \"device\": \"{device:?}\", \"threads\": {threads}, \"batch\": {b}, \"frames\": {t}, \"bins\": {f}, \"train_step_s\": {train_step_s:.4}, \"infer_utt_per_s\": {infer_utt_per_s:.1}, \"train_step_min_s\": {train_step_min_s:.4}, \"infer_utt_per_s_best\": {infer_utt_per_s_best:.1}, \"peak_rss_mib\": {:.0}}}",
        trnet_model::runtime::torch_info().version,
        peak_rss_mib()
    );
    Ok(())
}
