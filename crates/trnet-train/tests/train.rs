//! Training on tiny synthetic data: learning, determinism, resume equivalence, cancellation, every variant,
//! early stopping, progress events and coded errors.

mod common;

use common::*;
use std::cell::{Cell, RefCell};
use std::path::Path;
use tch::Device;
use trnet_model::{Variant, checkpoint};
use trnet_train::{EvalOptions, LrPlateau, Stage, TrainConfig, TrainHooks, TrainProgress, TrainReport, evaluate, resume, train};

fn run(config: &TrainConfig, variant: Variant, dir: &Path) -> TrainReport {
    train(config, &tiny_model(variant), train_set(), val_set(), Some(reference()), dir, &TrainHooks::NONE).unwrap()
}

#[test]
fn separable_classes_reach_full_validation_uar() {
    let dir = TempDir::new("separable");
    let report = run(&tiny_train(6), Variant::BaselineNoisy, dir.path());
    assert_eq!(report.best.uar, 1.0, "{:#?}", report.history);
    assert_eq!(report.epochs_run, 6);
    assert!(report.history.last().unwrap().train.total < report.history[0].train.total);
    assert_eq!((report.train_items, report.val_items), (48, 18));
    for f in
        ["train-config.json", "report.json", "best/model.safetensors", "best/config.json", "best/best.json", "last/state.json", "last/optimizer.safetensors"]
    {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // best/ is a plain trnet-model checkpoint, and evaluating it reproduces the best epoch's metrics.
    let ckpt = checkpoint::load(&report.best_dir, Device::Cpu).unwrap();
    let eval = evaluate(&ckpt.model, val_set(), &EvalOptions::default()).unwrap();
    let best_record = &report.history[report.best.epoch - 1];
    assert_eq!((eval.uar, eval.war), (best_record.val.uar, best_record.val.war));
    assert_eq!(eval.predictions.len(), val_set().len());
    for p in &eval.predictions {
        assert!((p.probs.iter().sum::<f32>() - 1.0).abs() < 1e-5 && p.c.is_none());
        assert_eq!(p.label, val_set().item(p.item).label);
    }
}

#[test]
fn same_seed_gives_identical_bits_and_another_seed_does_not() {
    let (a, b, c) = (TempDir::new("det-a"), TempDir::new("det-b"), TempDir::new("det-c"));
    let config = TrainConfig { grad_clip_norm: Some(1.0), ..tiny_train(3) };
    let ra = run(&config, Variant::Trnet, a.path());
    let rb = run(&config, Variant::Trnet, b.path());
    assert_eq!(history_bits(&ra), history_bits(&rb));
    for f in ["best/model.safetensors", "last/model.safetensors", "last/optimizer.safetensors"] {
        assert!(bytes(&a.join(f)) == bytes(&b.join(f)), "{f} differs between two runs with the same seed");
    }
    let rc = run(&TrainConfig { seed: 2, ..config }, Variant::Trnet, c.path());
    assert_ne!(history_bits(&ra), history_bits(&rc));
}

/// A config that exercises all resumable state: the plateau schedule changes the learning rate, early
/// stopping counts, gradients are clipped, and the last batch of an epoch is partial (48 items / 7).
fn resume_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        batch_size: 7,
        grad_clip_norm: Some(2.0),
        lr_plateau: Some(LrPlateau { factor: 0.5, patience: 0, threshold: 0.0, min_lr: 0.0 }),
        early_stopping_patience: Some(10),
        ..tiny_train(epochs)
    }
}

fn assert_same_run(a: &Path, ra: &TrainReport, b: &Path, rb: &TrainReport) {
    assert_eq!(history_bits(ra), history_bits(rb));
    assert_eq!((ra.best.clone(), ra.global_steps, ra.final_lr.to_bits()), (rb.best.clone(), rb.global_steps, rb.final_lr.to_bits()));
    for f in ["best/model.safetensors", "last/model.safetensors", "last/optimizer.safetensors"] {
        assert!(bytes(&a.join(f)) == bytes(&b.join(f)), "{f} differs from the uninterrupted run");
    }
}

/// Runs `config` with a cancel request raised by `when` (seen after each progress event), expects the
/// cancellation, then resumes with `resume_config` to the end.
fn interrupted(variant: Variant, config: &TrainConfig, resume_with: &TrainConfig, dir: &Path, when: impl Fn(&TrainProgress) -> bool) -> TrainReport {
    let stop = Cell::new(false);
    let on_progress = |p: TrainProgress| {
        if when(&p) {
            stop.set(true);
        }
    };
    let cancelled = || stop.get();
    let err =
        train(config, &tiny_model(variant), train_set(), val_set(), Some(reference()), dir, &TrainHooks { on_progress: &on_progress, cancelled: &cancelled })
            .unwrap_err();
    assert_eq!(err.code(), "ABORT_ERR", "{err}");
    assert!(err.to_string().contains("last"), "{err}");
    resume(resume_with, train_set(), val_set(), Some(reference()), dir, &TrainHooks::NONE).unwrap()
}

#[test]
fn resume_after_an_epoch_boundary_equals_the_uninterrupted_run() {
    let (straight, cut) = (TempDir::new("straight"), TempDir::new("cut-epoch"));
    let config = resume_config(5);
    let full = run(&config, Variant::Trnet, straight.path());
    assert!(full.history.iter().any(|r| r.lr != config.learning_rate), "the plateau rule should have changed lr: {:#?}", full.history);
    let resumed = interrupted(Variant::Trnet, &config, &config, cut.path(), |p| p.stage == Stage::Epoch && p.epoch == 2);
    assert_same_run(straight.path(), &full, cut.path(), &resumed);
}

#[test]
fn resume_mid_epoch_and_before_validation_equals_the_uninterrupted_run() {
    let straight = TempDir::new("straight-mid");
    let config = resume_config(3);
    let full = run(&config, Variant::TrnetNoHigh, straight.path());
    // 48 items / 7 = 7 steps per epoch: stop after step 3 of epoch 2 …
    let mid = TempDir::new("cut-mid");
    let resumed = interrupted(Variant::TrnetNoHigh, &config, &config, mid.path(), |p| p.stage == Stage::Step && p.epoch == 2 && p.step == 3);
    assert_same_run(straight.path(), &full, mid.path(), &resumed);
    // … or after the last step of epoch 1, before its validation.
    let pre_val = TempDir::new("cut-pre-val");
    let resumed =
        interrupted(Variant::TrnetNoHigh, &config, &config, pre_val.path(), |p| p.stage == Stage::Step && p.epoch == 1 && p.step == p.steps_per_epoch);
    assert_same_run(straight.path(), &full, pre_val.path(), &resumed);
}

#[test]
fn a_finished_run_resumed_with_more_epochs_equals_a_longer_run() {
    let (straight, short) = (TempDir::new("long"), TempDir::new("short"));
    let full = run(&resume_config(4), Variant::BaselineEnhanced, straight.path());
    run(&resume_config(2), Variant::BaselineEnhanced, short.path());
    // The report of a run resumed with nothing left to do is the finished run's.
    let again = resume(&resume_config(2), train_set(), val_set(), None, short.path(), &TrainHooks::NONE).unwrap();
    assert_eq!(again.epochs_run, 2);
    let longer = resume(&resume_config(4), train_set(), val_set(), None, short.path(), &TrainHooks::NONE).unwrap();
    assert_same_run(straight.path(), &full, short.path(), &longer);
}

#[test]
fn cancelling_before_the_first_step_leaves_a_resumable_run() {
    let dir = TempDir::new("cancel-first");
    let err = train(
        &tiny_train(1),
        &tiny_model(Variant::BaselineNoisy),
        train_set(),
        val_set(),
        None,
        dir.path(),
        &TrainHooks { on_progress: &|_| {}, cancelled: &|| true },
    )
    .unwrap_err();
    assert_eq!(err.code(), "ABORT_ERR");
    assert!(dir.join("last/state.json").is_file() && !dir.join("best").exists());
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("last/state.json")).unwrap()).unwrap();
    assert_eq!((state["epoch"].as_u64(), state["step"].as_u64()), (Some(0), Some(0)));
    let report = resume(&tiny_train(1), train_set(), val_set(), None, dir.path(), &TrainHooks::NONE).unwrap();
    assert_eq!(report.epochs_run, 1);
    // Training again into the same folder is refused: that is what resume is for.
    let err = train(&tiny_train(1), &tiny_model(Variant::BaselineNoisy), train_set(), val_set(), None, dir.path(), &TrainHooks::NONE).unwrap_err();
    assert_eq!(err.code(), "TRNET_RUN_EXISTS", "{err}");
}

#[test]
fn every_variant_trains_an_epoch_with_its_own_loss_terms() {
    for variant in Variant::ALL {
        let dir = TempDir::new(variant.name());
        let report = run(&tiny_train(1), variant, dir.path());
        let r = &report.history[0];
        assert_eq!(r.train.low.is_some(), variant.has_low_loss(), "{variant}");
        assert_eq!(r.train.high.is_some(), variant.has_high_loss(), "{variant}");
        assert!(r.train.total.is_finite() && r.train.ce > 0.0, "{variant}: {r:?}");
        assert!((0.0..=1.0).contains(&r.val.uar) && (0.0..=1.0).contains(&r.val.war), "{variant}: {r:?}");
        // Baseline-c trains and validates on the clean items only.
        let (train_items, val_items) = if variant == Variant::BaselineClean { (24, 9) } else { (48, 18) };
        assert_eq!((report.train_items, report.val_items), (train_items, val_items), "{variant}");
        let ckpt = checkpoint::load(&report.best_dir, Device::Cpu).unwrap();
        assert_eq!(ckpt.config.variant, variant);
        let eval = evaluate(&ckpt.model, val_set(), &EvalOptions { batch_size: 5, ..Default::default() }).unwrap();
        assert_eq!(eval.predictions.len(), val_set().len());
        for p in &eval.predictions {
            assert_eq!(p.c.is_some(), variant.has_snr_module(), "{variant}");
            if let Some(c) = p.c {
                assert!((0.0..=1.0).contains(&c));
            }
        }
    }
}

#[test]
fn early_stopping_ends_the_run_once_uar_cannot_improve() {
    let dir = TempDir::new("early");
    let config = TrainConfig { early_stopping_patience: Some(2), ..tiny_train(40) };
    let report = run(&config, Variant::BaselineNoisy, dir.path());
    assert!(report.stopped_early, "{:#?}", report.history);
    assert_eq!(report.best.uar, 1.0);
    assert_eq!(report.epochs_run, report.best.epoch + 2);
    assert!(report.history[report.best.epoch..].iter().all(|r| !r.improved));
}

#[test]
fn progress_reports_every_step_and_epoch() {
    let dir = TempDir::new("progress");
    let events = RefCell::new(Vec::new());
    let on_progress = |p: TrainProgress| events.borrow_mut().push(p);
    let report = train(
        &tiny_train(2),
        &tiny_model(Variant::Trnet),
        train_set(),
        val_set(),
        Some(reference()),
        dir.path(),
        &TrainHooks { on_progress: &on_progress, cancelled: &|| false },
    )
    .unwrap();
    let events = events.into_inner();
    let steps: Vec<&TrainProgress> = events.iter().filter(|p| p.stage == Stage::Step).collect();
    let epochs: Vec<&TrainProgress> = events.iter().filter(|p| p.stage == Stage::Epoch).collect();
    assert_eq!((steps.len(), epochs.len()), (12, 2));
    for (i, p) in steps.iter().enumerate() {
        assert_eq!((p.global_step, p.total_steps, p.steps_per_epoch, p.epochs), (i + 1, 12, 6, 2));
        assert_eq!((p.epoch, p.step), (i / 6 + 1, i % 6 + 1));
        assert!(p.losses.low.is_some() && p.losses.high.is_some() && p.val.is_none() && p.lr == 1e-2);
    }
    for (i, p) in epochs.iter().enumerate() {
        assert_eq!((p.epoch, p.step), (i + 1, 6));
        assert_eq!(p.val.unwrap().uar, report.history[i].val.uar);
        assert_eq!(p.losses, report.history[i].train);
        assert!(p.best.is_some());
        let names: Vec<&str> = p.metrics().iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"valUar") && names.contains(&"high"), "{names:?}");
    }
    // The progress record serialises with the stage names the façade narrows on.
    assert!(serde_json::to_string(epochs[0]).unwrap().contains("\"stage\":\"epoch\""));
}

/// Every step event of a run, without its wall time.
fn step_events(config: &TrainConfig, variant: Variant, dir: &Path, cancel_at_poll: Option<usize>) -> (Vec<TrainProgress>, Option<TrainReport>) {
    let events = RefCell::new(Vec::new());
    let polls = Cell::new(0usize);
    let on_progress = |mut p: TrainProgress| {
        p.elapsed_s = 0.0;
        events.borrow_mut().push(p);
    };
    let cancelled = || {
        polls.set(polls.get() + 1);
        cancel_at_poll.is_some_and(|n| polls.get() >= n)
    };
    let result =
        train(config, &tiny_model(variant), train_set(), val_set(), Some(reference()), dir, &TrainHooks { on_progress: &on_progress, cancelled: &cancelled });
    let report = match (result, cancel_at_poll) {
        (Ok(r), None) => Some(r),
        (Err(e), Some(_)) => {
            assert_eq!(e.code(), "ABORT_ERR", "{e}");
            None
        }
        (r, c) => panic!("cancel at {c:?}: {:?}", r.map(|r| r.epochs_run)),
    };
    (events.into_inner(), report)
}

/// Losses read from the device every few steps (lossReadEvery) give the events, epoch means, weights and the
/// saved partial sums of a cancelled run that a read after every step gives: the same values, later.
#[test]
fn reading_losses_every_few_steps_changes_nothing_but_when_events_arrive() {
    // 48 items / 7 = 7 steps per epoch, not a multiple of 3: the epoch's last read holds one step.
    let every = resume_config(2);
    let (a, b) = (TempDir::new("read-1"), TempDir::new("read-3"));
    let (ea, ra) = step_events(&every, Variant::Trnet, a.path(), None);
    let (eb, rb) = step_events(&TrainConfig { loss_read_every: 3, ..every.clone() }, Variant::Trnet, b.path(), None);
    assert_eq!(ea.len(), 2 * 7 + 2);
    assert_eq!(ea, eb, "the step and epoch events differ");
    assert!(ea.iter().any(|p| p.stage == Stage::Step && p.losses.low.is_some() && p.losses.high.is_some()));
    assert_same_run(a.path(), &ra.unwrap(), b.path(), &rb.unwrap());

    // Cancelled at the same poll (the 15th: 8 in epoch 1's steps, 3 in its validation, then epoch 2 before its 4th step): the same saved state, partial loss
    // sums included, bit for bit; and the run resumed from the lossReadEvery 3 cut is the uninterrupted run.
    let (c1, c3) = (TempDir::new("read-1-cut"), TempDir::new("read-3-cut"));
    let (e1, _) = step_events(&every, Variant::Trnet, c1.path(), Some(15));
    let (e3, _) = step_events(&TrainConfig { loss_read_every: 3, ..every.clone() }, Variant::Trnet, c3.path(), Some(15));
    assert_eq!(e1, e3);
    let state = |d: &Path| serde_json::from_slice::<serde_json::Value>(&bytes(&d.join("last/state.json"))).unwrap();
    let (s1, s3) = (state(c1.path()), state(c3.path()));
    assert_eq!((&s1["epoch"], &s1["step"]), (&serde_json::json!(1), &serde_json::json!(3)), "{s1}");
    assert!(s1["partial"]["items"].as_u64().unwrap() == 21 && s1["partial"]["high"].is_f64(), "{s1}");
    assert_eq!(s1["partial"], s3["partial"]);
    for f in ["last/model.safetensors", "last/optimizer.safetensors"] {
        assert!(bytes(&c1.join(f)) == bytes(&c3.join(f)), "{f}");
    }
    let resumed = resume(&TrainConfig { loss_read_every: 3, ..every }, train_set(), val_set(), Some(reference()), c3.path(), &TrainHooks::NONE).unwrap();
    let ra = serde_json::from_slice::<TrainReport>(&bytes(&a.join("report.json"))).unwrap();
    assert_same_run(a.path(), &ra, c3.path(), &resumed);
}

/// adamUpdate "flat": the same training as the per-tensor update to float32 rounding, and a run cut mid-epoch
/// resumes (weights and moments loaded into the flat buffers) to the uninterrupted flat run, bit for bit.
#[test]
fn flat_adam_trains_like_per_tensor_adam_and_resumes_exactly() {
    let per_tensor = resume_config(3);
    let flat = TrainConfig { adam_update: trnet_train::AdamUpdate::Flat, ..per_tensor.clone() };
    let (a, b, cut) = (TempDir::new("adam-per-tensor"), TempDir::new("adam-flat"), TempDir::new("adam-flat-cut"));
    let ra = run(&per_tensor, Variant::Trnet, a.path());
    let rb = run(&flat, Variant::Trnet, b.path());
    assert_eq!(ra.history.len(), rb.history.len());
    for (x, y) in ra.history.iter().zip(&rb.history) {
        assert!((x.train.total - y.train.total).abs() < 1e-5, "epoch {}: {} vs {}", x.epoch, x.train.total, y.train.total);
        assert!((x.val.ce - y.val.ce).abs() < 1e-4, "epoch {}: {} vs {}", x.epoch, x.val.ce, y.val.ce);
    }
    let weights = |d: &Path| checkpoint::load(&d.join("last"), Device::Cpu).unwrap().vs.variables();
    let (wa, wb) = (weights(a.path()), weights(b.path()));
    for (name, t) in &wa {
        let diff = (t - &wb[name]).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{name} differs by {diff} after {} steps", ra.global_steps);
    }
    let resumed = interrupted(Variant::Trnet, &flat, &flat, cut.path(), |p| p.stage == Stage::Step && p.epoch == 2 && p.step == 3);
    assert_same_run(b.path(), &rb, cut.path(), &resumed);
}

#[test]
fn missing_inputs_and_bad_data_are_coded_errors() {
    let dir = TempDir::new("errors");
    let out = dir.join("run");
    let tr = |variant: Variant, train_set: &trnet_train::Dataset, reference: Option<&Path>| {
        train(&tiny_train(1), &tiny_model(variant), train_set, val_set(), reference, &out, &TrainHooks::NONE).unwrap_err()
    };
    for variant in [Variant::Trnet, Variant::TrnetNoLow] {
        let err = tr(variant, train_set(), None);
        assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
        assert!(err.to_string().contains("Baseline-c"), "{err}");
    }
    // A reference that is not a Baseline-c.
    let not_c = TempDir::new("not-c");
    let r = run(&tiny_train(1), Variant::BaselineNoisy, not_c.path());
    let err = tr(Variant::Trnet, train_set(), Some(&r.best_dir));
    assert!(err.to_string().contains("baseline-n model"), "{err}");
    let err = tr(Variant::Trnet, train_set(), Some(&dir.join("nowhere")));
    assert_eq!(err.code(), "TRNET_CHECKPOINT_NOT_FOUND", "{err}");

    // Noisy-only data for Baseline-c; items without Xe / Xs for TRNet; labels past numClasses; other bins.
    let noisy_only = train_set().subset(&(0..train_set().len()).filter(|i| i % 2 == 1).collect::<Vec<_>>()).unwrap();
    let err = tr(Variant::BaselineClean, &noisy_only, None);
    assert!(err.to_string().contains("clean items"), "{err}");
    let mut no_xe = trnet_train::Dataset::new(FRAMES, BINS).unwrap();
    for item in train_set().items() {
        no_xe.push(trnet_train::Item { xe: None, ..item.clone() }).unwrap();
    }
    let err = tr(Variant::BaselineEnhanced, &no_xe, None);
    assert!(err.to_string().contains("Xe") && err.to_string().contains("training item 0"), "{err}");
    let mut no_xs = trnet_train::Dataset::new(FRAMES, BINS).unwrap();
    for item in train_set().items() {
        let xs = if item.condition.is_clean() { item.xs.clone() } else { None };
        no_xs.push(trnet_train::Item { xs, ..item.clone() }).unwrap();
    }
    let err = tr(Variant::TrnetNoHigh, &no_xs, None);
    assert!(err.to_string().contains("Xs") && err.to_string().contains("training item 1"), "{err}");
    let mut bad_label = train_set().clone();
    bad_label.push(trnet_train::Item { label: 3, ..train_set().item(0).clone() }).unwrap();
    let err = tr(Variant::BaselineNoisy, &bad_label, None);
    assert!(err.to_string().contains("label") && err.to_string().contains("0..3"), "{err}");
    let wide = trnet_train::Dataset::new(FRAMES, BINS + 1).unwrap();
    let err = tr(Variant::BaselineNoisy, &wide, None);
    assert!(err.to_string().contains("16 log-Mel bins"), "{err}");
    assert!(!out.exists(), "failed setups must not create the run folder");

    // Resume: nothing there; another config; other data.
    let err = resume(&tiny_train(1), train_set(), val_set(), None, &out, &TrainHooks::NONE).unwrap_err();
    assert_eq!(err.code(), "TRNET_CHECKPOINT_NOT_FOUND", "{err}");
    run(&tiny_train(1), Variant::BaselineNoisy, &out);
    let err = resume(&TrainConfig { learning_rate: 0.5, ..tiny_train(2) }, train_set(), val_set(), None, &out, &TrainHooks::NONE).unwrap_err();
    assert_eq!(err.code(), "TRNET_RESUME_MISMATCH");
    assert!(err.to_string().contains("learningRate"), "{err}");
    let err = resume(&tiny_train(2), val_set(), val_set(), None, &out, &TrainHooks::NONE).unwrap_err();
    assert!(err.to_string().contains("training data"), "{err}");
}

#[test]
fn mixed_precision_is_refused_on_cpu_and_ignored_on_auto_without_a_gpu() {
    let dir = TempDir::new("amp");
    let err = train(
        &TrainConfig { mixed_precision: true, ..tiny_train(1) },
        &tiny_model(Variant::BaselineNoisy),
        train_set(),
        val_set(),
        None,
        &dir.join("a"),
        &TrainHooks::NONE,
    )
    .unwrap_err();
    assert_eq!(err.code(), "TRNET_INVALID_CONFIG");
    if !tch::Cuda::is_available() {
        let config = TrainConfig { mixed_precision: true, device: "auto".into(), ..tiny_train(1) };
        let report = train(&config, &tiny_model(Variant::BaselineNoisy), train_set(), val_set(), None, &dir.join("b"), &TrainHooks::NONE).unwrap();
        assert!(!report.mixed_precision);
        assert_eq!(report.device, "Cpu");
        // bfloat16 on "auto" without a GPU: ignored the same way (no autocast dtype is looked up or set).
        let bf16 = TrainConfig { mixed_precision_dtype: trnet_train::MixedPrecisionDtype::Bfloat16, ..config };
        let report = train(&bf16, &tiny_model(Variant::BaselineNoisy), train_set(), val_set(), None, &dir.join("c"), &TrainHooks::NONE).unwrap();
        assert!(!report.mixed_precision);
    }
}

/// `EvalOptions::embeddings` returns, per evaluated item, the representation the classifier reads (h~ for
/// TRNet, h for Baseline-n), of the model's embedding size; each one equals a recomputation of that item alone
/// through `TrnetModel::forward_t`, and the classifier maps it to the item's probabilities.
#[test]
fn evaluation_returns_each_items_representation() {
    use tch::{Kind, Tensor};
    use trnet_model::Inputs;
    for variant in [Variant::Trnet, Variant::BaselineNoisy] {
        let dir = TempDir::new(&format!("embed-{}", variant.name()));
        let report = run(&tiny_train(2), variant, dir.path());
        let ckpt = checkpoint::load(&report.best_dir, Device::Cpu).unwrap();
        let model = &ckpt.model;
        let dim = ckpt.config.embedding_dim();
        let plain = evaluate(model, val_set(), &EvalOptions { batch_size: 5, ..Default::default() }).unwrap();
        assert!(plain.predictions.iter().all(|p| p.embedding.is_none()), "embeddings only when asked for");
        let eval = evaluate(model, val_set(), &EvalOptions { batch_size: 5, embeddings: true, ..Default::default() }).unwrap();
        assert_eq!(eval.predictions.len(), val_set().len());
        assert_eq!((eval.uar, eval.war), (plain.uar, plain.war), "asking for embeddings changes nothing else");
        for p in &eval.predictions {
            assert_eq!(p.embedding.as_ref().map(Vec::len), Some(dim), "{variant}");
        }
        // Recompute one noisy item (batch of one, its own mask) straight through the model.
        let i = 7;
        let item = val_set().item(i);
        let (t, f) = (val_set().frames(), val_set().bins());
        let x = Tensor::from_slice(&item.x.values().unwrap()).view([1, t as i64, f as i64]);
        let xe = Tensor::from_slice(&item.xe.as_ref().unwrap().values().unwrap()).view([1, t as i64, f as i64]);
        let mask = Tensor::arange(t as i64, (Kind::Int64, Device::Cpu)).lt(item.valid_frames as i64).view([1, t as i64]);
        let out = tch::no_grad(|| model.forward_t(&Inputs::new(&x).enhanced(&xe).mask(&mask), false)).unwrap();
        let again = Vec::<f32>::try_from(model.representation(&out).flatten(0, -1)).unwrap();
        let saved = eval.predictions.iter().find(|p| p.item == i).unwrap().embedding.clone().unwrap();
        let gap = saved.iter().zip(&again).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(gap < 1e-4, "{variant}: saved and recomputed representations of item {i} differ by {gap}");
        // For TRNet the representation is h~ (the FiLM output), not the encoder's h.
        if variant == Variant::Trnet {
            let h = Vec::<f32>::try_from(out.h.flatten(0, -1)).unwrap();
            assert!(h.iter().zip(&again).any(|(a, b)| (a - b).abs() > 1e-3), "TRNet's representation should be h~, not h");
        }
        let probs = Vec::<f32>::try_from(out.logits.softmax(1, Kind::Float).flatten(0, -1)).unwrap();
        let saved_probs = &eval.predictions.iter().find(|p| p.item == i).unwrap().probs;
        assert!(probs.iter().zip(saved_probs).all(|(a, b)| (a - b).abs() < 1e-5), "{probs:?} vs {saved_probs:?}");
    }
}
