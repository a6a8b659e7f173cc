//! Graph rewrites that make ONNX Runtime's CPU run of a model cheaper without changing what it computes, applied
//! to the session's in-memory copy of the graph (the file on disk, and so its SHA-256, stays as it is). Written
//! for GTCRN's whole-utterance export, where per-node overhead and a few slow kernel choices cost more than the
//! arithmetic; each rewrite matches a narrow pattern and leaves any graph that does not match it as it is.
//!
//! - `pads_into_convs`: a constant zero `Pad` feeding a `Conv` becomes the Conv's own padding (GTCRN's causal
//!   time padding before each dilated depthwise conv). Besides the Pad itself, ONNX Runtime's NCHWc layout then
//!   no longer converts the tensor out of and back into its blocked layout around it.
//! - `dense_grouped_convs`: a grouped (not depthwise) `Conv` with few groups becomes an ordinary one with
//!   zero-filled block-diagonal weights, which ONNX Runtime runs on its NCHWc path instead of a per-group im2col
//!   (GTCRN's `en_convs.1`, 2 groups of 8 channels: 0.59 → 0.23 ms on a 5-s clip).
//! - `strided_transposed_convs_as_phases`: a stride-2 `ConvTranspose` becomes one `Conv` computing the even and
//!   odd output columns, interleaved by a Transpose (GTCRN's `de_convs.3`: 0.68 → 0.31 ms).
//! - `linear_layers_as_gemm`: `MatMul` by a weight matrix then `Add` of a bias, read only by a `Reshape`,
//!   becomes one `Gemm` on the rows (ONNX Runtime fuses MatMul+Add only for 2-D inputs; its broadcasting Add
//!   over a [frames, bins, 16] tensor cost more than the MatMul).
//! - `zero_initial_states`: a GRU's all-zero `initial_h` is dropped (zeros is ONNX's default), and with it the
//!   shape arithmetic that sized it; `drop_dead_nodes` then removes whatever no longer has a reader.
//!
//! Only graphs with a dynamic input dimension (whole utterances; GTCRN's streaming export, one frame per call,
//! ran slower rewritten) and a default-domain opset of 11 or later are rewritten. Every rewrite computes the same
//! function; outputs differ only by the float rounding of the kernels ONNX Runtime then picks (the dense conv
//! adds exact zeros; Gemm and the phase conv sum the same products), measured within 7e-7 on GTCRN's output.
//! `TRNET_GRAPH_REWRITES=0` turns them off (`onnx::SessionOptions::graph_rewrites`).
//! Field numbers as in `onnx_rewrite`; TensorProto: dims = 1, data_type = 2, float_data = 4, name = 8,
//! raw_data = 9, data_location = 14.

use crate::onnx_rewrite::{
    Field, Node, attribute, fields, fields_of, int64_tensor, ints_attribute, packed_varints, parse_node, put_bytes, put_key, put_varint,
};
use std::collections::{HashMap, HashSet};

/// What [`fuse`] did.
#[derive(Debug, Default)]
pub struct Fused {
    /// The rewritten model, or None when nothing matched (use the bytes as they were).
    pub bytes: Option<Vec<u8>>,
    /// One line per rewrite applied, naming the nodes.
    pub applied: Vec<String>,
}

/// A pass: reads the graph, records what it changes.
type Pass = fn(&Graph) -> Result<Edits, String>;

/// Runs every rewrite in turn (each on the previous one's output), then drops nodes whose outputs nothing reads
/// any more. Err says where the bytes stop being a valid ONNX protobuf.
pub fn fuse(model: &[u8]) -> Result<Fused, String> {
    // The nodes the passes write (Pad and Slice with their amounts as inputs, Gemm broadcasting its bias) are
    // those of opset 11 on; an older model is left as it is.
    if default_opset(model)?.is_none_or(|v| v < MIN_OPSET) {
        return Ok(Fused::default());
    }
    // The rewrites pay on whole-utterance tensors; a graph whose inputs are all fixed-size (a streaming export
    // run one frame per call, where per-node overhead dominates) ran slower with them: GTCRN's streaming export
    // took 3-10 % longer per utterance.
    if !Graph::parse(model)?.dynamic_input {
        return Ok(Fused::default());
    }
    let passes: [Pass; 5] = [pads_into_convs, dense_grouped_convs, strided_transposed_convs_as_phases, linear_layers_as_gemm, zero_initial_states];
    let mut current: Option<Vec<u8>> = None;
    let mut applied = Vec::new();
    for pass in passes {
        let bytes = current.as_deref().unwrap_or(model);
        let graph = Graph::parse(bytes)?;
        if !graph.rewritable() {
            return Ok(Fused { bytes: None, applied: Vec::new() });
        }
        let edits = pass(&graph)?;
        if edits.notes.is_empty() {
            continue;
        }
        applied.extend(edits.notes.iter().cloned());
        current = Some(graph.rebuild(bytes, &edits)?);
    }
    if let Some(bytes) = current.take() {
        let graph = Graph::parse(&bytes)?;
        let edits = drop_dead_nodes(&graph);
        current = Some(if edits.nodes.is_empty() { bytes.clone() } else { graph.rebuild(&bytes, &edits)? });
    }
    Ok(Fused { bytes: current, applied })
}

/// The oldest default-domain opset the rewrites apply to.
const MIN_OPSET: i64 = 11;

/// The model's ONNX (default domain) opset version, from ModelProto.opset_import (8): OperatorSetIdProto
/// domain = 1, version = 2.
fn default_opset(model: &[u8]) -> Result<Option<i64>, String> {
    let mut version = None;
    for f in fields(model).map_err(|e| format!("ModelProto: {e}"))?.iter().filter(|f| f.number == 8) {
        let Some(set) = f.bytes(model) else { continue };
        let set_fields = fields_of(set, "OperatorSetIdProto")?;
        let domain = string_field(set, &set_fields, 1);
        if domain.is_empty() || domain == "ai.onnx" {
            version = set_fields.iter().find(|s| s.number == 2).and_then(|s| s.varint).map(|v| v as i64);
        }
    }
    Ok(version)
}

/// The top-level graph with the indexes the passes need.
struct Graph<'a> {
    /// The GraphProto payload and its fields.
    bytes: &'a [u8],
    fields: Vec<Field>,
    nodes: Vec<Node<'a>>,
    /// TensorProto payloads by name.
    initializers: HashMap<String, &'a [u8]>,
    outputs: HashSet<String>,
    producer: HashMap<String, usize>,
    consumers: HashMap<String, Vec<usize>>,
    /// Some initializer keeps its data in an external file.
    external: bool,
    /// Some graph input has a dimension of unknown size (a `dim_param`, or none given).
    dynamic_input: bool,
}

/// Changes to a graph: node i replaced by the listed nodes (none: dropped), initializers appended, and the type
/// hints (value_info) of values whose shape changed dropped.
#[derive(Default)]
struct Edits {
    nodes: HashMap<usize, Vec<Vec<u8>>>,
    initializers: Vec<Vec<u8>>,
    reshaped: HashSet<String>,
    notes: Vec<String>,
}

impl<'a> Graph<'a> {
    fn parse(model: &'a [u8]) -> Result<Self, String> {
        let top = fields(model).map_err(|e| format!("ModelProto: {e}"))?;
        let graphs: Vec<&Field> = top.iter().filter(|f| f.number == 7).collect();
        let [graph] = graphs.as_slice() else {
            return Err(format!("ModelProto has {} graph fields where one was expected", graphs.len()));
        };
        let bytes = graph.bytes(model).ok_or("ModelProto.graph is not length-delimited")?;
        let fields = fields_of(bytes, "GraphProto")?;
        let mut g = Graph {
            bytes,
            fields: Vec::new(),
            nodes: Vec::new(),
            initializers: HashMap::new(),
            outputs: HashSet::new(),
            producer: HashMap::new(),
            consumers: HashMap::new(),
            external: false,
            dynamic_input: false,
        };
        for f in &fields {
            let payload = || f.bytes(bytes).ok_or(format!("GraphProto field {} is not length-delimited", f.number));
            match f.number {
                1 => g.nodes.push(parse_node(payload()?)?),
                5 => {
                    let tensor = payload()?;
                    let tf = fields_of(tensor, "TensorProto")?;
                    g.external |= tf.iter().any(|t| t.number == 14 && t.varint == Some(1));
                    g.initializers.insert(string_field(tensor, &tf, 8), tensor);
                }
                11 => g.dynamic_input |= has_dynamic_dim(payload()?)?,
                12 => {
                    let info = payload()?;
                    g.outputs.insert(string_field(info, &fields_of(info, "ValueInfoProto")?, 1));
                }
                _ => {}
            }
        }
        g.fields = fields;
        for (i, n) in g.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                g.producer.insert(o.clone(), i);
            }
            for name in n.inputs.iter().filter(|s| !s.is_empty()) {
                g.consumers.entry(name.clone()).or_default().push(i);
            }
        }
        Ok(g)
    }

    /// Rewrites remove and rename values; a subgraph (If/Loop body) could read any of them by name, and a
    /// session made from memory cannot find external weight files: such models are left alone.
    fn rewritable(&self) -> bool {
        !self.external && !self.nodes.iter().any(|n| n.subgraph)
    }

    /// The one node reading `name`, if it is an intermediate value read exactly once.
    fn only_reader(&self, name: &str) -> Option<usize> {
        match self.consumers.get(name).map(Vec::as_slice) {
            Some(&[i]) if !self.outputs.contains(name) => Some(i),
            _ => None,
        }
    }

    fn has_value(&self, name: &str) -> bool {
        self.producer.contains_key(name) || self.initializers.contains_key(name) || self.consumers.contains_key(name)
    }

    /// The model with `edits` applied: nodes replaced in place, new initializers after the existing ones.
    fn rebuild(&self, model: &[u8], edits: &Edits) -> Result<Vec<u8>, String> {
        let mut graph = Vec::with_capacity(self.bytes.len() + 1024);
        let mut index = 0;
        for f in &self.fields {
            if f.number == 1 {
                let edit = edits.nodes.get(&index);
                index += 1;
                if let Some(replacements) = edit {
                    for node in replacements {
                        put_bytes(&mut graph, 1, node);
                    }
                    continue;
                }
            }
            if f.number == 13 && !edits.reshaped.is_empty() {
                let info = f.bytes(self.bytes).ok_or("GraphProto.value_info is not length-delimited")?;
                if edits.reshaped.contains(&string_field(info, &fields_of(info, "ValueInfoProto")?, 1)) {
                    continue;
                }
            }
            graph.extend_from_slice(&self.bytes[f.raw.clone()]);
        }
        for tensor in &edits.initializers {
            put_bytes(&mut graph, 5, tensor);
        }
        let mut out = Vec::with_capacity(model.len() + 1024);
        for f in fields(model).map_err(|e| format!("ModelProto: {e}"))? {
            if f.number == 7 {
                put_bytes(&mut out, 7, &graph);
            } else {
                out.extend_from_slice(&model[f.raw.clone()]);
            }
        }
        Ok(out)
    }

    /// An int64 value computable from constants alone: initializers, Constant nodes and the shape arithmetic
    /// exporters build from them (PyTorch's `F.pad` builds its pads with ConstantOfShape, Concat, Reshape,
    /// Slice with a negative step, Transpose and Cast). None if anything on the way is not constant or not
    /// understood.
    fn constant_ints(&self, name: &str) -> Option<Ints> {
        self.evaluate(name, 0)
    }

    fn evaluate(&self, name: &str, depth: usize) -> Option<Ints> {
        if depth > 32 {
            return None;
        }
        let Some(&i) = self.producer.get(name) else {
            return int_tensor(self.initializers.get(name)?);
        };
        let n = &self.nodes[i];
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return None;
        }
        let input = |k: usize| n.inputs.get(k).filter(|s| !s.is_empty()).and_then(|s| self.evaluate(s, depth + 1));
        let attr = |a: &str| attribute(n.bytes, a).ok().flatten();
        match n.op_type.as_str() {
            "Constant" => {
                if let Some(t) = attr("value").and_then(|a| a.tensor) {
                    int_tensor(t)
                } else {
                    attr("value_ints").map(|a| Ints { shape: vec![a.ints.len()], values: a.ints })
                }
            }
            "ConstantOfShape" => {
                let shape = input(0)?;
                let fill = match attr("value") {
                    Some(a) => int_tensor(a.tensor?)?.values.first().copied()?,
                    None => return None, // float zeros
                };
                let shape: Vec<usize> = shape.values.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
                let count = shape.iter().product::<usize>();
                (count <= 4096).then(|| Ints { shape, values: vec![fill; count] })
            }
            "Cast" => {
                // Between integer types the values are unchanged (these are small shape values).
                let to = attr("to")?.int?;
                matches!(to, 6 | 7).then_some(())?;
                input(0)
            }
            "Concat" => {
                let parts: Vec<Ints> = (0..n.inputs.len()).map(input).collect::<Option<_>>()?;
                concat(&parts, attr("axis")?.int?)
            }
            "Reshape" => reshape(input(0)?, &input(1)?.values, attr("allowzero").and_then(|a| a.int).unwrap_or(0) != 0),
            "Slice" => {
                let data = input(0)?;
                let (starts, ends) = (input(1)?.values, input(2)?.values);
                let axes = match n.inputs.get(3).filter(|s| !s.is_empty()) {
                    Some(_) => input(3)?.values,
                    None => (0..starts.len() as i64).collect(),
                };
                let steps = match n.inputs.get(4).filter(|s| !s.is_empty()) {
                    Some(_) => input(4)?.values,
                    None => vec![1; starts.len()],
                };
                slice(&data, &starts, &ends, &axes, &steps)
            }
            "Transpose" => {
                let data = input(0)?;
                let perm = match attr("perm") {
                    Some(a) => a.ints,
                    None => (0..data.shape.len() as i64).rev().collect(),
                };
                transpose(&data, &perm)
            }
            _ => None,
        }
    }
}

/// A small int64 tensor (shape arithmetic).
#[derive(Debug, Clone, PartialEq)]
struct Ints {
    shape: Vec<usize>,
    values: Vec<i64>,
}

/// Whether a ValueInfoProto declares a tensor with a dimension of unknown size: ValueInfoProto.type = 2,
/// TypeProto.tensor_type = 1, Tensor.shape = 2, TensorShapeProto.dim = 1, Dimension.dim_value = 1. A tensor
/// without a shape counts as dynamic.
fn has_dynamic_dim(info: &[u8]) -> Result<bool, String> {
    let child = |message: &[u8], number: u32, what: &str| -> Result<Option<Vec<u8>>, String> {
        Ok(fields_of(message, what)?.into_iter().find(|f| f.number == number).and_then(|f| f.bytes(message).map(<[u8]>::to_vec)))
    };
    let Some(ty) = child(info, 2, "ValueInfoProto")? else { return Ok(false) };
    let Some(tensor) = child(&ty, 1, "TypeProto")? else { return Ok(false) };
    let Some(shape) = child(&tensor, 2, "TypeProto.Tensor")? else { return Ok(true) };
    for dim in fields_of(&shape, "TensorShapeProto")?.iter().filter(|f| f.number == 1) {
        let dim = dim.bytes(&shape).ok_or("TensorShapeProto.dim is not length-delimited")?;
        if !fields_of(dim, "Dimension")?.iter().any(|f| f.number == 1 && f.varint.is_some()) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn string_field(message: &[u8], fields: &[Field], number: u32) -> String {
    fields.iter().find(|f| f.number == number).and_then(|f| f.bytes(message)).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

/// A TensorProto's dims (field 1, packed or not).
fn dims_of(tensor: &[u8]) -> Option<Vec<i64>> {
    let mut dims = Vec::new();
    for f in fields(tensor).ok()? {
        match (f.number, f.varint, f.bytes(tensor)) {
            (1, Some(v), _) => dims.push(v as i64),
            (1, _, Some(packed)) => dims.extend(packed_varints(packed).ok()?),
            _ => {}
        }
    }
    Some(dims)
}

fn int_tensor(tensor: &[u8]) -> Option<Ints> {
    let values = int64_tensor(tensor)?;
    let shape: Vec<usize> = dims_of(tensor)?.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    (shape.iter().product::<usize>() == values.len()).then_some(Ints { shape, values })
}

/// A float32 initializer's dims and values (raw_data, or packed float_data); None for anything else.
fn float_tensor(tensor: &[u8]) -> Option<(Vec<usize>, Vec<f32>)> {
    let fields = fields(tensor).ok()?;
    if !fields.iter().any(|f| f.number == 2 && f.varint == Some(1)) {
        return None;
    }
    let mut values = Vec::new();
    for f in &fields {
        match (f.number, f.bytes(tensor)) {
            (4 | 9, Some(raw)) if raw.len() % 4 == 0 => values.extend(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))),
            // Unpacked float_data (wire type 5) carries no payload range here: not read.
            (4, None) => return None,
            _ => {}
        }
    }
    let dims: Vec<usize> = dims_of(tensor)?.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    (dims.iter().product::<usize>() == values.len()).then_some((dims, values))
}

fn tensor_bytes(name: &str, dims: &[usize], data_type: u64, raw: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(raw.len() + name.len() + 32);
    for &d in dims {
        put_key(&mut t, 1, 0);
        put_varint(&mut t, d as u64);
    }
    put_key(&mut t, 2, 0);
    put_varint(&mut t, data_type);
    put_bytes(&mut t, 8, name.as_bytes());
    put_bytes(&mut t, 9, raw);
    t
}

fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    strides
}

/// out[i0, i1, ...] = data[pick[0][i0], pick[1][i1], ...] with the axes taken in `axes` order.
fn gather(data: &Ints, axes: &[usize], pick: &[Vec<usize>]) -> Ints {
    let strides = row_major_strides(&data.shape);
    let shape: Vec<usize> = pick.iter().map(Vec::len).collect();
    let count = shape.iter().product::<usize>();
    let mut values = Vec::with_capacity(count);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..count {
        let offset: usize = index.iter().enumerate().map(|(k, &i)| pick[k][i] * strides[axes[k]]).sum();
        values.push(data.values[offset]);
        for k in (0..index.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    Ints { shape, values }
}

fn axis(a: i64, rank: usize) -> Option<usize> {
    let a = if a < 0 { a + rank as i64 } else { a };
    usize::try_from(a).ok().filter(|&a| a < rank)
}

fn concat(parts: &[Ints], along: i64) -> Option<Ints> {
    let first = parts.first()?;
    let rank = first.shape.len();
    let along = axis(along, rank)?;
    let same_elsewhere = |p: &Ints| p.shape.len() == rank && (0..rank).all(|k| k == along || p.shape[k] == first.shape[k]);
    if !parts.iter().all(same_elsewhere) {
        return None;
    }
    let outer: usize = first.shape[..along].iter().product();
    let mut shape = first.shape.clone();
    shape[along] = parts.iter().map(|p| p.shape[along]).sum();
    let mut values = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for p in parts {
            let block: usize = p.shape[along..].iter().product();
            values.extend_from_slice(&p.values[o * block..(o + 1) * block]);
        }
    }
    Some(Ints { shape, values })
}

fn reshape(data: Ints, target: &[i64], allowzero: bool) -> Option<Ints> {
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (k, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(k);
                shape.push(1);
            }
            0 if !allowzero => shape.push(*data.shape.get(k)?),
            d => shape.push(usize::try_from(d).ok()?),
        }
    }
    let known: usize = shape.iter().product();
    if let Some(k) = infer {
        if known == 0 || !data.values.len().is_multiple_of(known) {
            return None;
        }
        shape[k] = data.values.len() / known;
    }
    (shape.iter().product::<usize>() == data.values.len()).then_some(Ints { shape, values: data.values })
}

/// ONNX Slice: out-of-range starts and ends are clamped; a negative step walks backwards.
fn slice(data: &Ints, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> Option<Ints> {
    let rank = data.shape.len();
    if ![ends.len(), axes.len(), steps.len()].iter().all(|&l| l == starts.len()) {
        return None;
    }
    let mut pick: Vec<Vec<usize>> = data.shape.iter().map(|&d| (0..d).collect()).collect();
    for k in 0..starts.len() {
        let a = axis(axes[k], rank)?;
        let (d, step) = (data.shape[a] as i64, steps[k]);
        if step == 0 {
            return None;
        }
        let wrap = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (mut i, end) =
            if step > 0 { (wrap(starts[k]).clamp(0, d), wrap(ends[k]).clamp(0, d)) } else { (wrap(starts[k]).clamp(0, d - 1), wrap(ends[k]).clamp(-1, d - 1)) };
        let mut chosen = Vec::new();
        while (step > 0 && i < end) || (step < 0 && i > end) {
            chosen.push(i as usize);
            i += step;
        }
        pick[a] = chosen;
    }
    let axes: Vec<usize> = (0..rank).collect();
    Some(gather(data, &axes, &pick))
}

fn transpose(data: &Ints, perm: &[i64]) -> Option<Ints> {
    let rank = data.shape.len();
    let perm: Vec<usize> = perm.iter().map(|&p| axis(p, rank)).collect::<Option<_>>()?;
    let mut seen = vec![false; rank];
    if perm.len() != rank || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
        return None;
    }
    let pick: Vec<Vec<usize>> = perm.iter().map(|&p| (0..data.shape[p]).collect()).collect();
    Some(gather(data, &perm, &pick))
}

// ---------------------------------------------------------------------------------------------------------
// Building and editing nodes.

fn int_attribute(name: &str, value: i64) -> Vec<u8> {
    let mut a = Vec::new();
    put_bytes(&mut a, 1, name.as_bytes());
    put_key(&mut a, 3, 0);
    put_varint(&mut a, value as u64);
    // AttributeProto.type = INT (2).
    put_key(&mut a, 20, 0);
    put_varint(&mut a, 2);
    a
}

fn new_node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attributes: &[Vec<u8>]) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        put_bytes(&mut n, 1, i.as_bytes());
    }
    for o in outputs {
        put_bytes(&mut n, 2, o.as_bytes());
    }
    put_bytes(&mut n, 3, name.as_bytes());
    put_bytes(&mut n, 4, op.as_bytes());
    for a in attributes {
        put_bytes(&mut n, 5, a);
    }
    n
}

/// A copy of `node` with input k replaced for each (k, name) in `inputs`, the attributes named in `drop`
/// removed and `add` appended.
fn edit_node(node: &[u8], inputs: &[(usize, &str)], drop: &[&str], add: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(node.len() + 64);
    let mut input = 0;
    for f in fields_of(node, "NodeProto")? {
        match f.number {
            1 => {
                match inputs.iter().find(|(k, _)| *k == input) {
                    Some((_, name)) => put_bytes(&mut out, 1, name.as_bytes()),
                    None => out.extend_from_slice(&node[f.raw.clone()]),
                }
                input += 1;
            }
            5 => {
                let a = f.bytes(node).ok_or("NodeProto.attribute is not length-delimited")?;
                let name = string_field(a, &fields_of(a, "AttributeProto")?, 1);
                if !drop.contains(&name.as_str()) {
                    out.extend_from_slice(&node[f.raw.clone()]);
                }
            }
            _ => out.extend_from_slice(&node[f.raw.clone()]),
        }
    }
    for a in add {
        put_bytes(&mut out, 5, a);
    }
    Ok(out)
}

fn node_name(node: &Node) -> String {
    let name = fields(node.bytes).ok().map(|f| string_field(node.bytes, &f, 3)).unwrap_or_default();
    if name.is_empty() { format!("an unnamed {}", node.op_type) } else { name }
}

/// A name not yet used in the graph, derived from `base`.
fn fresh(g: &Graph, taken: &mut HashSet<String>, base: &str) -> String {
    let mut name = format!("{base}::trnet");
    let mut k = 1;
    while g.has_value(&name) || taken.contains(&name) {
        k += 1;
        name = format!("{base}::trnet{k}");
    }
    taken.insert(name.clone());
    name
}

// ---------------------------------------------------------------------------------------------------------
// The passes.

/// `Pad` (constant mode, zero fill, constant non-negative pads on the spatial axes only) whose output only a
/// `Conv` reads: the Conv pads with zeros itself, so adding the Pad's amounts to the Conv's `pads` (which may
/// differ at the two ends of an axis) gives the same result without the padded copy.
fn pads_into_convs(g: &Graph) -> Result<Edits, String> {
    let mut edits = Edits::default();
    for (i, pad) in g.nodes.iter().enumerate() {
        if !pad.is("Pad") || edits.nodes.contains_key(&i) {
            continue;
        }
        let mode = attribute(pad.bytes, "mode")?.and_then(|a| a.string.map(<[u8]>::to_vec));
        // A fill value or an axes input: not the plain zero padding a Conv does.
        let plain = pad.inputs.len() >= 2 && pad.inputs.iter().skip(2).all(String::is_empty);
        if !(plain && mode.as_deref().is_none_or(|m| m == b"constant")) {
            continue;
        }
        let Some(pads) = g.constant_ints(&pad.inputs[1]).map(|p| p.values) else { continue };
        let Some(out) = pad.outputs.first() else { continue };
        let Some(c) = g.only_reader(out) else { continue };
        let conv = &g.nodes[c];
        // 4-D input: pads [n, c, h, w begins, n, c, h, w ends]; batch and channels must not be padded.
        if !conv.is("Conv") || conv.inputs.first() != Some(out) || edits.nodes.contains_key(&c) || pads.len() != 8 {
            continue;
        }
        if pads.iter().any(|&p| p < 0) || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 {
            continue;
        }
        let auto_pad = attribute(conv.bytes, "auto_pad")?.and_then(|a| a.string.map(<[u8]>::to_vec));
        if auto_pad.as_deref().is_some_and(|a| a != b"NOTSET") {
            continue;
        }
        let own = attribute(conv.bytes, "pads")?.map(|a| a.ints).unwrap_or_else(|| vec![0; 4]);
        if own.len() != 4 {
            continue;
        }
        let merged = [own[0] + pads[2], own[1] + pads[3], own[2] + pads[6], own[3] + pads[7]];
        let conv_bytes = edit_node(conv.bytes, &[(0, &pad.inputs[0])], &["pads"], &[ints_attribute("pads", &merged)])?;
        edits.nodes.insert(i, Vec::new());
        edits.nodes.insert(c, vec![conv_bytes]);
        edits.notes.push(format!("Pad {} folded into the pads of Conv {} ({own:?} -> {merged:?})", node_name(pad), node_name(conv)));
    }
    Ok(edits)
}

/// The most groups [`dense_grouped_convs`] merges: the dense conv does `groups` times the multiply-adds (the
/// zero blocks), which the faster path repays only for a few groups.
const MAX_DENSE_GROUPS: i64 = 4;

/// A `Conv` with 2..=[`MAX_DENSE_GROUPS`] groups of more than one input channel (depthwise convs have their
/// own fast path) and float32 weights in an initializer becomes a group-1 Conv whose weights are
/// block-diagonal: output channel o of group k reads only group k's inputs, the other weights being exact zeros.
fn dense_grouped_convs(g: &Graph) -> Result<Edits, String> {
    let mut edits = Edits::default();
    let mut taken = HashSet::new();
    for (i, conv) in g.nodes.iter().enumerate() {
        if !conv.is("Conv") {
            continue;
        }
        let groups = attribute(conv.bytes, "group")?.and_then(|a| a.int).unwrap_or(1);
        if !(2..=MAX_DENSE_GROUPS).contains(&groups) {
            continue;
        }
        let Some(weight) = conv.inputs.get(1) else { continue };
        // A weight another node also reads, or one that is not a float32 initializer, stays as it is.
        let Some((dims, w)) = g.initializers.get(weight.as_str()).filter(|_| g.consumers.get(weight).map(Vec::len) == Some(1)).and_then(|t| float_tensor(t))
        else {
            continue;
        };
        let groups = groups as usize;
        let (outputs, per_group) = (dims.first().copied().unwrap_or(0), dims.get(1).copied().unwrap_or(0));
        if dims.len() < 3 || per_group < 2 || outputs % groups != 0 {
            continue;
        }
        let kernel: usize = dims[2..].iter().product();
        let inputs = per_group * groups;
        let mut dense = vec![0f32; outputs * inputs * kernel];
        let outputs_per_group = outputs / groups;
        for o in 0..outputs {
            let k = o / outputs_per_group;
            let from = &w[o * per_group * kernel..(o + 1) * per_group * kernel];
            let at = (o * inputs + k * per_group) * kernel;
            dense[at..at + per_group * kernel].copy_from_slice(from);
        }
        let name = fresh(g, &mut taken, &format!("{weight}_dense"));
        let mut dense_dims = dims.clone();
        dense_dims[1] = inputs;
        let raw: Vec<u8> = dense.iter().flat_map(|v| v.to_le_bytes()).collect();
        edits.initializers.push(tensor_bytes(&name, &dense_dims, 1, &raw));
        edits.nodes.insert(i, vec![edit_node(conv.bytes, &[(1, &name)], &["group"], &[])?]);
        edits.notes.push(format!("Conv {} with {groups} groups made dense ({outputs}x{inputs} block-diagonal weights)", node_name(conv)));
    }
    Ok(edits)
}

/// `MatMul(X, W)` with W a float32 initializer [K, N], then `Add` of a float32 initializer bias [N], whose
/// result only a `Reshape` reads: `Gemm(Reshape(X, [-1, K]), W, bias)` gives the same rows, which that
/// Reshape shapes as before. Its target shape must not copy dims from its input ("0" entries), whose shape
/// changes here: it is a constant without zeros, or it comes from a `Shape` node (a tensor's sizes).
fn linear_layers_as_gemm(g: &Graph) -> Result<Edits, String> {
    let mut edits = Edits::default();
    let mut taken = HashSet::new();
    for (i, matmul) in g.nodes.iter().enumerate() {
        if !matmul.is("MatMul") || matmul.inputs.len() != 2 {
            continue;
        }
        let weight = &matmul.inputs[1];
        let Some((dims, _)) = g.initializers.get(weight.as_str()).and_then(|t| float_tensor(t)) else { continue };
        let &[k, n] = dims.as_slice() else { continue };
        let Some(out) = matmul.outputs.first() else { continue };
        let Some(a) = g.only_reader(out) else { continue };
        let add = &g.nodes[a];
        if !add.is("Add") || add.inputs.len() != 2 || edits.nodes.contains_key(&a) {
            continue;
        }
        let bias = if add.inputs[0] == *out { &add.inputs[1] } else { &add.inputs[0] };
        let Some((bias_dims, _)) = g.initializers.get(bias.as_str()).and_then(|t| float_tensor(t)) else { continue };
        if bias_dims != [n] {
            continue;
        }
        let Some(sum) = add.outputs.first() else { continue };
        let Some(r) = g.only_reader(sum) else { continue };
        let reshape = &g.nodes[r];
        if !reshape.is("Reshape") || reshape.inputs.first() != Some(sum) {
            continue;
        }
        let allowzero = attribute(reshape.bytes, "allowzero")?.and_then(|a| a.int).unwrap_or(0) != 0;
        let target = reshape.inputs.get(1).map(String::as_str).unwrap_or_default();
        let from_shape = g.producer.get(target).is_some_and(|&p| g.nodes[p].is("Shape") && attribute(g.nodes[p].bytes, "start").ok().flatten().is_none());
        let safe = from_shape || allowzero || g.constant_ints(target).is_some_and(|t| !t.values.contains(&0));
        if !safe {
            continue;
        }
        let name = node_name(matmul);
        let shape = fresh(g, &mut taken, &format!("{name}_rows_shape"));
        let rows = fresh(g, &mut taken, &format!("{name}_rows"));
        let raw: Vec<u8> = [-1i64, k as i64].iter().flat_map(|v| v.to_le_bytes()).collect();
        edits.initializers.push(tensor_bytes(&shape, &[2], 7, &raw));
        let to_rows = new_node("Reshape", &rows, &[&matmul.inputs[0], &shape], &[&rows], &[]);
        let gemm = new_node("Gemm", &fresh(g, &mut taken, &format!("{name}_gemm")), &[&rows, weight, bias], &[sum], &[]);
        edits.nodes.insert(i, vec![to_rows, gemm]);
        edits.nodes.insert(a, Vec::new());
        // Now [rows, N]: a recorded shape for it would contradict the Gemm.
        edits.reshaped.insert(sum.clone());
        edits.notes.push(format!("MatMul {name} + Add {} as Gemm on [-1, {k}] rows", node_name(add)));
    }
    Ok(edits)
}

/// The fewest output channels [`strided_transposed_convs_as_phases`] rewrites: with fewer (GTCRN's last layer,
/// 16 → 2 channels) the two-phase Conv is too narrow for ONNX Runtime's blocked layout and was measured no faster.
const MIN_PHASE_OUTPUTS: usize = 8;

/// `ConvTranspose` with stride 2 along the last axis only, kernel [1, K], no dilation or output padding and
/// float32 initializer weights (any groups): each output column o = 2m + r takes the kernel taps k with
/// o = 2i - pad_begin + k, so the even (r = 0) and odd (r = 1) columns are each an ordinary convolution of the
/// input with some of the taps. One Conv computes both phases as 2 x C output channels (zero where a phase
/// has no tap), and Reshape, Transpose and Reshape interleave them into columns 0, 1, 2, ...; a Slice drops the
/// last column when the transposed conv's output is odd-sized. ONNX Runtime runs the Conv on its NCHWc path,
/// where its ConvTranspose kernel scatters every column separately (GTCRN's `de_convs.3`, 16 → 16 channels in
/// 2 groups: 0.80 ms → 0.17 ms Conv + 0.12 ms Transpose + 0.05 ms Slice).
fn strided_transposed_convs_as_phases(g: &Graph) -> Result<Edits, String> {
    let mut edits = Edits::default();
    let mut taken = HashSet::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if !node.is("ConvTranspose") || node.inputs.len() < 2 || node.outputs.len() != 1 {
            continue;
        }
        let ints = |name: &str| -> Result<Option<Vec<i64>>, String> { Ok(attribute(node.bytes, name)?.map(|a| a.ints)) };
        let auto_pad = attribute(node.bytes, "auto_pad")?.and_then(|a| a.string.map(<[u8]>::to_vec));
        let simple = auto_pad.as_deref().is_none_or(|a| a == b"NOTSET")
            && ints("strides")?.as_deref() == Some(&[1, 2])
            && ints("dilations")?.is_none_or(|d| d == [1, 1])
            && ints("output_padding")?.is_none_or(|d| d.iter().all(|&v| v == 0))
            && ints("output_shape")?.is_none();
        if !simple {
            continue;
        }
        let pads = ints("pads")?.unwrap_or_else(|| vec![0; 4]);
        let groups = attribute(node.bytes, "group")?.and_then(|a| a.int).unwrap_or(1);
        let (weight, bias) = (&node.inputs[1], node.inputs.get(2).filter(|b| !b.is_empty()));
        let Some((dims, w)) = g.initializers.get(weight.as_str()).and_then(|t| float_tensor(t)) else { continue };
        // Weights [in, out / groups, 1, K].
        let (&[inputs, per_group, 1, k], Ok(groups)) = (dims.as_slice(), usize::try_from(groups)) else { continue };
        if pads.len() != 4 || pads[0] != 0 || pads[2] != 0 || groups == 0 || inputs % groups != 0 {
            continue;
        }
        let outputs = per_group * groups;
        let bias = match bias {
            Some(b) => match g.initializers.get(b.as_str()).and_then(|t| float_tensor(t)) {
                Some((d, v)) if d == [outputs] => v,
                _ => continue,
            },
            None => vec![0.0; outputs],
        };
        let (begin, end, k) = (pads[1], pads[3], k as i64);
        // Output width (W - 1) * 2 - begin - end + k; the two phases give 2 W columns.
        let extra = 2 + begin + end - k;
        if outputs < MIN_PHASE_OUTPUTS || begin < 0 || end < 0 || extra < 0 {
            continue;
        }
        // Column 2m + r reads input column m + d for tap t with 2(m + d) - begin + t = 2m + r: d = (r + begin - t) / 2.
        let offset = |r: i64, t: i64| (r + begin - t).rem_euclid(2) == 0;
        let taps: Vec<(i64, i64, i64)> =
            (0..2).flat_map(|r| (0..k).filter(move |&t| offset(r, t)).map(move |t| (r, t, (r + begin - t).div_euclid(2)))).collect();
        let (lo, hi) = (taps.iter().map(|t| t.2).min().unwrap_or(0), taps.iter().map(|t| t.2).max().unwrap_or(0));
        if lo > 0 || hi < 0 {
            continue;
        }
        let span = (hi - lo + 1) as usize;
        // Conv weights [2 * outputs, inputs, 1, span]: phase r's output channel c at r * outputs + c.
        let in_per_group = inputs / groups;
        let mut phases = vec![0f32; 2 * outputs * inputs * span];
        for &(r, t, d) in &taps {
            for ci in 0..inputs {
                let group = ci / in_per_group;
                for j in 0..per_group {
                    let co = group * per_group + j;
                    let at = (((r as usize * outputs + co) * inputs + ci) * span) + (d - lo) as usize;
                    phases[at] = w[(ci * per_group + j) * k as usize + t as usize];
                }
            }
        }
        let name = node_name(node);
        let value = |what: &str, taken: &mut HashSet<String>| fresh(g, taken, &format!("{name}_{what}"));
        let (dims, last_axis) = (value("input_shape", &mut taken), value("last_axis", &mut taken));
        let (pw, pb, stacked, split_shape, split, moved, width, twice, two, head, full_shape, full) = (
            value("phase_weights", &mut taken),
            value("phase_bias", &mut taken),
            value("phases", &mut taken),
            value("phase_axes_shape", &mut taken),
            value("phase_axes", &mut taken),
            value("phase_last", &mut taken),
            value("width", &mut taken),
            value("twice_width", &mut taken),
            value("two", &mut taken),
            value("interleaved_head", &mut taken),
            value("interleaved_shape", &mut taken),
            value("interleaved", &mut taken),
        );
        let f32s = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let i64s = |v: &[i64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        edits.initializers.push(tensor_bytes(&pw, &[2 * outputs, inputs, 1, span], 1, &f32s(&phases)));
        edits.initializers.push(tensor_bytes(&pb, &[2 * outputs], 1, &f32s(&[bias.clone(), bias].concat())));
        // [N, 2C, H, W] -> [N, 2, C*H, W] (the 0s copy N and W) -> [N, C*H, W, 2] -> [N, C, H, 2W].
        edits.initializers.push(tensor_bytes(&split_shape, &[4], 7, &i64s(&[0, 2, -1, 0])));
        edits.initializers.push(tensor_bytes(&two, &[1], 7, &i64s(&[2])));
        edits.initializers.push(tensor_bytes(&last_axis, &[1], 7, &i64s(&[3])));
        edits.initializers.push(tensor_bytes(&head, &[3], 7, &i64s(&[0, outputs as i64, -1])));
        let x = node.inputs[0].as_str();
        let out = node.outputs[0].as_str();
        let last = if extra == 0 { out } else { full.as_str() };
        let mut replacement = vec![
            new_node(
                "Conv",
                &stacked,
                &[x, &pw, &pb],
                &[&stacked],
                &[ints_attribute("kernel_shape", &[1, span as i64]), ints_attribute("pads", &[0, -lo, 0, hi])],
            ),
            new_node("Reshape", &split, &[&stacked, &split_shape], &[&split], &[]),
            new_node("Transpose", &moved, &[&split], &[&moved], &[ints_attribute("perm", &[0, 2, 3, 1])]),
            // (Shape's `start` attribute would do this in one node from opset 15.)
            new_node("Shape", &dims, &[x], &[&dims], &[]),
            new_node("Gather", &width, &[&dims, &last_axis], &[&width], &[int_attribute("axis", 0)]),
            new_node("Mul", &twice, &[&width, &two], &[&twice], &[]),
            new_node("Concat", &full_shape, &[&head, &twice], &[&full_shape], &[int_attribute("axis", 0)]),
            new_node("Reshape", last, &[&moved, &full_shape], &[last], &[]),
        ];
        if extra > 0 {
            let (starts, ends, axes) = (value("start", &mut taken), value("end", &mut taken), value("axis", &mut taken));
            edits.initializers.push(tensor_bytes(&starts, &[1], 7, &i64s(&[0])));
            edits.initializers.push(tensor_bytes(&ends, &[1], 7, &i64s(&[-extra])));
            edits.initializers.push(tensor_bytes(&axes, &[1], 7, &i64s(&[3])));
            replacement.push(new_node("Slice", out, &[&full, &starts, &ends, &axes], &[out], &[]));
        }
        edits.nodes.insert(i, replacement);
        edits.notes.push(format!("ConvTranspose {name} (stride 2, {groups} groups) as a two-phase Conv [{}, {inputs}, 1, {span}]", 2 * outputs));
    }
    Ok(edits)
}

/// A `GRU` (or trnet's `FastGRU`, which takes the same inputs) whose initial_h is `ConstantOfShape` zeros: ONNX
/// defines an absent initial_h as zeros, so the input is dropped, and with it (by [`drop_dead_nodes`]) the
/// Shape, Gather, Unsqueeze, Concat and ConstantOfShape PyTorch's export builds to size it for the batch: six
/// nodes ONNX Runtime runs on every call for each of GTCRN's ten GRUs.
fn zero_initial_states(g: &Graph) -> Result<Edits, String> {
    let mut edits = Edits::default();
    for (i, node) in g.nodes.iter().enumerate() {
        let gru = node.is("GRU") || (node.domain == crate::gru_op::DOMAIN && node.op_type == crate::gru_op::OP);
        let Some(h0) = node.inputs.get(5).filter(|h| !h.is_empty()) else { continue };
        if !gru || node.inputs.len() > 6 {
            continue;
        }
        let Some(&p) = g.producer.get(h0) else { continue };
        let fill = &g.nodes[p];
        if !fill.is("ConstantOfShape") {
            continue;
        }
        // No value: float32 zeros. A value: a one-element float32 tensor that must be zero (+0 or -0).
        let zeros = match attribute(fill.bytes, "value")?.and_then(|a| a.tensor) {
            None => true,
            Some(t) => float_tensor(t).is_some_and(|(_, v)| v.len() == 1 && v[0] == 0.0),
        };
        if !zeros {
            continue;
        }
        // Inputs 4 (sequence_lens) and 5 go; an empty sequence_lens is kept only if something followed it.
        let mut out = Vec::with_capacity(node.bytes.len());
        let mut input = 0;
        let keep = if node.inputs[4].is_empty() { 4 } else { 5 };
        for f in fields_of(node.bytes, "NodeProto")? {
            if f.number == 1 {
                input += 1;
                if input > keep {
                    continue;
                }
            }
            out.extend_from_slice(&node.bytes[f.raw.clone()]);
        }
        edits.nodes.insert(i, vec![out]);
        edits.notes.push(format!("{} {}: initial_h of zeros dropped (zeros by definition)", node.op_type, node_name(node)));
    }
    Ok(edits)
}

/// Nodes none of whose outputs is read or a graph output (the shape arithmetic of a folded Pad): ONNX
/// operators have no side effects, so they go.
fn drop_dead_nodes(g: &Graph) -> Edits {
    let mut edits = Edits::default();
    let mut readers: HashMap<&str, usize> = g.consumers.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    loop {
        let mut dropped = false;
        for (i, n) in g.nodes.iter().enumerate().rev() {
            let dead = !edits.nodes.contains_key(&i)
                && !n.outputs.is_empty()
                && n.outputs.iter().all(|o| o.is_empty() || (readers.get(o.as_str()).copied().unwrap_or(0) == 0 && !g.outputs.contains(o)));
            if dead {
                edits.nodes.insert(i, Vec::new());
                for input in n.inputs.iter().filter(|s| !s.is_empty()) {
                    if let Some(c) = readers.get_mut(input.as_str()) {
                        *c = c.saturating_sub(1);
                    }
                }
                dropped = true;
            }
        }
        if !dropped {
            return edits;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int64s(name: &str, dims: &[usize], values: &[i64]) -> Vec<u8> {
        tensor_bytes(name, dims, 7, &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())
    }

    fn floats(name: &str, dims: &[usize], values: &[f32]) -> Vec<u8> {
        tensor_bytes(name, dims, 1, &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())
    }

    fn constant(name: &str, values: &[i64]) -> Vec<u8> {
        let mut a = Vec::new();
        put_bytes(&mut a, 1, b"value");
        put_bytes(&mut a, 5, &int64s("v", &[values.len()], values));
        new_node("Constant", name, &[], &[name], &[a])
    }

    /// A model of `nodes` and `initializers` with graph output `output`.
    fn model(nodes: &[Vec<u8>], initializers: &[Vec<u8>], output: &str) -> Vec<u8> {
        let mut g = Vec::new();
        for n in nodes {
            put_bytes(&mut g, 1, n);
        }
        for t in initializers {
            put_bytes(&mut g, 5, t);
        }
        let mut info = Vec::new();
        put_bytes(&mut info, 1, output.as_bytes());
        put_bytes(&mut g, 12, &info);
        put_bytes(&mut g, 11, &input_info(&[None, Some(3)]));
        let mut m = Vec::new();
        put_bytes(&mut m, 7, &g);
        put_bytes(&mut m, 8, &opset(17));
        m
    }

    fn opset(version: u64) -> Vec<u8> {
        let mut set = Vec::new();
        put_key(&mut set, 2, 0);
        put_varint(&mut set, version);
        set
    }

    /// ValueInfoProto of a float tensor "x" with these dims (None: a dim_param).
    fn input_info(dims: &[Option<u64>]) -> Vec<u8> {
        value_info("x", dims)
    }

    fn value_info(name: &str, dims: &[Option<u64>]) -> Vec<u8> {
        let mut shape = Vec::new();
        for d in dims {
            let mut dim = Vec::new();
            match d {
                Some(v) => {
                    put_key(&mut dim, 1, 0);
                    put_varint(&mut dim, *v);
                }
                None => put_bytes(&mut dim, 2, b"frames"),
            }
            put_bytes(&mut shape, 1, &dim);
        }
        let mut tensor = Vec::new();
        put_key(&mut tensor, 1, 0);
        put_varint(&mut tensor, 1);
        put_bytes(&mut tensor, 2, &shape);
        let mut ty = Vec::new();
        put_bytes(&mut ty, 1, &tensor);
        let mut info = Vec::new();
        put_bytes(&mut info, 1, name.as_bytes());
        put_bytes(&mut info, 2, &ty);
        info
    }

    fn ops(bytes: &[u8]) -> Vec<String> {
        Graph::parse(bytes).unwrap().nodes.iter().map(|n| n.op_type.clone()).collect()
    }

    /// PyTorch's F.pad(x, (0, 0, 2, 0)) pads chain, ending in `pads`.
    fn torch_pads() -> Vec<Vec<u8>> {
        let mut value = Vec::new();
        put_bytes(&mut value, 1, b"value");
        put_bytes(&mut value, 5, &int64s("zero", &[1], &[0]));
        vec![
            constant("head", &[0, 0, 2, 0]),
            constant("count", &[4]),
            new_node("ConstantOfShape", "zeros", &["count"], &["zeros"], &[value]),
            new_node("Concat", "all", &["head", "zeros"], &["all"], &[int_attribute("axis", 0)]),
            constant("pairs", &[-1, 2]),
            new_node("Reshape", "p2", &["all", "pairs"], &["p2"], &[]),
            constant("start", &[-1]),
            constant("end", &[i64::MIN + 1]),
            constant("axis", &[0]),
            constant("step", &[-1]),
            new_node("Slice", "rev", &["p2", "start", "end", "axis", "step"], &["rev"], &[]),
            new_node("Transpose", "t", &["rev"], &["t"], &[ints_attribute("perm", &[1, 0])]),
            constant("flat", &[-1]),
            new_node("Reshape", "row", &["t", "flat"], &["row"], &[]),
            new_node("Cast", "pads", &["row"], &["pads"], &[int_attribute("to", 7)]),
        ]
    }

    #[test]
    fn pytorch_pad_arithmetic_evaluates_to_the_onnx_pads() {
        let bytes = model(&torch_pads(), &[], "pads");
        let g = Graph::parse(&bytes).unwrap();
        // (left, right, top, bottom) on the last two axes -> ONNX [begins of n, c, h, w, ends of n, c, h, w].
        assert_eq!(g.constant_ints("pads"), Some(Ints { shape: vec![8], values: vec![0, 0, 2, 0, 0, 0, 0, 0] }));
        assert_eq!(g.constant_ints("all").unwrap().values, [0, 0, 2, 0, 0, 0, 0, 0]);
        // A value from a graph input is not a constant.
        let bytes = model(&[new_node("Shape", "s", &["x"], &["s"], &[])], &[], "s");
        assert_eq!(Graph::parse(&bytes).unwrap().constant_ints("s"), None);
    }

    #[test]
    fn slices_clamp_and_step_backwards_as_onnx_says() {
        let t = Ints { shape: vec![2, 3], values: vec![1, 2, 3, 4, 5, 6] };
        assert_eq!(slice(&t, &[-1], &[i64::MIN], &[1], &[-1]).unwrap().values, [3, 2, 1, 6, 5, 4]);
        assert_eq!(slice(&t, &[1, 1], &[100, 3], &[0, 1], &[1, 1]).unwrap(), Ints { shape: vec![1, 2], values: vec![5, 6] });
        assert_eq!(slice(&t, &[0], &[3], &[1], &[2]).unwrap().values, [1, 3, 4, 6]);
        assert_eq!(slice(&t, &[0], &[1], &[1], &[0]), None);
        assert_eq!(transpose(&t, &[1, 0]).unwrap(), Ints { shape: vec![3, 2], values: vec![1, 4, 2, 5, 3, 6] });
        assert_eq!(reshape(t.clone(), &[0, -1], false).unwrap().shape, [2, 3]);
        assert_eq!(reshape(t.clone(), &[-1, 4], false), None);
        assert_eq!(concat(&[t.clone(), t], 1).unwrap().values, [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
    }

    #[test]
    fn a_pad_folds_into_the_conv_and_its_arithmetic_goes() {
        let mut nodes = torch_pads();
        nodes.push(new_node("Pad", "pad", &["x", "pads"], &["padded"], &[]));
        nodes.push(new_node("Conv", "conv", &["padded", "w"], &["y"], &[ints_attribute("pads", &[0, 1, 0, 1])]));
        let bytes = model(&nodes, &[floats("w", &[1, 1, 3, 3], &[0.5; 9])], "y");
        let fused = fuse(&bytes).unwrap();
        assert_eq!(fused.applied, ["Pad pad folded into the pads of Conv conv ([0, 1, 0, 1] -> [2, 1, 0, 1])"]);
        // The same graph with fixed-size inputs only, or from opset 10: left alone.
        let with = |graph_input: &[u8], version: u64| {
            let top = fields(&bytes).unwrap();
            let graph = top[0].bytes(&bytes).unwrap();
            let mut g: Vec<u8> = Vec::new();
            for f in fields(graph).unwrap() {
                if f.number == 11 {
                    put_bytes(&mut g, 11, graph_input);
                } else {
                    g.extend_from_slice(&graph[f.raw.clone()]);
                }
            }
            let mut m = Vec::new();
            put_bytes(&mut m, 7, &g);
            put_bytes(&mut m, 8, &opset(version));
            m
        };
        assert!(fuse(&with(&input_info(&[Some(1), Some(3)]), 17)).unwrap().bytes.is_none());
        assert!(fuse(&with(&input_info(&[None, Some(3)]), 10)).unwrap().bytes.is_none());
        assert!(fuse(&with(&input_info(&[None, Some(3)]), 11)).unwrap().bytes.is_some());
        let out = fused.bytes.unwrap();
        assert_eq!(ops(&out), ["Conv"]);
        let g = Graph::parse(&out).unwrap();
        assert_eq!(g.nodes[0].inputs, ["x", "w"]);
        assert_eq!(attribute(g.nodes[0].bytes, "pads").unwrap().unwrap().ints, [2, 1, 0, 1]);
    }

    #[test]
    fn pads_a_conv_cannot_do_stay() {
        let pads = |v: &[i64]| int64s("pads", &[8], v);
        let w = floats("w", &[1, 1, 3, 3], &[0.5; 9]);
        let conv = new_node("Conv", "conv", &["padded", "w"], &["y"], &[]);
        let cases = [
            // Channels padded; a negative pad (a crop); reflect mode; a fill value; the Pad read twice.
            (vec![new_node("Pad", "pad", &["x", "pads"], &["padded"], &[]), conv.clone()], pads(&[0, 1, 0, 0, 0, 0, 0, 0])),
            (vec![new_node("Pad", "pad", &["x", "pads"], &["padded"], &[]), conv.clone()], pads(&[0, 0, -1, 0, 0, 0, 0, 0])),
            (
                vec![
                    new_node(
                        "Pad",
                        "pad",
                        &["x", "pads"],
                        &["padded"],
                        &[{
                            let mut a = Vec::new();
                            put_bytes(&mut a, 1, b"mode");
                            put_bytes(&mut a, 4, b"reflect");
                            a
                        }],
                    ),
                    conv.clone(),
                ],
                pads(&[0, 0, 1, 0, 0, 0, 0, 0]),
            ),
            (vec![new_node("Pad", "pad", &["x", "pads", "fill"], &["padded"], &[]), conv.clone()], pads(&[0, 0, 1, 0, 0, 0, 0, 0])),
            (
                vec![new_node("Pad", "pad", &["x", "pads"], &["padded"], &[]), conv.clone(), new_node("Relu", "r", &["padded"], &["z"], &[])],
                pads(&[0, 0, 1, 0, 0, 0, 0, 0]),
            ),
        ];
        for (k, (nodes, pads)) in cases.into_iter().enumerate() {
            let bytes = model(&nodes, &[w.clone(), pads], "y");
            let fused = fuse(&bytes).unwrap();
            assert!(fused.bytes.is_none() && fused.applied.is_empty(), "case {k}: {:?}", fused.applied);
        }
    }

    #[test]
    fn grouped_weights_become_block_diagonal() {
        // 4 outputs, 2 groups of 2 inputs, kernel 1x1: output o reads inputs 2 * (o / 2) + {0, 1}.
        let w: Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let conv = new_node("Conv", "c", &["x", "w"], &["y"], &[int_attribute("group", 2)]);
        let bytes = model(&[conv], &[floats("w", &[4, 2, 1, 1], &w)], "y");
        let out = fuse(&bytes).unwrap().bytes.unwrap();
        let g = Graph::parse(&out).unwrap();
        assert_eq!(attribute(g.nodes[0].bytes, "group").unwrap().map(|a| a.int), None);
        let dense = &g.nodes[0].inputs[1];
        let (dims, values) = float_tensor(g.initializers[dense.as_str()]).unwrap();
        assert_eq!(dims, [4, 4, 1, 1]);
        #[rustfmt::skip]
        assert_eq!(values, [1., 2., 0., 0., 3., 4., 0., 0., 0., 0., 5., 6., 0., 0., 7., 8.]);
        // Depthwise (one input per group) and many groups stay.
        for (groups, dims) in [(4, [4usize, 1, 1, 1]), (8, [8, 2, 1, 1])] {
            let conv = new_node("Conv", "c", &["x", "w"], &["y"], &[int_attribute("group", groups)]);
            let bytes = model(&[conv], &[floats("w", &dims, &vec![1.0; dims.iter().product()])], "y");
            assert!(fuse(&bytes).unwrap().bytes.is_none(), "{groups} groups");
        }
    }

    #[test]
    fn a_linear_layer_becomes_gemm_only_before_a_reshape_that_copies_no_axis() {
        let graph = |target: Vec<u8>| {
            let nodes = [
                new_node("MatMul", "mm", &["x", "w"], &["m"], &[]),
                new_node("Add", "add", &["b", "m"], &["s"], &[]),
                target,
                new_node("Reshape", "back", &["s", "shape"], &["y"], &[]),
            ];
            model(&nodes, &[floats("w", &[3, 2], &[0.5; 6]), floats("b", &[2], &[1.0, 2.0])], "y")
        };
        let mut from_shape = graph(new_node("Shape", "shape", &["z"], &["shape"], &[]));
        // A recorded type for the sum, which the rewrite makes 2-D: it must go.
        let mut g = fields(&from_shape).unwrap()[0].bytes(&from_shape).unwrap().to_vec();
        put_bytes(&mut g, 13, &value_info("s", &[None, Some(5), Some(2)]));
        from_shape = [
            {
                let mut m = Vec::new();
                put_bytes(&mut m, 7, &g);
                m
            },
            {
                let mut m = Vec::new();
                put_bytes(&mut m, 8, &opset(17));
                m
            },
        ]
        .concat();
        let fused = fuse(&from_shape).unwrap();
        assert_eq!(fused.applied, ["MatMul mm + Add add as Gemm on [-1, 3] rows"]);
        let out = fused.bytes.unwrap();
        assert_eq!(ops(&out), ["Reshape", "Gemm", "Shape", "Reshape"]);
        let rewritten = fields(&out).unwrap()[0].bytes(&out).unwrap().to_vec();
        assert!(!fields(&rewritten).unwrap().iter().any(|f| f.number == 13), "the stale value_info for s is dropped");
        let g = Graph::parse(&out).unwrap();
        assert_eq!(g.nodes[1].inputs[1..], ["w", "b"]);
        assert_eq!(g.nodes[1].outputs, ["s"]);
        assert_eq!(g.constant_ints(&g.nodes[0].inputs[1]).unwrap().values, [-1, 3]);
        // A constant target with a 0 (copy that axis of the input, whose shape the rewrite changes) stays.
        assert!(fuse(&graph(constant("shape", &[0, -1, 2]))).unwrap().bytes.is_none());
        assert!(fuse(&graph(constant("shape", &[1, -1, 2]))).unwrap().bytes.is_some());
    }

    #[test]
    fn dead_nodes_go_after_a_rewrite_and_graph_outputs_stay() {
        let nodes = [
            constant("unused", &[1]),
            new_node("Pad", "pad", &["x", "pads"], &["padded"], &[]),
            new_node("Conv", "conv", &["padded", "w"], &["y"], &[]),
            new_node("Shape", "kept", &["x"], &["y2"], &[]),
        ];
        let inits = [int64s("pads", &[8], &[0, 0, 1, 0, 0, 0, 0, 0]), floats("w", &[1, 1, 1, 1], &[2.0])];
        let mut bytes = model(&nodes, &inits, "y");
        // A second graph output.
        let graph = fields(&bytes).unwrap()[0].payload.clone().unwrap();
        let mut g = bytes[graph].to_vec();
        let mut info = Vec::new();
        put_bytes(&mut info, 1, b"y2");
        put_bytes(&mut g, 12, &info);
        bytes.clear();
        put_bytes(&mut bytes, 7, &g);
        put_bytes(&mut bytes, 8, &opset(17));
        assert_eq!(ops(&fuse(&bytes).unwrap().bytes.unwrap()), ["Conv", "Shape"]);
    }

    #[test]
    fn models_with_subgraphs_stay_and_broken_bytes_are_errors() {
        let mut body = Vec::new();
        put_bytes(&mut body, 1, b"then_branch");
        put_bytes(&mut body, 6, b"");
        let nodes = [new_node("Pad", "pad", &["x", "pads"], &["padded"], &[]), new_node("Conv", "conv", &["padded", "w"], &["y"], &[body])];
        let bytes = model(&nodes, &[int64s("pads", &[8], &[0, 0, 1, 0, 0, 0, 0, 0]), floats("w", &[1, 1, 1, 1], &[2.0])], "y");
        assert!(fuse(&bytes).unwrap().bytes.is_none());
        assert!(fuse(b"not protobuf").is_err());
        // Cut inside the graph (the opset import is the last 4 bytes).
        assert!(fuse(&bytes[..bytes.len() - 10]).unwrap_err().contains("claims"));
        // No opset import (nothing declares which operators these are): nothing to do.
        assert!(fuse(&[]).unwrap().bytes.is_none());
    }
}
