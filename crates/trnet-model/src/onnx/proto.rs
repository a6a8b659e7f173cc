//! The part of `onnx.proto` (onnx/onnx, proto2) an exported model needs, written straight to protobuf wire
//! format: no protoc, no generated code, no protobuf crate. Each message is a plain struct whose `encode`
//! writes its fields by their field numbers in `onnx.proto`. Repeated scalars are written unpacked, proto2's
//! default encoding (parsers accept both).

/// TensorProto.DataType values used here.
pub const FLOAT: i32 = 1;
pub const INT64: i32 = 7;

/// Protobuf wire types.
const VARINT: u32 = 0;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// A protobuf byte buffer with the three wire types ONNX needs.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u32) {
        self.varint(u64::from(field << 3 | wire));
    }

    /// int32/int64/enum fields: negative values are sign-extended to 64 bits, as protobuf specifies.
    pub fn int(&mut self, field: u32, v: i64) {
        self.key(field, VARINT);
        self.varint(v as u64);
    }

    pub fn float(&mut self, field: u32, v: f32) {
        self.key(field, FIXED32);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    pub fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    pub fn message(&mut self, field: u32, m: &impl Encode) {
        let mut inner = Writer::default();
        m.encode(&mut inner);
        self.bytes(field, &inner.0);
    }
}

pub trait Encode {
    fn encode(&self, w: &mut Writer);
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.encode(&mut w);
        w.0
    }
}

/// TensorProto: a named constant (an initializer or a Constant node's value), data little-endian in raw_data.
pub struct TensorProto {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i32,
    pub raw_data: Vec<u8>,
}

impl TensorProto {
    pub fn float(name: &str, dims: &[i64], values: &[f32]) -> Self {
        TensorProto { name: name.into(), dims: dims.to_vec(), data_type: FLOAT, raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    pub fn int64(name: &str, dims: &[i64], values: &[i64]) -> Self {
        TensorProto { name: name.into(), dims: dims.to_vec(), data_type: INT64, raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }
}

impl Encode for TensorProto {
    fn encode(&self, w: &mut Writer) {
        for &d in &self.dims {
            w.int(1, d);
        }
        w.int(2, i64::from(self.data_type));
        w.string(8, &self.name);
        w.bytes(9, &self.raw_data);
    }
}

/// AttributeProto with the kinds the exporter uses (AttributeType FLOAT = 1, INT = 2, INTS = 7).
pub enum Attribute {
    Float(f32),
    Int(i64),
    Ints(Vec<i64>),
}

pub struct AttributeProto {
    pub name: String,
    pub value: Attribute,
}

impl Encode for AttributeProto {
    fn encode(&self, w: &mut Writer) {
        w.string(1, &self.name);
        match &self.value {
            Attribute::Float(f) => {
                w.float(2, *f);
                w.int(20, 1);
            }
            Attribute::Int(i) => {
                w.int(3, *i);
                w.int(20, 2);
            }
            Attribute::Ints(v) => {
                for &i in v {
                    w.int(8, i);
                }
                w.int(20, 7);
            }
        }
    }
}

pub struct NodeProto {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub name: String,
    pub op_type: String,
    pub attributes: Vec<AttributeProto>,
}

impl Encode for NodeProto {
    fn encode(&self, w: &mut Writer) {
        for i in &self.inputs {
            w.string(1, i);
        }
        for o in &self.outputs {
            w.string(2, o);
        }
        w.string(3, &self.name);
        w.string(4, &self.op_type);
        for a in &self.attributes {
            w.message(5, a);
        }
    }
}

/// One dimension of a declared shape: a fixed size or a named symbolic one ("batch", "frames").
pub enum Dim {
    Value(i64),
    Param(String),
}

/// ValueInfoProto of a tensor: name, element type and shape (TypeProto.Tensor, TensorShapeProto).
pub struct ValueInfoProto {
    pub name: String,
    pub elem_type: i32,
    pub dims: Vec<Dim>,
    pub doc: String,
}

struct Shape<'a>(&'a [Dim]);
struct Dimension<'a>(&'a Dim);
struct TensorType<'a>(&'a ValueInfoProto);
struct TypeProto<'a>(&'a ValueInfoProto);

impl Encode for Dimension<'_> {
    fn encode(&self, w: &mut Writer) {
        match self.0 {
            Dim::Value(v) => w.int(1, *v),
            Dim::Param(p) => w.string(2, p),
        }
    }
}

impl Encode for Shape<'_> {
    fn encode(&self, w: &mut Writer) {
        for d in self.0 {
            w.message(1, &Dimension(d));
        }
    }
}

impl Encode for TensorType<'_> {
    fn encode(&self, w: &mut Writer) {
        w.int(1, i64::from(self.0.elem_type));
        w.message(2, &Shape(&self.0.dims));
    }
}

impl Encode for TypeProto<'_> {
    fn encode(&self, w: &mut Writer) {
        w.message(1, &TensorType(self.0));
    }
}

impl Encode for ValueInfoProto {
    fn encode(&self, w: &mut Writer) {
        w.string(1, &self.name);
        w.message(2, &TypeProto(self));
        if !self.doc.is_empty() {
            w.string(3, &self.doc);
        }
    }
}

pub struct GraphProto {
    pub name: String,
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    pub inputs: Vec<ValueInfoProto>,
    pub outputs: Vec<ValueInfoProto>,
}

impl Encode for GraphProto {
    fn encode(&self, w: &mut Writer) {
        for n in &self.nodes {
            w.message(1, n);
        }
        w.string(2, &self.name);
        for t in &self.initializers {
            w.message(5, t);
        }
        for i in &self.inputs {
            w.message(11, i);
        }
        for o in &self.outputs {
            w.message(12, o);
        }
    }
}

/// StringStringEntryProto (metadata_props) and OperatorSetIdProto share this shape of two fields.
struct Entry<'a>(&'a str, &'a str);
struct OpsetId(i64);

impl Encode for Entry<'_> {
    fn encode(&self, w: &mut Writer) {
        w.string(1, self.0);
        w.string(2, self.1);
    }
}

impl Encode for OpsetId {
    fn encode(&self, w: &mut Writer) {
        w.string(1, ""); // ai.onnx, the default operator set
        w.int(2, self.0);
    }
}

pub struct ModelProto {
    pub ir_version: i64,
    pub opset: i64,
    pub producer_name: String,
    pub producer_version: String,
    pub doc: String,
    pub graph: GraphProto,
    pub metadata: Vec<(String, String)>,
}

impl Encode for ModelProto {
    fn encode(&self, w: &mut Writer) {
        w.int(1, self.ir_version);
        w.string(2, &self.producer_name);
        w.string(3, &self.producer_version);
        w.string(6, &self.doc);
        w.message(7, &self.graph);
        w.message(8, &OpsetId(self.opset));
        for (k, v) in &self.metadata {
            w.message(14, &Entry(k, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_keys_follow_the_wire_format() {
        let mut w = Writer::default();
        w.int(1, 300);
        assert_eq!(w.0, [0x08, 0xac, 0x02]);
        let mut w = Writer::default();
        w.int(2, -1);
        // Negative int64: ten bytes, sign-extended.
        assert_eq!(w.0, [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let mut w = Writer::default();
        w.string(14, "ab");
        assert_eq!(w.0, [0x72, 0x02, b'a', b'b']);
        let mut w = Writer::default();
        w.float(2, 1.0);
        assert_eq!(w.0, [0x15, 0x00, 0x00, 0x80, 0x3f]);
    }

    #[test]
    fn a_tensor_writes_dims_type_name_and_raw_bytes() {
        let t = TensorProto::float("w", &[2], &[1.0, -2.0]).to_bytes();
        let want: Vec<u8> =
            [vec![0x08, 0x02, 0x10, 0x01, 0x42, 0x01, b'w', 0x4a, 0x08], 1.0f32.to_le_bytes().to_vec(), (-2.0f32).to_le_bytes().to_vec()].concat();
        assert_eq!(t, want);
    }
}
