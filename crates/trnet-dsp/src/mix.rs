//! Noise mixed into speech at a target SNR (the paper's IEM-ESC / IEM-MUSAN construction).
//!
//! The noise is scaled so that 10·log10(P_speech / P_noise) equals the SNR, both powers taken over the
//! utterance. The excerpt starts at a seeded random offset; noise shorter than the speech is looped.

use crate::rng::SplitMix64;
use crate::{Error, Result};

/// Below this mean power a signal is treated as silent (−200 dB re full scale): an SNR against it is undefined.
const SILENCE_POWER: f64 = 1e-20;

#[derive(Debug, Clone, PartialEq)]
pub struct Mixture {
    /// speech + gain · noise excerpt.
    pub noisy: Vec<f32>,
    /// Where in the noise clip the excerpt starts.
    pub noise_offset: usize,
    /// The factor the noise excerpt was multiplied by.
    pub noise_gain: f64,
    /// 10·log10(P_speech / P_scaled_noise) of what was actually written.
    pub realised_snr_db: f64,
}

fn mean_power(x: impl Iterator<Item = f64>, n: usize) -> f64 {
    x.map(|v| v * v).sum::<f64>() / n as f64
}

/// The noise excerpt of `len` samples starting at `offset`, wrapping around the clip.
fn excerpt(noise: &[f32], offset: usize, len: usize) -> impl Iterator<Item = f32> + '_ {
    noise.iter().copied().cycle().skip(offset).take(len)
}

/// Mixes `noise` into `speech` at `snr_db`, choosing the excerpt from `seed`.
pub fn mix_at_snr(speech: &[f32], noise: &[f32], snr_db: f64, seed: u64) -> Result<Mixture> {
    if !snr_db.is_finite() {
        return Err(Error::invalid("SNR", "a finite number of dB", snr_db, "Use e.g. 0, 5, 10, 15 or 20."));
    }
    if speech.is_empty() || noise.is_empty() {
        let which = if speech.is_empty() { "speech" } else { "noise" };
        return Err(Error::invalid(format!("{which} for mixing"), "at least one sample", "0 samples", "Check the file decoded to audio."));
    }
    if let Some(i) = speech.iter().chain(noise).position(|v| !v.is_finite()) {
        let which = if i < speech.len() { "speech" } else { "noise" };
        return Err(Error::invalid(format!("{which} for mixing"), "finite samples", "NaN or infinity", "Check the decoder output."));
    }
    let p_speech = mean_power(speech.iter().map(|&v| v as f64), speech.len());
    // Any offset is allowed for looped noise; otherwise the excerpt must fit inside the clip.
    let max_offset = if noise.len() > speech.len() { noise.len() - speech.len() + 1 } else { noise.len() };
    let noise_offset = SplitMix64::new(seed).below(max_offset as u64) as usize;
    let p_noise = mean_power(excerpt(noise, noise_offset, speech.len()).map(|v| v as f64), speech.len());
    for (which, p) in [("speech", p_speech), ("noise excerpt", p_noise)] {
        if p < SILENCE_POWER {
            return Err(Error::invalid(
                format!("{which} power"),
                "a signal that is not silent (mean power above 1e-20)",
                format!("mean power {p:.3e}"),
                "An SNR against silence is undefined: drop this file or pick another noise clip.",
            ));
        }
    }
    let noise_gain = (p_speech / (p_noise * 10f64.powf(snr_db / 10.0))).sqrt();
    let noisy: Vec<f32> = speech.iter().zip(excerpt(noise, noise_offset, speech.len())).map(|(&s, n)| (s as f64 + noise_gain * n as f64) as f32).collect();
    let p_scaled = mean_power(excerpt(noise, noise_offset, speech.len()).map(|n| noise_gain * n as f64), speech.len());
    Ok(Mixture { noisy, noise_offset, noise_gain, realised_snr_db: 10.0 * (p_speech / p_scaled).log10() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, f: f64, amp: f32) -> Vec<f32> {
        (0..n).map(|i| amp * (2.0 * std::f64::consts::PI * f * i as f64 / 16_000.0).sin() as f32).collect()
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut r = SplitMix64::new(seed);
        (0..n).map(|_| r.next_gaussian() as f32 * 0.1).collect()
    }

    /// SNR measured from the output alone: noisy − speech is the noise that was added.
    fn measured_snr(speech: &[f32], noisy: &[f32]) -> f64 {
        let ps: f64 = speech.iter().map(|&s| (s as f64).powi(2)).sum();
        let pn: f64 = speech.iter().zip(noisy).map(|(&s, &y)| (y as f64 - s as f64).powi(2)).sum();
        10.0 * (ps / pn).log10()
    }

    #[test]
    fn realised_snr_is_within_a_hundredth_of_a_db() {
        let speech = tone(48_000, 440.0, 0.3);
        for (noise_len, seed) in [(80_000, 1), (10_000, 2), (48_000, 3)] {
            let n = noise(noise_len, seed);
            for snr in [-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 40.0] {
                let m = mix_at_snr(&speech, &n, snr, seed).unwrap();
                assert!((m.realised_snr_db - snr).abs() < 0.01, "reported {} for {snr}", m.realised_snr_db);
                let measured = measured_snr(&speech, &m.noisy);
                assert!((measured - snr).abs() < 0.01, "measured {measured} for {snr} (noise {noise_len})");
            }
        }
    }

    #[test]
    fn offsets_are_seeded_and_short_noise_loops() {
        let speech = tone(16_000, 300.0, 0.5);
        let n = noise(50_000, 9);
        let a = mix_at_snr(&speech, &n, 10.0, 42).unwrap();
        assert_eq!(a, mix_at_snr(&speech, &n, 10.0, 42).unwrap());
        let offsets: std::collections::HashSet<_> = (0..20).map(|s| mix_at_snr(&speech, &n, 10.0, s).unwrap().noise_offset).collect();
        assert!(offsets.len() > 10, "offsets should vary with the seed: {offsets:?}");
        assert!(offsets.iter().all(|&o| o <= 50_000 - 16_000));
        // 1000-sample noise under 16000 samples of speech: the excerpt wraps, sample i uses noise[(off+i) % 1000].
        let short = noise(1000, 5);
        let m = mix_at_snr(&speech, &short, 0.0, 7).unwrap();
        for i in [0, 999, 1000, 15_999] {
            let want = speech[i] as f64 + m.noise_gain * short[(m.noise_offset + i) % 1000] as f64;
            assert!((m.noisy[i] as f64 - want).abs() < 1e-6);
        }
    }

    #[test]
    fn silence_and_bad_snr_are_errors_not_nan() {
        let speech = tone(1600, 300.0, 0.5);
        let err = mix_at_snr(&[0.0; 1600], &noise(2000, 1), 5.0, 0).unwrap_err();
        assert!(err.to_string().contains("speech power"), "{err}");
        let err = mix_at_snr(&speech, &[0.0; 2000], 5.0, 0).unwrap_err();
        assert!(err.to_string().contains("noise excerpt power"), "{err}");
        assert!(mix_at_snr(&speech, &noise(2000, 1), f64::NAN, 0).is_err());
        assert!(mix_at_snr(&speech, &[], 5.0, 0).is_err());
        let mut bad = speech.clone();
        bad[3] = f32::INFINITY;
        assert!(mix_at_snr(&bad, &noise(2000, 1), 5.0, 0).unwrap_err().to_string().contains("NaN or infinity"));
    }
}
