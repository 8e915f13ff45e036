//! Writing float networks as ONNX (opset 13), with tract-onnx's protobuf types and prost's
//! encoder, so trained teachers and float students can be run by any ONNX runtime, used as
//! teachers from a file, or post-training quantized. Batch norm is folded first.

use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::tensor::Tensor;
use prost::Message;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

use super::layers::{Conv, Dense, Layer};
use super::{Net, NetSpec};

#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    count: usize,
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                None => tensor_shape_proto::dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Graph {
    fn fresh(&mut self, what: &str) -> String {
        self.count += 1;
        format!("{what}_{}", self.count)
    }

    fn init<const D: usize>(&mut self, what: &str, t: Tensor<D>) -> String {
        let name = self.fresh(what);
        self.inits.push(TensorProto {
            dims: t.dims().iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            float_data: crate::nn::floats(t),
            name: name.clone(),
            ..Default::default()
        });
        name
    }

    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    fn conv(&mut self, x: &str, c: &Conv) -> String {
        let [_, _, kh, kw] = c.dims();
        let w = self.init("weight", c.weight.val());
        let b = self.init("bias", c.bias.val());
        let p = c.pad as i64;
        let y = self.node(
            "Conv",
            &[x, &w, &b],
            vec![
                ints("kernel_shape", &[kh as i64, kw as i64]),
                ints("strides", &[c.stride as i64; 2]),
                ints("pads", &[p, p, p, p]),
                int("group", c.groups as i64),
            ],
        );
        if c.relu {
            self.node("Relu", &[&y], vec![])
        } else {
            y
        }
    }

    fn dense(&mut self, x: &str, d: &Dense) -> String {
        let flat = self.node("Flatten", &[x], vec![int("axis", 1)]);
        let w = self.init("weight", d.weight.val());
        let b = self.init("bias", d.bias.val());
        let y = self.node("Gemm", &[&flat, &w, &b], vec![int("transB", 1)]);
        if d.relu {
            self.node("Relu", &[&y], vec![])
        } else {
            y
        }
    }
}

/// The ONNX bytes of a float network (batch norm folded; the batch axis is symbolic).
pub fn to_onnx(net: &Net, spec: &NetSpec) -> Result<Vec<u8>> {
    if net.is_quantized() {
        bail!("ONNX export is for float networks; quantized ones export to .eqm");
    }
    let folded = net.clone().folded();
    let mut g = Graph::default();
    let mut x = "input".to_string();
    for layer in &folded.layers {
        x = match layer {
            Layer::Conv(c) => g.conv(&x, c),
            Layer::Dense(d) => g.dense(&x, d),
            Layer::Residual(r) => {
                let a = g.conv(&x, &r.a);
                let b = g.conv(&a, &r.b);
                let shortcut = match &r.project {
                    Some(p) => g.conv(&x, p),
                    None => x.clone(),
                };
                let sum = g.node("Add", &[&b, &shortcut], vec![]);
                g.node("Relu", &[&sum], vec![])
            }
            Layer::Pool(p) if p.global_average => g.node("GlobalAveragePool", &[&x], vec![]),
            Layer::Pool(_) => g.node(
                "MaxPool",
                &[&x],
                vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
            ),
        };
    }
    // Logits as [batch, classes] whatever the last layer's rank.
    let logits = g.node("Flatten", &[&x], vec![int("axis", 1)]);
    let [c, h, w] = spec.input.map(|d| Some(d as i64));
    let model = ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "edgeq".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(GraphProto {
            name: spec.arch.clone(),
            node: g.nodes,
            initializer: g.inits,
            input: vec![value_info("input", &[None, c, h, w])],
            output: vec![value_info(&logits, &[None, Some(spec.classes as i64)])],
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// Writes [`to_onnx`] to `path`.
pub fn write_onnx(net: &Net, spec: &NetSpec, path: &Path) -> Result<()> {
    std::fs::write(path, to_onnx(net, spec)?).with_context(|| format!("writing {}", path.display()))
}
