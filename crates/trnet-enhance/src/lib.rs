//! Speech-enhancement front ends behind one trait ([`Enhancer`]): noisy 16 kHz audio in, enhanced audio of the
//! same length out.
//!
//! - `classical`: weight-free MMSE log-spectral amplitude estimator over a minimum-statistics noise tracker
//!   (`min_stats`); the default when no model file is configured.
//! - `gtcrn`: GTCRN through its published streaming ONNX export (frame by frame) or a whole-utterance export
//!   made by `scripts/export-gtcrn-offline.py` (one run per utterance); which one is read from the model.
//! - `cmgan`: a user-supplied ONNX export of CMGAN's generator with CMGAN's own pre/post-processing.
//! - `card`: any waveform→waveform or spectrum→spectrum ONNX model described by a JSON model card.
//! - `spectral`: the engine shared by CMGAN and spectrum cards (layouts, compression, normalisation).
//! - `onnx`: ONNX Runtime plumbing: loading the runtime library, sessions, checked inputs.
//! - `gru`, `gru_op`, `onnx_rewrite`: a faster GRU for ONNX models (GTCRN spends most of its run in GRU nodes),
//!   registered with ONNX Runtime as a custom operator that the session's copy of the graph is rewritten to use.
//! - `onnx_fuse`: equivalent, cheaper rewrites of the session's copy of an ONNX graph (GTCRN's export).
//! - `quality`: SNR and SI-SDR against a clean reference.
//! - `cache`: enhanced audio on disk, keyed by enhancer fingerprint and input.
//! - `pool`: the enhancer pool with its cache, on all cores; batch enhancement and feature building both use it.

pub mod cache;
pub mod card;
pub mod classical;
pub mod cmgan;
pub mod enhancer;
pub mod error;
pub mod gru;
pub mod gru_op;
pub mod gtcrn;
pub mod min_stats;
pub mod onnx;
pub mod onnx_fuse;
pub mod onnx_rewrite;
pub mod pool;
pub mod quality;
pub mod spectral;

pub use enhancer::Enhancer;
pub use error::Error;
pub use onnx::SessionOptions;
pub use pool::{Enhanced, EnhancerPool};
pub type Result<T, E = Error> = std::result::Result<T, E>;

use std::path::PathBuf;

/// Which enhancer to build. Model paths are configuration; no model ships with trnet.
#[derive(Debug, Clone, PartialEq)]
pub enum EnhancerSpec {
    /// The weight-free MMSE-LSA enhancer with its default settings.
    Classical,
    /// A GTCRN ONNX export: the streaming one (e.g. `gtcrn_simple.onnx`) or a whole-utterance one
    /// (`scripts/export-gtcrn-offline.py`), told apart by their inputs.
    Gtcrn { model: PathBuf },
    /// An ONNX export of CMGAN's generator.
    Cmgan { model: PathBuf },
    /// A model card (JSON) naming an ONNX model and how to run it.
    Card { card: PathBuf },
}

/// Builds the enhancer `spec` describes. ONNX models are loaded and checked against their contract here, so a
/// wrong file fails now rather than on the first utterance.
pub fn build(spec: &EnhancerSpec, options: SessionOptions) -> Result<Box<dyn Enhancer>> {
    Ok(match spec {
        EnhancerSpec::Classical => Box::new(classical::Classical::new(classical::ClassicalConfig::default())?),
        EnhancerSpec::Gtcrn { model } => Box::new(gtcrn::Gtcrn::load(model, options)?),
        EnhancerSpec::Cmgan { model } => Box::new(cmgan::load(model, options)?),
        EnhancerSpec::Card { card } => card::load(card, options)?,
    })
}
