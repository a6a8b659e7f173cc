//! What training reports: progress events, per-epoch records and the final report. A leaf module, so that
//! the run folder (`run`, which saves the history) and the loop (`trainer`) share these types without
//! importing each other.

use crate::schedule::Best;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use trnet_model::Variant;

/// Loss terms as numbers. Terms a variant does not have are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LossValues {
    pub ce: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub total: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// After every optimiser step.
    Step,
    /// After an epoch's validation and checkpoints.
    Epoch,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValMetrics {
    pub uar: f64,
    pub war: f64,
    /// Mean cross-entropy on the validation items.
    pub ce: f64,
}

/// One progress event. Steps and epochs count from 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainProgress {
    pub stage: Stage,
    pub epoch: usize,
    pub epochs: usize,
    /// Step within the epoch (the epoch's step count for `Stage::Epoch`).
    pub step: usize,
    pub steps_per_epoch: usize,
    /// Steps done in the whole run so far.
    pub global_step: usize,
    /// epochs × steps per epoch.
    pub total_steps: usize,
    /// `Step`: this batch's losses. `Epoch`: means over the epoch's items.
    pub losses: LossValues,
    /// Learning rate of the step (`Epoch`: the rate the epoch ran with).
    pub lr: f64,
    /// Validation metrics (`Epoch` only).
    pub val: Option<ValMetrics>,
    /// Best epoch so far (`Epoch` only).
    pub best: Option<Best>,
    /// Seconds since this call to train/resume began.
    pub elapsed_s: f64,
}

impl TrainProgress {
    /// Named numbers for a flat progress record (the addon's `metrics` map).
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        let mut m = vec![("epoch", self.epoch as f64), ("step", self.step as f64), ("lr", self.lr), ("ce", self.losses.ce), ("loss", self.losses.total)];
        if let Some(l) = self.losses.low {
            m.push(("low", l));
        }
        if let Some(h) = self.losses.high {
            m.push(("high", h));
        }
        if let Some(v) = &self.val {
            m.extend([("valUar", v.uar), ("valWar", v.war), ("valCe", v.ce)]);
        }
        if let Some(b) = &self.best {
            m.extend([("bestEpoch", b.epoch as f64), ("bestUar", b.uar)]);
        }
        m
    }
}

/// One finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Mean training losses over the epoch's items.
    pub train: LossValues,
    pub val: ValMetrics,
    /// The learning rate the epoch ran with.
    pub lr: f64,
    /// Whether this epoch became the best one.
    pub improved: bool,
    /// Wall time of the epoch (training and validation) in the call that ran it.
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainReport {
    pub variant: Variant,
    pub best: Best,
    pub epochs_run: usize,
    pub stopped_early: bool,
    pub global_steps: usize,
    pub final_lr: f64,
    pub history: Vec<EpochRecord>,
    pub best_dir: PathBuf,
    pub last_dir: PathBuf,
    /// The device trained on, e.g. "Cpu" or "Cuda(0)".
    pub device: String,
    /// Whether float16 autocast was in effect (asked for and on CUDA).
    pub mixed_precision: bool,
    pub train_items: usize,
    pub val_items: usize,
}
