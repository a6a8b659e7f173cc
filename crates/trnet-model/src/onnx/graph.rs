//! A small ONNX graph builder: nodes with generated output names, initializers taken from tch tensors
//! (copied to float32 on the CPU), and constants.

use super::proto::{Attribute, AttributeProto, NodeProto, TensorProto};
use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

#[derive(Default)]
pub struct Graph {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    next: usize,
}

pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), value: Attribute::Ints(v.to_vec()) }
}

pub fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), value: Attribute::Int(v) }
}

pub fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), value: Attribute::Float(v) }
}

impl Graph {
    /// Adds a node with one output and returns the output's name (`<op>_<n>`, unique in the graph).
    pub fn op(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        let out = format!("{}_{}", op.to_lowercase(), self.next);
        self.named(op, inputs, attributes, &out);
        out
    }

    /// Adds a node whose output has a chosen name (a graph output).
    pub fn named(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>, out: &str) {
        self.next += 1;
        self.nodes.push(NodeProto {
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![out.to_string()],
            name: format!("{op}_{}", self.next),
            op_type: op.into(),
            attributes,
        });
    }

    /// A parameter or buffer of the model as an initializer named by its PyTorch-style path.
    pub fn weight(&mut self, name: &str, t: &Tensor) -> Result<String> {
        let dims = t.size();
        let values: Vec<f32> = t
            .f_to_device(Device::Cpu)
            .and_then(|t| t.f_to_kind(Kind::Float))
            .and_then(|t| t.f_contiguous())
            .and_then(|t| t.f_flatten(0, -1))
            .and_then(|t| Vec::<f32>::try_from(&t))
            .map_err(Error::torch(format!("reading {name} for the ONNX export")))?;
        self.initializers.push(TensorProto::float(name, &dims, &values));
        Ok(name.to_string())
    }

    /// A float32 constant (an initializer with a generated name).
    pub fn const_f32(&mut self, dims: &[i64], values: &[f32]) -> String {
        self.next += 1;
        let name = format!("const_{}", self.next);
        self.initializers.push(TensorProto::float(&name, dims, values));
        name
    }

    /// An int64 constant (axes, shapes, indices).
    pub fn const_i64(&mut self, dims: &[i64], values: &[i64]) -> String {
        self.next += 1;
        let name = format!("const_{}", self.next);
        self.initializers.push(TensorProto::int64(&name, dims, values));
        name
    }
}
