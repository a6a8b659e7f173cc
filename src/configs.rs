//! The JavaScript shape of the engine's configs (trnet_model::ModelConfig, trnet_train::TrainConfig), for
//! the generated TypeScript declarations. At run time a config crosses as plain JSON and is parsed by the
//! engine struct itself, so that an unknown field is an error naming it (napi would drop it silently) and
//! every default and check lives in one place. These declarations are kept equal to the engine structs by the
//! tests below: a field added, renamed or removed on either side fails them, and one renamed here fails `tsc`
//! (test/types.test-d.ts).
//!
//! Every field is optional (absent: the paper's default) except `variant`; a field the engine accepts as
//! `null` is `Option<Option<_>>`, declared `field?: T | undefined | null`.

// Declarations: Rust never builds these values outside the tests; napi's type generation reads them.
#![allow(dead_code)]

use crate::reports::Variant;
use napi_derive::napi;
use serde::{Deserialize, Serialize};

/// What the classifier reads: the FiLM-calibrated embedding (paper) or the raw one.
#[napi(string_enum = "kebab-case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassifierInput {
    Calibrated,
    Raw,
}

/// What the encoder reads in TRNet w/o L_low: the enhanced spectrogram or the c-weighted mix.
#[napi(string_enum = "kebab-case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoLowEncoderInput {
    Enhanced,
    Mixed,
}

/// How the heads are initialised: neutral (FiLM starts as the identity, c at ½) or PyTorch's defaults.
#[napi(string_enum = "kebab-case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadInit {
    Neutral,
    TorchDefault,
    SnrRandom,
}

/// How Adam updates the parameters (crates/trnet-train/src/config.rs, AdamUpdate).
#[napi(string_enum = "kebab-case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdamUpdate {
    PerTensor,
    Flat,
}

/// The dtype of mixed precision (crates/trnet-train/src/config.rs, MixedPrecisionDtype).
#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MixedPrecisionDtype {
    Float16,
    Bfloat16,
}

/// How eq. 3 bounds c: the paper's hard clamp, a clamp that leaks gradient outside [0, 1], or a sigmoid.
#[napi(string_enum = "kebab-case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnrClamp {
    Hard,
    Leaky,
    Sigmoid,
}

/// crates/trnet-model/src/config.rs (ModelConfig), where every field is documented; paper values are the
/// defaults.
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelConfig {
    pub variant: Variant,
    /// Log-Mel bins of the input spectrograms (paper: 80).
    pub n_mels: Option<u32>,
    /// Output channels of the encoder's conv blocks (paper: [32, 64, 128, 256]).
    pub channels: Option<Vec<u32>>,
    /// Square conv kernel size, odd (paper: 5).
    pub kernel_size: Option<u32>,
    /// Stride of each block (paper: 2).
    pub stride: Option<u32>,
    /// Convs per residual block: 1 (paper) or 2.
    pub convs_per_block: Option<u32>,
    /// Attention pooling: null (a learned vector, the default) or the hidden size k of v·tanh(W x + b).
    pub attention_hidden: Option<Option<u32>>,
    /// Emotion classes (paper: 4).
    pub num_classes: Option<u32>,
    pub classifier_input: Option<ClassifierInput>,
    pub no_low_encoder_input: Option<NoLowEncoderInput>,
    /// Weight α of L_low (paper: 0.5).
    pub alpha: Option<f64>,
    /// Weight β of L_high (paper: 0.5).
    pub beta: Option<f64>,
    pub cosine_eps: Option<f64>,
    /// BatchNorm ε and momentum (PyTorch defaults).
    pub bn_eps: Option<f64>,
    pub bn_momentum: Option<f64>,
    pub head_init: Option<HeadInit>,
    /// Eq. 3's bound on c (default "hard", the paper's clamp).
    pub snr_clamp: Option<SnrClamp>,
    /// Standardise d per bin before the SNR head (default false, the paper's).
    pub snr_standardize: Option<bool>,
    /// Remove each bin's mean over time before eq. 1's cosine (default false, the paper's).
    pub snr_centred: Option<bool>,
}

/// ReduceLROnPlateau on the validation UAR (TrainConfig.lrPlateau).
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LrPlateau {
    /// Default 0.1.
    pub factor: Option<f64>,
    /// Epochs without improvement before the rate drops (default 10).
    pub patience: Option<u32>,
    /// Relative improvement that counts (default 1e-4).
    pub threshold: Option<f64>,
    /// Default 0.
    pub min_lr: Option<f64>,
}

/// crates/trnet-train/src/config.rs (TrainConfig), where every field is documented; paper values are the
/// defaults (80 epochs, batch 32, Adam 1e-3).
#[napi(object)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: Option<u32>,
    pub batch_size: Option<u32>,
    pub learning_rate: Option<f64>,
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    pub adam_eps: Option<f64>,
    pub weight_decay: Option<f64>,
    /// null: run all epochs.
    pub early_stopping_patience: Option<Option<u32>>,
    /// null: a constant rate (the paper).
    pub lr_plateau: Option<Option<LrPlateau>>,
    /// null: no clipping.
    pub grad_clip_norm: Option<Option<f64>>,
    pub seed: Option<i64>,
    /// "auto" (default), "cpu", "cuda" or "cuda:N".
    pub device: Option<String>,
    /// libtorch intra-op threads; null keeps libtorch's setting.
    pub threads: Option<Option<u32>>,
    /// CUDA only: float16 autocast with dynamic loss scaling.
    pub mixed_precision: Option<bool>,
    /// Batches assembled ahead on a worker thread (default 2).
    pub prefetch: Option<u32>,
    /// Utterances per validation batch; null: batchSize.
    pub eval_batch_size: Option<Option<u32>>,
    /// The SNR-aware module's learning rate as a multiple of learningRate (default 1, the paper's).
    pub snr_head_lr_multiplier: Option<f64>,
    /// Steps whose losses are read from the device together (default 1); larger keeps a GPU busy. Results do
    /// not change; step events arrive together when their losses are read.
    pub loss_read_every: Option<u32>,
    /// "per-tensor" (default, PyTorch's single-tensor Adam) or "flat" (one update over a flat buffer, for GPUs).
    pub adam_update: Option<AdamUpdate>,
    /// Load the training items onto the device once and gather batches there (default false); results unchanged.
    pub resident_features: Option<bool>,
    /// With mixedPrecision: "float16" (default, loss scaling) or "bfloat16" (no loss scaling).
    pub mixed_precision_dtype: Option<MixedPrecisionDtype>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Engine config → JSON → this declaration (refuses fields it lacks) → JSON with every field it has,
    /// none null (refused by the engine when it lacks them) → the same engine config.
    fn round_trip<Js: Serialize + for<'de> Deserialize<'de>, Engine: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(engine: &Engine) {
        let value = serde_json::to_value(engine).unwrap();
        let js: Js = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("the declaration lacks an engine field or takes another type: {e}"));
        let back = serde_json::to_value(&js).unwrap();
        let nulls: Vec<&String> = back.as_object().unwrap().iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k).collect();
        assert!(nulls.is_empty(), "fields the engine did not fill (not engine fields, or the sample leaves them null): {nulls:?}");
        let engine_back: Engine = serde_json::from_value(back).unwrap_or_else(|e| panic!("the declaration has a field the engine lacks: {e}"));
        assert_eq!(&engine_back, engine);
    }

    #[test]
    fn model_config_declaration_matches_the_engine() {
        // Every nullable field set, so that every declared field is filled by the engine's JSON.
        let engine = trnet_model::ModelConfig { attention_hidden: Some(16), ..trnet_model::ModelConfig::paper(trnet_model::Variant::TrnetNoLow) };
        round_trip::<ModelConfig, _>(&engine);
    }

    #[test]
    fn train_config_declaration_matches_the_engine() {
        let engine = trnet_train::TrainConfig {
            early_stopping_patience: Some(5),
            lr_plateau: Some(trnet_train::LrPlateau::default()),
            grad_clip_norm: Some(10.0),
            threads: Some(2),
            eval_batch_size: Some(64),
            seed: 7,
            ..Default::default()
        };
        round_trip::<TrainConfig, _>(&engine);
    }

    #[test]
    fn every_variant_and_choice_has_the_engines_name() {
        for v in trnet_model::Variant::ALL {
            assert_eq!(serde_json::to_value(Variant::from(v)).unwrap(), serde_json::to_value(v).unwrap());
        }
        let names = |v: Value| v.as_str().unwrap().to_string();
        use trnet_model::config as m;
        assert_eq!(names(serde_json::to_value(ClassifierInput::Raw).unwrap()), names(serde_json::to_value(m::ClassifierInput::Raw).unwrap()));
        assert_eq!(names(serde_json::to_value(ClassifierInput::Calibrated).unwrap()), names(serde_json::to_value(m::ClassifierInput::Calibrated).unwrap()));
        assert_eq!(names(serde_json::to_value(NoLowEncoderInput::Mixed).unwrap()), names(serde_json::to_value(m::NoLowInput::Mixed).unwrap()));
        assert_eq!(names(serde_json::to_value(NoLowEncoderInput::Enhanced).unwrap()), names(serde_json::to_value(m::NoLowInput::Enhanced).unwrap()));
        assert_eq!(names(serde_json::to_value(HeadInit::TorchDefault).unwrap()), names(serde_json::to_value(m::HeadInit::TorchDefault).unwrap()));
        assert_eq!(names(serde_json::to_value(HeadInit::Neutral).unwrap()), names(serde_json::to_value(m::HeadInit::Neutral).unwrap()));
        assert_eq!(names(serde_json::to_value(HeadInit::SnrRandom).unwrap()), names(serde_json::to_value(m::HeadInit::SnrRandom).unwrap()));
        for (js, engine) in [(AdamUpdate::PerTensor, trnet_train::AdamUpdate::PerTensor), (AdamUpdate::Flat, trnet_train::AdamUpdate::Flat)] {
            assert_eq!(names(serde_json::to_value(js).unwrap()), names(serde_json::to_value(engine).unwrap()));
        }
        for (js, engine) in [
            (MixedPrecisionDtype::Float16, trnet_train::MixedPrecisionDtype::Float16),
            (MixedPrecisionDtype::Bfloat16, trnet_train::MixedPrecisionDtype::Bfloat16),
        ] {
            assert_eq!(names(serde_json::to_value(js).unwrap()), names(serde_json::to_value(engine).unwrap()));
        }
        for (js, engine) in [(SnrClamp::Hard, m::SnrClamp::Hard), (SnrClamp::Leaky, m::SnrClamp::Leaky), (SnrClamp::Sigmoid, m::SnrClamp::Sigmoid)] {
            assert_eq!(names(serde_json::to_value(js).unwrap()), names(serde_json::to_value(engine).unwrap()));
        }
    }
}
