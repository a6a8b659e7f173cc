//! Predictions for feature matrices that did not come from a dataset (a service's audio): each input's X (and
//! Xe, the SE front end's output) is fixed to the model's frame count exactly as training fixed it
//! (`fix_frames`), put in an in-memory dataset and run through `evaluate_items` — the forward pass, masking and
//! softmax evaluation uses — so a prediction equals the evaluation of the same features, number for number.

use crate::dataset::{fix_frames, Dataset, Item};
use crate::metrics::{evaluate_items, EvalOptions};
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
}

/// Runs `model` on `inputs` fixed to `frames` frames with `pad` (the training run's features settings).
pub fn predict(model: &TrnetModel, inputs: &[PredictInput<'_>], frames: usize, pad: PadMode) -> Result<Vec<PredictOutput>> {
    if inputs.is_empty() {
        return Err(Error::invalid("prediction inputs", "at least one input", "none", "Pass one or more feature matrices."));
    }
    let bins = model.config().n_mels;
    let needs_xe = model.variant().needs_enhanced();
    let mut ds = Dataset::new(frames, bins)?;
    for (i, input) in inputs.iter().enumerate() {
        for (what, m) in [("X", Some(input.x)), ("Xe", input.xe)] {
            if let Some(m) = m
                && (m.is_empty() || m.len() % bins != 0)
            {
                return Err(Error::invalid(format!("input {i} {what}"), format!("frames × {bins} values (the model's log-Mel bins)"), format!("{} values", m.len()), "Compute the features with the fbank options the model was trained with."));
            }
        }
        if let (Some(xe), x) = (input.xe, input.x)
            && xe.len() != x.len()
        {
            return Err(Error::invalid(format!("input {i} Xe"), format!("{} values, as X (the enhanced audio has the input's length)", x.len()), format!("{} values", xe.len()), "Compute Xe from the SE output of the same audio."));
        }
        if needs_xe && input.xe.is_none() {
            return Err(Error::invalid(format!("input {i} Xe"), format!("the enhanced features (variant {} reads them)", model.variant().name()), "none", "Pass the fbank of the SE front end's output as xe."));
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
    let options = EvalOptions { prefetch: 0, ..Default::default() };
    let report = evaluate_items(model, &ds, &all, &options)?;
    Ok(report.predictions.into_iter().map(|p| PredictOutput { valid_frames: ds.item(p.item).valid_frames, probs: p.probs, c: p.c }).collect())
}
