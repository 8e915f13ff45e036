//! ONNX import through tract-onnx's parser and type inference.
//!
//! Two front ends meet in one lowering:
//! - quantized models (`qdq`): QuantizeLinear/DequantizeLinear pairs around float operators,
//!   or QLinearConv/QLinearMatMul, are read as a float graph plus the quantization of every
//!   tensor they fix;
//! - float models (`ptq`): post-training quantization decides the same from calibration data.
//!
//! `lower` then turns that annotated graph into edgeq's integer operators, fusing a
//! Relu/Clip (and a MatMul's bias Add) into the operator before it, as TFLite does.

mod graph;
mod lower;
pub mod ptq;
mod qdq;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use edgeq_runtime::format::DType;

pub use graph::{load, load_bytes, Graph, Node};

use crate::eqm::ModelBuilder;

/// Operators the lowering understands (after Q/DQ pairs are read as quantization).
pub const SUPPORTED_OPS: &str = "Conv (full, depthwise), MatMul, Gemm, Add, Relu, Clip, \
     AveragePool, MaxPool, GlobalAveragePool, Softmax, Reshape, Flatten, Transpose (NHWC<->NCHW), \
     Identity, Dropout, BatchNormalization (float models), QuantizeLinear, DequantizeLinear, \
     QLinearConv, QLinearMatMul";

/// The quantization of an activation tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActQuant {
    /// `I8` or `U4`.
    pub dtype: DType,
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// A quantized constant: integers with per-tensor or per-axis scales.
#[derive(Clone, Debug)]
pub struct QConst {
    /// Dims as in the ONNX file.
    pub dims: Vec<usize>,
    /// Values.
    pub values: Vec<i32>,
    /// One scale, or one per index of `axis`.
    pub scales: Vec<f32>,
    /// Zero points, as many as scales.
    pub zero_points: Vec<i32>,
    /// The axis the scales run along.
    pub axis: usize,
    /// Storage width in the `.eqm`: 8 or 4 (weights); 32 for biases.
    pub bits: u8,
}

/// A graph input or output of the lowered model.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The tensor (after Q/DQ pairs are removed).
    pub name: String,
    /// The name the ONNX file gives it (the `.eqm` tensor's name).
    pub label: String,
    /// Float at the model boundary (a Quantize/Dequantize op is added), or integer.
    pub float: bool,
}

/// A float operator graph with every quantization decided.
#[derive(Clone, Debug, Default)]
pub struct Annotated {
    /// Operators, Q/DQ removed, inputs renamed to the tensors they alias.
    pub nodes: Vec<Node>,
    /// Quantization of activation tensors.
    pub acts: HashMap<String, ActQuant>,
    /// Quantized constants (weights, biases) by the name operators use.
    pub qconsts: HashMap<String, QConst>,
    /// Model inputs.
    pub inputs: Vec<Endpoint>,
    /// Model outputs.
    pub outputs: Vec<Endpoint>,
}

/// A Relu/Clip and a bias Add fused into the operator before them.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// The tensor the fused operator writes (the last absorbed node's output).
    pub output: String,
    /// Lower clamp in real units (Relu: 0).
    pub min: Option<f32>,
    /// Upper clamp in real units (Relu6: 6).
    pub max: Option<f32>,
    /// A constant added to a MatMul's output.
    pub bias: Option<String>,
    /// Absorbed node indices.
    pub absorbed: Vec<usize>,
}

/// Which nodes read each tensor.
pub fn consumers(nodes: &[Node]) -> HashMap<String, Vec<usize>> {
    let mut map: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for input in n.inputs.iter().filter(|s| !s.is_empty()) {
            map.entry(input.clone()).or_default().push(i);
        }
    }
    map
}

/// Operators that move or select values without changing them: their output has the
/// quantization of their input.
pub fn keeps_quantization(op: &str) -> bool {
    matches!(
        op,
        "Reshape" | "Flatten" | "Transpose" | "Identity" | "Dropout" | "MaxPool"
    )
}

impl Annotated {
    /// Copies quantization across operators that keep it ([`keeps_quantization`]; also
    /// average pools, whose output TFLite keeps at the input's quantization): forward to
    /// unquantized outputs, and backward to unquantized inputs of the layout operators
    /// (an int8 model input transposed before its DequantizeLinear).
    pub fn propagate(&mut self) {
        let pools = |op: &str| matches!(op, "AveragePool" | "GlobalAveragePool");
        for n in &self.nodes {
            if !(keeps_quantization(&n.op) || pools(&n.op)) {
                continue;
            }
            if let Some(q) = n.input(0).and_then(|x| self.acts.get(x)).copied() {
                self.acts.entry(n.output().to_string()).or_insert(q);
            }
        }
        for n in self.nodes.iter().rev() {
            if !keeps_quantization(&n.op) || n.op == "MaxPool" {
                continue;
            }
            if let (Some(x), Some(q)) = (n.input(0), self.acts.get(n.output()).copied()) {
                self.acts.entry(x.to_string()).or_insert(q);
            }
        }
    }

    /// Follows `start` (an operator's output) through the nodes that fuse into that
    /// operator: a Relu or Clip, and with `allow_bias` one Add of a constant. Stops at a
    /// tensor that is quantized, is a model output, or is read by more than one node.
    pub fn chain(
        &self,
        g: &Graph,
        consumers: &HashMap<String, Vec<usize>>,
        start: &str,
        allow_bias: bool,
    ) -> Result<Chain> {
        let mut c = Chain {
            output: start.to_string(),
            ..Chain::default()
        };
        loop {
            if self.acts.contains_key(&c.output) || self.outputs.iter().any(|o| o.name == c.output)
            {
                return Ok(c);
            }
            let [next] = consumers.get(&c.output).map(Vec::as_slice).unwrap_or(&[]) else {
                return Ok(c);
            };
            let node = &self.nodes[*next];
            match node.op.as_str() {
                "Relu" => c.min = Some(c.min.unwrap_or(0.0).max(0.0)),
                "Clip" => {
                    // Opset 11+: optional constant inputs; before: attributes.
                    let bound = |i: usize, attr: &str| -> Result<Option<f32>> {
                        match node.input(i) {
                            Some(name) => Ok(g.const_f32(name)?.first().copied()),
                            None => Ok(node.float(attr)),
                        }
                    };
                    let (lo, hi) = (bound(1, "min")?, bound(2, "max")?);
                    c.min = match (c.min, lo) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    c.max = match (c.max, hi) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                "Add" if allow_bias && c.bias.is_none() && c.min.is_none() => {
                    let other = node
                        .inputs
                        .iter()
                        .find(|i| **i != c.output)
                        // An int32 (or, before PTQ, float) constant; an int8 one is an
                        // elementwise Add of its own.
                        .filter(|i| {
                            self.qconsts
                                .get(*i)
                                .map_or(g.consts.contains_key(*i), |q| q.bits == 32)
                        });
                    match other {
                        Some(b) => c.bias = Some(b.clone()),
                        None => return Ok(c),
                    }
                }
                _ => return Ok(c),
            }
            c.absorbed.push(*next);
            c.output = node.output().to_string();
        }
    }
}

/// Lowers a quantized (QDQ or QLinear) ONNX model file.
pub fn lower_quantized(path: &Path) -> Result<ModelBuilder> {
    lower_graph(&load(path)?)
}

/// Lowers a quantized ONNX model held in memory (all its tensors inside it).
pub fn lower_quantized_bytes(bytes: &[u8]) -> Result<ModelBuilder> {
    lower_graph(&load_bytes(bytes)?)
}

fn lower_graph(g: &Graph) -> Result<ModelBuilder> {
    let annotated = qdq::annotate(g).context("reading the model's quantization")?;
    lower::lower(g, &annotated)
}

/// Lowers an already annotated graph (what PTQ produces).
pub fn lower_annotated(g: &Graph, annotated: &Annotated) -> Result<ModelBuilder> {
    lower::lower(g, annotated)
}
