//! Noise power spectral density tracking by minimum statistics (R. Martin, "Noise power spectral density
//! estimation based on optimal smoothing and minimum statistics", IEEE Trans. Speech Audio Process. 9(5),
//! 2001).
//!
//! Per bin, the periodogram is smoothed recursively with a time- and frequency-dependent factor that is
//! small where the smoothed power sits far above the noise estimate (speech onsets) and near α_max in noise.
//! The noise estimate is the minimum of the smoothed power over a window of D = U·V frames, found from U
//! sub-window minima of V frames each, multiplied by a bias compensation: the minimum of D noisy power
//! values lies below their mean, by a factor that depends on D and on how much the smoothed power still
//! fluctuates (its "equivalent degrees of freedom", estimated from a running variance).
//!
//! The constants are the paper's, which it tuned for frames 16 ms apart (its 8 kHz, 256-point frames with
//! 50 % overlap; here 16 kHz, 512-point frames, hop 256): D = 96 frames ≈ 1.5 s.

/// Martin's M(D) (Table III), used in the bias of the minimum of D correlated power values.
const M_TABLE: [(f64, f64); 14] = [
    (1.0, 0.0),
    (2.0, 0.26),
    (5.0, 0.48),
    (8.0, 0.58),
    (10.0, 0.61),
    (15.0, 0.668),
    (20.0, 0.705),
    (30.0, 0.762),
    (40.0, 0.8),
    (60.0, 0.841),
    (80.0, 0.865),
    (120.0, 0.89),
    (140.0, 0.9),
    (160.0, 0.91),
];

/// Linear interpolation in M_TABLE, held constant past its ends.
fn m_of(d: f64) -> f64 {
    let (first, last) = (M_TABLE[0], M_TABLE[M_TABLE.len() - 1]);
    if d <= first.0 {
        return first.1;
    }
    if d >= last.0 {
        return last.1;
    }
    let i = M_TABLE.iter().position(|&(x, _)| x >= d).expect("d is inside the table");
    let ((x0, y0), (x1, y1)) = (M_TABLE[i - 1], M_TABLE[i]);
    y0 + (y1 - y0) * (d - x0) / (x1 - x0)
}

/// Powers below this are raised to it, so digital silence gives finite ratios (−120 dB re a unit bin).
pub const POWER_FLOOR: f64 = 1e-12;

#[derive(Debug, Clone, PartialEq)]
pub struct MinStatsConfig {
    /// U: number of sub-windows in the search window.
    pub subwindows: usize,
    /// V: frames per sub-window. D = U·V.
    pub subwindow_frames: usize,
    /// Upper limit of the smoothing factor.
    pub alpha_max: f64,
    /// Lower limit of the smoothing factor.
    pub alpha_min: f64,
    /// a_v: weight of the extra bias correction for the variance of the estimate's own statistics.
    pub a_v: f64,
}

impl Default for MinStatsConfig {
    fn default() -> Self {
        MinStatsConfig { subwindows: 8, subwindow_frames: 12, alpha_max: 0.96, alpha_min: 0.3, a_v: 2.12 }
    }
}

/// Running state of the tracker for one utterance.
pub struct NoiseTracker {
    config: MinStatsConfig,
    m_d: f64,
    m_v: f64,
    started: bool,
    /// α_c, the whole-frame correction of the smoothing factor.
    alpha_c: f64,
    /// P: smoothed power.
    smoothed: Vec<f64>,
    /// First and second moments of P, for its variance.
    mean: Vec<f64>,
    mean_sq: Vec<f64>,
    /// σ²_N: the noise estimate.
    noise: Vec<f64>,
    actmin: Vec<f64>,
    actmin_sub: Vec<f64>,
    pmin_u: Vec<f64>,
    /// The last U sub-window minima, one row per sub-window (ring buffer).
    stored: Vec<Vec<f64>>,
    stored_next: usize,
    local_min: Vec<bool>,
    /// Frame number within the current sub-window, 1..=V.
    subwindow_count: usize,
}

impl NoiseTracker {
    pub fn new(config: MinStatsConfig, bins: usize) -> Self {
        let d = (config.subwindows * config.subwindow_frames) as f64;
        let v = config.subwindow_frames as f64;
        let inf = vec![f64::INFINITY; bins];
        NoiseTracker {
            m_d: m_of(d),
            m_v: m_of(v),
            started: false,
            alpha_c: 1.0,
            smoothed: vec![0.0; bins],
            mean: vec![0.0; bins],
            mean_sq: vec![0.0; bins],
            noise: vec![0.0; bins],
            actmin: inf.clone(),
            actmin_sub: inf.clone(),
            pmin_u: inf.clone(),
            stored: vec![inf; config.subwindows.max(1)],
            stored_next: 0,
            local_min: vec![false; bins],
            subwindow_count: 1,
            config,
        }
    }

    /// Whether a frame has been seen; before that `noise` is all zeros.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The current noise PSD estimate, one value per bin (same scale as the periodogram given to `update`).
    pub fn noise(&self) -> &[f64] {
        &self.noise
    }

    /// Takes the next frame's periodogram |Y(k)|² and updates the noise estimate.
    // Per-bin loops read and write several arrays at the same index; indexing says so most plainly.
    #[allow(clippy::needless_range_loop)]
    pub fn update(&mut self, periodogram: &[f64]) {
        let bins = self.noise.len();
        assert_eq!(periodogram.len(), bins, "one power per bin");
        let y: Vec<f64> = periodogram.iter().map(|&p| p.max(POWER_FLOOR)).collect();
        let cfg = &self.config;
        if !self.started {
            // The first frame is all we know: it seeds the smoothed power and the noise estimate.
            self.smoothed.copy_from_slice(&y);
            self.noise.copy_from_slice(&y);
            self.mean.copy_from_slice(&y);
            for (m2, &p) in self.mean_sq.iter_mut().zip(&y) {
                *m2 = p * p;
            }
            self.started = true;
        } else {
            // α_c pulls all smoothing factors down when the smoothed power lags the periodogram as a whole.
            let ratio = self.smoothed.iter().sum::<f64>() / y.iter().sum::<f64>();
            let alpha_c_tilde = 1.0 / (1.0 + (ratio - 1.0).powi(2));
            self.alpha_c = 0.7 * self.alpha_c + 0.3 * alpha_c_tilde.max(0.7);
            for k in 0..bins {
                // Optimal smoothing: α = α_max·α_c / (1 + (P/σ² − 1)²), with P and σ² of the previous frame.
                let snr = self.smoothed[k] / self.noise[k];
                let alpha = (cfg.alpha_max * self.alpha_c / (1.0 + (snr - 1.0).powi(2))).max(cfg.alpha_min);
                self.smoothed[k] = alpha * self.smoothed[k] + (1.0 - alpha) * y[k];
                let beta = (alpha * alpha).min(0.8);
                self.mean[k] = beta * self.mean[k] + (1.0 - beta) * self.smoothed[k];
                self.mean_sq[k] = beta * self.mean_sq[k] + (1.0 - beta) * self.smoothed[k] * self.smoothed[k];
            }
        }

        let d = (cfg.subwindows * cfg.subwindow_frames) as f64;
        let v = cfg.subwindow_frames as f64;
        // 1/Q_eq per bin: the normalised variance of P (Q_eq ≥ 2, the degrees of freedom of one periodogram).
        let q_inv: Vec<f64> = (0..bins)
            .map(|k| {
                let var = (self.mean_sq[k] - self.mean[k] * self.mean[k]).max(0.0);
                (var / (2.0 * self.noise[k] * self.noise[k])).min(0.5)
            })
            .collect();
        let q_inv_mean = q_inv.iter().sum::<f64>() / bins as f64;
        let b_c = 1.0 + cfg.a_v * q_inv_mean.sqrt();
        let mut modified = vec![false; bins];
        for k in 0..bins {
            let q_eq = 1.0 / q_inv[k].max(1e-12);
            // Bias of the minimum of D (or V) values with Q_eq degrees of freedom: B = 1 + (D − 1)·2/Q̃_eq.
            let q_d = (q_eq - 2.0 * self.m_d) / (1.0 - self.m_d);
            let q_v = (q_eq - 2.0 * self.m_v) / (1.0 - self.m_v);
            let b_min = 1.0 + (d - 1.0) * 2.0 / q_d;
            let b_min_sub = 1.0 + (v - 1.0) * 2.0 / q_v;
            let candidate = self.smoothed[k] * b_min * b_c;
            if candidate < self.actmin[k] {
                self.actmin[k] = candidate;
                self.actmin_sub[k] = self.smoothed[k] * b_min_sub * b_c;
                modified[k] = true;
            }
        }

        if self.subwindow_count == cfg.subwindow_frames {
            // End of a sub-window: store its minimum and take the minimum over the last U of them.
            // Noise may rise faster than the window forgets; a local minimum not far above the stored one
            // (within noise_slope_max, looser when the estimate is steady) replaces the whole history.
            let noise_slope_max = match q_inv_mean {
                q if q < 0.03 => 8.0,
                q if q < 0.05 => 4.0,
                q if q < 0.06 => 2.0,
                _ => 1.2,
            };
            let slot = self.stored_next;
            for k in 0..bins {
                if modified[k] {
                    self.local_min[k] = false;
                }
                self.stored[slot][k] = self.actmin[k];
                self.pmin_u[k] = self.stored.iter().map(|row| row[k]).fold(f64::INFINITY, f64::min);
                if self.local_min[k] && self.actmin_sub[k] < noise_slope_max * self.pmin_u[k] && self.actmin_sub[k] > self.pmin_u[k] {
                    self.pmin_u[k] = self.actmin_sub[k];
                    for row in &mut self.stored {
                        row[k] = self.actmin_sub[k];
                    }
                }
                self.local_min[k] = false;
                self.actmin[k] = f64::INFINITY;
                self.actmin_sub[k] = f64::INFINITY;
                self.noise[k] = self.pmin_u[k];
            }
            self.stored_next = (slot + 1) % self.stored.len();
            self.subwindow_count = 1;
        } else {
            if self.subwindow_count > 1 {
                for k in 0..bins {
                    if modified[k] {
                        self.local_min[k] = true;
                    }
                    // Follow a falling noise floor at once, through the current sub-window's minimum.
                    self.noise[k] = self.actmin_sub[k].min(self.pmin_u[k]);
                    self.pmin_u[k] = self.noise[k];
                }
            }
            self.subwindow_count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trnet_dsp::rng::SplitMix64;

    #[test]
    fn m_table_interpolates() {
        assert_eq!(m_of(96.0), 0.865 + (0.89 - 0.865) * 16.0 / 40.0);
        assert_eq!(m_of(12.0), 0.61 + (0.668 - 0.61) * 2.0 / 5.0);
        assert_eq!(m_of(500.0), 0.91);
    }

    /// Exponentially distributed periodogram values of mean `level` (the periodogram of Gaussian noise).
    fn periodogram(rng: &mut SplitMix64, bins: usize, level: f64) -> Vec<f64> {
        (0..bins).map(|_| -level * (1.0 - rng.next_f64()).ln()).collect()
    }

    #[test]
    fn tracks_stationary_noise_and_follows_steps_down_and_up() {
        let bins = 64;
        let mut rng = SplitMix64::new(3);
        let mut tracker = NoiseTracker::new(MinStatsConfig::default(), bins);
        let mean_db = |t: &NoiseTracker, level: f64| 10.0 * (t.noise().iter().sum::<f64>() / bins as f64 / level).log10();
        for _ in 0..400 {
            tracker.update(&periodogram(&mut rng, bins, 2.0));
        }
        let err = mean_db(&tracker, 2.0);
        assert!(err.abs() < 1.0, "estimate off by {err:.2} dB on stationary noise");
        // Measured: within 0.2 dB in each phase. Noise drops by 20 dB: the minimum follows within a sub-window or two.
        for _ in 0..40 {
            tracker.update(&periodogram(&mut rng, bins, 0.02));
        }
        let err = mean_db(&tracker, 0.02);
        assert!(err.abs() < 2.0, "after a 20 dB drop: off by {err:.2} dB");
        // Noise rises by 10 dB: the minimum must forget the old floor within about one search window.
        for _ in 0..150 {
            tracker.update(&periodogram(&mut rng, bins, 0.2));
        }
        let err = mean_db(&tracker, 0.2);
        assert!(err.abs() < 2.0, "after a 10 dB rise: off by {err:.2} dB");
    }

    #[test]
    fn silence_stays_finite() {
        let mut tracker = NoiseTracker::new(MinStatsConfig::default(), 8);
        for _ in 0..100 {
            tracker.update(&[0.0; 8]);
        }
        assert!(tracker.noise().iter().all(|v| v.is_finite() && *v > 0.0));
    }
}
