//! `TRNET_ORT_PROFILE`: a session records ONNX Runtime's per-node timings and writes them when the model drops.
//! Its own test binary, because the variable is read by every session the process creates.

use std::path::PathBuf;
use trnet_enhance::onnx::{Feed, OnnxModel, SessionOptions};

fn shared() -> PathBuf {
    std::env::var_os("TRNET_SHARED").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

#[test]
fn a_profiled_session_writes_one_timing_event_per_node_run() {
    let dir = std::env::temp_dir().join(format!("trnet-ort-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // SAFETY: the only test in this binary; no other thread reads the environment while it is set.
    unsafe { std::env::set_var("TRNET_ORT_PROFILE", dir.join("se")) };
    let mut model = OnnxModel::load(shared().join("models/gtcrn/gtcrn_simple.onnx"), SessionOptions::default()).expect("GTCRN loads");
    let inputs = model.inputs.clone();
    let data: Vec<Vec<f32>> = inputs.iter().map(|s| vec![0.01; s.shape.iter().product::<i64>() as usize]).collect();
    let feeds: Vec<Feed> = inputs.iter().zip(&data).map(|(s, d)| Feed { name: &s.name, shape: &s.shape, data: d }).collect();
    for _ in 0..3 {
        model.run(&feeds).unwrap();
    }
    drop(feeds);
    drop(model);
    unsafe { std::env::remove_var("TRNET_ORT_PROFILE") };
    let written: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(written.len(), 1, "one profile file: {written:?}");
    let text = std::fs::read_to_string(&written[0]).unwrap();
    let trace: serde_json::Value = serde_json::from_str(&text).expect("the profile is JSON");
    let events = trace.as_array().expect("a Chrome trace is an array of events");
    let runs = events.iter().filter(|e| e["name"] == "model_run").count();
    let gru_nodes = events.iter().filter(|e| e["cat"] == "Node" && e["args"]["op_name"] == "FastGRU").count();
    assert_eq!(runs, 3, "one model_run event per run");
    assert!(gru_nodes >= 3, "the rerouted GRU nodes appear under their operator's name ({gru_nodes} events)");
    std::fs::remove_dir_all(&dir).unwrap();
}
