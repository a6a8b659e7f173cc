//! The weight-free MMSE-LSA enhancer on synthetic speech-like signals in stationary noise.

mod common;
use common::*;
use trnet_enhance::Enhancer;
use trnet_enhance::classical::{Classical, ClassicalConfig};
use trnet_enhance::quality::{si_sdr_db, snr_db};

fn enhancer() -> Classical {
    Classical::new(ClassicalConfig::default()).unwrap()
}

const N: usize = 16_000 * 4;

#[test]
fn improves_snr_in_stationary_white_noise() {
    let clean = speech_like(N, 1);
    let noise = white_noise(N, 2);
    let mut e = enhancer();
    // Measured on these signals: SNR gains 6.6 / 5.5 / 4.3 dB, SI-SDR gains 5.6 / 5.1 / 4.2 dB at 0 / 5 / 10 dB.
    // The bounds leave about 1 dB of room.
    for (snr, min_gain) in [(0.0, 5.0), (5.0, 4.0), (10.0, 3.0)] {
        let noisy = mix(&clean, &noise, snr);
        let out = e.enhance(&noisy).unwrap();
        assert_eq!(out.len(), noisy.len());
        let snr_gain = snr_db(&clean, &out).unwrap() - snr_db(&clean, &noisy).unwrap();
        let si_gain = si_sdr_db(&clean, &out).unwrap() - si_sdr_db(&clean, &noisy).unwrap();
        eprintln!("classical, white noise at {snr} dB: SNR +{snr_gain:.2} dB, SI-SDR +{si_gain:.2} dB");
        assert!(snr_gain > min_gain, "at {snr} dB: SNR gain {snr_gain:.2} dB");
        assert!(si_gain > min_gain - 0.5, "at {snr} dB: SI-SDR gain {si_gain:.2} dB");
    }
}

#[test]
fn improves_snr_in_pink_noise() {
    let clean = speech_like(N, 11);
    let noisy = mix(&clean, &pink_noise(N, 12), 5.0);
    let out = enhancer().enhance(&noisy).unwrap();
    let gain = snr_db(&clean, &out).unwrap() - snr_db(&clean, &noisy).unwrap();
    eprintln!("classical, pink noise at 5 dB: SNR +{gain:.2} dB");
    assert!(gain > 3.0, "SNR gain {gain:.2} dB");
}

#[test]
fn deterministic_and_independent_between_calls() {
    let clean = speech_like(N / 2, 3);
    let noisy = mix(&clean, &white_noise(N / 2, 4), 5.0);
    let mut e = enhancer();
    let first = e.enhance(&noisy).unwrap();
    let _other = e.enhance(&mix(&clean, &pink_noise(N / 2, 5), 0.0)).unwrap();
    assert_eq!(first, e.enhance(&noisy).unwrap(), "state must not leak from one utterance into the next");
    assert_eq!(first, enhancer().enhance(&noisy).unwrap());
}

#[test]
fn digital_silence_and_a_silent_prefix_stay_finite() {
    let mut e = enhancer();
    let silence = vec![0.0f32; 16_000];
    let out = e.enhance(&silence).unwrap();
    assert_eq!(out.len(), silence.len());
    assert!(out.iter().all(|v| v.is_finite() && v.abs() < 1e-6));

    // One second of digital silence, then noisy speech: still finite, and the noise after the prefix is still
    // suppressed (silent frames do not pin the noise estimate to zero).
    let clean = speech_like(N, 6);
    let noisy = mix(&clean, &white_noise(N, 7), 5.0);
    let prefix = 16_000;
    let padded: Vec<f32> = silence.iter().chain(&noisy).copied().collect();
    let out = e.enhance(&padded).unwrap();
    assert_eq!(out.len(), padded.len());
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(out[..prefix - 512].iter().all(|v| v.abs() < 1e-6), "silence stays silent");
    let gain = snr_db(&clean, &out[prefix..]).unwrap() - snr_db(&clean, &noisy).unwrap();
    let plain = snr_db(&clean, &e.enhance(&noisy).unwrap()).unwrap() - snr_db(&clean, &noisy).unwrap();
    eprintln!("classical after a silent prefix: SNR +{gain:.2} dB (without the prefix +{plain:.2} dB)");
    assert!(gain > plain - 1.0, "after a silent prefix: SNR gain {gain:.2} dB against {plain:.2} dB without");
}

#[test]
fn lengths_are_kept_for_short_and_odd_inputs() {
    let mut e = enhancer();
    assert!(e.enhance(&[]).unwrap().is_empty());
    for n in [1, 100, 256, 257, 511, 16_001] {
        let x = white_noise(n, n as u64);
        let out = e.enhance(&x).unwrap();
        assert_eq!(out.len(), n);
        assert!(out.iter().all(|v| v.is_finite()), "n = {n}");
    }
    assert_eq!(e.enhance(&[0.0, f32::INFINITY]).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
}

#[test]
fn fingerprint_names_the_settings() {
    let a = enhancer().fingerprint();
    assert!(a.starts_with("classical-mmse-lsa;v1;n_fft=512,hop=256"), "{a}");
    let b = Classical::new(ClassicalConfig { xi_min_db: -15.0, ..ClassicalConfig::default() }).unwrap().fingerprint();
    assert_ne!(a, b, "a setting that changes the output changes the fingerprint");
}
