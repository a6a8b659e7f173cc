//! Runs the real GTCRN streaming export from the shared folder (TRNET_SHARED, default ../shared).

use std::path::PathBuf;
use trnet_enhance::onnx::{Feed, OnnxModel, SessionOptions};

fn shared() -> PathBuf {
    std::env::var_os("TRNET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../../../shared"))
}

fn gtcrn() -> OnnxModel {
    let path = shared().join("models/gtcrn/gtcrn_simple.onnx");
    assert!(path.is_file(), "missing {}: set TRNET_SHARED to the shared folder", path.display());
    OnnxModel::load(path, SessionOptions::default()).expect("GTCRN loads")
}

/// GTCRN's recurrent and convolution state, fed back from step to step (models/gtcrn/README.md).
const CACHES: [(&str, &[i64]); 3] = [("conv_cache", &[2, 1, 16, 16, 33]), ("tra_cache", &[2, 3, 1, 1, 16]), ("inter_cache", &[2, 1, 33, 16])];

#[test]
fn gtcrn_declares_its_streaming_interface() {
    let model = gtcrn();
    let names: Vec<_> = model.inputs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["mix", "conv_cache", "tra_cache", "inter_cache"]);
    assert_eq!(model.inputs[0].shape, [1, 257, 1, 2]);
    let outs: Vec<_> = model.outputs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(outs, ["enh", "conv_cache_out", "tra_cache_out", "inter_cache_out"]);
}

#[test]
fn two_steps_feed_the_caches_back_and_keep_shapes() {
    let mut model = gtcrn();
    // A deterministic, speech-like frame: energy falling with frequency.
    let mix: Vec<f32> = (0..257 * 2).map(|i| ((i as f32) * 0.37).sin() / (1.0 + (i / 2) as f32 * 0.05)).collect();
    let mut caches: Vec<Vec<f32>> = CACHES.iter().map(|(_, s)| vec![0.0; s.iter().product::<i64>() as usize]).collect();
    let mut enh_steps = Vec::new();
    for _ in 0..2 {
        let mut feeds = vec![Feed { name: "mix", shape: &[1, 257, 1, 2], data: &mix }];
        for ((name, shape), data) in CACHES.iter().zip(&caches) {
            feeds.push(Feed { name, shape, data });
        }
        let out = model.run(&feeds).unwrap();
        assert_eq!(out[0].shape, [1, 257, 1, 2]);
        for (i, (_, shape)) in CACHES.iter().enumerate() {
            assert_eq!(&out[i + 1].shape[..], *shape, "{}", out[i + 1].name);
        }
        assert!(out.iter().all(|o| o.data.iter().all(|v| v.is_finite())));
        enh_steps.push(out[0].data.clone());
        caches = out[1..].iter().map(|o| o.data.clone()).collect();
    }
    // The caches carry state: the same frame enhanced a second time comes out different.
    assert_ne!(enh_steps[0], enh_steps[1]);
    assert!(caches[0].iter().any(|&v| v != 0.0), "conv cache stayed zero");
}

#[test]
fn wrong_inputs_name_what_was_expected_and_found() {
    let mut model = gtcrn();
    let zeros = vec![0.0f32; 514];
    let err = model.run(&[Feed { name: "noisy", shape: &[1, 257, 1, 2], data: &zeros }]).unwrap_err();
    assert_eq!(err.code(), "TRNET_MODEL_INPUT");
    let text = err.to_string();
    assert!(text.contains("mix float32[1, 257, 1, 2]") && text.contains("noisy float32[1, 257, 1, 2]") && text.contains("no input named"), "{text}");

    let err = model.run(&[Feed { name: "mix", shape: &[1, 257, 2, 2], data: &zeros }]).unwrap_err();
    assert!(err.to_string().contains("must have shape"), "{err}");
    let err = model.run(&[Feed { name: "mix", shape: &[1, 257, 1, 2], data: &zeros[..10] }]).unwrap_err();
    assert!(err.to_string().contains("10 were given"), "{err}");
    let err = model.run(&[Feed { name: "mix", shape: &[1, 257, 1, 2], data: &zeros }]).unwrap_err();
    assert!(err.to_string().contains("\"conv_cache\" is missing"), "{err}");
}

#[test]
fn a_missing_or_bogus_model_file_is_a_load_error() {
    let err = OnnxModel::load("/nonexistent/model.onnx", SessionOptions::default()).err().unwrap();
    assert_eq!(err.code(), "TRNET_MODEL_LOAD");
    assert!(err.to_string().contains("/nonexistent/model.onnx"), "{err}");
    let bogus = std::env::temp_dir().join(format!("trnet-bogus-{}.onnx", std::process::id()));
    std::fs::write(&bogus, b"this is not protobuf").unwrap();
    let err = OnnxModel::load(&bogus, SessionOptions::default()).err().unwrap();
    std::fs::remove_file(&bogus).ok();
    assert_eq!(err.code(), "TRNET_MODEL_LOAD");
}
