//! Quantized ONNX models: every QuantizeLinear/DequantizeLinear pair is read as the
//! quantization of the float tensor between them, DequantizeLinear of a constant as a
//! quantized weight or bias, and QLinearConv/QLinearMatMul as their float operator with
//! the quantization of each operand. What remains is the float graph to lower.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use edgeq_runtime::format::DType;
use tract_onnx::prelude::*;

use super::{ActQuant, Annotated, Endpoint, Graph, Node, QConst};

struct Reader<'g> {
    g: &'g Graph,
    /// Tensor -> the tensor it is the same value as (a Q or DQ output).
    alias: HashMap<String, String>,
    a: Annotated,
}

/// Reads the quantization of `g`.
pub fn annotate(g: &Graph) -> Result<Annotated> {
    let mut r = Reader {
        g,
        alias: HashMap::new(),
        a: Annotated::default(),
    };
    for node in &g.nodes {
        r.node(node)
            .with_context(|| format!("node {}", node.describe()))?;
    }
    r.a.propagate();
    for io in &g.inputs {
        let float = io.dtype == f32::datum_type();
        ensure!(
            float || io.dtype == i8::datum_type(),
            "model input '{}' is {:?}; edgeq models take int8 or float32",
            io.name,
            io.dtype
        );
        ensure!(
            r.a.acts.contains_key(&io.name),
            "model input '{}' is never quantized (is this a float model? use --calibrate)",
            io.name
        );
        r.a.inputs.push(Endpoint {
            name: io.name.clone(),
            label: io.name.clone(),
            float,
        });
    }
    for io in &g.outputs {
        let float = io.dtype == f32::datum_type();
        ensure!(
            float || io.dtype == i8::datum_type(),
            "model output '{}' is {:?}; edgeq models return int8 or float32",
            io.name,
            io.dtype
        );
        r.a.outputs.push(Endpoint {
            name: r.resolve(&io.name),
            label: io.name.clone(),
            float,
        });
    }
    Ok(r.a)
}

impl Reader<'_> {
    fn resolve(&self, name: &str) -> String {
        let mut name = name;
        while let Some(next) = self.alias.get(name) {
            name = next;
        }
        name.to_string()
    }

    /// A per-tensor activation quantization from scale and zero-point constants. uint8
    /// becomes int8 with the zero point moved by −128 (the same real values).
    fn act_quant(&self, scale: &str, zero_point: Option<&str>) -> Result<ActQuant> {
        let scales = self.g.const_f32(scale)?;
        ensure!(
            scales.len() == 1,
            "activation quantized per axis ({} scales); only per-tensor activations are supported",
            scales.len()
        );
        let (zero_point, shift) = match zero_point {
            Some(z) => {
                let dt = self.g.consts.get(z).map(|t| t.datum_type());
                let shift = match dt {
                    Some(dt) if dt == u8::datum_type() => -128,
                    Some(dt) if dt == i8::datum_type() => 0,
                    other => {
                        bail!("activation zero point '{z}' is {other:?}; int8 or uint8 expected")
                    }
                };
                let z = self.g.const_i64(z)?;
                ensure!(z.len() == 1, "activation zero point must be a scalar");
                (z[0] as i32, shift)
            }
            // The default zero point is uint8 0.
            None => (0, -128),
        };
        ensure!(
            scales[0] > 0.0 && scales[0].is_finite(),
            "activation scale {} is not positive",
            scales[0]
        );
        Ok(ActQuant {
            dtype: DType::I8,
            scale: scales[0],
            zero_point: zero_point + shift,
        })
    }

    /// Operand `i` (with its scale and zero point at `i + 1`, `i + 2`) of a QLinear
    /// elementwise operator: an activation, annotated, or a constant, registered as a
    /// quantized constant under a new name.
    fn operand(&mut self, node: &Node, i: usize) -> Result<String> {
        let x = node.input(i).context("missing operand")?;
        let scale = node.input(i + 1).context("missing operand scale")?;
        let x = self.resolve(x);
        if !self.g.consts.contains_key(&x) {
            return self.activation(&x, scale, node.input(i + 2));
        }
        let c = self.qconst(&x, scale, node.input(i + 2), 0)?;
        let key = format!("{}#operand{i}", node.name);
        self.a.qconsts.insert(key.clone(), c);
        Ok(key)
    }

    /// An activation operand of a QLinear operator, annotated with its quantization.
    fn activation(&mut self, x: &str, scale: &str, zero_point: Option<&str>) -> Result<String> {
        let x = self.resolve(x);
        let q = self.act_quant(scale, zero_point)?;
        self.annotate(&x, q)?;
        Ok(x)
    }

    fn annotate(&mut self, tensor: &str, q: ActQuant) -> Result<()> {
        ensure!(
            !self.g.consts.contains_key(tensor),
            "QuantizeLinear of the constant '{tensor}' (a float weight?) is not supported"
        );
        if let Some(old) = self.a.acts.insert(tensor.to_string(), q) {
            ensure!(
                old == q,
                "tensor '{tensor}' is quantized twice with different parameters ({old:?} and {q:?})"
            );
        }
        Ok(())
    }

    /// A quantized constant from integer `values` and its scale/zero-point constants.
    fn qconst(
        &self,
        values: &str,
        scale: &str,
        zero_point: Option<&str>,
        axis: i64,
    ) -> Result<QConst> {
        let t = self
            .g
            .consts
            .get(values)
            .with_context(|| format!("'{values}' must be constant"))?;
        let bits = match t.datum_type() {
            dt if dt == i8::datum_type() || dt == u8::datum_type() => 8,
            dt if dt == i32::datum_type() => 32,
            other => bail!("quantized constant '{values}' is {other:?}; int8 or int32 expected"),
        };
        let dims = t.shape().to_vec();
        let scales = self.g.const_f32(scale)?;
        let zero_points = match zero_point {
            Some(z) => self.g.const_i64(z)?.iter().map(|&v| v as i32).collect(),
            None => vec![0; scales.len()],
        };
        let axis = if axis < 0 {
            axis + dims.len() as i64
        } else {
            axis
        };
        ensure!(
            scales.len() == zero_points.len()
                && (scales.len() == 1
                    || (axis >= 0
                        && (axis as usize) < dims.len()
                        && dims[axis as usize] == scales.len())),
            "'{values}': {} scales and {} zero points do not fit dims {dims:?} along axis {axis}",
            scales.len(),
            zero_points.len()
        );
        Ok(QConst {
            values: self
                .g
                .const_i64(values)?
                .iter()
                .map(|&v| v as i32)
                .collect(),
            dims,
            scales,
            zero_points,
            axis: axis.max(0) as usize,
            bits,
        })
    }

    /// The int32 bias `values` of a QLinear layer, whose scale is implied: input scale ×
    /// weight scale. Returns the name the rewritten operator reads it by.
    fn int32_bias(
        &mut self,
        node: &Node,
        values: &str,
        w: &QConst,
        input_scale: f32,
    ) -> Result<String> {
        let values = self.g.const_i64(values)?;
        let scales: Vec<f32> = w.scales.iter().map(|s| s * input_scale).collect();
        let key = format!("{}#bias", node.name);
        self.a.qconsts.insert(
            key.clone(),
            QConst {
                dims: vec![values.len()],
                values: values.iter().map(|&v| v as i32).collect(),
                zero_points: vec![0; scales.len()],
                scales,
                axis: 0,
                bits: 32,
            },
        );
        Ok(key)
    }

    fn node(&mut self, node: &Node) -> Result<()> {
        let input = |i: usize| {
            node.input(i)
                .with_context(|| format!("missing input {i}"))
                .map(str::to_owned)
        };
        match node.op.as_str() {
            "QuantizeLinear" => {
                let x = self.resolve(&input(0)?);
                let q = self.act_quant(&input(1)?, node.input(2))?;
                self.annotate(&x, q)?;
                self.alias.insert(node.output().to_string(), x);
            }
            "DequantizeLinear" => {
                let x = self.resolve(&input(0)?);
                if self.g.consts.contains_key(&x) {
                    let c =
                        self.qconst(&x, &input(1)?, node.input(2), node.int("axis").unwrap_or(1))?;
                    self.a.qconsts.insert(node.output().to_string(), c);
                } else {
                    let q = self.act_quant(&input(1)?, node.input(2))?;
                    self.annotate(&x, q)?;
                    self.alias.insert(node.output().to_string(), x);
                }
            }
            "QLinearConv" => {
                // x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, [bias]
                let x = self.activation(&input(0)?, &input(1)?, node.input(2))?;
                let xq = self.a.acts[&x];
                let w = self.qconst(&input(3)?, &input(4)?, node.input(5), 0)?;
                let mut inputs = vec![x, format!("{}#weights", node.name)];
                if let Some(b) = node.input(8) {
                    inputs.push(self.int32_bias(node, b, &w, xq.scale)?);
                }
                self.a.qconsts.insert(inputs[1].clone(), w);
                let yq = self.act_quant(&input(6)?, node.input(7))?;
                self.annotate(node.output(), yq)?;
                self.a
                    .nodes
                    .push(node.renamed("Conv", inputs, node.outputs.clone()));
            }
            "QLinearMatMul" => {
                // a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
                let a = self.activation(&input(0)?, &input(1)?, node.input(2))?;
                let b = self.qconst(&input(3)?, &input(4)?, node.input(5), 1)?;
                let key = format!("{}#weights", node.name);
                self.a.qconsts.insert(key.clone(), b);
                let yq = self.act_quant(&input(6)?, node.input(7))?;
                self.annotate(node.output(), yq)?;
                self.a
                    .nodes
                    .push(node.renamed("MatMul", vec![a, key], node.outputs.clone()));
            }
            // com.microsoft operators of ONNX Runtime's QOperator format.
            "QLinearAdd" => {
                // a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp; an operand may be a
                // quantized constant (ONNX Runtime's bias after QLinearMatMul).
                let a = self.operand(node, 0)?;
                let b = self.operand(node, 3)?;
                let yq = self.act_quant(&input(6)?, node.input(7))?;
                self.annotate(node.output(), yq)?;
                self.a
                    .nodes
                    .push(node.renamed("Add", vec![a, b], node.outputs.clone()));
            }
            "QLinearGlobalAveragePool" | "QLinearAveragePool" => {
                // x, x_scale, x_zp, y_scale, y_zp
                ensure!(
                    node.int("channels_last").unwrap_or(0) == 0,
                    "channels_last pooling is not supported"
                );
                let x = self.activation(&input(0)?, &input(1)?, node.input(2))?;
                let yq = self.act_quant(&input(3)?, node.input(4))?;
                self.annotate(node.output(), yq)?;
                let op = node.op.trim_start_matches("QLinear");
                self.a
                    .nodes
                    .push(node.renamed(op, vec![x], node.outputs.clone()));
            }
            "QGemm" => {
                // a, a_scale, a_zp, b, b_scale, b_zp, [c], [y_scale, y_zp]
                let a = self.activation(&input(0)?, &input(1)?, node.input(2))?;
                let aq = self.a.acts[&a];
                let transposed = node.int("transB").unwrap_or(0) == 1;
                let b = self.qconst(
                    &input(3)?,
                    &input(4)?,
                    node.input(5),
                    if transposed { 0 } else { 1 },
                )?;
                let key = format!("{}#weights", node.name);
                let mut inputs = vec![a, key.clone()];
                if let Some(c) = node.input(6) {
                    inputs.push(self.int32_bias(node, c, &b, aq.scale)?);
                }
                self.a.qconsts.insert(key, b);
                let y = node.output().to_string();
                match node.input(7) {
                    Some(scale) => {
                        let yq = self.act_quant(scale, node.input(8))?;
                        self.annotate(&y, yq)?;
                    }
                    None => bail!("QGemm with a float output is not supported"),
                }
                self.a
                    .nodes
                    .push(node.renamed("Gemm", inputs, node.outputs.clone()));
            }
            _ => {
                let inputs = node.inputs.iter().map(|i| self.resolve(i)).collect();
                self.a
                    .nodes
                    .push(node.renamed(&node.op, inputs, node.outputs.clone()));
            }
        }
        Ok(())
    }
}
