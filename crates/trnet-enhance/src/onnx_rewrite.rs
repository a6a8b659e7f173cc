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

use std::ops::Range;

/// What [`reroute_grus`] did.
#[derive(Debug)]
pub struct Rerouted {
    /// The rewritten model, or None when no node qualified (load the file as it is).
    pub bytes: Option<Vec<u8>>,
    pub rerouted: usize,
    /// GRU nodes left with ONNX Runtime, and why.
    pub kept: Vec<String>,
}

/// Reroutes every supported top-level `GRU` node to `domain`:`op` (version 1). Err says where the bytes stop being
/// a valid ONNX protobuf.
pub fn reroute_grus(model: &[u8], domain: &str, op: &str) -> Result<Rerouted, String> {
    let fields = fields(model).map_err(|e| format!("ModelProto: {e}"))?;
    let graphs: Vec<&Field> = fields.iter().filter(|f| f.number == 7).collect();
    let [graph] = graphs.as_slice() else {
        return Err(format!("ModelProto has {} graph fields where one was expected", graphs.len()));
    };
    let graph_bytes = graph.bytes(model).ok_or("ModelProto.graph is not length-delimited")?;
    let graph_fields = fields_of(graph_bytes, "GraphProto")?;

    let mut external = false;
    for f in graph_fields.iter().filter(|f| f.number == 5) {
        let tensor = f.bytes(graph_bytes).ok_or("GraphProto.initializer is not length-delimited")?;
        external |= fields_of(tensor, "TensorProto")?.iter().any(|t| t.number == 14 && t.varint == Some(1));
    }
    let mut new_graph = Vec::with_capacity(graph_bytes.len() + 64);
    let mut rerouted = 0;
    let mut kept = Vec::new();
    for f in &graph_fields {
        if f.number == 1 {
            let node = f.bytes(graph_bytes).ok_or("GraphProto.node is not length-delimited")?;
            match check_gru(node)? {
                Some(Ok(_)) if !external => {
                    put_bytes(&mut new_graph, 1, &rewrite_node(node, domain, op)?);
                    rerouted += 1;
                    continue;
                }
                Some(Ok(name)) => kept.push(format!("{name}: the model keeps its weights in external files")),
                Some(Err(why)) => kept.push(why),
                None => {}
            }
        }
        new_graph.extend_from_slice(&graph_bytes[f.raw.clone()]);
    }
    if rerouted == 0 {
        return Ok(Rerouted { bytes: None, rerouted, kept });
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
    Ok(Rerouted { bytes: Some(out), rerouted, kept })
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
        let fields = fields_of(attribute, "AttributeProto")?;
        let get = |n: u32| fields.iter().find(|f| f.number == n);
        let attr_name = get(1).and_then(|f| f.bytes(attribute)).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        let int = get(3).and_then(|f| f.varint).map(|v| v as i64);
        match attr_name.as_str() {
            "hidden_size" => {}
            "linear_before_reset" => linear_before_reset = int.unwrap_or(0),
            "layout" if int.unwrap_or(0) == 0 => {}
            "direction" => {
                let s = get(4).and_then(|f| f.bytes(attribute)).unwrap_or_default();
                if !matches!(s, b"forward" | b"reverse" | b"bidirectional") {
                    return Ok(Some(Err(format!("{name}: direction {:?}", String::from_utf8_lossy(s)))));
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

/// The node with op_type `op` and domain `domain`; every other field as it was.
fn rewrite_node(node: &[u8], domain: &str, op: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(node.len() + domain.len() + 8);
    for f in fields_of(node, "NodeProto")? {
        match f.number {
            4 => put_bytes(&mut out, 4, op.as_bytes()),
            7 => {}
            _ => out.extend_from_slice(&node[f.raw.clone()]),
        }
    }
    put_bytes(&mut out, 7, domain.as_bytes());
    Ok(out)
}

/// One field as it appears in the message: its number, the bytes of the whole field (key included) and, by
/// wire type, the varint value or where the length-delimited payload lies.
#[derive(Debug)]
struct Field {
    number: u32,
    raw: Range<usize>,
    varint: Option<u64>,
    payload: Option<Range<usize>>,
}

impl Field {
    fn bytes<'a>(&self, message: &'a [u8]) -> Option<&'a [u8]> {
        self.payload.clone().map(|r| &message[r])
    }
}

fn fields_of(message: &[u8], what: &str) -> Result<Vec<Field>, String> {
    fields(message).map_err(|e| format!("{what}: {e}"))
}

/// Splits a message into its fields. Err on a truncated field, a length past the end, or a wire type protobuf
/// 3 does not use (groups).
fn fields(message: &[u8]) -> Result<Vec<Field>, String> {
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

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
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

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, number: u32, wire: u64) {
    put_varint(out, (u64::from(number) << 3) | wire);
}

fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
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
