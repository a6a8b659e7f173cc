//! Shape and value checks on tensors that come from callers. libtorch would reject most of these too, but
//! with messages about internal ops; on CUDA an out-of-range label even becomes a device-side assert that
//! poisons the context. Checking first turns them into coded errors that say what to pass.
//!
//! There is a second reason. In tch 0.24 a fallible op that takes a `Scalar` argument (`f_masked_fill`,
//! `f_clamp`, `f_add_scalar`, …) panics instead of returning `Err` when libtorch fails: the temporary
//! `Scalar` is freed, and its free checks libtorch's error slot, before the op's own error is read. So the
//! model only applies such ops to tensors whose shape, type and device these checks have already pinned.

use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

fn shape(t: &Tensor) -> String {
    format!("{:?}", t.size())
}

fn on_device(what: &str, t: &Tensor, device: Device) -> Result<()> {
    if t.device() != device {
        return Err(Error::invalid(
            what,
            format!("a tensor on {device:?}, where the model is"),
            format!("one on {:?}", t.device()),
            "Move it with to_device before the forward pass.",
        ));
    }
    Ok(())
}

/// A batch of spectrograms, (B, T, F) with F = `n_mels`, in the model's float kind and on its device.
/// Returns (B, T).
pub(crate) fn spectrogram(what: &str, t: &Tensor, n_mels: usize, kind: Kind, device: Device) -> Result<(i64, i64)> {
    let size = t.size();
    if size.len() != 3 || size[0] < 1 || size[1] < 1 || size[2] != n_mels as i64 {
        return Err(Error::invalid(
            what,
            format!("a (batch, frames, {n_mels}) tensor with batch ≥ 1 and frames ≥ 1"),
            format!("shape {}", shape(t)),
            "Stack log-Mel spectrograms as batch × frames × bins (bins last), with the config's nMels bins.",
        ));
    }
    if t.kind() != kind {
        return Err(Error::invalid(
            what,
            format!("{kind:?} values (the model's parameter type)"),
            format!("{:?}", t.kind()),
            "Convert the batch with to_kind before the forward pass.",
        ));
    }
    on_device(what, t, device)?;
    Ok((size[0], size[1]))
}

/// A second tensor that must have exactly the shape of the first (Xe and Xs against X).
pub(crate) fn same_shape(what: &str, t: &Tensor, like_what: &str, like: &Tensor) -> Result<()> {
    if t.size() != like.size() {
        return Err(Error::invalid(
            what,
            format!("the shape of {like_what}, {}", shape(like)),
            format!("shape {}", shape(t)),
            "Pad or truncate all spectrograms of a batch to the same frames.",
        ));
    }
    if t.kind() != like.kind() {
        return Err(Error::invalid(what, format!("{:?} values like {like_what}", like.kind()), format!("{:?}", t.kind()), "Convert it with to_kind."));
    }
    on_device(what, t, like.device())
}

/// A frame mask, (B, T) booleans, true = a real frame; every utterance needs at least one.
pub(crate) fn frame_mask(mask: &Tensor, batch: i64, frames: i64, device: Device) -> Result<()> {
    if mask.size() != [batch, frames] || mask.kind() != Kind::Bool {
        return Err(Error::invalid(
            "frame mask",
            format!("a ({batch}, {frames}) Bool tensor, true for real frames"),
            format!("{:?} {}", mask.kind(), shape(mask)),
            "Build it from the utterance lengths, e.g. arange(frames) < length.",
        ));
    }
    on_device("frame mask", mask, device)?;
    let empty = mask
        .f_any_dim(1, false)
        .and_then(|a| a.f_logical_not())
        .and_then(|e| e.f_sum(Kind::Int64))
        .and_then(|n| n.f_int64_value(&[]))
        .map_err(Error::torch("checking the frame mask"))?;
    if empty > 0 {
        return Err(Error::invalid(
            "frame mask",
            "at least one true frame per utterance",
            format!("{empty} utterance(s) with none"),
            "Drop empty utterances from the batch.",
        ));
    }
    Ok(())
}

/// Class labels: (B,) Int64 in 0..num_classes, on the logits' device.
pub(crate) fn labels(labels: &Tensor, batch: i64, num_classes: usize, device: Device) -> Result<()> {
    if labels.size() != [batch] || labels.kind() != Kind::Int64 {
        return Err(Error::invalid(
            "labels",
            format!("a ({batch},) Int64 tensor of class indices"),
            format!("{:?} {}", labels.kind(), shape(labels)),
            "Pass one class index per utterance of the batch.",
        ));
    }
    on_device("labels", labels, device)?;
    let lo = labels.f_min().and_then(|t| t.f_int64_value(&[])).map_err(Error::torch("checking labels"))?;
    let hi = labels.f_max().and_then(|t| t.f_int64_value(&[])).map_err(Error::torch("checking labels"))?;
    if lo < 0 || hi >= num_classes as i64 {
        return Err(Error::invalid(
            "labels",
            format!("class indices in 0..{num_classes}"),
            format!("values in {lo}..={hi}"),
            "Map labels to 0..numClasses−1, or raise numClasses in the config.",
        ));
    }
    Ok(())
}
