//! CMGAN's pre/post-processing proven with tiny ONNX stand-ins for its generator (tests/fixtures, made by
//! scripts/reference/gen_enhance_fixtures.py): each would fail under a specific mistake in the chain.

mod common;
use common::*;
use trnet_enhance::Enhancer;
use trnet_enhance::cmgan;
use trnet_enhance::onnx::SessionOptions;
use trnet_enhance::spectral::{Port, SpectralModel};

fn load(name: &str) -> SpectralModel {
    cmgan::load(fixture(name), SessionOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Speech-like audio plus white noise at about −20 dBFS (so even a short excerpt is not silent).
fn signal(n: usize) -> Vec<f32> {
    speech_like(n, 21).iter().zip(white_noise(n, 22)).map(|(s, w)| s + w).collect()
}

#[test]
fn the_contract_is_read_from_the_model() {
    let e = load("cmgan_identity.onnx");
    assert_eq!(e.contract(), &cmgan::contract("noisy_spec", Port::Split { real: "est_real".into(), imag: "est_imag".into() }));
    assert_eq!(load("cmgan_complex_out.onnx").contract().output, Port::Complex("est_spec".into()));
}

#[test]
fn identity_model_reconstructs_the_input() {
    // Normalise, STFT, compress, (identity), decompress, iSTFT, unnormalise: the input must come back.
    for name in ["cmgan_identity.onnx", "cmgan_complex_out.onnx"] {
        let mut e = load(name);
        for n in [16_037, 8_000, 250, 150, 30] {
            let x = signal(n);
            let out = e.enhance(&x).unwrap();
            assert_eq!(out.len(), n);
            let err = max_abs_diff(&x, &out);
            assert!(err < 1e-4, "{name}, {n} samples: max error {err}");
        }
    }
}

#[test]
fn a_gain_in_the_compressed_domain_comes_out_raised_to_one_over_0_3() {
    // The model halves the compressed spectrum; decompression turns that into 0.5^(1/0.3) ≈ 0.0992 in
    // amplitude. Without compression it would be 0.5; without dividing by c it would be off by the RMS scale.
    let mut e = load("cmgan_gain.onnx");
    let x: Vec<f32> = signal(16_037).iter().map(|v| v * 0.2).collect();
    let out = e.enhance(&x).unwrap();
    let factor = 0.5f32.powf(1.0 / 0.3);
    assert!((factor - 0.0992).abs() < 1e-4);
    let want: Vec<f32> = x.iter().map(|v| v * factor).collect();
    let err = max_abs_diff(&want, &out);
    assert!(err < 1e-5, "max error {err} against 0.0992·x");
}

#[test]
fn rms_normalisation_makes_the_chain_scale_invariant() {
    // 0.5·X + 0.01 is not homogeneous: only a chain that normalises the level before the model and restores it
    // after gives enhance(k·x) = k·enhance(x).
    let mut e = load("cmgan_affine.onnx");
    let x = signal(12_345);
    let base = e.enhance(&x).unwrap();
    for k in [0.05f32, 8.0] {
        let scaled: Vec<f32> = x.iter().map(|v| v * k).collect();
        let out: Vec<f32> = e.enhance(&scaled).unwrap().iter().map(|v| v / k).collect();
        let err = max_abs_diff(&base, &out);
        assert!(err < 1e-4, "level {k}: max error {err}");
    }
    // And the offset did something (the check above is not vacuous).
    assert!(max_abs_diff(&base, &x) > 1e-2);
}

#[test]
fn layout_puts_frequency_on_the_last_axis() {
    // The model zeroes bins from 50 (2 kHz at n_fft 400) up. With frames and bins in the right places, a
    // 500 Hz tone passes and a 4 kHz tone vanishes.
    let mut e = load("cmgan_lowpass.onnx");
    let n = 16_000;
    let x: Vec<f32> = tone(n, 500.0, 0.3).iter().zip(tone(n, 4000.0, 0.3)).map(|(a, b)| a + b).collect();
    let out = e.enhance(&x).unwrap();
    let (low, high) = (tone_amplitude(&out, 500.0, 1000, n - 1000), tone_amplitude(&out, 4000.0, 1000, n - 1000));
    assert!((low - 0.3).abs() < 0.01, "500 Hz amplitude {low}");
    assert!(high < 1e-3, "4 kHz amplitude {high}");
}

#[test]
fn silence_and_odd_inputs() {
    let mut e = load("cmgan_gain.onnx");
    assert!(e.enhance(&[]).unwrap().is_empty());
    // Silence has no level to normalise (c = 1) and stays silent.
    assert!(e.enhance(&[0.0; 1000]).unwrap().iter().all(|&v| v == 0.0));
    assert_eq!(e.enhance(&[0.1, f32::NAN]).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
}

#[test]
fn fingerprint_holds_hash_and_settings() {
    let a = load("cmgan_gain.onnx").fingerprint();
    assert!(a.starts_with("cmgan;spectral-v1;sha256="), "{a}");
    assert!(a.contains("n_fft=400,hop=100,win=400,window=hamming") && a.contains("compression=0.3") && a.contains("norm=Rms"), "{a}");
    assert_ne!(a, load("cmgan_identity.onnx").fingerprint(), "different model files, different fingerprints");
}

#[test]
fn a_model_that_does_not_fit_the_contract_is_refused() {
    // GTCRN-shaped spectrum [1, 257, T, 2] is not CMGAN's [B, 2, T, 201].
    let err = cmgan::load(fixture("spectrum_lowpass.onnx"), SessionOptions::default()).err().unwrap();
    assert_eq!(err.code(), "TRNET_MODEL_CONTRACT");
    let text = err.to_string();
    assert!(text.contains("spec float32[1, 2, -1, 201]") && text.contains("found inputs [spec float32[1, 257, -1, 2]]"), "{text}");
    // A model with several inputs is not a generator export.
    let err = cmgan::load(gtcrn_path(), SessionOptions::default()).err().unwrap();
    assert!(err.to_string().contains("exactly one input"), "{err}");
}
