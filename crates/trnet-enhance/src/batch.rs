//! Enhancing many utterances on all cores: one enhancer (and ONNX session, 1 intra-op thread by default) per
//! worker thread, results in input order, optional cache, progress and cancellation.

use crate::cache::EnhanceCache;
use crate::{build, EnhancerSpec, Result, SessionOptions};
use std::sync::Mutex;
use trnet_dsp::batch::{par_map, BatchControl};

/// One enhanced utterance and whether it came from the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Enhanced {
    pub samples: Vec<f32>,
    pub cached: bool,
}

/// Enhances every input; the enhancer is built (and an ONNX model checked) once before any work, so a bad
/// spec fails the call instead of every item. `None` marks items skipped after cancellation.
///
/// Enhancers are pooled: the one built for the check serves the first item, and a worker builds another only
/// when every built one is busy, so a batch loads its model at most once per worker thread. (Creating an ONNX
/// session takes 0.05–0.2 s, longer than enhancing a few seconds of audio with the whole-utterance GTCRN.)
pub fn enhance_batch(spec: &EnhancerSpec, options: SessionOptions, inputs: &[&[f32]], cache: Option<&EnhanceCache>, control: &BatchControl<'_>) -> Result<Vec<Option<Result<Enhanced>>>> {
    let pool = Mutex::new(vec![build(spec, options)?]);
    let take = || pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
    Ok(par_map(
        inputs,
        |noisy| {
            let mut enhancer = match take() {
                Some(e) => e,
                None => build(spec, options).map_err(|e| crate::Error::InvalidArgument {
                    what: "enhancer on a worker thread".into(),
                    expected: "the same model that loaded a moment ago".into(),
                    found: e.to_string(),
                    fix: "Check the model file is not being replaced while enhancing.".into(),
                })?,
            };
            let result = match cache {
                Some(c) => c.enhance(enhancer.as_mut(), noisy).map(|(samples, cached)| Enhanced { samples, cached }),
                None => enhancer.enhance(noisy).map(|samples| Enhanced { samples, cached: false }),
            };
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(enhancer);
            result
        },
        control,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_equals_one_at_a_time_and_fills_the_cache() {
        let inputs: Vec<Vec<f32>> = (0..5).map(|k| (0..4000).map(|i| ((i * (k + 1)) as f32 * 0.01).sin() * 0.3 + ((i * 7919 % 101) as f32 / 101.0 - 0.5) * 0.05).collect()).collect();
        let refs: Vec<&[f32]> = inputs.iter().map(|v| &v[..]).collect();
        let dir = std::env::temp_dir().join(format!("trnet-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = EnhanceCache::open(&dir).unwrap();
        let first = enhance_batch(&EnhancerSpec::Classical, SessionOptions::default(), &refs, Some(&cache), &BatchControl::NONE).unwrap();
        let again = enhance_batch(&EnhancerSpec::Classical, SessionOptions::default(), &refs, Some(&cache), &BatchControl::NONE).unwrap();
        let mut single = build(&EnhancerSpec::Classical, SessionOptions::default()).unwrap();
        for ((a, b), x) in first.iter().zip(&again).zip(&refs) {
            let (a, b) = (a.as_ref().unwrap().as_ref().unwrap(), b.as_ref().unwrap().as_ref().unwrap());
            assert!(!a.cached && b.cached);
            assert_eq!(a.samples, b.samples);
            assert_eq!(a.samples, single.enhance(x).unwrap());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_model_fails_the_call() {
        let err = enhance_batch(&EnhancerSpec::Gtcrn { model: "/no/model.onnx".into() }, SessionOptions::default(), &[&[0.0; 10]], None, &BatchControl::NONE).unwrap_err();
        assert_eq!(err.code(), "TRNET_MODEL_LOAD");
    }
}
