//! Feature-store keys hash the serialised option values (JSON), not their `{:?}` text: the key document
//! holds the options as JSON values, exact to the bit for floats, and every option changes the key.

mod common;

use common::TempDir;
use serde_json::json;
use std::path::PathBuf;
use trnet_dsp::fbank::WindowType;
use trnet_dsp::frames::PadMode;
use trnet_train::features::{AudioDatasetSpec, NoisyCopies, PIPELINE_VERSION, Utterance, store_key};

/// An utterance and a noise file, written once (their times are part of the key).
fn inputs(dir: &TempDir) -> (Vec<Utterance>, Vec<PathBuf>) {
    // store_key only reads sizes and times, so any files serve.
    let speech = dir.join("a.wav");
    let noise = dir.join("n.wav");
    std::fs::write(&speech, b"speech").unwrap();
    std::fs::write(&noise, b"noise").unwrap();
    (vec![Utterance { path: speech, label: 1, speaker: "s1".into(), id: String::new() }], vec![noise])
}

fn key(spec: &AudioDatasetSpec, (utts, noises): &(Vec<Utterance>, Vec<PathBuf>)) -> (String, serde_json::Value) {
    store_key(utts, noises, spec, "enhancer/v1").unwrap()
}

#[test]
fn the_key_document_holds_the_options_as_json_values() {
    let dir = TempDir::new("store-key-doc");
    let (_, doc) = key(&AudioDatasetSpec::default(), &inputs(&dir));
    assert_eq!(doc["pipeline"], json!(PIPELINE_VERSION));
    const { assert!(PIPELINE_VERSION >= 2, "version 2 is the first with serialised options: older stores must miss") };
    assert_eq!(doc["pad"], json!("zero"));
    assert_eq!(doc["noisy"], json!("one-per-utterance"));
    assert_eq!(doc["fbank"]["numMelBins"], json!(80));
    assert_eq!(doc["fbank"]["windowType"], json!("povey"));
    assert_eq!(doc["fbank"]["frameLength"], json!(25.0));
    assert_eq!(doc["snrsDb"], json!([20.0, 15.0, 10.0, 5.0, 0.0]));
}

#[test]
fn every_option_changes_the_key_and_the_same_inputs_give_the_same_key() {
    let dir = TempDir::new("store-key-change");
    let files = inputs(&dir);
    let base = AudioDatasetSpec::default();
    let (k0, _) = key(&base, &files);
    assert_eq!(key(&base, &files).0, k0);
    let mut next_float = base.clone();
    // One ulp: the serialised form is the shortest that round-trips, so it keeps every bit.
    next_float.fbank.low_freq = f64::from_bits(base.fbank.low_freq.to_bits() + 1);
    let mut window = base.clone();
    window.fbank.window_type = WindowType::Hamming;
    let variants = [
        next_float,
        window,
        AudioDatasetSpec { pad: PadMode::Repeat, ..base.clone() },
        AudioDatasetSpec { noisy: NoisyCopies::OnePerSnr, ..base.clone() },
        AudioDatasetSpec { include_clean: false, ..base.clone() },
        AudioDatasetSpec { frames: 499, ..base.clone() },
        AudioDatasetSpec { seed: 1, ..base.clone() },
        AudioDatasetSpec { waveform_scale: 32768.0, ..base.clone() },
    ];
    let mut keys = vec![k0];
    for spec in &variants {
        let (k, _) = key(spec, &files);
        assert!(!keys.contains(&k), "{spec:?} gave a key seen before");
        keys.push(k);
    }
}
