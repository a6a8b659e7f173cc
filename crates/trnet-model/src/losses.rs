//! Training objectives (§3.5): L = L_task + α·L_low + β·L_high.
//!
//! - L_task: cross-entropy, mean over the batch.
//! - L_low = ‖Xs − X~‖²  and  L_high = ‖h_s − h~‖²: the paper writes squared norms; both are taken here as
//!   means over all elements (PyTorch's MSELoss), so α and β do not have to change with batch size, frame
//!   count or width. Padded frames are zero in X, Xe and Xs alike, so they add zero error but do count in
//!   the mean's denominator, as in the paper's fixed 500-frame batches.
//!
//! A variant without a term has `None` for it, and the term is absent from the total (not added as 0).

use crate::{Error, Result, check};
use tch::{Kind, Reduction, Tensor};

/// The loss terms of one batch, each a scalar tensor attached to the graph.
#[derive(Debug)]
pub struct Losses {
    pub ce: Tensor,
    pub low: Option<Tensor>,
    pub high: Option<Tensor>,
    /// ce + α·low + β·high over the terms present; call `backward()` on this.
    pub total: Tensor,
}

impl Losses {
    /// The terms as plain numbers (ce, low, high, total), for logging.
    pub fn values(&self) -> Result<(f64, Option<f64>, Option<f64>, f64)> {
        let v = |t: &Tensor| t.f_double_value(&[]).map_err(Error::torch("reading a loss value"));
        Ok((v(&self.ce)?, self.low.as_ref().map(v).transpose()?, self.high.as_ref().map(v).transpose()?, v(&self.total)?))
    }
}

/// Cross-entropy of `logits` (B, K) against class indices `labels` (B,), mean over the batch.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let size = logits.size();
    if size.len() != 2 {
        return Err(Error::invalid("logits", "a (batch, classes) tensor", format!("shape {size:?}"), "Pass the model's logits output."));
    }
    check::labels(labels, size[0], size[1] as usize, logits.device())?;
    logits.f_cross_entropy_loss::<Tensor>(labels, None, Reduction::Mean, -100, 0.0).map_err(Error::torch("computing cross-entropy"))
}

/// Mean squared error between two tensors of the same shape.
pub fn mse(what: &str, target: &Tensor, prediction: &Tensor) -> Result<Tensor> {
    check::same_shape(what, target, "the model output", prediction)?;
    prediction.f_mse_loss(target, Reduction::Mean).map_err(Error::torch(format!("computing {what}")))
}

/// Combines the terms with the config's weights.
pub fn combine(ce: Tensor, low: Option<Tensor>, high: Option<Tensor>, alpha: f64, beta: f64) -> Result<Losses> {
    let mut total = ce.shallow_clone();
    let add = |total: Tensor, term: &Tensor, w: f64| total.f_add(&term.f_mul_scalar(w)?);
    if let Some(l) = &low {
        total = add(total, l, alpha).map_err(Error::torch("adding L_low"))?;
    }
    if let Some(l) = &high {
        total = add(total, l, beta).map_err(Error::torch("adding L_high"))?;
    }
    debug_assert!(total.kind() == Kind::Float || total.kind() == Kind::Double);
    Ok(Losses { ce, low, high, total })
}
