//! Behaviour of the fbank API beyond numeric parity: dither, buffers, frame counting, batching and errors.

use trnet_dsp::Error;
use trnet_dsp::fbank::{Fbank, FbankOptions, WindowType, compute_batch};

/// Deterministic speech-ish test signal (no RNG needed): a few harmonics with a slow envelope.
fn tone(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            let env = 0.6 + 0.4 * (t * 3.0).sin();
            scale * env * ((t * std::f32::consts::TAU * 180.0).sin() + 0.5 * (t * std::f32::consts::TAU * 1210.0).sin() + 0.01 * (i as f32 * 1.7).sin())
        })
        .collect()
}

fn invalid(r: Result<impl std::fmt::Debug, Error>) -> String {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code(), "TRNET_INVALID_ARGUMENT", "{e}");
    e.to_string()
}

#[test]
fn defaults_are_torchaudios_and_paper_is_80_bins() {
    let d = FbankOptions::default();
    assert_eq!((d.num_mel_bins, d.frame_length, d.frame_shift, d.sample_frequency), (23, 25.0, 10.0, 16000.0));
    assert_eq!((d.low_freq, d.high_freq, d.preemphasis_coefficient, d.energy_floor), (20.0, 0.0, 0.97, 1.0));
    assert_eq!((d.dither, d.blackman_coeff, d.vtln_warp, d.vtln_low, d.vtln_high), (0.0, 0.42, 1.0, 100.0, -500.0));
    assert!(d.raw_energy && d.remove_dc_offset && d.round_to_power_of_two && d.snip_edges && d.use_log_fbank && d.use_power);
    assert!(!d.htk_compat && !d.subtract_mean && !d.use_energy);
    assert_eq!(d.window_type, WindowType::Povey);
    assert_eq!(FbankOptions::paper(), FbankOptions { num_mel_bins: 80, ..d });
    let f = Fbank::new(FbankOptions::paper()).unwrap();
    assert_eq!((f.window_size(), f.window_shift(), f.num_columns()), (400, 160, 80));
}

#[test]
fn num_frames_follows_torchaudio() {
    let snip = Fbank::new(FbankOptions::paper()).unwrap();
    let no_snip = Fbank::new(FbankOptions { snip_edges: false, ..FbankOptions::paper() }).unwrap();
    // snip_edges: 1 + (n - 400) / 160; otherwise (n + 80) / 160; below one frame: 0 (compute errors).
    for (n, a, b) in [(0, 0, 0), (399, 0, 0), (400, 1, 3), (559, 1, 3), (560, 2, 4), (16_000, 98, 100), (16_079, 98, 100), (16_080, 99, 101)] {
        assert_eq!(snip.num_frames(n), a, "snip_edges, {n} samples");
        assert_eq!(no_snip.num_frames(n), b, "no snip_edges, {n} samples");
    }
    let min = Fbank::new(FbankOptions { min_duration: 0.5, ..FbankOptions::paper() }).unwrap();
    assert_eq!(min.num_frames(7_999), 0);
    assert_eq!(min.num_frames(8_000), 48);
}

#[test]
fn compute_into_equals_compute() {
    for opts in [
        FbankOptions::paper(),
        FbankOptions { use_energy: true, htk_compat: true, snip_edges: false, subtract_mean: true, ..FbankOptions::default() },
        FbankOptions { dither: 0.5, dither_seed: 9, ..FbankOptions::paper() },
    ] {
        let wave = tone(5_123, 32768.0);
        let mut fb = Fbank::new(opts.clone()).unwrap();
        let feats = fb.compute(&wave).unwrap();
        assert_eq!(feats.bins, fb.num_columns());
        assert_eq!(feats.frames, fb.num_frames(wave.len()));
        assert_eq!(feats.data.len(), feats.frames * feats.bins);
        // A longer buffer: only the first frames × columns values are written.
        let mut out = vec![f32::NAN; feats.data.len() + 7];
        let frames = fb.compute_into(&wave, &mut out).unwrap();
        assert_eq!(frames, feats.frames);
        assert_eq!(&out[..feats.data.len()], &feats.data[..], "{opts:?}");
        assert!(out[feats.data.len()..].iter().all(|v| v.is_nan()));
        // Reusing the same Fbank gives the same result again (no state leaks between calls).
        assert_eq!(fb.compute(&wave).unwrap(), feats);
        assert_eq!(Fbank::new(opts).unwrap().compute(&wave).unwrap(), feats);
        assert_eq!(feats.row(1), &feats.data[feats.bins..2 * feats.bins]);
    }
}

#[test]
fn compute_into_rejects_a_short_buffer() {
    let mut fb = Fbank::new(FbankOptions::paper()).unwrap();
    let wave = tone(16_000, 1.0);
    let mut out = vec![0.0; 98 * 80 - 1];
    let msg = invalid(fb.compute_into(&wave, &mut out));
    assert!(msg.contains("7840") && msg.contains("7839"), "{msg}");
}

/// The log floor decides what digital silence becomes and leaves bins with energy alone.
#[test]
fn the_log_floor_sets_digital_silence_and_nothing_else() {
    assert_eq!(FbankOptions::paper().log_floor, f32::EPSILON as f64, "Kaldi's floor by default");
    let mut wave = tone(16_000, 0.5);
    for s in &mut wave[4_000..12_000] {
        *s = 0.0; // half a second of digital silence in the middle
    }
    let run = |log_floor: f64| Fbank::new(FbankOptions { log_floor, ..FbankOptions::paper() }).unwrap().compute(&wave).unwrap();
    let (kaldi, low) = (run(trnet_dsp::fbank::KALDI_LOG_FLOOR), run(1e-10));
    let silent = 40; // frame 40 covers samples 6400..6800, inside the silence
    assert!(kaldi.row(silent).iter().all(|&v| v == f32::EPSILON.ln()), "{:?}", &kaldi.row(silent)[..4]);
    assert!(low.row(silent).iter().all(|&v| (v - 1e-10f32.ln()).abs() < 1e-4), "{:?}", &low.row(silent)[..4]);
    // Frames of the tone: every bin above both floors comes out the same.
    for f in 0..20 {
        for (a, b) in kaldi.row(f).iter().zip(low.row(f)) {
            if *a > f32::EPSILON.ln() {
                assert_eq!(a, b, "frame {f}");
            }
        }
    }
    let err = Fbank::new(FbankOptions { log_floor: 0.0, ..FbankOptions::paper() }).unwrap_err();
    assert!(err.to_string().contains("log_floor"), "{err}");
}

#[test]
fn dither_is_seeded_and_reproducible() {
    let wave = tone(8_000, 1.0);
    let run = |dither: f64, seed: u64| Fbank::new(FbankOptions { dither, dither_seed: seed, ..FbankOptions::paper() }).unwrap().compute(&wave).unwrap();
    let plain = run(0.0, 0);
    assert_eq!(run(0.0, 123), plain, "dither 0: the seed does not matter, no randomness");
    let a = run(1e-4, 1);
    assert_eq!(run(1e-4, 1), a, "same seed, same features");
    assert_ne!(run(1e-4, 2), a, "another seed, other features");
    assert_ne!(a, plain, "dither changes the features");
    // Small dither only moves the strong bins a little (near-empty bins it fills with noise, its purpose).
    for f in 0..plain.frames {
        let (p, d) = (plain.row(f), a.row(f));
        let peak = p.iter().cloned().fold(f32::MIN, f32::max);
        for c in (0..p.len()).filter(|&c| p[c] > peak - 8.0) {
            assert!((p[c] - d[c]).abs() < 0.05, "frame {f} bin {c}: {} vs {}", p[c], d[c]);
        }
    }
}

#[test]
fn dither_has_the_requested_standard_deviation() {
    // Silence plus N(0, 1) dither: each frame's raw energy (after DC removal) is about window_size - 1.
    let opts = FbankOptions { dither: 1.0, dither_seed: 5, use_energy: true, energy_floor: 0.0, ..FbankOptions::paper() };
    let feats = Fbank::new(opts).unwrap().compute(&vec![0.0; 160_000]).unwrap();
    let mean_log_energy = (0..feats.frames).map(|f| feats.row(f)[0] as f64).sum::<f64>() / feats.frames as f64;
    // E[ln chi2_399] = ln 399 - 1/399 approximately.
    assert!((mean_log_energy - (399f64).ln()).abs() < 0.02, "{mean_log_energy}");
}

#[test]
fn short_and_bad_waveforms_are_rejected() {
    let mut fb = Fbank::new(FbankOptions::paper()).unwrap();
    for n in [0, 1, 399] {
        let msg = invalid(fb.compute(&vec![0.1; n]));
        assert!(msg.contains("400 samples") && msg.contains(&format!("found {n} samples")), "{msg}");
    }
    let mut nosnip = Fbank::new(FbankOptions { snip_edges: false, ..FbankOptions::paper() }).unwrap();
    invalid(nosnip.compute(&vec![0.1; 399]));
    let mut wave = tone(1_000, 1.0);
    wave[517] = f32::NAN;
    let msg = invalid(fb.compute(&wave));
    assert!(msg.contains("sample 517") && msg.contains("NaN"), "{msg}");
    wave[517] = f32::NEG_INFINITY;
    invalid(fb.compute_into(&wave, &mut vec![0.0; 10_000]));
    // min_duration: long enough for a frame but shorter than min_duration gives no frames, not an error.
    let mut min = Fbank::new(FbankOptions { min_duration: 1.0, ..FbankOptions::paper() }).unwrap();
    let f = min.compute(&tone(15_999, 1.0)).unwrap();
    assert_eq!((f.frames, f.bins, f.data.len()), (0, 80, 0));
}

#[test]
fn silence_gives_the_epsilon_floor() {
    let f = Fbank::new(FbankOptions::paper()).unwrap().compute(&vec![0.0; 1_600]).unwrap();
    assert!(f.data.iter().all(|&v| v == f32::EPSILON.ln()));
}

#[test]
fn bad_options_are_rejected_with_a_fix() {
    let base = FbankOptions::paper;
    let cases: Vec<(FbankOptions, &str)> = vec![
        (FbankOptions { num_mel_bins: 2, ..base() }, "num_mel_bins"),
        (FbankOptions { num_mel_bins: 0, ..base() }, "num_mel_bins"),
        (FbankOptions { frame_shift: 0.0, ..base() }, "frame_shift"),
        (FbankOptions { frame_shift: -10.0, ..base() }, "frame_shift"),
        (FbankOptions { frame_shift: 0.05, ..base() }, "frame_shift"), // 0.8 samples truncates to 0
        (FbankOptions { frame_length: 0.1, ..base() }, "frame_length"),
        (FbankOptions { frame_length: 25.0625, round_to_power_of_two: false, ..base() }, "frame_length"),
        (FbankOptions { frame_length: f64::NAN, ..base() }, "frame_length"),
        (FbankOptions { sample_frequency: 0.0, ..base() }, "sample_frequency"),
        (FbankOptions { sample_frequency: f64::INFINITY, ..base() }, "sample_frequency"),
        (FbankOptions { preemphasis_coefficient: 1.01, ..base() }, "preemphasis_coefficient"),
        (FbankOptions { preemphasis_coefficient: -0.1, ..base() }, "preemphasis_coefficient"),
        (FbankOptions { low_freq: -1.0, ..base() }, "low_freq"),
        (FbankOptions { low_freq: 8000.0, ..base() }, "low_freq"),
        (FbankOptions { high_freq: 8000.5, ..base() }, "high_freq"),
        (FbankOptions { high_freq: -8000.0, ..base() }, "high_freq"),
        (FbankOptions { low_freq: 4000.0, high_freq: 3000.0, ..base() }, "high_freq"),
        (FbankOptions { energy_floor: -0.5, ..base() }, "energy_floor"),
        (FbankOptions { dither: -1.0, ..base() }, "dither"),
        (FbankOptions { min_duration: -1.0, ..base() }, "min_duration"),
        (FbankOptions { channel: 1, ..base() }, "channel"),
        (FbankOptions { vtln_warp: 0.0, ..base() }, "vtln_warp"),
        (FbankOptions { vtln_warp: -1.0, ..base() }, "vtln_warp"),
        (FbankOptions { vtln_warp: 0.9, vtln_low: 10.0, ..base() }, "vtln_low"),
        (FbankOptions { vtln_warp: 0.9, vtln_high: 8500.0, ..base() }, "vtln_high"),
        (FbankOptions { vtln_warp: 1.1, vtln_low: 7000.0, vtln_high: 6000.0, ..base() }, "vtln_low"),
    ];
    for (opts, option) in cases {
        let msg = invalid(Fbank::new(opts.clone()));
        assert!(msg.contains(option), "error for {option} does not name it: {msg}");
        assert!(msg.contains("expected") && msg.contains("found"), "{msg}");
        // compute_batch reports the same error for every waveform.
        let w = tone(1_000, 1.0);
        let batch = compute_batch(&opts, &[&w, &w]);
        assert!(batch.iter().all(|r| { r.as_ref().is_err_and(|e| e.code() == "TRNET_INVALID_ARGUMENT") }));
    }
    // Accepted edge values: 3 bins (Kaldi's minimum; torchaudio asks for 4), channel 0, a VTLN warp.
    for opts in [
        FbankOptions { num_mel_bins: 3, ..base() },
        FbankOptions { channel: 0, ..base() },
        FbankOptions { vtln_warp: 0.85, ..base() },
        FbankOptions { preemphasis_coefficient: 1.0, ..base() },
        FbankOptions { high_freq: 8000.0, low_freq: 0.0, ..base() },
    ] {
        Fbank::new(opts.clone()).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
    }
}

#[test]
fn window_names_parse_and_unknown_ones_list_the_choices() {
    for w in WindowType::ALL {
        assert_eq!(w.name().parse::<WindowType>().unwrap(), w);
        assert_eq!(w.to_string(), w.name());
    }
    let msg = invalid("kaiser".parse::<WindowType>());
    for name in ["povey", "hamming", "hanning", "rectangular", "blackman", "kaiser"] {
        assert!(msg.contains(name), "{msg}");
    }
    invalid("Povey".parse::<WindowType>());
}

#[test]
fn batch_equals_one_by_one() {
    let opts = FbankOptions { use_energy: true, ..FbankOptions::paper() };
    let waves: Vec<Vec<f32>> = (0..9).map(|i| tone(1_000 + 997 * i, 1.0 + i as f32)).collect();
    let mut refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let short = vec![0.0f32; 10];
    refs.insert(4, &short);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let batch = pool.install(|| compute_batch(&opts, &refs));
    assert_eq!(batch.len(), refs.len());
    let mut fb = Fbank::new(opts).unwrap();
    for (wave, got) in refs.iter().zip(&batch) {
        match fb.compute(wave) {
            Ok(want) => assert_eq!(got.as_ref().unwrap(), &want),
            Err(e) => assert_eq!(got.as_ref().unwrap_err().to_string(), e.to_string()),
        }
    }
    assert!(batch[4].is_err(), "the 10-sample clip fails alone");
    assert!(compute_batch(&FbankOptions::paper(), &[]).is_empty());
}
