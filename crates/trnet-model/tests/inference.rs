//! The forward pass prepared for prediction (`TrnetModel::prepare_inference`: BatchNorm and the shortcut folded
//! into the convs) against the plain eval forward pass, for every variant and every kind of residual block, with
//! BatchNorm statistics far from their initial values (so a wrong fold shows).

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use trnet_model::{Inputs, ModelConfig, Precision, TrnetModel, Variant, check_precision};

static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn tiny(variant: Variant) -> ModelConfig {
    ModelConfig { variant, n_mels: 16, channels: vec![4, 8, 8, 16], num_classes: 3, ..Default::default() }
}

/// The four kinds of folded block: one conv with a 1×1 shortcut (the paper's), one conv with an identity
/// shortcut, two convs with a 1×1 shortcut, two convs with an identity shortcut; and the options that change
/// the graph around the encoder (attention hidden layer, standardised d).
fn configs(v: Variant) -> Vec<ModelConfig> {
    let identity = |c: ModelConfig| ModelConfig { stride: 1, channels: vec![4, 4, 8], ..c };
    let deep = |c: ModelConfig| ModelConfig { convs_per_block: 2, attention_hidden: Some(6), ..c };
    vec![tiny(v), identity(tiny(v)), deep(tiny(v)), deep(identity(tiny(v))), ModelConfig { snr_standardize: true, snr_centred: true, ..tiny(v) }]
}

/// A model whose every parameter and BatchNorm statistic is drawn at random (running variances in [0.25, 2.25]).
fn model(config: &ModelConfig, seed: i64) -> (VarStore, TrnetModel) {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let m = TrnetModel::new(&vs.root(), config).unwrap();
    tch::no_grad(|| {
        // Sorted: the var store's map has no fixed order, and the draws must not depend on it.
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut t) in vars {
            let r = Tensor::rand_like(&t);
            let value = if name.ends_with("running_var") {
                r * 2.0 + 0.25
            } else if name.ends_with("running_mean") || name.contains("bn") {
                r * 2.0 - 0.5
            } else {
                // Conv, linear and FiLM weights: keep their scale, move them off their initial values.
                &t * 0.5 + (r - 0.5) * 0.2
            };
            t.copy_(&value);
        }
    });
    (vs, m)
}

fn inputs(b: i64, t: i64, f: i64, seed: i64) -> (Tensor, Tensor, Tensor) {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed);
    let x = Tensor::randn([b, t, f], (Kind::Float, Device::Cpu)) - 4.0;
    let xe = &x + Tensor::randn([b, t, f], (Kind::Float, Device::Cpu)) * 0.3;
    let lengths = Tensor::from_slice(&(0..b).map(|i| t - 5 * i).collect::<Vec<_>>());
    let mask = Tensor::arange(t, (Kind::Int64, Device::Cpu)).unsqueeze(0).lt_tensor(&lengths.unsqueeze(1));
    (x, xe, mask)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

/// Whether trnet's own conv kernel (`has_direct_conv`) can run here.
fn direct_kernel_here() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::env::var("TRNET_DIRECT_CONV").map_or(true, |v| v != "0")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Runs `f` with `threads` libtorch intra-op threads on this thread, then restores the previous count.
fn with_threads<T>(threads: i32, f: impl FnOnce() -> T) -> T {
    let before = tch::get_num_threads();
    tch::set_num_threads(threads);
    let out = f();
    tch::set_num_threads(before);
    out
}

/// On one libtorch thread the folded encoder of one-conv blocks runs on trnet's AVX-512 kernel, on two on
/// libtorch's convs; both must equal the eval forward pass.
#[test]
fn folded_inference_equals_the_eval_forward_pass_for_every_variant() {
    let (x, xe, mask) = inputs(3, 40, 16, 5);
    for v in Variant::ALL {
        for (i, config) in configs(v).into_iter().enumerate() {
            for threads in [1, 2] {
                folded_matches_eval(&config, &format!("{i}, {threads} thread(s)"), 11 + i as i64, threads, (&x, &xe, &mask));
            }
        }
    }
}

/// The direct kernel's edge cases: kernel sizes 1, 3 and 7, widths that need a zero-padded last register and
/// more than one 64-channel group (70 → 80 = 64 + 16), frames and bins not divisible by the stride, stride 3.
#[test]
fn folded_inference_equals_the_eval_forward_pass_for_odd_shapes() {
    let shapes = [
        ModelConfig { kernel_size: 3, channels: vec![20, 70], n_mels: 13, ..tiny(Variant::Trnet) },
        ModelConfig { kernel_size: 7, channels: vec![5, 17, 33], n_mels: 13, ..tiny(Variant::BaselineNoisy) },
        ModelConfig { kernel_size: 1, stride: 1, channels: vec![16, 16], n_mels: 13, ..tiny(Variant::BaselineNoisy) },
        ModelConfig { kernel_size: 5, stride: 3, channels: vec![48, 130], n_mels: 13, ..tiny(Variant::BaselineNoisy) },
    ];
    let (x, xe, mask) = inputs(2, 37, 13, 8);
    for (i, config) in shapes.iter().enumerate() {
        folded_matches_eval(config, &format!("for shape {i}"), 40 + i as i64, 1, (&x, &xe, &mask));
    }
}

fn folded_matches_eval(config: &ModelConfig, what: &str, seed: i64, threads: i32, (x, xe, mask): (&Tensor, &Tensor, &Tensor)) {
    let v = config.variant;
    let i = what;
    with_threads(threads, || {
        {
            let (_vs, mut m) = model(config, seed);
            let input = Inputs::new(x).enhanced(xe).mask(mask);
            let want = tch::no_grad(|| m.forward_t(&input, false)).unwrap();
            // Unprepared, `infer` is the eval forward pass itself.
            let plain = m.infer(&input).unwrap();
            assert_eq!(max_diff(&plain.logits, &want.logits), 0.0, "{v} config {i}: unprepared infer differs");
            assert!(!m.has_direct_conv());
            m.prepare_inference(Precision::Fp32).unwrap();
            assert_eq!(m.precision(), Precision::Fp32);
            // The kernel takes encoders whose every block is one conv (its shortcut folded into it).
            assert_eq!(m.has_direct_conv(), config.convs_per_block == 1 && direct_kernel_here(), "{v} config {i}");
            let got = m.infer(&input).unwrap();
            let scale = want.h.abs().max().double_value(&[]);
            assert!(scale > 0.1, "{v} config {i}: h too small to show a wrong fold ({scale})");
            for (what, g, w) in [("logits", &got.logits, &want.logits), ("h", &got.h, &want.h), ("attention", &got.attention, &want.attention)] {
                let d = max_diff(g, w);
                assert!(d < 1e-5, "{v} config {i}: {what} differ by {d:e}");
            }
            match (&got.c, &want.c, &got.h_tilde, &want.h_tilde) {
                (Some(gc), Some(wc), _, _) => assert!(max_diff(gc, wc) < 1e-5, "{v} config {i}: c differs"),
                (None, None, _, _) => {}
                _ => panic!("{v} config {i}: c present in one pass only"),
            }
            if let (Some(g), Some(w)) = (&got.h_tilde, &want.h_tilde) {
                assert!(max_diff(g, w) < 1e-5, "{v} config {i}: h~ differs");
            }
            // Masked frames still get no attention (the mask follows the blocks down as `mask[:, ::stride]`).
            let mut m = mask.shallow_clone();
            for _ in &config.channels {
                m = m.slice(1, 0, None, config.stride as i64);
            }
            let masked = got.attention.masked_select(&m.logical_not());
            assert!(masked.numel() > 0 && masked.abs().max().double_value(&[]) == 0.0, "{v} config {i}: masked frames got attention");
        }
    })
}

/// bf16 changes the numbers by bfloat16's rounding (8 significant bits per activation), not more; on a CPU
/// without AVX-512 BF16 it is a coded error.
#[test]
fn bf16_inference_stays_near_f32_or_says_the_cpu_lacks_it() {
    let (x, xe, mask) = inputs(3, 40, 16, 6);
    let (_vs, mut m) = model(&tiny(Variant::Trnet), 3);
    if let Err(e) = check_precision(Precision::Bf16, Device::Cpu) {
        assert_eq!(e.code(), "TRNET_DEVICE_UNAVAILABLE");
        assert!(e.to_string().contains("avx512_bf16"), "{e}");
        let err = m.prepare_inference(Precision::Bf16).unwrap_err();
        assert_eq!(err.code(), "TRNET_DEVICE_UNAVAILABLE");
        return;
    }
    let input = Inputs::new(&x).enhanced(&xe).mask(&mask);
    let want = tch::no_grad(|| m.forward_t(&input, false)).unwrap();
    m.prepare_inference(Precision::Bf16).unwrap();
    assert_eq!(m.precision(), Precision::Bf16);
    let got = m.infer(&input).unwrap();
    assert_eq!(got.logits.kind(), Kind::Float);
    let scale = want.logits.abs().max().double_value(&[]);
    let d = max_diff(&got.logits, &want.logits);
    // Four blocks of 2⁻⁹ relative rounding each, amplified by the weights: a few per cent of the logits' scale.
    assert!(d < 0.05 * scale, "bf16 logits differ by {d} (scale {scale})");
    assert!(d > 0.0, "bf16 gave the f32 numbers exactly: the encoder did not run in bf16");
    // c does not go through the encoder: it stays f32 and equal up to f32 rounding.
    assert!(max_diff(got.c.as_ref().unwrap(), want.c.as_ref().unwrap()) < 1e-6);
}

#[test]
fn precision_names_parse_and_others_are_refused() {
    assert_eq!(Precision::parse("fp32").unwrap(), Precision::Fp32);
    assert_eq!(Precision::parse("bf16").unwrap(), Precision::Bf16);
    assert_eq!(Precision::Bf16.name(), "bf16");
    let err = Precision::parse("fp16").unwrap_err();
    assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT");
    assert!(err.to_string().contains("\"fp16\""), "{err}");
}
