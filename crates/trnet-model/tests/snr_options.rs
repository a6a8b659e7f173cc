//! The SNR-aware module's options beyond the paper (issue 15): each changes what it should and nothing else,
//! and the defaults are the paper's eqs. 1–3. Known answers here are computed by hand (plain f64
//! arithmetic), not with PyTorch.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use trnet_model::snr_aware::{LEAKY_CLAMP_SLOPE, SnrAware, bound};
use trnet_model::{HeadInit, ModelConfig, SnrClamp, TrnetModel, Variant};

fn cfg(n_mels: usize) -> ModelConfig {
    ModelConfig { n_mels, channels: vec![4, 8], num_classes: 3, ..Default::default() }
}

fn module(config: &ModelConfig) -> (VarStore, SnrAware) {
    let vs = VarStore::new(Device::Cpu);
    let m = SnrAware::new(&vs.root(), config).unwrap();
    (vs, m)
}

fn t3(rows: &[[f32; 2]], b: i64) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).view([b, -1, 2])
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

fn centred(v: &[f64]) -> Vec<f64> {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| x - mean).collect()
}

#[test]
fn centred_cosine_is_the_correlation_over_real_frames() {
    // One utterance, 4 frames, 2 bins; the last frame is padding (mask false) holding values that would
    // change the answer if they were counted.
    let x = t3(&[[1.0, -3.0], [2.0, -1.0], [4.0, -2.0], [9.0, 9.0]], 1);
    let xe = t3(&[[1.5, -2.0], [1.0, -2.5], [5.0, -2.0], [-9.0, 7.0]], 1);
    let mask = Tensor::from_slice(&[true, true, true, false]).view([1, 4]);
    let (_vs, plain) = module(&cfg(2));
    let (_vs2, centred_module) = module(&ModelConfig { snr_centred: true, ..cfg(2) });
    let d = centred_module.similarity_masked(&x, &xe, Some(&mask)).unwrap();
    let xs = [[1.0, 2.0, 4.0], [-3.0, -1.0, -2.0]];
    let xes = [[1.5, 1.0, 5.0], [-2.0, -2.5, -2.0]];
    for bin in 0..2 {
        let want = cosine(&centred(&xs[bin]), &centred(&xes[bin]));
        let got = d.double_value(&[0, bin as i64]);
        assert!((got - want).abs() < 1e-6, "bin {bin}: centred d {got}, want {want}");
    }
    // A common offset (a louder recording, or int16 scale) moves the plain cosine toward 1 but not the
    // centred one: that is the option's point.
    let shift = |t: &Tensor| t + 100.0;
    let real = mask.view([1, 4, 1]).to_kind(Kind::Float);
    let (xo, xeo) = (shift(&x) * &real, shift(&xe) * &real);
    let d_off = centred_module.similarity_masked(&xo, &xeo, Some(&mask)).unwrap();
    assert!((&d_off - &d).abs().max().double_value(&[]) < 1e-4, "centred d moved with a common offset");
    let plain_off = plain.similarity_masked(&xo, &xeo, Some(&mask)).unwrap();
    assert!(plain_off.min().double_value(&[]) > 0.999, "plain d with a +100 offset: {plain_off}");
    assert!(d.double_value(&[0, 1]) < 0.9, "the centred bin 1 is not near 1: {d}");
    // Without the option the mask is not needed and the plain cosine is unchanged (the paper's eq. 1).
    assert!(plain.similarity_masked(&x, &xe, Some(&mask)).unwrap().equal(&plain.similarity(&x, &xe).unwrap()));
}

#[test]
fn centred_cosine_without_a_mask_uses_every_frame() {
    let x = t3(&[[1.0, 0.5], [2.0, 0.0], [0.0, 3.0]], 1);
    let xe = t3(&[[2.0, 1.0], [1.0, 1.0], [0.5, 2.0]], 1);
    let (_vs, m) = module(&ModelConfig { snr_centred: true, ..cfg(2) });
    let d = m.similarity_masked(&x, &xe, None).unwrap();
    let want = cosine(&centred(&[1.0, 2.0, 0.0]), &centred(&[2.0, 1.0, 0.5]));
    assert!((d.double_value(&[0, 0]) - want).abs() < 1e-6);
}

fn grad_of(clamp: SnrClamp, c_bar: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let x = Tensor::from_slice(c_bar).set_requires_grad(true);
    let c = bound(clamp, &x).unwrap();
    c.sum(Kind::Float).backward();
    let n = c_bar.len() as i64;
    ((0..n).map(|i| c.double_value(&[i])).collect(), (0..n).map(|i| x.grad().double_value(&[i])).collect())
}

#[test]
fn the_leaky_clamp_keeps_eq3s_values_and_leaks_gradient_outside_0_1() {
    let c_bar = [-2.0f32, -0.1, 0.3, 0.9, 1.4];
    let (hard_c, hard_g) = grad_of(SnrClamp::Hard, &c_bar);
    let (leaky_c, leaky_g) = grad_of(SnrClamp::Leaky, &c_bar);
    assert_eq!(hard_c, leaky_c, "same values as the clamp");
    assert_eq!(hard_c, [0.0, 0.0, 0.30000001192092896, 0.8999999761581421, 1.0]);
    assert_eq!(hard_g, [0.0, 0.0, 1.0, 1.0, 0.0], "the paper's clamp: no gradient outside [0, 1]");
    for (i, g) in leaky_g.iter().enumerate() {
        let want = if (0.0..=1.0).contains(&c_bar[i]) { 1.0 } else { LEAKY_CLAMP_SLOPE };
        assert!((g - want).abs() < 1e-6, "c̄ = {}: gradient {g}, want {want}", c_bar[i]);
    }
}

#[test]
fn the_sigmoid_bound_matches_the_clamp_at_one_half() {
    let (c, g) = grad_of(SnrClamp::Sigmoid, &[0.5, -3.0, 4.0]);
    assert!((c[0] - 0.5).abs() < 1e-7 && (g[0] - 1.0).abs() < 1e-6, "value {} slope {} at ½", c[0], g[0]);
    assert!(c[1] > 0.0 && c[1] < 1e-5 && g[1] > 0.0, "far below 0: small but live ({}, {})", c[1], g[1]);
    assert!(c[2] < 1.0 && c[2] > 1.0 - 1e-5 && g[2] > 0.0);
}

/// d for two utterances that differ by a few thousandths in every bin, the way d moves little with the SNR.
fn close_pair(f: i64) -> (Tensor, Tensor) {
    let base = Tensor::linspace(0.5, 1.5, 6 * f, (Kind::Float, Device::Cpu)).view([1, 6, f]);
    let x = Tensor::cat(&[&base, &base], 0);
    let xe = Tensor::cat(&[&(&base * 1.01), &(&base * 1.01 + Tensor::linspace(0.0, 0.5, 6, (Kind::Float, Device::Cpu)).view([1, 6, 1]))], 0);
    (x, xe)
}

#[test]
fn standardising_d_makes_small_differences_the_heads_input() {
    let f = 4;
    let (x, xe) = close_pair(f);
    let set_weight = |vs: &VarStore| {
        tch::no_grad(|| {
            for (name, mut v) in vs.variables() {
                if name == "fc.weight" {
                    let _ = v.fill_(0.1 / f as f64);
                }
            }
        })
    };
    let (vs_plain, plain) = module(&cfg(f as usize));
    set_weight(&vs_plain);
    let (vs_std, standardized) = module(&ModelConfig { snr_standardize: true, ..cfg(f as usize) });
    set_weight(&vs_std);
    let names: Vec<String> = vs_std.variables().into_keys().collect();
    for want in ["norm.weight", "norm.bias", "norm.running_mean", "norm.running_var"] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    let out = plain.forward_t(&x, &xe, None, true).unwrap();
    let d_gap = (out.d.get(0) - out.d.get(1)).abs().max().double_value(&[]);
    assert!(d_gap > 1e-4 && d_gap < 1e-2, "the two d differ only a little: {d_gap}");
    let plain_gap = (out.c.double_value(&[0]) - out.c.double_value(&[1])).abs();
    assert!(plain_gap < 1e-3, "plain: c barely differs ({plain_gap})");
    // Standardised over the batch of two, each bin becomes ±1, so c = 0.5 ± 0.1 however close the d were.
    let out = standardized.forward_t(&x, &xe, None, true).unwrap();
    let gap = (out.c.double_value(&[0]) - out.c.double_value(&[1])).abs();
    assert!((gap - 0.2).abs() < 1e-3, "standardised: c differs by {gap}, want 0.2");
    // A lone utterance in training mode uses the running statistics instead of failing.
    let one = standardized.forward_t(&x.narrow(0, 0, 1), &xe.narrow(0, 0, 1), None, true).unwrap();
    assert!(one.c.double_value(&[0]).is_finite());
}

#[test]
fn the_snr_random_init_changes_only_the_snr_head() {
    let build = |head_init: HeadInit| {
        tch::manual_seed(3);
        let vs = VarStore::new(Device::Cpu);
        let _m = TrnetModel::new(&vs.root(), &ModelConfig { variant: Variant::Trnet, head_init, ..cfg(8) }).unwrap();
        vs
    };
    let vs = build(HeadInit::SnrRandom);
    let vars = vs.variables();
    let w = &vars["snr.fc.weight"];
    let bound = 1.0 / 8f64.sqrt();
    assert!(w.abs().max().double_value(&[]) <= bound && w.abs().min().double_value(&[]) > 0.0, "U(±1/√F) weight: {w}");
    assert_eq!(vars["snr.fc.bias"].double_value(&[0]), 0.5);
    let neutral = build(HeadInit::Neutral).variables();
    assert_eq!(neutral["snr.fc.weight"].abs().max().double_value(&[]), 0.0);
    for name in ["film.fc1.weight", "film.fc1.bias", "film.fc2.weight", "film.fc2.bias"] {
        assert!(vars[name].equal(&neutral[name]), "{name} is not the neutral FiLM start");
    }
}

#[test]
fn defaults_are_the_papers_eqs_1_to_3() {
    let c = ModelConfig::default();
    assert_eq!((c.snr_clamp, c.snr_centred, c.snr_standardize, c.head_init), (SnrClamp::Hard, false, false, HeadInit::Neutral));
    let (vs, m) = module(&cfg(2));
    assert_eq!(vs.variables().len(), 2, "only snr.fc: no standardisation buffers by default");
    let x = t3(&[[1.0, -3.0], [2.0, -1.0], [4.0, -2.0]], 1);
    let xe = t3(&[[1.5, -2.0], [1.0, -2.5], [5.0, -2.0]], 1);
    let out = m.forward_t(&x, &xe, None, true).unwrap();
    let want = cosine(&[1.0, 2.0, 4.0], &[1.5, 1.0, 5.0]);
    assert!((out.d.double_value(&[0, 0]) - want).abs() < 1e-6, "uncentred cosine");
    assert_eq!(out.c.double_value(&[0]), 0.5);
}
