//! Known-answer tests against PyTorch. The fixtures come from scripts/reference/gen_model_fixtures.py (see
//! its docstring for how to rerun it): an independent PyTorch statement of the same model, with seeded
//! float32 weights loaded here by parameter name, and expected outputs, losses, gradients of the total
//! loss for every trainable parameter, and (in training mode) BatchNorm running stats after the step, all
//! computed in float64.
//!
//! Each case runs twice: the model in float32 must match within 1e-4, and a float64 copy within 1e-9
//! (which pins the wiring down to rounding, not just to float32 noise).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use trnet_model::{CleanReference, Inputs, ModelConfig, Outputs, TrnetModel, checkpoint};

const TOL_F32: f64 = 1e-4;
const TOL_F64: f64 = 1e-9;

fn fixtures() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("tests/fixtures/model")
}

fn read(name: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}")).into_iter().collect()
}

struct Case {
    config: ModelConfig,
    train: bool,
    weights: String,
}

fn case(name: &str) -> Case {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Case {
        config: ModelConfig::from_json(&v["config"].to_string()).unwrap(),
        train: v["train"].as_bool().unwrap(),
        weights: v["weights"].as_str().unwrap().to_string(),
    }
}

/// Builds the case's model and copies the fixture weights into it by name (the fixture holds every
/// parameter of the config's largest variant; each variant takes the names it has).
fn build(config: &ModelConfig, weights: &HashMap<String, Tensor>, kind: Kind) -> (VarStore, TrnetModel) {
    let mut vs = VarStore::new(Device::Cpu);
    let model = TrnetModel::new(&vs.root(), config).unwrap();
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let src = weights.get(&name).unwrap_or_else(|| panic!("fixture has no weight {name}"));
            var.copy_(src);
        }
    });
    if kind == Kind::Double {
        vs.double();
    }
    (vs, model)
}

/// The frozen clean reference: a Baseline-c loaded through the strict checkpoint loader from the
/// Python-written file.
fn reference(kind: Kind) -> (VarStore, TrnetModel) {
    let config = checkpoint::read_config_file(&fixtures().join("reference.json")).unwrap();
    let mut vs = VarStore::new(Device::Cpu);
    let model = TrnetModel::new(&vs.root(), &config).unwrap();
    checkpoint::load_weights(&mut vs, &fixtures().join("reference.safetensors")).unwrap();
    if kind == Kind::Double {
        vs.double();
    }
    vs.freeze();
    (vs, model)
}

/// Largest |actual − expected|, after checking shapes agree.
fn max_diff(what: &str, actual: &Tensor, expected: &Tensor) -> f64 {
    assert_eq!(actual.size(), expected.size(), "{what}: shape");
    let d = (actual.to_kind(Kind::Double) - expected.to_kind(Kind::Double)).abs().max().double_value(&[]);
    assert!(d.is_finite(), "{what}: non-finite difference");
    d
}

fn output(out: &Outputs, key: &str) -> Option<Tensor> {
    match key {
        "logits" => Some(out.logits.shallow_clone()),
        "c" => out.c.as_ref().map(Tensor::shallow_clone),
        "x_tilde" => out.x_tilde.as_ref().map(Tensor::shallow_clone),
        "h" => Some(out.h.shallow_clone()),
        "h_tilde" => out.h_tilde.as_ref().map(Tensor::shallow_clone),
        "attention" => Some(out.attention.shallow_clone()),
        _ => panic!("unknown output {key}"),
    }
}

/// Runs one case in `kind` and returns the worst difference per group (out, loss, grad, after).
fn run(name: &str, kind: Kind) -> BTreeMap<&'static str, (f64, String)> {
    let case = case(name);
    let weights = read(&case.weights);
    let inputs = read("inputs.safetensors");
    let expected = read(&format!("{name}.safetensors"));
    let (vs, model) = build(&case.config, &weights, kind);
    let (ref_vs, reference) = reference(kind);

    let [x, xe, xs] = ["x", "xe", "xs"].map(|k| inputs[k].to_kind(kind));
    let (mask, labels) = (&inputs["mask"], &inputs["labels"]);
    let out = model.forward_t(&Inputs::new(&x).enhanced(&xe).mask(mask), case.train).unwrap();
    let clean = CleanReference::new(&xs).encoder(reference.encoder()).mask(mask);
    let losses = model.losses(&out, labels, Some(&clean)).unwrap();
    losses.total.backward();

    // The fixture's mask bites: utterance 1's last pooled frame is padding and gets no attention.
    assert_eq!(out.attention.double_value(&[1, -1]), 0.0, "{name}");
    assert!(out.attention.double_value(&[0, -1]) > 0.0, "{name}");

    let mut worst: BTreeMap<&'static str, (f64, String)> = BTreeMap::new();
    let mut note = |group: &'static str, key: &str, d: f64| {
        let e = worst.entry(group).or_insert((0.0, String::new()));
        if d >= e.0 {
            *e = (d, key.to_string());
        }
    };
    // Every output the model gives is in the fixture and every expected one is given.
    for key in ["logits", "c", "x_tilde", "h", "h_tilde", "attention"] {
        let full = format!("out.{key}");
        match (output(&out, key), expected.get(&full)) {
            (Some(a), Some(e)) => note("out", &full, max_diff(&full, &a, e)),
            (None, None) => {}
            (a, e) => panic!("{name}: {full}: model gives {}, fixture has {}", a.is_some(), e.is_some()),
        }
    }
    let terms = [("ce", Some(&losses.ce)), ("low", losses.low.as_ref()), ("high", losses.high.as_ref()), ("total", Some(&losses.total))];
    for (key, t) in terms {
        let full = format!("loss.{key}");
        match (t, expected.get(&full)) {
            (Some(a), Some(e)) => note("loss", &full, max_diff(&full, a, e)),
            (None, None) => {}
            (a, e) => panic!("{name}: {full}: model gives {}, fixture has {}", a.is_some(), e.is_some()),
        }
    }
    let vars = vs.variables();
    let trainable: Vec<&String> = vars.iter().filter(|(_, v)| v.requires_grad()).map(|(k, _)| k).collect();
    let expected_grads = expected.keys().filter(|k| k.starts_with("grad.")).count();
    assert_eq!(trainable.len(), expected_grads, "{name}: trainable parameters vs fixture gradients");
    for pname in trainable {
        let full = format!("grad.{pname}");
        let e = expected.get(&full).unwrap_or_else(|| panic!("{name}: fixture lacks {full}"));
        let g = vars[pname].grad();
        assert!(g.defined(), "{name}: {pname} got no gradient");
        note("grad", &full, max_diff(&full, &g, e));
    }
    if case.train {
        for (key, e) in expected.iter().filter(|(k, _)| k.starts_with("after.")) {
            let var = &vars[key.trim_start_matches("after.")];
            note("after", key, max_diff(key, var, e));
        }
    } else {
        assert!(!expected.keys().any(|k| k.starts_with("after.")));
    }
    // The frozen reference took no gradient.
    assert!(ref_vs.variables().values().all(|v| !v.grad().defined()), "{name}: the clean reference got gradients");
    worst
}

fn check(name: &str) {
    for (kind, tol) in [(Kind::Float, TOL_F32), (Kind::Double, TOL_F64)] {
        let worst = run(name, kind);
        for (group, (d, key)) in &worst {
            eprintln!("{name} {kind:?}: worst {group} difference {d:.3e} ({key})");
            assert!(*d <= tol, "{name} {kind:?}: {key} differs by {d:e} > {tol:e}");
        }
        assert!(worst.contains_key("grad") && worst.contains_key("loss") && worst.contains_key("out"));
    }
}

#[test]
fn trnet_eval_matches_pytorch() {
    check("trnet-eval");
}

#[test]
fn trnet_train_mode_matches_pytorch_including_running_stats() {
    check("trnet-train");
}

#[test]
fn trnet_with_raw_classifier_input_matches_pytorch() {
    check("trnet-raw-eval");
}

#[test]
fn trnet_without_low_matches_pytorch() {
    check("trnet-no-low-eval");
    check("trnet-no-low-mixed-eval");
}

#[test]
fn trnet_without_high_matches_pytorch() {
    check("trnet-no-high-eval");
}

#[test]
fn baselines_match_pytorch() {
    check("baseline-e-eval");
    check("baseline-n-train");
}

#[test]
fn two_convs_per_block_and_hidden_attention_match_pytorch() {
    check("deep-train");
}
