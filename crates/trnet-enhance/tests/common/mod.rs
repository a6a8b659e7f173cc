//! Test signals made here from seeds (no audio files), and where the fixtures and shared models live.
#![allow(dead_code)]

use std::f64::consts::PI;
use std::path::PathBuf;
use trnet_dsp::rng::SplitMix64;

pub const SR: f64 = 16_000.0;

pub fn shared() -> PathBuf {
    std::env::var_os("TRNET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../../shared"))
}

pub fn gtcrn_path() -> PathBuf {
    let path = shared().join("models/gtcrn/gtcrn_simple.onnx");
    assert!(path.is_file(), "missing {}: set TRNET_SHARED to the shared folder", path.display());
    path
}

/// The whole-utterance GTCRN export that `scripts/export-gtcrn-offline.sh` makes from the shared DNS3 checkpoint
/// (it is generated, never committed): `$TRNET_GTCRN_OFFLINE` if set, else the script's default,
/// `$TRNET_CACHE/models/gtcrn-offline-v1-<first 16 hex of the checkpoint's SHA-256>.onnx`. Err says why it is
/// not there.
pub fn gtcrn_offline_path() -> Result<PathBuf, String> {
    use sha2::{Digest, Sha256};
    let path = match std::env::var_os("TRNET_GTCRN_OFFLINE").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let checkpoint = shared().join("models/gtcrn/stream_model_trained_on_dns3.tar");
            let bytes = std::fs::read(&checkpoint).map_err(|e| format!("cannot read {}: {e}", checkpoint.display()))?;
            let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            let cache = std::env::var_os("TRNET_CACHE").filter(|p| !p.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
                let xdg = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()).map(PathBuf::from);
                xdg.unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")).join("trnet")
            });
            cache.join("models").join(format!("gtcrn-offline-v1-{}.onnx", &digest[..16]))
        }
    };
    if path.is_file() { Ok(path) } else { Err(format!("no whole-utterance GTCRN export at {}; make it with scripts/export-gtcrn-offline.sh", path.display())) }
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/fixtures").join(name)
}

/// A voiced, speech-like signal: a harmonic series on a gliding pitch (100–220 Hz), shaped by three slowly
/// moving formant peaks, switched on and off in syllables of random length (~4 per second) with pauses between.
/// Peak level about 0.5.
pub fn speech_like(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    // Syllable envelope: alternating voiced segments (120–300 ms) and pauses (40–200 ms), raised-cosine edges.
    let mut envelope = vec![0.0f64; n];
    let mut i = (rng.next_f64() * 0.1 * SR) as usize;
    while i < n {
        let len = ((0.12 + 0.18 * rng.next_f64()) * SR) as usize;
        let gain = 0.5 + 0.5 * rng.next_f64();
        for j in 0..len.min(n - i) {
            let phase = j as f64 / len as f64;
            envelope[i + j] = gain * (PI * phase).sin().powf(0.6);
        }
        i += len + ((0.04 + 0.16 * rng.next_f64()) * SR) as usize;
    }
    let formant = |f: f64, centre: f64, width: f64| 1.0 / (1.0 + ((f - centre) / width).powi(2));
    let mut phases = vec![0.0f64; 40];
    let mut out = Vec::with_capacity(n);
    for (t, env) in envelope.iter().enumerate() {
        let time = t as f64 / SR;
        let f0 = 160.0 + 60.0 * (2.0 * PI * 0.7 * time).sin() + 10.0 * (2.0 * PI * 5.0 * time).sin();
        let (f1, f2) = (600.0 + 200.0 * (2.0 * PI * 1.3 * time).sin(), 1600.0 + 500.0 * (2.0 * PI * 0.9 * time).cos());
        let mut v = 0.0;
        for (k, phase) in phases.iter_mut().enumerate() {
            let f = f0 * (k + 1) as f64;
            *phase = (*phase + 2.0 * PI * f / SR) % (2.0 * PI);
            if f < 7000.0 {
                let amp = (formant(f, f1, 150.0) + 0.6 * formant(f, f2, 250.0) + 0.3 * formant(f, 2800.0, 400.0) + 0.02) / (k + 1) as f64;
                v += amp * phase.sin();
            }
        }
        out.push((0.35 * env * v) as f32);
    }
    out
}

pub fn white_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| (0.1 * rng.next_gaussian()) as f32).collect()
}

/// Pink (1/f) noise from white noise through Paul Kellet's economy filter.
pub fn pink_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let (mut b0, mut b1, mut b2) = (0.0f64, 0.0f64, 0.0f64);
    (0..n)
        .map(|_| {
            let w = rng.next_gaussian();
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            (0.05 * (b0 + b1 + b2 + w * 0.1848)) as f32
        })
        .collect()
}

pub fn mix(clean: &[f32], noise: &[f32], snr_db: f64) -> Vec<f32> {
    trnet_dsp::mix::mix_at_snr(clean, noise, snr_db, 7).expect("mixable").noisy
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64).sqrt()
}

/// Amplitude of the component at `freq` Hz (least-squares fit of a sine and cosine), over `x[from..to]`.
pub fn tone_amplitude(x: &[f32], freq: f64, from: usize, to: usize) -> f64 {
    let (mut c, mut s) = (0.0f64, 0.0f64);
    for (i, &v) in x.iter().enumerate().take(to).skip(from) {
        let w = 2.0 * PI * freq * i as f64 / SR;
        c += v as f64 * w.cos();
        s += v as f64 * w.sin();
    }
    2.0 * (c * c + s * s).sqrt() / (to - from) as f64
}

pub fn tone(n: usize, freq: f64, amplitude: f64) -> Vec<f32> {
    (0..n).map(|i| (amplitude * (2.0 * PI * freq * i as f64 / SR).sin()) as f32).collect()
}
