//! Resampling: fidelity of tones, time alignment, the length rule, anti-aliasing, short inputs
//! and argument checks.

mod audio_support;

use std::f64::consts::PI;

use audio_support::*;
use trnet_dsp::resample::{output_len, resample};

const RATES_IN: [u32; 6] = [8_000, 11_025, 22_050, 44_100, 48_000, 96_000];
const RATES_OUT: [u32; 5] = [8_000, 11_025, 22_050, 44_100, 48_000];

/// Skip 25 ms at each end: a tone switched on at t = 0 is not band-limited there.
fn middle(samples: &[f32], rate: u32) -> std::ops::Range<usize> {
    let edge = rate as usize / 40;
    edge..samples.len() - edge
}

fn tone_fidelity(from: u32, to: u32) -> (f64, f64) {
    let input = to_f32(&sine(1_000.0, 0.5, from, from as usize)); // 1 s
    let output = resample(&input, from, to).unwrap();
    let ideal = to_f32(&sine(1_000.0, 0.5, to, output.len()));
    let range = middle(&output, to);
    let max_err = range.clone().map(|i| (output[i] - ideal[i]).abs()).fold(0.0f32, f32::max);
    let level_db = db(rms(&output[range.clone()]) / rms(&ideal[range]));
    (f64::from(max_err), level_db)
}

#[test]
fn a_1_khz_tone_keeps_frequency_phase_and_level_when_downsampled_to_16_khz() {
    for from in RATES_IN {
        let (max_err, level_db) = tone_fidelity(from, 16_000);
        println!("{from} -> 16000: max error {max_err:.2e}, level {level_db:+.5} dB");
        // Compared sample by sample with an ideal 16 kHz sine: any shift, frequency or
        // amplitude error would show here (a 0.01-sample shift alone gives 2e-3).
        assert!(max_err < 2e-4, "{from} Hz: max error {max_err}");
        assert!(level_db.abs() < 0.1, "{from} Hz: level off by {level_db} dB");
    }
}

#[test]
fn a_1_khz_tone_survives_upsampling_from_16_khz() {
    for to in RATES_OUT {
        let (max_err, level_db) = tone_fidelity(16_000, to);
        println!("16000 -> {to}: max error {max_err:.2e}, level {level_db:+.5} dB");
        assert!(max_err < 2e-4, "{to} Hz: max error {max_err}");
        assert!(level_db.abs() < 0.1, "{to} Hz: level off by {level_db} dB");
    }
}

/// A Gaussian pulse (σ = 0.4 ms, so its spectrum is negligible above ~2.5 kHz) centred at `t0`.
fn pulse(rate: u32, len: usize, t0: f64) -> Vec<f32> {
    let sigma = 0.000_4;
    (0..len)
        .map(|i| {
            let t = i as f64 / f64::from(rate) - t0;
            (-(t * t) / (2.0 * sigma * sigma)).exp() as f32
        })
        .collect()
}

#[test]
fn output_is_time_aligned_with_the_input() {
    // No leading delay: a pulse at t0 in the input is at t0 in the output. Checked by the
    // cross-correlation peak against the ideal pulse at the output rate, and sample by sample.
    let t0 = 0.123_45;
    let odd_pairs = [(7_350, 16_000), (44_100, 48_000), (48_000, 44_100), (16_001, 16_000)];
    for (from, to) in RATES_IN.iter().map(|&r| (r, 16_000)).chain(RATES_OUT.iter().map(|&r| (16_000, r))).chain(odd_pairs) {
        let input = pulse(from, (from as usize) / 4, t0);
        let output = resample(&input, from, to).unwrap();
        let ideal = pulse(to, output.len(), t0);
        let xcorr = |lag: isize| -> f64 {
            (0..output.len() as isize).filter_map(|i| ideal.get((i + lag) as usize).map(|&r| f64::from(output[i as usize]) * f64::from(r))).sum()
        };
        let peak = (-30..=30).max_by(|&a, &b| xcorr(a).total_cmp(&xcorr(b))).unwrap();
        assert_eq!(peak, 0, "{from} -> {to}: cross-correlation peak at lag {peak}");
        let max_err = output.iter().zip(&ideal).map(|(o, i)| (o - i).abs()).fold(0.0f32, f32::max);
        assert!(max_err < 1e-3, "{from} -> {to}: pulse shape error {max_err}");
        // Sub-sample alignment: the pulse's centre of mass sits at t0 * to_rate.
        let mass: f64 = output.iter().map(|&s| f64::from(s)).sum();
        let centre = output.iter().enumerate().map(|(i, &s)| i as f64 * f64::from(s)).sum::<f64>() / mass;
        let offset = centre - t0 * f64::from(to);
        assert!(offset.abs() < 0.01, "{from} -> {to}: output is shifted by {offset:.4} samples");
    }
}

#[test]
fn output_length_is_the_rounded_ratio() {
    let lengths = [0usize, 1, 2, 3, 5, 7, 10, 100, 320, 441, 1_000, 1_001, 4_409, 44_101];
    let pairs = RATES_IN.iter().map(|&r| (r, 16_000)).chain(RATES_OUT.iter().map(|&r| (16_000, r))).chain([(44_100, 48_000), (7_350, 16_000)]);
    for (from, to) in pairs {
        for &len in &lengths {
            let expected = (len as f64 * f64::from(to) / f64::from(from)).round() as usize;
            assert_eq!(output_len(len, from, to), expected, "output_len({len}, {from}, {to})");
            let input = to_f32(&sine(300.0, 0.3, from, len));
            let output = resample(&input, from, to).unwrap();
            assert_eq!(output.len(), expected, "{len} samples {from} -> {to}");
            assert!(output.iter().all(|s| s.is_finite()));
        }
    }
    // A tie rounds up: 320 * 11025 / 16000 = 220.5.
    assert_eq!(output_len(320, 16_000, 11_025), 221);
}

#[test]
fn tones_above_the_new_nyquist_are_removed() {
    // 10 kHz at 48 kHz would alias to 6 kHz at 16 kHz; 12 kHz at 44.1 kHz would alias to 4 kHz.
    for (from, freq) in [(48_000u32, 10_000.0), (44_100, 12_000.0), (22_050, 9_000.0), (96_000, 30_000.0)] {
        let input = to_f32(&sine(freq, 0.5, from, from as usize));
        let output = resample(&input, from, 16_000).unwrap();
        let attenuation = db(rms(&output[middle(&output, 16_000)]) / (0.5 / 2f64.sqrt()));
        println!("{freq} Hz at {from} Hz -> 16 kHz: {attenuation:.1} dB");
        assert!(attenuation < -40.0, "{freq} Hz at {from} Hz is only attenuated by {attenuation:.1} dB");
        let alias = (16_000.0 - freq % 16_000.0).abs();
        let alias_amp = amplitude_at(&output[middle(&output, 16_000)], 16_000, alias.min(freq % 16_000.0));
        assert!(db(alias_amp / 0.5) < -40.0, "alias at {alias} Hz: {alias_amp}");
    }
}

#[test]
fn speech_band_passes_flat() {
    // Up to 7 kHz (the top of the 0-8 kHz band kept at 16 kHz, below the filter's transition).
    for freq in [100.0, 3_000.0, 7_000.0] {
        let input = to_f32(&sine(freq, 0.5, 48_000, 48_000));
        let output = resample(&input, 48_000, 16_000).unwrap();
        let gain_db = db(amplitude_at(&output[middle(&output, 16_000)], 16_000, freq) / 0.5);
        println!("{freq} Hz gain {gain_db:+.4} dB");
        assert!(gain_db.abs() < 0.1, "{freq} Hz gain {gain_db} dB");
    }
}

#[test]
fn inputs_shorter_than_the_filter_are_handled() {
    for len in 1..=12 {
        let input = vec![0.25f32; len];
        let output = resample(&input, 44_100, 16_000).unwrap();
        assert_eq!(output.len(), output_len(len, 44_100, 16_000));
        assert!(output.iter().all(|s| s.is_finite() && s.abs() < 1.0), "{len}: {output:?}");
        let up = resample(&input, 8_000, 48_000).unwrap();
        assert_eq!(up.len(), len * 6);
        assert!(up.iter().all(|s| s.is_finite() && s.abs() < 1.0), "{len}: {up:?}");
    }
    // A 50 ms DC level keeps its value in the middle, even though the whole clip is shorter than
    // the resampler's internal block.
    let dc = vec![0.25f32; 2_205];
    let output = resample(&dc, 44_100, 16_000).unwrap();
    let mid = output.len() / 2;
    assert!((output[mid] - 0.25).abs() < 0.01, "DC after resampling {}", output[mid]);
}

#[test]
fn equal_rates_copy_and_empty_input_gives_empty_output() {
    let input: Vec<f32> = (0..1_000).map(|i| (i as f32 * 0.37).sin()).collect();
    assert_eq!(resample(&input, 16_000, 16_000).unwrap(), input);
    assert!(resample(&[], 44_100, 16_000).unwrap().is_empty());
}

#[test]
fn invalid_rates_are_invalid_arguments() {
    for (from, to, what) in [(0, 16_000, "from_rate"), (16_000, 0, "to_rate"), (10_000_000, 16_000, "from_rate")] {
        let err = resample(&[0.0; 10], from, to).unwrap_err();
        assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
        let message = err.to_string();
        assert!(message.contains(what) && message.contains("sample rate"), "{message}");
    }
}

#[test]
fn repeated_calls_with_other_rate_pairs_give_identical_results() {
    // The per-thread resampler cache must not leak state from one call into the next.
    let a = to_f32(&sine(700.0, 0.5, 44_100, 10_000));
    let b: Vec<f32> = (0..7_000).map(|i| ((i as f64 * 0.01).sin() * (2.0 * PI * 3.0 * i as f64 / 48_000.0).cos()) as f32).collect();
    let first = resample(&a, 44_100, 16_000).unwrap();
    let other = resample(&b, 48_000, 16_000).unwrap();
    assert_eq!(resample(&a, 44_100, 16_000).unwrap(), first);
    assert_eq!(resample(&a, 44_100, 16_000).unwrap(), first);
    assert_eq!(resample(&b, 48_000, 16_000).unwrap(), other);
}
