//! End to end on real speech: RAVDESS actors 1–4, four emotions (neutral, happy, sad, angry), ESC-50 noise
//! at the paper's SNRs, a trivial enhancer (a 3-tap smoothing filter), 200-frame features. Trains a
//! Baseline-c, then TRNet against it as the frozen reference, with a small encoder; checks that it runs,
//! that the training loss falls, and that the metrics are proper. Needs the shared data folder (env
//! TRNET_SHARED, default <repo>/../shared) and fails with a message saying so when it is missing.

mod common;

use common::{TempDir, noise_files, utterances};
use tch::Device;
use trnet_dsp::batch::BatchControl;
use trnet_model::{ModelConfig, Variant, checkpoint};
use trnet_train::features::{AudioDatasetSpec, NoisyCopies, dataset_from_audio, load_noises};
use trnet_train::{Condition, EvalOptions, TrainConfig, TrainHooks, TrainReport, evaluate, train};

/// A stand-in for a speech-enhancement front end: y[n] = (x[n−1] + 2x[n] + x[n+1]) / 4.
fn smooth(x: &[f32]) -> trnet_enhance::Result<Vec<f32>> {
    Ok((0..x.len()).map(|n| (x[n.saturating_sub(1)] + 2.0 * x[n] + x[(n + 1).min(x.len() - 1)]) / 4.0).collect())
}

fn check_run(report: &TrainReport, variant: Variant) {
    assert!(!report.history.is_empty());
    for r in &report.history {
        for v in [r.val.uar, r.val.war] {
            assert!((0.0..=1.0).contains(&v), "{variant}: {r:?}");
        }
        assert!(r.train.total.is_finite() && r.val.ce.is_finite());
        assert_eq!(r.train.low.is_some(), variant.has_low_loss());
        assert_eq!(r.train.high.is_some(), variant.has_high_loss());
    }
    let (first, last) = (report.history[0].train.total, report.history.last().unwrap().train.total);
    assert!(last < first, "{variant}: training loss did not fall: {:#?}", report.history);
}

#[test]
fn ravdess_with_esc50_noise_trains_baseline_c_then_trnet() {
    let started = std::time::Instant::now();
    let spec = AudioDatasetSpec { frames: 200, seed: 7, noisy: NoisyCopies::OnePerUtterance, ..Default::default() };
    // Train and validation noises come from different clips (no clip shared, as in the paper's protocol).
    let train_noise = load_noises(&noise_files(0..12)).unwrap();
    let val_noise = load_noises(&noise_files(12..20)).unwrap();
    let train_utts = utterances(&[1, 2, 3]);
    let val_utts = utterances(&[4]);
    assert_eq!((train_utts.len(), val_utts.len()), (84, 28));
    let train_set = dataset_from_audio(&train_utts, &train_noise, &spec, &smooth, &BatchControl::NONE).unwrap();
    let val_set = dataset_from_audio(&val_utts, &val_noise, &spec, &smooth, &BatchControl::NONE).unwrap();
    assert_eq!((train_set.len(), val_set.len()), (168, 56));
    assert_eq!((train_set.frames(), train_set.bins()), (200, 80));

    // The dataset rule: clean item then its noisy copy, sharing Xs; SNR from the paper's set; seeded.
    let (clean, noisy) = (val_set.item(0), val_set.item(1));
    assert!(clean.condition.is_clean() && noisy.xs.as_ref().unwrap().same_as(&clean.x));
    match &noisy.condition {
        Condition::Noisy { snr_db: Some(s), noise: Some(_) } => assert!([20.0, 15.0, 10.0, 5.0, 0.0].contains(s)),
        other => panic!("{other:?}"),
    }
    let again = dataset_from_audio(&val_utts, &val_noise, &spec, &smooth, &BatchControl::NONE).unwrap();
    assert_eq!(again.fingerprint().unwrap(), val_set.fingerprint().unwrap());
    let other_seed = dataset_from_audio(&val_utts[..4], &val_noise, &AudioDatasetSpec { seed: 8, ..spec.clone() }, &smooth, &BatchControl::NONE).unwrap();
    assert_ne!(other_seed.fingerprint().unwrap(), val_set.subset(&[0, 1, 2, 3, 4, 5, 6, 7]).unwrap().fingerprint().unwrap());
    let features_s = started.elapsed().as_secs_f64();

    let dir = TempDir::new("ravdess");
    let model = |variant| ModelConfig { variant, channels: vec![8, 16, 16, 32], ..ModelConfig::paper(variant) };
    let config = |epochs| TrainConfig { epochs, device: "cpu".into(), seed: 3, ..Default::default() };
    let baseline = train(&config(5), &model(Variant::BaselineClean), &train_set, &val_set, None, &dir.join("baseline-c"), &TrainHooks::NONE).unwrap();
    check_run(&baseline, Variant::BaselineClean);
    assert_eq!((baseline.train_items, baseline.val_items), (84, 28));

    let trnet = train(&config(4), &model(Variant::Trnet), &train_set, &val_set, Some(&baseline.best_dir), &dir.join("trnet"), &TrainHooks::NONE).unwrap();
    check_run(&trnet, Variant::Trnet);
    assert_eq!((trnet.train_items, trnet.val_items), (168, 56));

    let ckpt = checkpoint::load(&trnet.best_dir, Device::Cpu).unwrap();
    let eval = evaluate(&ckpt.model, &val_set, &EvalOptions::default()).unwrap();
    assert_eq!(eval.predictions.len(), 56);
    assert!(eval.predictions.iter().all(|p| p.c.is_some_and(|c| (0.0..=1.0).contains(&c))));
    assert_eq!(eval.confusion.iter().flatten().sum::<u64>(), 56);
    let losses = |r: &TrainReport| r.history.iter().map(|h| format!("{:.3}", h.train.total)).collect::<Vec<_>>().join(" ");
    eprintln!(
        "features {features_s:.1} s, total {:.1} s; train loss per epoch: baseline-c {}, TRNet {}; baseline-c best UAR {:.3} (epoch {}), TRNet best UAR {:.3} (epoch {}), TRNet val UAR on all 56 items {:.3}",
        started.elapsed().as_secs_f64(),
        losses(&baseline),
        losses(&trnet),
        baseline.best.uar,
        baseline.best.epoch,
        trnet.best.uar,
        trnet.best.epoch,
        eval.uar
    );
}

/// The waveform scale multiplies the samples the fbank sees: without dither, every log-Mel value above the
/// energy floor moves by 2·ln(scale), and nothing else changes (mixing and enhancement see the same audio).
#[test]
fn the_waveform_scale_shifts_log_mel_values_by_twice_its_log() {
    let utts = &utterances(&[1])[..2];
    let noise = load_noises(&noise_files(0..2)).unwrap();
    let mut spec = AudioDatasetSpec { frames: 100, seed: 3, noisy: NoisyCopies::OnePerUtterance, ..Default::default() };
    spec.fbank.dither = 0.0;
    let plain = dataset_from_audio(utts, &noise, &spec, &smooth, &BatchControl::NONE).unwrap();
    let scaled = dataset_from_audio(utts, &noise, &AudioDatasetSpec { waveform_scale: 32768.0, ..spec.clone() }, &smooth, &BatchControl::NONE).unwrap();
    let shift = 2.0 * 32768f32.ln();
    let mut compared = 0;
    for i in 0..plain.len() {
        let (a, b) = (plain.item(i), scaled.item(i));
        for (fa, fb) in [(&a.x, &b.x), (a.xe.as_ref().unwrap(), b.xe.as_ref().unwrap())] {
            let (va, vb) = (fa.values().unwrap(), fb.values().unwrap());
            for (x, y) in va.iter().zip(vb.iter()) {
                // Above the floor (ln of f32::EPSILON ≈ -15.94) in the unscaled features.
                if *x > -15.5 {
                    assert!((y - x - shift).abs() < 1e-2, "item {i}: {x} → {y}, expected +{shift}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 10_000, "only {compared} values compared");
}
