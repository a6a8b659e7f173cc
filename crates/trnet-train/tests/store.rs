//! Feature stores on real speech: RAVDESS actor 1 (28 utterances, four emotions), ESC-50 noise, 200-frame
//! features, a counting stand-in enhancer. Builds a store, reuses it, misses on changed inputs, survives
//! damage, concurrent builders and a cancelled build, and trains bit for bit like the in-memory dataset.

mod common;

use common::{TempDir, noise_files, utterances};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use trnet_dsp::batch::BatchControl;
use trnet_model::{ModelConfig, Variant};
use trnet_train::features::{
    AudioDatasetSpec, NoisyCopies, StoreOptions, StoredDataset, Utterance, dataset_from_audio, load_noises, stored_dataset_from_audio,
};
use trnet_train::{Dataset, TrainConfig, TrainHooks, TrainReport, store, train};

/// Counts its calls, so a test can tell whether features were computed.
static ENHANCED: AtomicUsize = AtomicUsize::new(0);

fn halve(x: &[f32]) -> trnet_enhance::Result<Vec<f32>> {
    ENHANCED.fetch_add(1, Ordering::SeqCst);
    Ok(x.iter().map(|v| v * 0.5).collect())
}

/// `halve` without the count, for the tests that do not count.
fn quiet_halve(x: &[f32]) -> trnet_enhance::Result<Vec<f32>> {
    Ok(x.iter().map(|v| v * 0.5).collect())
}

fn spec(seed: u64) -> AudioDatasetSpec {
    AudioDatasetSpec { frames: 200, seed, noisy: NoisyCopies::OnePerUtterance, ..Default::default() }
}

fn build(utts: &[Utterance], noises: &[PathBuf], spec: &AudioDatasetSpec, root: &std::path::Path) -> StoredDataset {
    stored_dataset_from_audio(utts, noises, spec, &halve, &StoreOptions { root, enhancer: "halve/v1" }, &BatchControl::NONE).unwrap()
}

fn build_quietly(utts: &[Utterance], noises: &[PathBuf], spec: &AudioDatasetSpec, root: &std::path::Path) -> StoredDataset {
    stored_dataset_from_audio(utts, noises, spec, &quiet_halve, &StoreOptions { root, enhancer: "halve/v1" }, &BatchControl::NONE).unwrap()
}

fn stores_in(root: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

// One test: the enhancer counter is process-wide, so parallel tests would disturb each other's counts.
#[test]
fn stores_are_reused_rebuilt_when_damaged_and_never_left_half_written() {
    let root = TempDir::new("store");
    let utts = utterances(&[1]);
    let noises = noise_files(0..4);
    let memory = dataset_from_audio(&utts, &load_noises(&noises).unwrap(), &spec(5), &halve, &BatchControl::NONE).unwrap();

    // Build: the same items and values as in memory.
    let before = ENHANCED.load(Ordering::SeqCst);
    let t = Instant::now();
    let first = build(&utts, &noises, &spec(5), root.path());
    let build_s = t.elapsed().as_secs_f64();
    assert!(!first.cached && first.dataset.is_stored());
    assert_eq!(ENHANCED.load(Ordering::SeqCst) - before, 2 * 28);
    assert_eq!(first.dataset.len(), 56);
    assert_eq!(first.dataset.fingerprint().unwrap(), memory.fingerprint().unwrap());
    assert!(first.dataset.item(1).xs.as_ref().unwrap().same_as(&first.dataset.item(0).x));

    // Again: a hit, nothing computed, much faster.
    let t = Instant::now();
    let again = build(&utts, &noises, &spec(5), root.path());
    let hit_s = t.elapsed().as_secs_f64();
    assert!(again.cached);
    assert_eq!(again.dir, first.dir);
    assert_eq!(ENHANCED.load(Ordering::SeqCst) - before, 2 * 28);
    assert_eq!(again.dataset.fingerprint().unwrap(), memory.fingerprint().unwrap());
    eprintln!("store of 56 items: build {build_s:.2} s, hit {hit_s:.3} s");
    assert!(hit_s * 5.0 < build_s, "a hit took {hit_s} s, the build {build_s} s");

    // A changed input misses: seed, noise list, or one utterance's label.
    let other_seed = build(&utts, &noises, &spec(6), root.path());
    assert!(!other_seed.cached && other_seed.dir != first.dir);
    assert!(!build(&utts, &noises[..3], &spec(5), root.path()).cached);
    let mut relabelled = utts.clone();
    relabelled[0].label = (relabelled[0].label + 1) % 4;
    assert!(!build(&relabelled, &noises, &spec(5), root.path()).cached);
    assert_eq!(stores_in(root.path()).len(), 4);

    // Damaged (truncated data file): opening says so with a code; building again replaces it.
    let data = first.dir.join(store::DATA_FILE);
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(len - 1000).unwrap();
    let err = store::open(&first.dir).unwrap_err();
    assert_eq!(err.code(), "TRNET_STORE_CORRUPT");
    assert!(err.to_string().contains("truncated"), "{err}");
    let rebuilt = build(&utts, &noises, &spec(5), root.path());
    assert!(!rebuilt.cached);
    assert_eq!(rebuilt.dataset.fingerprint().unwrap(), memory.fingerprint().unwrap());
    assert_eq!(stores_in(root.path()).len(), 4, "{:?}", stores_in(root.path()));

    // Cancelled halfway: an error, no store at the final name, no temporary folder left.
    let done = AtomicUsize::new(0);
    let on_done = |_: usize, _: usize| {
        done.fetch_add(1, Ordering::SeqCst);
    };
    let cancelled = || done.load(Ordering::SeqCst) >= 10;
    let err = stored_dataset_from_audio(
        &utts,
        &noises,
        &spec(9),
        &halve,
        &StoreOptions { root: root.path(), enhancer: "halve/v1" },
        &BatchControl { on_done: &on_done, cancelled: &cancelled },
    )
    .unwrap_err();
    assert_eq!(err.code(), "ABORT_ERR");
    assert_eq!(stores_in(root.path()).len(), 4, "{:?}", stores_in(root.path()));
    assert!(!build(&utts, &noises, &spec(9), root.path()).cached);

    // Two builders of one store at once: both succeed with the same data, one store remains.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| build(&utts, &noises, &spec(10), root.path()));
        let b = s.spawn(|| build(&utts, &noises, &spec(10), root.path()));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.dir, b.dir);
    assert_eq!(a.dataset.fingerprint().unwrap(), b.dataset.fingerprint().unwrap());
    assert_eq!(stores_in(root.path()).len(), 6, "{:?}", stores_in(root.path()));
    assert_eq!(store::open(&a.dir).unwrap().fingerprint().unwrap(), a.dataset.fingerprint().unwrap());
}

fn weights(report: &TrainReport) -> Vec<u8> {
    std::fs::read(report.best_dir.join(trnet_model::checkpoint::WEIGHTS_FILE)).unwrap()
}

#[test]
fn training_from_a_store_is_bit_identical_to_training_in_memory() {
    let root = TempDir::new("store-train");
    let noises = noise_files(4..8);
    let (train_utts, val_utts) = (utterances(&[2]), utterances(&[3]));
    let memory = |utts: &[Utterance], seed| dataset_from_audio(utts, &load_noises(&noises).unwrap(), &spec(seed), &quiet_halve, &BatchControl::NONE).unwrap();
    let (train_mem, val_mem) = (memory(&train_utts, 1), memory(&val_utts, 2));
    let (train_disk, val_disk) =
        (build_quietly(&train_utts, &noises, &spec(1), root.path()).dataset, build_quietly(&val_utts, &noises, &spec(2), root.path()).dataset);
    let model = |variant| ModelConfig { variant, channels: vec![4, 8], num_classes: 4, ..ModelConfig::paper(variant) };
    let run = |variant, train_set: &Dataset, val_set: &Dataset, prefetch, reference: Option<&std::path::Path>, name: &str| {
        let config = TrainConfig { epochs: 2, batch_size: 16, device: "cpu".into(), seed: 3, prefetch, ..Default::default() };
        train(&config, &model(variant), train_set, val_set, reference, &root.join(name), &TrainHooks::NONE).unwrap()
    };
    let reference = run(Variant::BaselineClean, &train_mem, &val_mem, 2, None, "ref");
    let in_memory = run(Variant::Trnet, &train_mem, &val_mem, 2, Some(&reference.best_dir), "mem");
    for (prefetch, name) in [(0, "disk0"), (3, "disk3")] {
        let on_disk = run(Variant::Trnet, &train_disk, &val_disk, prefetch, Some(&reference.best_dir), name);
        assert_eq!(
            serde_json::to_string(&on_disk.history.iter().map(|h| (&h.train, &h.val)).collect::<Vec<_>>()).unwrap(),
            serde_json::to_string(&in_memory.history.iter().map(|h| (&h.train, &h.val)).collect::<Vec<_>>()).unwrap()
        );
        assert_eq!(weights(&on_disk), weights(&in_memory), "prefetch {prefetch}");
    }
    // residentFeatures: the store's training items loaded onto the device once and each batch gathered there by
    // index; the same plan, so the same bits.
    let config = TrainConfig { epochs: 2, batch_size: 16, device: "cpu".into(), seed: 3, resident_features: true, ..Default::default() };
    let resident =
        train(&config, &model(Variant::Trnet), &train_disk, &val_disk, Some(&reference.best_dir), &root.join("resident"), &TrainHooks::NONE).unwrap();
    assert_eq!(
        serde_json::to_string(&resident.history.iter().map(|h| (&h.train, &h.val)).collect::<Vec<_>>()).unwrap(),
        serde_json::to_string(&in_memory.history.iter().map(|h| (&h.train, &h.val)).collect::<Vec<_>>()).unwrap()
    );
    assert_eq!(weights(&resident), weights(&in_memory), "resident features");
}

/// An enhancer that fails on one utterance (told apart by its length, which its noisy copies share) must fail
/// the whole build with a report naming that file, publish no store, and fail again on the next call: a
/// failure must never become a cached store of features from unenhanced audio.
#[test]
fn an_enhancer_failure_on_one_utterance_fails_the_build_and_publishes_no_store() {
    let root = TempDir::new("store-enhance-fails");
    let utts = utterances(&[4])[..6].to_vec();
    let noises = noise_files(0..2);
    let bad = &utts[3];
    let bad_len = trnet_dsp::audio::load_file(&bad.path, trnet_dsp::SAMPLE_RATE).unwrap().len();
    let same_length = utts.iter().filter(|u| trnet_dsp::audio::load_file(&u.path, trnet_dsp::SAMPLE_RATE).unwrap().len() == bad_len).count();
    assert_eq!(same_length, 1, "the failing length must single out one utterance");
    let calls = AtomicUsize::new(0);
    let picky = |x: &[f32]| -> trnet_enhance::Result<Vec<f32>> {
        calls.fetch_add(1, Ordering::SeqCst);
        if x.len() == bad_len {
            return Err(trnet_enhance::Error::invalid("input length", "another length", x.len(), "Injected by the test."));
        }
        quiet_halve(x)
    };
    // 1000 frames (10 s) keep every sample of these utterances (builds cut audio to what the frames use), so
    // the enhancer sees each utterance at its own length.
    let spec = AudioDatasetSpec { noisy: NoisyCopies::OnePerSnr, snrs_db: vec![10.0, 0.0], frames: 1000, ..spec(7) };
    let options = StoreOptions { root: root.path(), enhancer: "picky/v1" };
    for attempt in 0..2 {
        let before = calls.load(Ordering::SeqCst);
        let err = stored_dataset_from_audio(&utts, &noises, &spec, &picky, &options, &BatchControl::NONE).unwrap_err();
        assert_eq!(err.code(), "TRNET_ENHANCE_FAILED", "attempt {attempt}: {err}");
        let message = err.to_string();
        assert!(message.contains(&bad.path.display().to_string()), "{message}");
        assert!(message.contains("3 item(s) of 1 of 6 utterance(s)"), "{message}");
        assert!(message.contains("[TRNET_INVALID_ARGUMENT]") && message.contains("Injected by the test"), "{message}");
        // The clean item and both noisy copies are named.
        assert!(message.contains(&format!("(item {})", bad.id)) && message.contains(":10dB") && message.contains(":0dB"), "{message}");
        for other in utts.iter().filter(|u| u.path != bad.path) {
            assert!(!message.contains(&other.path.display().to_string()), "{message}");
        }
        match &err {
            trnet_train::Error::EnhanceFailed { utterances, failures } => {
                assert_eq!(*utterances, 6);
                assert!(failures.iter().all(|f| f.path == bad.path && f.error.code() == "TRNET_INVALID_ARGUMENT"));
                assert_eq!(failures.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        // Nothing published, nothing left behind, and every item was enhanced again (no cache hit).
        assert_eq!(stores_in(root.path()), Vec::<String>::new(), "attempt {attempt}");
        assert_eq!(calls.load(Ordering::SeqCst) - before, 6 * 3, "attempt {attempt}");
    }

    // In memory: the same error, and no dataset.
    let err = dataset_from_audio(&utts, &load_noises(&noises).unwrap(), &spec, &picky, &BatchControl::NONE).unwrap_err();
    assert_eq!(err.code(), "TRNET_ENHANCE_FAILED");

    // Without the failing utterance the same options build and publish a store.
    let good: Vec<Utterance> = utts.iter().filter(|u| u.path != bad.path).cloned().collect();
    let built = stored_dataset_from_audio(&good, &noises, &spec, &picky, &options, &BatchControl::NONE).unwrap();
    assert!(!built.cached && built.dataset.len() == 5 * 3);
    assert_eq!(stores_in(root.path()).len(), 1);
}
