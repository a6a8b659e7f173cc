//! The training loop: `train` starts a run in an empty folder, `resume` continues one from its `last/`
//! checkpoint and ends exactly where an uninterrupted run would have (same device and thread count).
//!
//! Per epoch e (0-based): the variant's training items are shuffled with the seed of (run seed, e) and cut
//! into batches; each step runs forward (BatchNorm in training mode), the variant's losses, backward,
//! optional gradient clipping and an Adam step. Then the validation items are evaluated (BatchNorm
//! running statistics); a strictly higher UAR than any earlier epoch writes `best/`; the plateau schedule
//! and early stopping look at the same UAR; `last/` is rewritten; an "epoch" progress event follows.
//!
//! Loss values are read from the device `lossReadEvery` steps at a time (a read waits for the device): until
//! then each step's losses stay on the device, and the read delivers those steps' events, adds them to the
//! epoch's sums and checks them for divergence in step order, so events, sums and errors are those of a read
//! after every step. Reads also happen at the end of each epoch's steps and at a cancel, before anything is saved.
//!
//! Cancellation is polled before every step and every validation batch. A cancelled run writes `last/` at
//! the exact position (epoch, steps done, partial loss sums) and returns `Error::Cancelled`; `resume`
//! replays the rest of that epoch's batches from the same seeded order. A fresh run writes `last/` before
//! its first step, so there is always something to resume.
//!
//! Determinism: model weights are initialised on the CPU from libtorch's generator seeded with the run
//! seed (under a process lock), then moved to the device, so every device starts from the same weights.
//! No random numbers are drawn during training (the model has no dropout, the order is seeded), so on the
//! CPU two runs with the same seed, data and thread count give identical bits. CUDA kernels (cuDNN
//! convolutions, atomics in reductions) are not bit-reproducible in general.

use crate::adam::Adam;
use crate::batcher::{Fields, epoch_plan, for_each_batch};
use crate::config::{MixedPrecisionDtype, TrainConfig};
use crate::dataset::Dataset;
use crate::forward;
use crate::metrics::{EvalOptions, evaluate_items};
use crate::precision::{self, AutocastDtype};
use crate::report::{EpochRecord, LossValues, Stage, TrainProgress, TrainReport, ValMetrics};
use crate::resident::Resident;
use crate::run::{
    self, BEST, BEST_FILE, DataPrint, LAST, LossScale, LossSums, OPTIMIZER_FILE, REPORT_FILE, RNG_NOTE, RunState, STATE_FILE, STATE_FORMAT, TRAIN_CONFIG_FILE,
};
use crate::schedule::{Best, PlateauState, improves};
use crate::seed::with_torch_seed;
use crate::{Error, Result};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;
use tch::nn::VarStore;
use trnet_dsp::Detail;
use trnet_model::{Checkpoint, ModelConfig, TrnetModel, Variant, checkpoint};

/// The callbacks of a training job. Both run on the training thread.
pub struct TrainHooks<'a> {
    pub on_progress: &'a dyn Fn(TrainProgress),
    /// Polled before every step and validation batch; true stops the run (resumable).
    pub cancelled: &'a dyn Fn() -> bool,
}

impl TrainHooks<'static> {
    pub const NONE: TrainHooks<'static> = TrainHooks { on_progress: &|_| {}, cancelled: &|| false };
}

/// Starts a run in `out_dir` (which must not hold one already): trains `model_config`'s variant on
/// `train_set`, validates on `val_set` after every epoch, keeps the best epoch (by validation UAR) in
/// `out_dir/best` and a resumable checkpoint in `out_dir/last`. `reference` is the folder of a trained
/// Baseline-c checkpoint, whose frozen encoder gives h_s for L_high (TRNet and TRNet w/o L_low need it;
/// other variants ignore it).
pub fn train(
    config: &TrainConfig,
    model_config: &ModelConfig,
    train_set: &Dataset,
    val_set: &Dataset,
    reference: Option<&Path>,
    out_dir: &Path,
    hooks: &TrainHooks<'_>,
) -> Result<TrainReport> {
    // The lock comes first, before the folder is looked at: of two calls into one folder, one owns it and
    // the other fails with TRNET_RUN_LOCKED before writing anything.
    let created = !out_dir.exists();
    let lock = run::lock(out_dir)?;
    let result = train_locked(config, model_config, train_set, val_set, reference, out_dir, hooks);
    drop(lock);
    if result.is_err() && created {
        // A call that failed before writing anything leaves no empty folder behind (remove_dir only
        // removes an empty one; a cancelled run's folder holds last/ and stays).
        let _ = std::fs::remove_dir(out_dir);
    }
    result
}

fn train_locked(
    config: &TrainConfig,
    model_config: &ModelConfig,
    train_set: &Dataset,
    val_set: &Dataset,
    reference: Option<&Path>,
    out_dir: &Path,
    hooks: &TrainHooks<'_>,
) -> Result<TrainReport> {
    if let Some(found) = run::existing_run(out_dir) {
        return Err(Error::RunExists { dir: out_dir.to_path_buf(), found });
    }
    let _malloc = trnet_runtime::allocator::job_scope();
    let setup = Setup::new(config, model_config, train_set, val_set, reference)?;
    run::write_json_atomic(&out_dir.join(TRAIN_CONFIG_FILE), config)?;
    let mut session = Session::new(setup, out_dir)?;
    session.save_last()?;
    session.run(hooks)
}

/// Continues the run in `out_dir` from `last/`. The model config comes from the checkpoint. `config` must
/// equal the run's except for `epochs` (may be raised to train longer), `threads`, `prefetch` and
/// `device` (another device continues correctly but not bit-identically). The datasets and reference
/// must be the ones the run started with (checked by fingerprint).
pub fn resume(
    config: &TrainConfig,
    train_set: &Dataset,
    val_set: &Dataset,
    reference: Option<&Path>,
    out_dir: &Path,
    hooks: &TrainHooks<'_>,
) -> Result<TrainReport> {
    if !out_dir.is_dir() {
        // Checked before locking, which would create the folder.
        run::read_state(out_dir)?;
    }
    let _lock = run::lock(out_dir)?;
    let _malloc = trnet_runtime::allocator::job_scope();
    let (last_dir, state) = run::read_state(out_dir)?;
    // The model is rebuilt from last/config.json, the file checkpoint::load would read, so it must be the
    // model config the state was written with.
    let saved_model = checkpoint::read_config(&last_dir)?;
    if saved_model != state.model_config {
        return Err(Error::Corrupt {
            path: last_dir.join(checkpoint::CONFIG_FILE),
            problem: format!("it describes {} but {STATE_FILE} beside it was written for {}", saved_model.to_json(), state.model_config.to_json()),
            fix: "The checkpoint's files were edited or mixed from two runs; restore the run folder from a copy or start a new run.".into(),
        });
    }
    check_resumable(out_dir, &state.train_config, config)?;
    let setup = Setup::new(config, &state.model_config, train_set, val_set, reference)?;
    let data = setup.data_print()?;
    let mismatch = |what: &str, expected: String, found: String, fix: &str| Error::ResumeMismatch {
        dir: out_dir.to_path_buf(),
        detail: Box::new(Detail::new(what, expected, found, fix)),
    };
    const SAME_DATA: &str = "Resume with exactly the datasets (same items, order and features) and reference the run started with.";
    if (data.train.as_str(), data.train_items) != (state.data.train.as_str(), state.data.train_items) {
        return Err(mismatch(
            "training data",
            format!("{} items (fingerprint {})", state.data.train_items, state.data.train),
            format!("{} items (fingerprint {})", data.train_items, data.train),
            SAME_DATA,
        ));
    }
    if (data.val.as_str(), data.val_items) != (state.data.val.as_str(), state.data.val_items) {
        return Err(mismatch(
            "validation data",
            format!("{} items (fingerprint {})", state.data.val_items, state.data.val),
            format!("{} items (fingerprint {})", data.val_items, data.val),
            SAME_DATA,
        ));
    }
    if data.reference != state.data.reference {
        return Err(mismatch("reference checkpoint", format!("{:?}", state.data.reference), format!("{:?}", data.reference), SAME_DATA));
    }
    let mut session = Session::new(setup, out_dir)?;
    session.restore(&last_dir, state)?;
    session.run(hooks)
}

/// Train-config fields that may differ between a run and its resumption.
const RESUME_MAY_CHANGE: [&str; 6] = ["epochs", "threads", "prefetch", "device", "lossReadEvery", "residentFeatures"];

fn check_resumable(out_dir: &Path, saved: &TrainConfig, given: &TrainConfig) -> Result<()> {
    given.validate()?;
    let to_map = |c: &TrainConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (to_map(saved), to_map(given));
    for (key, value) in &a {
        if RESUME_MAY_CHANGE.contains(&key.as_str()) {
            continue;
        }
        let other = b.get(key).cloned().unwrap_or(serde_json::Value::Null);
        if *value != other {
            return Err(Error::ResumeMismatch {
                dir: out_dir.to_path_buf(),
                detail: Box::new(Detail::new(
                    format!("train config {key}"),
                    value,
                    other,
                    format!("Resume with the run's train config (saved in its last/{STATE_FILE}); only {} may change.", RESUME_MAY_CHANGE.join(", ")),
                )),
            });
        }
    }
    Ok(())
}

/// Everything checked and loaded before the first step.
struct Setup<'a> {
    config: TrainConfig,
    model_config: ModelConfig,
    train_set: &'a Dataset,
    val_set: &'a Dataset,
    train_items: Vec<usize>,
    val_items: Vec<usize>,
    device: Device,
    mixed_precision: bool,
    reference: Option<(PathBuf, Checkpoint)>,
}

impl<'a> Setup<'a> {
    fn new(config: &TrainConfig, model_config: &ModelConfig, train_set: &'a Dataset, val_set: &'a Dataset, reference: Option<&Path>) -> Result<Self> {
        config.validate()?;
        model_config.validate()?;
        let variant = model_config.variant;
        let k = model_config.num_classes;
        for (name, ds) in [("training set", train_set), ("validation set", val_set)] {
            if ds.bins() != model_config.n_mels {
                return Err(Error::invalid(
                    name,
                    format!("{} log-Mel bins per frame (the model config's nMels)", model_config.n_mels),
                    format!("{} bins", ds.bins()),
                    "Compute features with the model's bin count, or set nMels to the features'.",
                ));
            }
        }
        let select = |ds: &Dataset, name: &str| -> Result<Vec<usize>> {
            let items = if variant == Variant::BaselineClean { ds.clean_indices() } else { (0..ds.len()).collect() };
            if items.is_empty() {
                let (expected, fix) = if variant == Variant::BaselineClean {
                    ("clean items (Baseline-c trains and validates on clean speech only)", "Add the clean version of each utterance (Condition::Clean).")
                } else {
                    ("at least one item", "Pass a non-empty dataset.")
                };
                return Err(Error::invalid(name, expected, format!("none of {} items", ds.len()), fix));
            }
            if let Some(&i) = items.iter().find(|&&i| ds.item(i).label >= k) {
                return Err(Error::invalid(
                    format!("{name} item {i} label"),
                    format!("a class index in 0..{k} (numClasses)"),
                    ds.item(i).label,
                    "Map labels to 0..numClasses−1, or raise numClasses.",
                ));
            }
            Ok(items)
        };
        let train_items = select(train_set, "training set")?;
        let val_items = select(val_set, "validation set")?;
        Fields::train(variant).check(train_set, &train_items, "training")?;
        Fields::eval(variant).check(val_set, &val_items, "validation")?;

        if let Some(n) = config.threads {
            trnet_runtime::torch::set_intra_op_threads(n);
        }
        let device = config.device_spec()?.resolve()?;
        let mixed_precision = config.mixed_precision && device.is_cuda();

        let reference = if variant.has_high_loss() {
            let dir = reference.ok_or_else(|| {
                Error::invalid(
                    "reference checkpoint",
                    format!("the folder of a trained Baseline-c (its frozen encoder gives h_s for {variant}'s L_high)"),
                    "none",
                    "Train a Baseline-c on the clean items first and pass its best/ folder as the reference.",
                )
            })?;
            let mut ckpt = checkpoint::load(dir, device)?;
            ckpt.vs.freeze();
            let rc = &ckpt.config;
            if rc.variant != Variant::BaselineClean {
                return Err(Error::invalid(
                    "reference checkpoint",
                    "a Baseline-c model (pre-trained on clean speech, §3.3)",
                    format!("a {} model in {}", rc.variant, dir.display()),
                    "Pass the best/ folder of a Baseline-c run.",
                ));
            }
            if rc.n_mels != model_config.n_mels || rc.embedding_dim() != model_config.embedding_dim() {
                return Err(Error::invalid(
                    "reference checkpoint",
                    format!("an encoder over {} bins giving {}-dimensional h like this model's", model_config.n_mels, model_config.embedding_dim()),
                    format!("{} bins, h of size {}", rc.n_mels, rc.embedding_dim()),
                    "Train the Baseline-c with the same nMels and channels as this model.",
                ));
            }
            Some((dir.to_path_buf(), ckpt))
        } else {
            None
        };
        Ok(Setup { config: config.clone(), model_config: model_config.clone(), train_set, val_set, train_items, val_items, device, mixed_precision, reference })
    }

    /// float16 autocast needs dynamic loss scaling; bfloat16 (float32's exponent range) does not.
    fn loss_scaling(&self) -> bool {
        self.mixed_precision && self.config.mixed_precision_dtype == MixedPrecisionDtype::Float16
    }

    fn data_print(&self) -> Result<DataPrint> {
        let print = |ds: &Dataset, items: &[usize]| -> Result<String> { Ok(format!("{:016x}", ds.subset(items)?.fingerprint()?)) };
        let reference = match &self.reference {
            Some((dir, _)) => Some(run::files_print(&[dir.join(checkpoint::WEIGHTS_FILE), dir.join(checkpoint::CONFIG_FILE)])?),
            None => None,
        };
        Ok(DataPrint {
            train: print(self.train_set, &self.train_items)?,
            train_items: self.train_items.len(),
            val: print(self.val_set, &self.val_items)?,
            val_items: self.val_items.len(),
            reference,
        })
    }
}

/// A step whose losses are still on the device (see the module comment).
struct PendingStep {
    /// (ce, low, high, total) as float32 on the device; a term the variant lacks holds a copy of ce.
    losses: tch::Tensor,
    has_low: bool,
    has_high: bool,
    items: usize,
    step: usize,
    global_step: usize,
    lr: f64,
}

/// A run in progress: model, optimizer and the state that `last/` saves.
struct Session<'a> {
    setup: Setup<'a>,
    out_dir: PathBuf,
    vs: VarStore,
    model: TrnetModel,
    adam: Adam,
    state: RunState,
    steps_per_epoch: usize,
    started: Instant,
    /// Steps taken whose losses have not been read yet (at most `lossReadEvery`).
    pending: Vec<PendingStep>,
}

impl<'a> Session<'a> {
    fn new(setup: Setup<'a>, out_dir: &Path) -> Result<Self> {
        let cfg = &setup.config;
        // Built on the CPU from the seeded generator, then moved: the same initial weights on every device.
        let (mut vs, model) = with_torch_seed(cfg.seed, || -> Result<_> {
            let vs = VarStore::new(Device::Cpu);
            let model = TrnetModel::new(&vs.root(), &setup.model_config)?;
            Ok((vs, model))
        })?;
        vs.set_device(setup.device);
        let mut adam = Adam::new(&vs, cfg.learning_rate, cfg.beta1, cfg.beta2, cfg.adam_eps, cfg.weight_decay)?;
        // A no-op at the default 1 (and for the variants without an SNR-aware module).
        adam.scale_lr("snr.", cfg.snr_head_lr_multiplier);
        if cfg.adam_update == crate::AdamUpdate::Flat {
            adam.flatten()?;
        }
        let steps_per_epoch = setup.train_items.len().div_ceil(cfg.batch_size);
        let state = RunState {
            format: STATE_FORMAT,
            train_config: cfg.clone(),
            model_config: setup.model_config.clone(),
            epoch: 0,
            step: 0,
            partial: LossSums::default(),
            global_step: 0,
            lr: cfg.learning_rate,
            adam_step: 0,
            plateau: PlateauState::default(),
            best: None,
            epochs_since_best: 0,
            stopped_early: false,
            loss_scale: setup.loss_scaling().then(LossScale::default),
            history: Vec::new(),
            data: setup.data_print()?,
            rng: RNG_NOTE.into(),
        };
        Ok(Session { setup, out_dir: out_dir.to_path_buf(), vs, model, adam, state, steps_per_epoch, started: Instant::now(), pending: Vec::new() })
    }

    /// Loads weights, optimizer moments and state from `last_dir`.
    fn restore(&mut self, last_dir: &Path, mut state: RunState) -> Result<()> {
        checkpoint::load_weights(&mut self.vs, &last_dir.join(checkpoint::WEIGHTS_FILE))?;
        self.adam.load(&last_dir.join(OPTIMIZER_FILE), state.adam_step)?;
        self.adam.lr = state.lr;
        if state.step > self.steps_per_epoch {
            return Err(Error::Corrupt {
                path: last_dir.join(STATE_FILE),
                problem: format!("step {} of an epoch of {} steps", state.step, self.steps_per_epoch),
                fix: "The state does not match this data; start a new run.".into(),
            });
        }
        if state.global_step != state.epoch * self.steps_per_epoch + state.step {
            return Err(Error::Corrupt {
                path: last_dir.join(STATE_FILE),
                problem: format!("{} steps taken at epoch {}, step {} of epochs of {} steps", state.global_step, state.epoch, state.step, self.steps_per_epoch),
                fix: "The state was edited or does not match this data; start a new run.".into(),
            });
        }
        state.train_config = self.setup.config.clone();
        if self.setup.loss_scaling() && state.loss_scale.is_none() {
            state.loss_scale = Some(LossScale::default());
        }
        self.state = state;
        Ok(())
    }

    fn last_dir(&self) -> PathBuf {
        self.out_dir.join(LAST)
    }

    fn save_last(&mut self) -> Result<()> {
        self.state.lr = self.adam.lr;
        self.state.adam_step = self.adam.step_count();
        let (vs, model_config, adam, state) = (&self.vs, &self.setup.model_config, &self.adam, &self.state);
        run::replace_dir(&self.out_dir.join(LAST), |dir| {
            checkpoint::save(dir, vs, model_config)?;
            let opt = dir.join(OPTIMIZER_FILE);
            adam.save(&opt)?;
            run::fsync_file(&opt)?;
            // Both safetensors files, so resume verifies the moments as well as the weights.
            checkpoint::record_checksums(dir, &[checkpoint::WEIGHTS_FILE, OPTIMIZER_FILE])?;
            run::write_json(&dir.join(STATE_FILE), state)
        })
    }

    fn save_best(&self, best: &Best) -> Result<()> {
        run::replace_dir(&self.out_dir.join(BEST), |dir| {
            checkpoint::save(dir, &self.vs, &self.setup.model_config)?;
            run::write_json(&dir.join(BEST_FILE), best)
        })
    }

    /// Saves `last/` at the current position and returns the error that reports the cancellation (or the
    /// failure to save).
    fn cancel(&mut self) -> Error {
        match self.save_last() {
            Ok(()) => Error::Cancelled { checkpoint: Some(self.last_dir()) },
            Err(e) => e,
        }
    }

    fn run(&mut self, hooks: &TrainHooks<'_>) -> Result<TrainReport> {
        self.started = Instant::now();
        let epochs = self.setup.config.epochs;
        // bfloat16 autocast: set on this (the training) thread for training and validation, restored on return.
        let _dtype = if self.setup.mixed_precision && self.setup.config.mixed_precision_dtype == MixedPrecisionDtype::Bfloat16 {
            Some(AutocastDtype::set(precision::SCALAR_BFLOAT16)?)
        } else {
            None
        };
        let fields = Fields::train(self.model.variant());
        let resident = if self.setup.config.resident_features && self.state.epoch < epochs && !self.state.stopped_early {
            match Resident::load(self.setup.train_set, &self.setup.train_items, fields, self.setup.device, hooks.cancelled) {
                Ok(r) => Some(r),
                Err(Error::Cancelled { .. }) => return Err(self.cancel()),
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        while self.state.epoch < epochs && !self.state.stopped_early {
            let epoch_started = Instant::now();
            let e = self.state.epoch;
            let plan = epoch_plan(&self.setup.train_items, self.setup.config.seed, e, self.setup.config.batch_size);
            let skip = self.state.step;
            let mut stopped = false;
            let (train_set, prefetch) = (self.setup.train_set, self.setup.config.prefetch);
            let mut body = |k: usize, batch: crate::batcher::Batch| -> Result<ControlFlow<()>> {
                if (hooks.cancelled)() {
                    stopped = true;
                    return Ok(ControlFlow::Break(()));
                }
                let lr = self.adam.lr;
                let n = batch.len();
                let losses = self.train_step(batch)?;
                self.state.step = skip + k + 1;
                self.state.global_step += 1;
                let (step, global_step) = (self.state.step, self.state.global_step);
                self.pending.push(PendingStep { losses: losses.0, has_low: losses.1, has_high: losses.2, items: n, step, global_step, lr });
                if self.pending.len() >= self.setup.config.loss_read_every {
                    self.read_losses(hooks)?;
                }
                Ok(ControlFlow::Continue(()))
            };
            match &resident {
                // The same plan, the batches gathered on the device.
                Some(r) => {
                    for (k, indices) in plan[skip..].iter().enumerate() {
                        if body(k, r.batch(indices)?)?.is_break() {
                            break;
                        }
                    }
                }
                None => for_each_batch(train_set, &plan[skip..], fields, prefetch, body)?,
            }
            self.read_losses(hooks)?;
            if stopped || (hooks.cancelled)() {
                return Err(self.cancel());
            }
            self.end_epoch(hooks, epoch_started)?;
        }
        self.finish()
    }

    /// One optimiser step; returns the batch's losses as a (4,) float32 tensor on the device (ce, low, high,
    /// total; a missing term holds ce) and whether L_low and L_high are present. Nothing is read from the device.
    fn train_step(&mut self, batch: crate::batcher::Batch) -> Result<(tch::Tensor, bool, bool)> {
        let amp = self.setup.mixed_precision;
        let batch = batch.to_device(self.setup.device)?;
        let reference = self.setup.reference.as_ref().map(|(_, c)| c.model.encoder());
        let out = forward::forward(&self.model, &batch, true, amp)?;
        let losses = forward::losses(&self.model, &out, &batch, reference, amp)?;
        let stacked = tch::no_grad(|| -> std::result::Result<tch::Tensor, tch::TchError> {
            // Float32 (exact for float16 terms under autocast); widening to f64 on the host then gives the bits
            // a per-step f_double_value read gives.
            let as_f32 = |t: &tch::Tensor| if t.kind() == tch::Kind::Float { Ok(t.detach()) } else { t.detach().f_to_kind(tch::Kind::Float) };
            let ce = as_f32(&losses.ce)?;
            let low = losses.low.as_ref().map_or_else(|| Ok(ce.shallow_clone()), as_f32)?;
            let high = losses.high.as_ref().map_or_else(|| Ok(ce.shallow_clone()), as_f32)?;
            tch::Tensor::f_stack(&[&ce, &low, &high, &as_f32(&losses.total)?], 0)
        })
        .map_err(Error::torch("keeping the step's losses"))?;
        let terms = (stacked, losses.low.is_some(), losses.high.is_some());
        self.adam.zero_grad();
        let clip = self.setup.config.grad_clip_norm;
        match &mut self.state.loss_scale {
            None => {
                losses.total.f_backward().map_err(Error::torch("back-propagating the loss"))?;
                if let Some(c) = clip {
                    self.adam.clip_grad_norm(c)?;
                }
                self.adam.step()?;
            }
            Some(scale) => {
                let scaled = losses.total.f_mul_scalar(scale.scale).map_err(Error::torch("scaling the loss"))?;
                scaled.f_backward().map_err(Error::torch("back-propagating the loss"))?;
                let finite = self.adam.scale_grads_and_check(1.0 / scale.scale)?;
                if finite {
                    if let Some(c) = clip {
                        self.adam.clip_grad_norm(c)?;
                    }
                    self.adam.step()?;
                }
                scale.update(finite);
            }
        }
        Ok(terms)
    }

    /// Reads the losses of the pending steps (one transfer), then, step by step in order, checks them for
    /// divergence, adds them to the epoch's sums and reports the step's progress event: what reading after
    /// every step gives, later.
    fn read_losses(&mut self, hooks: &TrainHooks<'_>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let rows: Vec<&tch::Tensor> = pending.iter().map(|p| &p.losses).collect();
        let read = || -> std::result::Result<Vec<f32>, tch::TchError> {
            let all = tch::Tensor::f_stack(&rows, 0)?.f_to_device(Device::Cpu)?.f_flatten(0, -1)?;
            Vec::<f32>::try_from(&all)
        };
        let values = tch::no_grad(read).map_err(Error::torch("reading the loss values"))?;
        for (p, v) in pending.iter().zip(values.chunks_exact(4)) {
            let f = |i: usize| f64::from(v[i]);
            let values = LossValues { ce: f(0), low: p.has_low.then(|| f(1)), high: p.has_high.then(|| f(2)), total: f(3) };
            for (term, v) in [("cross-entropy", Some(values.ce)), ("L_low", values.low), ("L_high", values.high), ("total", Some(values.total))] {
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    return Err(Error::Diverged { epoch: self.state.epoch + 1, step: p.step, term: term.into(), value: v });
                }
            }
            self.state.partial.add(&values, p.items);
            let mut event = self.progress(Stage::Step, values, p.lr, None);
            (event.step, event.global_step) = (p.step, p.global_step);
            (hooks.on_progress)(event);
        }
        Ok(())
    }

    fn end_epoch(&mut self, hooks: &TrainHooks<'_>, epoch_started: Instant) -> Result<()> {
        let cfg = self.setup.config.clone();
        let options = EvalOptions {
            batch_size: cfg.eval_batch(),
            prefetch: cfg.prefetch,
            mixed_precision: self.setup.mixed_precision,
            on_batch: &|_, _| {},
            cancelled: hooks.cancelled,
            embeddings: false,
        };
        let val = match evaluate_items(&self.model, self.setup.val_set, &self.setup.val_items, &options) {
            Ok(v) => v,
            Err(Error::Cancelled { .. }) => return Err(self.cancel()),
            Err(e) => return Err(e),
        };
        let epoch = self.state.epoch + 1;
        let val = ValMetrics { uar: val.uar, war: val.war, ce: val.ce };
        let improved = improves(self.state.best.as_ref(), val.uar);
        if improved {
            let best = Best { epoch, uar: val.uar, war: val.war };
            self.save_best(&best)?;
            self.state.best = Some(best);
            self.state.epochs_since_best = 0;
        } else {
            self.state.epochs_since_best += 1;
        }
        let lr = self.adam.lr;
        if let Some(rule) = &cfg.lr_plateau {
            self.adam.lr = self.state.plateau.step(rule, val.uar, lr);
        }
        let train = self.state.partial.mean();
        self.state.history.push(EpochRecord { epoch, train, val, lr, improved, seconds: epoch_started.elapsed().as_secs_f64() });
        self.state.stopped_early = cfg.early_stopping_patience.is_some_and(|p| self.state.epochs_since_best >= p);
        self.state.epoch = epoch;
        self.state.step = 0;
        self.state.partial = LossSums::default();
        self.save_last()?;
        let mut p = self.progress(Stage::Epoch, train, lr, Some(val));
        p.epoch = epoch;
        p.step = self.steps_per_epoch;
        (hooks.on_progress)(p);
        Ok(())
    }

    fn progress(&self, stage: Stage, losses: LossValues, lr: f64, val: Option<ValMetrics>) -> TrainProgress {
        let epochs = self.setup.config.epochs;
        TrainProgress {
            stage,
            epoch: self.state.epoch + 1,
            epochs,
            step: self.state.step,
            steps_per_epoch: self.steps_per_epoch,
            global_step: self.state.global_step,
            total_steps: epochs * self.steps_per_epoch,
            losses,
            lr,
            val,
            best: if stage == Stage::Epoch { self.state.best.clone() } else { None },
            elapsed_s: self.started.elapsed().as_secs_f64(),
        }
    }

    fn finish(&self) -> Result<TrainReport> {
        let best = self.state.best.clone().ok_or_else(|| Error::Corrupt {
            path: self.last_dir().join(STATE_FILE),
            problem: "a finished run without a best epoch".into(),
            fix: "This is a bug in trnet-train.".into(),
        })?;
        let report = TrainReport {
            variant: self.setup.model_config.variant,
            best,
            epochs_run: self.state.epoch,
            stopped_early: self.state.stopped_early,
            global_steps: self.state.global_step,
            final_lr: self.adam.lr,
            history: self.state.history.clone(),
            best_dir: self.out_dir.join(BEST),
            last_dir: self.last_dir(),
            device: format!("{:?}", self.setup.device),
            mixed_precision: self.setup.mixed_precision,
            train_items: self.setup.train_items.len(),
            val_items: self.setup.val_items.len(),
        };
        run::write_json_atomic(&self.out_dir.join(REPORT_FILE), &report)?;
        Ok(report)
    }
}
