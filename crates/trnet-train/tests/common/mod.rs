//! Helpers shared by the integration tests: a tiny synthetic dataset whose classes are separable, tiny
//! configs, temporary folders, and a frozen Baseline-c reference trained once per test binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use trnet_dsp::rng::SplitMix64;
use trnet_model::{ModelConfig, Variant};
use trnet_train::{Dataset, Item, TrainConfig, TrainHooks};

pub const FRAMES: usize = 24;
pub const BINS: usize = 16;
pub const CLASSES: usize = 3;

/// A folder under cargo's per-target temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("trnet-train-{}-{}-{name}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `per_class` utterances per class, each as a clean item and a noisy item (X = Xs + strong noise, Xe = Xs +
/// weak noise). Class k lights up its own band of bins; lengths vary so masks matter.
pub fn synthetic(per_class: usize, seed: u64) -> Dataset {
    synthetic_sized(per_class, seed, FRAMES, BINS)
}

/// `synthetic` with other spectrogram sizes.
pub fn synthetic_sized(per_class: usize, seed: u64, frames: usize, bins: usize) -> Dataset {
    let mut rng = SplitMix64::new(seed);
    let mut ds = Dataset::new(frames, bins).unwrap();
    let band = bins / CLASSES;
    for u in 0..per_class {
        for k in 0..CLASSES {
            let valid = frames - frames / 8 * (u % 3);
            let mut noise = |scale: f64| -> Vec<f32> { (0..frames * bins).map(|_| (rng.next_gaussian() * scale) as f32).collect() };
            let base = noise(0.3);
            let mut xs = vec![0.0f32; frames * bins];
            for t in 0..valid {
                for f in 0..bins {
                    let on = f / band == k;
                    xs[t * bins + f] = base[t * bins + f] + if on { 2.0 } else { 0.0 };
                }
            }
            let add = |a: &[f32], b: Vec<f32>| -> Arc<[f32]> {
                a.iter().zip(b).enumerate().map(|(i, (x, n))| if i / bins < valid { x + n } else { 0.0 }).collect::<Vec<_>>().into()
            };
            let xs: Arc<[f32]> = xs.into();
            let xe_clean = add(&xs, noise(0.1));
            let x_noisy = add(&xs, noise(0.8));
            let xe_noisy = add(&xs, noise(0.3));
            let speaker = format!("s{}", u % 4);
            ds.push(Item::clean(xs.clone(), k).enhanced(xe_clean).valid_frames(valid).speaker(&speaker).id(format!("u{u}c{k}"))).unwrap();
            ds.push(
                Item::noisy(x_noisy, Some(xs.into()), k, Some(5.0), Some("gauss".into()))
                    .enhanced(xe_noisy)
                    .valid_frames(valid)
                    .speaker(&speaker)
                    .id(format!("u{u}c{k}n")),
            )
            .unwrap();
        }
    }
    ds
}

pub fn tiny_model(variant: Variant) -> ModelConfig {
    ModelConfig { variant, n_mels: BINS, channels: vec![4, 8], num_classes: CLASSES, ..Default::default() }
}

pub fn tiny_train(epochs: usize) -> TrainConfig {
    TrainConfig { epochs, batch_size: 8, learning_rate: 1e-2, device: "cpu".into(), seed: 1, ..Default::default() }
}

pub fn train_set() -> &'static Dataset {
    static DS: OnceLock<Dataset> = OnceLock::new();
    DS.get_or_init(|| synthetic(8, 11))
}

pub fn val_set() -> &'static Dataset {
    static DS: OnceLock<Dataset> = OnceLock::new();
    DS.get_or_init(|| synthetic(3, 12))
}

/// A Baseline-c trained for two epochs on the synthetic clean items; its best/ folder is the frozen
/// reference of the TRNet tests. Trained once per test binary.
pub fn reference() -> &'static Path {
    static DIR: OnceLock<TempDirStatic> = OnceLock::new();
    &DIR.get_or_init(|| {
        remove_stale_references();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("trnet-train-{}-reference", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        trnet_train::train(&tiny_train(2), &tiny_model(Variant::BaselineClean), train_set(), val_set(), None, &dir, &TrainHooks::NONE).unwrap();
        TempDirStatic(dir.join("best"))
    })
    .0
}

/// Reference folders of earlier test processes that have ended (statics are never dropped, so each run
/// leaves its reference behind).
fn remove_stale_references() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix("trnet-train-").and_then(|r| r.strip_suffix("-reference"));
        if let Some(pid) = pid
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Statics are not dropped, so the reference folder stays in cargo's target temp dir (small, one per run).
pub struct TempDirStatic(pub PathBuf);

/// The bits of a file, for bit-identity checks.
pub fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// History without wall times, as bits.
pub fn history_bits(report: &trnet_train::TrainReport) -> Vec<Vec<u64>> {
    report
        .history
        .iter()
        .map(|r| {
            let mut v = vec![
                r.epoch as u64,
                r.train.ce.to_bits(),
                r.train.total.to_bits(),
                r.val.uar.to_bits(),
                r.val.war.to_bits(),
                r.val.ce.to_bits(),
                r.lr.to_bits(),
                r.improved as u64,
            ];
            v.extend(r.train.low.map(f64::to_bits));
            v.extend(r.train.high.map(f64::to_bits));
            v
        })
        .collect()
}

// Real data: RAVDESS utterances and ESC-50 noise from the shared folder (env TRNET_SHARED, default
// <repo>/../shared); the tests that use them fail with a message saying so when it is missing.

pub fn shared() -> PathBuf {
    let dir = std::env::var_os("TRNET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../../shared"));
    assert!(
        dir.join("data/ravdess").is_dir() && dir.join("data/esc50/audio").is_dir(),
        "shared data not found at {} (expected data/ravdess and data/esc50/audio): set TRNET_SHARED to the shared folder",
        dir.display()
    );
    dir
}

/// Emotion code (3rd field of the stem) → class index of the four used here.
pub fn class_of(code: &str) -> Option<usize> {
    match code {
        "01" => Some(0), // neutral
        "03" => Some(1), // happy
        "04" => Some(2), // sad
        "05" => Some(3), // angry
        _ => None,
    }
}

pub fn utterances(actors: &[u32]) -> Vec<trnet_train::features::Utterance> {
    let root = shared().join("data/ravdess");
    let mut out = Vec::new();
    for a in actors {
        let dir = root.join(format!("Actor_{a:02}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).collect();
        files.sort();
        for path in files {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let fields: Vec<&str> = stem.split('-').collect();
            if let Some(label) = class_of(fields[2]) {
                out.push(trnet_train::features::Utterance { path: path.clone(), label, speaker: fields[6].to_string(), id: stem.clone() });
            }
        }
    }
    out
}

pub fn noise_files(range: std::ops::Range<usize>) -> Vec<PathBuf> {
    let dir = shared().join("data/esc50/audio");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "flac")).collect();
    files.sort();
    // Every 20th clip, so the noises span many classes.
    files.into_iter().step_by(20).skip(range.start).take(range.len()).collect()
}

/// Resident set size of this process in KiB (Linux), for the memory tests.
pub fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS value in kB")
}
