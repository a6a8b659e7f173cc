//! Feature store against memory at corpus-like size: builds a synthetic dataset of paper-size spectrograms
//! (500 × 80) either in memory or as a feature store, then times reading every batch of an epoch and a few
//! TRNet training steps, and prints peak RSS. One mode per process, so each peak RSS is its own:
//!
//!   source scripts/env.sh
//!   cargo run --release -p trnet-train --example store_speed --target x86_64-unknown-linux-gnu -- --mode build --dir /tmp/s
//!   … --mode disk --dir /tmp/s        (reads the store built above)
//!   … --mode memory                   (the same data in memory)
//!
//! Options: --pairs P (1024 utterances, each a clean and a noisy item: 4 records of 160 KB, so 640 KB per
//! pair), --steps S (training steps timed, 12), --threads N (2), --prefetch K (2), --batch B (32).
//! bench/store.ts runs all three and prints the ratios.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;
use tch::nn::VarStore;
use trnet_dsp::rng::SplitMix64;
use trnet_model::{ModelConfig, TrnetModel, Variant};
use trnet_train::adam::Adam;
use trnet_train::batcher::{Fields, epoch_plan, for_each_batch};
use trnet_train::store::{self, StoreWriter};
use trnet_train::{Dataset, Item, forward};

const FRAMES: usize = 500;
const BINS: usize = 80;

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

/// Utterance p: a clean item (X = Xs, Xe) and a noisy item (X, Xe, Xs = the clean X); same values every run.
fn pair(p: usize) -> [Item; 2] {
    let mut rng = SplitMix64::new(p as u64);
    let mut spec = |scale: f64| -> Vec<f32> { (0..FRAMES * BINS).map(|_| (rng.next_gaussian() * scale) as f32).collect() };
    let clean: std::sync::Arc<[f32]> = spec(1.0).into();
    let label = p % 4;
    [
        Item::clean(clean.clone(), label).enhanced(spec(1.0)).valid_frames(FRAMES - p % 200),
        Item::noisy(spec(1.0), Some(clean.into()), label, Some(5.0), None).enhanced(spec(1.0)).valid_frames(FRAMES - p % 200),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mode: String = arg(&args, "--mode", "memory".to_string());
    let dir: PathBuf = arg(&args, "--dir", std::env::temp_dir().join("trnet-store-speed"));
    let pairs: usize = arg(&args, "--pairs", 1024);
    let steps: usize = arg(&args, "--steps", 12);
    let threads: i32 = arg(&args, "--threads", 2);
    let prefetch: usize = arg(&args, "--prefetch", 2);
    let batch: usize = arg(&args, "--batch", 32);
    tch::set_num_threads(threads);
    let record_mib = (FRAMES * BINS * 4) as f64 / (1 << 20) as f64;

    let t = Instant::now();
    let ds = match mode.as_str() {
        "build" => {
            let _ = std::fs::remove_dir_all(&dir);
            let writer = StoreWriter::create(&dir, FRAMES, BINS)?;
            let mut items = Vec::with_capacity(2 * pairs);
            for p in 0..pairs {
                let (stored, used) = writer.put_items((4 * p) as u32, &pair(p))?;
                assert_eq!(used, 4);
                items.extend(stored);
            }
            writer.finish("store_speed", serde_json::json!({ "pairs": pairs }), 4 * pairs as u64, items)?;
            let build_s = t.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({ "mode": mode, "build_s": build_s, "store_mib": 4.0 * pairs as f64 * record_mib, "peak_rss_mib": peak_rss_mib() })
            );
            return Ok(());
        }
        "disk" => store::open(&dir)?,
        "memory" => {
            let mut ds = Dataset::new(FRAMES, BINS)?;
            for p in 0..pairs {
                for item in pair(p) {
                    ds.push(item)?;
                }
            }
            ds
        }
        other => return Err(format!("--mode build|disk|memory, not {other}").into()),
    };
    let ready_s = t.elapsed().as_secs_f64();
    let selection: Vec<usize> = (0..ds.len()).collect();
    let fields = Fields::train(Variant::Trnet);

    // Reading alone: every batch of one epoch, nothing done with it.
    let plan = epoch_plan(&selection, 1, 0, batch);
    let t = Instant::now();
    for_each_batch(&ds, &plan, fields, prefetch, |_, _| Ok(ControlFlow::Continue(())))?;
    let epoch_read_s = t.elapsed().as_secs_f64();

    // Checking every record's checksum, as a cache hit of buildFeatureSet does (disk mode only).
    let verify_s = if mode == "disk" {
        let t = Instant::now();
        store::open_verified(&dir)?;
        Some(t.elapsed().as_secs_f64())
    } else {
        None
    };

    // Training steps of a small TRNet (the loader matters most when the model is cheap).
    let config = ModelConfig { channels: vec![8, 16, 16, 32], num_classes: 4, ..ModelConfig::paper(Variant::Trnet) };
    tch::manual_seed(0);
    let vs = VarStore::new(tch::Device::Cpu);
    let model = TrnetModel::new(&vs.root(), &config)?;
    let mut ref_vs = VarStore::new(tch::Device::Cpu);
    let reference = TrnetModel::new(&ref_vs.root(), &ModelConfig { variant: Variant::BaselineClean, ..config.clone() })?;
    ref_vs.freeze();
    let mut adam = Adam::new(&vs, 1e-3, 0.9, 0.999, 1e-8, 0.0)?;
    let plan = epoch_plan(&selection, 2, 1, batch);
    let mut times = Vec::new();
    let mut last = Instant::now();
    for_each_batch(&ds, &plan[..(steps + 2).min(plan.len())], fields, prefetch, |k, b| {
        let out = forward::forward(&model, &b, true, false)?;
        let losses = forward::losses(&model, &out, &b, Some(reference.encoder()), false)?;
        adam.zero_grad();
        losses.total.f_backward().map_err(|e| trnet_train::Error::invalid("backward", "success", e, ""))?;
        adam.step()?;
        // Two warm-up steps, then one time per step including the wait for its batch.
        if k >= 2 {
            times.push(last.elapsed().as_secs_f64());
        }
        last = Instant::now();
        Ok(ControlFlow::Continue(()))
    })?;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{}",
        serde_json::json!({
            "mode": mode, "items": ds.len(), "records_mib": 4.0 * pairs as f64 * record_mib, "ready_s": ready_s,
            "epoch_read_s": epoch_read_s, "epoch_read_batches_per_s": plan.len() as f64 / epoch_read_s, "verify_s": verify_s,
            "train_step_s": median, "train_step_min_s": times[0], "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
