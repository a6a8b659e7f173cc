//! Predictions for feature matrices that did not come from a dataset (a service's audio): each input's X (and
//! Xe, the SE front end's output) is fixed to the model's frame count exactly as training fixed it
//! (`fix_frames`), put in an in-memory dataset and run through `evaluate_items` — the forward pass, masking and
//! softmax evaluation uses — so a prediction equals the evaluation of the same features, number for number.

use crate::dataset::{Dataset, Item, fix_frames};
use crate::metrics::{EvalOptions, evaluate_items};
use crate::{Error, Result};
use trnet_dsp::frames::PadMode;
use trnet_model::TrnetModel;

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

/// Runs `model` on `inputs` fixed to `frames` frames with `pad` (the training run's features settings).
pub fn predict(model: &TrnetModel, inputs: &[PredictInput<'_>], frames: usize, pad: PadMode) -> Result<Vec<PredictOutput>> {
    run(model, inputs, frames, pad, false)
}

/// As `predict`, with each input's representation (`PredictOutput::embedding`).
pub fn predict_embedded(model: &TrnetModel, inputs: &[PredictInput<'_>], frames: usize, pad: PadMode) -> Result<Vec<PredictOutput>> {
    run(model, inputs, frames, pad, true)
}

fn run(model: &TrnetModel, inputs: &[PredictInput<'_>], frames: usize, pad: PadMode, embeddings: bool) -> Result<Vec<PredictOutput>> {
    if inputs.is_empty() {
        return Err(Error::invalid("prediction inputs", "at least one input", "none", "Pass one or more feature matrices."));
    }
    let bins = model.config().n_mels;
    let needs_xe = model.variant().needs_enhanced();
    let mut ds = Dataset::new(frames, bins)?;
    for (i, input) in inputs.iter().enumerate() {
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
        if needs_xe && input.xe.is_none() {
            return Err(Error::invalid(
                format!("input {i} Xe"),
                format!("the enhanced features (variant {} reads them)", model.variant().name()),
                "none",
                "Pass the fbank of the SE front end's output as xe.",
            ));
        }
        let (x, valid) = fix_frames(input.x, bins, frames, pad)?;
        // Label 0 is a placeholder: evaluate_items needs one per item; the cross-entropy it yields is unused.
        let mut item = Item::clean(x, 0).valid_frames(valid);
        if let Some(xe) = input.xe {
            item = item.enhanced(fix_frames(xe, bins, frames, pad)?.0);
        }
        ds.push(item)?;
    }
    let all: Vec<usize> = (0..ds.len()).collect();
    // No prefetch threads: the batch is in memory already.
    let options = EvalOptions { prefetch: 0, embeddings, ..Default::default() };
    let report = evaluate_items(model, &ds, &all, &options)?;
    Ok(report
        .predictions
        .into_iter()
        .map(|p| PredictOutput { valid_frames: ds.item(p.item).valid_frames, probs: p.probs, c: p.c, embedding: p.embedding })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
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
