//! Predictions for feature matrices that did not come from a dataset (a service's audio): each input's X (and
//! Xe, the SE front end's output) is fixed to the model's frame count exactly as training fixed it
//! (`fix_frames`), stacked with the frame mask as the evaluation's batches stack them, and run through
//! `TrnetModel::infer`: the evaluation's forward pass (`evaluate_items`) without its dataset, batching and
//! cross-entropy. On a model without `prepare_inference` a prediction equals the evaluation of the same
//! features number for number; with it (BatchNorm folded into the convs) within float rounding in f32, and
//! within bfloat16's rounding with `Precision::Bf16`.

use crate::dataset::fix_frames;
use crate::{Error, Result};
use tch::{Kind, Tensor};
use trnet_dsp::frames::PadMode;
use trnet_model::{Inputs, TrnetModel};

/// One utterance's features, `frames × bins` row-major, any number of frames.
pub struct PredictInput<'a> {
    pub x: &'a [f32],
    /// The enhanced input's features; needed by the variants that read Xe (`Variant::needs_enhanced`).
    pub xe: Option<&'a [f32]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PredictOutput {
    /// Softmax of the logits, one per class.
    pub probs: Vec<f32>,
    /// The noise-level estimate c, for variants with the SNR-aware module.
    pub c: Option<f32>,
    /// Frames of the input that are utterance, not padding (after the cut to `frames`).
    pub valid_frames: usize,
    /// The utterance's representation, what the classifier reads (`TrnetModel::representation`); only from
    /// `predict_embedded`.
    pub embedding: Option<Vec<f32>>,
}

/// Inputs per forward pass, as the evaluation's default batch size (bounds the activations' memory).
const BATCH: usize = 32;

/// Runs `model` on `inputs` fixed to `frames` frames with `pad` (the training run's features settings).
pub fn predict(model: &TrnetModel, inputs: &[PredictInput<'_>], frames: usize, pad: PadMode) -> Result<Vec<PredictOutput>> {
    run(model, inputs, frames, pad, false)
}

/// As `predict`, with each input's representation (`PredictOutput::embedding`).
pub fn predict_embedded(model: &TrnetModel, inputs: &[PredictInput<'_>], frames: usize, pad: PadMode) -> Result<Vec<PredictOutput>> {
    run(model, inputs, frames, pad, true)
}

fn check(model: &TrnetModel, i: usize, input: &PredictInput<'_>) -> Result<()> {
    let bins = model.config().n_mels;
    for (what, m) in [("X", Some(input.x)), ("Xe", input.xe)] {
        if let Some(m) = m
            && (m.is_empty() || !m.len().is_multiple_of(bins))
        {
            return Err(Error::invalid(
                format!("input {i} {what}"),
                format!("frames × {bins} values (the model's log-Mel bins)"),
                format!("{} values", m.len()),
                "Compute the features with the fbank options the model was trained with.",
            ));
        }
    }
    if let (Some(xe), x) = (input.xe, input.x)
        && xe.len() != x.len()
    {
        return Err(Error::invalid(
            format!("input {i} Xe"),
            format!("{} values, as X (the enhanced audio has the input's length)", x.len()),
            format!("{} values", xe.len()),
            "Compute Xe from the SE output of the same audio.",
        ));
    }
    if model.variant().needs_enhanced() && input.xe.is_none() {
        return Err(Error::invalid(
            format!("input {i} Xe"),
            format!("the enhanced features (variant {} reads them)", model.variant().name()),
            "none",
            "Pass the fbank of the SE front end's output as xe.",
        ));
    }
    Ok(())
}

fn run(model: &TrnetModel, inputs: &[PredictInput<'_>], frames: usize, pad: PadMode, embeddings: bool) -> Result<Vec<PredictOutput>> {
    if inputs.is_empty() {
        return Err(Error::invalid("prediction inputs", "at least one input", "none", "Pass one or more feature matrices."));
    }
    for (i, input) in inputs.iter().enumerate() {
        check(model, i, input)?;
    }
    let mut outputs = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(BATCH) {
        outputs.extend(run_batch(model, chunk, frames, pad, embeddings)?);
    }
    Ok(outputs)
}

/// One forward pass over checked inputs.
fn run_batch(model: &TrnetModel, inputs: &[PredictInput<'_>], frames: usize, pad: PadMode, embeddings: bool) -> Result<Vec<PredictOutput>> {
    let bins = model.config().n_mels;
    let b = inputs.len();
    let device = model.encoder().device();
    let mut x = Vec::with_capacity(b * frames * bins);
    // Only the variants that read Xe get it, as the evaluation's batches carry it (`Fields::eval`).
    let mut xe = model.variant().needs_enhanced().then(|| Vec::with_capacity(b * frames * bins));
    let mut mask = Vec::with_capacity(b * frames);
    let mut valid = Vec::with_capacity(b);
    for input in inputs {
        let (fx, v) = fix_frames(input.x, bins, frames, pad)?;
        x.extend_from_slice(fx.values()?.as_ref());
        if let (Some(buf), Some(e)) = (xe.as_mut(), input.xe) {
            buf.extend_from_slice(fix_frames(e, bins, frames, pad)?.0.values()?.as_ref());
        }
        mask.extend((0..frames).map(|t| t < v));
        valid.push(v);
    }
    let shape = [b as i64, frames as i64, bins as i64];
    let tensor = |v: &[f32]| Tensor::f_from_slice(v).and_then(|t| t.f_view(shape)).and_then(|t| t.f_to_device(device)).map_err(Error::torch("stacking inputs"));
    let x = tensor(&x)?;
    let xe = xe.as_deref().map(tensor).transpose()?;
    let mask = Tensor::f_from_slice(&mask)
        .and_then(|m| m.f_view([b as i64, frames as i64]))
        .and_then(|m| m.f_to_device(device))
        .map_err(Error::torch("building a frame mask"))?;
    // Baseline-e reads Xe as its X (the evaluation's batches carry it so); the model checks X's shape and
    // encodes Xe.
    let mut model_inputs = Inputs::new(xe.as_ref().filter(|_| model.variant() == trnet_model::Variant::BaselineEnhanced).unwrap_or(&x)).mask(&mask);
    if let Some(xe) = &xe {
        model_inputs = model_inputs.enhanced(xe);
    }
    let out = model.infer(&model_inputs)?;
    let read = |t: &Tensor, what: &str| -> Result<Vec<f32>> {
        let flat = t
            .f_to_kind(Kind::Float)
            .and_then(|t| t.f_to_device(tch::Device::Cpu))
            .and_then(|t| t.f_flatten(0, -1))
            .map_err(Error::torch(format!("reading {what}")))?;
        Vec::<f32>::try_from(&flat).map_err(Error::torch(format!("reading {what}")))
    };
    let probs = out.logits.f_to_kind(Kind::Float).and_then(|l| l.f_softmax(1, Kind::Float)).map_err(Error::torch("computing probabilities"))?;
    let probs = read(&probs, "probabilities")?;
    let c = out.c.as_ref().map(|c| read(c, "c")).transpose()?;
    let embedded = if embeddings { Some(read(model.representation(&out), "representations")?) } else { None };
    let (k, dim) = (model.config().num_classes, model.config().embedding_dim());
    Ok((0..b)
        .map(|row| PredictOutput {
            probs: probs[row * k..(row + 1) * k].to_vec(),
            c: c.as_ref().map(|c| c[row]),
            valid_frames: valid[row],
            embedding: embedded.as_ref().map(|e| e[row * dim..(row + 1) * dim].to_vec()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Dataset, Item};
    use crate::metrics::EvalOptions;
    use crate::seed::with_torch_seed;
    use tch::nn::VarStore;
    use trnet_model::{ModelConfig, Variant};

    fn model(variant: Variant) -> (VarStore, TrnetModel) {
        let vs = VarStore::new(tch::Device::Cpu);
        let config = ModelConfig { variant, n_mels: 8, channels: vec![4, 8], num_classes: 3, ..ModelConfig::paper(variant) };
        let model = with_torch_seed(7, || TrnetModel::new(&vs.root(), &config)).unwrap();
        (vs, model)
    }

    fn matrix(frames: usize, phase: f32) -> Vec<f32> {
        (0..frames * 8).map(|i| ((i as f32) * 0.37 + phase).sin() * 3.0 - 4.0).collect()
    }

    #[test]
    fn predictions_equal_the_evaluation_of_the_same_fixed_features() {
        let (_vs, m) = model(Variant::Trnet);
        let (short_x, short_xe) = (matrix(5, 0.1), matrix(5, 0.7));
        let (long_x, long_xe) = (matrix(30, 1.3), matrix(30, 2.1));
        let inputs = [PredictInput { x: &short_x, xe: Some(&short_xe) }, PredictInput { x: &long_x, xe: Some(&long_xe) }];
        let got = predict(&m, &inputs, 12, PadMode::Zero).unwrap();
        // The same items built by hand, as the feature pipeline builds them, and evaluated.
        let mut ds = Dataset::new(12, 8).unwrap();
        for (x, xe) in [(&short_x, &short_xe), (&long_x, &long_xe)] {
            let (fx, valid) = fix_frames(x, 8, 12, PadMode::Zero).unwrap();
            ds.push(Item::clean(fx, 2).enhanced(fix_frames(xe, 8, 12, PadMode::Zero).unwrap().0).valid_frames(valid)).unwrap();
        }
        let want = crate::evaluate(&m, &ds, &EvalOptions::default()).unwrap();
        assert_eq!(got.iter().map(|o| o.valid_frames).collect::<Vec<_>>(), [5, 12]);
        for (g, w) in got.iter().zip(&want.predictions) {
            assert_eq!(g.probs, w.probs);
            assert_eq!(g.c, w.c);
            assert!((g.probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert!(g.c.is_some_and(|c| (0.0..=1.0).contains(&c)));
        }
    }

    /// Every variant (Baseline-e reads Xe as its X; the baselines ignore a given Xe): `predict` on the model as
    /// loaded equals the evaluation number for number, and on the model prepared for prediction (BatchNorm
    /// folded) within 1e-5.
    #[test]
    fn every_variant_predicts_what_it_evaluates_and_folding_stays_within_1e_5() {
        let (x, xe) = (matrix(7, 0.4), matrix(7, 1.9));
        for variant in Variant::ALL {
            let (_vs, mut m) = model(variant);
            let inputs = [PredictInput { x: &x, xe: Some(&xe) }];
            let got = predict(&m, &inputs, 12, PadMode::Zero).unwrap();
            let mut ds = Dataset::new(12, 8).unwrap();
            let (fx, valid) = fix_frames(&x, 8, 12, PadMode::Zero).unwrap();
            ds.push(Item::clean(fx, 1).enhanced(fix_frames(&xe, 8, 12, PadMode::Zero).unwrap().0).valid_frames(valid)).unwrap();
            let want = crate::evaluate(&m, &ds, &EvalOptions::default()).unwrap();
            assert_eq!((&got[0].probs, got[0].c), (&want.predictions[0].probs, want.predictions[0].c), "{variant}");
            m.prepare_inference(trnet_model::Precision::Fp32).unwrap();
            let folded = predict(&m, &inputs, 12, PadMode::Zero).unwrap();
            for (a, b) in folded[0].probs.iter().zip(&want.predictions[0].probs) {
                assert!((a - b).abs() < 1e-5, "{variant}: {:?} vs {:?}", folded[0].probs, want.predictions[0].probs);
            }
            assert_eq!(folded[0].c.is_some(), variant.has_snr_module());
            if let (Some(a), Some(b)) = (folded[0].c, want.predictions[0].c) {
                assert!((a - b).abs() < 1e-5, "{variant}: c {a} vs {b}");
            }
        }
    }

    #[test]
    fn embedded_predictions_add_the_evaluations_representation_and_change_nothing_else() {
        let (_vs, m) = model(Variant::Trnet);
        let (x, xe) = (matrix(9, 0.3), matrix(9, 1.1));
        let inputs = [PredictInput { x: &x, xe: Some(&xe) }];
        let plain = predict(&m, &inputs, 12, PadMode::Zero).unwrap();
        let embedded = predict_embedded(&m, &inputs, 12, PadMode::Zero).unwrap();
        assert_eq!(plain[0].embedding, None);
        assert_eq!((&plain[0].probs, plain[0].c), (&embedded[0].probs, embedded[0].c));
        let mut ds = Dataset::new(12, 8).unwrap();
        let (fx, valid) = fix_frames(&x, 8, 12, PadMode::Zero).unwrap();
        ds.push(Item::clean(fx, 0).enhanced(fix_frames(&xe, 8, 12, PadMode::Zero).unwrap().0).valid_frames(valid)).unwrap();
        let want = crate::evaluate(&m, &ds, &EvalOptions { embeddings: true, ..Default::default() }).unwrap();
        let got = embedded[0].embedding.as_ref().expect("an embedding");
        assert_eq!(got.len(), m.config().embedding_dim());
        assert_eq!(Some(got), want.predictions[0].embedding.as_ref());
    }

    #[test]
    fn refuses_inputs_the_model_cannot_read() {
        let (_vs, m) = model(Variant::Trnet);
        let x = matrix(10, 0.0);
        let code = |inputs: &[PredictInput<'_>]| predict(&m, inputs, 12, PadMode::Zero).unwrap_err().code();
        assert_eq!(code(&[]), "TRNET_INVALID_ARGUMENT");
        // TRNet reads Xe.
        assert_eq!(code(&[PredictInput { x: &x, xe: None }]), "TRNET_INVALID_ARGUMENT");
        // Not a whole number of 8-bin frames; Xe of another length.
        assert_eq!(code(&[PredictInput { x: &x[..13], xe: Some(&x[..13]) }]), "TRNET_INVALID_ARGUMENT");
        assert_eq!(code(&[PredictInput { x: &x, xe: Some(&x[..16]) }]), "TRNET_INVALID_ARGUMENT");
        // A variant without the SNR-aware module needs no Xe and has no c.
        let (_vs, b) = model(Variant::BaselineClean);
        let out = predict(&b, &[PredictInput { x: &x, xe: None }], 12, PadMode::Repeat).unwrap();
        assert_eq!(out[0].c, None);
        assert_eq!(out[0].probs.len(), 3);
    }
}
