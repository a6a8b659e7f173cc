//! The weight-free enhancer, used when no model file is configured: the MMSE log-spectral amplitude
//! estimator (Ephraim & Malah, "Speech enhancement using a minimum mean-square error log-spectral amplitude
//! estimator", IEEE Trans. ASSP 33(2), 1985) with decision-directed a-priori SNR, over a noise PSD tracked by
//! minimum statistics (Martin 2001, `min_stats`).
//!
//! Per STFT frame (n_fft 512, hop 256, √Hann, as GTCRN frames; 16 ms hops are what Martin's constants were
//! tuned for) and bin k:
//! - a-posteriori SNR γ = |Y|² / σ²_N;
//! - a-priori SNR ξ = max(α·Â²(λ−1)/σ²_N + (1 − α)·max(γ − 1, 0), ξ_min), Â(λ−1) the previous frame's
//!   estimated amplitude (decision-directed; α = 0.98, ξ_min = −25 dB to keep musical noise down);
//! - gain G = ξ/(1+ξ) · exp(½·E1(v)), v = ξγ/(1+ξ), limited to [gain floor, 1];
//! - Ŝ = G·Y, keeping the noisy phase; then the inverse STFT.
//!
//! Everything runs in f64 on one utterance from a fresh state, so output is deterministic, and silence (or a
//! silent prefix) gives finite output: powers are floored at `min_stats::POWER_FLOOR`, and frames that touch
//! digital silence (runs of exact zeros) are kept away from the noise tracker.

use crate::enhancer::{Enhancer, Framing, check_noisy, describe_stft};
use crate::min_stats::{MinStatsConfig, NoiseTracker, POWER_FLOOR};
use crate::{Error, Result};
use trnet_dsp::stft::StftConfig;

const PROCESSING_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct ClassicalConfig {
    pub stft: StftConfig,
    /// Weight of the previous frame in the decision-directed a-priori SNR.
    pub alpha_dd: f64,
    /// Lower limit of the a-priori SNR, dB.
    pub xi_min_db: f64,
    /// Lower limit of the gain, dB.
    pub gain_floor_db: f64,
    pub noise: MinStatsConfig,
}

impl Default for ClassicalConfig {
    fn default() -> Self {
        ClassicalConfig { stft: StftConfig::gtcrn(), alpha_dd: 0.98, xi_min_db: -25.0, gain_floor_db: -30.0, noise: MinStatsConfig::default() }
    }
}

pub struct Classical {
    config: ClassicalConfig,
    framing: Framing,
}

impl Classical {
    pub fn new(config: ClassicalConfig) -> Result<Self> {
        if !(0.0..1.0).contains(&config.alpha_dd) {
            return Err(Error::invalid("alpha_dd", "a weight in [0, 1)", config.alpha_dd, "Use 0.98 (Ephraim & Malah)."));
        }
        if config.noise.subwindows == 0 || config.noise.subwindow_frames < 2 {
            return Err(Error::invalid(
                "minimum-statistics window",
                "at least 1 sub-window of at least 2 frames",
                format!("{} × {}", config.noise.subwindows, config.noise.subwindow_frames),
                "Use the defaults (8 × 12).",
            ));
        }
        Ok(Classical { framing: Framing::new(config.stft.clone())?, config })
    }
}

/// The MMSE-LSA gain for a-priori SNR ξ and a-posteriori SNR γ.
pub fn lsa_gain(xi: f64, gamma: f64) -> f64 {
    let v = xi * gamma / (1.0 + xi);
    // E1(v) < 1e-23 past v = 50: the exponential factor is 1 to double precision.
    let e1 = if v < 50.0 { exp_int_e1(v) } else { 0.0 };
    xi / (1.0 + xi) * (0.5 * e1).exp()
}

/// The exponential integral E1(x) = ∫_x^∞ e^{−t}/t dt for x > 0 (+∞ at 0).
pub fn exp_int_e1(x: f64) -> f64 {
    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
    if x <= 0.0 {
        return f64::INFINITY;
    }
    if x < 1.0 {
        // Power series E1(x) = −γ − ln x − Σ_{k≥1} (−x)^k / (k·k!); terms fall fast for x < 1.
        let mut sum = 0.0;
        let mut term = 1.0; // (−x)^k / k!
        for k in 1..60 {
            term *= -x / k as f64;
            let add = term / k as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs().max(1e-300) {
                break;
            }
        }
        -EULER_GAMMA - x.ln() - sum
    } else {
        // Continued fraction E1(x) = e^{−x} / (x + 1 − 1²/(x + 3 − 2²/(x + 5 − …))), evaluated from a depth
        // at which it has converged for every x ≥ 1.
        let mut tail = 0.0;
        for i in (1..=80).rev() {
            let i = i as f64;
            tail = i * i / (x + 2.0 * i + 1.0 - tail);
        }
        (-x).exp() / (x + 1.0 - tail)
    }
}

/// Digital silence: a run of at least this many exactly-zero samples (2 ms). Recorded audio, noise included,
/// practically never holds one; padding, muted stretches and gated recordings do.
const SILENT_RUN: usize = 32;

/// Which STFT frames may feed the noise tracker: those that touch no digital silence. A frame that does holds
/// less power than the noise around it, and minimum statistics would keep that false minimum for a whole
/// search window (1.5 s), leaving the noise after a silent prefix unsuppressed. Such frames still get a gain,
/// from the estimate of the frames around them.
fn frames_free_of_digital_silence(x: &[f32], frames: usize, stft: &StftConfig) -> Vec<bool> {
    // silent_before[i]: how many of x[..i] lie in zero runs of SILENT_RUN samples or more.
    let mut silent = vec![false; x.len()];
    let mut run_start = 0;
    for i in 0..=x.len() {
        if i < x.len() && x[i] == 0.0 {
            continue;
        }
        if i - run_start >= SILENT_RUN {
            silent[run_start..i].iter_mut().for_each(|s| *s = true);
        }
        run_start = i + 1;
    }
    let mut silent_before = vec![0usize; x.len() + 1];
    for (i, &s) in silent.iter().enumerate() {
        silent_before[i + 1] = silent_before[i] + s as usize;
    }
    let offset = if stft.center { (stft.n_fft / 2) as isize } else { 0 };
    (0..frames)
        .map(|t| {
            let start = (t * stft.hop_length) as isize - offset;
            let (a, b) = (start.clamp(0, x.len() as isize) as usize, (start + stft.n_fft as isize).clamp(0, x.len() as isize) as usize);
            silent_before[b] == silent_before[a]
        })
        .collect()
}

impl Enhancer for Classical {
    fn name(&self) -> &str {
        "classical-mmse-lsa"
    }

    fn enhance(&mut self, noisy: &[f32]) -> Result<Vec<f32>> {
        check_noisy(noisy)?;
        if noisy.is_empty() {
            return Ok(Vec::new());
        }
        let mut spec = self.framing.analyse(noisy)?;
        let bins = spec.bins;
        let usable = frames_free_of_digital_silence(noisy, spec.frames, &self.config.stft);
        let power_of = |data: &[f32], t: usize| -> Vec<f64> {
            data[t * bins * 2..(t + 1) * bins * 2].chunks_exact(2).map(|c| c[0] as f64 * c[0] as f64 + c[1] as f64 * c[1] as f64).collect()
        };
        // Until the tracker has seen a usable frame, the first usable frame's periodogram stands in for the
        // noise estimate (it is what the tracker starts from). With no usable frame there is no noise to
        // estimate: the input is returned as it is.
        let Some(first) = usable.iter().position(|&u| u) else {
            return Ok(noisy.to_vec());
        };
        let seed: Vec<f64> = power_of(&spec.data, first).iter().map(|&p| p.max(POWER_FLOOR)).collect();
        let mut tracker = NoiseTracker::new(self.config.noise.clone(), bins);
        let xi_min = 10f64.powf(self.config.xi_min_db / 10.0);
        let gain_floor = 10f64.powf(self.config.gain_floor_db / 20.0);
        let alpha = self.config.alpha_dd;
        // Â²(λ−1): the previous frame's estimated clean power; None before the first frame.
        let mut previous: Option<Vec<f64>> = None;
        for (t, &usable) in usable.iter().enumerate() {
            let power = power_of(&spec.data, t);
            if usable {
                tracker.update(&power);
            }
            let noise = if tracker.is_started() { tracker.noise() } else { &seed };
            let frame = &mut spec.data[t * bins * 2..(t + 1) * bins * 2];
            let mut estimate = vec![0.0f64; bins];
            for k in 0..bins {
                let gamma = power[k].max(POWER_FLOOR) / noise[k];
                let ml = (gamma - 1.0).max(0.0);
                let xi = match &previous {
                    Some(prev) => alpha * prev[k] / noise[k] + (1.0 - alpha) * ml,
                    // First frame: the maximum-likelihood estimate alone.
                    None => ml,
                }
                .max(xi_min);
                let gain = lsa_gain(xi, gamma).clamp(gain_floor, 1.0);
                estimate[k] = gain * gain * power[k];
                frame[2 * k] = (frame[2 * k] as f64 * gain) as f32;
                frame[2 * k + 1] = (frame[2 * k + 1] as f64 * gain) as f32;
            }
            previous = Some(estimate);
        }
        self.framing.synthesise(&spec, noisy.len())
    }

    fn fingerprint(&self) -> String {
        let c = &self.config;
        let n = &c.noise;
        format!(
            "classical-mmse-lsa;v{PROCESSING_VERSION};{};alpha_dd={};xi_min_db={};gain_floor_db={};ms=U{}xV{},amax={},amin={},av={}",
            describe_stft(&c.stft),
            c.alpha_dd,
            c.xi_min_db,
            c.gain_floor_db,
            n.subwindows,
            n.subwindow_frames,
            n.alpha_max,
            n.alpha_min,
            n.a_v
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e1_matches_tabulated_values() {
        // Abramowitz & Stegun, table 5.1 / standard references.
        let known = [
            (0.01, 4.037_929_576_538),
            (0.1, 1.822_923_958_419),
            (0.5, 0.559_773_594_777),
            (1.0, 0.219_383_934_396),
            (2.0, 0.048_900_510_708),
            (5.0, 0.001_148_295_591),
            (10.0, 4.156_968_929_685e-6),
        ];
        for (x, want) in known {
            let got = exp_int_e1(x);
            assert!(((got - want) / want).abs() < 1e-9, "E1({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn frames_touching_zero_runs_are_not_used_for_tracking() {
        let mut x = vec![0.1f32; 2100];
        x[1000..1100].iter_mut().for_each(|v| *v = 0.0);
        x[1500..1520].iter_mut().for_each(|v| *v = 0.0); // a short run of zeros is not digital silence
        let stft = StftConfig::gtcrn();
        let usable = frames_free_of_digital_silence(&x, 9, &stft);
        // Frame t covers samples [256t − 256, 256t + 256).
        assert_eq!(usable, [true, true, true, false, false, false, true, true, true]);
    }

    #[test]
    fn lsa_gain_behaves() {
        // High SNR: the gain tends to the Wiener gain ξ/(1+ξ) (→ 1).
        assert!((lsa_gain(100.0, 101.0) - 100.0 / 101.0).abs() < 1e-3);
        // Low a-priori SNR: strong attenuation.
        assert!(lsa_gain(0.01, 1.0) < 0.1);
        // Monotone in ξ for fixed γ.
        assert!(lsa_gain(0.5, 2.0) < lsa_gain(1.0, 2.0));
    }
}
