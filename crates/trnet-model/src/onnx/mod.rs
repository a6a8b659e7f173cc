//! ONNX export of a model's eval-mode forward pass (issue 13): one self-contained `.onnx` file (weights as
//! initializers, opset 17) that other runtimes (onnxruntime-web, Python) run without trnet. The protobuf is
//! written by hand (`proto`), the graph is built node by node from the tch weights (`graph`, `network`).
//!
//! The file records, in `metadata_props`, the variant, the model config, the trnet version and the input and
//! output names; the caller adds what the checkpoint does not know (class names, feature settings, the SE
//! front end), so that a user of the file can compute its inputs without trnet.

mod graph;
mod network;
mod proto;

use crate::config::Variant;
use crate::trnet::TrnetModel;
use crate::{Error, Result};
use proto::{Dim, Encode, FLOAT, GraphProto, ModelProto, ValueInfoProto};
use std::path::Path;
use trnet_dsp::files::{Durability, write_atomic};

pub use network::{C, PROBABILITIES, VALID_FRAMES, X, XE};

/// The operator set the graph is written against (ONNX Runtime ≥ 1.13, onnxruntime-web, PyTorch's exporter
/// default) and the IR version that goes with it.
pub const OPSET: i64 = 17;
pub const IR_VERSION: i64 = 8;

/// Metadata keys trnet writes itself; a caller's entry may not reuse them.
pub const RESERVED_KEYS: [&str; 5] = ["trnet.variant", "trnet.version", "trnet.modelConfig", "trnet.inputs", "trnet.outputs"];

/// The graph's input names for a variant, in order.
pub fn input_names(variant: Variant) -> Vec<&'static str> {
    network::inputs(variant)
}

/// The graph's output names for a variant, in order.
pub fn output_names(variant: Variant) -> Vec<&'static str> {
    if variant.has_snr_module() { vec![PROBABILITIES, C] } else { vec![PROBABILITIES] }
}

fn describe(name: &str) -> &'static str {
    match name {
        X => "log-Mel frames of the input audio, padded or cut to the trained frame count as in trnet.features",
        XE => "log-Mel frames of the SE front end's output for the same audio, padded like x",
        VALID_FRAMES => "number of leading frames of x (and xe) that are audio rather than padding (≥ 1)",
        PROBABILITIES => "softmax class probabilities, in the order of trnet.classes",
        _ => "the noise-level estimate c in [0, 1] of the SNR-aware module",
    }
}

/// The model as ONNX bytes, with `metadata` (key, value) pairs added to trnet's own.
pub fn to_bytes(model: &TrnetModel, metadata: &[(String, String)]) -> Result<Vec<u8>> {
    let cfg = model.config();
    let v = cfg.variant;
    for (i, (key, _)) in metadata.iter().enumerate() {
        if RESERVED_KEYS.contains(&key.as_str()) || metadata[..i].iter().any(|(k, _)| k == key) {
            return Err(Error::invalid(
                "ONNX metadata",
                format!("keys other than {} and each key once", RESERVED_KEYS.join(", ")),
                format!("key {key:?} twice or reserved"),
                "Rename or drop the entry; trnet writes the reserved ones itself.",
            ));
        }
    }
    let mut g = graph::Graph::default();
    tch::no_grad(|| network::emit(&mut g, model))?;
    let batch = || Dim::Param("batch".into());
    let inputs = input_names(v)
        .into_iter()
        .map(|name| ValueInfoProto {
            name: name.into(),
            elem_type: FLOAT,
            dims: if name == VALID_FRAMES { vec![batch()] } else { vec![batch(), Dim::Param("frames".into()), Dim::Value(cfg.n_mels as i64)] },
            doc: describe(name).into(),
        })
        .collect();
    let outputs = output_names(v)
        .into_iter()
        .map(|name| ValueInfoProto {
            name: name.into(),
            elem_type: FLOAT,
            dims: if name == PROBABILITIES { vec![batch(), Dim::Value(cfg.num_classes as i64)] } else { vec![batch()] },
            doc: describe(name).into(),
        })
        .collect();
    let mut props = vec![
        ("trnet.variant".to_string(), v.name().to_string()),
        ("trnet.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("trnet.modelConfig".to_string(), serde_json::to_string(cfg).map_err(|e| Error::invalid("model config", "JSON", e, "Report this."))?),
        ("trnet.inputs".to_string(), input_names(v).join(",")),
        ("trnet.outputs".to_string(), output_names(v).join(",")),
    ];
    props.extend(metadata.iter().cloned());
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset: OPSET,
        producer_name: "trnet".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc: format!("TRNet speech emotion recognition, variant {v}: log-Mel frames → class probabilities{}", if v.has_snr_module() { " and c" } else { "" }),
        graph: GraphProto { name: format!("trnet-{v}"), nodes: g.nodes, initializers: g.initializers, inputs, outputs },
        metadata: props,
    };
    Ok(model.to_bytes())
}

/// Writes the model to `path` atomically (a reader never sees a half-written file); returns its size in bytes.
pub fn export(model: &TrnetModel, path: &Path, metadata: &[(String, String)]) -> Result<usize> {
    let bytes = to_bytes(model, metadata)?;
    write_atomic(path, &bytes, Durability::Synced).map_err(Error::io("writing the ONNX model", path))?;
    Ok(bytes.len())
}
