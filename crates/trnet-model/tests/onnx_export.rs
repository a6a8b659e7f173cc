//! The ONNX export against the tch forward pass: every variant (and the config options that change the graph)
//! is exported, run in ONNX Runtime, and compared with `forward_t` in eval mode on the same frames and frame
//! mask, within 1e-4. Weights, BatchNorm running statistics and heads are randomised first, so that no
//! module is an identity that would hide a wrong export.

use ort::session::Session;
use ort::value::TensorRef;
use std::borrow::Cow;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use trnet_model::{ClassifierInput, HeadInit, Inputs, ModelConfig, NoLowInput, SnrClamp, TrnetModel, Variant, onnx};

/// The tiny configs' bins, frames, and the real frames of each of a batch's utterances (the rest is padding).
const F: i64 = 16;
const T: i64 = 23;
const VALID: [i64; 3] = [23, 17, 5];

static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn tiny(variant: Variant) -> ModelConfig {
    ModelConfig { variant, n_mels: F as usize, channels: vec![4, 8, 8], num_classes: 3, ..Default::default() }
}

/// A model with every variable drawn at random (weights scaled by fan-in, running variances positive), seeded.
fn random_model(config: &ModelConfig, seed: i64) -> (VarStore, TrnetModel) {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let m = TrnetModel::new(&vs.root(), config).unwrap();
    tch::no_grad(|| {
        // By name: variables() is a HashMap, and a fixed order makes the seed fix every draw.
        let mut variables: Vec<_> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut t) in variables {
            let r = Tensor::randn(t.size(), (Kind::Float, Device::Cpu));
            let v = if name.ends_with("running_var") {
                r.abs() + 0.5
            } else if name.starts_with("snr.fc.bias") {
                // c̄ around 0.5, so that some utterances are clamped and some are not.
                r * 0.3 + 0.5
            } else if name.starts_with("snr.fc.weight") {
                r * 0.5
            } else if t.dim() >= 2 {
                // Scaled by fan-in, so that activations keep their size through the paper's 256 channels.
                let fan_in: i64 = t.size()[1..].iter().product();
                r * (1.5 / (fan_in as f64).sqrt())
            } else {
                r * 0.4
            };
            t.copy_(&v);
        }
    });
    (vs, m)
}

struct Frames {
    /// (batch, frames, bins).
    dims: [i64; 3],
    x: Tensor,
    xe: Tensor,
    mask: Tensor,
    valid: Tensor,
}

fn frames(seed: i64, valid: &[i64], t: i64, f: i64) -> Frames {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed);
    let dims = [valid.len() as i64, t, f];
    let x = Tensor::randn(dims, (Kind::Float, Device::Cpu)) * 2.0 - 3.0;
    let xe = &x * 0.8 + Tensor::randn(dims, (Kind::Float, Device::Cpu)) * 0.5;
    let lengths = Tensor::from_slice(valid);
    let mask = Tensor::arange(t, (Kind::Int64, Device::Cpu)).unsqueeze(0).lt_tensor(&lengths.unsqueeze(1));
    // Padding is zeros, as PadMode::Zero leaves it.
    let keep = mask.unsqueeze(2).to_kind(Kind::Float);
    Frames { dims, x: x * &keep, xe: xe * &keep, mask, valid: lengths.to_kind(Kind::Float) }
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).contiguous().flatten(0, -1)).unwrap()
}

fn session(bytes: &[u8]) -> Session {
    trnet_enhance::onnx::runtime().expect("ONNX Runtime (scripts/with-env.sh sets ORT_DYLIB_PATH)");
    Session::builder().unwrap().with_intra_threads(1).unwrap().commit_from_memory(bytes).unwrap()
}

/// Runs the exported graph on `f`; returns (probabilities, c) by output name.
fn run_onnx(bytes: &[u8], variant: Variant, f: &Frames) -> (Vec<f32>, Option<Vec<f32>>) {
    let mut s = session(bytes);
    let data: Vec<(&str, Vec<f32>, Vec<i64>)> = onnx::input_names(variant)
        .into_iter()
        .map(|name| match name {
            onnx::X => (name, values(&f.x), f.dims.to_vec()),
            onnx::XE => (name, values(&f.xe), f.dims.to_vec()),
            _ => (name, values(&f.valid), vec![f.dims[0]]),
        })
        .collect();
    let feeds: Vec<(Cow<'_, str>, ort::session::SessionInputValue<'_>)> =
        data.iter().map(|(name, v, shape)| (Cow::Borrowed(*name), TensorRef::from_array_view((shape.clone(), v.as_slice())).unwrap().into())).collect();
    let out = s.run(feeds).unwrap();
    let get = |name: &str| out.get(name).map(|v| v.try_extract_tensor::<f32>().unwrap().1.to_vec());
    (get(onnx::PROBABILITIES).unwrap(), get(onnx::C))
}

fn run_tch(model: &TrnetModel, f: &Frames) -> (Vec<f32>, Option<Vec<f32>>) {
    tch::no_grad(|| {
        let mut inputs = Inputs::new(&f.x).mask(&f.mask);
        if model.variant().needs_enhanced() {
            inputs = inputs.enhanced(&f.xe);
        }
        let out = model.forward_t(&inputs, false).unwrap();
        (values(&out.logits.softmax(1, Kind::Float)), out.c.as_ref().map(values))
    })
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check(config: &ModelConfig, seed: i64) {
    check_on(config, seed, &frames(seed + 100, &VALID, T, F));
}

fn check_on(config: &ModelConfig, seed: i64, f: &Frames) {
    let (_vs, model) = random_model(config, seed);
    check_model(&model, f);
}

/// Exports `model`, runs it in ONNX Runtime on `f` and compares with the tch forward within 1e-4.
fn check_model(model: &TrnetModel, f: &Frames) {
    let config = model.config();
    let bytes = onnx::to_bytes(model, &[]).unwrap();
    let (p_onnx, c_onnx) = run_onnx(&bytes, config.variant, f);
    let (p_tch, c_tch) = run_tch(model, f);
    let what = format!("{} {:?}", config.variant, config);
    assert!(max_diff(&p_onnx, &p_tch) < 1e-4, "{what}: probabilities {p_onnx:?} vs {p_tch:?}");
    // Not all one-hot: the comparison has something to compare.
    assert!(p_tch.iter().all(|&p| p < 0.999), "{what}: {p_tch:?}");
    match (c_onnx, c_tch) {
        (Some(a), Some(b)) => {
            assert!(max_diff(&a, &b) < 1e-4, "{what}: c {a:?} vs {b:?}");
            assert_eq!(a.len(), f.dims[0] as usize);
        }
        (None, None) => assert!(!config.variant.has_snr_module()),
        (a, b) => panic!("{what}: c from ONNX {a:?}, from tch {b:?}"),
    }
}

#[test]
fn every_variant_matches_the_tch_forward_within_1e_4() {
    for (i, v) in Variant::ALL.into_iter().enumerate() {
        check(&tiny(v), 10 + i as i64);
    }
}

#[test]
fn graph_changing_options_match_too() {
    let configs = [
        ModelConfig { convs_per_block: 2, attention_hidden: Some(5), ..tiny(Variant::Trnet) },
        ModelConfig { no_low_encoder_input: NoLowInput::Mixed, ..tiny(Variant::TrnetNoLow) },
        ModelConfig { classifier_input: ClassifierInput::Raw, kernel_size: 3, ..tiny(Variant::Trnet) },
        ModelConfig { stride: 1, channels: vec![4, 4], ..tiny(Variant::BaselineEnhanced) },
    ];
    for (i, c) in configs.iter().enumerate() {
        check(c, 40 + i as i64);
    }
}

/// c from the tch forward of `config` with `vs`'s weights (variables the config lacks are left out), on `f`
/// with or without its frame mask.
fn c_with(config: &ModelConfig, vs: &VarStore, f: &Frames, masked: bool) -> Vec<f32> {
    let mut other = VarStore::new(Device::Cpu);
    let model = TrnetModel::new(&other.root(), config).unwrap();
    other.copy(vs).unwrap();
    tch::no_grad(|| {
        let mut inputs = Inputs::new(&f.x).enhanced(&f.xe);
        if masked {
            inputs = inputs.mask(&f.mask);
        }
        values(model.forward_t(&inputs, false).unwrap().c.as_ref().unwrap())
    })
}

/// Shifts `snr.fc` so that c̄ = FC(d) is 0.7 on average over `f`'s utterances under `config`: d is O(1) in
/// every bin, so random heads put c̄ outside [0, 1] for the whole batch, where the bound hides the rest of
/// the module. Not ½, where the sigmoid bound equals the clamp. c̄ is read back through the sigmoid bound,
/// c̄ = ½ + logit(c)/4.
fn centre_head(config: &ModelConfig, vs: &VarStore, f: &Frames) {
    let vars = vs.variables();
    let (mut w, mut b) = (vars["snr.fc.weight"].shallow_clone(), vars["snr.fc.bias"].shallow_clone());
    tch::no_grad(|| w.copy_(&(&w / (F as f64).sqrt())));
    let c = c_with(&ModelConfig { snr_clamp: SnrClamp::Sigmoid, ..config.clone() }, vs, f, true);
    assert!(c.iter().all(|&v| v > 1e-6 && v < 1.0 - 1e-6), "{config:?}: c̄ too far out to read back: {c:?}");
    let c_bar = c.iter().map(|&v| 0.5 + (v as f64 / (1.0 - v as f64)).ln() / 4.0).sum::<f64>() / c.len() as f64;
    tch::no_grad(|| b.copy_(&(&b + (0.7 - c_bar))));
}

#[test]
fn snr_module_options_match_and_each_one_changes_c() {
    let base = tiny(Variant::Trnet);
    let configs = [
        ModelConfig { snr_clamp: SnrClamp::Leaky, ..base.clone() },
        ModelConfig { snr_clamp: SnrClamp::Sigmoid, ..base.clone() },
        ModelConfig { snr_standardize: true, ..base.clone() },
        ModelConfig { snr_centred: true, ..base.clone() },
        ModelConfig { snr_clamp: SnrClamp::Sigmoid, snr_standardize: true, snr_centred: true, head_init: HeadInit::SnrRandom, ..base.clone() },
        ModelConfig { snr_clamp: SnrClamp::Leaky, snr_standardize: true, snr_centred: true, ..tiny(Variant::TrnetNoHigh) },
    ];
    // Valid frame counts differ across the batch, so a centring that ignored valid_frames would show.
    let f = frames(160, &VALID, T, F);
    for (i, config) in configs.iter().enumerate() {
        let (vs, model) = random_model(config, 60 + i as i64);
        centre_head(config, &vs, &f);
        check_model(&model, &f);
        // Each option, taken away from the same weights, changes c by far more than the tolerance, so an
        // export that ignored it would fail check_model. The leaky clamp is the hard one in value (its leak
        // is gradient only), so there c must stay exactly the same.
        let c = c_with(config, &vs, &f, true);
        let without = [
            (config.snr_clamp != SnrClamp::Hard, ModelConfig { snr_clamp: SnrClamp::Hard, ..config.clone() }),
            (config.snr_standardize, ModelConfig { snr_standardize: false, ..config.clone() }),
            (config.snr_centred, ModelConfig { snr_centred: false, ..config.clone() }),
        ];
        for (_, other) in without.iter().filter(|(on, _)| *on) {
            let c_other = c_with(other, &vs, &f, true);
            if config.snr_clamp == SnrClamp::Leaky && other.snr_clamp == SnrClamp::Hard {
                assert_eq!(c, c_other, "{config:?}: leaky vs hard");
            } else {
                assert!(max_diff(&c, &c_other) > 1e-3, "{config:?} vs {other:?}: c {c:?} vs {c_other:?}");
            }
        }
        if config.snr_centred {
            // The centring's mean is over the real frames only: over all frames, c would differ.
            let c_unmasked = c_with(config, &vs, &f, false);
            assert!(max_diff(&c, &c_unmasked) > 1e-3, "{config:?}: c {c:?} masked vs {c_unmasked:?} not");
        }
        // Not saturated everywhere: the bound has values inside (0, 1) to compare.
        assert!(c.iter().any(|&v| v > 1e-3 && v < 1.0 - 1e-3), "{config:?}: c {c:?}");
    }
}

#[test]
fn the_papers_model_size_matches_on_500_frames() {
    // 80 bins, 32/64/128/256 channels, 4 classes: the scale at which rounding differences would add up.
    let f = frames(7, &[500, 321], 500, 80);
    check_on(&ModelConfig::paper(Variant::Trnet), 8, &f);
    check_on(&ModelConfig::paper(Variant::BaselineNoisy), 9, &f);
}

#[test]
fn inputs_outputs_and_metadata_are_declared() {
    let (_vs, model) = random_model(&tiny(Variant::Trnet), 3);
    let extra = [("trnet.classes".to_string(), r#"["a","b","c"]"#.to_string())];
    let bytes = onnx::to_bytes(&model, &extra).unwrap();
    let s = session(&bytes);
    let names = |v: Vec<String>| v;
    assert_eq!(names(s.inputs().iter().map(|i| i.name().to_string()).collect()), ["x", "xe", "valid_frames"]);
    assert_eq!(names(s.outputs().iter().map(|o| o.name().to_string()).collect()), ["probabilities", "c"]);
    let meta = s.metadata().unwrap();
    assert_eq!(meta.custom("trnet.variant").as_deref(), Some("trnet"));
    assert_eq!(meta.custom("trnet.classes").as_deref(), Some(r#"["a","b","c"]"#));
    assert_eq!(meta.custom("trnet.inputs").as_deref(), Some("x,xe,valid_frames"));
    let config = ModelConfig::from_json(&meta.custom("trnet.modelConfig").unwrap()).unwrap();
    assert_eq!(&config, model.config());
    assert_eq!(meta.producer().as_deref(), Some("trnet"));

    // Baseline-e reads only the enhanced frames and has no c.
    let (_vs, b) = random_model(&tiny(Variant::BaselineEnhanced), 4);
    let s = session(&onnx::to_bytes(&b, &[]).unwrap());
    assert_eq!(s.inputs().iter().map(|i| i.name().to_string()).collect::<Vec<_>>(), ["xe", "valid_frames"]);
    assert_eq!(s.outputs().len(), 1);
}

#[test]
fn reserved_or_repeated_metadata_keys_and_bad_paths_are_coded_errors() {
    let (_vs, model) = random_model(&tiny(Variant::BaselineClean), 5);
    let kv = |k: &str| (k.to_string(), "v".to_string());
    assert_eq!(onnx::to_bytes(&model, &[kv("trnet.variant")]).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
    assert_eq!(onnx::to_bytes(&model, &[kv("a"), kv("a")]).unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
    let dir = std::env::temp_dir().join(format!("trnet-onnx-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = onnx::export(&model, &dir.join("missing-folder").join("m.onnx"), &[]).unwrap_err();
    assert_eq!(err.code(), "TRNET_IO");
    assert!(err.to_string().contains("missing-folder"), "{err}");
    let ok = dir.join("m.onnx");
    onnx::export(&model, &ok, &[]).unwrap();
    let bytes = std::fs::read(&ok).unwrap();
    assert_eq!(bytes, onnx::to_bytes(&model, &[]).unwrap(), "the file holds exactly the exported bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}
