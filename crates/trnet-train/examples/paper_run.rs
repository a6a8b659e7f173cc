//! Peak resident memory and wall time of real `train` calls at the paper's sizes (500 frames × 80 bins,
//! channels 32/64/128/256, batch 32) on random features: a Baseline-c for one epoch, then TRNet for one
//! epoch against it. Prints one JSON line per run.
//!
//!   cargo run --release -p trnet-train --example paper_run --target x86_64-unknown-linux-gnu -- --utterances 64 --threads 2
//!
//! Each utterance becomes a clean and a noisy item (X, Xe, Xs: 3 spectrograms of 160 kB, Xs shared), so the
//! data itself takes about utterances × 0.5 MB.
//!
//! `--malloc fast|default` picks trnet's malloc mode for the jobs (`trnet_runtime::allocator`; fast is the
//! default). The runs happen on a spawned thread, as in the addon (libuv worker). `rss_after_mib` is the
//! resident memory once the job has ended (fast mode hands free memory back then).

use std::sync::Arc;
use trnet_dsp::rng::SplitMix64;
use trnet_model::{ModelConfig, Variant};
use trnet_train::{Dataset, Item, TrainConfig, TrainHooks, TrainProgress, train};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn vm(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn random_set(utterances: usize, seed: u64) -> Dataset {
    let (t, f) = (500, 80);
    let mut rng = SplitMix64::new(seed);
    let mut ds = Dataset::new(t, f).unwrap();
    let mut spec = |scale: f64| -> Arc<[f32]> { (0..t * f).map(|_| (rng.next_gaussian() * scale) as f32).collect::<Vec<_>>().into() };
    for u in 0..utterances {
        let xs = spec(1.0);
        ds.push(Item::clean(xs.clone(), u % 4).enhanced(spec(1.0))).unwrap();
        ds.push(Item::noisy(spec(1.0), Some(xs.into()), u % 4, Some(5.0), None).enhanced(spec(1.0))).unwrap();
    }
    ds
}

fn main() {
    std::thread::spawn(run).join().expect("the run panicked");
}

fn run() {
    let args: Vec<String> = std::env::args().collect();
    let malloc = args.iter().position(|a| a == "--malloc").and_then(|i| args.get(i + 1)).map_or("fast", String::as_str);
    trnet_runtime::allocator::configure(malloc.parse().unwrap());
    let utterances = arg(&args, "--utterances", 64);
    let threads = arg(&args, "--threads", 2);
    let base_rss = {
        // Load libtorch (and its CUDA libraries) before the first reading.
        let _ = tch::Tensor::from_slice(&[0.0f32]).sum(tch::Kind::Float);
        vm("VmRSS:")
    };
    let train_set = random_set(utterances, 1);
    let val_set = random_set(utterances / 4, 2);
    let data_rss = vm("VmRSS:");
    let dir = std::env::temp_dir().join(format!("trnet-paper-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = TrainConfig { epochs: 1, device: "cpu".into(), threads: Some(threads), ..Default::default() };
    let steps = std::cell::Cell::new(0usize);
    let on_progress = |p: TrainProgress| steps.set(p.global_step);
    let hooks = TrainHooks { on_progress: &on_progress, cancelled: &|| false };
    let mut reference = None;
    for variant in [Variant::BaselineClean, Variant::Trnet] {
        let start = std::time::Instant::now();
        let report = train(&config, &ModelConfig::paper(variant), &train_set, &val_set, reference.as_deref(), &dir.join(variant.name()), &hooks).unwrap();
        println!(
            "{{\"variant\": \"{variant}\", \"utterances\": {utterances}, \"train_items\": {}, \"steps\": {}, \"threads\": {threads}, \"malloc\": \"{malloc}\", \"seconds\": {:.1}, \"rss_libtorch_mib\": {base_rss:.0}, \"rss_with_data_mib\": {data_rss:.0}, \"peak_rss_mib\": {:.0}, \"rss_after_mib\": {:.0}}}",
            report.train_items,
            steps.get(),
            start.elapsed().as_secs_f64(),
            vm("VmHWM:"),
            vm("VmRSS:")
        );
        reference = Some(report.best_dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
