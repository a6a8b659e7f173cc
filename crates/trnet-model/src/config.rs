//! The model config: one typed, validated struct that builds a model and is saved beside its weights.
//!
//! Paper values (§4.2) are the defaults. Fields the paper leaves open are named options whose default is
//! documented on the field. JSON field names are camelCase (the TypeScript config mirrors this struct);
//! absent fields take their defaults, unknown fields are an error so a typo cannot silently fall back.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which of the six compared models (§4.4) to build. See `TrnetModel` for what each one computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    /// Encoder + classifier on its input spectrogram; trained on clean speech only (the data decides that).
    #[serde(rename = "baseline-c")]
    BaselineClean,
    /// Same graph as Baseline-c; trained on clean + noisy speech.
    #[serde(rename = "baseline-n")]
    BaselineNoisy,
    /// Encoder + classifier on the enhanced spectrogram Xe (frozen SE in front).
    #[serde(rename = "baseline-e")]
    BaselineEnhanced,
    /// The full model: SNR-aware mixing (L_low) and the FiLM bridge (L_high).
    #[serde(rename = "trnet")]
    Trnet,
    /// TRNet without the low-level feature compensation (no L_low); see `NoLowInput`.
    #[serde(rename = "trnet-no-low")]
    TrnetNoLow,
    /// TRNet without the high-level representation calibration: no FiLM bridge, no L_high.
    #[serde(rename = "trnet-no-high")]
    TrnetNoHigh,
}

impl Variant {
    pub const ALL: [Variant; 6] =
        [Variant::BaselineClean, Variant::BaselineNoisy, Variant::BaselineEnhanced, Variant::Trnet, Variant::TrnetNoLow, Variant::TrnetNoHigh];

    pub fn name(self) -> &'static str {
        match self {
            Variant::BaselineClean => "baseline-c",
            Variant::BaselineNoisy => "baseline-n",
            Variant::BaselineEnhanced => "baseline-e",
            Variant::Trnet => "trnet",
            Variant::TrnetNoLow => "trnet-no-low",
            Variant::TrnetNoHigh => "trnet-no-high",
        }
    }

    /// Whether the model computes c from (X, Xe) with the SNR-aware module.
    pub fn has_snr_module(self) -> bool {
        matches!(self, Variant::Trnet | Variant::TrnetNoLow | Variant::TrnetNoHigh)
    }

    /// Whether the FiLM bridge h~ = FC1(c)·h + FC2(c) exists (and with it L_high).
    pub fn has_bridge(self) -> bool {
        matches!(self, Variant::Trnet | Variant::TrnetNoLow)
    }

    /// Whether the loss has the L_low = MSE(Xs, X~) term.
    pub fn has_low_loss(self) -> bool {
        matches!(self, Variant::Trnet | Variant::TrnetNoHigh)
    }

    /// Whether the loss has the L_high = MSE(h_s, h~) term (needs the frozen clean-trained encoder).
    pub fn has_high_loss(self) -> bool {
        self.has_bridge()
    }

    /// Whether a forward pass needs the enhanced spectrogram Xe.
    pub fn needs_enhanced(self) -> bool {
        self.has_snr_module() || self == Variant::BaselineEnhanced
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Variant::ALL.into_iter().find(|v| v.name() == s.trim()).ok_or_else(|| {
            Error::invalid_config(
                "variant",
                "one of \"baseline-c\", \"baseline-n\", \"baseline-e\", \"trnet\", \"trnet-no-low\", \"trnet-no-high\"",
                format!("{s:?}"),
                "Use one of the names of the paper's §4.4 models as listed.",
            )
        })
    }
}

/// What the classifier reads in the variants that have the FiLM bridge. The paper does not say outright;
/// h~ is the natural reading (the bridge moves noisy representations toward the clean space).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClassifierInput {
    /// The calibrated representation h~ (default).
    #[default]
    Calibrated,
    /// The encoder output h; h~ then only feeds L_high.
    Raw,
}

/// What the encoder reads in TRNet w/o L_low. §4.4 says that variant "excludes the low-level feature
/// compensation"; Fig. 2 still plots its c, which then only drives the FiLM bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NoLowInput {
    /// No mixing at all: the encoder reads Xe, as in Baseline-e (default; the literal "excluding").
    #[default]
    Enhanced,
    /// X~ = c·X + (1−c)·Xe is still formed and encoded, only the L_low term is dropped ("w/o L_low").
    Mixed,
}

/// Initial values of the small heads the paper does not specify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HeadInit {
    /// SNR FC: weight 0, bias 0.5, so c starts at 0.5 for every utterance, inside Hardtanh's live range
    /// (a random start can put c̄ below 0 for all inputs, where Hardtanh passes no gradient and the module
    /// never learns). FiLM: FC1 = (weight 0, bias 1), FC2 = 0, so h~ = h at the start.
    #[default]
    Neutral,
    /// PyTorch's nn.Linear defaults, U(±1/√fan_in) for weight and bias, for both heads.
    TorchDefault,
    /// SNR FC: weight U(±1/√F) (PyTorch's draw), bias 0.5, so c starts near ½ but already depends on d;
    /// FiLM as in `Neutral`. Changes only the SNR head's start (issue 15's initialisation suspect).
    SnrRandom,
}

/// How eq. 3 bounds c̄ = FC(d) to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SnrClamp {
    /// min(max(0, c̄), 1), the paper's eq. 3 (default). No gradient where c̄ is outside [0, 1].
    #[default]
    Hard,
    /// The same values as `Hard`, but the gradient outside [0, 1] is `LEAKY_CLAMP_SLOPE` instead of 0
    /// (a straight-through leak), so a c̄ that left the range can come back.
    Leaky,
    /// σ(4·(c̄ − ½)): equal to the clamp's value and slope at c̄ = ½, smooth, never exactly 0 or 1.
    Sigmoid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ModelConfig {
    pub variant: Variant,
    /// F: log-Mel bins of the input spectrograms (paper: 80).
    pub n_mels: usize,
    /// Output channels of the encoder's conv blocks (paper: 32, 64, 128, 256). h has the last one's size.
    pub channels: Vec<usize>,
    /// Square conv kernel size, odd so that "same"-style padding kernel/2 centres it (paper: 5).
    pub kernel_size: usize,
    /// Stride of each block on both axes (paper: 2).
    pub stride: usize,
    /// 5×5 convs per residual block: 1 (default; the paper's four conv layers, each strided) or 2
    /// (ResNet basic block: a second, unstrided conv before the addition).
    pub convs_per_block: usize,
    /// Attention pooling: `null` (default) scores each frame with a learned vector, u·x_t (Mirsamadi et al.
    /// 2017); `k` scores with v·tanh(W x_t + b), W of size k.
    pub attention_hidden: Option<usize>,
    /// Emotion classes (paper: 4).
    pub num_classes: usize,
    pub classifier_input: ClassifierInput,
    pub no_low_encoder_input: NoLowInput,
    /// Weight α of L_low (paper: 0.5).
    pub alpha: f64,
    /// Weight β of L_high (paper: 0.5).
    pub beta: f64,
    /// ε of the SNR-aware cosine similarity; see `snr_aware` for how it keeps zero columns NaN-free.
    pub cosine_eps: f64,
    /// BatchNorm ε and running-stat momentum (PyTorch defaults).
    pub bn_eps: f64,
    pub bn_momentum: f64,
    pub head_init: HeadInit,
    /// Eq. 3's bound on c (default: the paper's hard clamp).
    pub snr_clamp: SnrClamp,
    /// Standardise d per bin before the SNR FC (BatchNorm over the batch, running statistics at test
    /// time; default false, the paper's plain d). d moves little with the SNR, so its differences are small
    /// next to its mean; standardising makes them the FC's input.
    pub snr_standardize: bool,
    /// Remove each bin's mean over the (real) frames from X and Xe before eq. 1's cosine (default false,
    /// the paper's plain cosine). A large common log offset makes the plain cosine ≈ 1 in every bin.
    pub snr_centred: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            variant: Variant::Trnet,
            n_mels: 80,
            channels: vec![32, 64, 128, 256],
            kernel_size: 5,
            stride: 2,
            convs_per_block: 1,
            attention_hidden: None,
            num_classes: 4,
            classifier_input: ClassifierInput::Calibrated,
            no_low_encoder_input: NoLowInput::Enhanced,
            alpha: 0.5,
            beta: 0.5,
            cosine_eps: 1e-8,
            bn_eps: 1e-5,
            bn_momentum: 0.1,
            head_init: HeadInit::Neutral,
            snr_clamp: SnrClamp::Hard,
            snr_standardize: false,
            snr_centred: false,
        }
    }
}

/// Upper bounds that catch unit mix-ups (e.g. a sample count where a bin count belongs) before libtorch
/// tries to allocate for them.
const MAX_MELS: usize = 4096;
const MAX_CHANNELS: usize = 8192;
const MAX_KERNEL: usize = 31;

impl ModelConfig {
    /// The paper's configuration for one variant.
    pub fn paper(variant: Variant) -> Self {
        ModelConfig { variant, ..Default::default() }
    }

    /// Size of the utterance representation h (the last block's channels).
    pub fn embedding_dim(&self) -> usize {
        self.channels.last().copied().unwrap_or(0)
    }

    pub fn validate(&self) -> Result<()> {
        let fix_range = |field: &str, range: &str, found: String, fix: &str| Err(Error::invalid_config(field, range, found, fix));
        if self.n_mels == 0 || self.n_mels > MAX_MELS {
            return fix_range(
                "nMels",
                &format!("1..={MAX_MELS} log-Mel bins"),
                self.n_mels.to_string(),
                "Set it to the feature extractor's bin count (paper: 80).",
            );
        }
        if self.channels.is_empty() || self.channels.iter().any(|&c| c == 0 || c > MAX_CHANNELS) {
            return fix_range(
                "channels",
                &format!("a non-empty list of block widths in 1..={MAX_CHANNELS}"),
                format!("{:?}", self.channels),
                "Use e.g. [32, 64, 128, 256] (the paper's).",
            );
        }
        if self.kernel_size.is_multiple_of(2) || self.kernel_size > MAX_KERNEL {
            return fix_range(
                "kernelSize",
                &format!("an odd size in 1..={MAX_KERNEL}, so that padding kernel/2 keeps the kernel centred"),
                self.kernel_size.to_string(),
                "Use 5 (the paper's) or another odd size.",
            );
        }
        if self.stride == 0 || self.stride > 8 {
            return fix_range("stride", "1..=8", self.stride.to_string(), "Use 2 (the paper's).");
        }
        if !(1..=2).contains(&self.convs_per_block) {
            return fix_range("convsPerBlock", "1 or 2", self.convs_per_block.to_string(), "Use 1 (one strided conv per block) or 2 (ResNet basic block).");
        }
        if let Some(k) = self.attention_hidden
            && (k == 0 || k > MAX_CHANNELS)
        {
            return fix_range("attentionHidden", &format!("null or 1..={MAX_CHANNELS}"), k.to_string(), "Use null for the plain learned-vector scoring.");
        }
        if self.num_classes < 2 || self.num_classes > 10_000 {
            return fix_range("numClasses", "2..=10000", self.num_classes.to_string(), "Set it to the number of emotion classes (paper: 4).");
        }
        for (field, v) in [("alpha", self.alpha), ("beta", self.beta)] {
            if !v.is_finite() || v < 0.0 {
                return fix_range(field, "a finite weight ≥ 0", v.to_string(), "Use 0.5 (the paper's) or 0 to switch the term off.");
            }
        }
        for (field, v, default) in [("cosineEps", self.cosine_eps, "1e-8"), ("bnEps", self.bn_eps, "1e-5")] {
            if !v.is_finite() || v <= 0.0 || v > 1.0 {
                return fix_range(field, "a small positive number in (0, 1]", v.to_string(), &format!("Use {default}."));
            }
        }
        if !self.bn_momentum.is_finite() || !(0.0..=1.0).contains(&self.bn_momentum) {
            return fix_range("bnMomentum", "a number in [0, 1]", self.bn_momentum.to_string(), "Use 0.1 (PyTorch's default).");
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        // A struct of plain numbers, strings and lists always serialises.
        serde_json::to_string_pretty(self).expect("ModelConfig serialises to JSON")
    }

    /// Parses and validates a config.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: ModelConfig = serde_json::from_str(text).map_err(|e| {
            Error::invalid_config(
                "JSON",
                "a ModelConfig object (camelCase fields, see config.rs)",
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
        let c = ModelConfig::default();
        assert_eq!((c.n_mels, c.kernel_size, c.stride, c.num_classes), (80, 5, 2, 4));
        assert_eq!(c.channels, [32, 64, 128, 256]);
        assert_eq!((c.alpha, c.beta), (0.5, 0.5));
        assert_eq!(c.classifier_input, ClassifierInput::Calibrated);
        assert_eq!(c.embedding_dim(), 256);
        assert_eq!((c.head_init, c.snr_clamp, c.snr_standardize, c.snr_centred), (HeadInit::Neutral, SnrClamp::Hard, false, false));
        c.validate().unwrap();
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let c = ModelConfig {
            variant: Variant::TrnetNoLow,
            channels: vec![4, 8],
            attention_hidden: Some(7),
            classifier_input: ClassifierInput::Raw,
            no_low_encoder_input: NoLowInput::Mixed,
            head_init: HeadInit::SnrRandom,
            snr_clamp: SnrClamp::Leaky,
            snr_standardize: true,
            snr_centred: true,
            alpha: 0.25,
            ..Default::default()
        };
        let text = c.to_json();
        assert!(text.contains("\"variant\": \"trnet-no-low\"") && text.contains("\"classifierInput\": \"raw\""), "{text}");
        assert_eq!(ModelConfig::from_json(&text).unwrap(), c);
    }

    #[test]
    fn absent_fields_take_defaults_and_unknown_fields_are_refused() {
        let c = ModelConfig::from_json(r#"{"variant": "baseline-e", "nMels": 40}"#).unwrap();
        assert_eq!((c.variant, c.n_mels, c.channels.len()), (Variant::BaselineEnhanced, 40, 4));
        let err = ModelConfig::from_json(r#"{"nmels": 40}"#).unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_CONFIG");
        assert!(err.to_string().contains("nmels"), "{err}");
        let err = ModelConfig::from_json(r#"{"variant": "trnet-wo-low"}"#).unwrap_err();
        assert!(err.to_string().contains("trnet-wo-low"), "{err}");
    }

    #[test]
    fn variant_names_parse_and_print() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), v);
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{v}\""));
        }
        assert_eq!("TRNet".parse::<Variant>().unwrap_err().code(), "TRNET_INVALID_CONFIG");
    }

    #[test]
    fn validation_names_the_field() {
        let bad: [(&str, ModelConfig); 8] = [
            ("nMels", ModelConfig { n_mels: 0, ..Default::default() }),
            ("channels", ModelConfig { channels: vec![], ..Default::default() }),
            ("channels", ModelConfig { channels: vec![32, 0], ..Default::default() }),
            ("kernelSize", ModelConfig { kernel_size: 4, ..Default::default() }),
            ("convsPerBlock", ModelConfig { convs_per_block: 3, ..Default::default() }),
            ("numClasses", ModelConfig { num_classes: 1, ..Default::default() }),
            ("alpha", ModelConfig { alpha: f64::NAN, ..Default::default() }),
            ("cosineEps", ModelConfig { cosine_eps: 0.0, ..Default::default() }),
        ];
        for (field, c) in bad {
            let err = c.validate().unwrap_err();
            assert_eq!(err.code(), "TRNET_INVALID_CONFIG");
            assert!(err.to_string().starts_with(&format!("config {field}:")), "{err}");
        }
    }
}
