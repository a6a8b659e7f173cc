//! A minimal rewriter of ONNX model bytes (protobuf wire format, no schema library): it points supported `GRU`
//! nodes at trnet's own GRU operator (`gru_op`) and adds that domain to the model's opset imports. Everything else
//! is copied byte for byte, so the file on disk stays the standard model (its SHA-256 is what trained models
//! record) and only the session sees the rewritten graph.
//!
//! Field numbers (onnx/onnx.proto): ModelProto.graph = 7, ModelProto.opset_import = 8 (OperatorSetIdProto:
//! domain = 1, version = 2); GraphProto.node = 1, GraphProto.initializer = 5 (TensorProto.data_location = 14);
//! NodeProto.input = 1, op_type = 4, attribute = 5, domain = 7; AttributeProto: name = 1, i = 3, s = 4.
//!
//! A node is rerouted only when trnet's kernel computes exactly what ONNX specifies for it: `linear_before_reset`
//! = 1, the default activations, no `clip`, `layout` 0, no `sequence_lens` input. Nodes inside subgraphs
//! (If/Loop bodies) are left alone, and so is a model whose weights live in external files (a session made from
//! memory could not find them).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// What [`reroute_grus`] did.
#[derive(Debug)]
pub struct Rerouted {
    /// The rewritten model, or None when no node qualified (load the file as it is).
    pub bytes: Option<Vec<u8>>,
    pub rerouted: usize,
    /// Transpose nodes folded into the rerouted GRUs' reads and writes.
    pub folded_transposes: usize,
    /// GRU nodes left with ONNX Runtime, and why.
    pub kept: Vec<String>,
}

/// A node's fields that the rewrite reads.
pub(crate) struct Node<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) op_type: String,
    pub(crate) domain: String,
    pub(crate) inputs: Vec<String>,
    pub(crate) outputs: Vec<String>,
    /// Has a graph-valued attribute (If, Loop, Scan bodies), whose nodes may read any outer value by name.
    pub(crate) subgraph: bool,
}

impl Node<'_> {
    pub(crate) fn is(&self, op: &str) -> bool {
        self.op_type == op && (self.domain.is_empty() || self.domain == "ai.onnx")
    }
}

pub(crate) fn parse_node(bytes: &[u8]) -> Result<Node<'_>, String> {
    let mut node = Node { bytes, op_type: String::new(), domain: String::new(), inputs: Vec::new(), outputs: Vec::new(), subgraph: false };
    for f in fields_of(bytes, "NodeProto")? {
        let text = || f.bytes(bytes).map(|b| String::from_utf8_lossy(b).into_owned()).ok_or(format!("NodeProto field {} is not length-delimited", f.number));
        match f.number {
            1 => node.inputs.push(text()?),
            2 => node.outputs.push(text()?),
            4 => node.op_type = text()?,
            7 => node.domain = text()?,
            5 => {
                let attribute = f.bytes(bytes).ok_or("NodeProto.attribute is not length-delimited")?;
                node.subgraph |= fields_of(attribute, "AttributeProto")?.iter().any(|a| a.number == 6 || a.number == 11);
            }
            _ => {}
        }
    }
    Ok(node)
}

/// Reroutes every supported top-level `GRU` node to `domain`:`op` (version 1), folding a Transpose that feeds
/// its X, and a Transpose that takes its Y (directly, or after a Squeeze of the direction axis), into the
/// operator's `x_perm` / `y_perm` attributes. Err says where the bytes stop being a valid ONNX protobuf.
pub fn reroute_grus(model: &[u8], domain: &str, op: &str) -> Result<Rerouted, String> {
    let fields = fields(model).map_err(|e| format!("ModelProto: {e}"))?;
    let graphs: Vec<&Field> = fields.iter().filter(|f| f.number == 7).collect();
    let [graph] = graphs.as_slice() else {
        return Err(format!("ModelProto has {} graph fields where one was expected", graphs.len()));
    };
    let graph_bytes = graph.bytes(model).ok_or("ModelProto.graph is not length-delimited")?;
    let graph_fields = fields_of(graph_bytes, "GraphProto")?;
    let payload = |f: &Field, what: &str| f.bytes(graph_bytes).ok_or(format!("GraphProto.{what} is not length-delimited"));
    let name_of = |message: &[u8], field: u32, what: &str| -> Result<String, String> {
        Ok(fields_of(message, what)?
            .iter()
            .find(|f| f.number == field)
            .and_then(|f| f.bytes(message))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default())
    };

    let mut external = false;
    let mut initializers = HashMap::new();
    let mut graph_outputs = HashSet::new();
    let mut nodes = Vec::new();
    for f in &graph_fields {
        match f.number {
            1 => nodes.push(parse_node(payload(f, "node")?)?),
            5 => {
                let tensor = payload(f, "initializer")?;
                external |= fields_of(tensor, "TensorProto")?.iter().any(|t| t.number == 14 && t.varint == Some(1));
                initializers.insert(name_of(tensor, 8, "TensorProto")?, tensor);
            }
            12 => {
                graph_outputs.insert(name_of(payload(f, "output")?, 1, "ValueInfoProto")?);
            }
            _ => {}
        }
    }
    let mut producer = HashMap::new();
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            producer.insert(o.as_str(), i);
        }
        for name in n.inputs.iter().filter(|s| !s.is_empty()) {
            consumers.entry(name.as_str()).or_default().push(i);
        }
    }
    // Folding removes values; with a subgraph in the model a removed value might still be read from inside it.
    let may_fold = !nodes.iter().any(|n| n.subgraph);
    // The one node reading `name`, if it is an intermediate value read exactly once.
    let only_reader = |name: &str| match consumers.get(name).map(Vec::as_slice) {
        Some(&[i]) if !graph_outputs.contains(name) => Some(i),
        _ => None,
    };
    let constant_ints = |name: &str| -> Option<Vec<i64>> {
        let tensor = match producer.get(name) {
            Some(&i) if nodes[i].is("Constant") => attribute(nodes[i].bytes, "value").ok()??.tensor?,
            Some(_) => return None,
            None => initializers.get(name).copied()?,
        };
        int64_tensor(tensor)
    };
    // Squeeze's axes: an input from opset 13, an attribute before.
    let squeeze_axes = |n: &Node| -> Result<Option<Vec<i64>>, String> {
        Ok(match n.inputs.get(1) {
            Some(a) if !a.is_empty() => constant_ints(a),
            _ => attribute(n.bytes, "axes")?.map(|a| a.ints),
        })
    };

    enum Edit {
        Drop,
        Replace(Vec<u8>),
    }
    let mut edits: HashMap<usize, Edit> = HashMap::new();
    let mut removed = HashSet::new();
    let (mut rerouted, mut folded) = (0, 0);
    let mut kept = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match check_gru(node.bytes)? {
            Some(Ok(_)) if !external => {}
            Some(Ok(name)) => {
                kept.push(format!("{name}: the model keeps its weights in external files"));
                continue;
            }
            Some(Err(why)) => {
                kept.push(why);
                continue;
            }
            None => continue,
        }
        let mut change = NodeChange { domain_op: Some((domain, op)), ..NodeChange::default() };
        let x = node.inputs.first().map(String::as_str).unwrap_or_default();
        if may_fold
            && let Some(&j) = producer.get(x)
            && only_reader(x) == Some(i)
            && nodes[j].is("Transpose")
            && !edits.contains_key(&j)
            && let Some(p) = perm_of(nodes[j].bytes, 3)?
        {
            // X = Transpose(A, p), so A = Transpose(X, p⁻¹).
            let mut inverse = vec![0i64; 3];
            for (k, &v) in p.iter().enumerate() {
                inverse[v as usize] = k as i64;
            }
            edits.insert(j, Edit::Drop);
            removed.insert(x.to_string());
            change.input0 = Some(nodes[j].inputs[0].clone());
            change.attributes.push(("x_perm", inverse));
            folded += 1;
        }
        let y = node.outputs.first().map(String::as_str).unwrap_or_default();
        if may_fold
            && !y.is_empty()
            && let Some(c) = only_reader(y)
            && !edits.contains_key(&c)
        {
            let reader = &nodes[c];
            if reader.is("Transpose")
                && let Some(mut q) = perm_of(reader.bytes, 4)?
            {
                edits.insert(c, Edit::Drop);
                removed.insert(y.to_string());
                change.output0 = Some(reader.outputs[0].clone());
                folded += 1;
                // The bidirectional intra-frame GRU: Transpose(0,2,1,3) -> Reshape [0, 0, -1] (merge the direction
                // and hidden axes) -> Transpose(1,0,2). The merged axis stays last, so the second Transpose only
                // reorders the two leading axes of what the GRU writes; the Reshape's "copy this axis" shape
                // still fits.
                let merged = reader.outputs.first().and_then(|t| only_reader(t));
                if let Some(r) = merged
                    && nodes[r].is("Reshape")
                    && !edits.contains_key(&r)
                    && nodes[r].inputs.get(1).and_then(|s| constant_ints(s)).as_deref() == Some(&[0, 0, -1])
                    && attribute(nodes[r].bytes, "allowzero")?.and_then(|a| a.int).unwrap_or(0) == 0
                    && let Some(reshaped) = nodes[r].outputs.first()
                    && let Some(d) = only_reader(reshaped)
                    && nodes[d].is("Transpose")
                    && !edits.contains_key(&d)
                    && let Some(p) = perm_of(nodes[d].bytes, 3)?
                    && p[2] == 2
                {
                    q = vec![q[p[0] as usize], q[p[1] as usize], q[2], q[3]];
                    edits.insert(d, Edit::Drop);
                    removed.insert(reshaped.clone());
                    // Its layout changed: a type hint recorded for the old one would be wrong.
                    removed.insert(reader.outputs[0].clone());
                    let rename = NodeChange { output0: Some(nodes[d].outputs[0].clone()), ..NodeChange::default() };
                    edits.insert(r, Edit::Replace(rename.apply(nodes[r].bytes)?));
                    folded += 1;
                }
                change.attributes.push(("y_perm", q));
            } else if reader.is("Squeeze")
                && squeeze_axes(reader)?.as_deref() == Some(&[1])
                && let Some(squeezed) = reader.outputs.first()
                && let Some(d) = only_reader(squeezed)
                && nodes[d].is("Transpose")
                && !edits.contains_key(&d)
                && let Some(r) = perm_of(nodes[d].bytes, 3)?
            {
                // Squeeze drops the direction axis (1) of Y [seq, dirs, batch, H], leaving Y's axes 0, 2, 3; the
                // Transpose then orders those by r. Writing Y in that order with the direction axis kept at 1 lets
                // the Squeeze alone produce the Transpose's output.
                let kept_axes = [0i64, 2, 3];
                let q = vec![kept_axes[r[0] as usize], 1, kept_axes[r[1] as usize], kept_axes[r[2] as usize]];
                edits.insert(d, Edit::Drop);
                removed.insert(squeezed.clone());
                let rename = NodeChange { output0: Some(nodes[d].outputs[0].clone()), ..NodeChange::default() };
                edits.insert(c, Edit::Replace(rename.apply(reader.bytes)?));
                change.attributes.push(("y_perm", q));
                folded += 1;
            }
        }
        edits.insert(i, Edit::Replace(change.apply(node.bytes)?));
        rerouted += 1;
    }
    if rerouted == 0 {
        return Ok(Rerouted { bytes: None, rerouted, folded_transposes: 0, kept });
    }
    let mut new_graph = Vec::with_capacity(graph_bytes.len() + 64);
    let mut index = 0;
    for f in &graph_fields {
        if f.number == 1 {
            let edit = edits.get(&index);
            index += 1;
            match edit {
                Some(Edit::Drop) => continue,
                Some(Edit::Replace(bytes)) => {
                    put_bytes(&mut new_graph, 1, bytes);
                    continue;
                }
                None => {}
            }
        }
        // Type hints for values that no longer exist would only confuse the loader.
        if f.number == 13 && removed.contains(&name_of(payload(f, "value_info")?, 1, "ValueInfoProto")?) {
            continue;
        }
        new_graph.extend_from_slice(&graph_bytes[f.raw.clone()]);
    }
    let mut out = Vec::with_capacity(model.len() + 128);
    for f in &fields {
        if f.number == 7 {
            put_bytes(&mut out, 7, &new_graph);
        } else {
            out.extend_from_slice(&model[f.raw.clone()]);
        }
    }
    let mut opset = Vec::new();
    put_bytes(&mut opset, 1, domain.as_bytes());
    put_key(&mut opset, 2, 0);
    put_varint(&mut opset, 1);
    put_bytes(&mut out, 8, &opset);
    Ok(Rerouted { bytes: Some(out), rerouted, folded_transposes: folded, kept })
}

/// None: not a GRU of the default domain. Some(Ok(name)): one the kernel computes. Some(Err(why)): a GRU left
/// to ONNX Runtime.
fn check_gru(node: &[u8]) -> Result<Option<Result<String, String>>, String> {
    let fields = fields_of(node, "NodeProto")?;
    let string = |f: &Field| f.bytes(node).map(|b| String::from_utf8_lossy(b).into_owned()).ok_or("NodeProto has a string field that is not length-delimited");
    let (mut op_type, mut domain, mut name, mut inputs) = (String::new(), String::new(), String::new(), Vec::new());
    let mut attributes = Vec::new();
    for f in &fields {
        match f.number {
            1 => inputs.push(string(f)?),
            3 => name = string(f)?,
            4 => op_type = string(f)?,
            7 => domain = string(f)?,
            5 => attributes.push(f.bytes(node).ok_or("NodeProto.attribute is not length-delimited")?),
            _ => {}
        }
    }
    if op_type != "GRU" || !(domain.is_empty() || domain == "ai.onnx") {
        return Ok(None);
    }
    let name = if name.is_empty() { "an unnamed GRU".to_string() } else { format!("GRU {name}") };
    if inputs.get(4).is_some_and(|s| !s.is_empty()) {
        return Ok(Some(Err(format!("{name}: has sequence_lens"))));
    }
    let mut linear_before_reset = 0;
    for attribute in attributes {
        let a = parse_attribute(attribute)?;
        match a.name.as_str() {
            "hidden_size" => {}
            "linear_before_reset" => linear_before_reset = a.int.unwrap_or(0),
            "layout" if a.int.unwrap_or(0) == 0 => {}
            "direction" => {
                if !matches!(a.string, Some(b"forward" | b"reverse" | b"bidirectional")) {
                    return Ok(Some(Err(format!("{name}: direction {:?}", String::from_utf8_lossy(a.string.unwrap_or_default())))));
                }
            }
            other => return Ok(Some(Err(format!("{name}: attribute {other} is not supported")))),
        }
    }
    if linear_before_reset != 1 {
        return Ok(Some(Err(format!("{name}: linear_before_reset is {linear_before_reset}, not 1"))));
    }
    Ok(Some(Ok(name)))
}

/// The AttributeProto fields the rewrite reads: name = 1, i = 3, s = 4, t = 5, ints = 8 (packed or not).
pub(crate) struct Attribute<'a> {
    pub(crate) name: String,
    pub(crate) int: Option<i64>,
    pub(crate) string: Option<&'a [u8]>,
    pub(crate) tensor: Option<&'a [u8]>,
    pub(crate) ints: Vec<i64>,
}

pub(crate) fn parse_attribute(bytes: &[u8]) -> Result<Attribute<'_>, String> {
    let mut a = Attribute { name: String::new(), int: None, string: None, tensor: None, ints: Vec::new() };
    for f in fields_of(bytes, "AttributeProto")? {
        match (f.number, f.varint, f.bytes(bytes)) {
            (1, _, Some(b)) => a.name = String::from_utf8_lossy(b).into_owned(),
            (3, Some(v), _) => a.int = Some(v as i64),
            (4, _, Some(b)) => a.string = Some(b),
            (5, _, Some(b)) => a.tensor = Some(b),
            (8, Some(v), _) => a.ints.push(v as i64),
            (8, _, Some(packed)) => a.ints.extend(packed_varints(packed)?),
            _ => {}
        }
    }
    Ok(a)
}

/// The node's attribute `name`, if it has one.
pub(crate) fn attribute<'a>(node: &'a [u8], name: &str) -> Result<Option<Attribute<'a>>, String> {
    for f in fields_of(node, "NodeProto")?.iter().filter(|f| f.number == 5) {
        let a = parse_attribute(f.bytes(node).ok_or("NodeProto.attribute is not length-delimited")?)?;
        if a.name == name {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

/// A Transpose node's `perm` if it is a permutation of `rank` axes (an absent perm reverses the axes, which
/// folding does not need: None).
pub(crate) fn perm_of(node: &[u8], rank: usize) -> Result<Option<Vec<i64>>, String> {
    let Some(a) = attribute(node, "perm")? else { return Ok(None) };
    let mut seen = vec![false; rank];
    let valid = a.ints.len() == rank && a.ints.iter().all(|&p| usize::try_from(p).is_ok_and(|p| p < rank && !std::mem::replace(&mut seen[p], true)));
    Ok(valid.then_some(a.ints))
}

/// The values of an int64 TensorProto (data_type 7): int64_data = 7 (packed or not) or raw_data = 9.
pub(crate) fn int64_tensor(tensor: &[u8]) -> Option<Vec<i64>> {
    let fields = fields(tensor).ok()?;
    if !fields.iter().any(|f| f.number == 2 && f.varint == Some(7)) {
        return None;
    }
    let mut values = Vec::new();
    for f in &fields {
        match (f.number, f.varint, f.bytes(tensor)) {
            (7, Some(v), _) => values.push(v as i64),
            (7, _, Some(packed)) => values.extend(packed_varints(packed).ok()?),
            (9, _, Some(raw)) if raw.len() % 8 == 0 => values.extend(raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))),
            _ => {}
        }
    }
    Some(values)
}

pub(crate) fn packed_varints(bytes: &[u8]) -> Result<Vec<i64>, String> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(varint(bytes, &mut at)? as i64);
    }
    Ok(out)
}

/// Changes to one node; every field not named here is copied as it was.
#[derive(Default)]
struct NodeChange<'a> {
    /// New domain and op_type.
    domain_op: Option<(&'a str, &'a str)>,
    input0: Option<String>,
    output0: Option<String>,
    /// Int-list attributes to add.
    attributes: Vec<(&'a str, Vec<i64>)>,
}

impl NodeChange<'_> {
    fn apply(&self, node: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(node.len() + 64);
        let (mut inputs, mut outputs) = (0, 0);
        for f in fields_of(node, "NodeProto")? {
            match f.number {
                1 if inputs == 0 && self.input0.is_some() => put_bytes(&mut out, 1, self.input0.as_deref().unwrap_or_default().as_bytes()),
                2 if outputs == 0 && self.output0.is_some() => put_bytes(&mut out, 2, self.output0.as_deref().unwrap_or_default().as_bytes()),
                4 if self.domain_op.is_some() => put_bytes(&mut out, 4, self.domain_op.map(|(_, op)| op).unwrap_or_default().as_bytes()),
                7 if self.domain_op.is_some() => {}
                _ => out.extend_from_slice(&node[f.raw.clone()]),
            }
            inputs += usize::from(f.number == 1);
            outputs += usize::from(f.number == 2);
        }
        if let Some((domain, _)) = self.domain_op {
            put_bytes(&mut out, 7, domain.as_bytes());
        }
        for (name, ints) in &self.attributes {
            put_bytes(&mut out, 5, &ints_attribute(name, ints));
        }
        Ok(out)
    }
}

/// One field as it appears in the message: its number, the bytes of the whole field (key included) and, by
/// wire type, the varint value or where the length-delimited payload lies.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) number: u32,
    pub(crate) raw: Range<usize>,
    pub(crate) varint: Option<u64>,
    pub(crate) payload: Option<Range<usize>>,
}

impl Field {
    pub(crate) fn bytes<'a>(&self, message: &'a [u8]) -> Option<&'a [u8]> {
        self.payload.clone().map(|r| &message[r])
    }
}

pub(crate) fn fields_of(message: &[u8], what: &str) -> Result<Vec<Field>, String> {
    fields(message).map_err(|e| format!("{what}: {e}"))
}

/// Splits a message into its fields. Err on a truncated field, a length past the end, or a wire type protobuf
/// 3 does not use (groups).
pub(crate) fn fields(message: &[u8]) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let start = at;
        let key = varint(message, &mut at)?;
        let (number, wire) = ((key >> 3) as u32, key & 7);
        if number == 0 {
            return Err(format!("field number 0 at byte {start}"));
        }
        let (mut value, mut payload) = (None, None);
        match wire {
            0 => value = Some(varint(message, &mut at)?),
            1 | 5 => {
                let width = if wire == 1 { 8 } else { 4 };
                if message.len() - at < width {
                    return Err(format!("field {number} at byte {start} is cut short"));
                }
                at += width;
            }
            2 => {
                let len = varint(message, &mut at)?;
                if len > (message.len() - at) as u64 {
                    return Err(format!("field {number} at byte {start} claims {len} bytes but {} remain", message.len() - at));
                }
                payload = Some(at..at + len as usize);
                at += len as usize;
            }
            other => return Err(format!("field {number} at byte {start} has wire type {other}, which ONNX files do not use")),
        }
        out.push(Field { number, raw: start..at, varint: value, payload });
    }
    Ok(out)
}

pub(crate) fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let start = *at;
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = bytes.get(*at) else {
            return Err(format!("a varint at byte {start} runs past the end"));
        };
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(format!("a varint at byte {start} is longer than 10 bytes"))
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_key(out: &mut Vec<u8>, number: u32, wire: u64) {
    put_varint(out, (u64::from(number) << 3) | wire);
}

/// An AttributeProto of type INTS.
pub(crate) fn ints_attribute(name: &str, values: &[i64]) -> Vec<u8> {
    let mut a = Vec::new();
    put_bytes(&mut a, 1, name.as_bytes());
    for &v in values {
        put_key(&mut a, 8, 0);
        put_varint(&mut a, v as u64);
    }
    // AttributeProto.type = INTS (7).
    put_key(&mut a, 20, 0);
    put_varint(&mut a, 7);
    a
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_key(out, number, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr_int(name: &str, v: u64) -> Vec<u8> {
        let mut a = Vec::new();
        put_bytes(&mut a, 1, name.as_bytes());
        put_key(&mut a, 3, 0);
        put_varint(&mut a, v);
        a
    }

    fn node(op: &str, inputs: &[&str], attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            put_bytes(&mut n, 1, i.as_bytes());
        }
        put_bytes(&mut n, 2, b"y");
        put_bytes(&mut n, 3, b"the_node");
        put_bytes(&mut n, 4, op.as_bytes());
        for a in attrs {
            put_bytes(&mut n, 5, a);
        }
        n
    }

    fn model(nodes: &[Vec<u8>]) -> Vec<u8> {
        let mut g = Vec::new();
        for n in nodes {
            put_bytes(&mut g, 1, n);
        }
        put_bytes(&mut g, 2, b"graph name");
        let mut m = Vec::new();
        put_key(&mut m, 1, 0);
        put_varint(&mut m, 8);
        put_bytes(&mut m, 7, &g);
        let mut opset = Vec::new();
        put_key(&mut opset, 2, 0);
        put_varint(&mut opset, 17);
        put_bytes(&mut m, 8, &opset);
        m
    }

    #[test]
    fn supported_grus_move_to_the_domain_and_everything_else_stays() {
        let gru = node("GRU", &["x", "w", "r", "b", "", "h0"], &[attr_int("hidden_size", 16), attr_int("linear_before_reset", 1)]);
        let add = node("Add", &["a", "b"], &[]);
        let old_gru = node("GRU", &["x", "w", "r"], &[attr_int("hidden_size", 16)]);
        let src = model(&[add.clone(), gru.clone(), old_gru.clone()]);
        let out = reroute_grus(&src, "ai.trnet", "FastGRU").unwrap();
        assert_eq!(out.rerouted, 1);
        assert_eq!(out.kept, ["GRU the_node: linear_before_reset is 0, not 1"]);
        let bytes = out.bytes.unwrap();
        let top = fields(&bytes).unwrap();
        assert_eq!(top.iter().map(|f| f.number).collect::<Vec<_>>(), [1, 7, 8, 8]);
        let opset = top[3].bytes(&bytes).unwrap();
        assert_eq!(opset, [10, 8, b'a', b'i', b'.', b't', b'r', b'n', b'e', b't', 16, 1]);
        let graph = top[1].bytes(&bytes).unwrap();
        let nodes: Vec<_> = fields(graph).unwrap().into_iter().filter(|f| f.number == 1).map(|f| f.bytes(graph).unwrap().to_vec()).collect();
        assert_eq!(nodes[0], add);
        assert_eq!(nodes[2], old_gru);
        let rewritten = fields(&nodes[1]).unwrap();
        let text =
            |n: u32| rewritten.iter().filter(|f| f.number == n).map(|f| String::from_utf8(f.bytes(&nodes[1]).unwrap().to_vec()).unwrap()).collect::<Vec<_>>();
        assert_eq!(text(4), ["FastGRU"]);
        assert_eq!(text(7), ["ai.trnet"]);
        assert_eq!(text(1), ["x", "w", "r", "b", "", "h0"]);
        assert_eq!(text(3), ["the_node"]);
    }

    #[test]
    fn unsupported_grus_and_models_without_grus_are_left_alone() {
        let lens = node("GRU", &["x", "w", "r", "b", "lens"], &[attr_int("linear_before_reset", 1)]);
        let mut clip = attr_int("clip", 0);
        clip.truncate(6);
        let clipped = node("GRU", &["x", "w", "r"], &[attr_int("linear_before_reset", 1), clip]);
        let out = reroute_grus(&model(&[lens, clipped]), "d", "G").unwrap();
        assert!(out.bytes.is_none());
        assert_eq!(out.kept, ["GRU the_node: has sequence_lens", "GRU the_node: attribute clip is not supported"]);
        assert!(reroute_grus(&model(&[node("Conv", &["x"], &[])]), "d", "G").unwrap().bytes.is_none());
    }

    fn attr_ints(name: &str, v: &[u64]) -> Vec<u8> {
        let mut a = Vec::new();
        put_bytes(&mut a, 1, name.as_bytes());
        for &x in v {
            put_key(&mut a, 8, 0);
            put_varint(&mut a, x);
        }
        a
    }

    fn node_io(op: &str, inputs: &[&str], outputs: &[&str], attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            put_bytes(&mut n, 1, i.as_bytes());
        }
        for o in outputs {
            put_bytes(&mut n, 2, o.as_bytes());
        }
        put_bytes(&mut n, 4, op.as_bytes());
        for a in attrs {
            put_bytes(&mut n, 5, a);
        }
        n
    }

    /// A Constant node `name` holding int64 [values] (TensorProto: dims = 1, data_type = 2, int64_data = 7).
    fn constant(name: &str, values: &[u64]) -> Vec<u8> {
        let mut t = Vec::new();
        put_key(&mut t, 1, 0);
        put_varint(&mut t, values.len() as u64);
        put_key(&mut t, 2, 0);
        put_varint(&mut t, 7);
        for &v in values {
            put_key(&mut t, 7, 0);
            put_varint(&mut t, v);
        }
        let mut a = Vec::new();
        put_bytes(&mut a, 1, b"value");
        put_bytes(&mut a, 5, &t);
        node_io("Constant", &[], &[name], &[a])
    }

    fn graph_nodes(bytes: &[u8]) -> Vec<Node<'_>> {
        let top = fields(bytes).unwrap();
        let graph = top.iter().find(|f| f.number == 7).unwrap().bytes(bytes).unwrap();
        fields(graph).unwrap().iter().filter(|f| f.number == 1).map(|f| parse_node(f.bytes(graph).unwrap()).unwrap()).collect()
    }

    fn gru_between(input: &str, output: &str) -> Vec<u8> {
        let state = format!("{output}_h");
        node_io("GRU", &[input, "w", "r"], &[output, &state], &[attr_int("linear_before_reset", 1), attr_int("hidden_size", 4)])
    }

    #[test]
    fn transposes_around_a_gru_fold_into_its_attributes() {
        // A -> Transpose(1,0,2) -> GRU -> Squeeze(axes [1]) -> Transpose(1,0,2) -> Z; and a second GRU whose
        // Y goes through Transpose(0,2,1,3).
        let nodes = [
            node_io("Transpose", &["A"], &["X"], &[attr_ints("perm", &[1, 0, 2])]),
            gru_between("X", "Y"),
            constant("axes", &[1]),
            node_io("Squeeze", &["Y", "axes"], &["S"], &[]),
            node_io("Transpose", &["S"], &["Z"], &[attr_ints("perm", &[1, 0, 2])]),
            gru_between("Z", "Y2"),
            node_io("Transpose", &["Y2"], &["Z2"], &[attr_ints("perm", &[0, 2, 1, 3])]),
        ];
        let out = reroute_grus(&model(&nodes), "d", "G").unwrap();
        assert_eq!((out.rerouted, out.folded_transposes), (2, 3));
        let bytes = out.bytes.unwrap();
        let got = graph_nodes(&bytes);
        let ops: Vec<_> = got.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["G", "Constant", "Squeeze", "G"]);
        assert_eq!((got[0].inputs[0].as_str(), got[0].outputs[0].as_str()), ("A", "Y"));
        assert_eq!(attribute(got[0].bytes, "x_perm").unwrap().unwrap().ints, [1, 0, 2]);
        assert_eq!(attribute(got[0].bytes, "y_perm").unwrap().unwrap().ints, [2, 1, 0, 3]);
        assert_eq!((got[2].inputs.as_slice(), got[2].outputs.as_slice()), (&["Y".to_string(), "axes".into()][..], &["Z".to_string()][..]));
        assert_eq!((got[3].inputs[0].as_str(), got[3].outputs[0].as_str()), ("Z", "Z2"));
        assert!(attribute(got[3].bytes, "x_perm").unwrap().is_none());
        assert_eq!(attribute(got[3].bytes, "y_perm").unwrap().unwrap().ints, [0, 2, 1, 3]);
    }

    #[test]
    fn the_transpose_after_a_direction_merging_reshape_folds_too() {
        let merged = |shape: &[u64], perm: &[u64]| {
            vec![
                gru_between("A", "Y"),
                node_io("Transpose", &["Y"], &["T"], &[attr_ints("perm", &[0, 2, 1, 3])]),
                constant("shape", shape),
                node_io("Reshape", &["T", "shape"], &["M"], &[]),
                node_io("Transpose", &["M"], &["Z"], &[attr_ints("perm", perm)]),
            ]
        };
        // [seq, dirs, batch, H] -> (0,2,1,3) -> merge the last two -> (1,0,2): [batch, seq, dirs, H] merged.
        let out = reroute_grus(&model(&merged(&[0, 0, u64::MAX], &[1, 0, 2])), "d", "G").unwrap();
        assert_eq!((out.rerouted, out.folded_transposes), (1, 2));
        let bytes = out.bytes.unwrap();
        let got = graph_nodes(&bytes);
        let ops: Vec<_> = got.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["G", "Constant", "Reshape"]);
        assert_eq!(attribute(got[0].bytes, "y_perm").unwrap().unwrap().ints, [2, 0, 1, 3]);
        assert_eq!((got[0].outputs[0].as_str(), got[2].inputs[0].as_str(), got[2].outputs[0].as_str()), ("T", "T", "Z"));
        // A Reshape that does not keep the leading axes, or a Transpose that moves the merged axis: only the
        // first Transpose folds.
        for (shape, perm) in [(&[0, u64::MAX, 16][..], &[1, 0, 2][..]), (&[0, 0, u64::MAX], &[0, 2, 1])] {
            let out = reroute_grus(&model(&merged(shape, perm)), "d", "G").unwrap();
            assert_eq!(out.folded_transposes, 1, "{shape:?} {perm:?}");
            assert_eq!(graph_nodes(out.bytes.as_ref().unwrap()).len(), 4);
        }
    }

    #[test]
    fn transposes_that_other_nodes_also_read_or_other_squeezes_are_not_folded() {
        let cases = [
            // X is read by another node as well.
            vec![node_io("Transpose", &["A"], &["X"], &[attr_ints("perm", &[1, 0, 2])]), gru_between("X", "Y"), node_io("Relu", &["X"], &["R"], &[])],
            // Squeeze of another axis.
            vec![
                gru_between("A", "Y"),
                constant("axes", &[2]),
                node_io("Squeeze", &["Y", "axes"], &["S"], &[]),
                node_io("Transpose", &["S"], &["Z"], &[attr_ints("perm", &[1, 0, 2])]),
            ],
            // A Transpose with no perm (reverses the axes).
            vec![gru_between("A", "Y"), node_io("Transpose", &["Y"], &["Z"], &[])],
        ];
        for (i, nodes) in cases.iter().enumerate() {
            let out = reroute_grus(&model(nodes), "d", "G").unwrap();
            assert_eq!((out.rerouted, out.folded_transposes), (1, 0), "case {i}");
            assert_eq!(graph_nodes(out.bytes.as_ref().unwrap()).len(), nodes.len(), "case {i}");
        }
        // A graph-valued attribute anywhere turns folding off.
        let mut body = Vec::new();
        put_bytes(&mut body, 1, b"then_branch");
        put_bytes(&mut body, 6, b"");
        let nodes = [node_io("Transpose", &["A"], &["X"], &[attr_ints("perm", &[1, 0, 2])]), gru_between("X", "Y"), node_io("If", &["c"], &["o"], &[body])];
        assert_eq!(reroute_grus(&model(&nodes), "d", "G").unwrap().folded_transposes, 0);
    }

    #[test]
    fn malformed_bytes_are_errors_that_say_where() {
        let good = model(&[node("GRU", &["x", "w", "r"], &[attr_int("linear_before_reset", 1)])]);
        assert!(reroute_grus(&good, "d", "G").unwrap().bytes.is_some());
        // Cut anywhere inside the graph: a length past the end.
        let err = reroute_grus(&good[..good.len() - 9], "d", "G").unwrap_err();
        assert!(err.contains("claims") || err.contains("past the end"), "{err}");
        assert!(reroute_grus(b"this is not protobuf", "d", "G").is_err());
        assert!(reroute_grus(&[0xff; 12], "d", "G").unwrap_err().contains("longer than 10 bytes"));
        assert!(reroute_grus(&[], "d", "G").unwrap_err().contains("0 graph fields"));
        // A group (wire type 3) inside a node.
        let mut bad_node = node("GRU", &["x"], &[]);
        bad_node.extend_from_slice(&[0x0b]);
        assert!(reroute_grus(&model(&[bad_node]), "d", "G").unwrap_err().contains("NodeProto: field 1 at byte"), "wire type 3");
    }
}
