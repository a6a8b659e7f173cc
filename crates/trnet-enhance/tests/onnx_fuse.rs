//! trnet's in-memory graph rewrites (`onnx_fuse`) against the graph as written: the small models of
//! scripts/reference/gen_fuse_fixtures.py (one instance of each GTCRN pattern, and near misses that must stay)
//! loaded twice through ONNX Runtime, with the rewrites and without, on inputs of several sizes.

mod common;
use common::*;
use trnet_enhance::onnx::{Feed, OnnxModel, SessionOptions};

fn load(name: &str, graph_rewrites: bool) -> OnnxModel {
    OnnxModel::load(fixture(name), SessionOptions { graph_rewrites, ..SessionOptions::default() }).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Uniform values in ±1 from a seed.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = trnet_dsp::rng::SplitMix64::new(seed);
    (0..n).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect()
}

/// Loads `name` both ways, checks the rewrites applied are `expected` (in order), runs X of each shape through
/// both and returns the largest output difference; every output must have the same shape both ways.
fn compare(name: &str, expected: &[&str], shapes: &[[i64; 4]]) -> f32 {
    let mut plain = load(name, false);
    let mut fused = load(name, true);
    assert!(plain.graph_rewrites.is_empty());
    let applied: Vec<&str> = fused.graph_rewrites.iter().map(String::as_str).collect();
    assert_eq!(applied, expected, "{name}");
    let mut worst = 0.0f32;
    for (k, shape) in shapes.iter().enumerate() {
        let x = values(shape.iter().product::<i64>() as usize, 40 + k as u64);
        let feeds = [Feed { name: "X", shape, data: &x }];
        let want = plain.run(&feeds).unwrap();
        let got = fused.run(&feeds).unwrap();
        assert_eq!(want.len(), got.len());
        for (w, g) in want.iter().zip(&got) {
            assert_eq!((&w.name, &w.shape), (&g.name, &g.shape), "{name} X {shape:?}");
            assert!(w.data.iter().any(|v| *v != 0.0), "{name} {}: an all-zero output compares nothing", w.name);
            worst = worst.max(max_abs_diff(&w.data, &g.data));
        }
    }
    eprintln!("{name}: max |rewritten - as written| {worst:.2e}");
    worst
}

// Sums of a few products of values in ±1: a rewrite that changes the arithmetic's order shows as ~1e-7.
const TOLERANCE: f32 = 1e-5;

#[test]
fn pads_fold_into_the_convs_they_feed() {
    let expected = [
        "Pad an unnamed Pad folded into the pads of Conv an unnamed Conv ([0, 1, 0, 1] -> [4, 1, 0, 1])",
        "Pad an unnamed Pad folded into the pads of Conv an unnamed Conv ([0, 0, 0, 0] -> [1, 2, 3, 1])",
    ];
    // The third Pad fills with 0.5, which a Conv's padding cannot do: it stays.
    let d = compare("fuse_pad_conv.onnx", &expected, &[[1, 4, 1, 9], [1, 4, 7, 9], [1, 4, 40, 9]]);
    assert!(d < TOLERANCE, "{d:e}");
}

#[test]
fn a_grouped_conv_becomes_dense_and_a_depthwise_one_stays() {
    let expected = ["Conv an unnamed Conv with 2 groups made dense (8x8 block-diagonal weights)"];
    let d = compare("fuse_grouped.onnx", &expected, &[[1, 8, 1, 11], [1, 8, 9, 11], [1, 8, 33, 11]]);
    assert!(d < TOLERANCE, "{d:e}");
}

#[test]
fn a_linear_layer_before_a_reshape_becomes_a_gemm() {
    // The second MatMul's output is also read by the Shape, and its Add by a Sigmoid: it stays.
    let expected = ["MatMul linear/MatMul + Add linear/Add as Gemm on [-1, 6] rows"];
    let d = compare("fuse_gemm.onnx", &expected, &[[1, 1, 5, 6], [1, 4, 5, 6], [1, 31, 5, 6]]);
    assert!(d < TOLERANCE, "{d:e}");
}

#[test]
fn stride_two_transposed_convs_become_two_phase_convs_of_odd_and_even_width() {
    // The third has 2 output channels: it stays.
    let expected = [
        "ConvTranspose an unnamed ConvTranspose (stride 2, 2 groups) as a two-phase Conv [16, 8, 1, 3]",
        "ConvTranspose an unnamed ConvTranspose (stride 2, 1 groups) as a two-phase Conv [16, 8, 1, 3]",
    ];
    let d = compare("fuse_deconv.onnx", &expected, &[[1, 8, 1, 1], [1, 8, 3, 2], [1, 8, 5, 33], [1, 8, 2, 65]]);
    assert!(d < TOLERANCE, "{d:e}");
}
