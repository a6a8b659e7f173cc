//! The training config: one typed, validated struct, saved in every run folder (`train-config.json`) and in
//! the resumable checkpoint. Paper values (§4.2) are the defaults; what the paper leaves open is off by
//! default and documented on its field. JSON names are camelCase; absent fields take their defaults and
//! unknown fields are an error, so a typo cannot silently fall back.
//!
//! The variant is not here: it lives in the `ModelConfig` (it decides the graph and is saved beside every
//! checkpoint), so there is one source of truth for it.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use trnet_model::DeviceSpec;

/// ReduceLROnPlateau on the validation UAR (PyTorch's rule in mode "max", threshold mode "rel", no
/// cooldown): after an epoch whose UAR is not above best·(1 + threshold), a bad-epoch counter grows; once it
/// exceeds `patience`, the learning rate becomes max(lr·factor, minLr) and the counter restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LrPlateau {
    pub factor: f64,
    pub patience: usize,
    pub threshold: f64,
    pub min_lr: f64,
}

impl Default for LrPlateau {
    fn default() -> Self {
        LrPlateau { factor: 0.1, patience: 10, threshold: 1e-4, min_lr: 0.0 }
    }
}

/// How Adam updates the parameters (adam.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdamUpdate {
    /// PyTorch's single-tensor Adam, op for op: about seven kernels per parameter tensor (the default; the
    /// known-answer tests against torch.optim.Adam hold for it).
    #[default]
    PerTensor,
    /// One update over all parameters held in one flat buffer: about ten kernels per step in all, for GPUs,
    /// where each kernel launch costs CPU time. Equal to the per-tensor update to float32 rounding.
    Flat,
}

/// The dtype of mixed precision (`mixedPrecision`), see precision.rs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MixedPrecisionDtype {
    /// float16 with dynamic loss scaling (PyTorch AMP's recipe; the default).
    #[default]
    Float16,
    /// bfloat16: float32's exponent range, so no loss scaling.
    Bfloat16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Maximum epochs (paper: 80). May be raised when resuming.
    pub epochs: usize,
    /// Utterances per step (paper: 32). The last batch of an epoch keeps the remainder.
    pub batch_size: usize,
    /// Adam's learning rate (paper: 1e-3).
    pub learning_rate: f64,
    /// Adam's β1, β2 and ε (PyTorch defaults).
    pub beta1: f64,
    pub beta2: f64,
    pub adam_eps: f64,
    /// L2 penalty added to the gradient, as PyTorch's Adam(weight_decay=…) (paper: none).
    pub weight_decay: f64,
    /// Stop after this many epochs without a new best validation UAR (`null`: run all epochs).
    pub early_stopping_patience: Option<usize>,
    /// Reduce the learning rate when the validation UAR stalls (`null`: constant rate, as in the paper).
    pub lr_plateau: Option<LrPlateau>,
    /// Clip the global L2 norm of the gradients to this value before each step (`null`: no clipping).
    pub grad_clip_norm: Option<f64>,
    /// Seeds the weight initialisation and the per-epoch shuffles.
    pub seed: u64,
    /// "auto" (a GPU when libtorch sees one), "cpu", "cuda" or "cuda:N".
    pub device: String,
    /// libtorch intra-op threads (`null`: leave libtorch's setting), set with at::set_num_threads when
    /// the run starts on the training thread; the setting is libtorch's, so it can also affect other
    /// libtorch work in the process. Bit-identical results need the same count.
    pub threads: Option<usize>,
    /// CUDA only: float16 autocast for forward and loss, with dynamic loss scaling (PyTorch AMP's recipe;
    /// parameters and Adam state stay float32). With device "cpu" it is an error; with "auto" on a machine
    /// without a GPU it is ignored, and the report says it was not used.
    pub mixed_precision: bool,
    /// Batches assembled ahead on a worker thread (0: on the training thread). Does not change results.
    pub prefetch: usize,
    /// Utterances per validation batch (`null`: `batchSize`).
    pub eval_batch_size: Option<usize>,
    /// The SNR-aware module's parameters (`snr.*`) learn at `learningRate` times this (default 1: one
    /// rate for all, the paper's). The head starts at weight 0 and d moves little with the SNR, so at 1e-3 a
    /// short run barely spreads c (issue 15).
    pub snr_head_lr_multiplier: f64,
    /// Steps whose losses are read from the device together (default 1: after every step). Reading a loss
    /// waits for the device, so on a GPU a larger value (e.g. 50) lets the CPU queue the next steps while the
    /// device runs. Results do not change: the step events (delivered together when their losses are read),
    /// the epoch's loss means, the divergence check (which names the same step) and a cancelled run's saved
    /// loss sums are the same for every value. Reads also happen at the end of every epoch and at a cancel.
    pub loss_read_every: usize,
    /// "per-tensor" (default) or "flat"; see `AdamUpdate`. A run resumes with the update it started with.
    pub adam_update: AdamUpdate,
    /// Load the training items onto the device once per train/resume call and gather each batch there by
    /// index (resident.rs), instead of reading and copying every batch. Costs device memory (an IEMOCAP fold's
    /// TRNet items at 500 frames: 4.2 GB); does not change results.
    pub resident_features: bool,
    /// The dtype autocast computes in when `mixedPrecision` is on: "float16" (default, with loss scaling) or
    /// "bfloat16" (no loss scaling). Ignored when mixed precision is off.
    pub mixed_precision_dtype: MixedPrecisionDtype,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 80,
            batch_size: 32,
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            adam_eps: 1e-8,
            weight_decay: 0.0,
            early_stopping_patience: None,
            lr_plateau: None,
            grad_clip_norm: None,
            seed: 0,
            device: "auto".into(),
            threads: None,
            mixed_precision: false,
            prefetch: 2,
            eval_batch_size: None,
            snr_head_lr_multiplier: 1.0,
            loss_read_every: 1,
            adam_update: AdamUpdate::PerTensor,
            resident_features: false,
            mixed_precision_dtype: MixedPrecisionDtype::Float16,
        }
    }
}

const MAX_EPOCHS: usize = 1_000_000;
const MAX_BATCH: usize = 1 << 16;
/// Pending steps keep a few bytes of device memory each; more than this buys nothing.
const MAX_LOSS_READ_EVERY: usize = 100_000;

impl TrainConfig {
    pub fn eval_batch(&self) -> usize {
        self.eval_batch_size.unwrap_or(self.batch_size)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, expected: &str, found: String, fix: &str| Err(Error::invalid_config(field, expected, found, fix));
        if self.epochs == 0 || self.epochs > MAX_EPOCHS {
            return bad("epochs", &format!("1..={MAX_EPOCHS}"), self.epochs.to_string(), "Use 80 (the paper's) or another positive count.");
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            return bad("batchSize", &format!("1..={MAX_BATCH}"), self.batch_size.to_string(), "Use 32 (the paper's).");
        }
        if let Some(b) = self.eval_batch_size
            && (b == 0 || b > MAX_BATCH)
        {
            return bad("evalBatchSize", &format!("null or 1..={MAX_BATCH}"), b.to_string(), "Use null to take batchSize.");
        }
        if !self.learning_rate.is_finite() || self.learning_rate < 0.0 {
            return bad("learningRate", "a finite rate ≥ 0", self.learning_rate.to_string(), "Use 1e-3 (the paper's).");
        }
        for (field, v) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !v.is_finite() || !(0.0..1.0).contains(&v) {
                return bad(field, "a number in [0, 1)", v.to_string(), "Use PyTorch's defaults, 0.9 and 0.999.");
            }
        }
        if !self.snr_head_lr_multiplier.is_finite() || self.snr_head_lr_multiplier <= 0.0 || self.snr_head_lr_multiplier > 1e4 {
            return bad(
                "snrHeadLrMultiplier",
                "a number in (0, 10000]",
                self.snr_head_lr_multiplier.to_string(),
                "Use 1 (one rate for every parameter, the paper's) or e.g. 10.",
            );
        }
        if !self.adam_eps.is_finite() || self.adam_eps <= 0.0 {
            return bad("adamEps", "a small positive number", self.adam_eps.to_string(), "Use 1e-8 (PyTorch's default).");
        }
        if !self.weight_decay.is_finite() || self.weight_decay < 0.0 {
            return bad("weightDecay", "a finite number ≥ 0", self.weight_decay.to_string(), "Use 0 (the paper's).");
        }
        if self.early_stopping_patience == Some(0) {
            return bad("earlyStoppingPatience", "null or at least 1 epoch", "0".into(), "Use null to run all epochs.");
        }
        if let Some(p) = &self.lr_plateau {
            if !(p.factor.is_finite() && p.factor > 0.0 && p.factor < 1.0) {
                return bad("lrPlateau.factor", "a number in (0, 1)", p.factor.to_string(), "Use 0.1 or 0.5.");
            }
            if !p.threshold.is_finite() || p.threshold < 0.0 {
                return bad("lrPlateau.threshold", "a finite number ≥ 0", p.threshold.to_string(), "Use 1e-4 (PyTorch's default).");
            }
            if !p.min_lr.is_finite() || p.min_lr < 0.0 {
                return bad("lrPlateau.minLr", "a finite rate ≥ 0", p.min_lr.to_string(), "Use 0.");
            }
        }
        if let Some(c) = self.grad_clip_norm
            && (!c.is_finite() || c <= 0.0)
        {
            return bad("gradClipNorm", "null or a positive norm", c.to_string(), "Use e.g. 10, or null for no clipping.");
        }
        if self.threads == Some(0) || self.threads.is_some_and(|t| t > 1024) {
            return bad("threads", "null or 1..=1024", format!("{:?}", self.threads), "Use null to keep libtorch's setting, or the number of cores.");
        }
        if self.loss_read_every == 0 || self.loss_read_every > MAX_LOSS_READ_EVERY {
            return bad(
                "lossReadEvery",
                &format!("1..={MAX_LOSS_READ_EVERY} steps"),
                self.loss_read_every.to_string(),
                "Use 1 (read after every step) or e.g. 50 on a GPU.",
            );
        }
        if self.prefetch > 64 {
            return bad("prefetch", "0..=64 batches", self.prefetch.to_string(), "Use 2.");
        }
        let device = self.device_spec()?;
        if self.mixed_precision && device == DeviceSpec::Cpu {
            return bad(
                "mixedPrecision",
                "false with device \"cpu\" (mixed precision is implemented for CUDA only)",
                "true".into(),
                "Set mixedPrecision to false, or use device \"cuda\" / \"auto\".",
            );
        }
        Ok(())
    }

    pub fn device_spec(&self) -> Result<DeviceSpec> {
        trnet_model::parse_device(&self.device).map_err(|e| match e {
            trnet_model::Error::InvalidArgument(d) => Error::invalid_config("device", d.expected, d.found, d.fix),
            other => other.into(),
        })
    }

    pub fn to_json(&self) -> String {
        // Plain numbers, strings and options always serialise.
        serde_json::to_string_pretty(self).expect("TrainConfig serialises to JSON")
    }

    /// Parses and validates a config.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: TrainConfig = serde_json::from_str(text).map_err(|e| {
            Error::invalid_config(
                "JSON",
                "a TrainConfig object (camelCase fields, see config.rs)",
                e.to_string(),
                "Fix the field named in the message, or delete it to take its default.",
            )
        })?;
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_values() {
        let c = TrainConfig::default();
        assert_eq!((c.epochs, c.batch_size, c.learning_rate), (80, 32, 1e-3));
        assert_eq!((c.beta1, c.beta2, c.adam_eps, c.weight_decay), (0.9, 0.999, 1e-8, 0.0));
        assert!(c.early_stopping_patience.is_none() && c.lr_plateau.is_none() && c.grad_clip_norm.is_none());
        assert_eq!(c.eval_batch(), 32);
        assert_eq!(c.snr_head_lr_multiplier, 1.0, "one learning rate for every parameter");
        c.validate().unwrap();
    }

    #[test]
    fn json_round_trip_uses_camel_case() {
        let c = TrainConfig {
            epochs: 3,
            lr_plateau: Some(LrPlateau { factor: 0.5, patience: 2, ..Default::default() }),
            grad_clip_norm: Some(10.0),
            early_stopping_patience: Some(5),
            device: "cpu".into(),
            threads: Some(2),
            seed: u64::MAX,
            snr_head_lr_multiplier: 10.0,
            ..Default::default()
        };
        let text = c.to_json();
        for key in
            ["\"batchSize\"", "\"lrPlateau\"", "\"minLr\"", "\"gradClipNorm\"", "\"earlyStoppingPatience\"", "\"mixedPrecision\"", "\"snrHeadLrMultiplier\""]
        {
            assert!(text.contains(key), "{key} missing in {text}");
        }
        assert_eq!(TrainConfig::from_json(&text).unwrap(), c);
    }

    #[test]
    fn absent_fields_default_and_unknown_or_bad_fields_are_refused() {
        let c = TrainConfig::from_json(r#"{"epochs": 4, "lrPlateau": {"patience": 3}}"#).unwrap();
        assert_eq!((c.epochs, c.batch_size, c.lr_plateau.unwrap().factor), (4, 32, 0.1));
        let err = TrainConfig::from_json(r#"{"epoch": 4}"#).unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_CONFIG");
        assert!(err.to_string().contains("epoch"), "{err}");
        for bad in [
            r#"{"epochs": 0}"#,
            r#"{"batchSize": 0}"#,
            r#"{"learningRate": -1}"#,
            r#"{"beta2": 1.0}"#,
            r#"{"gradClipNorm": 0}"#,
            r#"{"device": "gpu"}"#,
            r#"{"threads": 0}"#,
            r#"{"snrHeadLrMultiplier": 0}"#,
            r#"{"snrHeadLrMultiplier": 1e9}"#,
        ] {
            let err = TrainConfig::from_json(bad).unwrap_err();
            assert_eq!(err.code(), "TRNET_INVALID_CONFIG", "{bad}: {err}");
        }
    }

    #[test]
    fn mixed_precision_on_cpu_is_an_error_and_on_auto_is_allowed() {
        let err = TrainConfig { mixed_precision: true, device: "cpu".into(), ..Default::default() }.validate().unwrap_err();
        assert!(err.to_string().contains("CUDA only"), "{err}");
        TrainConfig { mixed_precision: true, device: "auto".into(), ..Default::default() }.validate().unwrap();
        // bfloat16 too: CUDA autocast only (tch's autocast runs nothing in reduced precision on the CPU).
        let bf16 = TrainConfig { mixed_precision: true, mixed_precision_dtype: MixedPrecisionDtype::Bfloat16, device: "cpu".into(), ..Default::default() };
        let err = bf16.validate().unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_CONFIG");
        assert!(err.to_string().contains("mixedPrecision"), "{err}");
        let json = r#"{"mixedPrecision": true, "mixedPrecisionDtype": "bfloat16", "device": "cuda"}"#;
        assert_eq!(TrainConfig::from_json(json).unwrap().mixed_precision_dtype, MixedPrecisionDtype::Bfloat16);
        assert!(TrainConfig::from_json(r#"{"mixedPrecisionDtype": "bf16"}"#).is_err());
    }
}
