//! The enhancer pool: one built enhancer spec, a set of enhancers to lend to worker threads, and the cache of
//! enhanced audio. Batch enhancement (`enhanceBatch`) and feature building both enhance through it, so both
//! load a model the same way, share cache entries, and report failures per input instead of hiding them.
//!
//! Enhancers need `&mut` and are not `Sync`, so a worker borrows one for the length of one input. The first
//! enhancer is built when the pool is made (a bad spec or model file fails there, before any audio), and a
//! worker builds another only when every built one is busy: a pool loads its model at most once per worker
//! thread. (Creating an ONNX session takes 0.05–0.2 s, longer than enhancing a few seconds of audio with the
//! whole-utterance GTCRN.)

use crate::cache::EnhanceCache;
use crate::{Enhancer, EnhancerSpec, Error, Result, SessionOptions, build};
use std::sync::Mutex;
use trnet_dsp::batch::{BatchControl, par_map};

/// One enhanced input and whether it came from the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Enhanced {
    pub samples: Vec<f32>,
    pub cached: bool,
}

pub struct EnhancerPool {
    spec: EnhancerSpec,
    options: SessionOptions,
    cache: Option<EnhanceCache>,
    idle: Mutex<Vec<Box<dyn Enhancer>>>,
    name: String,
    fingerprint: String,
}

impl EnhancerPool {
    /// Builds the first enhancer of `spec` now, so that a missing or mismatched model fails here.
    pub fn new(spec: EnhancerSpec, options: SessionOptions, cache: Option<EnhanceCache>) -> Result<Self> {
        let first = build(&spec, options)?;
        let (name, fingerprint) = (first.name().to_string(), first.fingerprint());
        Ok(EnhancerPool { spec, options, cache, idle: Mutex::new(vec![first]), name, fingerprint })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The enhancer's fingerprint (see `Enhancer::fingerprint`): what keys its cache entries and the feature
    /// stores built with it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn cache(&self) -> Option<&EnhanceCache> {
        self.cache.as_ref()
    }

    /// Enhances one input with a borrowed enhancer, through the cache when the pool has one. Safe to call
    /// from many threads at once.
    pub fn enhance(&self, noisy: &[f32]) -> Result<Enhanced> {
        let mut enhancer = match self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            Some(e) => e,
            None => build(&self.spec, self.options).map_err(|e| {
                Error::invalid(
                    "enhancer on a worker thread",
                    "the same model that loaded a moment ago",
                    e,
                    "Check the model file is not being replaced while enhancing.",
                )
            })?,
        };
        let result = match &self.cache {
            Some(c) => c.enhance(enhancer.as_mut(), noisy).map(|(samples, cached)| Enhanced { samples, cached }),
            None => enhancer.enhance(noisy).map(|samples| Enhanced { samples, cached: false }),
        };
        // A failed input leaves the enhancer usable (state is reset per call), so it goes back either way.
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(enhancer);
        result
    }

    /// Enhances every input on all cores, results in input order. `None` marks inputs skipped after
    /// cancellation; an input that fails is an `Err` of its own and does not stop the others.
    pub fn enhance_batch(&self, inputs: &[&[f32]], control: &BatchControl<'_>) -> Vec<Option<Result<Enhanced>>> {
        par_map(inputs, |noisy| self.enhance(noisy), control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Vec<Vec<f32>> {
        (0..5).map(|k| (0..4000).map(|i| ((i * (k + 1)) as f32 * 0.01).sin() * 0.3 + ((i * 7919 % 101) as f32 / 101.0 - 0.5) * 0.05).collect()).collect()
    }

    #[test]
    fn batch_equals_one_at_a_time_and_fills_the_cache() {
        let inputs = inputs();
        let refs: Vec<&[f32]> = inputs.iter().map(|v| &v[..]).collect();
        let dir = std::env::temp_dir().join(format!("trnet-pool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pool = EnhancerPool::new(EnhancerSpec::Classical, SessionOptions::default(), Some(EnhanceCache::open(&dir).unwrap())).unwrap();
        let first = pool.enhance_batch(&refs, &BatchControl::NONE);
        // A second pool over the same folder: the cache is on disk, not in the pool.
        let again = EnhancerPool::new(EnhancerSpec::Classical, SessionOptions::default(), Some(EnhanceCache::open(&dir).unwrap()))
            .unwrap()
            .enhance_batch(&refs, &BatchControl::NONE);
        let mut single = build(&EnhancerSpec::Classical, SessionOptions::default()).unwrap();
        assert_eq!(pool.fingerprint(), single.fingerprint());
        for ((a, b), x) in first.iter().zip(&again).zip(&refs) {
            let (a, b) = (a.as_ref().unwrap().as_ref().unwrap(), b.as_ref().unwrap().as_ref().unwrap());
            assert!(!a.cached && b.cached);
            assert_eq!(a.samples, b.samples);
            assert_eq!(a.samples, single.enhance(x).unwrap());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_input_is_its_own_error_and_the_rest_still_enhance() {
        let mut inputs = inputs();
        inputs[2][100] = f32::NAN;
        let refs: Vec<&[f32]> = inputs.iter().map(|v| &v[..]).collect();
        let pool = EnhancerPool::new(EnhancerSpec::Classical, SessionOptions::default(), None).unwrap();
        let out = pool.enhance_batch(&refs, &BatchControl::NONE);
        for (i, r) in out.iter().enumerate() {
            match r.as_ref().unwrap() {
                Err(e) if i == 2 => assert_eq!(e.code(), "TRNET_INVALID_ARGUMENT"),
                Ok(e) => assert_eq!(e.samples.len(), 4000, "item {i}"),
                Err(e) => panic!("item {i} failed: {e}"),
            }
        }
        // Nothing of a failed input is cached or returned as if enhanced.
        assert!(pool.enhance(refs[2]).is_err());
    }

    #[test]
    fn a_bad_model_fails_when_the_pool_is_made() {
        let err = EnhancerPool::new(EnhancerSpec::Gtcrn { model: "/no/model.onnx".into() }, SessionOptions::default(), None).err().unwrap();
        assert_eq!(err.code(), "TRNET_MODEL_LOAD");
    }
}
