//! Speed of the paper's filterbank (80 bins, 25/10 ms, 16 kHz, povey, no dither) in × real time.
//!
//!     CARGO_TARGET_DIR=/tmp/target cargo run --release -p trnet-dsp --example fbank_speed [-- SECONDS [THREADS]]
//!
//! One thread: `Fbank::compute` on SECONDS (default 60) of seeded speech-like noise, best of several runs.
//! Batch: `compute_batch` on the same audio cut into 8 utterances, on a rayon pool of THREADS (default 2).

use std::time::{Duration, Instant};

use trnet_dsp::fbank::{Fbank, FbankOptions, compute_batch};
use trnet_dsp::rng::SplitMix64;

/// Harmonics of a wandering f0 under a slow envelope, plus noise: every bin busy, like speech.
fn speech_like(samples: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let (mut phase, mut f0) = (0.0f64, 150.0f64);
    (0..samples)
        .map(|i| {
            if i % 1600 == 0 {
                f0 = 90.0 + 170.0 * rng.next_f64();
            }
            phase += std::f64::consts::TAU * f0 / 16_000.0;
            let env = 0.5 + 0.5 * (i as f64 * 0.0007).sin();
            let voiced: f64 = (1..20).map(|h| (h as f64 * phase).sin() / h as f64).sum();
            (0.2 * env * voiced + 0.01 * (rng.next_f64() - 0.5)) as f32
        })
        .collect()
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map(|s| s.parse().expect("SECONDS: a number")).unwrap_or(60.0);
    let threads: usize = args.next().map(|s| s.parse().expect("THREADS: an integer")).unwrap_or(2);
    let wave = speech_like((seconds * 16_000.0) as usize, 7);
    let opts = FbankOptions::paper();

    let mut fbank = Fbank::new(opts.clone()).unwrap();
    let mut out = vec![0.0f32; fbank.num_frames(wave.len()) * fbank.num_columns()];
    fbank.compute_into(&wave, &mut out).unwrap(); // warm-up
    let one = best_of(25, || {
        fbank.compute_into(&wave, &mut out).unwrap();
    });
    let frames = fbank.num_frames(wave.len());
    println!(
        "one thread: {seconds} s of audio, {frames} frames x 80 bins in {:.2} ms = {:.0}x real time ({:.3} ms per second of audio, {:.2} us per frame)",
        one.as_secs_f64() * 1e3,
        seconds / one.as_secs_f64(),
        one.as_secs_f64() * 1e3 / seconds,
        one.as_secs_f64() * 1e6 / frames as f64
    );

    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let parts: Vec<&[f32]> = wave.chunks(wave.len().div_ceil(8)).collect();
    pool.install(|| compute_batch(&opts, &parts)); // warm-up
    let batch = best_of(15, || {
        let feats = pool.install(|| compute_batch(&opts, &parts));
        assert!(feats.iter().all(|f| f.is_ok()));
    });
    println!(
        "compute_batch, {threads} threads, {} utterances: {:.2} ms = {:.0}x real time",
        parts.len(),
        batch.as_secs_f64() * 1e3,
        seconds / batch.as_secs_f64()
    );
}
