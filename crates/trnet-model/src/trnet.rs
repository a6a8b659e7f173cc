//! The six compared models (§4.4) as one struct whose `Variant` decides the graph.
//!
//! | variant        | encoder reads                  | c  | h~ (bridge) | classifier reads | loss                    |
//! |----------------|--------------------------------|----|-------------|------------------|-------------------------|
//! | baseline-c     | X                              | –  | –           | h                | CE                      |
//! | baseline-n     | X                              | –  | –           | h                | CE                      |
//! | baseline-e     | Xe                             | –  | –           | h                | CE                      |
//! | trnet          | X~ = c·X + (1−c)·Xe            | ✓  | ✓           | h~ (option: h)   | CE + α·L_low + β·L_high |
//! | trnet-no-low   | Xe (option `mixed`: X~)        | ✓  | ✓           | h~ (option: h)   | CE + β·L_high           |
//! | trnet-no-high  | X~                             | ✓  | –           | h                | CE + α·L_low            |
//!
//! Baseline-c and -n are the same graph; they differ in training data, which is the caller's business
//! (Baseline-c is trained on clean X and tested on noisy X). TRNet w/o L_low "excludes the low-level
//! feature compensation" (§4.4), read here as: no mixing, the encoder reads the SE output as in Baseline-e,
//! while c is still estimated from (X, Xe) and drives the bridge (Fig. 2 plots c for this variant, and §5.2
//! calls it the one that uses c only for calibration). `NoLowInput::Mixed` gives the other reading (X~
//! still formed, only the loss term dropped). TRNet w/o L_high "excludes the high-level representation
//! calibration": no bridge parameters, no L_high, no clean reference encoder needed.
//!
//! Parameter names (PyTorch `state_dict` style): `encoder.…` (see `Encoder`), `classifier.{weight,bias}`,
//! `snr.fc.{weight,bias}`, `film.fc1.{weight,bias}`, `film.fc2.{weight,bias}`.

use crate::config::{ClassifierInput, ModelConfig, NoLowInput, Variant};
use crate::encoder::{Encoder, EncoderOutput};
use crate::film::FilmBridge;
use crate::inference::{FoldedEncoder, Precision};
use crate::layers::Linear;
use crate::losses::{self, Losses};
use crate::snr_aware::SnrAware;
use crate::{Error, Result, check};
use tch::Tensor;
use tch::nn::Path;

/// One batch of model inputs. All spectrograms are (B, T, F) log-Mel, same shape.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// X: the input spectrogram (noisy at test time; clean when training Baseline-c). Baseline-e ignores it.
    pub x: &'a Tensor,
    /// Xe: the SE output's spectrogram; needed by baseline-e and the three TRNet variants.
    pub xe: Option<&'a Tensor>,
    /// (B, T) Bool, true = real frame; `None` = every frame is real.
    pub mask: Option<&'a Tensor>,
}

impl<'a> Inputs<'a> {
    pub fn new(x: &'a Tensor) -> Self {
        Inputs { x, xe: None, mask: None }
    }
    pub fn enhanced(self, xe: &'a Tensor) -> Self {
        Inputs { xe: Some(xe), ..self }
    }
    pub fn mask(self, mask: &'a Tensor) -> Self {
        Inputs { mask: Some(mask), ..self }
    }
}

/// What a forward pass gives. Fields a variant does not compute are `None`.
#[derive(Debug)]
pub struct Outputs {
    /// (B, K) class scores (before softmax).
    pub logits: Tensor,
    /// (B,) SNR coefficients c ∈ [0, 1].
    pub c: Option<Tensor>,
    /// (B, T, F) mixed spectrogram X~.
    pub x_tilde: Option<Tensor>,
    /// (B, D) encoder representation h.
    pub h: Tensor,
    /// (B, D) calibrated representation h~.
    pub h_tilde: Option<Tensor>,
    /// (B, T') attention weights over downsampled frames.
    pub attention: Tensor,
}

/// The clean side of a training batch: Xs for L_low, and the frozen clean-trained encoder that maps Xs to
/// h_s for L_high (the encoder of a trained Baseline-c, loaded from its checkpoint with its var store
/// frozen). It runs in eval mode without gradient tracking.
#[derive(Debug, Clone, Copy)]
pub struct CleanReference<'a> {
    /// Xs, (B, T, F), the clean spectrogram the noisy X was made from.
    pub xs: &'a Tensor,
    pub encoder: Option<&'a Encoder>,
    /// Frame mask for Xs (normally the batch's).
    pub mask: Option<&'a Tensor>,
}

impl<'a> CleanReference<'a> {
    pub fn new(xs: &'a Tensor) -> Self {
        CleanReference { xs, encoder: None, mask: None }
    }
    pub fn encoder(self, encoder: &'a Encoder) -> Self {
        CleanReference { encoder: Some(encoder), ..self }
    }
    pub fn mask(self, mask: &'a Tensor) -> Self {
        CleanReference { mask: Some(mask), ..self }
    }
}

/// h_s = encoder(Xs) with BatchNorm in eval mode and no gradient tracking: the reference stays frozen even
/// if its var store was not frozen.
pub fn clean_embedding(encoder: &Encoder, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    tch::no_grad(|| encoder.forward_t(xs, mask, false)).map(|o| o.h)
}

#[derive(Debug)]
pub struct TrnetModel {
    config: ModelConfig,
    encoder: Encoder,
    // Read by the ONNX export (crate::onnx), which walks the same modules.
    pub(crate) classifier: Linear,
    pub(crate) snr: Option<SnrAware>,
    pub(crate) film: Option<FilmBridge>,
    /// The encoder prepared for prediction (`prepare_inference`); `infer` uses it, training never does.
    folded: Option<FoldedEncoder>,
}

impl TrnetModel {
    /// Builds the variant's parameters under `p` (normally a var store's root).
    pub fn new(p: &Path, config: &ModelConfig) -> Result<Self> {
        config.validate()?;
        let v = config.variant;
        let encoder = Encoder::new(&(p / "encoder"), config)?;
        let classifier = Linear::torch_default(p / "classifier", config.embedding_dim(), config.num_classes, true)?;
        let snr = if v.has_snr_module() { Some(SnrAware::new(&(p / "snr"), config)?) } else { None };
        let film = if v.has_bridge() { Some(FilmBridge::new(&(p / "film"), config)?) } else { None };
        Ok(TrnetModel { config: config.clone(), encoder, classifier, snr, film, folded: None })
    }

    /// Folds the encoder's BatchNorms (and shortcuts) into its convolutions for `infer`, in `precision` (see
    /// `inference`). A snapshot: call it once the weights are final (after loading a checkpoint), never on a
    /// model that is still training. Calling it again replaces the snapshot.
    pub fn prepare_inference(&mut self, precision: Precision) -> Result<()> {
        self.folded = Some(tch::no_grad(|| FoldedEncoder::new(&self.encoder, precision))?);
        Ok(())
    }

    /// The precision `infer` runs in: that of `prepare_inference`, f32 without it.
    pub fn precision(&self) -> Precision {
        self.folded.as_ref().map_or(Precision::Fp32, FoldedEncoder::precision)
    }

    /// Whether `infer` runs the encoder's convs on trnet's own AVX-512 kernel (`inference`, `direct_conv`) when
    /// libtorch has one intra-op thread; false before `prepare_inference` and wherever the kernel does not apply.
    pub fn has_direct_conv(&self) -> bool {
        self.folded.as_ref().is_some_and(FoldedEncoder::has_direct_kernel)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn variant(&self) -> Variant {
        self.config.variant
    }

    /// The SER encoder, e.g. to serve as the frozen clean reference once this is a trained Baseline-c.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The utterance-level representation this model's classifier reads from `outputs` (B, D): h~ for the
    /// variants with the FiLM bridge when the classifier reads the calibrated representation, h otherwise.
    /// It is what the report's t-SNE (the paper's Fig. 3) embeds.
    pub fn representation<'o>(&self, outputs: &'o Outputs) -> &'o Tensor {
        match (&outputs.h_tilde, self.config.classifier_input) {
            (Some(ht), ClassifierInput::Calibrated) => ht,
            _ => &outputs.h,
        }
    }

    /// Runs the variant's graph. `train` puts BatchNorm in training mode (batch statistics, running-stat
    /// updates); the caller owns gradient tracking (wrap in `tch::no_grad` for inference).
    pub fn forward_t(&self, inputs: &Inputs<'_>, train: bool) -> Result<Outputs> {
        self.forward_with(inputs, train, |x, mask| self.encoder.forward_checked(x, mask, train))
    }

    /// The eval-mode forward pass for predictions, without gradient tracking: with the folded encoder when
    /// `prepare_inference` was called (equal to `forward_t(inputs, false)` up to float rounding in f32), the
    /// plain eval forward pass otherwise.
    pub fn infer(&self, inputs: &Inputs<'_>) -> Result<Outputs> {
        tch::no_grad(|| match &self.folded {
            Some(folded) => self.forward_with(inputs, false, |x, mask| folded.forward(&self.encoder, x, mask)),
            None => self.forward_t(inputs, false),
        })
    }

    /// The variant's graph around an encoder: `encode` maps the checked encoder input and mask to h and α.
    fn forward_with(&self, inputs: &Inputs<'_>, train: bool, encode: impl FnOnce(&Tensor, Option<&Tensor>) -> Result<EncoderOutput>) -> Result<Outputs> {
        let cfg = &self.config;
        let v = cfg.variant;
        let (batch, frames) = check::spectrogram("X", inputs.x, cfg.n_mels, self.encoder.kind(), self.encoder.device())?;
        let xe = match inputs.xe {
            Some(xe) => {
                check::same_shape("Xe", xe, "X", inputs.x)?;
                Some(xe)
            }
            None if v.needs_enhanced() => {
                return Err(Error::invalid(
                    "Xe",
                    format!("the enhanced spectrogram, which variant {v} reads"),
                    "none",
                    "Run the SE front end on the noisy audio and pass its log-Mel spectrogram with Inputs::enhanced.",
                ));
            }
            None => None,
        };
        if let Some(m) = inputs.mask {
            check::frame_mask(m, batch, frames, self.encoder.device())?;
        }

        let snr = match (&self.snr, xe) {
            (Some(module), Some(xe)) => Some(module.forward_t(inputs.x, xe, inputs.mask, train)?),
            _ => None,
        };
        let c = snr.map(|s| s.c);
        let x_tilde = match (v, &c, xe) {
            (Variant::Trnet | Variant::TrnetNoHigh, Some(c), Some(xe)) => Some(SnrAware::mix(c, inputs.x, xe)?),
            (Variant::TrnetNoLow, Some(c), Some(xe)) if cfg.no_low_encoder_input == NoLowInput::Mixed => Some(SnrAware::mix(c, inputs.x, xe)?),
            _ => None,
        };
        let encoder_input = match (v, &x_tilde, xe) {
            (_, Some(xt), _) => xt,
            (Variant::BaselineEnhanced | Variant::TrnetNoLow, None, Some(xe)) => xe,
            _ => inputs.x,
        };
        // X, Xe (so X~) and the mask were checked above.
        let enc = encode(encoder_input, inputs.mask)?;
        let h_tilde = match (&self.film, &c) {
            (Some(film), Some(c)) => Some(film.forward(c, &enc.h)?),
            _ => None,
        };
        let features = match (&h_tilde, cfg.classifier_input) {
            (Some(ht), ClassifierInput::Calibrated) => ht,
            _ => &enc.h,
        };
        let logits = self.classifier.forward(features)?;
        Ok(Outputs { logits, c, x_tilde, h: enc.h, h_tilde, attention: enc.attention })
    }

    /// The variant's loss terms for a batch. `clean` is needed when the variant has L_low (Xs) or L_high
    /// (Xs and the reference encoder); the baselines need neither.
    pub fn losses(&self, outputs: &Outputs, labels: &Tensor, clean: Option<&CleanReference<'_>>) -> Result<Losses> {
        let cfg = &self.config;
        let v = cfg.variant;
        let ce = losses::cross_entropy(&outputs.logits, labels)?;
        let need = |what: &str| {
            Error::invalid(
                "clean reference",
                format!("{what}, which variant {v}'s loss needs"),
                "none",
                "Pass CleanReference::new(&xs) (with .encoder(&frozen_baseline_c_encoder) for L_high) to losses().",
            )
        };
        let low = if v.has_low_loss() {
            let xs = clean.map(|r| r.xs).ok_or_else(|| need("the clean spectrogram Xs"))?;
            let xt = outputs
                .x_tilde
                .as_ref()
                .ok_or_else(|| Error::invalid("outputs", "X~ from this model's forward_t", "none", "Pass the outputs of this model's forward_t."))?;
            Some(losses::mse("Xs", xs, xt)?)
        } else {
            None
        };
        let high = if v.has_high_loss() {
            let r = clean.ok_or_else(|| need("the clean spectrogram Xs and the frozen clean-trained encoder"))?;
            let encoder = r.encoder.ok_or_else(|| need("the frozen clean-trained encoder"))?;
            if encoder.dim() != self.encoder.dim() {
                return Err(Error::invalid(
                    "reference encoder",
                    format!("representations of size {} like this model's h", self.encoder.dim()),
                    format!("size {}", encoder.dim()),
                    "Use a Baseline-c trained with the same channels config.",
                ));
            }
            let h_s = clean_embedding(encoder, r.xs, r.mask)?;
            let ht = outputs
                .h_tilde
                .as_ref()
                .ok_or_else(|| Error::invalid("outputs", "h~ from this model's forward_t", "none", "Pass the outputs of this model's forward_t."))?;
            Some(losses::mse("h_s", &h_s, ht)?)
        } else {
            None
        };
        losses::combine(ce, low, high, cfg.alpha, cfg.beta)
    }
}
