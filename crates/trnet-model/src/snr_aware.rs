//! The SNR-aware module (§3.2): how far enhancement moved each frequency bin tells how noisy the input
//! was, and that sets how much of the enhanced spectrogram to mix in.
//!
//! ```text
//!   d_i = cos(X[:, i], Xe[:, i])       one value per bin i, over all frames  (eq. 1) → d ∈ R^F
//!   c   = min(max(0, FC(d)), 1)        FC = Linear(F, 1): one scalar per utterance (eqs. 2, 3)
//!   X~  = c·X + (1 − c)·Xe                                                     (eq. 4)
//! ```
//!
//! ε handling. An all-zero column (a bin with zero energy, or an all-zero padded utterance) has norm 0, so
//! the plain formula gives 0/0. torch.cosine_similarity clamps the norms at ε, but the clamp alone is not
//! enough for gradients: backward through ‖x‖ = √(Σx²) at 0 multiplies a zero upstream gradient by an
//! infinite local one, which is NaN. So the norms here are smoothed instead of clamped:
//!
//! ```text
//!   d_i = Σ_t x_ti·xe_ti / ( √(Σ_t x_ti² + ε²) · √(Σ_t xe_ti² + ε²) ),   ε = cosineEps (1e-8)
//! ```
//!
//! which is smooth everywhere: a zero column gives d_i = 0 with finite gradients, and for any column with
//! energy the result differs from the exact cosine by a relative (ε/‖x‖)², far below f32 resolution.
//! Padded frames contribute nothing to any of the sums, so no frame mask is needed here.
//!
//! The clamp (eq. 3) passes gradient where 0 ≤ c̄ ≤ 1 and none outside; an utterance whose c̄ sits outside
//! that range teaches the FC nothing, which is why `HeadInit::Neutral` starts c̄ at 0.5.
//!
//! Options beyond the paper (issue 15: c did not rise with SNR; each is off by default, the paper's reading):
//! - `snrCentred`: each bin's mean over the real frames is removed from X and Xe before the cosine, so a
//!   large common log offset cannot push every d_i to ≈ 1 (then eq. 1 is the correlation over time).
//! - `snrStandardize`: d is standardised per bin over the batch (BatchNorm, `snr.norm.*`) before the FC.
//! - `snrClamp`: `leaky` keeps eq. 3's values but leaks a gradient of `LEAKY_CLAMP_SLOPE` outside [0, 1];
//!   `sigmoid` replaces the clamp with σ(4(c̄ − ½)), which matches it in value and slope at c̄ = ½.

use crate::config::{HeadInit, ModelConfig, SnrClamp};
use crate::layers::{BatchNorm2d, Linear, torch_default_uniform};
use crate::{Error, Result};
use tch::nn::{Init, Path};
use tch::{Kind, Tensor};

#[derive(Debug)]
pub struct SnrAware {
    /// `snr.fc`: Linear(F, 1).
    pub(crate) fc: Linear,
    /// `snr.norm`: per-bin standardisation of d (only with `snrStandardize`).
    pub(crate) norm: Option<BatchNorm2d>,
    pub(crate) eps: f64,
    pub(crate) clamp: SnrClamp,
    pub(crate) centred: bool,
}

/// ε of d's standardisation: d's spread across utterances can be far below BatchNorm's usual 1e-5 (whose
/// square root would then swamp it), so a much smaller one.
const STANDARDIZE_EPS: f64 = 1e-10;

/// Gradient of the leaky clamp where c̄ is outside [0, 1] (inside it is 1, as for the hard clamp).
pub const LEAKY_CLAMP_SLOPE: f64 = 0.01;

/// What the module gives for a batch.
#[derive(Debug)]
pub struct SnrOutput {
    /// Per-bin similarities d, (B, F).
    pub d: Tensor,
    /// SNR coefficients c ∈ [0, 1], (B,).
    pub c: Tensor,
}

impl SnrAware {
    pub fn new(p: &Path, cfg: &ModelConfig) -> Result<Self> {
        let f = cfg.n_mels;
        let fc = match cfg.head_init {
            HeadInit::Neutral => Linear::new(p / "fc", f, 1, true, Init::Const(0.0), Init::Const(0.5))?,
            HeadInit::TorchDefault => Linear::torch_default(p / "fc", f, 1, true)?,
            HeadInit::SnrRandom => Linear::new(p / "fc", f, 1, true, torch_default_uniform(f), Init::Const(0.5))?,
        };
        let norm = if cfg.snr_standardize { Some(BatchNorm2d::new(p / "norm", f, STANDARDIZE_EPS, cfg.bn_momentum)?) } else { None };
        Ok(SnrAware { fc, norm, eps: cfg.cosine_eps, clamp: cfg.snr_clamp, centred: cfg.snr_centred })
    }

    /// d: per-bin cosine similarity over time between `x` and `xe`, both (B, T, F); with `snrCentred`,
    /// of the two after removing each bin's mean over the frames that `mask` (B, T) marks real (padded
    /// frames then contribute nothing). Shapes are the caller's to check (see `TrnetModel::forward_t`).
    pub fn similarity_masked(&self, x: &Tensor, xe: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        if !self.centred {
            return self.similarity(x, xe);
        }
        let centre = |t: &Tensor| -> Result<Tensor, tch::TchError> {
            let m = match mask {
                Some(m) => m.f_to_kind(t.kind())?.f_unsqueeze(2)?,
                None => t.f_ones_like()?.f_narrow(2, 0, 1)?,
            };
            let count = m.f_sum_dim_intlist(1, true, None::<Kind>)?.f_clamp_min(1.0)?;
            let mean = t.f_mul(&m)?.f_sum_dim_intlist(1, true, None::<Kind>)?.f_div(&count)?;
            t.f_sub(&mean)?.f_mul(&m)
        };
        let (xc, xec) = (|| Ok::<_, tch::TchError>((centre(x)?, centre(xe)?)))().map_err(Error::torch("centring the spectrograms per bin"))?;
        self.similarity(&xc, &xec)
    }

    /// d: the paper's per-bin cosine similarity over time between `x` and `xe`, both (B, T, F).
    pub fn similarity(&self, x: &Tensor, xe: &Tensor) -> Result<Tensor> {
        let eps2 = self.eps * self.eps;
        let run = || -> Result<Tensor, tch::TchError> {
            let dot = x.f_mul(xe)?.f_sum_dim_intlist(1, false, None::<Kind>)?;
            let norm = |t: &Tensor| t.f_square()?.f_sum_dim_intlist(1, false, None::<Kind>)?.f_add_scalar(eps2)?.f_sqrt();
            dot.f_div(&norm(x)?.f_mul(&norm(xe)?)?)
        };
        run().map_err(Error::torch("computing per-bin cosine similarities"))
    }

    /// d and c for a batch, every frame real, in eval mode (see `forward_t`).
    pub fn forward(&self, x: &Tensor, xe: &Tensor) -> Result<SnrOutput> {
        self.forward_t(x, xe, None, false)
    }

    /// d and c for a batch. `mask` (B, T) marks real frames (only the centred cosine needs it); `train`
    /// puts the standardisation of d (if any) in training mode.
    pub fn forward_t(&self, x: &Tensor, xe: &Tensor, mask: Option<&Tensor>, train: bool) -> Result<SnrOutput> {
        let d = self.similarity_masked(x, xe, mask)?;
        let head_input = match &self.norm {
            // Batch statistics need two utterances; a lone one (a last batch of 1) uses the running ones.
            Some(norm) => {
                let d4 = d.f_view([d.size()[0], -1, 1, 1]).map_err(Error::torch("reshaping d for standardisation"))?;
                let train = train && d.size()[0] > 1;
                norm.forward_t(&d4, train)?.f_flatten(1, -1).map_err(Error::torch("reshaping standardised d"))?
            }
            None => d.shallow_clone(),
        };
        let c_bar = self.fc.forward(&head_input)?;
        let c = bound(self.clamp, &c_bar).and_then(|c| c.f_squeeze_dim(1)).map_err(Error::torch("computing the SNR coefficient"))?;
        Ok(SnrOutput { d, c })
    }

    /// X~ = c·X + (1 − c)·Xe, with c (B,) broadcast over frames and bins.
    pub fn mix(c: &Tensor, x: &Tensor, xe: &Tensor) -> Result<Tensor> {
        let run = || -> Result<Tensor, tch::TchError> {
            let c = c.f_view([-1, 1, 1])?;
            x.f_mul(&c)?.f_add(&xe.f_mul(&c.f_neg()?.f_add_scalar(1.0)?)?)
        };
        run().map_err(Error::torch("mixing noisy and enhanced spectrograms"))
    }
}

/// Eq. 3 and its alternatives (see `SnrClamp`).
pub fn bound(clamp: SnrClamp, c_bar: &Tensor) -> Result<Tensor, tch::TchError> {
    match clamp {
        SnrClamp::Hard => c_bar.f_clamp(0.0, 1.0),
        SnrClamp::Sigmoid => c_bar.f_sub_scalar(0.5)?.f_mul_scalar(4.0)?.f_sigmoid(),
        SnrClamp::Leaky => {
            // clamp(c̄) + (e − e.detach()) with e = k·(c̄ − clamp(c̄)): the added term is exactly 0 in value (so
            // c is the clamp's to the bit), and its gradient is k outside [0, 1] and 0 inside.
            let hard = c_bar.f_clamp(0.0, 1.0)?;
            let outside = c_bar.f_sub(&hard)?.f_mul_scalar(LEAKY_CLAMP_SLOPE)?;
            hard.f_add(&outside.f_sub(&outside.f_detach()?)?)
        }
    }
}
