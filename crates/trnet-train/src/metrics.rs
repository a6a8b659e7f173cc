//! UAR, WAR, confusion matrices, and evaluation of a model on a dataset.
//!
//! - WAR (weighted average recall) = accuracy: correct / all.
//! - UAR (unweighted average recall) = mean over classes of recall_k = correct_k / true_k, taken over the
//!   classes present in the ground truth (a class with no true item has no recall and is left out rather
//!   than counted as 0 or 1).

use crate::batcher::{Fields, for_each_batch, sequential_plan};
use crate::dataset::Dataset;
use crate::forward::forward;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use tch::{Kind, Tensor};
use trnet_model::TrnetModel;

/// `confusion[true][predicted]` counts for `num_classes` classes. Labels or predictions out of range are
/// an error.
pub fn confusion_matrix(labels: &[usize], predicted: &[usize], num_classes: usize) -> Result<Vec<Vec<u64>>> {
    if labels.len() != predicted.len() {
        return Err(Error::invalid(
            "predictions",
            format!("one per label ({})", labels.len()),
            predicted.len(),
            "Pass the labels and predictions of the same items.",
        ));
    }
    let mut m = vec![vec![0u64; num_classes]; num_classes];
    for (&t, &p) in labels.iter().zip(predicted) {
        if t >= num_classes || p >= num_classes {
            return Err(Error::invalid("class index", format!("0..{num_classes}"), t.max(p), "Use the model's number of classes."));
        }
        m[t][p] += 1;
    }
    Ok(m)
}

/// Recall per class; `None` for classes without true items.
pub fn recalls(confusion: &[Vec<u64>]) -> Vec<Option<f64>> {
    confusion
        .iter()
        .enumerate()
        .map(|(k, row)| {
            let n: u64 = row.iter().sum();
            (n > 0).then(|| row[k] as f64 / n as f64)
        })
        .collect()
}

/// Mean recall over the classes present in the ground truth (0 for an empty matrix).
pub fn uar(confusion: &[Vec<u64>]) -> f64 {
    let present: Vec<f64> = recalls(confusion).into_iter().flatten().collect();
    if present.is_empty() { 0.0 } else { present.iter().sum::<f64>() / present.len() as f64 }
}

/// Accuracy (0 for an empty matrix).
pub fn war(confusion: &[Vec<u64>]) -> f64 {
    let total: u64 = confusion.iter().flatten().sum();
    let correct: u64 = confusion.iter().enumerate().map(|(k, row)| row[k]).sum();
    if total == 0 { 0.0 } else { correct as f64 / total as f64 }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    /// Index of the item in the evaluated dataset.
    pub item: usize,
    pub id: String,
    pub label: usize,
    pub predicted: usize,
    /// Softmax of the logits.
    pub probs: Vec<f32>,
    /// The SNR coefficient c, for the variants that estimate one.
    pub c: Option<f32>,
    /// The utterance-level representation the classifier reads (`TrnetModel::representation`: h~ for the
    /// calibrated TRNet variants, h otherwise), when `EvalOptions::embeddings` asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvalReport {
    pub uar: f64,
    pub war: f64,
    /// Mean cross-entropy of the labels under the model.
    pub ce: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    pub recalls: Vec<Option<f64>>,
    pub predictions: Vec<Prediction>,
}

/// How to evaluate: batch size, prefetching, CUDA autocast, and the job hooks.
pub struct EvalOptions<'a> {
    pub batch_size: usize,
    pub prefetch: usize,
    pub mixed_precision: bool,
    /// Called after each batch with (items done, items total).
    pub on_batch: &'a dyn Fn(usize, usize),
    /// Polled before each batch; true stops with `Error::Cancelled`.
    pub cancelled: &'a dyn Fn() -> bool,
    /// Also return each item's representation (`Prediction::embedding`), e.g. for the report's t-SNE.
    pub embeddings: bool,
}

impl Default for EvalOptions<'static> {
    fn default() -> Self {
        EvalOptions { batch_size: 32, prefetch: 1, mixed_precision: false, on_batch: &|_, _| {}, cancelled: &|| false, embeddings: false }
    }
}

/// Evaluates `model` on every item of `dataset`, reading each as a test input (X, and Xe where the variant
/// needs it; Baseline-e reads Xe). BatchNorm uses its running statistics; no gradients are tracked.
pub fn evaluate(model: &TrnetModel, dataset: &Dataset, options: &EvalOptions<'_>) -> Result<EvalReport> {
    let all: Vec<usize> = (0..dataset.len()).collect();
    evaluate_items(model, dataset, &all, options)
}

/// `evaluate` on the items at `items` (predictions keep their dataset indices).
pub fn evaluate_items(model: &TrnetModel, dataset: &Dataset, items: &[usize], options: &EvalOptions<'_>) -> Result<EvalReport> {
    let k = model.config().num_classes;
    if items.is_empty() {
        return Err(Error::invalid("evaluation set", "at least one item", "none", "Pass a non-empty dataset."));
    }
    if dataset.bins() != model.config().n_mels {
        return Err(Error::invalid(
            "evaluation set",
            format!("{} log-Mel bins (the model's nMels)", model.config().n_mels),
            dataset.bins(),
            "Compute features with the bin count the model was trained on.",
        ));
    }
    if let Some(&i) = items.iter().find(|&&i| i >= dataset.len() || dataset.item(i).label >= k) {
        let found = if i >= dataset.len() { format!("item index {i} of {}", dataset.len()) } else { format!("label {} at item {i}", dataset.item(i).label) };
        return Err(Error::invalid("evaluation item", format!("an existing item with a label in 0..{k}"), found, "Map labels to 0..numClasses−1."));
    }
    let fields = Fields::eval(model.variant());
    fields.check(dataset, items, "evaluation")?;
    let _malloc = trnet_runtime::allocator::job_scope();
    let device = model.encoder().device();
    let plan = sequential_plan(items, options.batch_size);
    let mut predictions = Vec::with_capacity(items.len());
    let mut ce_sum = 0.0f64;
    let mut cancelled = false;
    for_each_batch(dataset, &plan, fields, options.prefetch, |_, batch| {
        if (options.cancelled)() {
            cancelled = true;
            return Ok(ControlFlow::Break(()));
        }
        let batch = batch.to_device(device)?;
        let b = batch.len();
        tch::no_grad(|| -> Result<()> {
            let out = forward(model, &batch, false, options.mixed_precision)?;
            let logits = out.logits.f_to_kind(Kind::Float).map_err(Error::torch("reading logits"))?;
            let ce = trnet_model::losses::cross_entropy(&logits, &batch.labels)?.f_double_value(&[]).map_err(Error::torch("reading the cross-entropy"))?;
            ce_sum += ce * b as f64;
            let probs = logits.f_softmax(1, Kind::Float).map_err(Error::torch("computing probabilities"))?;
            let logits: Vec<f32> = to_vec(&logits)?;
            let probs: Vec<f32> = to_vec(&probs)?;
            let c: Option<Vec<f32>> =
                out.c.as_ref().map(|c| c.f_to_kind(Kind::Float).map_err(Error::torch("reading c")).and_then(|c| to_vec(&c))).transpose()?;
            let embeddings: Option<Vec<f32>> = if options.embeddings {
                Some(model.representation(&out).f_to_kind(Kind::Float).map_err(Error::torch("reading representations")).and_then(|e| to_vec(&e))?)
            } else {
                None
            };
            let dim = model.config().embedding_dim();
            for (row, &item) in batch.items.iter().enumerate() {
                let l = &logits[row * k..(row + 1) * k];
                // First maximum on ties, like torch.argmax.
                let predicted = (0..k).fold(0, |best, j| if l[j] > l[best] { j } else { best });
                predictions.push(Prediction {
                    item,
                    id: dataset.item(item).id.clone(),
                    label: dataset.item(item).label,
                    predicted,
                    probs: probs[row * k..(row + 1) * k].to_vec(),
                    c: c.as_ref().map(|c| c[row]),
                    embedding: embeddings.as_ref().map(|e| e[row * dim..(row + 1) * dim].to_vec()),
                });
            }
            Ok(())
        })?;
        (options.on_batch)(predictions.len(), items.len());
        Ok(ControlFlow::Continue(()))
    })?;
    if cancelled {
        return Err(Error::Cancelled { checkpoint: None });
    }
    let labels: Vec<usize> = predictions.iter().map(|p| p.label).collect();
    let predicted: Vec<usize> = predictions.iter().map(|p| p.predicted).collect();
    let confusion = confusion_matrix(&labels, &predicted, k)?;
    Ok(EvalReport { uar: uar(&confusion), war: war(&confusion), ce: ce_sum / items.len() as f64, recalls: recalls(&confusion), confusion, predictions })
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    let flat = t.f_to_device(tch::Device::Cpu).and_then(|t| t.f_flatten(0, -1)).map_err(Error::torch("reading results back"))?;
    Vec::<f32>::try_from(&flat).map_err(Error::torch("reading results back"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uar_averages_recall_over_present_classes() {
        // true: 0 0 0 0 1 1 2 ; predicted: 0 0 0 1 1 0 2 — class 3 never occurs.
        let labels = [0, 0, 0, 0, 1, 1, 2];
        let predicted = [0, 0, 0, 1, 1, 0, 2];
        let m = confusion_matrix(&labels, &predicted, 4).unwrap();
        assert_eq!(m[0], [3, 1, 0, 0]);
        assert_eq!(m[1], [1, 1, 0, 0]);
        assert_eq!(recalls(&m), [Some(0.75), Some(0.5), Some(1.0), None]);
        assert!((uar(&m) - (0.75 + 0.5 + 1.0) / 3.0).abs() < 1e-15);
        assert!((war(&m) - 5.0 / 7.0).abs() < 1e-15);
    }

    #[test]
    fn edge_cases() {
        let m = confusion_matrix(&[], &[], 3).unwrap();
        assert_eq!((uar(&m), war(&m)), (0.0, 0.0));
        assert!(confusion_matrix(&[0, 3], &[0, 0], 3).is_err());
        assert!(confusion_matrix(&[0], &[0, 1], 3).is_err());
        let perfect = confusion_matrix(&[1, 1, 2], &[1, 1, 2], 3).unwrap();
        assert_eq!((uar(&perfect), war(&perfect)), (1.0, 1.0));
    }
}
