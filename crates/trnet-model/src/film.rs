//! The bridge module (§3.4): a FiLM-style affine transform of h driven by the SNR coefficient,
//! h~ = FC1(c)·h + FC2(c), with FC1, FC2 = Linear(1, D) (`film.fc1`, `film.fc2`).

use crate::config::{HeadInit, ModelConfig};
use crate::layers::Linear;
use crate::{Error, Result};
use tch::Tensor;
use tch::nn::{Init, Path};

#[derive(Debug)]
pub struct FilmBridge {
    pub(crate) fc1: Linear,
    pub(crate) fc2: Linear,
}

impl FilmBridge {
    pub fn new(p: &Path, cfg: &ModelConfig) -> Result<Self> {
        let dim = cfg.embedding_dim();
        let (fc1, fc2) = match cfg.head_init {
            // Scale 1, shift 0 for every c: h~ = h until training says otherwise.
            HeadInit::Neutral | HeadInit::SnrRandom => (
                Linear::new(p / "fc1", 1, dim, true, Init::Const(0.0), Init::Const(1.0))?,
                Linear::new(p / "fc2", 1, dim, true, Init::Const(0.0), Init::Const(0.0))?,
            ),
            HeadInit::TorchDefault => (Linear::torch_default(p / "fc1", 1, dim, true)?, Linear::torch_default(p / "fc2", 1, dim, true)?),
        };
        Ok(FilmBridge { fc1, fc2 })
    }

    /// `c`: (B,) coefficients; `h`: (B, D) representations. Returns h~, (B, D).
    pub fn forward(&self, c: &Tensor, h: &Tensor) -> Result<Tensor> {
        let c = c.f_unsqueeze(1).map_err(Error::torch("reshaping c for the bridge"))?;
        let scale = self.fc1.forward(&c)?;
        let shift = self.fc2.forward(&c)?;
        scale.f_mul(h).and_then(|s| s.f_add(&shift)).map_err(Error::torch("applying the FiLM bridge"))
    }
}
