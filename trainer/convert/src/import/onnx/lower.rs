//! The annotated float graph to edgeq's integer operators.
//!
//! ONNX computes NCHW; edgeq stores NHWC. A 4-D tensor that feeds or comes out of a
//! convolution or pool is kept NHWC in the `.eqm` ([`Layout::ChannelsLast`]) while its
//! ONNX dims stay NCHW; reshapes are only lowered where both layouts order the elements
//! the same (one channel, or 1x1 spatial), which is what classifier heads do.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, ensure, Context, Result};
use edgeq_runtime::format::*;

use super::{ActQuant, Annotated, Graph, Node, QConst, SUPPORTED_OPS};
use crate::emit::{clamp_range, Act, ConvShape, Emitter};
use crate::eqm::{ModelBuilder, TensorSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// The `.eqm` dims are the ONNX dims.
    Plain,
    /// ONNX `[N, C, H, W]` stored as `[N, H, W, C]`.
    ChannelsLast,
}

#[derive(Clone, Debug)]
struct Value {
    act: Act,
    layout: Layout,
    /// ONNX dims.
    dims: Vec<usize>,
}

/// The quantization of an emitted activation.
fn quant_of(a: &Act) -> ActQuant {
    ActQuant {
        dtype: a.dtype,
        scale: a.scale,
        zero_point: a.zero_point,
    }
}

/// `[N, C, H, W]` -> `[N, H, W, C]`.
fn nhwc(d: &[usize]) -> Vec<usize> {
    vec![d[0], d[2], d[3], d[1]]
}

/// Row-major element order of ONNX dims `d` is the order of its NHWC storage.
fn same_order_as_nhwc(d: &[usize]) -> bool {
    d.len() == 4 && (d[1] == 1 || d[2] * d[3] == 1)
}

struct Lowering<'a> {
    g: &'a Graph,
    a: &'a Annotated,
    e: Emitter,
    vals: HashMap<String, Value>,
    consumers: HashMap<String, Vec<usize>>,
    done: HashSet<usize>,
}

/// Lowers `a` (the graph `g` with its quantization decided).
pub fn lower(g: &Graph, a: &Annotated) -> Result<ModelBuilder> {
    let mut l = Lowering {
        g,
        a,
        e: Emitter::new(),
        vals: HashMap::new(),
        consumers: super::consumers(&a.nodes),
        done: HashSet::new(),
    };
    let mut inputs = vec![];
    for io in &a.inputs {
        inputs.push(
            l.input(&io.name, io.float)
                .with_context(|| format!("model input '{}'", io.name))?,
        );
    }
    for (i, node) in a.nodes.iter().enumerate() {
        if l.done.contains(&i) {
            continue;
        }
        l.node(node)
            .with_context(|| format!("node {}", node.describe()))?;
    }
    let mut outputs = vec![];
    for io in &a.outputs {
        outputs.push(
            l.output(&io.name, &io.label, io.float)
                .with_context(|| format!("model output '{}'", io.name))?,
        );
    }
    l.e.b.set_io(&inputs, &outputs);
    Ok(l.e.b)
}

impl Lowering<'_> {
    fn quant(&self, tensor: &str) -> Result<ActQuant> {
        self.a.acts.get(tensor).copied().with_context(|| {
            format!(
                "tensor '{tensor}' has no quantization parameters (no QuantizeLinear after it, \
                 and no Relu/Clip/bias Add to fuse into the operator before it)"
            )
        })
    }

    fn value(&self, name: &str) -> Result<Value> {
        self.vals.get(name).cloned().with_context(|| {
            if self.g.consts.contains_key(name) || self.a.qconsts.contains_key(name) {
                format!("'{name}' is a constant where an activation is expected")
            } else {
                format!("tensor '{name}' is not computed by a supported operator")
            }
        })
    }

    fn new_value(&mut self, name: &str, dims: &[usize], layout: Layout, q: ActQuant) -> Value {
        let stored = if layout == Layout::ChannelsLast {
            nhwc(dims)
        } else {
            dims.to_vec()
        };
        let act = self
            .e
            .named_activation(name, &stored, q.dtype, q.scale, q.zero_point);
        let v = Value {
            act,
            layout,
            dims: dims.to_vec(),
        };
        self.vals.insert(name.to_string(), v.clone());
        v
    }

    /// Whether `name` is read by a convolution or pool (so it is stored NHWC).
    fn feeds_spatial_op(&self, name: &str) -> bool {
        self.consumers.get(name).is_some_and(|c| {
            c.iter().any(|&i| {
                matches!(
                    self.a.nodes[i].op.as_str(),
                    "Conv" | "AveragePool" | "MaxPool" | "GlobalAveragePool"
                )
            })
        })
    }

    fn input(&mut self, name: &str, float: bool) -> Result<usize> {
        let dims = self.g.shape(name)?.to_vec();
        let q = self.quant(name)?;
        ensure!(q.dtype == DType::I8, "model inputs are int8");
        let layout = if dims.len() == 4 && self.feeds_spatial_op(name) {
            Layout::ChannelsLast
        } else {
            Layout::Plain
        };
        if !float {
            return Ok(self.new_value(name, &dims, layout, q).act.tensor);
        }
        let quantized = self.new_value(&format!("{name}/quantized"), &dims, layout, q);
        self.vals.insert(name.to_string(), quantized.clone());
        let stored = if layout == Layout::ChannelsLast {
            nhwc(&dims)
        } else {
            dims
        };
        let f = self
            .e
            .b
            .add_tensor(TensorSpec::activation(name, DType::F32, &stored, 0.0, 0));
        let p = AffineParams {
            scale: q.scale,
            zero_point: q.zero_point,
        };
        self.e.b.add_op(
            OpKind::Quantize,
            &[Some(f)],
            quantized.act.tensor,
            write_params(&p),
        );
        Ok(f)
    }

    fn output(&mut self, name: &str, label: &str, float: bool) -> Result<usize> {
        let v = self.value(name)?;
        ensure!(
            v.act.dtype == DType::I8,
            "model outputs must be 8-bit (keep the last layer at 8 bits)"
        );
        if !float {
            // Named as in the ONNX file (a QuantizeLinear's output, not its float input).
            self.e.b.tensors[v.act.tensor].name = label.to_string();
            return Ok(v.act.tensor);
        }
        let stored = v.act.dims[..v.dims.len().clamp(1, 4)].to_vec();
        let f = self
            .e
            .b
            .add_tensor(TensorSpec::activation(label, DType::F32, &stored, 0.0, 0));
        let p = AffineParams {
            scale: v.act.scale,
            zero_point: v.act.zero_point,
        };
        self.e.b.add_op(
            OpKind::Dequantize,
            &[Some(v.act.tensor)],
            f,
            write_params(&p),
        );
        Ok(f)
    }

    fn node(&mut self, node: &Node) -> Result<()> {
        match node.op.as_str() {
            "Conv" => self.conv(node),
            "MatMul" | "Gemm" => self.dense(node),
            "Add" => self.add(node),
            "AveragePool" | "MaxPool" | "GlobalAveragePool" => self.pool(node),
            "Softmax" => self.softmax(node),
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => self.reshape(node),
            "Transpose" => self.transpose(node),
            "Identity" | "Dropout" => {
                let v = self.value(node.input(0).unwrap_or(""))?;
                self.vals.insert(node.output().to_string(), v);
                Ok(())
            }
            "Relu" | "Clip" => bail!(
                "a {} that does not directly follow a Conv, MatMul/Gemm or Add is not supported",
                node.op
            ),
            "QuantizeLinear" | "DequantizeLinear" => bail!(
                "this {} does not pair with a float operator (requantizing one quantized tensor \
                 into another is not supported)",
                node.op
            ),
            other => bail!("operator {other} is not supported (supported: {SUPPORTED_OPS})"),
        }
    }

    /// The value of `name` as an NHWC tensor, for convolutions and pools.
    fn spatial(&mut self, name: &str) -> Result<Value> {
        let v = self.value(name)?;
        ensure!(
            v.dims.len() == 4,
            "'{name}' has dims {:?}; 4-D NCHW expected",
            v.dims
        );
        match v.layout {
            Layout::ChannelsLast => Ok(v),
            Layout::Plain if same_order_as_nhwc(&v.dims) => {
                let q = quant_of(&v.act);
                let y = self.new_value(&format!("{name}/nhwc"), &v.dims, Layout::ChannelsLast, q);
                self.e.b.add_op(
                    OpKind::Reshape,
                    &[Some(v.act.tensor)],
                    y.act.tensor,
                    [0; OP_PARAMS_BYTES],
                );
                self.vals.insert(name.to_string(), y.clone());
                Ok(y)
            }
            Layout::Plain => bail!(
                "'{name}' ({:?}) is channels-first with several channels and pixels where a \
                 convolution needs it; edgeq computes NHWC (transpose the model's input instead)",
                v.dims
            ),
        }
    }

    fn weights(&self, name: &str, what: &str) -> Result<&QConst> {
        let w = self.a.qconsts.get(name).with_context(|| {
            format!(
                "{what} '{name}' is not quantized (DequantizeLinear of an int8 constant expected)"
            )
        })?;
        ensure!(
            w.bits <= 8,
            "{what} '{name}' is int32; int8 weights expected"
        );
        ensure!(
            w.zero_points.iter().all(|&z| z == 0),
            "{what} '{name}' has non-zero zero points; edgeq weights are symmetric"
        );
        Ok(w)
    }

    /// int32 bias values of a layer with `channels` outputs whose bias should have scale
    /// `input_scale · weight_scale[c]`.
    fn bias(
        &self,
        name: Option<&str>,
        input_scale: f32,
        w: &QConst,
        channels: usize,
    ) -> Result<Vec<i32>> {
        let Some(name) = name else {
            return Ok(vec![0; channels]);
        };
        let b = self.a.qconsts.get(name).with_context(|| {
            format!(
                "bias '{name}' is not quantized (DequantizeLinear of an int32 constant expected)"
            )
        })?;
        ensure!(
            b.bits == 32
                && b.values.len() == channels
                && (b.scales.len() == 1 || b.scales.len() == channels),
            "bias '{name}' must be int32 [{channels}]"
        );
        for c in 0..channels {
            let want = input_scale * w.scales[if w.scales.len() == 1 { 0 } else { c }];
            let got = b.scales[if b.scales.len() == 1 { 0 } else { c }];
            ensure!(
                (got - want).abs() <= 1e-4 * want.abs(),
                "bias '{name}' channel {c} has scale {got}, expected input scale × weight scale = {want}"
            );
        }
        Ok(b.values.clone())
    }

    fn weight_dtype(w: &QConst) -> Result<DType> {
        let (lo, hi) = if w.bits == 4 { (-8, 7) } else { (-128, 127) };
        ensure!(
            w.values.iter().all(|v| (lo..=hi).contains(v)),
            "weight values outside the {}-bit range",
            w.bits
        );
        Ok(if w.bits == 4 { DType::I4 } else { DType::I8 })
    }

    fn clamp(q: ActQuant, chain: &super::Chain) -> (i32, i32) {
        clamp_range(q.dtype, q.scale, q.zero_point, chain.min, chain.max)
    }

    fn conv(&mut self, node: &Node) -> Result<()> {
        let x = self.spatial(node.input(0).context("missing input")?)?;
        let wname = node.input(1).context("missing weights")?;
        let w = self.weights(wname, "weights")?.clone();
        ensure!(
            w.dims.len() == 4 && w.dims.iter().all(|&d| d > 0),
            "weights must be [O, I/group, kH, kW]"
        );
        let [o, per_group, kh, kw] = [w.dims[0], w.dims[1], w.dims[2], w.dims[3]];
        let ci = x.dims[1];
        let group = usize::try_from(node.int("group").unwrap_or(1)).context("negative group")?;
        let depth_multiplier = match group {
            1 => {
                ensure!(per_group == ci, "weights take {per_group} channels, input has {ci}");
                0
            }
            g if g == ci && per_group == 1 && o % ci == 0 => o / ci,
            g => bail!("grouped convolution ({g} groups of {per_group} channels) is not supported; full and depthwise are"),
        };
        ensure!(
            w.scales.len() == 1 || (w.axis == 0 && w.scales.len() == o),
            "weights must be quantized per tensor or per output channel (axis 0)"
        );
        let pair = |attr: &str| -> Result<(usize, usize)> {
            match node.ints(attr).as_deref() {
                None => Ok((1, 1)),
                Some(&[a, b]) if a >= 1 && b >= 1 => Ok((a as usize, b as usize)),
                Some(v) => bail!("{attr} {v:?} not supported (2-D convolutions)"),
            }
        };
        let (stride, dilation) = (pair("strides")?, pair("dilations")?);
        let chain = self
            .a
            .chain(self.g, &self.consumers, node.output(), false)?;
        let yq = self.quant(&chain.output)?;
        let out = self.g.shape(node.output())?.to_vec();
        ensure!(
            out.len() == 4 && out[1] == o,
            "output dims {out:?} do not match the weights"
        );
        let pad = (
            padding(node, 0, x.dims[2], kh, stride.0, dilation.0, out[2])?,
            padding(node, 1, x.dims[3], kw, stride.1, dilation.1, out[3])?,
        );
        // ONNX [O, I/g, kH, kW] to edgeq's OHWI, or [1, kH, kW, O] for depthwise.
        let mut plain = vec![0i8; w.values.len()];
        for oc in 0..o {
            for ic in 0..per_group {
                for y in 0..kh {
                    for xx in 0..kw {
                        let src = ((oc * per_group + ic) * kh + y) * kw + xx;
                        let dst = if depth_multiplier > 0 {
                            (y * kw + xx) * o + oc
                        } else {
                            ((oc * kh + y) * kw + xx) * per_group + ic
                        };
                        plain[dst] = w.values[src] as i8;
                    }
                }
            }
        }
        let dims = if depth_multiplier > 0 {
            vec![1, kh, kw, o]
        } else {
            vec![o, kh, kw, per_group]
        };
        let dtype = Self::weight_dtype(&w)?;
        let bias = self.bias(node.input(2), x.act.scale, &w, o)?;
        let scales: Vec<f32> = (0..o)
            .map(|c| w.scales[if w.scales.len() == 1 { 0 } else { c }])
            .collect();
        let (mult, shift) = crate::emit::requant(x.act.scale, &scales, yq.scale);
        let weights = self.e.weights(&dims, dtype, &plain);
        let consts = self.e.tables(weights, &bias, &mult, &shift);
        let y = self.new_value(&chain.output, &out, Layout::ChannelsLast, yq);
        let shape = ConvShape {
            kernel: (kh, kw),
            stride,
            dilation,
            pad,
            depth_multiplier,
        };
        self.e
            .conv(&x.act, &y.act, shape, consts, Self::clamp(yq, &chain));
        self.done.extend(chain.absorbed);
        Ok(())
    }

    fn dense(&mut self, node: &Node) -> Result<()> {
        let x = self.value(node.input(0).context("missing input")?)?;
        ensure!(!x.dims.is_empty(), "a scalar input is not supported");
        let rows = x.dims[0];
        let depth: usize = x.dims[1..].iter().product();
        ensure!(
            x.dims.len() == 2 || (x.layout == Layout::ChannelsLast && same_order_as_nhwc(&x.dims)),
            "input dims {:?}: a 2-D [batch, features] input expected",
            x.dims
        );
        let gemm = node.op == "Gemm";
        if gemm {
            ensure!(
                node.int("transA").unwrap_or(0) == 0
                    && node.float("alpha").unwrap_or(1.0) == 1.0
                    && node.float("beta").unwrap_or(1.0) == 1.0,
                "Gemm with transA, alpha or beta is not supported"
            );
        }
        let transposed = gemm && node.int("transB").unwrap_or(0) == 1;
        let w = self
            .weights(node.input(1).context("missing weights")?, "weights")?
            .clone();
        ensure!(
            w.dims.len() == 2 && w.dims.iter().all(|&d| d > 0),
            "weights must be 2-D"
        );
        // Units run along axis 0 of [units, depth] (Gemm transB) or axis 1 of [depth, units].
        let (units, unit_axis) = if transposed {
            (w.dims[0], 0)
        } else {
            (w.dims[1], 1)
        };
        let k = w.dims[1 - unit_axis];
        ensure!(
            k == depth,
            "weights take {k} features, the input has {depth}"
        );
        ensure!(
            w.scales.len() == 1 || (w.axis == unit_axis && w.scales.len() == units),
            "weights must be quantized per tensor or per output unit"
        );
        let chain = self.a.chain(
            self.g,
            &self.consumers,
            node.output(),
            !gemm || node.input(2).is_none(),
        )?;
        let bias_name = if gemm { node.input(2) } else { None };
        let bias_name = bias_name.or(chain.bias.as_deref());
        let yq = self.quant(&chain.output)?;
        let values: Vec<i8> = (0..units * k)
            .map(|i| {
                let (u, d) = (i / k, i % k);
                let src = if transposed { u * k + d } else { d * units + u };
                w.values[src] as i8
            })
            .collect();
        let dtype = Self::weight_dtype(&w)?;
        let bias = self.bias(bias_name, x.act.scale, &w, units)?;
        let scales: Vec<f32> = (0..units)
            .map(|c| w.scales[if w.scales.len() == 1 { 0 } else { c }])
            .collect();
        let (mult, shift) = crate::emit::requant(x.act.scale, &scales, yq.scale);
        let weights = self.e.weights(&[units, k], dtype, &values);
        let consts = self.e.tables(weights, &bias, &mult, &shift);
        let y = self.new_value(&chain.output, &[rows, units], Layout::Plain, yq);
        self.e
            .fully_connected(&x.act, &y.act, consts, Self::clamp(yq, &chain));
        self.done.extend(chain.absorbed);
        Ok(())
    }

    /// An Add operand: an activation, or an int8 constant shaped like `other`.
    fn operand(&mut self, name: &str, other: Option<&Value>) -> Result<Option<Value>> {
        let Some(c) = self.a.qconsts.get(name) else {
            return Ok(Some(self.value(name)?));
        };
        let Some(other) = other else {
            return Ok(None);
        };
        let count: usize = other.dims.iter().product();
        ensure!(
            c.bits == 8 && c.scales.len() == 1 && c.values.len() == count,
            "constant Add operand '{name}' must be int8, per tensor, with {count} values              (no broadcasting)"
        );
        let stored = other.act.dims[..other.dims.len().clamp(1, 4)].to_vec();
        let data: Vec<u8> = c.values.iter().map(|&v| v as i8 as u8).collect();
        let tensor = self.e.b.add_tensor(TensorSpec {
            name: name.to_string(),
            dtype: DType::I8,
            dims: stored,
            scale: c.scales[0],
            zero_point: c.zero_points[0],
            data: Some(data),
        });
        Ok(Some(Value {
            act: Act {
                tensor,
                dtype: DType::I8,
                scale: c.scales[0],
                zero_point: c.zero_points[0],
                ..other.act
            },
            layout: other.layout,
            dims: other.dims.clone(),
        }))
    }

    fn add(&mut self, node: &Node) -> Result<()> {
        let (x0, x1) = (
            node.input(0).context("missing input")?,
            node.input(1).context("missing input")?,
        );
        let a = self.operand(x0, None)?;
        let b = self
            .operand(x1, a.as_ref())?
            .context("both Add operands are constant")?;
        let a = match a {
            Some(a) => a,
            None => self
                .operand(x0, Some(&b))?
                .context("both Add operands are constant")?,
        };
        ensure!(
            a.dims == b.dims && a.layout == b.layout,
            "broadcasting Add is not supported (inputs {:?} and {:?})",
            a.dims,
            b.dims
        );
        let chain = self
            .a
            .chain(self.g, &self.consumers, node.output(), false)?;
        let yq = self.quant(&chain.output)?;
        let y = self.new_value(&chain.output, &a.dims, a.layout, yq);
        self.e.add(&a.act, &b.act, &y.act, Self::clamp(yq, &chain));
        self.done.extend(chain.absorbed);
        Ok(())
    }

    /// The output keeps the input's quantization: check it (QDQ) or take it (PTQ).
    fn same_quant(&self, x: &Value, out: &str) -> Result<ActQuant> {
        let q = quant_of(&x.act);
        if let Some(&o) = self.a.acts.get(out) {
            ensure!(
                o == q,
                "the output is quantized differently from the input ({o:?} vs {q:?}); \
                 requantizing pools and reshapes are not supported"
            );
        }
        Ok(q)
    }

    fn pool(&mut self, node: &Node) -> Result<()> {
        let x = self.spatial(node.input(0).context("missing input")?)?;
        let (n, c, h, w) = (x.dims[0], x.dims[1], x.dims[2], x.dims[3]);
        let global = node.op == "GlobalAveragePool";
        // tract does not infer shapes past ONNX Runtime's com.microsoft operators.
        let out = match self.g.shape(node.output()) {
            Err(_) if global => vec![n, c, 1, 1],
            other => other?.to_vec(),
        };
        let (kernel, stride) = if global {
            ((h, w), (1, 1))
        } else {
            let k = node.ints("kernel_shape").context("missing kernel_shape")?;
            let s = node.ints("strides").unwrap_or_else(|| vec![1, 1]);
            ensure!(k.len() == 2 && s.len() == 2, "2-D pooling expected");
            ensure!(
                k.iter().chain(&s).all(|&v| (1..=65535).contains(&v)),
                "kernel {k:?} or strides {s:?} out of range"
            );
            ensure!(
                node.ints("dilations")
                    .is_none_or(|d| d.iter().all(|&v| v == 1)),
                "dilated pooling is not supported"
            );
            (
                (k[0] as usize, k[1] as usize),
                (s[0] as usize, s[1] as usize),
            )
        };
        let pad = if global {
            (0, 0)
        } else {
            (
                padding(node, 0, h, kernel.0, stride.0, 1, out[2])?,
                padding(node, 1, w, kernel.1, stride.1, 1, out[3])?,
            )
        };
        ensure!(
            node.op != "AveragePool"
                || node.int("count_include_pad").unwrap_or(0) == 0
                || pad == (0, 0),
            "AveragePool with count_include_pad=1 and padding is not supported"
        );
        let xq = quant_of(&x.act);
        let yq = self.a.acts.get(node.output()).copied().unwrap_or(xq);
        if yq != xq {
            return self.requantizing_average(node, &x, &out, yq, kernel, stride, pad);
        }
        let y = self.new_value(node.output(), &out, Layout::ChannelsLast, xq);
        let (act_min, act_max) = xq.dtype.int_range();
        let p = PoolParams {
            filter_h: kernel.0 as u16,
            filter_w: kernel.1 as u16,
            stride_h: stride.0 as u16,
            stride_w: stride.1 as u16,
            pad_top: pad.0 as u16,
            pad_left: pad.1 as u16,
            act_min,
            act_max,
        };
        let kind = if node.op == "MaxPool" {
            OpKind::MaxPool2d
        } else {
            OpKind::AveragePool2d
        };
        self.e
            .b
            .add_op(kind, &[Some(x.act.tensor)], y.act.tensor, write_params(&p));
        Ok(())
    }

    /// An average pool whose output is quantized differently from its input (ONNX Runtime
    /// quantizes them separately) is a depthwise convolution with weights 1 and weight scale
    /// 1/window: the sum, the division and the requantization in one rounding.
    #[allow(clippy::too_many_arguments)]
    fn requantizing_average(
        &mut self,
        node: &Node,
        x: &Value,
        out: &[usize],
        yq: ActQuant,
        kernel: (usize, usize),
        stride: (usize, usize),
        pad: (usize, usize),
    ) -> Result<()> {
        ensure!(
            node.op != "MaxPool",
            "a MaxPool whose output is quantized differently from its input is not supported"
        );
        ensure!(
            pad == (0, 0),
            "a padded average pool that requantizes is not supported"
        );
        let c = x.dims[1];
        let window = kernel.0 * kernel.1;
        let ones = vec![1i8; window * c];
        let weights = self
            .e
            .weights(&[1, kernel.0, kernel.1, c], DType::I8, &ones);
        let scales = vec![1.0 / window as f32; c];
        let (mult, shift) = crate::emit::requant(x.act.scale, &scales, yq.scale);
        let consts = self.e.tables(weights, &vec![0; c], &mult, &shift);
        let y = self.new_value(node.output(), out, Layout::ChannelsLast, yq);
        let shape = ConvShape {
            kernel,
            stride,
            dilation: (1, 1),
            pad,
            depth_multiplier: 1,
        };
        self.e
            .conv(&x.act, &y.act, shape, consts, yq.dtype.int_range());
        Ok(())
    }

    fn softmax(&mut self, node: &Node) -> Result<()> {
        let x = self.value(node.input(0).context("missing input")?)?;
        let axis = node.int("axis").unwrap_or(-1);
        ensure!(
            axis == -1 || (axis >= 0 && axis as usize + 1 == x.dims.len()),
            "Softmax over axis {axis} of {:?}: only the last axis is supported",
            x.dims
        );
        ensure!(x.act.dtype == DType::I8, "Softmax input must be 8-bit");
        let yq = self.quant(node.output())?;
        ensure!(
            yq.dtype == DType::I8 && yq.scale == 1.0 / 256.0 && yq.zero_point == -128,
            "int8 Softmax output must have scale 1/256 and zero point -128 (has {}, {})",
            yq.scale,
            yq.zero_point
        );
        let params = crate::emit::softmax_params(1.0, x.act.scale)
            .context("softmax input scale too small")?;
        let y = self.new_value(node.output(), &x.dims, x.layout, yq);
        self.e.b.add_op(
            OpKind::Softmax,
            &[Some(x.act.tensor)],
            y.act.tensor,
            write_params(&params),
        );
        Ok(())
    }

    fn reshape(&mut self, node: &Node) -> Result<()> {
        let x = self.value(node.input(0).context("missing input")?)?;
        let out = match self.g.shape(node.output()) {
            Ok(d) => d.to_vec(),
            Err(e) => reshaped(self.g, node, &x.dims).ok_or(e)?,
        };
        let q = self.same_quant(&x, node.output())?;
        ensure!(
            x.layout == Layout::Plain || same_order_as_nhwc(&x.dims),
            "reshaping the channels-first {:?} (several channels and pixels) is not supported: \
             edgeq stores it NHWC, so the element order differs",
            x.dims
        );
        let (layout, stored) = if same_order_as_nhwc(&out) {
            (Layout::ChannelsLast, nhwc(&out))
        } else {
            (Layout::Plain, out.clone())
        };
        let current = &x.act.dims[..];
        let padded: Vec<usize> = (0..4)
            .map(|i| stored.get(i).copied().unwrap_or(1))
            .collect();
        if current == &padded[..] {
            // Same bytes, same NHWC dims: nothing to do.
            self.view(node.output(), x.act, layout, out);
            return Ok(());
        }
        let y = self.new_value(node.output(), &out, layout, q);
        self.e.b.add_op(
            OpKind::Reshape,
            &[Some(x.act.tensor)],
            y.act.tensor,
            [0; OP_PARAMS_BYTES],
        );
        Ok(())
    }

    /// `output` is the emitted tensor `act` seen with other ONNX dims: no operator.
    fn view(&mut self, output: &str, act: Act, layout: Layout, dims: Vec<usize>) {
        self.vals
            .insert(output.to_string(), Value { act, layout, dims });
    }

    fn transpose(&mut self, node: &Node) -> Result<()> {
        let x = self.value(node.input(0).context("missing input")?)?;
        let perm = node.ints("perm").unwrap_or_default();
        let out = self.g.shape(node.output())?.to_vec();
        self.same_quant(&x, node.output())?;
        let layout = match (x.layout, perm.as_slice()) {
            // NHWC data viewed as NCHW: edgeq keeps it where it is.
            (Layout::Plain, [0, 3, 1, 2]) => Layout::ChannelsLast,
            (Layout::ChannelsLast, [0, 2, 3, 1]) => Layout::Plain,
            _ => bail!("Transpose {perm:?} is not supported (only NHWC<->NCHW at a model's edge)"),
        };
        self.view(node.output(), x.act, layout, out);
        Ok(())
    }
}

/// Leading padding of spatial axis `axis` (0 = height, 1 = width): from `pads`
/// (`[top, left, bottom, right]`) or `auto_pad`, checked against the inferred output size.
fn padding(
    node: &Node,
    axis: usize,
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    output: usize,
) -> Result<usize> {
    ensure!(
        kernel >= 1 && stride >= 1 && dilation >= 1 && output >= 1,
        "kernel {kernel}, stride {stride}, dilation {dilation} or output size {output} is 0"
    );
    let effective = (kernel - 1) * dilation + 1;
    let auto = node.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    let (lead, trail) = match auto.as_str() {
        "NOTSET" | "" => {
            let pads = node.ints("pads").unwrap_or_else(|| vec![0; 4]);
            ensure!(pads.len() == 4, "pads {pads:?}: 2-D expected");
            ensure!(pads.iter().all(|&p| p >= 0), "negative pads {pads:?}");
            (pads[axis] as usize, pads[axis + 2] as usize)
        }
        "VALID" => (0, 0),
        "SAME_UPPER" | "SAME_LOWER" => {
            let total = ((output - 1) * stride + effective).saturating_sub(input);
            if auto == "SAME_UPPER" {
                (total / 2, total - total / 2)
            } else {
                (total - total / 2, total / 2)
            }
        }
        other => bail!("auto_pad {other} is not supported"),
    };
    let padded = input + lead + trail;
    ensure!(
        padded >= effective && (padded - effective) / stride + 1 == output,
        "output size {output} does not follow from input {input}, kernel {kernel}, stride \
         {stride}, padding {lead}+{trail} (ceil_mode is not supported)"
    );
    Ok(lead)
}

/// The output dims of a Flatten or a Reshape by a constant shape, for when tract could not
/// infer them (after an operator it does not know).
fn reshaped(g: &Graph, node: &Node, dims: &[usize]) -> Option<Vec<usize>> {
    let total: usize = dims.iter().product();
    match node.op.as_str() {
        "Flatten" => {
            let axis = node.int("axis").unwrap_or(1);
            let axis = if axis < 0 {
                axis + dims.len() as i64
            } else {
                axis
            } as usize;
            let lead: usize = dims.get(..axis)?.iter().product();
            Some(vec![lead, total / lead.max(1)])
        }
        "Reshape" => {
            let spec = g.const_i64(node.input(1)?).ok()?;
            let mut out: Vec<usize> = spec
                .iter()
                .enumerate()
                .map(|(i, &d)| match d {
                    0 => dims.get(i).copied().unwrap_or(1),
                    -1 => 1,
                    d => d.max(1) as usize,
                })
                .collect();
            if let Some(free) = spec.iter().position(|&d| d == -1) {
                let known: usize = out.iter().product();
                out[free] = total / known.max(1);
            }
            (out.iter().product::<usize>() == total).then_some(out)
        }
        _ => None,
    }
}
