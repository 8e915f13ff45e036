//! Emitting quantized operators into a [`ModelBuilder`]: the parameter records the runtime
//! expects, computed one way for every producer (the exporter, the synthetic models, the
//! importers).

use edgeq_runtime::format::*;
use edgeq_runtime::quant::{quantize_multiplier, round_half_away_f64, Rounding};

use crate::eqm::{ModelBuilder, TensorSpec};

/// An activation tensor of the graph being built.
#[derive(Clone, Copy, Debug)]
pub struct Act {
    /// Tensor index in the builder.
    pub tensor: usize,
    /// NHWC dims (`[rows, features, 1, 1]` for 2-D tensors).
    pub dims: [usize; 4],
    /// `I8` or `U4`.
    pub dtype: DType,
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// Convolution geometry.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Dilation (height, width).
    pub dilation: (usize, usize),
    /// Leading padding (top, left).
    pub pad: (usize, usize),
    /// Depthwise with this channel multiplier; 0 for a full convolution.
    pub depth_multiplier: usize,
}

impl ConvShape {
    /// A square-stride, undilated convolution (full, or depthwise with multiplier 1).
    pub fn simple(
        kernel: (usize, usize),
        stride: usize,
        pad: (usize, usize),
        depthwise: bool,
    ) -> Self {
        ConvShape {
            kernel,
            stride: (stride, stride),
            dilation: (1, 1),
            pad,
            depth_multiplier: usize::from(depthwise),
        }
    }
}

/// The constants of a convolution or dense layer: weight tensor and per-channel tables.
#[derive(Clone, Copy, Debug)]
pub struct LayerConsts {
    /// The weight tensor (plain layout).
    pub weights: usize,
    /// int32 bias.
    pub bias: usize,
    /// Requantization multipliers.
    pub multiplier: usize,
    /// Requantization shifts.
    pub shift: usize,
}

impl LayerConsts {
    /// The operator inputs of a layer reading `x`: `[x, weights, bias, multiplier, shift]`.
    fn op_inputs(&self, x: &Act) -> [Option<usize>; 5] {
        [
            x.tensor,
            self.weights,
            self.bias,
            self.multiplier,
            self.shift,
        ]
        .map(Some)
    }
}

/// A [`ModelBuilder`] plus a counter for unique tensor names.
pub struct Emitter {
    /// The graph.
    pub b: ModelBuilder,
    /// Requantization rounding of convolutions: TFLite's double rounding by default; the
    /// exporter uses single rounding, the exact rounding of `acc · M` that its fake
    /// quantization models. Fully connected layers always round once, as TFLite's.
    pub conv_rounding: Rounding,
    count: usize,
}

impl Default for Emitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Emitter {
    /// An empty graph.
    pub fn new() -> Self {
        Emitter {
            b: ModelBuilder::new(),
            conv_rounding: Rounding::Double,
            count: 0,
        }
    }

    /// A unique name starting with `what`.
    pub fn name(&mut self, what: &str) -> String {
        self.count += 1;
        format!("{what}_{}", self.count)
    }

    /// A new activation of `shape` (NHWC, or `[rows, features]`).
    pub fn activation(
        &mut self,
        shape: &[usize],
        dtype: DType,
        scale: f32,
        zero_point: i32,
    ) -> Act {
        let name = self.name("act");
        self.named_activation(&name, shape, dtype, scale, zero_point)
    }

    /// [`Emitter::activation`] under a given tensor name.
    pub fn named_activation(
        &mut self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        scale: f32,
        zero_point: i32,
    ) -> Act {
        let tensor = self.b.add_tensor(TensorSpec::activation(
            name, dtype, shape, scale, zero_point,
        ));
        Act {
            tensor,
            dims: std::array::from_fn(|i| shape.get(i).copied().unwrap_or(1)),
            dtype,
            scale,
            zero_point,
        }
    }

    /// A constant weight tensor of `dtype` (`I8` or `I4`), plain layout.
    pub fn weights(&mut self, dims: &[usize], dtype: DType, values: &[i8]) -> usize {
        let name = self.name("w");
        let spec = match dtype {
            DType::I4 => TensorSpec::const_4bit(&name, DType::I4, dims, values),
            _ => TensorSpec::const_i8(&name, dims, values),
        };
        self.b.add_tensor(spec)
    }

    /// Bias, multiplier and shift tables.
    pub fn tables(
        &mut self,
        weights: usize,
        bias: &[i32],
        multiplier: &[i32],
        shift: &[i32],
    ) -> LayerConsts {
        let name = self.name("t");
        let mut add = |what: &str, v: &[i32]| {
            self.b
                .add_tensor(TensorSpec::const_i32(&format!("{name}/{what}"), v))
        };
        LayerConsts {
            weights,
            bias: add("bias", bias),
            multiplier: add("multiplier", multiplier),
            shift: add("shift", shift),
        }
    }

    /// A convolution from `x` into `y`.
    pub fn conv(
        &mut self,
        x: &Act,
        y: &Act,
        shape: ConvShape,
        consts: LayerConsts,
        act: (i32, i32),
    ) {
        let p = ConvParams {
            input_zero_point: x.zero_point,
            output_zero_point: y.zero_point,
            act_min: act.0,
            act_max: act.1,
            stride_h: shape.stride.0 as u16,
            stride_w: shape.stride.1 as u16,
            dilation_h: shape.dilation.0 as u16,
            dilation_w: shape.dilation.1 as u16,
            pad_top: shape.pad.0 as u16,
            pad_left: shape.pad.1 as u16,
            depth_multiplier: shape.depth_multiplier as u16,
            rounding: self.conv_rounding as u16,
            ..ConvParams::default()
        };
        let kind = if shape.depth_multiplier > 0 {
            OpKind::DepthwiseConv2d
        } else {
            OpKind::Conv2d
        };
        let inputs = consts.op_inputs(x);
        self.b.add_op(kind, &inputs, y.tensor, write_params(&p));
    }

    /// A fully connected layer from `x` (flattened per row) into `y`.
    pub fn fully_connected(&mut self, x: &Act, y: &Act, consts: LayerConsts, act: (i32, i32)) {
        let p = FullyConnectedParams {
            input_zero_point: x.zero_point,
            output_zero_point: y.zero_point,
            act_min: act.0,
            act_max: act.1,
            rounding: Rounding::Single as u16,
            ..FullyConnectedParams::default()
        };
        let inputs = consts.op_inputs(x);
        self.b
            .add_op(OpKind::FullyConnected, &inputs, y.tensor, write_params(&p));
    }

    /// `y = a + b`, requantized as TFLite's int8 ADD (left shift 20), clamped to `act`.
    pub fn add(&mut self, a: &Act, b: &Act, y: &Act, act: (i32, i32)) {
        let p = add_params(
            (a.scale, a.zero_point),
            (b.scale, b.zero_point),
            (y.scale, y.zero_point),
            act,
        );
        self.b.add_op(
            OpKind::Add,
            &[Some(a.tensor), Some(b.tensor)],
            y.tensor,
            write_params(&p),
        );
    }

    /// A pooling op over `filter` windows with `stride`, no padding, into a new activation
    /// of the input's type and quantization.
    pub fn pool(&mut self, kind: OpKind, x: &Act, filter: (usize, usize), stride: usize) -> Act {
        let [n, h, w, c] = x.dims;
        let (oh, ow) = ((h - filter.0) / stride + 1, (w - filter.1) / stride + 1);
        let y = self.activation(&[n, oh, ow, c], x.dtype, x.scale, x.zero_point);
        let (lo, hi) = x.dtype.int_range();
        let p = PoolParams {
            filter_h: filter.0 as u16,
            filter_w: filter.1 as u16,
            stride_h: stride as u16,
            stride_w: stride as u16,
            act_min: lo,
            act_max: hi,
            ..PoolParams::default()
        };
        self.b
            .add_op(kind, &[Some(x.tensor)], y.tensor, write_params(&p));
        y
    }

    /// Global average pooling to `[N, 1, 1, C]`.
    pub fn global_average_pool(&mut self, x: &Act) -> Act {
        let [_, h, w, _] = x.dims;
        self.pool(OpKind::AveragePool2d, x, (h, w), h.max(w))
    }
}

/// TFLite's int8 ADD parameters (add.cc `Prepare`): inputs rescaled to twice the larger
/// input scale with 20 bits of headroom, then to the output scale.
pub fn add_params(a: (f32, i32), b: (f32, i32), y: (f32, i32), act: (i32, i32)) -> AddParams {
    let left_shift = 20;
    let twice_max = 2.0 * f64::from(a.0.max(b.0));
    let (m1, s1) = quantize_multiplier(f64::from(a.0) / twice_max);
    let (m2, s2) = quantize_multiplier(f64::from(b.0) / twice_max);
    let (mo, so) = quantize_multiplier(twice_max / f64::from((1 << left_shift) as f32 * y.0));
    AddParams {
        input1_zero_point: a.1,
        input2_zero_point: b.1,
        output_zero_point: y.1,
        left_shift,
        input1_multiplier: m1,
        input1_shift: s1,
        input2_multiplier: m2,
        input2_shift: s2,
        output_multiplier: mo,
        output_shift: so,
        act_min: act.0,
        act_max: act.1,
    }
}

/// Per-channel requantization (TFLite's `PopulateConvolutionQuantizationParams`:
/// `input_scale * weight_scale / output_scale` in double precision): (multipliers, shifts).
pub fn requant(input_scale: f32, weight_scales: &[f32], output_scale: f32) -> (Vec<i32>, Vec<i32>) {
    weight_scales
        .iter()
        .map(|&ws| {
            quantize_multiplier(f64::from(input_scale) * f64::from(ws) / f64::from(output_scale))
        })
        .unzip()
}

/// The clamp of an output of `dtype` at (`scale`, `zero_point`) after an optional fused
/// activation `min ≤ x ≤ max` (TFLite's `CalculateActivationRangeQuantized`).
pub fn clamp_range(
    dtype: DType,
    scale: f32,
    zero_point: i32,
    min: Option<f32>,
    max: Option<f32>,
) -> (i32, i32) {
    let q = |f: f32| zero_point + round_half_away_f64(f64::from(f / scale)) as i32;
    let (lo, hi) = dtype.int_range();
    (
        min.map_or(lo, |m| lo.max(q(m))),
        max.map_or(hi, |m| hi.min(q(m))),
    )
}

/// int8 SOFTMAX parameters for an input of `input_scale` (TFLite's
/// `PreprocessSoftmaxScaling` with 5 integer bits, then `CalculateInputRadius`).
pub fn softmax_params(beta: f32, input_scale: f32) -> Option<SoftmaxParams> {
    let real = (f64::from(beta) * f64::from(input_scale) * (1u64 << 26) as f64)
        .min((1u64 << 31) as f64 - 1.0);
    let (multiplier, left_shift) = quantize_multiplier(real);
    if left_shift < 0 {
        return None;
    }
    let radius = (31.0 * (1u64 << 26) as f64 / (1u64 << left_shift) as f64).floor();
    Some(SoftmaxParams {
        input_multiplier: multiplier,
        input_left_shift: left_shift,
        diff_min: -(radius as i32),
    })
}

/// The multiplier of TFLite's int8 MEAN over `count` values (`QuantizedMeanOrSum`):
/// `scale_ratio` (input over output scale) quantized, then divided by `count` in integers
/// with the shift raised by up to `log2(count)` bits to keep the quotient's precision.
pub fn mean_multiplier(scale_ratio: f64, count: usize) -> (i32, i32) {
    let (multiplier, shift) = quantize_multiplier(scale_ratio);
    let count = count.max(1) as i64;
    let extra = (count.ilog2() as i32).min(32).min(31 + shift);
    let folded = (i64::from(multiplier) << extra) / count;
    (folded as i32, shift - extra)
}
