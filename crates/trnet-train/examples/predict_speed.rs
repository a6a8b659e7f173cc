//! Where one prediction's forward pass spends its time, on one thread: `predict` on one 500-frame input with the
//! model as loaded (the eval forward pass) and prepared for prediction in f32 and bf16 (`prepare_inference`: what
//! the addon runs), against the bare pieces under it (the model's forward pass, the encoder alone). Prints one JSON line of median milliseconds per call (CPU time of the
//! one thread that runs it; run it with OMP_NUM_THREADS=1 so that libtorch starts no other).
//!
//!   cargo run --release -p trnet-train --example predict_speed --target x86_64-unknown-linux-gnu -- \
//!     <checkpoint folder> [--iters 200] [--frames 500] [--only fp32|bf16]
//!
//! The inputs are random log-Mel-like matrices; the timing does not depend on their values.

use tch::{Device, Tensor};
use trnet_dsp::frames::PadMode;
use trnet_dsp::rng::SplitMix64;
use trnet_model::{Inputs, Precision};
use trnet_train::predict::{PredictInput, predict};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU time of the calling thread, ms: steadier than wall time on a machine shared with other work.
fn thread_cpu_ms() -> f64 {
    // SAFETY: clock_gettime writes into the zeroed struct we own.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 * 1e-6
}

fn median_ms(iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<f64> = (0..iters)
        .map(|_| {
            let t0 = thread_cpu_ms();
            f();
            thread_cpu_ms() - t0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: predict_speed <checkpoint folder> [--iters N] [--frames T]");
    let iters: usize = arg(&args, "--iters", 200);
    let frames: usize = arg(&args, "--frames", 500);
    // `--only fp32|bf16`: time that prepared precision alone (for a profiler).
    let only: String = arg(&args, "--only", String::new());
    tch::set_num_threads(1);
    // As the addon's loaded model does: malloc keeps the activations' memory between predictions.
    let _malloc = trnet_runtime::allocator::job_scope();
    let load = || tch::no_grad(|| trnet_model::checkpoint::load(std::path::Path::new(dir), Device::Cpu)).expect("checkpoint");
    let ckpt = load();
    let model = &ckpt.model;
    let bins = model.config().n_mels;
    let mut rng = SplitMix64::new(1);
    let x: Vec<f32> = (0..frames * bins).map(|_| rng.next_f64() as f32 * 4.0 - 8.0).collect();
    let xe: Vec<f32> = (0..frames * bins).map(|_| rng.next_f64() as f32 * 4.0 - 8.0).collect();
    let input = [PredictInput { x: &x, xe: Some(&xe) }];
    if let Ok(precision) = Precision::parse(&only) {
        let mut prepared = load();
        prepared.model.prepare_inference(precision).expect("prepare");
        let ms = median_ms(iters, || {
            predict(&prepared.model, &input, frames, PadMode::Zero).unwrap();
        });
        let tx = Tensor::from_slice(&x).view([1, frames as i64, bins as i64]);
        let txe = Tensor::from_slice(&xe).view([1, frames as i64, bins as i64]);
        let infer_ms = median_ms(iters, || {
            prepared.model.infer(&Inputs::new(&tx).enhanced(&txe)).unwrap();
        });
        // As the addon runs a prediction: on a thread of its own (src/jobs.rs), CPU time of the whole process.
        let shared = std::sync::Mutex::new(prepared);
        let process_ms = || {
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
            let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 * 1e-3;
            ms(u.ru_utime) + ms(u.ru_stime)
        };
        let mut t: Vec<f64> = (0..iters)
            .map(|_| {
                let t0 = process_ms();
                std::thread::scope(|s| {
                    s.spawn(|| predict(&shared.lock().unwrap().model, &input, frames, PadMode::Zero).unwrap());
                });
                process_ms() - t0
            })
            .collect();
        t.sort_by(f64::total_cmp);
        let thread_ms = t[t.len() / 2];
        println!(
            "{{\"frames\": {frames}, \"prepared_{}_ms\": {ms:.3}, \"infer_ms\": {infer_ms:.3}, \"on_new_thread_process_ms\": {thread_ms:.3}}}",
            precision.name()
        );
        return;
    }
    let predict_ms = median_ms(iters, || {
        predict(model, &input, frames, PadMode::Zero).unwrap();
    });
    let mut fast = Vec::new();
    for precision in [Precision::Fp32, Precision::Bf16] {
        let mut prepared = load();
        if let Err(e) = prepared.model.prepare_inference(precision) {
            eprintln!("{}: {e}", precision.name());
            continue;
        }
        let ms = median_ms(iters, || {
            predict(&prepared.model, &input, frames, PadMode::Zero).unwrap();
        });
        fast.push(format!("\"prepared_{}_ms\": {ms:.3}", precision.name()));
    }
    let tx = Tensor::from_slice(&x).view([1, frames as i64, bins as i64]);
    let txe = Tensor::from_slice(&xe).view([1, frames as i64, bins as i64]);
    let forward_ms = median_ms(iters, || {
        tch::no_grad(|| model.forward_t(&Inputs::new(&tx).enhanced(&txe), false).unwrap());
    });
    let encoder_ms = median_ms(iters, || {
        tch::no_grad(|| model.encoder().forward_t(&tx, None, false).unwrap());
    });
    println!(
        "{{\"frames\": {frames}, \"predict_ms\": {predict_ms:.3}, {}, \"forward_ms\": {forward_ms:.3}, \"encoder_ms\": {encoder_ms:.3}}}",
        fast.join(", ")
    );
}
