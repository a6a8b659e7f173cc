//! The run folder and its resumable state.
//!
//! ```text
//! out_dir/
//!   train-config.json      the TrainConfig of the run (as first started)
//!   best/                  best epoch by validation UAR: model.safetensors + config.json (trnet-model's
//!                          checkpoint format, loadable with checkpoint::load) + best.json (epoch, UAR, WAR)
//!   last/                  where the run stands, rewritten at every epoch end and on cancellation:
//!     model.safetensors    all variables (BatchNorm running statistics included)
//!     config.json          the ModelConfig
//!     optimizer.safetensors  Adam's moments m.<var>, v.<var>
//!     state.json           RunState: position (epoch, step), Adam step, learning rate, schedule, best so
//!                          far, history, partial epoch sums, loss scale, config and data fingerprints
//!   report.json            the TrainReport, once the run has finished
//!   run.lock               while a train or resume call writes the folder: its pid and host (see `lock`)
//! ```
//!
//! `best/` and `last/` also hold `checksums.json`, the SHA-256 of their safetensors files, checked when
//! they are loaded (trnet-model's `checkpoint::verify_file`). `read_state` checks `state.json` against
//! itself and its config (epoch within the configured epochs, one history record per finished epoch, the
//! best epoch among them), so an edited or mismatched state is refused instead of resumed.
//!
//! `best/` and `last/` are each replaced as a whole: the new folder is written beside the old one under a
//! temporary name (files fsynced), the old one is renamed to `.<name>.old`, the new one into place, the
//! parent fsynced, and the old one removed. A crash leaves either the old or the new folder complete; if it
//! falls between the two renames only `.<name>.old` exists, and `resolve` falls back to it.
//!
//! No random-generator state is saved because none is needed: every random choice is a pure function of
//! the run seed and the epoch (see `seed`), so the position (epoch, step) is the generator position.

use crate::config::TrainConfig;
use crate::report::{EpochRecord, LossValues};
use crate::schedule::{Best, PlateauState};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use trnet_dsp::files::{Durability, temp_sibling, write_atomic};
use trnet_model::ModelConfig;

pub const LAST: &str = "last";
pub const BEST: &str = "best";
pub const STATE_FILE: &str = "state.json";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const BEST_FILE: &str = "best.json";
pub const TRAIN_CONFIG_FILE: &str = "train-config.json";
pub const REPORT_FILE: &str = "report.json";
pub const LOCK_FILE: &str = "run.lock";

/// Bumped when `RunState` changes incompatibly.
pub const STATE_FORMAT: u32 = 1;

/// Loss sums over the batches of the epoch in progress, weighted by batch size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LossSums {
    pub items: usize,
    pub ce: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub total: f64,
}

impl LossSums {
    pub fn add(&mut self, v: &LossValues, n: usize) {
        let w = n as f64;
        self.items += n;
        self.ce += v.ce * w;
        self.total += v.total * w;
        if let Some(l) = v.low {
            self.low = Some(self.low.unwrap_or(0.0) + l * w);
        }
        if let Some(h) = v.high {
            self.high = Some(self.high.unwrap_or(0.0) + h * w);
        }
    }

    pub fn mean(&self) -> LossValues {
        let n = self.items.max(1) as f64;
        LossValues { ce: self.ce / n, low: self.low.map(|l| l / n), high: self.high.map(|h| h / n), total: self.total / n }
    }
}

/// Dynamic loss scaling for float16 autocast (PyTorch GradScaler's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LossScale {
    pub scale: f64,
    /// Finite steps since the scale last changed.
    pub good_steps: u32,
}

impl Default for LossScale {
    fn default() -> Self {
        LossScale { scale: 65536.0, good_steps: 0 }
    }
}

impl LossScale {
    const GROWTH_INTERVAL: u32 = 2000;

    /// After a step: halve on overflow (the step was skipped), double after 2000 finite steps.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.good_steps += 1;
            if self.good_steps >= Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            self.scale *= 0.5;
            self.good_steps = 0;
        }
    }
}

/// What the data of a run looked like, so `resume` can refuse other data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataPrint {
    pub train: String,
    pub train_items: usize,
    pub val: String,
    pub val_items: usize,
    /// Of the reference checkpoint's files, when the variant uses one.
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    pub format: u32,
    pub train_config: TrainConfig,
    pub model_config: ModelConfig,
    /// The epoch in progress, 0-based (= epochs done).
    pub epoch: usize,
    /// Batches of `epoch` done; equal to the batch count when only its validation is missing.
    pub step: usize,
    pub partial: LossSums,
    pub global_step: usize,
    pub lr: f64,
    pub adam_step: i64,
    pub plateau: PlateauState,
    pub best: Option<Best>,
    pub epochs_since_best: usize,
    pub stopped_early: bool,
    pub loss_scale: Option<LossScale>,
    pub history: Vec<EpochRecord>,
    pub data: DataPrint,
    /// How the random streams derive from the seed (documentation for readers of the file).
    pub rng: String,
}

pub const RNG_NOTE: &str =
    "stateless: the shuffle of epoch e is SplitMix64(derive(seed, 1, e)); weights were initialised from torch.manual_seed(seed); no other draws";

/// `dir`, or the `.name.old` folder beside it when a crash fell between the two renames of a replace.
pub fn resolve(dir: &Path) -> Option<PathBuf> {
    if dir.is_dir() {
        return Some(dir.to_path_buf());
    }
    let old = sibling(dir, "old");
    old.is_dir().then_some(old)
}

fn sibling(dir: &Path, tag: &str) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.with_file_name(format!(".{name}.{tag}"))
}

/// Replaces the folder `target` with one that `fill` writes, as described in the module docs.
pub fn replace_dir(target: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent =
        target.parent().ok_or_else(|| Error::invalid("checkpoint folder", "a path with a parent folder", target.display(), "Pass a run folder path."))?;
    std::fs::create_dir_all(parent).map_err(Error::io("creating run folder", parent))?;
    let tmp = temp_sibling(target, "tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(Error::io("removing stale folder", &tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(Error::io("creating", &tmp))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = sibling(target, "old");
    if target.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(Error::io("removing", &old))?;
        }
        std::fs::rename(target, &old).map_err(Error::io("moving aside", target))?;
    }
    std::fs::rename(&tmp, target).map_err(Error::io("renaming into place", target))?;
    sync_dir(parent)?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(Error::io("removing", &old))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("syncing folder", dir))
}

fn json_text<T: Serialize>(path: &Path, value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        problem: format!("cannot serialise: {e}"),
        fix: "This is a bug in trnet-train.".into(),
    })
}

/// Writes `value` as pretty JSON to `path` and fsyncs it (the caller's folder swap makes it atomic).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = json_text(path, value)?;
    File::create(path)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })
        .map_err(Error::io("writing", path))
}

/// Writes a JSON file atomically and durably (`trnet_dsp::files`: temporary file, fsync, rename, folder fsync).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = json_text(path, value)? + "\n";
    write_atomic(path, text.as_bytes(), Durability::Synced).map_err(Error::io("writing", path))
}

pub fn fsync_file(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).map_err(Error::io("syncing", path))
}

/// Reads the state of the run in `out_dir` (from `last/`, or its `.last.old` fallback).
pub fn read_state(out_dir: &Path) -> Result<(PathBuf, RunState)> {
    let last = out_dir.join(LAST);
    if last.exists() && !last.is_dir() {
        return Err(Error::Corrupt {
            path: last,
            problem: "it is a file, but a run keeps its last checkpoint in a folder of that name".into(),
            fix: "Move the file away; resume a folder that train() wrote, or call train() to start a new run.".into(),
        });
    }
    let dir = resolve(&last).ok_or_else(|| Error::NotFound {
        path: last.clone(),
        fix: "Resume a folder that train() wrote (it holds last/); to start a new run call train().".into(),
    })?;
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path: path.clone(), fix: "The last/ folder is incomplete; it was not written by train().".into() }
        } else {
            Error::io("reading", &path)(e)
        }
    })?;
    let state: RunState = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
        path: path.clone(),
        problem: format!("not a run state this version can read ({e})"),
        fix: "Resume with the trnet version that wrote the run, or start a new run.".into(),
    })?;
    if state.format != STATE_FORMAT {
        return Err(Error::Corrupt {
            path,
            problem: format!("state format {} (this version reads {STATE_FORMAT})", state.format),
            fix: "Resume with the trnet version that wrote the run.".into(),
        });
    }
    check_state(&state).map_err(|problem| Error::Corrupt {
        path: path.clone(),
        problem,
        fix: "The state was edited or damaged after training wrote it; trnet cannot resume from it. Start a new run (train into an empty folder), or restore the run folder from a copy.".into(),
    })?;
    Ok((dir, state))
}

/// The consistency a state written by the trainer always has; the first violation found, if any.
fn check_state(s: &RunState) -> std::result::Result<(), String> {
    let epochs = s.train_config.epochs;
    if s.epoch > epochs {
        return Err(format!("epoch {} is past the {epochs} epochs its train config asks for", s.epoch));
    }
    if s.history.len() != s.epoch {
        return Err(format!("epoch {} with {} history record(s): a run has one record per finished epoch", s.epoch, s.history.len()));
    }
    if let Some((i, r)) = s.history.iter().enumerate().find(|(i, r)| r.epoch != i + 1) {
        return Err(format!("history record {i} is for epoch {} (expected {})", r.epoch, i + 1));
    }
    match &s.best {
        None if s.epoch > 0 => return Err(format!("no best epoch after {} finished epoch(s)", s.epoch)),
        Some(b) if b.epoch == 0 || b.epoch > s.epoch => return Err(format!("best epoch {} is not one of the {} finished epoch(s)", b.epoch, s.epoch)),
        Some(b) if s.history[b.epoch - 1].val.uar.to_bits() != b.uar.to_bits() => {
            return Err(format!("best epoch {} has UAR {} but its history record says {}", b.epoch, b.uar, s.history[b.epoch - 1].val.uar));
        }
        _ => {}
    }
    if s.epochs_since_best > s.epoch {
        return Err(format!("{} epochs since the best of {} finished", s.epochs_since_best, s.epoch));
    }
    if !(s.lr.is_finite() && s.lr > 0.0) {
        return Err(format!("learning rate {}", s.lr));
    }
    if s.adam_step < 0 || s.adam_step as u64 > s.global_step as u64 {
        return Err(format!("Adam step {} with {} steps taken", s.adam_step, s.global_step));
    }
    if s.partial.items > 0 && s.step == 0 {
        return Err(format!("{} items summed at step 0", s.partial.items));
    }
    Ok(())
}

/// Exclusive ownership of a run folder while a train or resume call writes it: `run.lock`, created with
/// O_EXCL (so exactly one of two racing callers gets it) and holding the owner's pid and host. Dropping it
/// (the call returning, failing, being aborted, or unwinding) removes the file. A lock left by a process
/// that was killed is stale: when its host is this host and its pid no longer runs, the next caller takes
/// it over. A lock from another host cannot be checked and must be removed by hand (the error says so).
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LockHolder {
    pid: u32,
    host: String,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether `holder` is known to be gone: same host, and its pid is not running. Without /proc nothing is.
fn is_stale(holder: &LockHolder) -> bool {
    holder.host == host_name()
        && holder.pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(holder.pid.to_string()).exists()
}

/// Takes the lock of `out_dir` (creating the folder), or fails with `TRNET_RUN_LOCKED` naming the holder.
pub fn lock(out_dir: &Path) -> Result<RunLock> {
    std::fs::create_dir_all(out_dir).map_err(Error::io("creating run folder", out_dir))?;
    let path = out_dir.join(LOCK_FILE);
    let me = LockHolder { pid: std::process::id(), host: host_name() };
    // Two tries: the second follows the removal of a stale lock.
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let text = serde_json::to_string(&me).expect("lock holders serialise");
                f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| {
                    let _ = std::fs::remove_file(&path);
                    Error::io("writing", &path)(e)
                })?;
                return Ok(RunLock { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Empty or partial while its creator is still writing it: that creator is alive.
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let holder: Option<LockHolder> = serde_json::from_str(&text).ok();
                match holder {
                    Some(h) if is_stale(&h) => {
                        // Removed only if it still is that stale lock: a caller that took it over since
                        // keeps it. (Two callers taking over the same stale lock within microseconds of
                        // each other can still both succeed; killed trainings are rare, racing restarts rarer.)
                        if std::fs::read_to_string(&path).unwrap_or_default() == text {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                    _ => {
                        let who = holder.map_or_else(|| "a job that is starting".to_string(), |h| format!("pid {} on {}", h.pid, h.host));
                        return Err(Error::RunLocked {
                            dir: out_dir.to_path_buf(),
                            holder: who,
                            fix: format!(
                                "Wait for it to finish or train into another folder. If that process no longer runs (a lock from another host cannot be checked from here), delete {}.",
                                path.display()
                            ),
                        });
                    }
                }
            }
            Err(e) => return Err(Error::io("creating", &path)(e)),
        }
    }
    Err(Error::RunLocked {
        dir: out_dir.to_path_buf(),
        holder: "another job that took over a stale lock".into(),
        fix: "Wait for it to finish or train into another folder.".into(),
    })
}

/// A short description of what already occupies `out_dir` as a run, if anything.
pub fn existing_run(out_dir: &Path) -> Option<String> {
    [LAST, BEST].iter().find_map(|name| resolve(&out_dir.join(name)).map(|p| format!("{} exists", p.file_name().unwrap_or_default().to_string_lossy())))
}

/// FNV-1a of files' bytes (a reference checkpoint's weights and config), hex.
pub fn files_print(paths: &[PathBuf]) -> Result<String> {
    let mut h = crate::dataset::Fnv::new();
    for p in paths {
        let bytes = std::fs::read(p).map_err(Error::io("reading", p))?;
        h.u64(bytes.len() as u64);
        h.bytes(&bytes);
    }
    Ok(format!("{:016x}", h.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_dir_swaps_whole_folders_and_resolve_falls_back_to_old() {
        let root = std::env::temp_dir().join(format!("trnet-run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let target = root.join("last");
        replace_dir(&target, |d| write_json(&d.join("a.json"), &1)).unwrap();
        replace_dir(&target, |d| write_json(&d.join("b.json"), &2)).unwrap();
        assert!(target.join("b.json").is_file() && !target.join("a.json").exists());
        // A failing fill leaves the previous folder untouched and no temporary behind.
        let err = replace_dir(&target, |_| Err(Error::invalid("x", "y", "z", "w"))).unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
        assert!(target.join("b.json").is_file());
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
        // Crash between the renames: only .last.old exists.
        std::fs::rename(&target, root.join(".last.old")).unwrap();
        assert_eq!(resolve(&target).unwrap(), root.join(".last.old"));
        assert!(existing_run(&root).is_some());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_run_folder_has_one_writer_and_stale_locks_are_taken_over() {
        let root = std::env::temp_dir().join(format!("trnet-run-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let first = lock(&root).unwrap();
        let err = lock(&root).unwrap_err();
        assert_eq!(err.code(), "TRNET_RUN_LOCKED");
        assert!(err.to_string().contains(&format!("pid {}", std::process::id())) && err.to_string().contains("run.lock"), "{err}");
        drop(first);
        assert!(!root.join(LOCK_FILE).exists(), "released on drop");

        // Eight threads racing for it (each holds what it got until all have tried): exactly one wins.
        let won = std::sync::atomic::AtomicUsize::new(0);
        let (start, tried) = (std::sync::Barrier::new(8), std::sync::Barrier::new(8));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    start.wait();
                    let got = lock(&root);
                    match &got {
                        Ok(_) => _ = won.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                        Err(e) => assert_eq!(e.code(), "TRNET_RUN_LOCKED"),
                    }
                    tried.wait();
                    drop(got);
                });
            }
        });
        assert_eq!(won.load(std::sync::atomic::Ordering::SeqCst), 1);

        // A killed job's lock on this host (pid not running) is taken over; another host's is not.
        let dead = LockHolder { pid: 4_000_000_000, host: host_name() };
        std::fs::write(root.join(LOCK_FILE), serde_json::to_string(&dead).unwrap()).unwrap();
        let taken = lock(&root).unwrap();
        let now: LockHolder = serde_json::from_str(&std::fs::read_to_string(root.join(LOCK_FILE)).unwrap()).unwrap();
        assert_eq!(now.pid, std::process::id());
        drop(taken);
        let remote = LockHolder { pid: 1, host: "some-other-host".into() };
        std::fs::write(root.join(LOCK_FILE), serde_json::to_string(&remote).unwrap()).unwrap();
        let err = lock(&root).unwrap_err();
        assert_eq!(err.code(), "TRNET_RUN_LOCKED");
        assert!(err.to_string().contains("some-other-host"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn floats_survive_the_state_file_bit_for_bit() {
        let values = [0.1f64, 1.0 / 3.0, 1e-3 * 0.1f64.powi(7), f64::MIN_POSITIVE, 2.0f64.sqrt() * 1e300, 5e-324];
        let text = serde_json::to_string(&values).unwrap();
        let back: Vec<f64> = serde_json::from_str(&text).unwrap();
        for (a, b) in values.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} → {text}");
        }
    }

    #[test]
    fn loss_scale_halves_on_overflow_and_grows_after_good_steps() {
        let mut s = LossScale::default();
        s.update(false);
        assert_eq!(s.scale, 32768.0);
        for _ in 0..2000 {
            s.update(true);
        }
        assert_eq!((s.scale, s.good_steps), (65536.0, 0));
    }
}
