//! Model cards: JSON contracts for waveform and spectrum models, checked against the model they name.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use trnet_enhance::onnx::SessionOptions;
use trnet_enhance::{Enhancer, EnhancerSpec, build, card, cmgan};

fn load(card: &Path) -> trnet_enhance::Result<Box<dyn Enhancer>> {
    card::load(card, SessionOptions::default())
}

/// Writes a card into a fresh temporary folder; `model` in the JSON is given as an absolute fixture path.
fn temp_card(tag: &str, json: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trnet-card-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.card.json"));
    std::fs::write(&path, json.replace("FIXTURES", &fixture("").display().to_string())).unwrap();
    path
}

#[test]
fn waveform_card_runs_its_model() {
    let mut e = load(&fixture("waveform_gain.card.json")).unwrap();
    assert_eq!(e.name(), "waveform-gain");
    let x = signal();
    let out = e.enhance(&x).unwrap();
    let want: Vec<f32> = x.iter().map(|v| v * 0.5).collect();
    assert_eq!(max_abs_diff(&want, &out), 0.0);
    assert!(e.enhance(&[]).unwrap().is_empty());
    assert!(e.fingerprint().starts_with("waveform-gain;waveform-v1;sha256="), "{}", e.fingerprint());
}

fn signal() -> Vec<f32> {
    mix(&speech_like(9_999, 31), &white_noise(9_999, 32), 10.0)
}

#[test]
fn spectrum_card_follows_its_layout() {
    // Layout BFTC = [1, 257, T, 2]; the model zeroes bins from 64 (2 kHz at n_fft 512) up.
    let mut e = load(&fixture("spectrum_lowpass.card.json")).unwrap();
    assert_eq!(e.name(), "spectrum_lowpass");
    let n = 16_000;
    let x: Vec<f32> = tone(n, 500.0, 0.3).iter().zip(tone(n, 5000.0, 0.3)).map(|(a, b)| a + b).collect();
    let out = e.enhance(&x).unwrap();
    assert_eq!(out.len(), n);
    let (low, high) = (tone_amplitude(&out, 500.0, 1000, n - 1000), tone_amplitude(&out, 5000.0, 1000, n - 1000));
    assert!((low - 0.3).abs() < 0.01, "500 Hz amplitude {low}");
    assert!(high < 1e-3, "5 kHz amplitude {high}");
}

#[test]
fn cmgan_contract_as_a_card_matches_the_builtin_cmgan() {
    let mut from_card = load(&fixture("cmgan_gain.card.json")).unwrap();
    let mut builtin = cmgan::load(fixture("cmgan_gain.onnx"), SessionOptions::default()).unwrap();
    let x = signal();
    assert_eq!(from_card.enhance(&x).unwrap(), builtin.enhance(&x).unwrap());
}

#[test]
fn a_card_that_does_not_match_its_model_lists_expected_and_found() {
    // Wrong input name.
    let path = temp_card(
        "wrong-name",
        r#"{"model": "FIXTURES/waveform_gain.onnx", "kind": "waveform", "sample_rate": 16000, "inputs": {"audio": "wave"}, "outputs": {"audio": "enhanced"}}"#,
    );
    let err = load(&path).err().unwrap();
    assert_eq!(err.code(), "TRNET_MODEL_CONTRACT");
    let text = err.to_string();
    assert!(text.contains("expected inputs [wave float32[1, -1]]") && text.contains("found inputs [audio float32[1, -1]]"), "{text}");
    assert!(text.contains("no input named \"wave\"") && text.contains(&path.display().to_string()), "{text}");

    // Right names, wrong kind of tensor: a spectrum model behind a waveform card.
    let path = temp_card(
        "wrong-shape",
        r#"{"model": "FIXTURES/spectrum_lowpass.onnx", "kind": "waveform", "sample_rate": 16000, "inputs": {"audio": "spec"}, "outputs": {"audio": "enh"}}"#,
    );
    let text = load(&path).err().unwrap().to_string();
    assert!(
        text.contains("spec float32[1, -1]") && text.contains("spec float32[1, 257, -1, 2]") && text.contains("must be float32 with shape [1, -1]"),
        "{text}"
    );

    // The right model in the wrong layout.
    let path = temp_card(
        "wrong-layout",
        r#"{"model": "FIXTURES/spectrum_lowpass.onnx", "kind": "spectrum", "sample_rate": 16000, "layout": "BCTF",
            "stft": {"n_fft": 512, "hop_length": 256, "window": "sqrt_hann"}, "inputs": {"spectrum": "spec"}, "outputs": {"spectrum": "enh"}}"#,
    );
    let text = load(&path).err().unwrap().to_string();
    assert!(text.contains("spec float32[1, 2, -1, 257]") && text.contains("spec float32[1, 257, -1, 2]"), "{text}");

    // A fixed number of frames cannot follow the utterance's length.
    let path = temp_card(
        "fixed-t",
        r#"{"model": "FIXTURES/spectrum_fixed_t.onnx", "kind": "spectrum", "sample_rate": 16000, "layout": "BFTC",
            "stft": {"n_fft": 512, "hop_length": 256, "window": "sqrt_hann"}, "inputs": {"spectrum": "spec"}, "outputs": {"spectrum": "enh"}}"#,
    );
    let text = load(&path).err().unwrap().to_string();
    assert!(text.contains("fixed size 10 on axis 2"), "{text}");
}

#[test]
fn card_file_problems_are_card_errors() {
    let err = load(Path::new("/nonexistent/x.card.json")).err().unwrap();
    assert_eq!(err.code(), "TRNET_CARD_INVALID");
    let path = temp_card("not-json", "{ this is not json");
    assert_eq!(load(&path).err().unwrap().code(), "TRNET_CARD_INVALID");
    // A card naming a model file that is not there fails as a model load, naming the resolved path.
    let path =
        temp_card("no-model", r#"{"model": "missing.onnx", "kind": "waveform", "sample_rate": 16000, "inputs": {"audio": "a"}, "outputs": {"audio": "b"}}"#);
    let err = load(&path).err().unwrap();
    assert_eq!(err.code(), "TRNET_MODEL_LOAD");
    assert!(err.to_string().contains(&path.parent().unwrap().join("missing.onnx").display().to_string()), "{err}");
}

#[test]
fn the_factory_builds_every_kind() {
    let options = SessionOptions::default();
    let specs = [
        (EnhancerSpec::Classical, "classical-mmse-lsa"),
        (EnhancerSpec::Gtcrn { model: gtcrn_path() }, "gtcrn"),
        (EnhancerSpec::Cmgan { model: fixture("cmgan_identity.onnx") }, "cmgan"),
        (EnhancerSpec::Card { card: fixture("waveform_gain.card.json") }, "waveform-gain"),
    ];
    let x = signal();
    for (spec, name) in specs {
        let mut e = build(&spec, options).unwrap_or_else(|err| panic!("{spec:?}: {err}"));
        assert_eq!(e.name(), name);
        assert_eq!(e.sample_rate(), 16_000);
        assert_eq!(e.enhance(&x).unwrap().len(), x.len());
    }
    let err = build(&EnhancerSpec::Gtcrn { model: "/nonexistent/gtcrn.onnx".into() }, options).err().unwrap();
    assert_eq!(err.code(), "TRNET_MODEL_LOAD");
}

/// `waveform_even` reshapes its input to pairs of samples, so ONNX Runtime rejects odd lengths while running:
/// a real per-input failure. Through the pool (with a cache) a failed input is an error of its own every
/// time, never an entry in the cache, and the other inputs are enhanced.
#[test]
fn a_model_that_rejects_a_length_fails_that_input_only_and_caches_nothing_for_it() {
    let mut e = load(&fixture("waveform_even.card.json")).unwrap();
    let x = signal();
    assert_eq!(e.enhance(&x[..9_998]).unwrap(), x[..9_998].to_vec());
    let err = e.enhance(&x).unwrap_err();
    assert_eq!(err.code(), "TRNET_ORT", "{err}");

    let dir = std::env::temp_dir().join(format!("trnet-card-pool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = trnet_enhance::cache::EnhanceCache::open(&dir).unwrap();
    let pool =
        trnet_enhance::EnhancerPool::new(EnhancerSpec::Card { card: fixture("waveform_even.card.json") }, SessionOptions::default(), Some(cache)).unwrap();
    let inputs: Vec<&[f32]> = vec![&x[..4_000], &x[..4_001], &x[..6_000]];
    for round in 0..2 {
        let out = pool.enhance_batch(&inputs, &trnet_dsp::batch::BatchControl::NONE);
        let out: Vec<_> = out.into_iter().map(Option::unwrap).collect();
        assert_eq!(out[1].as_ref().unwrap_err().code(), "TRNET_ORT", "round {round}");
        for i in [0, 2] {
            let e = out[i].as_ref().unwrap();
            assert_eq!((e.samples.len(), e.cached), (inputs[i].len(), round == 1), "round {round}, input {i}");
        }
    }
    let entries = walk(&dir);
    assert_eq!(entries, 2, "only the two enhanced inputs are cached");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).map(|p| if p.is_dir() { walk(&p) } else { 1 }).sum()
}
