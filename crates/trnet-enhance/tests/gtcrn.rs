//! GTCRN's streaming export (shared/models/gtcrn) run over whole utterances.

mod common;
use common::*;
use trnet_enhance::Enhancer;
use trnet_enhance::gtcrn::Gtcrn;
use trnet_enhance::onnx::SessionOptions;
use trnet_enhance::quality::{si_sdr_db, snr_db};

fn gtcrn() -> Gtcrn {
    let e = Gtcrn::load(gtcrn_path(), SessionOptions::default()).expect("GTCRN loads");
    assert_eq!(e.mode(), trnet_enhance::gtcrn::GtcrnMode::Streaming);
    e
}

const N: usize = 16_000 * 4;

#[test]
fn improves_snr_and_si_sdr_on_noisy_speech_like_signals() {
    let clean = speech_like(N, 1);
    let mut e = gtcrn();
    // Measured on these signals (DNS3 weights): white noise at 0 / 5 dB: SNR +10.0 / +8.8 dB; pink noise at
    // 5 dB: SNR +6.7 dB, SI-SDR about the same. The bounds leave 1.5–3 dB of room.
    for (label, noise, snr, min_gain) in [("white", white_noise(N, 2), 0.0, 7.0), ("white", white_noise(N, 2), 5.0, 6.0), ("pink", pink_noise(N, 3), 5.0, 5.0)]
    {
        let noisy = mix(&clean, &noise, snr);
        let start = std::time::Instant::now();
        let out = e.enhance(&noisy).unwrap();
        let rtf = start.elapsed().as_secs_f64() / (N as f64 / SR);
        assert_eq!(out.len(), noisy.len());
        let snr_gain = snr_db(&clean, &out).unwrap() - snr_db(&clean, &noisy).unwrap();
        let si_gain = si_sdr_db(&clean, &out).unwrap() - si_sdr_db(&clean, &noisy).unwrap();
        eprintln!("gtcrn, {label} noise at {snr} dB: SNR +{snr_gain:.2} dB, SI-SDR +{si_gain:.2} dB, real-time factor {rtf:.3}");
        assert!(snr_gain > min_gain, "{label} at {snr} dB: SNR gain {snr_gain:.2} dB");
        assert!(si_gain > min_gain, "{label} at {snr} dB: SI-SDR gain {si_gain:.2} dB");
    }
}

#[test]
fn deterministic_and_state_is_reset_between_utterances() {
    let clean = speech_like(N / 4, 5);
    let noisy = mix(&clean, &white_noise(N / 4, 6), 5.0);
    let mut e = gtcrn();
    let first = e.enhance(&noisy).unwrap();
    let _other = e.enhance(&mix(&clean, &pink_noise(N / 4, 7), 0.0)).unwrap();
    assert_eq!(first, e.enhance(&noisy).unwrap(), "the caches must start at zero for every utterance");
    assert_eq!(first, gtcrn().enhance(&noisy).unwrap());
}

#[test]
fn output_is_aligned_with_the_input() {
    // A clean, loud signal passes GTCRN nearly unchanged; any frame delay would show as a large error and a
    // best lag other than zero.
    let clean = speech_like(N / 2, 8);
    let out = gtcrn().enhance(&clean).unwrap();
    let corr = |lag: isize| -> f64 { (2000..clean.len() - 2000).map(|i| clean[i] as f64 * out[(i as isize + lag) as usize] as f64).sum() };
    let best = (-300..=300).max_by(|&a, &b| corr(a).total_cmp(&corr(b))).unwrap();
    assert_eq!(best, 0, "output lags the input by {best} samples");
    let snr = snr_db(&clean, &out).unwrap();
    eprintln!("gtcrn on clean input: SNR {snr:.2} dB");
    assert!(snr > 10.0, "clean input comes back with SNR {snr:.2} dB");
}

#[test]
fn short_and_empty_inputs() {
    let mut e = gtcrn();
    assert!(e.enhance(&[]).unwrap().is_empty());
    // 256 samples or fewer cannot be reflect-padded for n_fft 512; they are zero-padded instead.
    for n in [1, 100, 256, 257, 1000] {
        let x = tone(n, 440.0, 0.3);
        let out = e.enhance(&x).unwrap();
        assert_eq!(out.len(), n);
        assert!(out.iter().all(|v| v.is_finite()), "n = {n}");
    }
    assert_eq!(e.enhance(&[f32::NAN; 10]).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
}

#[test]
fn fingerprint_holds_the_model_hash() {
    let e = gtcrn();
    // SHA-256 of gtcrn_simple.onnx (models/gtcrn/README.md).
    assert_eq!(
        e.fingerprint(),
        "gtcrn;stream-v1;sha256=b4718df6228e7bdf1a8a435cf98f838636eb2fd331acabf86ba87c5192ebcb87;n_fft=512,hop=256,win=512,window=sqrt_hann,center=true,pad=reflect"
    );
    assert_eq!(e.sample_rate(), 16_000);
    assert_eq!(e.name(), "gtcrn");
}

#[test]
fn a_model_that_is_not_gtcrn_is_refused_with_what_was_expected() {
    let err = Gtcrn::load(fixture("waveform_gain.onnx"), SessionOptions::default()).err().unwrap();
    assert_eq!(err.code(), "TRNET_MODEL_CONTRACT");
    let text = err.to_string();
    assert!(text.contains("input mix float32[1, 257, 1, 2]") && text.contains("found inputs [audio float32[1, -1]]"), "{text}");
    // Both contracts are listed: the streaming one and the whole-utterance one.
    assert!(text.contains("the one input mix float32[1, 257, -1, 2]"), "{text}");
    // One input with a dynamic frame axis, but not GTCRN's layout (CMGAN's [1, 2, T, 201]): refused too.
    let err = Gtcrn::load(fixture("cmgan_identity.onnx"), SessionOptions::default()).err().unwrap();
    assert_eq!(err.code(), "TRNET_MODEL_CONTRACT", "{err}");
}
