//! trnet's FastGRU operator against ONNX Runtime's own GRU kernel: the same one-node models
//! (scripts/reference/gen_gru_fixtures.py) loaded twice, once as they are and once with the node rerouted, on
//! the shapes GTCRN runs; and the failures of the rerouting path (bytes that are not ONNX, a graph the operator
//! cannot take) as coded errors.

mod common;
use common::*;
use trnet_enhance::onnx::{Feed, OnnxModel, SessionOptions};

fn load(name: &str, fast_gru: bool) -> OnnxModel {
    OnnxModel::load(fixture(name), SessionOptions { fast_gru, ..SessionOptions::default() }).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Uniform values in ±scale from a seed.
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = trnet_dsp::rng::SplitMix64::new(seed);
    (0..n).map(|_| (rng.next_f64() as f32 * 2.0 - 1.0) * scale).collect()
}

/// Runs `name` on X [seq, batch, input] (and initial_h when the model takes it) both ways; returns the largest
/// difference over Y and Y_h.
fn compare(name: &str, seq: usize, batch: usize, input: usize, dirs: usize, hidden: usize) -> f32 {
    let mut standard = load(name, false);
    let mut fast = load(name, true);
    assert_eq!(standard.fast_grus, 0);
    assert_eq!(fast.fast_grus, 1, "{name}: the GRU node was not rerouted (is TRNET_FAST_GRU=0 set?)");
    // GTCRN's GRU inputs are normalised features of order 1; a wider range exercises saturation too.
    let x = values(seq * batch * input, 7, 3.0);
    let h0 = values(dirs * batch * hidden, 8, 0.9);
    let x_shape = [seq as i64, batch as i64, input as i64];
    let h_shape = [dirs as i64, batch as i64, hidden as i64];
    let mut feeds = vec![Feed { name: "X", shape: &x_shape, data: &x }];
    if standard.inputs.iter().any(|s| s.name == "initial_h") {
        feeds.push(Feed { name: "initial_h", shape: &h_shape, data: &h0 });
    }
    let timed = |m: &mut OnnxModel| {
        m.run(&feeds).unwrap();
        let start = std::time::Instant::now();
        let out = m.run(&feeds).unwrap();
        (out, start.elapsed().as_secs_f64() * 1e3)
    };
    let (want, t_standard) = timed(&mut standard);
    let (got, t_fast) = timed(&mut fast);
    let mut worst = 0.0f32;
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.name, g.name);
        assert_eq!(w.shape, g.shape, "{name} {}", w.name);
        assert!(g.data.iter().all(|v| v.is_finite()));
        worst = worst.max(max_abs_diff(&w.data, &g.data));
    }
    assert_eq!(want[0].shape, [seq as i64, dirs as i64, batch as i64, hidden as i64]);
    // W, R and B are initializers: laid out once when the session made the kernel, never per run.
    assert_eq!(trnet_enhance::gru_op::runs_that_packed_weights(), 0, "{name}: a FastGRU run packed its weights");
    eprintln!(
        "{name} seq {seq} batch {batch}: max |FastGRU - ORT GRU| {worst:.2e}; one run {t_standard:.3} ms ORT, {t_fast:.3} ms FastGRU (wall, machine load not controlled)"
    );
    worst
}

// Measured on AVX-512 hardware: every max |diff| ≤ 6e-7 (outputs are tanh-bounded, so this is float rounding).
const TOLERANCE: f32 = 1e-6;

#[test]
fn intra_frame_shape_bidirectional_matches_onnx_runtime() {
    let d = compare("gru_intra.onnx", 33, 313, 16, 2, 8);
    assert!(d < TOLERANCE, "{d:e}");
}

#[test]
fn inter_frame_shape_matches_onnx_runtime() {
    let d = compare("gru_inter.onnx", 313, 33, 16, 1, 16);
    assert!(d < TOLERANCE, "{d:e}");
}

#[test]
fn attention_shape_batch_one_without_initial_state_matches_onnx_runtime() {
    let d = compare("gru_tra.onnx", 313, 1, 8, 1, 16);
    assert!(d < TOLERANCE, "{d:e}");
}

#[test]
fn reverse_direction_without_bias_and_odd_sizes_match_onnx_runtime() {
    for (seq, batch) in [(1, 1), (17, 9), (50, 40)] {
        let d = compare("gru_reverse.onnx", seq, batch, 3, 1, 5);
        assert!(d < TOLERANCE, "seq {seq} batch {batch}: {d:e}");
    }
}

/// The folded models: input A in `a_shape`, outputs Z and Y_h; the rewriter must fold every Transpose (two;
/// three in gru_folded_merged).
fn compare_folded(name: &str, a_shape: [usize; 3], batch: usize, h0_len: Option<usize>) -> f32 {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let rerouted = trnet_enhance::onnx_rewrite::reroute_grus(&bytes, "ai.trnet", "FastGRU").unwrap();
    let transposes = if name == "gru_folded_merged.onnx" { 3 } else { 2 };
    assert_eq!((rerouted.rerouted, rerouted.folded_transposes), (1, transposes), "{name}");
    let mut standard = load(name, false);
    let mut fast = load(name, true);
    let a = values(a_shape.iter().product(), 9, 3.0);
    let shape = a_shape.map(|d| d as i64);
    let mut feeds = vec![Feed { name: "A", shape: &shape, data: &a }];
    let h0 = values(h0_len.unwrap_or(0), 10, 0.9);
    let h_shape = [1, batch as i64, 16];
    if h0_len.is_some() {
        feeds.push(Feed { name: "initial_h", shape: &h_shape, data: &h0 });
    }
    let want = standard.run(&feeds).unwrap();
    let got = fast.run(&feeds).unwrap();
    let mut worst = 0.0f32;
    for (w, g) in want.iter().zip(&got) {
        assert_eq!((&w.name, &w.shape), (&g.name, &g.shape), "{name}");
        worst = worst.max(max_abs_diff(&w.data, &g.data));
    }
    eprintln!("{name} {a_shape:?}: max |FastGRU - ORT GRU| {worst:.2e} with the Transposes folded");
    worst
}

#[test]
fn transposes_around_the_gru_are_folded_into_the_operator_with_the_same_results() {
    // GTCRN's: intra [frames, 33 bins, 16] (batch-first), inter [33 bins, frames, 16], attention [1, 8, frames].
    assert!(compare_folded("gru_folded_intra.onnx", [313, 33, 16], 313, None) < TOLERANCE);
    assert!(compare_folded("gru_folded_inter.onnx", [33, 313, 16], 33, Some(33 * 16)) < TOLERANCE);
    assert!(compare_folded("gru_folded_tra.onnx", [1, 8, 313], 1, None) < TOLERANCE);
    assert!(compare_folded("gru_folded_tra.onnx", [3, 8, 20], 3, None) < TOLERANCE);
    // GTCRN's intra-frame path on: directions merged by a Reshape, then batch-first again.
    assert!(compare_folded("gru_folded_merged.onnx", [313, 33, 16], 313, None) < TOLERANCE);
    assert!(compare_folded("gru_folded_merged.onnx", [2, 5, 16], 2, None) < TOLERANCE);
}

#[test]
fn a_graph_the_operator_cannot_take_is_a_fast_gru_error_and_loads_without_it() {
    // float64 GRU: rerouted (the rewriter sees no types), refused by the float32 operator.
    let err = OnnxModel::load(fixture("gru_double.onnx"), SessionOptions::default()).err().expect("the float64 GRU must not load with FastGRU");
    assert_eq!(err.code(), "TRNET_FAST_GRU", "{err}");
    let text = err.to_string();
    assert!(text.contains("gru_double.onnx") && text.contains("TRNET_FAST_GRU=0"), "{text}");
    assert_eq!(load("gru_double.onnx", false).fast_grus, 0);
}

#[test]
fn bytes_that_are_not_onnx_are_a_load_error_naming_both_readers() {
    let source = gtcrn_offline_path().unwrap_or_else(|_| gtcrn_path());
    let bytes = std::fs::read(&source).unwrap();
    let dir = std::env::temp_dir().join(format!("trnet-fast-gru-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Cut inside the graph (a length that runs past the end), and a field of a wire type protobuf 3 never uses.
    let mut bad_wire = bytes[..64].to_vec();
    bad_wire.push(0x0b);
    for (name, data) in [("cut.onnx", bytes[..bytes.len() / 2].to_vec()), ("group.onnx", bad_wire)] {
        let path = dir.join(name);
        std::fs::write(&path, &data).unwrap();
        let err = OnnxModel::load(&path, SessionOptions::default()).err().unwrap_or_else(|| panic!("{name} loaded"));
        assert_eq!(err.code(), "TRNET_MODEL_LOAD", "{name}: {err}");
        // The rewriter gives the bytes to ONNX Runtime as they are, which refuses them too.
        assert!(err.to_string().contains("trnet's reader: not an ONNX protobuf"), "{name}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
