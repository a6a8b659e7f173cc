//! One experiment task run from its description file, without Node: what `trnet-task` (src/bin) does on a
//! GPU machine or a cluster node that has libtorch but no Node.
//!
//! The TypeScript runner (`describeTasks` in ts/experiment/runner.ts, `trnet tasks <config> --describe`) builds
//! the feature stores and writes `<task dir>/task.json` for every task: which store items train, validate and
//! test it, its model and train configs, its frozen reference and, per evaluated item, the utterance, speaker,
//! label and SNR that a prediction row names. `run_task` then does what the runner's `runTask` does: trains (or
//! resumes, or reuses a finished run in `<task dir>/run`), evaluates the best checkpoint in every condition, saves
//! the representations of the rows the description flags `embed` (embeddings.f32 + embeddings.json, the format of
//! ts/report/embeddings.ts; which rows is the runner's decision, carried by the flag), evaluates the last
//! checkpoint for the variants with c, and writes `<task dir>/evaluation.json` in the runner's format, metrics
//! computed as ts/experiment/results.ts computes them (`task_metrics`). The runner, `trnet report` and `trnet
//! status` then see the task as finished.
//!
//! Paths in a description are relative to its folder (the task folder), so a run folder can be moved or
//! mounted elsewhere as a whole (with its feature stores, when they are inside it).

use crate::metrics::{EvalOptions, evaluate};
use crate::report::TrainReport;
use crate::run::{self, REPORT_FILE};
use crate::{Dataset, Error, Result, TrainConfig, TrainHooks, store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use trnet_dsp::files::{Durability, write_atomic};
use trnet_model::ModelConfig;

/// The description's file name inside a task folder.
pub const DESCRIPTION_FILE: &str = "task.json";
/// The runner's "finished" marker; written last, atomically.
pub const EVALUATION_FILE: &str = "evaluation.json";
/// The runner's per-task lock (ts/experiment/lock.ts): created with O_EXCL, holding pid, host and time.
pub const TASK_LOCK_FILE: &str = ".lock";
/// Bumped when the description changes incompatibly; the runner writes the same number.
pub const DESCRIPTION_FORMAT: u32 = 2;
/// The saved representations (ts/report/embeddings.ts): the index and the `count × dim` float32 values.
pub const EMBEDDINGS_INDEX_FILE: &str = "embeddings.json";
pub const EMBEDDINGS_DATA_FILE: &str = "embeddings.f32";
const EMBEDDINGS_FORMAT: &str = "trnet-embeddings";
const EMBEDDINGS_VERSION: u32 = 1;

/// Items of one feature store.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selection {
    pub store: PathBuf,
    pub items: Vec<usize>,
}

/// One evaluated item and what its prediction row says about it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvalItem {
    pub index: usize,
    pub utterance: String,
    pub speaker: String,
    pub label: usize,
    pub snr_db: Option<f64>,
    /// Whether embeddings.f32 keeps this row's representation (the runner's `keepEmbedding`).
    #[serde(default)]
    pub embed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvalSet {
    /// "clean" | "matched" | "unmatched".
    pub condition: String,
    pub store: PathBuf,
    pub items: Vec<EvalItem>,
}

/// `<task dir>/task.json` as the runner writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDescription {
    pub format: u32,
    pub id: String,
    pub index: usize,
    pub stage: u8,
    pub fold: String,
    pub seed: u64,
    pub variant: String,
    pub needs: Option<String>,
    /// The Baseline-c checkpoint (`…/baseline-c/run/best`) for stage-2 tasks.
    pub reference: Option<PathBuf>,
    /// The file whose existence says the reference has finished (its task's evaluation.json).
    pub reference_evaluation: Option<PathBuf>,
    pub model_config: Value,
    pub train_config: Value,
    pub device: String,
    pub train: Selection,
    pub validation: Selection,
    /// What the saved embeddings hold: "h~" (the FiLM-calibrated representation) or "h"; the index names it.
    pub representation: String,
    pub evaluation: Vec<EvalSet>,
}

/// A description read from disk, with its paths resolved against its folder.
#[derive(Debug, Clone)]
pub struct LoadedTask {
    pub file: PathBuf,
    pub dir: PathBuf,
    pub description: TaskDescription,
}

fn corrupt(path: &Path, problem: impl std::fmt::Display) -> TaskError {
    task_error(
        "TRNET_EXPERIMENT_CORRUPT",
        format!(
            "{}: {problem}. Write the task descriptions again with `trnet tasks <config> --describe` (the same trnet version as this binary).",
            path.display()
        ),
    )
}

/// Reads `<dir>/task.json` (or the file itself) and resolves its relative paths.
pub fn load(path: &Path) -> Result<LoadedTask, TaskError> {
    let file = if path.is_dir() { path.join(DESCRIPTION_FILE) } else { path.to_path_buf() };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(task_error(
                "TRNET_EXPERIMENT_NOT_FOUND",
                format!(
                    "expected a task description at {}, found nothing. Run `trnet tasks <config> --describe` where Node runs (it builds the feature stores and writes tasks/<fold>/seed-<n>/<variant>/task.json), then point trnet-task at that file, its task folder, or the run folder with --index.",
                    file.display()
                ),
            ));
        }
        Err(e) => return Err(Error::Io { during: "reading".into(), path: file, source: e }.into()),
    };
    // The format number first, so that a description from another version says so instead of failing on a field.
    let raw: Value = serde_json::from_str(&text).map_err(|e| corrupt(&file, format!("expected JSON, found text that does not parse ({e})")))?;
    match raw.get("format").and_then(Value::as_u64) {
        Some(f) if f == u64::from(DESCRIPTION_FORMAT) => {}
        other => {
            return Err(corrupt(
                &file,
                format!("expected a task description of format {DESCRIPTION_FORMAT}, found format {}", other.map_or("(none)".to_string(), |f| f.to_string())),
            ));
        }
    }
    let mut description: TaskDescription =
        serde_json::from_value(raw).map_err(|e| corrupt(&file, format!("not a task description of format {DESCRIPTION_FORMAT}: {e}")))?;
    let dir = file.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let at = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { dir.join(p) };
    description.train.store = at(&description.train.store);
    description.validation.store = at(&description.validation.store);
    description.reference = description.reference.as_deref().map(at);
    description.reference_evaluation = description.reference_evaluation.as_deref().map(at);
    if !matches!(description.representation.as_str(), "h~" | "h") {
        return Err(corrupt(&file, format!("representation: expected h~ or h, found {:?}", description.representation)));
    }
    for set in &mut description.evaluation {
        set.store = at(&set.store);
        if !matches!(set.condition.as_str(), "clean" | "matched" | "unmatched") {
            return Err(corrupt(&file, format!("evaluation condition: expected clean, matched or unmatched, found {:?}", set.condition)));
        }
    }
    if description.needs.is_some() != description.reference.is_some() || description.needs.is_some() != description.reference_evaluation.is_some() {
        return Err(corrupt(&file, "expected needs, reference and referenceEvaluation all set (stage 2) or all null (stage 1)"));
    }
    Ok(LoadedTask { file, dir, description })
}

/// The description of task `index` of the run folder `out_dir` (its plan.json lists the task ids).
pub fn find_in_run(out_dir: &Path, index: usize) -> Result<PathBuf, TaskError> {
    let plan_file = out_dir.join("plan.json");
    let text = std::fs::read_to_string(&plan_file).map_err(|_| {
        task_error(
            "TRNET_EXPERIMENT_NOT_FOUND",
            format!(
                "expected an experiment folder holding {}, found none. Point trnet-task at an experiment's run folder (its outDir), a task folder, or a task.json.",
                plan_file.display()
            ),
        )
    })?;
    let plan: Value = serde_json::from_str(&text).map_err(|e| corrupt(&plan_file, format!("expected the JSON trnet wrote ({e})")))?;
    let tasks = plan.get("tasks").and_then(Value::as_array).ok_or_else(|| corrupt(&plan_file, "expected a tasks array"))?;
    let id = tasks.iter().find(|t| t.get("index").and_then(Value::as_u64) == Some(index as u64)).and_then(|t| t.get("id").and_then(Value::as_str)).ok_or_else(
        || {
            TaskError::from(Error::invalid(
                "task index",
                format!("an index in 0..{} (see `trnet tasks`)", tasks.len()),
                index,
                "Pass --index N, or set SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX.",
            ))
        },
    )?;
    Ok(out_dir.join("tasks").join(id).join(DESCRIPTION_FILE))
}

/// Per-condition score, as ts/experiment/results.ts `Score`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    pub uar: f64,
    pub war: f64,
    pub n: usize,
    pub mean_c: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionScore {
    #[serde(flatten)]
    pub score: Score,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_snr: Option<BTreeMap<String, Score>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskMetrics {
    pub clean: Option<ConditionScore>,
    pub matched: Option<ConditionScore>,
    pub unmatched: Option<ConditionScore>,
}

/// One prediction row (ts/experiment/results.ts `PredictionRow`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub utterance: String,
    pub speaker: String,
    pub fold: String,
    pub seed: u64,
    pub variant: String,
    pub condition: String,
    pub snr_db: Option<f64>,
    pub label: usize,
    pub prediction: usize,
    pub probs: Vec<f64>,
    pub c: Option<f64>,
}

/// UAR (mean recall over the classes present, in order of first appearance), WAR and mean c: results.ts `score`.
pub fn score(rows: &[&Row]) -> Score {
    if rows.is_empty() {
        return Score { uar: f64::NAN, war: f64::NAN, n: 0, mean_c: None };
    }
    // (label, support, hits) in order of first appearance, as the TS Map iterates.
    let mut classes: Vec<(usize, usize, usize)> = Vec::new();
    let (mut correct, mut c_sum, mut c_count) = (0usize, 0.0f64, 0usize);
    for r in rows {
        let k = match classes.iter().position(|c| c.0 == r.label) {
            Some(k) => k,
            None => {
                classes.push((r.label, 0, 0));
                classes.len() - 1
            }
        };
        classes[k].1 += 1;
        if r.prediction == r.label {
            classes[k].2 += 1;
            correct += 1;
        }
        if let Some(c) = r.c {
            c_sum += c;
            c_count += 1;
        }
    }
    let recall: f64 = classes.iter().fold(0.0, |acc, &(_, n, hits)| acc + hits as f64 / n as f64);
    Score { uar: recall / classes.len() as f64, war: correct as f64 / rows.len() as f64, n: rows.len(), mean_c: (c_count > 0).then(|| c_sum / c_count as f64) }
}

/// An SNR as `JSON.stringify` writes it (integers without ".0"), so the embeddings index is the runner's bytes.
fn serialize_js_snr<S: serde::Serializer>(snr: &Option<f64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match *snr {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => s.serialize_i64(x as i64),
        Some(x) => s.serialize_f64(x),
        None => s.serialize_none(),
    }
}

/// One row of embeddings.json (ts/report/embeddings.ts `EmbeddingRow`), fields in the runner's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddingRow {
    pub utterance: String,
    pub speaker: String,
    pub label: usize,
    pub condition: String,
    #[serde(serialize_with = "serialize_js_snr")]
    pub snr_db: Option<f64>,
}

/// embeddings.json (`EmbeddingIndex`), fields in the order the runner's `encodeEmbeddings` writes them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbeddingIndex<'a> {
    format: &'static str,
    version: u32,
    file: &'static str,
    dtype: &'static str,
    byte_order: &'static str,
    count: usize,
    dim: usize,
    checkpoint: &'static str,
    variant: &'a str,
    epoch: usize,
    representation: &'a str,
    rows: &'a [EmbeddingRow],
}

/// Writes embeddings.f32 (row after row, little-endian float32) and embeddings.json into `dir`, as the runner's
/// `encodeEmbeddings` + `writeAtomic` do: compact JSON and a newline.
fn write_embeddings(dir: &Path, variant: &str, epoch: usize, representation: &str, rows: &[EmbeddingRow], vectors: &[Vec<f32>]) -> Result<(), TaskError> {
    let dim = vectors.first().map_or(0, Vec::len);
    if vectors.len() != rows.len() || vectors.iter().any(|v| v.len() != dim) {
        return Err(task_error(
            "TRNET_INTERNAL",
            format!("embeddings: expected one vector of one length per row ({} rows), found {} vectors", rows.len(), vectors.len()),
        ));
    }
    let bytes: Vec<u8> = vectors.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    let data = dir.join(EMBEDDINGS_DATA_FILE);
    write_atomic(&data, &bytes, Durability::Synced).map_err(Error::io("writing", &data))?;
    let index = EmbeddingIndex {
        format: EMBEDDINGS_FORMAT,
        version: EMBEDDINGS_VERSION,
        file: EMBEDDINGS_DATA_FILE,
        dtype: "float32",
        byte_order: "little-endian",
        count: rows.len(),
        dim,
        checkpoint: "best",
        variant,
        epoch,
        representation,
        rows,
    };
    let path = dir.join(EMBEDDINGS_INDEX_FILE);
    let text = serde_json::to_string(&index).map_err(|e| task_error("TRNET_INTERNAL", format!("{}: cannot serialise ({e})", path.display())))? + "\n";
    write_atomic(&path, text.as_bytes(), Durability::Synced).map_err(Error::io("writing", &path))?;
    Ok(())
}

/// A number as JavaScript's `String(x)` writes the ones that occur as SNRs (integers without ".0").
fn js_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e21 { format!("{}", x as i64) } else { format!("{x}") }
}

/// results.ts `conditionScore`: noisy conditions average the per-SNR scores (the paper's Table 1).
pub fn condition_score(rows: &[&Row]) -> Option<ConditionScore> {
    if rows.is_empty() {
        return None;
    }
    let mut snrs: Vec<Option<f64>> = Vec::new();
    for r in rows {
        if !snrs.iter().any(|s| s.map(f64::to_bits) == r.snr_db.map(f64::to_bits)) {
            snrs.push(r.snr_db);
        }
    }
    if snrs == [None] {
        return Some(ConditionScore { score: score(rows), per_snr: None });
    }
    // Highest SNR first, clean (null) before all, as the TS sort does.
    snrs.sort_by(|a, b| b.unwrap_or(f64::INFINITY).total_cmp(&a.unwrap_or(f64::INFINITY)));
    let list: Vec<(String, Score)> = snrs
        .iter()
        .map(|snr| {
            let these: Vec<&Row> = rows.iter().copied().filter(|r| r.snr_db.map(f64::to_bits) == snr.map(f64::to_bits)).collect();
            (snr.map_or_else(|| "null".to_string(), js_number), score(&these))
        })
        .collect();
    let mean = |f: &dyn Fn(&Score) -> f64| list.iter().fold(0.0, |acc, (_, s)| acc + f(s)) / list.len() as f64;
    let cs: Vec<f64> = list.iter().filter_map(|(_, s)| s.mean_c).collect();
    Some(ConditionScore {
        score: Score {
            uar: mean(&|s| s.uar),
            war: mean(&|s| s.war),
            n: rows.len(),
            mean_c: (!cs.is_empty()).then(|| cs.iter().fold(0.0, |a, b| a + b) / cs.len() as f64),
        },
        per_snr: Some(list.into_iter().collect()),
    })
}

/// results.ts `taskMetrics`.
pub fn task_metrics(rows: &[Row]) -> TaskMetrics {
    let of = |condition: &str| -> Vec<&Row> { rows.iter().filter(|r| r.condition == condition).collect() };
    TaskMetrics { clean: condition_score(&of("clean")), matched: condition_score(&of("matched")), unmatched: condition_score(&of("unmatched")) }
}

/// The last checkpoint's metrics (results.ts `LastCheckpoint`), recorded for the variants with c.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastCheckpoint {
    /// The last epoch trained (run/last).
    pub epoch: usize,
    /// The epoch chosen by validation UAR (run/best).
    pub best_epoch: usize,
    pub metrics: TaskMetrics,
}

/// What `evaluation.json` holds (the runner's `StoredEvaluation` plus `best` and `epochsRun`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Evaluation<'a> {
    id: &'a str,
    fold: &'a str,
    seed: u64,
    variant: &'a str,
    metrics: &'a TaskMetrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<&'a LastCheckpoint>,
    best: &'a crate::Best,
    epochs_run: usize,
    rows: &'a [Row],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// evaluation.json existed: nothing was done.
    Skipped,
    Finished,
}

/// What `run_task` did.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    pub evaluation: PathBuf,
    /// Read back from evaluation.json (also for a skipped task).
    pub metrics: Value,
}

/// Settings of one `run_task` call that are not the task's (they do not change its results beyond the device's
/// numerics).
pub struct RunOptions<'a> {
    /// Overrides the description's device (training and evaluation), e.g. "cuda" on a GPU node.
    pub device: Option<String>,
    pub hooks: TrainHooks<'a>,
}

fn task_error(code: &'static str, message: String) -> TaskError {
    TaskError { code, message, source: None }
}

/// An error of `run_task`: the engine's, or one of the runner's task-level codes.
#[derive(Debug)]
pub struct TaskError {
    pub code: &'static str,
    pub message: String,
    /// The engine's error, boxed: it is large, and every `Result` of this module carries its size.
    pub source: Option<Box<Error>>,
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().and_then(std::error::Error::source)
    }
}

impl From<Error> for TaskError {
    fn from(e: Error) -> Self {
        TaskError { code: e.code(), message: e.to_string(), source: Some(Box::new(e)) }
    }
}

impl From<trnet_model::Error> for TaskError {
    fn from(e: trnet_model::Error) -> Self {
        Error::from(e).into()
    }
}

fn read_metrics(path: &Path) -> Result<Value, TaskError> {
    let text = std::fs::read_to_string(path).map_err(Error::io("reading", path))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        task_error(
            "TRNET_EXPERIMENT_CORRUPT",
            format!(
                "{}: expected the JSON trnet wrote, found text that does not parse ({e}). Delete the task folder's evaluation.json and rerun the task.",
                path.display()
            ),
        )
    })?;
    Ok(v.get("metrics").cloned().unwrap_or(Value::Null))
}

/// Runs the task `task` describes into its folder; see the module comment.
pub fn run_task(task: &LoadedTask, options: &RunOptions<'_>) -> Result<Outcome, TaskError> {
    let d = &task.description;
    let evaluation = task.dir.join(EVALUATION_FILE);
    if evaluation.exists() {
        return Ok(Outcome { status: Status::Skipped, metrics: read_metrics(&evaluation)?, evaluation });
    }
    if let (Some(needs), Some(marker)) = (&d.needs, &d.reference_evaluation)
        && !marker.exists()
    {
        return Err(task_error(
            "TRNET_TASK_NOT_READY",
            format!(
                "task {} needs {needs} (its frozen reference), which has not finished: expected {}, found nothing. Run the stage-1 tasks first (on Slurm, stage 2 waits with --dependency=afterok).",
                d.id,
                marker.display()
            ),
        ));
    }
    let lock = TaskLock::take(&task.dir, &d.id)?;
    let result = run_locked(task, options, &evaluation);
    drop(lock);
    result
}

fn run_locked(task: &LoadedTask, options: &RunOptions<'_>, evaluation: &Path) -> Result<Outcome, TaskError> {
    let d = &task.description;
    if evaluation.exists() {
        // Another worker finished it between the check in run_task and taking the lock.
        return Ok(Outcome { status: Status::Skipped, metrics: read_metrics(evaluation)?, evaluation: evaluation.to_path_buf() });
    }
    let device = options.device.clone().unwrap_or_else(|| d.device.clone());
    let mut train_config = d.train_config.clone();
    if let Some(obj) = train_config.as_object_mut() {
        obj.insert("device".into(), Value::String(device.clone()));
    }
    let train_config = TrainConfig::from_json(&train_config.to_string())?;
    // Stores are opened once each (the clean test items and the training view share one).
    let mut stores: BTreeMap<PathBuf, Dataset> = BTreeMap::new();
    let mut open = |p: &Path| -> Result<Dataset> {
        if !stores.contains_key(p) {
            stores.insert(p.to_path_buf(), store::open(p)?);
        }
        Ok(stores[p].clone())
    };
    let train_view = open(&d.train.store)?;
    let train_set = train_view.subset(&d.train.items)?;
    let val_set = open(&d.validation.store)?.subset(&d.validation.items)?;
    let run_dir = task.dir.join("run");
    let reference = d.reference.as_deref();
    let report: TrainReport = if run_dir.join(REPORT_FILE).exists() {
        let path = run_dir.join(REPORT_FILE);
        let text = std::fs::read_to_string(&path).map_err(Error::io("reading", &path))?;
        serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            problem: format!("not a training report ({e})"),
            fix: "Delete the task's run folder and rerun the task.".into(),
        })?
    } else if run_dir.join(run::LAST).join(run::STATE_FILE).exists() || run_dir.join(".last.old").join(run::STATE_FILE).exists() {
        crate::resume(&train_config, &train_set, &val_set, reference, &run_dir, &options.hooks)?
    } else {
        // Nothing resumable: a start that died before its first checkpoint. Start over, as the runner does.
        if run_dir.exists() {
            std::fs::remove_dir_all(&run_dir).map_err(Error::io("removing", &run_dir))?;
        }
        let model_config = ModelConfig::from_json(&d.model_config.to_string())?;
        crate::train(&train_config, &model_config, &train_set, &val_set, reference, &run_dir, &options.hooks)?
    };
    if (options.hooks.cancelled)() {
        return Err(Error::Cancelled { checkpoint: Some(run_dir.join(run::LAST)) }.into());
    }

    let device = trnet_model::parse_device(&device)?.resolve()?;
    // The checkpoint chosen by validation UAR, with the representations the report's t-SNE embeds.
    let best = evaluate_conditions(d, &mut open, &report.best_dir, device, true, options)?;
    write_embeddings(&task.dir, &d.variant, report.best.epoch, &d.representation, &best.embedded, &best.vectors)?;
    let rows = best.rows;
    // The last epoch's checkpoint too, for the variants with c (as the runner does); the same checkpoint when the
    // last epoch was the chosen one.
    let last = if rows.iter().any(|r| r.c.is_some()) {
        let metrics = if report.epochs_run == report.best.epoch {
            task_metrics(&rows)
        } else {
            task_metrics(&evaluate_conditions(d, &mut open, &run_dir.join(run::LAST), device, false, options)?.rows)
        };
        Some(LastCheckpoint { epoch: report.epochs_run, best_epoch: report.best.epoch, metrics })
    } else {
        None
    };
    let metrics = task_metrics(&rows);
    let record = Evaluation {
        id: &d.id,
        fold: &d.fold,
        seed: d.seed,
        variant: &d.variant,
        metrics: &metrics,
        last: last.as_ref(),
        best: &report.best,
        epochs_run: report.epochs_run,
        rows: &rows,
    };
    run::write_json_atomic(evaluation, &record)?;
    Ok(Outcome { status: Status::Finished, metrics: serde_json::to_value(&metrics).unwrap_or(Value::Null), evaluation: evaluation.to_path_buf() })
}

/// What `evaluate_conditions` returns: one prediction row per evaluated item, and the kept representations.
struct Evaluated {
    rows: Vec<Row>,
    embedded: Vec<EmbeddingRow>,
    vectors: Vec<Vec<f32>>,
}

/// Evaluates `checkpoint_dir` on every evaluation set of `d` (the runner's `evaluateConditions`), keeping the
/// representations of the items flagged `embed` when `embeddings` is set.
fn evaluate_conditions(
    d: &TaskDescription,
    open: &mut dyn FnMut(&Path) -> Result<Dataset>,
    checkpoint_dir: &Path,
    device: tch::Device,
    embeddings: bool,
    options: &RunOptions<'_>,
) -> Result<Evaluated, TaskError> {
    let checkpoint = tch::no_grad(|| trnet_model::checkpoint::load(checkpoint_dir, device))?;
    let mut out = Evaluated { rows: Vec::new(), embedded: Vec::new(), vectors: Vec::new() };
    for set in &d.evaluation {
        let indices: Vec<usize> = set.items.iter().map(|i| i.index).collect();
        let data = open(&set.store)?.subset(&indices)?;
        let wanted = embeddings && set.items.iter().any(|i| i.embed);
        let eval = EvalOptions { cancelled: options.hooks.cancelled, embeddings: wanted, ..Default::default() };
        let result = evaluate(&checkpoint.model, &data, &eval)?;
        for p in result.predictions {
            let item = &set.items[p.item];
            if p.label != item.label {
                return Err(task_error(
                    "TRNET_INTERNAL",
                    format!(
                        "task {}: item {} of the {} set has label {}, expected {} ({}); the feature store does not hold the experiment's utterances.",
                        d.id, p.item, set.condition, p.label, item.label, item.utterance
                    ),
                ));
            }
            if wanted
                && item.embed
                && let Some(embedding) = p.embedding
            {
                out.embedded.push(EmbeddingRow {
                    utterance: item.utterance.clone(),
                    speaker: item.speaker.clone(),
                    label: p.label,
                    condition: set.condition.clone(),
                    snr_db: item.snr_db,
                });
                out.vectors.push(embedding);
            }
            out.rows.push(Row {
                utterance: item.utterance.clone(),
                speaker: item.speaker.clone(),
                fold: d.fold.clone(),
                seed: d.seed,
                variant: d.variant.clone(),
                condition: set.condition.clone(),
                snr_db: item.snr_db,
                label: p.label,
                prediction: p.predicted,
                // As the addon hands them to the runner: f32 widened to f64.
                probs: p.probs.iter().map(|&x| f64::from(x)).collect(),
                c: p.c.map(f64::from),
            });
        }
    }
    Ok(out)
}

/// The runner's task lock, taken the same way (ts/experiment/lock.ts), so a Node worker and this binary never run
/// one task at once.
struct TaskLock {
    file: PathBuf,
}

fn hostname() -> String {
    // What Node's os.hostname() returns on Linux (gethostname).
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

fn now_iso() -> String {
    // Seconds since the epoch are enough to tell locks apart; the TS side only prints this field.
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("unix:{secs}")
}

#[derive(Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    #[serde(default)]
    since: Value,
}

impl TaskLock {
    fn take(dir: &Path, id: &str) -> Result<TaskLock, TaskError> {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        let file = dir.join(TASK_LOCK_FILE);
        let me = hostname();
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(&file) {
                Ok(mut f) => {
                    let text = serde_json::json!({ "pid": std::process::id(), "host": me, "since": now_iso() }).to_string() + "\n";
                    f.write_all(text.as_bytes()).map_err(Error::io("writing", &file))?;
                    return Ok(TaskLock { file });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::Io { during: "creating".into(), path: file, source: e }.into()),
            }
            let holder: Option<Holder> = std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str(&t).ok());
            match &holder {
                Some(h) if h.host == me && !pid_alive(h.pid) => {
                    // Stale: its process died on this host. Move it aside and try again (as lock.ts does).
                    let aside = dir.join(format!("{TASK_LOCK_FILE}.stale-{}", std::process::id()));
                    if std::fs::rename(&file, &aside).is_ok() {
                        let _ = std::fs::remove_file(&aside);
                    }
                }
                _ => {
                    let who =
                        holder.map_or("a worker that is writing the lock right now".to_string(), |h| format!("pid {} on {} since {}", h.pid, h.host, h.since));
                    return Err(task_error(
                        "TRNET_TASK_LOCKED",
                        format!(
                            "task {id} is being run by another worker ({who}); expected no other worker on it. Wait for that worker, or, if it is gone, delete {} and run the task again.",
                            file.display()
                        ),
                    ));
                }
            }
        }
        Err(task_error("TRNET_TASK_LOCKED", format!("task {id}: could not take {} after 3 attempts; expected one worker per task.", file.display())))
    }
}

impl Drop for TaskLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(condition: &str, snr: Option<f64>, label: usize, prediction: usize, c: Option<f64>) -> Row {
        Row {
            utterance: "u".into(),
            speaker: "s".into(),
            fold: "f".into(),
            seed: 1,
            variant: "trnet".into(),
            condition: condition.into(),
            snr_db: snr,
            label,
            prediction,
            probs: vec![],
            c,
        }
    }

    #[test]
    fn score_is_mean_recall_over_present_classes() {
        // Class 0: 1 of 2 right; class 2: 1 of 1; class 1 absent. UAR (0.5 + 1) / 2, WAR 2/3.
        let rows = [row("clean", None, 0, 0, Some(0.2)), row("clean", None, 0, 1, Some(0.4)), row("clean", None, 2, 2, None)];
        let s = score(&rows.iter().collect::<Vec<_>>());
        assert_eq!(s.n, 3);
        assert!((s.uar - 0.75).abs() < 1e-12, "{s:?}");
        assert!((s.war - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.mean_c.unwrap() - 0.3).abs() < 1e-12);
    }

    #[test]
    fn noisy_conditions_average_per_snr_and_name_them_as_js_does() {
        let rows = [
            row("matched", Some(10.0), 0, 0, None),
            row("matched", Some(10.0), 1, 1, None),
            row("matched", Some(0.0), 0, 1, None),
            row("matched", Some(0.0), 1, 1, None),
            row("clean", None, 0, 0, None),
        ];
        let m = task_metrics(&rows);
        let matched = m.matched.unwrap();
        let per = matched.per_snr.as_ref().unwrap();
        assert_eq!(per.keys().cloned().collect::<Vec<_>>(), vec!["0".to_string(), "10".to_string()]);
        assert!((per["10"].uar - 1.0).abs() < 1e-12 && (per["0"].uar - 0.5).abs() < 1e-12);
        assert!((matched.score.uar - 0.75).abs() < 1e-12);
        assert_eq!(matched.score.n, 4);
        assert!(m.unmatched.is_none());
        assert!(m.clean.unwrap().per_snr.is_none());
        assert_eq!(js_number(2.5), "2.5");
        assert_eq!(js_number(-5.0), "-5");
    }

    #[test]
    fn embeddings_files_are_the_runners_bytes() {
        let dir = std::env::temp_dir().join(format!("trnet-task-emb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = |condition: &str, snr: Option<f64>| EmbeddingRow {
            utterance: "u1".into(),
            speaker: "s".into(),
            label: 2,
            condition: condition.into(),
            snr_db: snr,
        };
        let rows = [r("clean", None), r("matched", Some(0.0)), r("matched", Some(-2.5))];
        write_embeddings(&dir, "trnet", 3, "h~", &rows, &[vec![1.0, -0.5], vec![0.25, 2.0], vec![0.0, 1e-3]]).unwrap();
        // What JSON.stringify(encodeEmbeddings(...).index) writes: keys in its order, SNRs as JS numbers.
        let text = std::fs::read_to_string(dir.join(EMBEDDINGS_INDEX_FILE)).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"format":"trnet-embeddings","version":1,"file":"embeddings.f32","dtype":"float32","byteOrder":"little-endian","count":3,"dim":2,"#,
                r#""checkpoint":"best","variant":"trnet","epoch":3,"representation":"h~","rows":["#,
                r#"{"utterance":"u1","speaker":"s","label":2,"condition":"clean","snrDb":null},"#,
                r#"{"utterance":"u1","speaker":"s","label":2,"condition":"matched","snrDb":0},"#,
                r#"{"utterance":"u1","speaker":"s","label":2,"condition":"matched","snrDb":-2.5}]}"#,
                "\n"
            )
        );
        let bytes = std::fs::read(dir.join(EMBEDDINGS_DATA_FILE)).unwrap();
        assert_eq!(bytes.len(), 3 * 2 * 4);
        assert_eq!(&bytes[4..8], &(-0.5f32).to_le_bytes());
        assert_eq!(&bytes[20..24], &1e-3f32.to_le_bytes());
        let e = write_embeddings(&dir, "trnet", 3, "h~", &rows, &[vec![1.0]]).unwrap_err();
        assert_eq!(e.code, "TRNET_INTERNAL");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_and_foreign_descriptions_are_coded_errors() {
        let dir = std::env::temp_dir().join(format!("trnet-task-desc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = load(&dir).unwrap_err();
        assert_eq!(e.code, "TRNET_EXPERIMENT_NOT_FOUND");
        assert!(e.to_string().contains("--describe"), "{e}");
        std::fs::write(dir.join(DESCRIPTION_FILE), "{ not json").unwrap();
        let e = load(&dir).unwrap_err();
        assert_eq!(e.code, "TRNET_EXPERIMENT_CORRUPT");
        assert!(e.to_string().contains("does not parse"), "{e}");
        std::fs::write(dir.join(DESCRIPTION_FILE), r#"{"format": 99}"#).unwrap();
        assert!(load(&dir).unwrap_err().to_string().contains("found format 99"));
        std::fs::write(dir.join(DESCRIPTION_FILE), r#"{"format": 2, "id": "x"}"#).unwrap();
        assert!(load(&dir).unwrap_err().to_string().contains("missing field"));
        let e = find_in_run(&dir, 0).unwrap_err();
        assert_eq!(e.code, "TRNET_EXPERIMENT_NOT_FOUND");
        assert!(e.to_string().contains("plan.json"), "{e}");
        std::fs::write(dir.join("plan.json"), r#"{"tasks": [{"id": "f/seed-1/baseline-c", "index": 0}]}"#).unwrap();
        assert_eq!(find_in_run(&dir, 0).unwrap(), dir.join("tasks/f/seed-1/baseline-c/task.json"));
        assert_eq!(find_in_run(&dir, 1).unwrap_err().code, "TRNET_INVALID_ARGUMENT");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
