//! Objective quality of an enhanced signal against its clean reference, in dB. Both are computed in f64 over
//! the whole utterance.
//!
//! - `snr_db`: 10·log10(Σ s² / Σ (s − ŝ)²). Sensitive to any gain or delay error.
//! - `si_sdr_db`: scale-invariant SDR (Le Roux et al., "SDR — half-baked or well done?", ICASSP 2019): both
//!   signals made zero-mean, ŝ projected on s (target = ⟨ŝ,s⟩/⟨s,s⟩·s), then 10·log10(‖target‖² / ‖ŝ − target‖²).
//!   Insensitive to the estimate's overall gain.
//!
//! A perfect estimate gives +∞. A reference that is all zeros (or constant, for SI-SDR) is an error, since the
//! ratio is undefined; so are empty or differently sized signals.

use crate::{Error, Result};

fn check(reference: &[f32], estimate: &[f32]) -> Result<()> {
    if reference.len() != estimate.len() {
        return Err(Error::invalid(
            "signals for a quality measure",
            format!("equal lengths (reference has {} samples)", reference.len()),
            format!("an estimate of {} samples", estimate.len()),
            "Trim or pad the estimate to the reference (enhancers keep the input length).",
        ));
    }
    if reference.is_empty() {
        return Err(Error::invalid("signals for a quality measure", "at least one sample", "0 samples", "Pass non-empty audio."));
    }
    if let Some(i) = reference.iter().chain(estimate).position(|v| !v.is_finite()) {
        let which = if i < reference.len() { "reference" } else { "estimate" };
        return Err(Error::invalid(format!("{which} for a quality measure"), "finite samples", "NaN or infinity", "Check the signal."));
    }
    Ok(())
}

fn ratio_db(signal: f64, error: f64) -> f64 {
    if error == 0.0 { f64::INFINITY } else { 10.0 * (signal / error).log10() }
}

fn silent_reference() -> Error {
    Error::invalid(
        "reference for a quality measure",
        "a signal with energy",
        "silence",
        "A ratio against a silent reference is undefined; skip this utterance.",
    )
}

/// Signal-to-noise ratio of `estimate` against `reference`, in dB.
pub fn snr_db(reference: &[f32], estimate: &[f32]) -> Result<f64> {
    check(reference, estimate)?;
    let (mut signal, mut error) = (0.0f64, 0.0f64);
    for (&s, &e) in reference.iter().zip(estimate) {
        let (s, e) = (s as f64, e as f64);
        signal += s * s;
        error += (s - e) * (s - e);
    }
    if signal == 0.0 {
        return Err(silent_reference());
    }
    Ok(ratio_db(signal, error))
}

/// Scale-invariant signal-to-distortion ratio of `estimate` against `reference`, in dB.
pub fn si_sdr_db(reference: &[f32], estimate: &[f32]) -> Result<f64> {
    check(reference, estimate)?;
    let n = reference.len() as f64;
    let mean_s = reference.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mean_e = estimate.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut ss, mut se) = (0.0f64, 0.0f64);
    for (&s, &e) in reference.iter().zip(estimate) {
        let (s, e) = (s as f64 - mean_s, e as f64 - mean_e);
        ss += s * s;
        se += s * e;
    }
    if ss == 0.0 {
        return Err(silent_reference());
    }
    let alpha = se / ss;
    let (mut target, mut residual) = (0.0f64, 0.0f64);
    for (&s, &e) in reference.iter().zip(estimate) {
        let t = alpha * (s as f64 - mean_s);
        let r = (e as f64 - mean_e) - t;
        target += t * t;
        residual += r * r;
    }
    Ok(ratio_db(target, residual))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 40 whole periods in 8000 samples, so that sine and cosine are orthogonal over the signal.
    const W: f64 = 2.0 * std::f64::consts::PI * 40.0 / 8000.0;

    fn sine(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i as f64 * W).sin() as f32).collect()
    }

    #[test]
    fn known_cases() {
        let s = sine(8000);
        // An estimate that is the reference plus an error of one tenth of its amplitude: 20 dB either way.
        let e: Vec<f32> = s.iter().map(|v| v * 1.1).collect();
        assert!((snr_db(&s, &e).unwrap() - 20.0).abs() < 1e-4);
        // A pure gain costs SNR but not SI-SDR.
        assert!(si_sdr_db(&s, &e).unwrap() > 100.0);
        let half: Vec<f32> = s.iter().map(|v| v * 0.5).collect();
        assert!((snr_db(&s, &half).unwrap() - 20.0 * 2f64.log10()).abs() < 1e-4); // error = s/2 → 6.02 dB
        assert_eq!(snr_db(&s, &s).unwrap(), f64::INFINITY);

        // An error orthogonal to the reference with a quarter of its energy: SNR = SI-SDR = 10·log10(4).
        let c: Vec<f32> = (0..8000).map(|i| (i as f64 * W).cos() as f32).collect();
        let e: Vec<f32> = s.iter().zip(&c).map(|(a, b)| a + 0.5 * b).collect();
        let want = 10.0 * 4f64.log10();
        assert!((snr_db(&s, &e).unwrap() - want).abs() < 1e-4);
        assert!((si_sdr_db(&s, &e).unwrap() - want).abs() < 1e-4);
        // Scaling that estimate leaves SI-SDR unchanged; a DC offset does too (both signals are made zero-mean).
        let scaled: Vec<f32> = e.iter().map(|v| v * 3.0 + 0.2).collect();
        assert!((si_sdr_db(&s, &scaled).unwrap() - want).abs() < 1e-4);
    }

    #[test]
    fn undefined_cases_are_errors() {
        let s = sine(100);
        assert_eq!(snr_db(&s, &s[..99]).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
        assert!(snr_db(&[], &[]).is_err());
        assert!(snr_db(&[0.0; 10], &[1.0; 10]).is_err());
        assert!(si_sdr_db(&[0.5; 10], &[1.0; 10]).is_err(), "a constant reference is silent once zero-mean");
        let mut bad = s.clone();
        bad[3] = f32::NAN;
        assert!(si_sdr_db(&s, &bad).is_err());
    }
}
