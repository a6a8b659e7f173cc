//! One forward pass of a variant on a batch: which tensors go where, and the frozen clean reference.

use crate::Result;
use crate::batcher::Batch;
use trnet_model::{CleanReference, Encoder, Inputs, Losses, Outputs, TrnetModel, Variant};

/// Runs `model` on `batch`. Baseline-e's batches carry Xe as their X (`Fields::train`), which is passed
/// as both inputs: the model checks X's shape and encodes Xe.
pub fn forward(model: &TrnetModel, batch: &Batch, train: bool, autocast: bool) -> Result<Outputs> {
    let xe = match (&batch.xe, model.variant()) {
        (Some(xe), _) => Some(xe),
        (None, Variant::BaselineEnhanced) => Some(&batch.x),
        (None, _) => None,
    };
    let mut inputs = Inputs::new(&batch.x).mask(&batch.mask);
    if let Some(xe) = xe {
        inputs = inputs.enhanced(xe);
    }
    // tch::autocast runs the closure unchanged when no CUDA device is present.
    Ok(tch::autocast(autocast, || model.forward_t(&inputs, train))?)
}

/// The variant's losses for a training batch; `reference` is the frozen clean encoder (L_high).
pub fn losses(model: &TrnetModel, outputs: &Outputs, batch: &Batch, reference: Option<&Encoder>, autocast: bool) -> Result<Losses> {
    let clean = batch.xs.as_ref().map(|xs| {
        let r = CleanReference::new(xs).mask(&batch.mask);
        match reference {
            Some(enc) => r.encoder(enc),
            None => r,
        }
    });
    Ok(tch::autocast(autocast, || model.losses(outputs, &batch.labels, clean.as_ref()))?)
}
