//! Behaviour of the modules beyond the PyTorch known answers: every variant builds and trains on a tiny
//! config, zero-energy bins stay NaN-free forward and backward, masks, coded errors on bad input,
//! checkpoints that round-trip bit for bit, and the paper-size shapes.

use std::path::PathBuf;
use tch::nn::{OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use trnet_model::snr_aware::SnrAware;
use trnet_model::{CleanReference, Inputs, ModelConfig, NoLowInput, TrnetModel, Variant, checkpoint};

fn tiny(variant: Variant) -> ModelConfig {
    ModelConfig { variant, n_mels: 16, channels: vec![4, 8, 8, 16], num_classes: 3, ..Default::default() }
}

/// libtorch's generator is global and the tests of this file run on parallel threads: seeding and drawing
/// happen under this lock, or another test's draws land between them and a seed no longer fixes the values.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn model(config: &ModelConfig, seed: i64) -> (VarStore, TrnetModel) {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let m = TrnetModel::new(&vs.root(), config).unwrap();
    (vs, m)
}

struct Batch {
    x: Tensor,
    xe: Tensor,
    xs: Tensor,
    mask: Tensor,
    labels: Tensor,
}

/// `checkpoint::load` builds the model (drawing an initialisation) before loading weights: under the lock too.
fn load(dir: &std::path::Path) -> trnet_model::Result<checkpoint::Checkpoint> {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    checkpoint::load(dir, Device::Cpu)
}

fn batch(b: i64, t: i64, f: i64, seed: i64) -> Batch {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed);
    let xs = Tensor::randn([b, t, f], (Kind::Float, Device::Cpu));
    let x = &xs + Tensor::randn([b, t, f], (Kind::Float, Device::Cpu)) * 0.5;
    let xe = &xs + Tensor::randn([b, t, f], (Kind::Float, Device::Cpu)) * 0.2;
    let lengths = Tensor::from_slice(&(0..b).map(|i| t - i % 3).collect::<Vec<_>>());
    let mask = Tensor::arange(t, (Kind::Int64, Device::Cpu)).unsqueeze(0).lt_tensor(&lengths.unsqueeze(1));
    let labels = Tensor::from_slice(&(0..b).map(|i| i % 3).collect::<Vec<_>>());
    Batch { x, xe, xs, mask, labels }
}

fn all_finite(t: &Tensor) -> bool {
    t.isfinite().all().int64_value(&[]) == 1
}

/// A clean reference encoder: a Baseline-c of the same widths, frozen.
fn reference() -> (VarStore, TrnetModel) {
    let (mut vs, m) = model(&tiny(Variant::BaselineClean), 99);
    vs.freeze();
    (vs, m)
}

#[test]
fn every_variant_runs_forward_and_backward() {
    let (_ref_vs, reference) = reference();
    let b = batch(3, 20, 16, 1);
    for variant in Variant::ALL {
        let (vs, m) = model(&tiny(variant), 5);
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert_eq!(names.iter().any(|n| n.starts_with("snr.")), variant.has_snr_module(), "{variant}");
        assert_eq!(names.iter().any(|n| n.starts_with("film.")), variant.has_bridge(), "{variant}");
        let out = m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe).mask(&b.mask), true).unwrap();
        assert_eq!(out.logits.size(), [3, 3], "{variant}");
        assert_eq!(out.h.size(), [3, 16], "{variant}");
        assert_eq!(out.attention.size(), [3, 2], "{variant}: 20 frames → 10 → 5 → 3 → 2");
        assert_eq!(out.c.is_some(), variant.has_snr_module(), "{variant}");
        assert_eq!(out.h_tilde.is_some(), variant.has_bridge(), "{variant}");
        assert_eq!(out.x_tilde.is_some(), matches!(variant, Variant::Trnet | Variant::TrnetNoHigh), "{variant}");
        if let Some(c) = &out.c {
            assert_eq!(c.size(), [3]);
            // Neutral init: c̄ = 0.5 for every utterance.
            assert!((c - 0.5).abs().max().double_value(&[]) < 1e-7, "{variant}");
        }
        let clean = CleanReference::new(&b.xs).encoder(reference.encoder()).mask(&b.mask);
        let losses = m.losses(&out, &b.labels, Some(&clean)).unwrap();
        assert_eq!(losses.low.is_some(), variant.has_low_loss(), "{variant}");
        assert_eq!(losses.high.is_some(), variant.has_high_loss(), "{variant}");
        let (ce, low, high, total) = losses.values().unwrap();
        let expect = ce + 0.5 * low.unwrap_or(0.0) + 0.5 * high.unwrap_or(0.0);
        assert!((total - expect).abs() < 1e-5, "{variant}: {total} vs {expect}");
        losses.total.backward();
        for (name, v) in vs.variables() {
            if v.requires_grad() {
                let g = v.grad();
                assert!(g.defined() && all_finite(&g), "{variant}: gradient of {name}");
            }
        }
    }
}

#[test]
fn baselines_need_no_enhanced_input_except_baseline_e() {
    let b = batch(2, 12, 16, 2);
    for variant in Variant::ALL {
        let (_vs, m) = model(&tiny(variant), 3);
        let r = m.forward_t(&Inputs::new(&b.x), false);
        assert_eq!(r.is_ok(), !variant.needs_enhanced(), "{variant}");
        if let Err(e) = r {
            assert_eq!(e.code(), "TRNET_INVALID_ARGUMENT");
            assert!(e.to_string().contains("Xe"), "{e}");
        }
    }
}

#[test]
fn baseline_e_and_no_low_encode_the_enhanced_input() {
    let b = batch(2, 12, 16, 3);
    let (_vs, base_e) = model(&tiny(Variant::BaselineEnhanced), 4);
    let out = base_e.forward_t(&Inputs::new(&b.x).enhanced(&b.xe), false).unwrap();
    let direct = base_e.encoder().forward_t(&b.xe, None, false).unwrap();
    assert!(out.h.equal(&direct.h));
    let (_vs, no_low) = model(&tiny(Variant::TrnetNoLow), 4);
    let out = no_low.forward_t(&Inputs::new(&b.x).enhanced(&b.xe), false).unwrap();
    assert!(out.h.equal(&no_low.encoder().forward_t(&b.xe, None, false).unwrap().h));
    let mixed = ModelConfig { no_low_encoder_input: NoLowInput::Mixed, ..tiny(Variant::TrnetNoLow) };
    let (_vs, no_low_mixed) = model(&mixed, 4);
    let out = no_low_mixed.forward_t(&Inputs::new(&b.x).enhanced(&b.xe), false).unwrap();
    let xt = out.x_tilde.as_ref().expect("mixed reading forms X~");
    // c = 0.5 at the start: X~ is the midpoint.
    assert!((xt - (&b.x + &b.xe) * 0.5).abs().max().double_value(&[]) < 1e-6);
}

#[test]
fn zero_energy_bins_stay_finite_forward_and_backward() {
    let cfg = tiny(Variant::Trnet);
    let vs = VarStore::new(Device::Cpu);
    let snr = SnrAware::new(&vs.root(), &cfg).unwrap();
    let b = batch(4, 10, 16, 4);
    let x = b.x.copy();
    let xe = b.xe.copy();
    let _ = x.narrow(2, 3, 1).fill_(0.0); // a zero bin in X only
    let _ = xe.narrow(2, 5, 1).fill_(0.0); // in Xe only
    let _ = x.narrow(2, 7, 1).fill_(0.0); // in both
    let _ = xe.narrow(2, 7, 1).fill_(0.0);
    let _ = x.get(1).fill_(0.0); // a whole silent utterance
    let _ = xe.get(2).fill_(0.0);
    let x = x.set_requires_grad(true);
    let xe = xe.set_requires_grad(true);
    let out = snr.forward(&x, &xe).unwrap();
    assert!(all_finite(&out.d) && all_finite(&out.c));
    let d = &out.d;
    for (u, bin) in [(0, 3), (0, 5), (0, 7), (1, 0), (2, 9)] {
        assert_eq!(d.double_value(&[u, bin]), 0.0, "d[{u}, {bin}] of a zero column");
    }
    // A column with energy still gives the plain cosine.
    let (a, e) = (x.get(0).select(1, 0), xe.get(0).select(1, 0));
    let exact = a.dot(&e).double_value(&[]) / (a.norm().double_value(&[]) * e.norm().double_value(&[]));
    assert!((d.double_value(&[0, 0]) - exact).abs() < 1e-6);
    let mixed = SnrAware::mix(&out.c, &x, &xe).unwrap();
    (d.sum(Kind::Float) + mixed.sum(Kind::Float)).backward();
    assert!(all_finite(&x.grad()) && all_finite(&xe.grad()));
    for v in vs.trainable_variables() {
        assert!(all_finite(&v.grad()));
    }

    // And through the whole model, with all-zero spectrograms and the bridge.
    let (ref_vs, reference) = reference();
    let (vs, m) = model(&cfg, 6);
    let zeros = Tensor::zeros([2, 12, 16], (Kind::Float, Device::Cpu));
    let out = m.forward_t(&Inputs::new(&zeros).enhanced(&zeros), true).unwrap();
    let clean = CleanReference::new(&zeros).encoder(reference.encoder());
    let losses = m.losses(&out, &Tensor::from_slice(&[0i64, 1]), Some(&clean)).unwrap();
    assert!(all_finite(&losses.total));
    losses.total.backward();
    for (name, v) in vs.variables() {
        if v.requires_grad() {
            assert!(all_finite(&v.grad()), "{name}");
        }
    }
    drop(ref_vs);
}

#[test]
fn masked_frames_get_no_attention() {
    let (_vs, m) = model(&tiny(Variant::BaselineNoisy), 7);
    let b = batch(3, 24, 16, 5); // lengths 24, 23, 22 → downsampled 2, 2, 2 of 2
    let mask = Tensor::arange(24, (Kind::Int64, Device::Cpu)).unsqueeze(0).lt_tensor(&Tensor::from_slice(&[24i64, 9, 1]).unsqueeze(1));
    let out = m.forward_t(&Inputs::new(&b.x).mask(&mask), false).unwrap();
    let att = &out.attention; // 24 → 12 → 6 → 3 → 2 frames; frame t' is centred on input frame 16·t'
    assert_eq!(att.size(), [3, 2]);
    assert!((att.sum_dim_intlist(1, false, Kind::Float) - 1.0).abs().max().double_value(&[]) < 1e-6);
    assert!(att.double_value(&[0, 1]) > 0.0);
    assert_eq!(att.double_value(&[1, 1]), 0.0, "input frame 16 is past length 9");
    assert_eq!(att.double_value(&[2, 0]), 1.0);
}

#[test]
fn bad_inputs_give_coded_errors() {
    let (_vs, m) = model(&tiny(Variant::Trnet), 8);
    let b = batch(2, 12, 16, 6);
    let code = |r: trnet_model::Result<trnet_model::Outputs>| r.map(|_| ()).unwrap_err();
    let e = code(m.forward_t(&Inputs::new(&Tensor::zeros([2, 12, 80], (Kind::Float, Device::Cpu))).enhanced(&b.xe), false));
    assert_eq!(e.code(), "TRNET_INVALID_ARGUMENT");
    assert!(e.to_string().contains("[2, 12, 80]") && e.to_string().contains("16)"), "{e}");
    let e = code(m.forward_t(&Inputs::new(&b.x.get(0)).enhanced(&b.xe), false));
    assert!(e.to_string().contains("(batch, frames, 16)"), "{e}");
    let e = code(m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe.narrow(1, 0, 10)), false));
    assert!(e.to_string().starts_with("Xe:"), "{e}");
    let e = code(m.forward_t(&Inputs::new(&b.x.to_kind(Kind::Double)).enhanced(&b.xe), false));
    assert!(e.to_string().contains("Double"), "{e}");
    let empty = Tensor::ones([2, 12], (Kind::Bool, Device::Cpu));
    let _ = empty.get(1).fill_(0);
    let e = code(m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe).mask(&empty), false));
    assert!(e.to_string().contains("1 utterance(s) with none"), "{e}");
    let e = code(m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe).mask(&b.mask.to_kind(Kind::Float)), false));
    assert!(e.to_string().contains("Bool"), "{e}");
    // A mask of the wrong length is an error, not a panic (masked_fill takes a Scalar; see check.rs).
    let e = code(m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe).mask(&b.mask.narrow(1, 0, 11)), false));
    assert!(e.to_string().contains("(2, 12) Bool"), "{e}");
    let e = m.encoder().forward_t(&b.x, Some(&b.mask.narrow(1, 0, 11)), false).map(|_| ()).unwrap_err();
    assert_eq!(e.code(), "TRNET_INVALID_ARGUMENT");

    let out = m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe), false).unwrap();
    let e = m.losses(&out, &Tensor::from_slice(&[0i64, 3]), None).unwrap_err();
    assert!(e.to_string().contains("0..3") && e.to_string().contains("0..=3"), "{e}");
    let e = m.losses(&out, &Tensor::from_slice(&[0i64, 1, 2]), None).unwrap_err();
    assert!(e.to_string().starts_with("labels:"), "{e}");
    let e = m.losses(&out, &b.labels, None).unwrap_err();
    assert!(e.to_string().contains("clean spectrogram Xs"), "{e}");
    let e = m.losses(&out, &b.labels, Some(&CleanReference::new(&b.xs))).unwrap_err();
    assert!(e.to_string().contains("frozen clean-trained encoder"), "{e}");
    let (_wide_vs, wide) = model(&ModelConfig { channels: vec![4, 8, 8, 32], ..tiny(Variant::BaselineClean) }, 1);
    let e = m.losses(&out, &b.labels, Some(&CleanReference::new(&b.xs).encoder(wide.encoder()))).unwrap_err();
    assert!(e.to_string().contains("size 32"), "{e}");
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trnet-model-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn checkpoint_round_trip_is_bit_identical() {
    let dir = temp_dir("roundtrip");
    let cfg = ModelConfig { attention_hidden: Some(5), convs_per_block: 2, ..tiny(Variant::Trnet) };
    let (vs, m) = model(&cfg, 11);
    let b = batch(2, 16, 16, 7);
    // A training-mode pass moves the BatchNorm running stats off their initial values.
    let _ = m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe), true).unwrap();
    checkpoint::save(&dir, &vs, &cfg).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["checksums.json", "config.json", "model.safetensors"], "no temporary files left behind");

    let loaded = load(&dir).unwrap();
    assert_eq!(loaded.config, cfg);
    let vars = vs.variables();
    let back = loaded.vs.variables();
    assert_eq!(vars.len(), back.len());
    for (name, v) in &vars {
        assert!(v.equal(&back[name]), "{name}");
    }
    let inputs = Inputs::new(&b.x).enhanced(&b.xe).mask(&b.mask);
    let a = tch::no_grad(|| m.forward_t(&inputs, false)).unwrap();
    let c = tch::no_grad(|| loaded.model.forward_t(&inputs, false)).unwrap();
    assert!(a.logits.equal(&c.logits) && a.h.equal(&c.h) && a.c.unwrap().equal(&c.c.unwrap()));

    // Saving again over the same folder replaces both files.
    checkpoint::save(&dir, &loaded.vs, &loaded.config).unwrap();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 11, case 2: changed or truncated weights are refused with TRNET_CHECKPOINT_CORRUPT naming the file
/// and the fix, never loaded silently and never reported as a bare libtorch failure.
#[test]
fn damaged_weights_are_refused_as_corrupt() {
    let dir = temp_dir("corrupt");
    let cfg = tiny(Variant::Trnet);
    let (vs, _m) = model(&cfg, 13);
    checkpoint::save(&dir, &vs, &cfg).unwrap();
    let weights = dir.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    let sums = std::fs::read_to_string(dir.join("checksums.json")).unwrap();
    assert!(sums.contains(&checkpoint::sha256_file(&weights).unwrap()), "{sums}");

    // One byte flipped in the middle (a weight's value), size unchanged.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    std::fs::write(&weights, &bad).unwrap();
    let e = load(&dir).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_CORRUPT");
    let msg = e.to_string();
    assert!(msg.contains("model.safetensors") && msg.contains("SHA-256") && msg.contains("restore the folder"), "{msg}");

    // Truncated: caught by the checksum, and without checksums.json by the parser, both as corrupt.
    std::fs::write(&weights, &good[..good.len() - 100]).unwrap();
    assert_eq!(load(&dir).unwrap_err().code(), "TRNET_CHECKPOINT_CORRUPT");
    std::fs::remove_file(dir.join("checksums.json")).unwrap();
    let e = load(&dir).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_CORRUPT");
    assert!(e.to_string().contains("not a readable safetensors file"), "{e}");

    // A folder without checksums.json (weights from other tools) still loads when whole.
    std::fs::write(&weights, &good).unwrap();
    assert!(load(&dir).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_errors_name_what_is_wrong() {
    let dir = temp_dir("errors");
    let e = load(&dir).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_NOT_FOUND");
    assert!(e.to_string().contains("config.json"), "{e}");

    let cfg = tiny(Variant::Trnet);
    let (vs, _m) = model(&cfg, 12);
    checkpoint::save(&dir, &vs, &cfg).unwrap();

    // A config whose widths differ from the weights': the first mismatching tensor, both shapes.
    let wider = ModelConfig { channels: vec![4, 8, 12, 16], ..cfg.clone() };
    std::fs::write(dir.join("config.json"), wider.to_json()).unwrap();
    let e = load(&dir).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_MISMATCH");
    let msg = e.to_string();
    assert!(msg.contains("encoder.blocks.2.") && msg.contains("expected shape [12") && msg.contains("found shape [8"), "{msg}");

    // A variant with fewer parameters: the file's extra tensors are refused.
    std::fs::write(dir.join("config.json"), tiny(Variant::TrnetNoHigh).to_json()).unwrap();
    let e = load(&dir).unwrap_err();
    assert!(e.to_string().contains("\"film.fc1.bias\"") && e.to_string().contains("4 unexpected"), "{e}");

    // A variant with more: the missing tensor is named.
    checkpoint::save(&dir, &model(&tiny(Variant::BaselineEnhanced), 1).0, &tiny(Variant::BaselineEnhanced)).unwrap();
    std::fs::write(dir.join("config.json"), cfg.to_json()).unwrap();
    let e = load(&dir).unwrap_err();
    assert!(e.to_string().contains("\"film.fc1.bias\"") && e.to_string().contains("no such tensor"), "{e}");

    std::fs::write(dir.join("config.json"), "{\"variant\": \"trnet\", \"channels\": 5}").unwrap();
    let e = load(&dir).unwrap_err();
    assert_eq!(e.code(), "TRNET_INVALID_CONFIG");
    assert!(e.to_string().contains("config.json"), "{e}");

    std::fs::write(dir.join("config.json"), cfg.to_json()).unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let e = load(&dir).unwrap_err();
    assert_eq!(e.code(), "TRNET_CHECKPOINT_NOT_FOUND");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_few_adam_steps_lower_the_loss() {
    let (_ref_vs, reference) = reference();
    let (vs, m) = model(&tiny(Variant::Trnet), 13);
    let b = batch(4, 16, 16, 8);
    let mut opt = tch::nn::Adam::default().build(&vs, 1e-2).unwrap();
    let clean = CleanReference::new(&b.xs).encoder(reference.encoder()).mask(&b.mask);
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..30 {
        let out = m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe).mask(&b.mask), true).unwrap();
        let losses = m.losses(&out, &b.labels, Some(&clean)).unwrap();
        last = losses.values().unwrap().3;
        first.get_or_insert(last);
        opt.backward_step(&losses.total);
    }
    assert!(last < 0.5 * first.unwrap(), "{first:?} → {last}");
}

#[test]
fn paper_size_shapes() {
    let cfg = ModelConfig::paper(Variant::Trnet);
    let (vs, m) = model(&cfg, 14);
    let b = batch(2, 500, 80, 9);
    let out = tch::no_grad(|| m.forward_t(&Inputs::new(&b.x).enhanced(&b.xe).mask(&b.mask), false)).unwrap();
    assert_eq!(out.h.size(), [2, 256]);
    assert_eq!(out.logits.size(), [2, 4]);
    assert_eq!(out.attention.size(), [2, 32], "500 → 250 → 125 → 63 → 32 frames");
    let params: i64 = vs.trainable_variables().iter().map(Tensor::numel).map(|n| n as i64).sum();
    // convs 1·32·25 + 32·64·25 + 64·128·25 + 128·256·25, shortcuts, BN, attention, classifier, SNR FC, FiLM.
    assert!((1_100_000..1_200_000).contains(&params), "{params}");
}

/// Inference (eval mode under no_grad, as `evaluate` runs it) must give the same bits as the same forward
/// with gradient tracking (the residual blocks work in place in both; autograd must not mind).
#[test]
fn inference_without_gradients_gives_the_same_bits_as_with_them() {
    let b = batch(3, 24, 16, 2);
    let deep = |v| ModelConfig { convs_per_block: 2, attention_hidden: Some(6), ..tiny(v) };
    let identity_shortcut = |v| ModelConfig { stride: 1, channels: vec![4, 4, 8], ..tiny(v) };
    for config in Variant::ALL.iter().flat_map(|&v| [tiny(v), deep(v), identity_shortcut(v)]) {
        let (_vs, m) = model(&config, 7);
        let inputs = Inputs::new(&b.x).enhanced(&b.xe).mask(&b.mask);
        let tracked = m.forward_t(&inputs, false).unwrap();
        assert!(tracked.logits.requires_grad());
        let fast = tch::no_grad(|| m.forward_t(&inputs, false)).unwrap();
        assert!(!fast.logits.requires_grad());
        let same = |a: &Tensor, b: &Tensor| a.size() == b.size() && a.eq_tensor(b).all().int64_value(&[]) == 1;
        let v = config.variant;
        assert!(same(&tracked.logits, &fast.logits), "{v} {config:?}: logits differ");
        assert!(same(&tracked.h, &fast.h), "{v}: h differs");
        assert!(same(&tracked.attention, &fast.attention), "{v}: attention differs");
        if let (Some(a), Some(c)) = (&tracked.c, &fast.c) {
            assert!(same(a, c), "{v}: c differs");
        }
    }
}
