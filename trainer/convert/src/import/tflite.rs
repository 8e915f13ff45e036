//! TFLite int8 import: read the flatbuffers (tract-tflite's generated schema bindings), lower
//! each operator to edgeq's integer ops with every requantization constant precomputed here,
//! exactly as TFLite's reference kernels compute them in their `Prepare` step.

use std::collections::HashMap;

use anyhow::{anyhow, bail, ensure, Context, Result};
use edgeq_runtime::format::*;
use edgeq_runtime::quant::{quantize_multiplier, Rounding};
use flatbuffers::{ForwardsUOffset, Vector};
use tract_tflite::tflite;

use super::tables;
use crate::eqm::{ModelBuilder, TensorSpec};

/// Operators this importer lowers.
pub const SUPPORTED_OPS: &str = "CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, \
     BATCH_MATMUL, ADD, SUB, MUL, MAXIMUM, MINIMUM, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, RESHAPE, \
     TRANSPOSE, PAD, PADV2, CONCATENATION, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, GATHER, \
     RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, SOFTMAX, LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, \
     LEAKY_RELU, HARD_SWISH, PRELU, UNIDIRECTIONAL_SEQUENCE_LSTM, SVDF, QUANTIZE, DEQUANTIZE";

/// Lowers TFLite flatbuffer bytes to an `.eqm` graph (weights still in TFLite's layouts).
pub fn lower(bytes: &[u8]) -> Result<ModelBuilder> {
    let model =
        tflite::root_as_model(bytes).map_err(|e| anyhow!("not a valid TFLite flatbuffer: {e}"))?;
    let subgraphs = model.subgraphs().context("TFLite model has no subgraphs")?;
    ensure!(
        subgraphs.len() == 1,
        "TFLite model has {} subgraphs; only single-subgraph models are supported",
        subgraphs.len()
    );
    let graph = subgraphs.get(0);
    let mut lower = Lowering {
        buffers: model.buffers().context("TFLite model has no buffers")?,
        tensors: graph.tensors().context("subgraph has no tensors")?,
        builder: ModelBuilder::new(),
        map: HashMap::new(),
    };
    let operators = graph.operators().context("subgraph has no operators")?;
    let codes = model
        .operator_codes()
        .context("model has no operator codes")?;
    for (index, op) in operators.iter().enumerate() {
        ensure!(
            (op.opcode_index() as usize) < codes.len(),
            "operator {index}: opcode index out of range"
        );
        let code = codes.get(op.opcode_index() as usize);
        // Newer files store the code in `builtin_code`, older ones in the deprecated i8 field.
        let builtin = tflite::BuiltinOperator(
            code.builtin_code()
                .0
                .max(i32::from(code.deprecated_builtin_code())),
        );
        let name = builtin.variant_name().unwrap_or("CUSTOM");
        lower
            .op(builtin, &op)
            .with_context(|| format!("operator {index} ({name})"))?;
    }
    let list = |v: Option<Vector<'_, i32>>, what: &str| -> Result<Vec<i32>> {
        Ok(v.with_context(|| format!("subgraph has no {what}"))?
            .iter()
            .collect())
    };
    let inputs = list(graph.inputs(), "inputs")?
        .into_iter()
        .map(|t| lower.activation(t))
        .collect::<Result<Vec<_>>>()?;
    let outputs = list(graph.outputs(), "outputs")?
        .into_iter()
        .map(|t| lower.activation(t))
        .collect::<Result<Vec<_>>>()?;
    lower.builder.set_io(&inputs, &outputs);
    Ok(lower.builder)
}

struct Lowering<'a> {
    buffers: Vector<'a, ForwardsUOffset<tflite::Buffer<'a>>>,
    tensors: Vector<'a, ForwardsUOffset<tflite::Tensor<'a>>>,
    builder: ModelBuilder,
    /// TFLite tensor index -> edgeq tensor index.
    map: HashMap<i32, usize>,
}

/// Quantization of one TFLite tensor.
struct Quant {
    scales: Vec<f32>,
    zero_points: Vec<i64>,
}

impl Quant {
    fn scale(&self) -> f32 {
        self.scales.first().copied().unwrap_or(0.0)
    }
    fn zero_point(&self) -> i32 {
        self.zero_points.first().copied().unwrap_or(0) as i32
    }
}

/// STRIDED_SLICE's `offset` flag (field 5 of its options table, newer than the schema
/// tract-tflite generates from, so not covered by its verifier): `end` counted from `begin`.
/// Read with bounds checks; absent, it is false.
fn strided_slice_offset(o: &tflite::StridedSliceOptions<'_>) -> bool {
    const FIELD_SLOT: usize = 4 + 2 * 5;
    let (buf, table) = (o._tab.buf(), o._tab.loc());
    let read = |at: usize, n: usize| buf.get(at..at.checked_add(n)?);
    let flag = || -> Option<bool> {
        let soffset = i32::from_le_bytes(read(table, 4)?.try_into().ok()?);
        let vtable = usize::try_from(table as i64 - i64::from(soffset)).ok()?;
        let vtable_len = usize::from(u16::from_le_bytes(read(vtable, 2)?.try_into().ok()?));
        if FIELD_SLOT + 2 > vtable_len {
            return None;
        }
        let field = u16::from_le_bytes(read(vtable + FIELD_SLOT, 2)?.try_into().ok()?);
        if field == 0 {
            return None;
        }
        Some(read(table + usize::from(field), 1)?[0] != 0)
    };
    flag().unwrap_or(false)
}

/// One axis of a STRIDED_SLICE, resolved as TFLite's `StridedSliceStartForAxis` and
/// `StridedSliceEndForAxis` do.
struct StridedAxis {
    dim: i64,
    begin: i64,
    end: i64,
    stride: i64,
    begin_mask: bool,
    end_mask: bool,
    shrink: bool,
    offset: bool,
}

impl StridedAxis {
    /// `(first index, stride, count)`.
    fn resolve(&self) -> Result<(i64, i64, i64)> {
        let (dim, stride) = (self.dim, self.stride);
        ensure!(stride != 0, "STRIDED_SLICE stride 0");
        let clamp = |v: i64| {
            if stride > 0 {
                v.clamp(0, dim)
            } else {
                v.clamp(-1, dim - 1)
            }
        };
        let wrap = |v: i64| if v < 0 { v + dim } else { v };
        let mut start = clamp(wrap(self.begin));
        if self.begin_mask {
            start = if stride > 0 { 0 } else { dim - 1 };
        }
        let end = if self.shrink {
            if start >= dim {
                start
            } else {
                start + 1
            }
        } else if self.end_mask {
            if stride > 0 {
                dim
            } else {
                -1
            }
        } else {
            let end = if self.offset {
                self.end + start
            } else {
                self.end
            };
            clamp(wrap(end))
        };
        let count = if stride > 0 {
            (end - start + stride - 1) / stride
        } else {
            (start - end - stride - 1) / -stride
        };
        Ok((start, stride, count.max(0)))
    }
}

/// Output clamp for a fused activation (TFLite's `CalculateActivationRangeQuantized`).
fn activation_range(
    act: tflite::ActivationFunctionType,
    scale: f32,
    zero_point: i32,
) -> Result<(i32, i32)> {
    let (min, max) = match act {
        tflite::ActivationFunctionType::NONE => (None, None),
        tflite::ActivationFunctionType::RELU => (Some(0.0), None),
        tflite::ActivationFunctionType::RELU6 => (Some(0.0), Some(6.0)),
        tflite::ActivationFunctionType::RELU_N1_TO_1 => (Some(-1.0), Some(1.0)),
        other => bail!(
            "fused activation {} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)",
            other.variant_name().unwrap_or("?")
        ),
    };
    Ok(crate::emit::clamp_range(
        DType::I8,
        scale,
        zero_point,
        min,
        max,
    ))
}

/// Leading padding for SAME (TFLite's `ComputePaddingWithOffset`); 0 for VALID.
fn padding(
    padding: tflite::Padding,
    stride: usize,
    dilation: usize,
    in_size: usize,
    filter: usize,
    out_size: usize,
) -> Result<u16> {
    let effective = (filter - 1) * dilation + 1;
    let expected_out = match padding {
        tflite::Padding::SAME => in_size.div_ceil(stride),
        tflite::Padding::VALID => (in_size + stride).saturating_sub(effective) / stride,
        _ => bail!("unknown padding"),
    };
    ensure!(
        expected_out == out_size,
        "output size {out_size} does not match the padding rule (expected {expected_out})"
    );
    if padding == tflite::Padding::VALID {
        return Ok(0);
    }
    let total = ((out_size - 1) * stride + effective).saturating_sub(in_size);
    u16::try_from(total / 2).context("padding too large")
}

fn u16_param(v: i32, what: &str) -> Result<u16> {
    u16::try_from(v)
        .ok()
        .filter(|&v| v >= 1)
        .with_context(|| format!("{what} {v} out of range 1..=65535"))
}

impl<'a> Lowering<'a> {
    fn tensor(&self, index: i32) -> Result<tflite::Tensor<'a>> {
        ensure!(
            index >= 0 && (index as usize) < self.tensors.len(),
            "tensor index {index} out of range"
        );
        Ok(self.tensors.get(index as usize))
    }

    fn name(&self, index: i32) -> String {
        self.tensor(index)
            .ok()
            .and_then(|t| t.name())
            .unwrap_or("?")
            .to_string()
    }

    fn dims(&self, index: i32) -> Result<Vec<usize>> {
        let t = self.tensor(index)?;
        let shape = t
            .shape()
            .map(|s| s.iter().collect::<Vec<i32>>())
            .unwrap_or_default();
        shape
            .iter()
            .map(|&d| usize::try_from(d).ok().filter(|&d| d > 0))
            .collect::<Option<Vec<_>>>()
            .with_context(|| {
                format!(
                    "tensor {index} '{}' has a dynamic or empty shape {shape:?}",
                    self.name(index)
                )
            })
    }

    fn dtype(&self, index: i32) -> Result<DType> {
        let t = self.tensor(index)?;
        Ok(match t.type_() {
            tflite::TensorType::INT8 => DType::I8,
            tflite::TensorType::INT16 => DType::I16,
            tflite::TensorType::INT32 => DType::I32,
            tflite::TensorType::FLOAT32 => DType::F32,
            other => bail!(
                "tensor {index} '{}' has type {}; edgeq imports int8 models (int32 bias, float32 only at QUANTIZE/DEQUANTIZE)",
                self.name(index),
                other.variant_name().unwrap_or("?")
            ),
        })
    }

    fn quant(&self, index: i32) -> Result<Quant> {
        let t = self.tensor(index)?;
        let q = t.quantization();
        let quant = Quant {
            scales: q
                .and_then(|q| q.scale())
                .map(|v| v.iter().collect())
                .unwrap_or_default(),
            zero_points: q
                .and_then(|q| q.zero_point())
                .map(|v| v.iter().collect())
                .unwrap_or_default(),
        };
        // A corrupted file can hold any zero point; the runtime takes only those of the type.
        if let Ok(dtype) = self.dtype(index) {
            let (lo, hi) = dtype.int_range();
            if let Some(z) = quant
                .zero_points
                .iter()
                .find(|&&z| dtype != DType::F32 && !(i64::from(lo)..=i64::from(hi)).contains(&z))
            {
                bail!(
                    "tensor {index} '{}': zero point {z} is outside {}",
                    self.name(index),
                    dtype.name()
                );
            }
        }
        Ok(quant)
    }

    fn const_data(&self, index: i32) -> Option<&'a [u8]> {
        let t = self.tensor(index).ok()?;
        let b = t.buffer() as usize;
        if b == 0 || b >= self.buffers.len() {
            return None;
        }
        let data = self.buffers.get(b).data()?;
        (!data.is_empty()).then(|| data.bytes())
    }

    /// The edgeq tensor for a TFLite activation (created on first use).
    fn activation(&mut self, index: i32) -> Result<usize> {
        if let Some(&t) = self.map.get(&index) {
            return Ok(t);
        }
        ensure!(
            self.const_data(index).is_none(),
            "tensor {index} '{}' is constant where an activation is expected",
            self.name(index)
        );
        let dtype = self.dtype(index)?;
        let q = self.quant(index)?;
        ensure!(
            q.scales.len() <= 1,
            "activation {index} '{}' is quantized per channel; only per-tensor activations are supported",
            self.name(index)
        );
        let dims = self.dims(index)?;
        ensure!(
            dims.len() <= 4,
            "tensor {index} has rank {} > 4",
            dims.len()
        );
        self.check_element_count(index, &dims)?;
        let spec =
            TensorSpec::activation(&self.name(index), dtype, &dims, q.scale(), q.zero_point());
        let t = self.builder.add_tensor(spec);
        self.map.insert(index, t);
        Ok(t)
    }

    /// A tensor's element count must fit the runtime's limit (2^28; a corrupted shape can
    /// overflow the product).
    fn check_element_count(&self, index: i32, dims: &[usize]) -> Result<()> {
        let count = dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= 1 << 28);
        ensure!(
            count.is_some(),
            "tensor {index} '{}' of shape {dims:?} has more than 2^28 elements",
            self.name(index)
        );
        Ok(())
    }

    /// A constant tensor copied as it is in the file (weights keep TFLite's layout).
    fn constant(&mut self, index: i32, dtype: DType) -> Result<usize> {
        ensure!(
            self.dtype(index)? == dtype,
            "tensor {index} '{}' must be {}",
            self.name(index),
            dtype.name()
        );
        let data = self
            .const_data(index)
            .with_context(|| format!("tensor {index} '{}' must be constant", self.name(index)))?;
        let dims = self.dims(index)?;
        self.check_element_count(index, &dims)?;
        let expected = dtype.byte_len(dims.iter().product::<usize>());
        ensure!(
            data.len() == expected,
            "tensor {index}: {} bytes, expected {expected}",
            data.len()
        );
        let q = self.quant(index)?;
        let spec = TensorSpec {
            name: self.name(index),
            dtype,
            dims,
            scale: q.scale(),
            zero_point: q.zero_point(),
            data: Some(data.to_vec()),
        };
        Ok(self.builder.add_tensor(spec))
    }

    /// The optional int32 bias of a conv or fully connected op (input 2; -1 or absent = none).
    fn optional_bias(&mut self, inputs: &[i32]) -> Result<Option<usize>> {
        match inputs.get(2) {
            Some(&b) if b >= 0 => Ok(Some(self.constant(b, DType::I32)?)),
            _ => Ok(None),
        }
    }

    /// An int8 operand of an element-wise op: an activation, or a constant (copied).
    fn int8_operand(&mut self, index: i32) -> Result<(usize, f32, i32)> {
        if self.const_data(index).is_none() {
            return self.int8_activation(index);
        }
        let t = self.constant(index, DType::I8)?;
        let q = self.quant(index)?;
        ensure!(
            q.scales.len() <= 1 && q.scale() > 0.0 && q.scale().is_finite(),
            "constant {index} '{}' needs one positive scale",
            self.name(index)
        );
        Ok((t, q.scale(), q.zero_point()))
    }

    /// The int8 input `x` and output `y` of an op that moves values without requantizing
    /// them (`what` names it in the error): both must have one quantization, returned with
    /// them as `(x, y, (scale, zero point))`.
    fn int8_same_quantization(
        &mut self,
        x: i32,
        y: i32,
        what: &str,
    ) -> Result<(usize, usize, (f32, i32))> {
        let (xe, sx, zx) = self.int8_activation(x)?;
        let (ye, sy, zy) = self.int8_activation(y)?;
        ensure!(
            sx == sy && zx == zy,
            "{what} input and output quantization differ ({sx}, {zx}) vs ({sy}, {zy})"
        );
        Ok((xe, ye, (sy, zy)))
    }

    /// A SLICE of TFLite tensor `x` into `y`: `(begin, stride, count)` per axis of `x`.
    fn slice_op(&mut self, x: i32, axes: &[(i64, i64, i64)], y: i32) -> Result<()> {
        let (xe, ye, _) = self.int8_same_quantization(x, y, "slice")?;
        let mut params = SliceParams {
            begin: [0; 4],
            stride: [1; 4],
            size: [1; 4],
        };
        for (a, &(begin, stride, count)) in axes.iter().enumerate().take(4) {
            ensure!(
                count >= 1,
                "an empty slice ({count} elements on axis {a}) is not supported"
            );
            params.begin[a] = i32::try_from(begin).context("slice begin out of range")?;
            params.stride[a] = i32::try_from(stride).context("slice stride out of range")?;
            params.size[a] = u32::try_from(count).context("slice size out of range")?;
        }
        self.builder
            .add_op(OpKind::Slice, &[Some(xe)], ye, write_params(&params));
        Ok(())
    }

    /// SPLIT (`axis, x`, equal parts) and SPLIT_V (`x, sizes, axis`), one SLICE per output.
    fn split(
        &mut self,
        code: tflite::BuiltinOperator,
        inputs: &[i32],
        outputs: &[i32],
    ) -> Result<()> {
        let (x, axis_tensor) = match (code, inputs) {
            (tflite::BuiltinOperator::SPLIT, &[axis, x]) => (x, axis),
            (_, &[x, _, axis]) => (x, axis),
            _ => bail!("{} inputs", inputs.len()),
        };
        let dims = self.dims(x)?;
        let axis = self.axes_mask(axis_tensor, dims.len(), "the split axis")?;
        ensure!(axis.count_ones() == 1, "one split axis expected");
        let axis = axis.trailing_zeros() as usize;
        let sizes: Vec<i64> = if code == tflite::BuiltinOperator::SPLIT {
            let n = outputs.len().max(1);
            ensure!(
                dims[axis] % n == 0,
                "SPLIT of {} into {n} parts",
                dims[axis]
            );
            vec![(dims[axis] / n) as i64; n]
        } else {
            let mut sizes = self.const_ints(inputs[1], "SPLIT_V's sizes")?;
            let known: i64 = sizes.iter().filter(|&&s| s >= 0).sum();
            for s in sizes.iter_mut().filter(|s| **s < 0) {
                *s = dims[axis] as i64 - known;
            }
            sizes
        };
        ensure!(
            sizes.len() == outputs.len() && sizes.iter().sum::<i64>() == dims[axis] as i64,
            "split sizes {sizes:?} do not cover {} along axis {axis}",
            dims[axis]
        );
        let mut start = 0;
        for (&y, &n) in outputs.iter().zip(&sizes) {
            let axes: Vec<_> = (0..dims.len())
                .map(|a| {
                    if a == axis {
                        (start, 1, n)
                    } else {
                        (0, 1, dims[a] as i64)
                    }
                })
                .collect();
            self.slice_op(x, &axes, y)?;
            start += n;
        }
        Ok(())
    }

    /// UNIDIRECTIONAL_SEQUENCE_LSTM, TFLite's integer (8x8->16) form: the gate
    /// requantizations, effective biases and cell clip computed as its Prepare does
    /// (`PopulateQuantizedLstmParams8x8_16`, `PopulatePrecomputedZPTimesWeightsWithBias`;
    /// scales in `f32` as there), the eight weight matrices stored as two constants.
    fn lstm(&mut self, op: &tflite::Operator<'a>, inputs: &[i32], out: i32) -> Result<()> {
        let o = op
            .builtin_options_as_unidirectional_sequence_lstmoptions()
            .context("missing UNIDIRECTIONAL_SEQUENCE_LSTM options")?;
        ensure!(
            inputs.len() == 20 || inputs.len() == 24,
            "expected 20 or 24 inputs, found {}",
            inputs.len()
        );
        let present = |i: usize| inputs.get(i).is_some_and(|&t| t >= 0);
        for (slots, what) in [
            (&[1usize, 5, 12][..], "CIFG (no input gate)"),
            (&[9, 10, 11][..], "peephole connections"),
            (&[16, 17][..], "projection"),
            (&[20, 21, 22, 23][..], "layer normalization"),
        ] {
            let wanted = slots[0] == 1;
            ensure!(
                slots.iter().all(|&i| present(i) == wanted),
                "an LSTM with {what} is not supported (edgeq runs TFLite's integer LSTM without \
                 peepholes, projection, layer normalization or CIFG)"
            );
        }
        let x = inputs[0];
        ensure!(
            self.dtype(x)? == DType::I8,
            "the LSTM's input must be int8 (float and hybrid LSTMs are not supported)"
        );
        let (xt, sx, zx) = self.int8_activation(x)?;
        let (yt, _, _) = self.int8_activation(out)?;
        let xd = self.dims(x)?;
        ensure!(
            xd.len() == 3,
            "the LSTM's input must be [batch, time, features]"
        );
        let time_major = o.time_major();
        let batches = if time_major { xd[1] } else { xd[0] };
        let n_input = xd[2];
        // Weights: int8, one scale each, zero point 0.
        let weights = |me: &Self, slot: usize, cols: usize| -> Result<(Vec<i8>, f32)> {
            let t = inputs[slot];
            ensure!(
                me.dtype(t)? == DType::I8,
                "LSTM weights {t} '{}' must be int8",
                me.name(t)
            );
            let data = me
                .const_data(t)
                .with_context(|| format!("LSTM weights {t} '{}' must be constant", me.name(t)))?;
            let q = me.quant(t)?;
            ensure!(
                q.scales.len() == 1 && q.scale() > 0.0 && q.zero_point() == 0,
                "LSTM weights {t} '{}' need one positive scale and zero point 0",
                me.name(t)
            );
            let dims = me.dims(t)?;
            ensure!(
                dims.len() == 2 && dims[1] == cols && data.len() == dims[0] * cols,
                "LSTM weights {t} '{}' of shape {dims:?} do not take {cols} values",
                me.name(t)
            );
            Ok((data.iter().map(|&b| b as i8).collect(), q.scale()))
        };
        let n_cell = self.dims(inputs[4])?.first().copied().unwrap_or(0);
        let state = inputs[18];
        let cell = inputs[19];
        let state_q = self.quant(state)?;
        ensure!(
            self.tensor(state)?.type_() == tflite::TensorType::INT8
                && self.tensor(cell)?.type_() == tflite::TensorType::INT16,
            "the LSTM's states must be int8 (output) and int16 (cell)"
        );
        let cell_scale = self.quant(cell)?.scale();
        let cell_shift = cell_scale.log2();
        ensure!(
            cell_shift.fract() == 0.0 && (-15.0..=-9.0).contains(&cell_shift),
            "the LSTM's cell state scale {cell_scale} is not 2^-15..=2^-9"
        );
        let hidden = op
            .intermediates()
            .and_then(|v| v.iter().nth(4))
            .context("the LSTM has no hidden-state intermediate (not an integer LSTM)")?;
        let hidden_q = self.quant(hidden)?;
        let (s_state, z_state) = (state_q.scale(), state_q.zero_point());
        let (s_hidden, z_hidden) = (hidden_q.scale(), hidden_q.zero_point());
        ensure!(
            s_state > 0.0 && s_hidden > 0.0,
            "the LSTM's output state and hidden intermediate need scales"
        );
        // Gates are Q3.12 without layer normalization.
        let gate_scale = 2f32.powi(-12);
        let (mut input_weights, mut recurrent_weights) = (Vec::new(), Vec::new());
        let (mut biases, mut multipliers, mut shifts) = (Vec::new(), Vec::new(), Vec::new());
        let mut recurrent_biases = Vec::new();
        let mut recurrent_requant = Vec::new();
        for gate in 0..4 {
            let (wx, scale_x) = weights(self, 1 + gate, n_input)?;
            let (wh, scale_h) = weights(self, 5 + gate, n_cell)?;
            ensure!(
                wx.len() == n_cell * n_input,
                "LSTM gate weights of differing cell counts"
            );
            let bias_t = inputs[12 + gate];
            ensure!(
                self.dtype(bias_t)? == DType::I32,
                "LSTM bias {bias_t} must be int32"
            );
            let bias: Vec<i32> = self
                .const_data(bias_t)
                .filter(|d| d.len() == 4 * n_cell)
                .with_context(|| format!("LSTM bias {bias_t} must be constant int32 [{n_cell}]"))?
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let row_sums = |w: &[i8], cols: usize| -> Vec<i32> {
                w.chunks_exact(cols)
                    .map(|r| r.iter().map(|&v| i32::from(v)).sum())
                    .collect()
            };
            biases.extend(
                row_sums(&wx, n_input)
                    .iter()
                    .zip(&bias)
                    .map(|(&s, &b)| b.wrapping_add(s.wrapping_mul(-zx))),
            );
            recurrent_biases.extend(
                row_sums(&wh, n_cell)
                    .iter()
                    .map(|&s| s.wrapping_mul(-z_state)),
            );
            multipliers.push(quantize_multiplier(f64::from(scale_x * sx / gate_scale)));
            recurrent_requant.push(quantize_multiplier(f64::from(
                scale_h * s_state / gate_scale,
            )));
            input_weights.extend(wx);
            recurrent_weights.extend(wh);
        }
        biases.extend(recurrent_biases);
        multipliers.extend(recurrent_requant);
        shifts.extend(multipliers.iter().map(|&(_, s)| s));
        let mut table: Vec<i32> = multipliers.iter().map(|&(m, _)| m).collect();
        table.extend(shifts);
        let hidden_scale = (2f64.powi(-15) / f64::from(s_hidden) * 2f64.powi(-15)) as f32;
        let (hidden_multiplier, hidden_shift) = quantize_multiplier(f64::from(hidden_scale));
        ensure!(
            table[8..]
                .iter()
                .chain([&hidden_shift])
                .all(|s| (-31..=30).contains(s)),
            "the LSTM's scales are out of range"
        );
        let clip = o.cell_clip();
        let cell_clip = if clip > 0.0 {
            (clip / cell_scale).clamp(-32768.0, 32767.0) as i32
        } else {
            0
        };
        let name = self.name(out);
        let mut constant_i8 = |suffix: &str, dims: &[usize], v: &[i8]| {
            self.builder
                .add_tensor(TensorSpec::const_i8(&format!("{name}/{suffix}"), dims, v))
        };
        let wx = constant_i8("input_weights", &[4, n_cell, n_input], &input_weights);
        let wh = constant_i8(
            "recurrent_weights",
            &[4, n_cell, n_cell],
            &recurrent_weights,
        );
        let b = self
            .builder
            .add_tensor(TensorSpec::const_i32(&format!("{name}/biases"), &biases));
        let rq = self
            .builder
            .add_tensor(TensorSpec::const_i32(&format!("{name}/requant"), &table));
        let params = LstmParams {
            cells: u32::try_from(n_cell)?,
            time_major: u32::from(time_major),
            cell_shift: cell_shift as i32,
            cell_clip,
            state_zero_point: z_state,
            hidden_zero_point: z_hidden,
            hidden_multiplier,
            hidden_shift,
        };
        self.builder.add_op(
            OpKind::Lstm,
            &[Some(xt), Some(wx), Some(wh), Some(b), Some(rq)],
            yt,
            write_params(&params),
        );
        if let Some(op) = self.builder.ops.last_mut() {
            op.scratch = edgeq_runtime::kernels::lstm::scratch_len(batches, n_cell);
        }
        Ok(())
    }

    /// A resize of an NHWC int8 tensor to the output's height and width, as `kind` with a
    /// row table and a column table: `entry(v, input_size, output_size)` gives output row
    /// (or column) `v`'s entries, or `None` where TFLite would read outside the input.
    fn resize(
        &mut self,
        input: i32,
        out: i32,
        kind: OpKind,
        entry: impl Fn(usize, usize, usize) -> Option<Vec<i32>>,
    ) -> Result<()> {
        let what = kind.name();
        let (x, y, _) = self.int8_same_quantization(input, out, what)?;
        let (xd, yd) = (self.dims(input)?, self.dims(out)?);
        ensure!(xd.len() == 4 && yd.len() == 4, "{what} needs NHWC tensors");
        let name = self.name(out);
        let mut table = |axis: usize, suffix: &str| -> Result<usize> {
            let mut values = Vec::new();
            for v in 0..yd[axis] {
                let e = entry(v, xd[axis], yd[axis]).with_context(|| {
                    format!(
                        "{what}: output {suffix} {v} of {} would read outside the input's {}",
                        yd[axis], xd[axis]
                    )
                })?;
                values.extend(e);
            }
            Ok(self
                .builder
                .add_tensor(TensorSpec::const_i32(&format!("{name}/{suffix}"), &values)))
        };
        let rows = table(1, "rows")?;
        let cols = table(2, "cols")?;
        self.builder.add_op(
            kind,
            &[Some(x), Some(rows), Some(cols)],
            y,
            [0; OP_PARAMS_BYTES],
        );
        Ok(())
    }

    /// A constant int32 or int64 tensor's values (`what` names it in errors).
    fn const_ints(&self, index: i32, what: &str) -> Result<Vec<i64>> {
        let t = self.tensor(index)?;
        let data = self
            .const_data(index)
            .with_context(|| format!("{what} must be constant"))?;
        Ok(match t.type_() {
            tflite::TensorType::INT32 => data
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes(b.try_into().unwrap())))
                .collect(),
            tflite::TensorType::INT64 => data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            other => bail!(
                "{what} have type {}; int32 or int64 expected",
                other.variant_name().unwrap_or("?")
            ),
        })
    }

    /// A PAD's paddings: a constant `[rank, 2]` tensor of non-negative `(before, after)`
    /// pairs.
    fn paddings(&self, index: i32, rank: usize) -> Result<Vec<(u32, u32)>> {
        let values = self.const_ints(index, "PAD's paddings")?;
        ensure!(
            values.len() == 2 * rank,
            "PAD's paddings hold {} values for a rank-{rank} input",
            values.len()
        );
        values
            .chunks_exact(2)
            .map(|p| {
                let each = |v: i64| u32::try_from(v).ok().filter(|&v| v <= 1 << 24);
                each(p[0])
                    .zip(each(p[1]))
                    .with_context(|| format!("padding {p:?} is negative or too large"))
            })
            .collect()
    }

    /// Axes given as a constant list, negative ones counted from the end, as a bit mask over
    /// `rank` axes.
    fn axes_mask(&self, index: i32, rank: usize, what: &str) -> Result<u32> {
        let mut mask = 0u32;
        for a in self.const_ints(index, what)? {
            let axis = if a < 0 { a + rank as i64 } else { a };
            ensure!(
                (0..rank as i64).contains(&axis),
                "{what}: axis {a} outside the rank {rank}"
            );
            mask |= 1 << axis;
        }
        Ok(mask)
    }

    /// PADV2's constant value: one int8 constant at the output's quantization.
    fn pad_value(&self, index: i32, (sy, zy): (f32, i32)) -> Result<i32> {
        ensure!(
            self.dtype(index)? == DType::I8,
            "PADV2's value must be int8"
        );
        let data = self
            .const_data(index)
            .context("PADV2's value must be constant")?;
        ensure!(data.len() == 1, "PADV2's value must be one element");
        let q = self.quant(index)?;
        ensure!(
            q.scales.is_empty() || (q.scale() == sy && q.zero_point() == zy),
            "PADV2's value is quantized ({}, {}), the output ({sy}, {zy})",
            q.scale(),
            q.zero_point()
        );
        Ok(i32::from(data[0] as i8))
    }

    fn int8_activation(&mut self, index: i32) -> Result<(usize, f32, i32)> {
        ensure!(
            self.dtype(index)? == DType::I8,
            "tensor {index} '{}' must be int8",
            self.name(index)
        );
        let t = self.activation(index)?;
        let q = self.quant(index)?;
        ensure!(
            q.scale() > 0.0 && q.scale().is_finite(),
            "tensor {index} '{}' is not quantized (scale {})",
            self.name(index),
            q.scale()
        );
        Ok((t, q.scale(), q.zero_point()))
    }

    /// Per-channel requantization tables (TFLite's `PopulateConvolutionQuantizationParams`:
    /// `input_scale * weight_scale / output_scale` in double precision); a per-tensor weight
    /// scale is broadcast over the channels.
    fn requant_tables(
        &mut self,
        name: &str,
        input_scale: f32,
        weight_scales: &[f32],
        output_scale: f32,
        channels: usize,
    ) -> Result<(usize, usize)> {
        ensure!(
            weight_scales.len() == channels || weight_scales.len() == 1,
            "{} weight scales for {channels} output channels",
            weight_scales.len()
        );
        // A corrupted file can hold any float here; TFLite's converter writes positive ones.
        if let Some(bad) = weight_scales.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            bail!("{name}: weight scale {bad} (scales must be positive and finite)");
        }
        let scales: Vec<f32> = (0..channels)
            .map(|c| weight_scales[if weight_scales.len() == 1 { 0 } else { c }])
            .collect();
        let (mult, shift) = crate::emit::requant(input_scale, &scales, output_scale);
        let m = self
            .builder
            .add_tensor(TensorSpec::const_i32(&format!("{name}/multiplier"), &mult));
        let s = self
            .builder
            .add_tensor(TensorSpec::const_i32(&format!("{name}/shift"), &shift));
        Ok((m, s))
    }

    fn op(&mut self, code: tflite::BuiltinOperator, op: &tflite::Operator<'a>) -> Result<()> {
        let inputs: Vec<i32> = op.inputs().map(|v| v.iter().collect()).unwrap_or_default();
        let outputs: Vec<i32> = op.outputs().map(|v| v.iter().collect()).unwrap_or_default();
        if matches!(
            code,
            tflite::BuiltinOperator::SPLIT | tflite::BuiltinOperator::SPLIT_V
        ) {
            return self.split(code, &inputs, &outputs);
        }
        ensure!(
            outputs.len() == 1,
            "expected one output, found {}",
            outputs.len()
        );
        let out = outputs[0];
        let input = |i: usize| -> Result<i32> {
            inputs
                .get(i)
                .copied()
                .filter(|&t| t >= 0)
                .with_context(|| format!("missing input {i}"))
        };
        match code {
            tflite::BuiltinOperator::CONV_2D | tflite::BuiltinOperator::DEPTHWISE_CONV_2D => self
                .conv(
                    code == tflite::BuiltinOperator::DEPTHWISE_CONV_2D,
                    op,
                    &inputs,
                    out,
                ),
            tflite::BuiltinOperator::FULLY_CONNECTED => self.fully_connected(op, &inputs, out),
            tflite::BuiltinOperator::ADD | tflite::BuiltinOperator::SUB => {
                let act = if code == tflite::BuiltinOperator::ADD {
                    op.builtin_options_as_add_options()
                        .context("missing ADD options")?
                        .fused_activation_function()
                } else {
                    op.builtin_options_as_sub_options()
                        .context("missing SUB options")?
                        .fused_activation_function()
                };
                let (a, sa, za) = self.int8_operand(input(0)?)?;
                let (b, sb, zb) = self.int8_operand(input(1)?)?;
                let (y, sy, zy) = self.int8_activation(out)?;
                let act = activation_range(act, sy, zy)?;
                let params = crate::emit::add_params((sa, za), (sb, zb), (sy, zy), act);
                let kind = if code == tflite::BuiltinOperator::ADD {
                    OpKind::Add
                } else {
                    OpKind::Sub
                };
                self.builder
                    .add_op(kind, &[Some(a), Some(b)], y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::MAXIMUM | tflite::BuiltinOperator::MINIMUM => {
                let (a, ..) = self.int8_operand(input(0)?)?;
                let (b, ..) = self.int8_operand(input(1)?)?;
                let (y, ..) = self.int8_activation(out)?;
                let kind = if code == tflite::BuiltinOperator::MAXIMUM {
                    OpKind::Maximum
                } else {
                    OpKind::Minimum
                };
                self.builder
                    .add_op(kind, &[Some(a), Some(b)], y, [0; OP_PARAMS_BYTES]);
                Ok(())
            }
            tflite::BuiltinOperator::MUL => {
                let o = op
                    .builtin_options_as_mul_options()
                    .context("missing MUL options")?;
                let (a, sa, za) = self.int8_operand(input(0)?)?;
                let (b, sb, zb) = self.int8_operand(input(1)?)?;
                let (y, sy, zy) = self.int8_activation(out)?;
                let (act_min, act_max) = activation_range(o.fused_activation_function(), sy, zy)?;
                // TFLite's `input1_scale * input2_scale / output_scale`, in double.
                let real = f64::from(sa) * f64::from(sb) / f64::from(sy);
                let (output_multiplier, output_shift) = quantize_multiplier(real);
                ensure!(
                    (-31..=30).contains(&output_shift),
                    "MUL's scale ratio {real:e} is out of range (shift {output_shift})"
                );
                let params = MulParams {
                    input1_zero_point: za,
                    input2_zero_point: zb,
                    output_zero_point: zy,
                    output_multiplier,
                    output_shift,
                    act_min,
                    act_max,
                    rounding: Rounding::Double as u16,
                    reserved: 0,
                };
                self.builder
                    .add_op(OpKind::Mul, &[Some(a), Some(b)], y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::PAD | tflite::BuiltinOperator::PADV2 => {
                let (x, y, (sy, zy)) = self.int8_same_quantization(input(0)?, out, "padding")?;
                let rank = self.dims(input(0)?)?.len();
                let pads = self.paddings(input(1)?, rank)?;
                let mut params = PadParams {
                    value: zy,
                    ..PadParams::default()
                };
                for (axis, (lo, hi)) in pads.into_iter().enumerate() {
                    params.before[axis] = lo;
                    params.after[axis] = hi;
                }
                if code == tflite::BuiltinOperator::PADV2 {
                    if let Ok(v) = input(2) {
                        params.value = self.pad_value(v, (sy, zy))?;
                    }
                }
                self.builder
                    .add_op(OpKind::Pad, &[Some(x)], y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::SLICE => {
                let dims = self.dims(input(0)?)?;
                let begin = self.const_ints(input(1)?, "SLICE's begin")?;
                let size = self.const_ints(input(2)?, "SLICE's size")?;
                ensure!(
                    begin.len() == dims.len() && size.len() == dims.len(),
                    "SLICE's begin {begin:?} and size {size:?} do not fit a rank-{} input",
                    dims.len()
                );
                let axes = (0..dims.len())
                    .map(|a| {
                        let n = if size[a] == -1 {
                            dims[a] as i64 - begin[a]
                        } else {
                            size[a]
                        };
                        (begin[a], 1, n)
                    })
                    .collect::<Vec<_>>();
                self.slice_op(input(0)?, &axes, out)
            }
            tflite::BuiltinOperator::STRIDED_SLICE => {
                let o = op
                    .builtin_options_as_strided_slice_options()
                    .context("missing STRIDED_SLICE options")?;
                ensure!(
                    o.ellipsis_mask() == 0 && o.new_axis_mask() == 0,
                    "STRIDED_SLICE with an ellipsis or new axes is not supported"
                );
                let dims = self.dims(input(0)?)?;
                let begin = self.const_ints(input(1)?, "STRIDED_SLICE's begin")?;
                let end = self.const_ints(input(2)?, "STRIDED_SLICE's end")?;
                let strides = self.const_ints(input(3)?, "STRIDED_SLICE's strides")?;
                let rank = dims.len();
                ensure!(
                    begin.len() == rank && end.len() == rank && strides.len() == rank,
                    "STRIDED_SLICE's begin, end and strides must have {rank} values"
                );
                let mut axes = Vec::new();
                for a in 0..rank {
                    let bit = |mask: i32| mask & (1 << a) != 0;
                    let axis = StridedAxis {
                        dim: dims[a] as i64,
                        begin: begin[a],
                        end: end[a],
                        stride: strides[a],
                        begin_mask: bit(o.begin_mask()),
                        end_mask: bit(o.end_mask()),
                        shrink: bit(o.shrink_axis_mask()),
                        offset: strided_slice_offset(&o),
                    };
                    axes.push(axis.resolve()?);
                }
                self.slice_op(input(0)?, &axes, out)
            }
            tflite::BuiltinOperator::RESIZE_NEAREST_NEIGHBOR => {
                let o = op
                    .builtin_options_as_resize_nearest_neighbor_options()
                    .context("missing RESIZE_NEAREST_NEIGHBOR options")?;
                let (align, half) = (o.align_corners(), o.half_pixel_centers());
                self.resize(input(0)?, out, OpKind::ResizeNearest, |v, i, o| {
                    Some(vec![tables::nearest_neighbor(v, i, o, align, half)])
                })
            }
            tflite::BuiltinOperator::UNIDIRECTIONAL_SEQUENCE_LSTM => self.lstm(op, &inputs, out),
            tflite::BuiltinOperator::TRANSPOSE_CONV => self.transpose_conv(op, &inputs, out),
            tflite::BuiltinOperator::GATHER => self.gather(op, &inputs, out),
            tflite::BuiltinOperator::PRELU => self.prelu(&inputs, out),
            tflite::BuiltinOperator::BATCH_MATMUL => self.batch_matmul(op, &inputs, out),
            tflite::BuiltinOperator::SVDF => self.svdf(op, &inputs, out),
            tflite::BuiltinOperator::RESIZE_BILINEAR => {
                let o = op
                    .builtin_options_as_resize_bilinear_options()
                    .context("missing RESIZE_BILINEAR options")?;
                let (align, half) = (o.align_corners(), o.half_pixel_centers());
                ensure!(
                    !(align && half),
                    "RESIZE_BILINEAR with both align_corners and half_pixel_centers"
                );
                self.resize(input(0)?, out, OpKind::ResizeBilinear, |v, i, o| {
                    tables::bilinear_axis(v, i, o, align, half).map(Vec::from)
                })
            }
            tflite::BuiltinOperator::TRANSPOSE => {
                let (x, y, _) = self.int8_same_quantization(input(0)?, out, "TRANSPOSE")?;
                let rank = self.dims(input(0)?)?.len();
                let perm = self.const_ints(input(1)?, "TRANSPOSE's permutation")?;
                ensure!(
                    perm.len() == rank && perm.iter().all(|&p| (0..rank as i64).contains(&p)),
                    "TRANSPOSE's permutation {perm:?} does not fit a rank-{rank} input"
                );
                let mut params = TransposeParams::default();
                for (dst, &p) in params.perm.iter_mut().zip(&perm) {
                    *dst = p as u32;
                }
                self.builder
                    .add_op(OpKind::Transpose, &[Some(x)], y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::MEAN => {
                let (x, sx, zx) = self.int8_activation(input(0)?)?;
                let (y, sy, zy) = self.int8_activation(out)?;
                let dims = self.dims(input(0)?)?;
                let axes = self.axes_mask(input(1)?, dims.len(), "MEAN's axes")?;
                let count: usize = (0..dims.len())
                    .filter(|&a| axes & (1 << a) != 0)
                    .map(|a| dims[a])
                    .product();
                let (multiplier, shift) =
                    crate::emit::mean_multiplier(f64::from(sx) / f64::from(sy), count);
                ensure!(
                    (-31..=30).contains(&shift),
                    "MEAN's scale ratio {} is out of range",
                    sx / sy
                );
                let params = MeanParams {
                    axes,
                    input_zero_point: zx,
                    output_zero_point: zy,
                    multiplier,
                    shift,
                };
                self.builder
                    .add_op(OpKind::Mean, &[Some(x)], y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::CONCATENATION => {
                let o = op
                    .builtin_options_as_concatenation_options()
                    .context("missing CONCATENATION options")?;
                ensure!(
                    o.fused_activation_function() == tflite::ActivationFunctionType::NONE,
                    "CONCATENATION with a fused activation is not supported"
                );
                ensure!(
                    (1..=MAX_OP_INPUTS).contains(&inputs.len()),
                    "CONCATENATION of {} inputs (edgeq takes 1 to {MAX_OP_INPUTS})",
                    inputs.len()
                );
                let (y, sy, zy) = self.int8_activation(out)?;
                let rank = self.dims(out)?.len() as i32;
                ensure!(
                    (-rank..rank).contains(&o.axis()),
                    "CONCATENATION axis {} outside the rank {rank}",
                    o.axis()
                );
                let mut xs = Vec::new();
                for i in 0..inputs.len() {
                    let (x, sx, zx) = self.int8_operand(input(i)?)?;
                    ensure!(
                        sx == sy && zx == zy,
                        "CONCATENATION input {i} is quantized ({sx}, {zx}), the output ({sy}, {zy}); int8 concatenation does not requantize"
                    );
                    xs.push(Some(x));
                }
                let params = ConcatParams {
                    axis: o.axis().rem_euclid(rank) as u32,
                };
                self.builder
                    .add_op(OpKind::Concatenation, &xs, y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::LOGISTIC
            | tflite::BuiltinOperator::TANH
            | tflite::BuiltinOperator::RELU
            | tflite::BuiltinOperator::RELU6
            | tflite::BuiltinOperator::RELU_N1_TO_1
            | tflite::BuiltinOperator::LEAKY_RELU
            | tflite::BuiltinOperator::HARD_SWISH => {
                let (x, sx, zx) = self.int8_activation(input(0)?)?;
                let (y, sy, zy) = self.int8_activation(out)?;
                ensure!(
                    self.dims(input(0)?)? == self.dims(out)?,
                    "input and output shapes differ"
                );
                let (qx, qy) = ((sx, zx), (sy, zy));
                let table = match code {
                    tflite::BuiltinOperator::LOGISTIC => {
                        ensure!(
                            sy == 1.0 / 256.0,
                            "int8 LOGISTIC output must have scale 1/256 (has {sy})"
                        );
                        tables::logistic(qx, qy)
                    }
                    tflite::BuiltinOperator::TANH => tables::tanh(qx, qy),
                    tflite::BuiltinOperator::RELU => tables::relu(qx, qy, 0.0, f32::INFINITY),
                    tflite::BuiltinOperator::RELU6 => tables::relu(qx, qy, 0.0, 6.0),
                    tflite::BuiltinOperator::RELU_N1_TO_1 => tables::relu(qx, qy, -1.0, 1.0),
                    tflite::BuiltinOperator::LEAKY_RELU => {
                        let o = op
                            .builtin_options_as_leaky_relu_options()
                            .context("missing LEAKY_RELU options")?;
                        tables::leaky_relu(qx, qy, o.alpha())
                    }
                    _ => tables::hard_swish(qx, qy).with_context(|| {
                        format!(
                            "HARD_SWISH with input scale {sx} above 128 x the output scale {sy}"
                        )
                    })?,
                };
                let name = format!("{}/table", self.name(out));
                let t = self
                    .builder
                    .add_tensor(TensorSpec::const_i8(&name, &[256], &table));
                self.builder
                    .add_op(OpKind::Lookup, &[Some(x), Some(t)], y, [0; OP_PARAMS_BYTES]);
                Ok(())
            }
            tflite::BuiltinOperator::AVERAGE_POOL_2D | tflite::BuiltinOperator::MAX_POOL_2D => {
                let o = op
                    .builtin_options_as_pool_2_doptions()
                    .context("missing pool options")?;
                let (x, y, (sy, zy)) = self.int8_same_quantization(input(0)?, out, "pooling")?;
                let (xd, yd) = (self.dims(input(0)?)?, self.dims(out)?);
                ensure!(
                    xd.len() == 4 && yd.len() == 4,
                    "pooling needs rank-4 NHWC tensors"
                );
                let (fh, fw) = (
                    u16_param(o.filter_height(), "filter height")?,
                    u16_param(o.filter_width(), "filter width")?,
                );
                let (sh, sw) = (
                    u16_param(o.stride_h(), "stride")?,
                    u16_param(o.stride_w(), "stride")?,
                );
                let (act_min, act_max) = activation_range(o.fused_activation_function(), sy, zy)?;
                let params = PoolParams {
                    filter_h: fh,
                    filter_w: fw,
                    stride_h: sh,
                    stride_w: sw,
                    pad_top: padding(o.padding(), sh.into(), 1, xd[1], fh.into(), yd[1])?,
                    pad_left: padding(o.padding(), sw.into(), 1, xd[2], fw.into(), yd[2])?,
                    act_min,
                    act_max,
                };
                let kind = if code == tflite::BuiltinOperator::AVERAGE_POOL_2D {
                    OpKind::AveragePool2d
                } else {
                    OpKind::MaxPool2d
                };
                self.builder
                    .add_op(kind, &[Some(x)], y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::RESHAPE => {
                let x = self.activation(input(0)?)?;
                let y = self.activation(out)?;
                let (xs, ys) = (self.builder.tensor(x), self.builder.tensor(y));
                ensure!(
                    xs.dtype == ys.dtype && xs.scale == ys.scale && xs.zero_point == ys.zero_point,
                    "RESHAPE changes dtype or quantization"
                );
                self.builder
                    .add_op(OpKind::Reshape, &[Some(x)], y, [0; OP_PARAMS_BYTES]);
                Ok(())
            }
            tflite::BuiltinOperator::SOFTMAX => {
                let o = op
                    .builtin_options_as_softmax_options()
                    .context("missing SOFTMAX options")?;
                let (x, sx, _) = self.int8_activation(input(0)?)?;
                let y = if self.dtype(out)? == DType::I16 {
                    let q = self.quant(out)?;
                    // TFLite accepts an int16 output scale within 0.1 % of 1/65536.
                    let near = (q.scale() - 1.0 / 65536.0).abs() <= 0.001 / 65536.0;
                    ensure!(
                        near && q.zero_point() == -32768,
                        "int16 SOFTMAX output must have scale 1/65536 and zero point -32768 (has {}, {})",
                        q.scale(),
                        q.zero_point()
                    );
                    self.activation(out)?
                } else {
                    let (y, sy, zy) = self.int8_activation(out)?;
                    ensure!(
                        sy == 1.0 / 256.0 && zy == -128,
                        "int8 SOFTMAX output must have scale 1/256 and zero point -128 (has {sy}, {zy})"
                    );
                    y
                };
                let params = crate::emit::softmax_params(o.beta(), sx)
                    .context("softmax input scale too small")?;
                self.builder
                    .add_op(OpKind::Softmax, &[Some(x)], y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::QUANTIZE if self.dtype(input(0)?)? != DType::F32 => {
                self.requantize(input(0)?, out)
            }
            tflite::BuiltinOperator::QUANTIZE => {
                let x = self.activation(input(0)?)?;
                let (y, sy, zy) = self.int8_activation(out)?;
                let params = AffineParams {
                    scale: sy,
                    zero_point: zy,
                };
                self.builder
                    .add_op(OpKind::Quantize, &[Some(x)], y, write_params(&params));
                Ok(())
            }
            tflite::BuiltinOperator::DEQUANTIZE => {
                ensure!(
                    self.dtype(out)? == DType::F32,
                    "only int8 -> float32 DEQUANTIZE is supported"
                );
                let (x, sx, zx) = self.int8_activation(input(0)?)?;
                let y = self.activation(out)?;
                let params = AffineParams {
                    scale: sx,
                    zero_point: zx,
                };
                self.builder
                    .add_op(OpKind::Dequantize, &[Some(x)], y, write_params(&params));
                Ok(())
            }
            other => bail!(
                "operator {} is not supported by edgeq (supported: {SUPPORTED_OPS})",
                other.variant_name().unwrap_or("CUSTOM")
            ),
        }
    }

    fn conv(
        &mut self,
        depthwise: bool,
        op: &tflite::Operator<'a>,
        inputs: &[i32],
        out: i32,
    ) -> Result<()> {
        let (padding_kind, stride_h, stride_w, dil_h, dil_w, act, multiplier) = if depthwise {
            let o = op
                .builtin_options_as_depthwise_conv_2_doptions()
                .context("missing DEPTHWISE_CONV_2D options")?;
            (
                o.padding(),
                o.stride_h(),
                o.stride_w(),
                o.dilation_h_factor(),
                o.dilation_w_factor(),
                o.fused_activation_function(),
                o.depth_multiplier(),
            )
        } else {
            let o = op
                .builtin_options_as_conv_2_doptions()
                .context("missing CONV_2D options")?;
            (
                o.padding(),
                o.stride_h(),
                o.stride_w(),
                o.dilation_h_factor(),
                o.dilation_w_factor(),
                o.fused_activation_function(),
                1,
            )
        };
        ensure!(inputs.len() >= 2, "convolution needs input and filter");
        let (x, sx, zx) = self.int8_activation(inputs[0])?;
        let (y, sy, zy) = self.int8_activation(out)?;
        let (xd, wd, yd) = (
            self.dims(inputs[0])?,
            self.dims(inputs[1])?,
            self.dims(out)?,
        );
        ensure!(
            xd.len() == 4 && wd.len() == 4 && yd.len() == 4,
            "convolution needs rank-4 tensors"
        );
        let out_c = yd[3];
        let filter_fits = if depthwise {
            wd[0] == 1 && wd[3] == out_c
        } else {
            wd[0] == out_c && wd[3] == xd[3]
        };
        ensure!(
            xd[0] == yd[0] && filter_fits && out_c > 0,
            "input {xd:?}, filter {wd:?} and output {yd:?} shapes disagree"
        );
        let wq = self.quant(inputs[1])?;
        ensure!(
            wq.zero_points.iter().all(|&z| z == 0),
            "filter zero points must be 0 (symmetric int8)"
        );
        let w = self.constant(inputs[1], DType::I8)?;
        let bias = self.optional_bias(inputs)?;
        let (sh, sw) = (
            u16_param(stride_h, "stride")?,
            u16_param(stride_w, "stride")?,
        );
        let (dh, dw) = (u16_param(dil_h, "dilation")?, u16_param(dil_w, "dilation")?);
        let (kh, kw) = (wd[1], wd[2]);
        let name = self.name(out);
        let (m, s) = self.requant_tables(&name, sx, &wq.scales, sy, out_c)?;
        let (act_min, act_max) = activation_range(act, sy, zy)?;
        // A depth multiplier of 0 in old files means "derive it from the shapes".
        let depth_multiplier = if depthwise {
            ensure!(
                xd[3] > 0 && out_c % xd[3] == 0,
                "depthwise output channels not a multiple of input channels"
            );
            let derived = out_c / xd[3];
            ensure!(
                multiplier <= 0 || multiplier as usize == derived,
                "depth multiplier {multiplier} disagrees with shapes"
            );
            u16::try_from(derived).context("depth multiplier too large")?
        } else {
            1
        };
        let params = ConvParams {
            input_zero_point: zx,
            output_zero_point: zy,
            act_min,
            act_max,
            stride_h: sh,
            stride_w: sw,
            dilation_h: dh,
            dilation_w: dw,
            pad_top: padding(padding_kind, sh.into(), dh.into(), xd[1], kh, yd[1])?,
            pad_left: padding(padding_kind, sw.into(), dw.into(), xd[2], kw, yd[2])?,
            depth_multiplier,
            weight_layout: WEIGHT_LAYOUT_PLAIN,
            rounding: Rounding::Double as u16,
            reserved: 0,
            // Read only by the packed layout (`crate::pack` sets them).
            kernel_h: 0,
            kernel_w: 0,
        };
        let kind = if depthwise {
            OpKind::DepthwiseConv2d
        } else {
            OpKind::Conv2d
        };
        self.builder.add_op(
            kind,
            &[Some(x), Some(w), bias, Some(m), Some(s)],
            y,
            write_params(&params),
        );
        Ok(())
    }

    /// TRANSPOSE_CONV: inputs (output shape, OHWI filter, input, optional bias), the padding
    /// of the convolution it transposes (TFLite's `ComputePaddingHeightWidth` with the
    /// output as that convolution's input), per-channel requantization as CONV_2D's.
    fn transpose_conv(
        &mut self,
        op: &tflite::Operator<'a>,
        inputs: &[i32],
        out: i32,
    ) -> Result<()> {
        let o = op
            .builtin_options_as_transpose_conv_options()
            .context("missing TRANSPOSE_CONV options")?;
        ensure!(
            (3..=4).contains(&inputs.len()),
            "TRANSPOSE_CONV takes 3 or 4 inputs, found {}",
            inputs.len()
        );
        let (x, sx, zx) = self.int8_activation(inputs[2])?;
        let (y, sy, zy) = self.int8_activation(out)?;
        let (xd, wd, yd) = (
            self.dims(inputs[2])?,
            self.dims(inputs[1])?,
            self.dims(out)?,
        );
        ensure!(
            xd.len() == 4 && wd.len() == 4 && yd.len() == 4,
            "TRANSPOSE_CONV needs rank-4 tensors"
        );
        let shape = self.const_ints(inputs[0], "TRANSPOSE_CONV's output shape")?;
        ensure!(
            shape.iter().map(|&d| d as usize).eq(yd.iter().copied()),
            "TRANSPOSE_CONV's output shape {shape:?} is not its output's {yd:?}"
        );
        let out_c = yd[3];
        ensure!(
            xd[0] == yd[0] && wd[0] == out_c && wd[3] == xd[3] && out_c > 0,
            "input {xd:?}, filter {wd:?} and output {yd:?} shapes disagree"
        );
        let wq = self.quant(inputs[1])?;
        ensure!(
            wq.zero_points.iter().all(|&z| z == 0),
            "filter zero points must be 0 (symmetric int8)"
        );
        let w = self.constant(inputs[1], DType::I8)?;
        let bias = match inputs.get(3) {
            Some(&b) if b >= 0 => Some(self.constant(b, DType::I32)?),
            _ => None,
        };
        let (sh, sw) = (
            u16_param(o.stride_h(), "stride")?,
            u16_param(o.stride_w(), "stride")?,
        );
        let (kh, kw) = (wd[1], wd[2]);
        let name = self.name(out);
        let (m, s) = self.requant_tables(&name, sx, &wq.scales, sy, out_c)?;
        let (act_min, act_max) = activation_range(o.fused_activation_function(), sy, zy)?;
        // The transposed convolution maps the output (its input) to this op's input.
        let pad = |stride: u16, size: usize, k: usize, input: usize| {
            padding(o.padding(), stride.into(), 1, size, k, input)
                .context("TRANSPOSE_CONV's input size does not match its output, filter and stride")
        };
        let params = ConvParams {
            input_zero_point: zx,
            output_zero_point: zy,
            act_min,
            act_max,
            stride_h: sh,
            stride_w: sw,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: pad(sh, yd[1], kh, xd[1])?,
            pad_left: pad(sw, yd[2], kw, xd[2])?,
            depth_multiplier: 1,
            weight_layout: WEIGHT_LAYOUT_PLAIN,
            rounding: Rounding::Double as u16,
            reserved: 0,
            kernel_h: 0,
            kernel_w: 0,
        };
        self.builder.add_op(
            OpKind::TransposeConv2d,
            &[Some(x), Some(w), bias, Some(m), Some(s)],
            y,
            write_params(&params),
        );
        Ok(())
    }

    /// GATHER: int8 values (an activation or a constant table) picked by int32 indices (a
    /// constant, int32 or int64, checked here; or an int32 activation, checked by the runtime
    /// at each pick).
    fn gather(&mut self, op: &tflite::Operator<'a>, inputs: &[i32], out: i32) -> Result<()> {
        let o = op
            .builtin_options_as_gather_options()
            .context("missing GATHER options")?;
        ensure!(inputs.len() == 2, "GATHER takes 2 inputs");
        let (x, sx, zx) = self.int8_operand(inputs[0])?;
        let (y, sy, zy) = self.int8_activation(out)?;
        ensure!(
            sx == sy && zx == zy,
            "GATHER input and output quantization differ ({sx}, {zx}) vs ({sy}, {zy})"
        );
        let (xd, id) = (self.dims(inputs[0])?, self.dims(inputs[1])?);
        let axis = if o.axis() < 0 {
            o.axis() + xd.len() as i32
        } else {
            o.axis()
        };
        let batch_dims = if o.batch_dims() < 0 {
            o.batch_dims() + id.len() as i32
        } else {
            o.batch_dims()
        };
        ensure!(
            (0..xd.len() as i32).contains(&axis) && (0..=axis).contains(&batch_dims),
            "GATHER axis {} / batch_dims {} do not fit an input of rank {}",
            o.axis(),
            o.batch_dims(),
            xd.len()
        );
        let indices = if self.const_data(inputs[1]).is_some() {
            let values = self.const_ints(inputs[1], "GATHER's indices")?;
            let bound = xd[axis as usize] as i64;
            ensure!(
                values.iter().all(|v| (0..bound).contains(v)),
                "GATHER's indices must lie in 0..{bound}"
            );
            let values: Vec<i32> = values.iter().map(|&v| v as i32).collect();
            let mut spec = TensorSpec::const_i32(&self.name(inputs[1]), &values);
            spec.dims = id.clone();
            self.builder.add_tensor(spec)
        } else {
            ensure!(
                self.tensor(inputs[1])?.type_() == tflite::TensorType::INT32,
                "GATHER's run-time indices must be int32"
            );
            self.activation(inputs[1])?
        };
        let params = GatherParams {
            axis: axis as u32,
            batch_dims: batch_dims as u32,
        };
        self.builder.add_op(
            OpKind::Gather,
            &[Some(x), Some(indices)],
            y,
            write_params(&params),
        );
        Ok(())
    }

    /// PRELU: int8 input and slopes (usually a constant broadcast over the channels); the two
    /// multipliers from `f32` scale ratios as TFLite's Prepare computes them.
    fn prelu(&mut self, inputs: &[i32], out: i32) -> Result<()> {
        ensure!(inputs.len() == 2, "PRELU takes 2 inputs");
        let (x, sx, zx) = self.int8_activation(inputs[0])?;
        let (alpha, sa, za) = self.int8_operand(inputs[1])?;
        let (y, sy, zy) = self.int8_activation(out)?;
        let (m1, s1) = quantize_multiplier(f64::from(sx / sy));
        let (m2, s2) = quantize_multiplier(f64::from(sx * sa / sy));
        ensure!(
            [s1, s2].iter().all(|s| (-31..=30).contains(s)),
            "PRELU's scale ratios are out of range"
        );
        let params = PreluParams {
            input_zero_point: zx,
            alpha_zero_point: za,
            output_zero_point: zy,
            positive_multiplier: m1,
            positive_shift: s1,
            negative_multiplier: m2,
            negative_shift: s2,
        };
        self.builder.add_op(
            OpKind::Prelu,
            &[Some(x), Some(alpha)],
            y,
            write_params(&params),
        );
        Ok(())
    }

    /// BATCH_MATMUL: two int8 operands (activations or constants), `adj_x`/`adj_y`, the
    /// multiplier as TFLite's `GetQuantizedConvolutionMultipler` (the scales' product in
    /// `f32`, divided in `f64`).
    fn batch_matmul(&mut self, op: &tflite::Operator<'a>, inputs: &[i32], out: i32) -> Result<()> {
        let o = op
            .builtin_options_as_batch_mat_mul_options()
            .context("missing BATCH_MATMUL options")?;
        ensure!(inputs.len() == 2, "BATCH_MATMUL takes 2 inputs");
        let (l, sl, zl) = self.int8_operand(inputs[0])?;
        let (r, sr, zr) = self.int8_operand(inputs[1])?;
        let (y, sy, zy) = self.int8_activation(out)?;
        let (multiplier, shift) = quantize_multiplier(f64::from(sl * sr) / f64::from(sy));
        ensure!(
            (-31..=30).contains(&shift),
            "BATCH_MATMUL's scale ratio is out of range"
        );
        let params = BatchMatMulParams {
            lhs_zero_point: zl,
            rhs_zero_point: zr,
            output_zero_point: zy,
            multiplier,
            shift,
            adj_x: u32::from(o.adj_x()),
            adj_y: u32::from(o.adj_y()),
        };
        self.builder.add_op(
            OpKind::BatchMatMul,
            &[Some(l), Some(r)],
            y,
            write_params(&params),
        );
        Ok(())
    }

    /// QUANTIZE between integer types (int8 or int16 to int8, int16 or int32): TFLite's `Requantize`
    /// with `s_x / s_y` in double precision.
    fn requantize(&mut self, x: i32, out: i32) -> Result<()> {
        let (from, to) = (self.dtype(x)?, self.dtype(out)?);
        ensure!(
            [DType::I8, DType::I16].contains(&from)
                && [DType::I8, DType::I16, DType::I32].contains(&to),
            "QUANTIZE from {} to {} is not supported (float32 -> int8, or int8/int16 -> int8/int16/int32)",
            from.name(),
            to.name()
        );
        let (xq, yq) = (self.quant(x)?, self.quant(out)?);
        ensure!(
            xq.scale() > 0.0 && yq.scale() > 0.0,
            "QUANTIZE between integer types needs both scales"
        );
        let (xt, yt) = (self.activation(x)?, self.activation(out)?);
        let (multiplier, shift) =
            quantize_multiplier(f64::from(xq.scale()) / f64::from(yq.scale()));
        ensure!(
            (-31..=30).contains(&shift),
            "QUANTIZE's scale ratio is out of range"
        );
        let params = RequantizeParams {
            input_zero_point: xq.zero_point(),
            output_zero_point: yq.zero_point(),
            multiplier,
            shift,
        };
        self.builder
            .add_op(OpKind::Requantize, &[Some(xt)], yt, write_params(&params));
        Ok(())
    }

    /// SVDF, TFLite's integer form: int8 input, feature weights and output, int16 time
    /// weights and state (its memory, kept in the op's scratch), optional int32 bias; the
    /// two multipliers from `f32` scale products as TFLite's Prepare.
    fn svdf(&mut self, op: &tflite::Operator<'a>, inputs: &[i32], out: i32) -> Result<()> {
        let o = op
            .builtin_options_as_svdfoptions()
            .context("missing SVDF options")?;
        ensure!(
            inputs.len() == 5,
            "SVDF takes 5 inputs, found {}",
            inputs.len()
        );
        ensure!(
            self.dtype(inputs[0])? == DType::I8,
            "the SVDF's input must be int8 (float and hybrid SVDFs are not supported)"
        );
        ensure!(
            o.fused_activation_function() == tflite::ActivationFunctionType::RELU,
            "an integer SVDF must have a fused RELU (as TFLite requires)"
        );
        ensure!(
            self.dtype(inputs[2])? == DType::I16 && self.dtype(inputs[4])? == DType::I16,
            "an SVDF with int8 time weights or state (TFLite Micro's 8-bit variant) is not \
             supported: LiteRT's integer SVDF, which edgeq matches, takes them as int16"
        );
        let (x, sx, zx) = self.int8_activation(inputs[0])?;
        let (y, sy, zy) = self.int8_activation(out)?;
        let wf = self.constant(inputs[1], DType::I8)?;
        let wt = self.constant(inputs[2], DType::I16)?;
        let bias = match inputs[3] {
            b if b >= 0 => Some(self.constant(b, DType::I32)?),
            _ => None,
        };
        let state = inputs[4];
        let scale = |me: &Self, t: i32| -> Result<f32> {
            let q = me.quant(t)?;
            ensure!(
                q.scale() > 0.0,
                "SVDF tensor {t} '{}' needs a scale",
                me.name(t)
            );
            Ok(q.scale())
        };
        let (s_wf, s_wt, s_state) = (
            scale(self, inputs[1])?,
            scale(self, inputs[2])?,
            scale(self, state)?,
        );
        let rank = o.rank();
        let (xd, wfd, wtd) = (
            self.dims(inputs[0])?,
            self.dims(inputs[1])?,
            self.dims(inputs[2])?,
        );
        ensure!(
            rank >= 1 && xd.len() == 2 && wfd.len() == 2 && wtd.len() == 2,
            "SVDF needs rank >= 1, a [batch, inputs] input and 2-D weights"
        );
        let (f1, s1) = quantize_multiplier(f64::from(sx * s_wf / s_state));
        let (f2, s2) = quantize_multiplier(f64::from(s_state * s_wt / sy));
        ensure!(
            [s1, s2].iter().all(|s| (-31..=30).contains(s)),
            "SVDF's scale ratios are out of range"
        );
        let params = SvdfParams {
            rank: u32::try_from(rank)?,
            input_zero_point: zx,
            output_zero_point: zy,
            feature_multiplier: f1,
            feature_shift: s1,
            time_multiplier: f2,
            time_shift: s2,
        };
        self.builder.add_op(
            OpKind::Svdf,
            &[Some(x), Some(wf), Some(wt), bias],
            y,
            write_params(&params),
        );
        let shape = edgeq_runtime::kernels::svdf::SvdfShape {
            batches: xd[0],
            inputs: xd[1],
            filters: wfd[0],
            units: wfd[0] / rank as usize,
            rank: rank as usize,
            memory: wtd[1],
        };
        if let Some(op) = self.builder.ops.last_mut() {
            op.scratch = edgeq_runtime::kernels::svdf::scratch_len(&shape);
        }
        Ok(())
    }

    fn fully_connected(
        &mut self,
        op: &tflite::Operator<'a>,
        inputs: &[i32],
        out: i32,
    ) -> Result<()> {
        let o = op
            .builtin_options_as_fully_connected_options()
            .context("missing FULLY_CONNECTED options")?;
        ensure!(
            o.weights_format() == tflite::FullyConnectedOptionsWeightsFormat::DEFAULT,
            "shuffled FULLY_CONNECTED weights are not supported"
        );
        ensure!(inputs.len() >= 2, "FULLY_CONNECTED needs input and weights");
        let (x, sx, zx) = self.int8_activation(inputs[0])?;
        let (y, sy, zy) = self.int8_activation(out)?;
        let wq = self.quant(inputs[1])?;
        ensure!(
            wq.zero_points.iter().all(|&z| z == 0),
            "weight zero points must be 0 (symmetric int8)"
        );
        let wd = self.dims(inputs[1])?;
        ensure!(
            wd.len() == 2,
            "FULLY_CONNECTED weights must be [units, depth]"
        );
        let w = self.constant(inputs[1], DType::I8)?;
        let bias = self.optional_bias(inputs)?;
        let name = self.name(out);
        let (m, s) = self.requant_tables(&name, sx, &wq.scales, sy, wd[0])?;
        let (act_min, act_max) = activation_range(o.fused_activation_function(), sy, zy)?;
        let params = FullyConnectedParams {
            input_zero_point: zx,
            weight_zero_point: 0,
            output_zero_point: zy,
            act_min,
            act_max,
            // TFLite's reference FULLY_CONNECTED rounds once (measured on the MLPerf Tiny AD
            // model: double rounding is off by 1 LSB on ~1% of outputs); see docs/QUANT.md.
            rounding: Rounding::Single as u16,
            weight_layout: WEIGHT_LAYOUT_PLAIN,
        };
        self.builder.add_op(
            OpKind::FullyConnected,
            &[Some(x), Some(w), bias, Some(m), Some(s)],
            y,
            write_params(&params),
        );
        Ok(())
    }
}
