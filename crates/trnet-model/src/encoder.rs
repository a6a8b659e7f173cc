//! The SER acoustic encoder (§3.3, §4.2): residual conv blocks over the log-Mel "image", average pooling
//! over frequency, attention pooling over time → the utterance representation h.
//!
//! The paper fixes the widths (32/64/128/256), 5×5 kernels and 2×2 strides of "the convolutional layers"
//! and says they are "stacked with residual connections"; it does not draw a block. Built here, per block
//! (`convsPerBlock` = 1, the default, reads "four conv layers, each strided" literally):
//!
//! ```text
//!   main:     conv k×k stride s (pad k/2) → BN [→ ReLU → conv k×k stride 1 → BN   when convsPerBlock = 2]
//!   shortcut: conv 1×1 stride s → BN      (identity when s = 1 and the width is unchanged)
//!   out:      ReLU(main + shortcut)
//! ```
//!
//! Convs have no bias (each feeds a BN). With "same"-style padding each block maps T frames to ⌈T/s⌉ and F
//! bins to ⌈F/s⌉; output frame t' is centred on input frame s·t', which is how a frame mask follows the
//! blocks down (`mask[:, ::s]`). BatchNorm statistics in training mode include padded frames: a mask only
//! affects the attention pooling.

use crate::config::ModelConfig;
use crate::layers::{BatchNorm2d, Conv2d, Linear};
use crate::{Error, Result, check};
use tch::nn::Path;
use tch::{Device, Kind, Tensor};

#[derive(Debug)]
pub(crate) struct ResidualBlock {
    /// One or two (conv, BN) pairs on the main path.
    pub(crate) main: Vec<(Conv2d, BatchNorm2d)>,
    pub(crate) shortcut: Option<(Conv2d, BatchNorm2d)>,
}

impl ResidualBlock {
    fn new(p: Path, in_ch: usize, out_ch: usize, cfg: &ModelConfig) -> Result<Self> {
        let mut main = Vec::with_capacity(cfg.convs_per_block);
        for j in 0..cfg.convs_per_block {
            let (cin, stride) = if j == 0 { (in_ch, cfg.stride) } else { (out_ch, 1) };
            let conv = Conv2d::new(&p / format!("conv{}", j + 1), cin, out_ch, cfg.kernel_size, stride)?;
            let bn = BatchNorm2d::new(&p / format!("bn{}", j + 1), out_ch, cfg.bn_eps, cfg.bn_momentum)?;
            main.push((conv, bn));
        }
        let shortcut = if cfg.stride != 1 || in_ch != out_ch {
            let s = &p / "shortcut";
            Some((Conv2d::new(&s / "conv", in_ch, out_ch, 1, cfg.stride)?, BatchNorm2d::new(&s / "bn", out_ch, cfg.bn_eps, cfg.bn_momentum)?))
        } else {
            None
        };
        Ok(ResidualBlock { main, shortcut })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut y = x.shallow_clone();
        for (j, (conv, bn)) in self.main.iter().enumerate() {
            if j > 0 {
                // In place, like the ReLU below: the next conv keeps this result, BatchNorm keeps its input.
                y = y.f_relu_().map_err(Error::torch("applying ReLU"))?;
            }
            y = bn.forward_t(&conv.forward(&y)?, train)?;
        }
        let skip = match &self.shortcut {
            Some((conv, bn)) => bn.forward_t(&conv.forward(x)?, train)?,
            None => x.shallow_clone(),
        };
        // The sum and the ReLU overwrite y, the last BatchNorm's output, instead of allocating two more
        // activations of the block's full size (as torchvision's ResNet does): BatchNorm's backward reads its
        // input, not its output, the sum's backward reads neither operand, and ReLU's backward reads its own
        // result, so autograd keeps everything it needs. Same kernels, so the same values and gradients.
        y.f_add_(&skip).and_then(|mut s| s.f_relu_()).map_err(Error::torch("adding the residual"))
    }
}

/// Attention pooling over time (Mirsamadi et al., 2017): α = softmax_t(score(x_t)), h = Σ_t α_t·x_t.
/// score(x_t) = u·x_t by default; with `attentionHidden` = k it is v·tanh(W x_t + b). The score has no bias:
/// a constant added to every frame cancels in the softmax.
#[derive(Debug)]
pub struct AttentionPooling {
    pub(crate) hidden: Option<Linear>,
    pub(crate) score: Linear,
}

impl AttentionPooling {
    fn new(p: Path, dim: usize, hidden: Option<usize>) -> Result<Self> {
        let (hidden, score_in) = match hidden {
            Some(k) => (Some(Linear::torch_default(&p / "hidden", dim, k, true)?), k),
            None => (None, dim),
        };
        Ok(AttentionPooling { hidden, score: Linear::torch_default(&p / "score", score_in, 1, false)? })
    }

    /// `x`: (B, T, C); `mask`: (B, T) Bool, true = real frame. Returns (h (B, C), α (B, T)); masked frames
    /// get α = 0 exactly (their scores are −∞ before the softmax).
    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let size = x.size();
        if size.len() != 3 {
            return Err(Error::invalid(
                "attention pooling input",
                "a (batch, frames, channels) tensor",
                format!("shape {size:?}"),
                "Pass frame features with channels last.",
            ));
        }
        if let Some(m) = mask {
            // Checked here, not left to libtorch: masked_fill takes a Scalar (see check.rs).
            check::frame_mask(m, size[0], size[1], x.device())?;
        }
        self.forward_checked(x, mask)
    }

    /// `forward` for callers that have checked the mask against `x` already.
    pub(crate) fn forward_checked(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
        let err = Error::torch("pooling frames with attention");
        let run = || -> Result<(Tensor, Tensor), tch::TchError> {
            let keys = match &self.hidden {
                Some(h) => x.f_linear(&h.weight, h.bias.as_ref())?.f_tanh()?,
                None => x.shallow_clone(),
            };
            let mut scores = keys.f_linear::<Tensor>(&self.score.weight, None)?.f_squeeze_dim(-1)?;
            if let Some(m) = mask {
                scores = scores.f_masked_fill(&m.f_logical_not()?, f64::NEG_INFINITY)?;
            }
            let alpha = scores.f_softmax(1, None::<Kind>)?;
            let h = alpha.f_unsqueeze(-1)?.f_mul(x)?.f_sum_dim_intlist(1, false, None::<Kind>)?;
            Ok((h, alpha))
        };
        run().map_err(err)
    }
}

/// What the encoder gives for a batch.
#[derive(Debug)]
pub struct EncoderOutput {
    /// Utterance representations, (B, C) with C the last block's width.
    pub h: Tensor,
    /// Attention weights over the downsampled frames, (B, T'); rows sum to 1.
    pub attention: Tensor,
}

/// The SER encoder. Parameters live under the path it was built on: `blocks.{i}.conv1.weight`,
/// `blocks.{i}.bn1.{weight,bias,running_mean,running_var}`, `blocks.{i}.shortcut.{conv,bn}.…`,
/// `attention.score.weight` (and `attention.hidden.{weight,bias}`).
#[derive(Debug)]
pub struct Encoder {
    pub(crate) blocks: Vec<ResidualBlock>,
    pub(crate) attention: AttentionPooling,
    n_mels: usize,
    pub(crate) stride: i64,
    dim: usize,
}

impl Encoder {
    pub fn new(p: &Path, cfg: &ModelConfig) -> Result<Self> {
        cfg.validate()?;
        let mut blocks = Vec::with_capacity(cfg.channels.len());
        let mut in_ch = 1;
        for (i, &out_ch) in cfg.channels.iter().enumerate() {
            blocks.push(ResidualBlock::new(p / "blocks" / i, in_ch, out_ch, cfg)?);
            in_ch = out_ch;
        }
        let attention = AttentionPooling::new(p / "attention", in_ch, cfg.attention_hidden)?;
        Ok(Encoder { blocks, attention, n_mels: cfg.n_mels, stride: cfg.stride as i64, dim: in_ch })
    }

    /// Mel bins of the input.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Size of h.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The float kind of the parameters (inputs must match it).
    pub fn kind(&self) -> Kind {
        self.blocks[0].main[0].0.weight.kind()
    }

    /// Where the parameters live (inputs must be there too).
    pub fn device(&self) -> Device {
        self.blocks[0].main[0].0.weight.device()
    }

    /// `x`: (B, T, F) log-Mel spectrograms; `mask`: optional (B, T) Bool, true = real frame. `train`
    /// selects BatchNorm's batch statistics (and updates its running stats) instead of the running stats.
    pub fn forward_t(&self, x: &Tensor, mask: Option<&Tensor>, train: bool) -> Result<EncoderOutput> {
        let (batch, frames) = check::spectrogram("encoder input", x, self.n_mels, self.kind(), self.device())?;
        if let Some(m) = mask {
            check::frame_mask(m, batch, frames, self.device())?;
        }
        self.forward_checked(x, mask, train)
    }

    /// `forward_t` for callers that have checked `x` and `mask` already (each check of a mask reads a value
    /// back from the device).
    pub(crate) fn forward_checked(&self, x: &Tensor, mask: Option<&Tensor>, train: bool) -> Result<EncoderOutput> {
        // (B, T, F) → (B, 1, T, F): one input channel, time as height and frequency as width.
        let mut y = x.f_unsqueeze(1).map_err(Error::torch("reshaping the encoder input"))?;
        let mut mask = mask.map(Tensor::shallow_clone);
        for block in &self.blocks {
            y = block.forward_t(&y, train)?;
            if let Some(m) = &mask {
                mask = Some(m.f_slice(1, 0, None, self.stride).map_err(Error::torch("downsampling the frame mask"))?);
            }
        }
        // Average over frequency, then frames as the sequence: (B, C, T', F') → (B, T', C).
        let seq = y.f_mean_dim(3, false, None::<Kind>).and_then(|s| s.f_transpose(1, 2)).map_err(Error::torch("pooling over frequency"))?;
        // The mask was checked against x, and slicing it keeps it in step with the blocks' frames.
        let (h, attention) = self.attention.forward_checked(&seq, mask.as_ref())?;
        Ok(EncoderOutput { h, attention })
    }
}
