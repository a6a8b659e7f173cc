//! The eval-mode forward pass of `TrnetModel::forward_t` written as ONNX nodes, one function per module, in
//! the same order and with the same arithmetic as the tch code it mirrors (BatchNorm in inference mode with
//! the running statistics, the frame mask of the attention pooling, the SNR-aware module's options, c's bound,
//! the mix, the bridge).
//!
//! Inputs: `x` and/or `xe` (batch, frames, nMels) float32, and `valid_frames` (batch,) float32, the number of
//! leading frames that are the utterance (trnet_train::predict builds the same mask from it). Outputs:
//! `probabilities` (batch, classes) and, for the variants with the SNR-aware module, `c` (batch,).

use super::graph::{Graph, float, int, ints};
use crate::config::{ClassifierInput, NoLowInput, SnrClamp, Variant};
use crate::encoder::{AttentionPooling, Encoder};
use crate::film::FilmBridge;
use crate::layers::{BatchNorm2d, Conv2d, Linear};
use crate::snr_aware::SnrAware;
use crate::trnet::TrnetModel;
use crate::{Error, Result};

pub const X: &str = "x";
pub const XE: &str = "xe";
pub const VALID_FRAMES: &str = "valid_frames";
pub const PROBABILITIES: &str = "probabilities";
pub const C: &str = "c";

/// Which graph inputs a variant reads, in declaration order.
pub fn inputs(variant: Variant) -> Vec<&'static str> {
    match variant {
        Variant::BaselineClean | Variant::BaselineNoisy => vec![X, VALID_FRAMES],
        Variant::BaselineEnhanced => vec![XE, VALID_FRAMES],
        Variant::Trnet | Variant::TrnetNoLow | Variant::TrnetNoHigh => vec![X, XE, VALID_FRAMES],
    }
}

/// Emits the whole network; the graph's outputs are the nodes named `PROBABILITIES` and (if any) `C`.
pub fn emit(g: &mut Graph, model: &TrnetModel) -> Result<()> {
    let cfg = model.config();
    let v = cfg.variant;
    // c as (batch, 1), the shape the mix and the bridge read.
    let c = match &model.snr {
        Some(snr) => {
            let c = snr_coefficient(g, snr)?;
            let axes = g.const_i64(&[1], &[1]);
            g.named("Squeeze", &[&c, &axes], vec![], C);
            Some(c)
        }
        None => None,
    };
    let mixed = match (v, &c) {
        (Variant::Trnet | Variant::TrnetNoHigh, Some(c)) => Some(mix(g, c)),
        (Variant::TrnetNoLow, Some(c)) if cfg.no_low_encoder_input == NoLowInput::Mixed => Some(mix(g, c)),
        _ => None,
    };
    let encoder_input = match (v, &mixed) {
        (_, Some(xt)) => xt.as_str(),
        (Variant::BaselineEnhanced | Variant::TrnetNoLow, None) => XE,
        _ => X,
    };
    let h = encoder(g, model.encoder(), encoder_input)?;
    let features = match (&model.film, &c, cfg.classifier_input) {
        (Some(film), Some(c), ClassifierInput::Calibrated) => bridge(g, film, c, &h)?,
        _ => h,
    };
    let logits = linear(g, "classifier", &model.classifier, &features)?;
    g.named("Softmax", &[&logits], vec![int("axis", 1)], PROBABILITIES);
    Ok(())
}

/// y = x·Wᵀ + b for a (batch, in) x.
fn linear(g: &mut Graph, path: &str, layer: &Linear, x: &str) -> Result<String> {
    let w = g.weight(&format!("{path}.weight"), &layer.weight)?;
    let mut inputs = vec![x.to_string(), w];
    if let Some(b) = &layer.bias {
        inputs.push(g.weight(&format!("{path}.bias"), b)?);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    Ok(g.op("Gemm", &refs, vec![int("transB", 1)]))
}

/// The same for a (batch, frames, in) x: MatMul with the transposed weight (Gemm takes matrices only).
fn linear_3d(g: &mut Graph, path: &str, layer: &Linear, x: &str) -> Result<String> {
    let wt = layer.weight.f_tr().map_err(Error::torch("transposing a weight for the ONNX export"))?;
    let w = g.weight(&format!("{path}.weight_transposed"), &wt)?;
    let y = g.op("MatMul", &[x, &w], vec![]);
    match &layer.bias {
        Some(b) => {
            let b = g.weight(&format!("{path}.bias"), b)?;
            Ok(g.op("Add", &[&y, &b], vec![]))
        }
        None => Ok(y),
    }
}

/// Σ over frames (axis 1) of a (batch, frames, bins) tensor → (batch, bins).
fn sum_frames(g: &mut Graph, t: &str) -> String {
    let axes = g.const_i64(&[1], &[1]);
    g.op("ReduceSum", &[t, &axes], vec![int("keepdims", 0)])
}

/// snr_aware in eval mode, returned as (batch, 1), with every `SnrAware` option as `forward_t` applies it:
/// - `snrCentred`: X and Xe each lose their per-bin mean over the real frames (the frame mask built from
///   `valid_frames`, as predict builds it), and their padded frames are zeroed, before the cosine;
/// - d_i = Σ x·xe / (√(Σx² + ε²)·√(Σxe² + ε²));
/// - `snrStandardize`: d goes through `snr.norm` with its running statistics (eval-mode BatchNorm);
/// - c̄ = FC(d), bounded by `snrClamp`: `hard` and `leaky` (equal in value, the leak is gradient only) as
///   Clip(0, 1), `sigmoid` as σ(4(c̄ − ½)).
fn snr_coefficient(g: &mut Graph, snr: &SnrAware) -> Result<String> {
    let (x, xe) = if snr.centred {
        let mask = frame_mask(g, X);
        (centre(g, X, &mask), centre(g, XE, &mask))
    } else {
        (X.to_string(), XE.to_string())
    };
    let prod = g.op("Mul", &[&x, &xe], vec![]);
    let dot = sum_frames(g, &prod);
    let eps2 = g.const_f32(&[], &[(snr.eps * snr.eps) as f32]);
    let mut norm = |t: &str| {
        let sq = g.op("Mul", &[t, t], vec![]);
        let s = sum_frames(g, &sq);
        let s = g.op("Add", &[&s, &eps2], vec![]);
        g.op("Sqrt", &[&s], vec![])
    };
    let (nx, nxe) = (norm(&x), norm(&xe));
    let denom = g.op("Mul", &[&nx, &nxe], vec![]);
    let d = g.op("Div", &[&dot, &denom], vec![]);
    let head_input = match &snr.norm {
        Some(bn) => standardize(g, bn, &d)?,
        None => d,
    };
    let c_bar = linear(g, "snr.fc", &snr.fc, &head_input)?;
    // Exhaustive on purpose: a new bound must be written here before a model that uses it can be exported.
    Ok(match snr.clamp {
        SnrClamp::Hard | SnrClamp::Leaky => {
            let (lo, hi) = (g.const_f32(&[], &[0.0]), g.const_f32(&[], &[1.0]));
            g.op("Clip", &[&c_bar, &lo, &hi], vec![])
        }
        SnrClamp::Sigmoid => {
            let (half, four) = (g.const_f32(&[], &[0.5]), g.const_f32(&[], &[4.0]));
            let shifted = g.op("Sub", &[&c_bar, &half], vec![]);
            let scaled = g.op("Mul", &[&shifted, &four], vec![]);
            g.op("Sigmoid", &[&scaled], vec![])
        }
    })
}

/// The frame mask of a (batch, frames, bins) input as float32 (batch, frames, 1): 1 where the frame index is
/// below `valid_frames`, 0 on padding (the mask `trnet_train::predict` passes to `forward_t`).
fn frame_mask(g: &mut Graph, input: &str) -> String {
    let shape = g.op("Shape", &[input], vec![]);
    let one_index = g.const_i64(&[], &[1]);
    let count = g.op("Gather", &[&shape, &one_index], vec![]);
    let count = g.op("Cast", &[&count], vec![int("to", super::proto::FLOAT as i64)]);
    let (zero, step) = (g.const_f32(&[], &[0.0]), g.const_f32(&[], &[1.0]));
    let positions = g.op("Range", &[&zero, &count, &step], vec![]);
    let axis1 = g.const_i64(&[1], &[1]);
    let valid = g.op("Unsqueeze", &[VALID_FRAMES, &axis1], vec![]);
    let mask = g.op("Less", &[&positions, &valid], vec![]);
    let mask = g.op("Cast", &[&mask], vec![int("to", super::proto::FLOAT as i64)]);
    let axis2 = g.const_i64(&[1], &[2]);
    g.op("Unsqueeze", &[&mask, &axis2], vec![])
}

/// `SnrAware::similarity_masked`'s centring: (t − Σ_t t·m / max(Σ_t m, 1))·m, per utterance and bin.
fn centre(g: &mut Graph, t: &str, mask: &str) -> String {
    let axes = g.const_i64(&[1], &[1]);
    let count = g.op("ReduceSum", &[mask, &axes], vec![int("keepdims", 1)]);
    let one = g.const_f32(&[], &[1.0]);
    let count = g.op("Max", &[&count, &one], vec![]);
    let masked = g.op("Mul", &[t, mask], vec![]);
    let total = g.op("ReduceSum", &[&masked, &axes], vec![int("keepdims", 1)]);
    let mean = g.op("Div", &[&total, &count], vec![]);
    let centred = g.op("Sub", &[t, &mean], vec![]);
    g.op("Mul", &[&centred, mask], vec![])
}

/// `snr.norm` on d (batch, bins) as the tch code applies it: viewed as (batch, bins, 1, 1), BatchNorm with
/// the running statistics (eval mode, whatever the batch size), back to (batch, bins).
fn standardize(g: &mut Graph, bn: &BatchNorm2d, d: &str) -> Result<String> {
    let axes = g.const_i64(&[2], &[2, 3]);
    let d4 = g.op("Unsqueeze", &[d, &axes], vec![]);
    let scale = g.weight("snr.norm.weight", &bn.weight)?;
    let bias = g.weight("snr.norm.bias", &bn.bias)?;
    let mean = g.weight("snr.norm.running_mean", &bn.running_mean)?;
    let var = g.weight("snr.norm.running_var", &bn.running_var)?;
    let y = g.op("BatchNormalization", &[&d4, &scale, &bias, &mean, &var], vec![float("epsilon", bn.eps as f32)]);
    Ok(g.op("Squeeze", &[&y, &axes], vec![]))
}

/// X~ = c·X + (1 − c)·Xe with c (batch, 1) broadcast over frames and bins.
fn mix(g: &mut Graph, c: &str) -> String {
    let axes = g.const_i64(&[1], &[2]);
    let c3 = g.op("Unsqueeze", &[c, &axes], vec![]);
    let one = g.const_f32(&[], &[1.0]);
    let rest = g.op("Sub", &[&one, &c3], vec![]);
    let a = g.op("Mul", &[X, &c3], vec![]);
    let b = g.op("Mul", &[XE, &rest], vec![]);
    g.op("Add", &[&a, &b], vec![])
}

/// h~ = FC1(c)·h + FC2(c).
fn bridge(g: &mut Graph, film: &FilmBridge, c: &str, h: &str) -> Result<String> {
    let scale = linear(g, "film.fc1", &film.fc1, c)?;
    let shift = linear(g, "film.fc2", &film.fc2, c)?;
    let scaled = g.op("Mul", &[&scale, h], vec![]);
    Ok(g.op("Add", &[&scaled, &shift], vec![]))
}

/// Conv (no bias, "same"-style padding) followed by BatchNorm with its running statistics.
fn conv_bn(g: &mut Graph, conv_path: &str, bn_path: &str, conv: &Conv2d, bn: &BatchNorm2d, x: &str) -> Result<String> {
    let w = g.weight(&format!("{conv_path}.weight"), &conv.weight)?;
    let k = conv.weight.size()[2];
    let (s, p) = (conv.stride, conv.padding);
    let y = g.op("Conv", &[x, &w], vec![ints("kernel_shape", &[k, k]), ints("strides", &[s, s]), ints("pads", &[p, p, p, p])]);
    let scale = g.weight(&format!("{bn_path}.weight"), &bn.weight)?;
    let bias = g.weight(&format!("{bn_path}.bias"), &bn.bias)?;
    let mean = g.weight(&format!("{bn_path}.running_mean"), &bn.running_mean)?;
    let var = g.weight(&format!("{bn_path}.running_var"), &bn.running_var)?;
    Ok(g.op("BatchNormalization", &[&y, &scale, &bias, &mean, &var], vec![float("epsilon", bn.eps as f32)]))
}

/// The encoder on a (batch, frames, bins) input → h (batch, C).
fn encoder(g: &mut Graph, enc: &Encoder, input: &str) -> Result<String> {
    let axes = g.const_i64(&[1], &[1]);
    let mut y = g.op("Unsqueeze", &[input, &axes], vec![]);
    for (i, block) in enc.blocks.iter().enumerate() {
        let path = format!("encoder.blocks.{i}");
        let mut main = y.clone();
        for (j, (conv, bn)) in block.main.iter().enumerate() {
            if j > 0 {
                main = g.op("Relu", &[&main], vec![]);
            }
            main = conv_bn(g, &format!("{path}.conv{}", j + 1), &format!("{path}.bn{}", j + 1), conv, bn, &main)?;
        }
        let skip = match &block.shortcut {
            Some((conv, bn)) => conv_bn(g, &format!("{path}.shortcut.conv"), &format!("{path}.shortcut.bn"), conv, bn, &y)?,
            None => y.clone(),
        };
        let sum = g.op("Add", &[&main, &skip], vec![]);
        y = g.op("Relu", &[&sum], vec![]);
    }
    // Average over frequency, then (batch, C, T') → (batch, T', C). Opset 17's ReduceMean takes axes as an attribute.
    let pooled = g.op("ReduceMean", &[&y], vec![ints("axes", &[3]), int("keepdims", 0)]);
    let seq = g.op("Transpose", &[&pooled], vec![ints("perm", &[0, 2, 1])]);
    let downsampling = enc.stride.pow(enc.blocks.len() as u32);
    attention(g, &enc.attention, &seq, downsampling)
}

/// α = softmax over the real frames of score(x_t), h = Σ_t α_t·x_t. Downsampled frame t' is centred on input
/// frame t'·`downsampling` (the mask is sliced with the stride after each block), so it is real when that
/// frame is below `valid_frames`.
fn attention(g: &mut Graph, att: &AttentionPooling, seq: &str, downsampling: i64) -> Result<String> {
    let keys = match &att.hidden {
        Some(h) => {
            let k = linear_3d(g, "encoder.attention.hidden", h, seq)?;
            g.op("Tanh", &[&k], vec![])
        }
        None => seq.to_string(),
    };
    let scores = linear_3d(g, "encoder.attention.score", &att.score, &keys)?;
    let last = g.const_i64(&[1], &[2]);
    let scores = g.op("Squeeze", &[&scores, &last], vec![]);
    // Frame positions 0, s, 2s, … as float32, compared with valid_frames (batch, 1).
    let shape = g.op("Shape", &[&scores], vec![]);
    let one_index = g.const_i64(&[], &[1]);
    let count = g.op("Gather", &[&shape, &one_index], vec![]);
    let count = g.op("Cast", &[&count], vec![int("to", super::proto::FLOAT as i64)]);
    let (zero, step) = (g.const_f32(&[], &[0.0]), g.const_f32(&[], &[1.0]));
    let positions = g.op("Range", &[&zero, &count, &step], vec![]);
    let factor = g.const_f32(&[], &[downsampling as f32]);
    let positions = g.op("Mul", &[&positions, &factor], vec![]);
    let axis1 = g.const_i64(&[1], &[1]);
    let valid = g.op("Unsqueeze", &[VALID_FRAMES, &axis1], vec![]);
    let mask = g.op("Less", &[&positions, &valid], vec![]);
    let minus_inf = g.const_f32(&[], &[f32::NEG_INFINITY]);
    let scores = g.op("Where", &[&mask, &scores, &minus_inf], vec![]);
    let alpha = g.op("Softmax", &[&scores], vec![int("axis", 1)]);
    // (batch, 1, T') × (batch, T', C) → (batch, 1, C) → (batch, C).
    let alpha = g.op("Unsqueeze", &[&alpha, &axis1], vec![]);
    let h = g.op("MatMul", &[&alpha, seq], vec![]);
    Ok(g.op("Squeeze", &[&h, &axis1], vec![]))
}
