//! Synthetic models: the MLPerf Tiny architectures with random but valid parameters, at any
//! weight/activation bit width, so W8A8 and W4A4 are compared like for like before the
//! trainer makes real ones (`edgeq synth`, the W4A4 benchmarks and tests).
//!
//! Every conv, depthwise conv and fully connected layer gets the requested weight width, and
//! every activation between layers the requested activation width (uint4 for 4 bits); the
//! model's input and output stay int8 (sensor data in, scores out). So the first layer of a
//! W4A4 model is int8 x int4 and the last one writes int8.

use anyhow::{bail, Result};
use edgeq_runtime::format::*;
use edgeq_runtime::quant::quantize_multiplier;

use crate::emit::{Act, ConvShape, Emitter, LayerConsts};
use crate::eqm::ModelBuilder;

/// The architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// MLPerf Tiny IC: ResNet-8 on 32x32x3, 10 classes.
    ResNet8,
    /// MLPerf Tiny KWS: DS-CNN on 49x10 MFCCs, 12 classes.
    DsCnn,
    /// MLPerf Tiny VWW: MobileNetV1 0.25 on 96x96x3, 2 classes.
    MobileNetV1,
    /// MLPerf Tiny AD: the 640-128-128-128-128-8-128-128-128-128-640 autoencoder.
    Autoencoder,
}

impl Arch {
    /// Every architecture.
    pub const ALL: [Arch; 4] = [
        Arch::ResNet8,
        Arch::DsCnn,
        Arch::MobileNetV1,
        Arch::Autoencoder,
    ];

    /// Short name, as the CLI takes it.
    pub fn name(self) -> &'static str {
        match self {
            Arch::ResNet8 => "resnet8",
            Arch::DsCnn => "ds-cnn",
            Arch::MobileNetV1 => "mobilenet-v1",
            Arch::Autoencoder => "autoencoder",
        }
    }

    /// The architecture called `name`.
    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Bit widths of the inner layers: weights and activations, each 4 or 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits {
    /// Weight bits.
    pub weights: u8,
    /// Activation bits.
    pub acts: u8,
}

impl Bits {
    /// "w4a4" and the like.
    pub fn parse(s: &str) -> Option<Bits> {
        let rest = s.strip_prefix('w')?;
        let (w, a) = rest.split_once('a')?;
        let bits = Bits {
            weights: w.parse().ok()?,
            acts: a.parse().ok()?,
        };
        [bits.weights, bits.acts]
            .iter()
            .all(|b| *b == 4 || *b == 8)
            .then_some(bits)
    }

    fn weight_type(self) -> DType {
        if self.weights == 4 {
            DType::I4
        } else {
            DType::I8
        }
    }

    fn act_type(self) -> DType {
        if self.acts == 4 {
            DType::U4
        } else {
            DType::I8
        }
    }
}

impl std::fmt::Display for Bits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "w{}a{}", self.weights, self.acts)
    }
}

/// Where a layer sits: the last one emits int8 (the model's output).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Inner,
    Last,
}

struct Net {
    e: Emitter,
    rng: fastrand::Rng,
    bits: Bits,
}

impl Net {
    /// An activation of shape `shape` (NHWC, or `[rows, features]`).
    fn activation(&mut self, shape: &[usize], dtype: DType) -> Act {
        let scale = if dtype == DType::U4 {
            1.0 / 16.0
        } else {
            1.0 / 128.0
        };
        self.e.activation(shape, dtype, scale, 0)
    }

    fn output_type(&self, place: Place) -> DType {
        if place == Place::Last {
            DType::I8
        } else {
            self.bits.act_type()
        }
    }

    /// Random weights of `dtype` as a constant tensor.
    fn weights(&mut self, dims: &[usize], dtype: DType) -> usize {
        let n: usize = dims.iter().product();
        let (lo, hi) = dtype.int_range();
        let values: Vec<i8> = (0..n).map(|_| self.rng.i32(lo..=hi) as i8).collect();
        self.e.weights(dims, dtype, &values)
    }

    /// Bias and requantization tables that spread outputs over the output type: the
    /// accumulator's spread is about sqrt(K) * std(w) * std(x) for uniform values, scaled to a
    /// third of the output range.
    fn tables(
        &mut self,
        weights: usize,
        channels: usize,
        reduction: usize,
        (w, x, y): (DType, DType, DType),
        gain: f64,
    ) -> LayerConsts {
        let range = |t: DType| {
            let (lo, hi) = t.int_range();
            f64::from(hi - lo)
        };
        let spread = (reduction as f64).sqrt() * (range(w) / 12f64.sqrt()) * (range(x) / 4.0);
        let mut mult = Vec::with_capacity(channels);
        let mut shift = Vec::with_capacity(channels);
        let mut bias = Vec::with_capacity(channels);
        for _ in 0..channels {
            let real = gain * (0.7 + 0.6 * self.rng.f64()) * range(y) / 3.0 / spread;
            let (m, s) = quantize_multiplier(real.min(0.99));
            mult.push(m);
            shift.push(s);
            // A positive bias of about a sixth of the output range keeps ReLU layers alive
            // through a deep random network.
            let b = (0.5 + self.rng.f64()) * range(y) / 6.0 / real;
            bias.push(b.clamp(-1e9, 1e9) as i32);
        }
        self.e.tables(weights, &bias, &mult, &shift)
    }

    /// Clamp of a ReLU (or none) in the output type.
    fn clamp(dtype: DType, zero_point: i32, relu: bool) -> (i32, i32) {
        let (lo, hi) = dtype.int_range();
        (if relu { zero_point.max(lo) } else { lo }, hi)
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        x: Act,
        out_c: usize,
        (kh, kw): (usize, usize),
        stride: usize,
        depthwise: bool,
        relu: bool,
        place: Place,
    ) -> Act {
        let [n, h, w, c] = x.dims;
        let (oh, ow) = (h.div_ceil(stride), w.div_ceil(stride));
        let pad = |i: usize, o: usize, k: usize| ((o - 1) * stride + k).saturating_sub(i) / 2;
        let out_type = self.output_type(place);
        let y = self.activation(&[n, oh, ow, out_c], out_type);
        let wt = self.bits.weight_type();
        let filter = if depthwise {
            self.weights(&[1, kh, kw, out_c], wt)
        } else {
            self.weights(&[out_c, kh, kw, c], wt)
        };
        let reduction = kh * kw * if depthwise { 1 } else { c };
        let consts = self.tables(filter, out_c, reduction, (wt, x.dtype, out_type), 1.0);
        let shape = ConvShape::simple(
            (kh, kw),
            stride,
            (pad(h, oh, kh), pad(w, ow, kw)),
            depthwise,
        );
        let act = Self::clamp(out_type, y.zero_point, relu);
        self.e.conv(&x, &y, shape, consts, act);
        y
    }

    fn fc(&mut self, x: Act, units: usize, relu: bool, place: Place) -> Act {
        let depth: usize = x.dims[1..].iter().product();
        let out_type = self.output_type(place);
        let y = self.activation(&[x.dims[0], units], out_type);
        let wt = self.bits.weight_type();
        let w = self.weights(&[units, depth], wt);
        // Logits feed a softmax at input scale 1/16: keep them within a few units.
        let gain = if place == Place::Last { 0.1 } else { 1.0 };
        let consts = self.tables(w, units, depth, (wt, x.dtype, out_type), gain);
        let act = Self::clamp(out_type, y.zero_point, relu);
        self.e.fully_connected(&x, &y, consts, act);
        y
    }

    fn add(&mut self, a: Act, b: Act) -> Act {
        let y = self.activation(&a.dims, a.dtype);
        self.e.add(&a, &b, &y, Self::clamp(a.dtype, 0, true));
        y
    }

    fn average_pool(&mut self, x: Act) -> Act {
        self.e.global_average_pool(&x)
    }

    fn softmax(&mut self, x: Act) -> Act {
        let [n, units, ..] = x.dims;
        let y = self.e.activation(&[n, units], DType::I8, 1.0 / 256.0, -128);
        // beta 1 at input scale 1/16, as the importer computes it (5 integer bits).
        let (multiplier, left_shift) = quantize_multiplier(f64::from(1u32 << 26) / 16.0);
        let radius = (31.0 * f64::from(1u32 << 26) / f64::from(1u32 << left_shift)).floor();
        let p = SoftmaxParams {
            input_multiplier: multiplier,
            input_left_shift: left_shift,
            diff_min: -(radius as i32),
        };
        self.e.b.add_op(
            OpKind::Softmax,
            &[Some(x.tensor)],
            y.tensor,
            write_params(&p),
        );
        y
    }

    fn input(&mut self, shape: &[usize]) -> Act {
        self.activation(shape, DType::I8)
    }
}

fn resnet8(net: &mut Net) -> (Act, Act) {
    let x = net.input(&[1, 32, 32, 3]);
    let mut h = net.conv(x, 16, (3, 3), 1, false, true, Place::Inner);
    for (channels, stride) in [(16, 1), (32, 2), (64, 2)] {
        let a = net.conv(h, channels, (3, 3), stride, false, true, Place::Inner);
        let b = net.conv(a, channels, (3, 3), 1, false, false, Place::Inner);
        let shortcut = if stride == 1 {
            h
        } else {
            net.conv(h, channels, (1, 1), stride, false, false, Place::Inner)
        };
        h = net.add(b, shortcut);
    }
    let pooled = net.average_pool(h);
    let logits = net.fc(pooled, 10, false, Place::Last);
    (x, net.softmax(logits))
}

fn ds_cnn(net: &mut Net) -> (Act, Act) {
    let x = net.input(&[1, 49, 10, 1]);
    let mut h = net.conv(x, 64, (10, 4), 2, false, true, Place::Inner);
    for _ in 0..4 {
        let d = net.conv(h, 64, (3, 3), 1, true, true, Place::Inner);
        h = net.conv(d, 64, (1, 1), 1, false, true, Place::Inner);
    }
    let pooled = net.average_pool(h);
    let logits = net.fc(pooled, 12, false, Place::Last);
    (x, net.softmax(logits))
}

fn mobilenet_v1(net: &mut Net) -> (Act, Act) {
    let x = net.input(&[1, 96, 96, 3]);
    let mut h = net.conv(x, 8, (3, 3), 2, false, true, Place::Inner);
    let blocks = [
        (16, 1),
        (32, 2),
        (32, 1),
        (64, 2),
        (64, 1),
        (128, 2),
        (128, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (128, 1),
        (256, 2),
        (256, 1),
    ];
    for (channels, stride) in blocks {
        let c = h.dims[3];
        let d = net.conv(h, c, (3, 3), stride, true, true, Place::Inner);
        h = net.conv(d, channels, (1, 1), 1, false, true, Place::Inner);
    }
    let pooled = net.average_pool(h);
    let logits = net.fc(pooled, 2, false, Place::Last);
    (x, net.softmax(logits))
}

fn autoencoder(net: &mut Net) -> (Act, Act) {
    let x = net.input(&[1, 640]);
    let sizes = [128, 128, 128, 128, 8, 128, 128, 128, 128];
    let mut h = x;
    for units in sizes {
        h = net.fc(h, units, true, Place::Inner);
    }
    let y = net.fc(h, 640, false, Place::Last);
    (x, y)
}

/// The graph of `arch` at `bits` with parameters drawn from `seed`, weights in the plain
/// layout (pack them with `pack::pack_gemm_weights` for the fast kernels).
pub fn graph(arch: Arch, bits: Bits, seed: u64) -> Result<ModelBuilder> {
    let mut net = Net {
        e: Emitter::new(),
        rng: fastrand::Rng::with_seed(seed),
        bits,
    };
    let (x, y) = match arch {
        Arch::ResNet8 => resnet8(&mut net),
        Arch::DsCnn => ds_cnn(&mut net),
        Arch::MobileNetV1 => mobilenet_v1(&mut net),
        Arch::Autoencoder => autoencoder(&mut net),
    };
    if net.e.b.ops.is_empty() {
        bail!("empty graph");
    }
    net.e.b.set_io(&[x.tensor], &[y.tensor]);
    Ok(net.e.b)
}

/// `.eqm` bytes of `arch` at `bits`, weights packed for the fast kernels.
pub fn model(arch: Arch, bits: Bits, seed: u64) -> Result<Vec<u8>> {
    let mut b = graph(arch, bits, seed)?;
    crate::pack::pack_gemm_weights(&mut b)?;
    b.finish()
}
