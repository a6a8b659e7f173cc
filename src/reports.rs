//! What training and evaluation hand back, as typed objects: the generated TypeScript declarations of these
//! structs are the façade's report types, so a field renamed here (or in the engine, which breaks the
//! conversions below at compile time) breaks `tsc` instead of drifting. Nothing here computes anything.

use crate::jobs::Progress;
use napi::bindgen_prelude::{Either, Null};
use napi_derive::napi;
use serde::{Deserialize, Serialize};
use trnet_train::{Stage, TrainProgress, ValMetrics as EngineVal};

/// The six model variants of the paper's ablation (ModelConfig.variant).
#[napi(string_enum = "kebab-case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Baseline-c: trained on clean speech (the frozen reference encoder of TRNet's L_high).
    BaselineC,
    /// Baseline-n: trained on noisy speech.
    BaselineN,
    /// Baseline-e: trained on enhanced speech.
    BaselineE,
    Trnet,
    /// TRNet without L_low.
    TrnetNoLow,
    /// TRNet without L_high.
    TrnetNoHigh,
}

impl From<trnet_model::Variant> for Variant {
    fn from(v: trnet_model::Variant) -> Self {
        use trnet_model::Variant as V;
        match v {
            V::BaselineClean => Variant::BaselineC,
            V::BaselineNoisy => Variant::BaselineN,
            V::BaselineEnhanced => Variant::BaselineE,
            V::Trnet => Variant::Trnet,
            V::TrnetNoLow => Variant::TrnetNoLow,
            V::TrnetNoHigh => Variant::TrnetNoHigh,
        }
    }
}

/// Loss terms; those a variant does not have are null.
#[napi(object, use_nullable = true)]
pub struct LossValues {
    pub ce: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub total: f64,
}

impl From<trnet_train::LossValues> for LossValues {
    fn from(l: trnet_train::LossValues) -> Self {
        LossValues { ce: l.ce, low: l.low, high: l.high, total: l.total }
    }
}

#[napi(object)]
pub struct ValMetrics {
    pub uar: f64,
    pub war: f64,
    /// Mean cross-entropy on the validation items.
    pub ce: f64,
}

impl From<EngineVal> for ValMetrics {
    fn from(v: EngineVal) -> Self {
        ValMetrics { uar: v.uar, war: v.war, ce: v.ce }
    }
}

/// The epoch chosen by validation UAR.
#[napi(object)]
pub struct BestEpoch {
    /// 1-based.
    pub epoch: u32,
    pub uar: f64,
    pub war: f64,
}

impl From<trnet_train::Best> for BestEpoch {
    fn from(b: trnet_train::Best) -> Self {
        BestEpoch { epoch: b.epoch as u32, uar: b.uar, war: b.war }
    }
}

/// One finished epoch.
#[napi(object)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: u32,
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

impl From<trnet_train::EpochRecord> for EpochRecord {
    fn from(r: trnet_train::EpochRecord) -> Self {
        EpochRecord { epoch: r.epoch as u32, train: r.train.into(), val: r.val.into(), lr: r.lr, improved: r.improved, seconds: r.seconds }
    }
}

/// What `trainModel` and `resumeTraining` resolve with.
#[napi(object)]
pub struct TrainReport {
    pub variant: Variant,
    pub best: BestEpoch,
    pub epochs_run: u32,
    pub stopped_early: bool,
    pub global_steps: u32,
    pub final_lr: f64,
    pub history: Vec<EpochRecord>,
    /// The best epoch's checkpoint folder (`outDir/best`).
    pub best_dir: String,
    /// The resumable checkpoint folder (`outDir/last`).
    pub last_dir: String,
    /// The device trained on, e.g. "Cpu" or "Cuda(0)".
    pub device: String,
    /// Whether float16 autocast was in effect (asked for and on CUDA).
    pub mixed_precision: bool,
    pub train_items: u32,
    pub val_items: u32,
}

impl From<trnet_train::TrainReport> for TrainReport {
    fn from(r: trnet_train::TrainReport) -> Self {
        TrainReport {
            variant: r.variant.into(),
            best: r.best.into(),
            epochs_run: r.epochs_run as u32,
            stopped_early: r.stopped_early,
            global_steps: r.global_steps as u32,
            final_lr: r.final_lr,
            history: r.history.into_iter().map(Into::into).collect(),
            best_dir: r.best_dir.to_string_lossy().into_owned(),
            last_dir: r.last_dir.to_string_lossy().into_owned(),
            device: r.device,
            mixed_precision: r.mixed_precision,
            train_items: r.train_items as u32,
            val_items: r.val_items as u32,
        }
    }
}

/// One evaluated item.
#[napi(object, use_nullable = true)]
pub struct Prediction {
    /// Index of the item in the evaluated feature set.
    pub item: u32,
    pub id: String,
    pub label: u32,
    pub predicted: u32,
    /// Softmax of the logits.
    pub probs: Vec<f64>,
    /// The SNR coefficient c, for the variants that estimate one; null for the baselines.
    pub c: Option<f64>,
    /// The representation the classifier reads (h~ for the calibrated TRNet variants, h otherwise), when
    /// evaluate was asked for embeddings; else null.
    pub embedding: Option<Vec<f64>>,
}

impl From<trnet_train::Prediction> for Prediction {
    fn from(p: trnet_train::Prediction) -> Self {
        Prediction {
            item: p.item as u32,
            id: p.id,
            label: p.label as u32,
            predicted: p.predicted as u32,
            probs: p.probs.into_iter().map(f64::from).collect(),
            c: p.c.map(f64::from),
            embedding: p.embedding.map(|e| e.into_iter().map(f64::from).collect()),
        }
    }
}

/// What `evaluateCheckpoint` resolves with.
#[napi(object)]
pub struct EvalReport {
    /// Unweighted average recall over the classes present.
    pub uar: f64,
    /// Weighted average recall (accuracy).
    pub war: f64,
    /// Mean cross-entropy of the labels under the model.
    pub ce: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u32>>,
    /// Recall per class; null for a class with no items.
    pub recalls: Vec<Either<f64, Null>>,
    pub predictions: Vec<Prediction>,
}

impl From<trnet_train::EvalReport> for EvalReport {
    fn from(r: trnet_train::EvalReport) -> Self {
        EvalReport {
            uar: r.uar,
            war: r.war,
            ce: r.ce,
            confusion: r.confusion.into_iter().map(|row| row.into_iter().map(|n| n as u32).collect()).collect(),
            recalls: r.recalls.into_iter().map(|r| r.map_or(Either::B(Null), Either::A)).collect(),
            predictions: r.predictions.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<&TrainProgress> for Progress {
    fn from(p: &TrainProgress) -> Self {
        let (done, total, epoch) = (p.global_step as u32, p.total_steps as u32, p.epoch as u32);
        let l = p.losses;
        match p.stage {
            Stage::Step => Progress::Step { done, total, epoch, lr: p.lr, ce: l.ce, loss: l.total, low: l.low, high: l.high },
            Stage::Epoch => {
                // The engine always validates before an epoch event; NaN would mark an engine that did not.
                let val = p.val.unwrap_or(EngineVal { uar: f64::NAN, war: f64::NAN, ce: f64::NAN });
                Progress::Epoch {
                    done,
                    total,
                    epoch,
                    lr: p.lr,
                    ce: l.ce,
                    loss: l.total,
                    low: l.low,
                    high: l.high,
                    val_uar: val.uar,
                    val_war: val.war,
                    val_ce: val.ce,
                    best_epoch: p.best.as_ref().map(|b| b.epoch as u32),
                    best_uar: p.best.as_ref().map(|b| b.uar),
                }
            }
        }
    }
}
