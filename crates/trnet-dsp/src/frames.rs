//! Fixed-length utterances: feature matrices padded or truncated to N frames (paper §4.2: 500 frames), so
//! a minibatch stacks into one tensor.

use crate::{Error, Result};

/// How a short utterance is filled up to the target length ("zero" | "repeat" with the `serde` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum PadMode {
    /// Fill with zeros after the utterance.
    Zero,
    /// Repeat the utterance from its start until the target length (the authors' code repeat-pads).
    Repeat,
}

/// A `frames × bins` matrix brought to a fixed number of frames.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedLength {
    pub data: Vec<f32>,
    pub frames: usize,
    /// How many leading frames are the utterance itself (the rest is padding), for masking.
    pub valid_frames: usize,
}

/// Pads or truncates row-major `features` (`bins` columns) to `target` frames. Truncation keeps the start.
pub fn fix_length(features: &[f32], bins: usize, target: usize, mode: PadMode) -> Result<FixedLength> {
    if bins == 0 || !features.len().is_multiple_of(bins) {
        return Err(Error::invalid(
            "feature matrix",
            format!("frames × {bins} values"),
            format!("{} values", features.len()),
            "Pass a row-major frames × bins matrix.",
        ));
    }
    if target == 0 {
        return Err(Error::invalid("target frame count", "at least 1", 0, "Use the paper's 500 or another positive length."));
    }
    let frames = features.len() / bins;
    if frames == 0 && mode == PadMode::Repeat {
        return Err(Error::invalid(
            "utterance to repeat-pad",
            "at least one frame",
            "0 frames",
            "The audio is shorter than one analysis window; use zero padding or drop it.",
        ));
    }
    let keep = frames.min(target);
    // The target is the caller's number; it is bounded before anything is allocated.
    let mut data =
        crate::limits::zeros("fixed-length feature matrix (target frames × bins)", target.checked_mul(bins), "Use a target such as the paper's 500 frames.")?;
    data[..keep * bins].copy_from_slice(&features[..keep * bins]);
    if mode == PadMode::Repeat {
        let mut filled = keep * bins;
        while filled < data.len() {
            let take = (data.len() - filled).min(frames * bins);
            data[filled..filled + take].copy_from_slice(&features[..take]);
            filled += take;
        }
    }
    Ok(FixedLength { data, frames: target, valid_frames: keep })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(frames: usize) -> Vec<f32> {
        (0..frames * 2).map(|i| i as f32 + 1.0).collect()
    }

    #[test]
    fn pads_with_zeros_or_repeats_and_truncates_from_the_start() {
        let x = rows(3); // [1,2],[3,4],[5,6]
        let z = fix_length(&x, 2, 5, PadMode::Zero).unwrap();
        assert_eq!(z.data, [1., 2., 3., 4., 5., 6., 0., 0., 0., 0.]);
        assert_eq!((z.frames, z.valid_frames), (5, 3));
        let r = fix_length(&x, 2, 7, PadMode::Repeat).unwrap();
        assert_eq!(r.data, [1., 2., 3., 4., 5., 6., 1., 2., 3., 4., 5., 6., 1., 2.]);
        assert_eq!(r.valid_frames, 3);
        let t = fix_length(&x, 2, 2, PadMode::Repeat).unwrap();
        assert_eq!(t.data, [1., 2., 3., 4.]);
        assert_eq!(t.valid_frames, 2);
        assert_eq!(fix_length(&x, 2, 3, PadMode::Zero).unwrap().data, x);
    }

    #[test]
    fn empty_and_ragged_inputs() {
        assert_eq!(fix_length(&[], 2, 2, PadMode::Zero).unwrap().data, [0.0; 4]);
        assert_eq!(fix_length(&[], 2, 2, PadMode::Repeat).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
        assert!(fix_length(&[1.0; 3], 2, 2, PadMode::Zero).unwrap_err().to_string().contains("3 values"));
        assert!(fix_length(&[1.0; 4], 2, 0, PadMode::Zero).is_err());
    }

    #[test]
    fn an_absurd_target_is_an_error_not_an_allocation() {
        for target in [u32::MAX as usize, 1 << 31, 50_000_000, usize::MAX] {
            let err = fix_length(&[0.0; 800], 80, target, PadMode::Zero).unwrap_err();
            assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT", "{target}");
        }
    }
}
