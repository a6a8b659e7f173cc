//! Predictions along a long recording: fixed windows every `hop` samples, each either marked silent (by its level)
//! or classified like a clip of its own (its fbank, frames fixed as in training, the evaluation forward pass).
//!
//! The recording is decoded and enhanced once by the caller; only the fbank and the forward pass run per
//! window, so a window's numbers equal `predict` on the same cut of the input and of the enhanced audio.
//!
//! - Windows start at 0, hop, 2·hop, … The last one ends at the end of the recording: when the recording is not
//!   a whole number of hops past the last full window, that window is shorter than the others (padded as
//!   training padded short utterances). A tail too short for one fbank frame (25 ms) gives no window.
//! - Silence: a window's level is the mean power of its input samples in dB relative to full scale
//!   (10·log10(mean x²); a full-scale square wave is 0 dB, a full-scale sine −3 dB, digital silence −∞). A window
//!   is silent when its level is below `floor_db` or more than `relative_db` below the loudest window of the
//!   recording. Silent windows are not classified.

use crate::predict::{PredictInput, PredictOutput, predict};
use crate::{Error, Result};
use std::ops::Range;
use trnet_dsp::fbank::{Fbank, FbankOptions};
use trnet_dsp::frames::PadMode;
use trnet_model::TrnetModel;

/// Windows classified per forward pass: bounds the memory of long recordings (features of this many windows
/// at a time) while keeping batches large enough to be efficient.
const CHUNK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineSpec {
    /// Samples per window (at most what the model reads, `features::samples_kept_for`).
    pub window: usize,
    /// Samples between window starts (1..=window).
    pub hop: usize,
    /// A window more than this many dB below the loudest window is silent (a positive number, e.g. 35).
    pub relative_db: f64,
    /// A window below this level (dB re full scale, e.g. −60) is silent.
    pub floor_db: f64,
    /// Factor on the samples before the fbank, as in training (`features.waveformScale`); levels are measured before it.
    pub waveform_scale: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineWindow {
    /// Sample range of the window in the recording.
    pub range: Range<usize>,
    /// Mean power of the window's input samples, dB re full scale (−∞ for digital silence).
    pub level_db: f64,
    /// The prediction; None for a silent window.
    pub output: Option<PredictOutput>,
}

/// The windows of a recording of `len` samples (see the module notes); `min_len` is the shortest tail kept.
pub fn windows(len: usize, window: usize, hop: usize, min_len: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    if window == 0 || hop == 0 {
        return out;
    }
    let mut start = 0;
    while start < len {
        let end = start.saturating_add(window).min(len);
        // Only a tail (shorter than a window) can be shorter than min_len; it has no fbank frame.
        if end - start < min_len && start > 0 {
            break;
        }
        out.push(start..end);
        if end == len {
            break;
        }
        start += hop;
    }
    out
}

/// Mean power in dB re full scale; −∞ for an empty or all-zero slice.
pub fn level_db(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let power = samples.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / samples.len() as f64;
    10.0 * power.log10()
}

/// Which windows are silent, by the rule in the module notes.
pub fn silent(levels: &[f64], relative_db: f64, floor_db: f64) -> Vec<bool> {
    let loudest = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    levels.iter().map(|&l| !(l >= floor_db && l >= loudest - relative_db)).collect()
}

/// The timeline of `wave` (16 kHz mono) and, for the variants that read Xe, `enhanced` (the SE front end's
/// output for the whole of `wave`, same length): each window's level, and the prediction of every window that is
/// not silent, with the fbank `fbank` and the model's training `frames` / `pad`.
pub fn timeline(
    model: &TrnetModel,
    wave: &[f32],
    enhanced: Option<&[f32]>,
    fbank: &FbankOptions,
    frames: usize,
    pad: PadMode,
    spec: &TimelineSpec,
) -> Result<Vec<TimelineWindow>> {
    let mut fb = Fbank::new(fbank.clone())?;
    check(spec, frames, fbank, fb.window_size())?;
    if let Some(e) = enhanced
        && e.len() != wave.len()
    {
        return Err(Error::invalid(
            "enhanced audio",
            format!("{} samples, as the input (the SE front end's output for the whole recording)", wave.len()),
            format!("{} samples", e.len()),
            "Enhance the whole decoded recording and pass its output.",
        ));
    }
    let ranges = windows(wave.len(), spec.window, spec.hop, fb.window_size());
    if ranges.is_empty() || fb.num_frames(ranges[0].len()) == 0 {
        return Err(Error::invalid(
            "audio",
            format!("at least one fbank frame ({} samples)", fb.window_size()),
            format!("{} samples", wave.len()),
            "Pass a longer recording.",
        ));
    }
    let levels: Vec<f64> = ranges.iter().map(|r| level_db(&wave[r.clone()])).collect();
    let silence = silent(&levels, spec.relative_db, spec.floor_db);
    let mut out: Vec<TimelineWindow> = ranges.iter().zip(&levels).map(|(r, &level_db)| TimelineWindow { range: r.clone(), level_db, output: None }).collect();
    let voiced: Vec<usize> = (0..ranges.len()).filter(|&i| !silence[i]).collect();
    for chunk in voiced.chunks(CHUNK) {
        let mut feats = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let r = ranges[i].clone();
            let x = fb.compute(&scaled(&wave[r.clone()], spec.waveform_scale))?.data;
            let xe = enhanced.map(|e| fb.compute(&scaled(&e[r], spec.waveform_scale))).transpose()?.map(|f| f.data);
            feats.push((x, xe));
        }
        let inputs: Vec<PredictInput<'_>> = feats.iter().map(|(x, xe)| PredictInput { x, xe: xe.as_deref() }).collect();
        for (&i, o) in chunk.iter().zip(predict(model, &inputs, frames, pad)?) {
            out[i].output = Some(o);
        }
    }
    Ok(out)
}

/// The samples times `scale` (borrowed when it is 1, the usual case).
fn scaled(samples: &[f32], scale: f32) -> std::borrow::Cow<'_, [f32]> {
    if scale == 1.0 { std::borrow::Cow::Borrowed(samples) } else { std::borrow::Cow::Owned(samples.iter().map(|v| v * scale).collect()) }
}

/// Window and hop the model can read: a window of at least one fbank frame and at most the samples its `frames`
/// use (the rest would be cut, as `predict` cuts), a hop of 1..=window, and finite silence thresholds.
pub fn check(spec: &TimelineSpec, frames: usize, fbank: &FbankOptions, frame_len: usize) -> Result<()> {
    let rate = fbank.sample_frequency;
    let secs = |n: usize| format!("{n} samples ({:.3} s)", n as f64 / rate);
    if spec.window < frame_len {
        return Err(Error::invalid("timeline window", format!("at least one fbank frame, {}", secs(frame_len)), secs(spec.window), "Pass a longer window."));
    }
    if let Some(kept) = crate::features::samples_kept_for(frames, fbank)
        && spec.window > kept
    {
        return Err(Error::invalid(
            "timeline window",
            format!("at most {} (what the model's {frames} frames read)", secs(kept)),
            secs(spec.window),
            "Pass a shorter window; the model would ignore the rest of each window.",
        ));
    }
    if spec.hop == 0 || spec.hop > spec.window {
        return Err(Error::invalid(
            "timeline hop",
            format!("1 to {} (at most the window)", secs(spec.window)),
            secs(spec.hop),
            "Pass a hop no longer than the window.",
        ));
    }
    if !(spec.relative_db.is_finite() && spec.relative_db >= 0.0) || spec.floor_db.is_nan() {
        return Err(Error::invalid(
            "timeline silence thresholds",
            "relative dB ≥ 0 and a floor in dB (or −∞)",
            format!("relative {} dB, floor {} dB", spec.relative_db, spec.floor_db),
            "Pass e.g. relative 35 and floor −60.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::with_torch_seed;
    use tch::nn::VarStore;
    use trnet_model::{ModelConfig, Variant};

    #[test]
    fn windows_cover_the_recording_and_the_tail_is_explicit() {
        // A whole number of hops: full windows only, the last ending at the end.
        assert_eq!(windows(10, 4, 2, 1), vec![0..4, 2..6, 4..8, 6..10]);
        // A tail: one shorter window from the next hop to the end.
        assert_eq!(windows(11, 4, 2, 1), vec![0..4, 2..6, 4..8, 6..10, 8..11]);
        assert_eq!(windows(11, 4, 4, 1), vec![0..4, 4..8, 8..11]);
        // A tail shorter than a frame gives no window; a recording shorter than a window gives one.
        assert_eq!(windows(9, 4, 4, 2), vec![0..4, 4..8]);
        assert_eq!(windows(3, 4, 2, 2), vec![0..3]);
        assert!(windows(0, 4, 2, 1).is_empty());
    }

    #[test]
    fn levels_and_silence_follow_the_documented_rule() {
        assert_eq!(level_db(&[0.0; 8]), f64::NEG_INFINITY);
        assert!((level_db(&[1.0, -1.0]) - 0.0).abs() < 1e-12);
        assert!((level_db(&[0.1; 4]) + 20.0).abs() < 1e-6);
        // Relative to the loudest (−10): −50 is 40 dB below (silent at 35), −40 is 30 below (not); −80 is
        // under the floor; −∞ always silent.
        let levels = [-10.0, -40.0, -50.0, -80.0, f64::NEG_INFINITY];
        assert_eq!(silent(&levels, 35.0, -60.0), [false, false, true, true, true]);
        // A quiet but uniform recording: nothing is silent by the relative rule, only by the floor.
        assert_eq!(silent(&[-55.0, -56.0], 35.0, -60.0), [false, false]);
        assert_eq!(silent(&[-65.0, -66.0], 35.0, -60.0), [true, true]);
    }

    fn tone(len: usize, amp: f32) -> Vec<f32> {
        (0..len).map(|i| amp * ((i as f32) * 0.31).sin() + amp * 0.3 * ((i as f32) * 0.0217).sin()).collect()
    }

    #[test]
    fn a_window_equals_predict_on_the_same_cut_and_silence_is_not_classified() {
        let vs = VarStore::new(tch::Device::Cpu);
        let config = ModelConfig { variant: Variant::Trnet, n_mels: 23, channels: vec![4, 8], num_classes: 3, ..ModelConfig::paper(Variant::Trnet) };
        let model = with_torch_seed(3, || TrnetModel::new(&vs.root(), &config)).unwrap();
        let fbank = FbankOptions { num_mel_bins: 23, ..FbankOptions::default() };
        // 0.5 s of sound, 0.4 s of digital silence, 0.35625 s of sound: 20 100 samples.
        let mut wave = tone(8000, 0.3);
        wave.extend(std::iter::repeat_n(0.0, 6400));
        wave.extend(tone(5700, 0.2));
        let enhanced: Vec<f32> = wave.iter().map(|v| v * 0.8).collect();
        let spec = TimelineSpec { window: 4000, hop: 2000, relative_db: 35.0, floor_db: -60.0, waveform_scale: 1.0 };
        let got = timeline(&model, &wave, Some(&enhanced), &fbank, 40, PadMode::Zero, &spec).unwrap();
        let starts: Vec<usize> = got.iter().map(|w| w.range.start).collect();
        assert_eq!(starts, (0..10).map(|k| k * 2000).collect::<Vec<_>>());
        assert_eq!(got.last().unwrap().range, 18000..20100);
        // Windows wholly inside the silence (8000..14400): 8000..12000 and 10000..14000.
        let silent: Vec<bool> = got.iter().map(|w| w.output.is_none()).collect();
        assert_eq!(silent, [false, false, false, false, true, true, false, false, false, false]);
        let mut fb = Fbank::new(fbank.clone()).unwrap();
        for w in got.iter().filter(|w| w.output.is_some()) {
            let x = fb.compute(&wave[w.range.clone()]).unwrap().data;
            let xe = fb.compute(&enhanced[w.range.clone()]).unwrap().data;
            let want = predict(&model, &[PredictInput { x: &x, xe: Some(&xe) }], 40, PadMode::Zero).unwrap().remove(0);
            let o = w.output.as_ref().unwrap();
            assert_eq!(o.valid_frames, want.valid_frames);
            for (a, b) in o.probs.iter().zip(&want.probs) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            assert!((o.c.unwrap() - want.c.unwrap()).abs() < 1e-5);
        }
        // The short last window is padded: fewer valid frames than a full one.
        let last = got.last().unwrap().output.as_ref().unwrap();
        assert!(last.valid_frames < got[0].output.as_ref().unwrap().valid_frames);
    }

    #[test]
    fn refuses_windows_the_model_cannot_read() {
        let fbank = FbankOptions::default();
        let ok = TimelineSpec { window: 4000, hop: 2000, relative_db: 35.0, floor_db: -60.0, waveform_scale: 1.0 };
        assert!(check(&ok, 100, &fbank, 400).is_ok());
        let code = |s: TimelineSpec| check(&s, 100, &fbank, 400).unwrap_err().code();
        assert_eq!(code(TimelineSpec { window: 399, ..ok }), "TRNET_INVALID_ARGUMENT");
        // 100 frames read (100 + 1) · 160 + 400 = 16560 samples.
        assert!(check(&TimelineSpec { window: 16_560, hop: 100, ..ok }, 100, &fbank, 400).is_ok());
        assert_eq!(code(TimelineSpec { window: 16_561, ..ok }), "TRNET_INVALID_ARGUMENT");
        assert_eq!(code(TimelineSpec { hop: 0, ..ok }), "TRNET_INVALID_ARGUMENT");
        assert_eq!(code(TimelineSpec { hop: 4001, ..ok }), "TRNET_INVALID_ARGUMENT");
        assert_eq!(code(TimelineSpec { relative_db: f64::NAN, ..ok }), "TRNET_INVALID_ARGUMENT");
    }
}
