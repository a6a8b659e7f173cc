//! Epoch-end decisions on the validation UAR: the learning-rate plateau schedule and the best-epoch /
//! early-stopping bookkeeping. Both are plain state saved in the resumable checkpoint.

use crate::config::LrPlateau;
use serde::{Deserialize, Serialize};

/// PyTorch's ReduceLROnPlateau in mode "max", threshold mode "rel", cooldown 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlateauState {
    /// Best UAR seen by the schedule (`None` before the first epoch, PyTorch's −∞).
    pub best: Option<f64>,
    pub bad_epochs: usize,
}

/// PyTorch compares learning rates with this ε before changing one.
const LR_EPS: f64 = 1e-8;

impl PlateauState {
    /// Feeds one epoch's UAR; returns the learning rate to use from now on.
    pub fn step(&mut self, rule: &LrPlateau, uar: f64, lr: f64) -> f64 {
        let better = match self.best {
            None => true,
            Some(best) => uar > best * (1.0 + rule.threshold),
        };
        if better {
            self.best = Some(uar);
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.bad_epochs > rule.patience {
            self.bad_epochs = 0;
            let new_lr = (lr * rule.factor).max(rule.min_lr);
            if lr - new_lr > LR_EPS {
                return new_lr;
            }
        }
        lr
    }
}

/// The best epoch so far by validation UAR (strictly greater wins: ties keep the earlier epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Best {
    /// 1-based.
    pub epoch: usize,
    pub uar: f64,
    pub war: f64,
}

/// Whether `uar` beats `best`.
pub fn improves(best: Option<&Best>, uar: f64) -> bool {
    best.is_none_or(|b| uar > b.uar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateau_waits_patience_epochs_then_reduces() {
        let rule = LrPlateau { factor: 0.5, patience: 2, threshold: 0.0, min_lr: 0.0 };
        let mut s = PlateauState::default();
        let mut lr = 1.0;
        let mut lrs = Vec::new();
        for uar in [0.5, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7] {
            lr = s.step(&rule, uar, lr);
            lrs.push(lr);
        }
        // Bad epochs: 0.6 ×3 after the best 0.6 → the third exceeds patience 2 → halve.
        assert_eq!(lrs, [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn plateau_respects_threshold_and_min_lr() {
        let rule = LrPlateau { factor: 0.1, patience: 0, threshold: 0.1, min_lr: 0.05 };
        let mut s = PlateauState::default();
        assert_eq!(s.step(&rule, 0.5, 1.0), 1.0);
        // 0.54 is not above 0.5·1.1: a bad epoch, patience 0 → reduce, floored at minLr.
        assert_eq!(s.step(&rule, 0.54, 1.0), 0.1);
        assert_eq!(s.step(&rule, 0.54, 0.1), 0.05);
        assert_eq!(s.step(&rule, 0.54, 0.05), 0.05);
    }

    #[test]
    fn ties_keep_the_earlier_best() {
        let b = Best { epoch: 3, uar: 0.5, war: 0.6 };
        assert!(improves(None, 0.0));
        assert!(!improves(Some(&b), 0.5));
        assert!(improves(Some(&b), 0.5000001));
    }
}
