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

use crate::config::{HeadInit, ModelConfig};
use crate::layers::Linear;
use crate::{Error, Result};
use tch::nn::{Init, Path};
use tch::{Kind, Tensor};

#[derive(Debug)]
pub struct SnrAware {
    /// `snr.fc`: Linear(F, 1).
    pub(crate) fc: Linear,
    pub(crate) eps: f64,
}

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
        };
        Ok(SnrAware { fc, eps: cfg.cosine_eps })
    }

    /// d: per-bin cosine similarity over time between `x` and `xe`, both (B, T, F). Shapes are the caller's
    /// to check (see `TrnetModel::forward_t`).
    pub fn similarity(&self, x: &Tensor, xe: &Tensor) -> Result<Tensor> {
        let eps2 = self.eps * self.eps;
        let run = || -> Result<Tensor, tch::TchError> {
            let dot = x.f_mul(xe)?.f_sum_dim_intlist(1, false, None::<Kind>)?;
            let norm = |t: &Tensor| t.f_square()?.f_sum_dim_intlist(1, false, None::<Kind>)?.f_add_scalar(eps2)?.f_sqrt();
            dot.f_div(&norm(x)?.f_mul(&norm(xe)?)?)
        };
        run().map_err(Error::torch("computing per-bin cosine similarities"))
    }

    /// d and c for a batch.
    pub fn forward(&self, x: &Tensor, xe: &Tensor) -> Result<SnrOutput> {
        let d = self.similarity(x, xe)?;
        let c = self.fc.forward(&d)?.f_clamp(0.0, 1.0).and_then(|c| c.f_squeeze_dim(1)).map_err(Error::torch("computing the SNR coefficient"))?;
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
