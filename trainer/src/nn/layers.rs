//! The layers of trainable networks: convolution (plain, strided, depthwise) with optional
//! batch norm and ReLU, residual blocks, pooling and dense layers, each able to run in float
//! or with LSQ fake quantization once [`super::Net::into_qat`] has folded its batch norm
//! and attached quantizers.
//!
//! Tensors are NCHW. A dense layer takes `[N, C, H, W]` and returns `[N, units, 1, 1]`, so
//! every layer maps rank-4 to rank-4.

use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{activation::relu, Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::RngExt;

use super::quant::{lsq, round_ste, Range};

/// The smallest step a quantizer may learn. LSQ's gradient can drive a step through zero
/// (a channel whose weights all died, say); the training loop clamps after every update.
pub const MIN_STEP: f32 = 1e-6;

/// The step parameter clamped to at least [`MIN_STEP`], as a fresh leaf (same parameter id,
/// so the optimizer keeps its state).
fn positive<const D: usize>(p: Param<Tensor<D>>) -> Param<Tensor<D>> {
    p.map(|t| t.clamp_min(MIN_STEP).detach().require_grad())
}

/// An activation quantizer: LSQ step per tensor, bits, signedness.
#[derive(Module, Debug)]
pub struct ActQuant {
    /// The learned step, shape `[1]`.
    pub step: Param<Tensor<1>>,
    /// 4 or 8.
    pub bits: u8,
    /// True after a ReLU (range `[0, 2^b − 1]`).
    pub unsigned: bool,
}

impl ActQuant {
    /// A quantizer with step `step`.
    pub fn new(step: f32, bits: u8, unsigned: bool, device: &Device) -> Self {
        ActQuant {
            step: Param::from_tensor(Tensor::from_data(TensorData::from([step]), device)),
            bits,
            unsigned,
        }
    }

    /// The quantizer's integer range.
    pub fn range(&self) -> Range {
        Range::activations(self.bits, self.unsigned)
    }

    /// The step as a number.
    pub fn step_value(&self) -> f32 {
        crate::nn::floats(self.step.val())[0]
    }

    fn positive(self) -> Self {
        ActQuant {
            step: positive(self.step),
            ..self
        }
    }

    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let count = x.dims()[1..].iter().product();
        lsq(
            x,
            self.step.val().reshape([1, 1, 1, 1]),
            self.range(),
            count,
        )
    }
}

/// The quantizers of a convolution or dense layer.
#[derive(Module, Debug)]
pub struct WeightQuant {
    /// Per-output-channel steps, shape `[O, 1, 1, 1]` (dense: `[O, 1]`, stored the same).
    pub step: Param<Tensor<4>>,
    /// 4 or 8.
    pub bits: u8,
    /// The output's quantizer.
    pub out: ActQuant,
}

impl WeightQuant {
    /// The weight range.
    pub fn range(&self) -> Range {
        Range::weights(self.bits)
    }

    fn positive(self) -> Self {
        WeightQuant {
            step: positive(self.step),
            out: self.out.positive(),
            ..self
        }
    }

    /// Steps as numbers.
    pub fn steps(&self) -> Vec<f32> {
        crate::nn::floats(self.step.val())
    }
}

/// A 2-D convolution (groups = 1 or depthwise), optional batch norm and ReLU.
#[derive(Module, Debug)]
pub struct Conv {
    /// `[O, I / groups, KH, KW]`.
    pub weight: Param<Tensor<4>>,
    /// `[O]`.
    pub bias: Param<Tensor<1>>,
    /// Batch norm (float training only; folded into weight and bias for QAT).
    pub bn: Option<BatchNorm>,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
    /// 1, or the channel count for depthwise.
    pub groups: usize,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Quantizers, once QAT starts.
    pub quant: Option<WeightQuant>,
}

/// Kaiming-uniform values for `fan_in` inputs, from the trainer's own seeded generator.
fn kaiming(n: usize, fan_in: usize, rng: &mut StdRng) -> Vec<f32> {
    let bound = (6.0 / fan_in as f32).sqrt();
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

impl Conv {
    /// A new layer: `in_c -> out_c` channels, `k x k` kernel.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        in_c: usize,
        out_c: usize,
        k: usize,
        stride: usize,
        depthwise: bool,
        relu: bool,
        rng: &mut StdRng,
        device: &Device,
    ) -> Self {
        let groups = if depthwise { in_c } else { 1 };
        let per_group = in_c / groups;
        let shape = [out_c, per_group, k, k];
        let w = kaiming(out_c * per_group * k * k, per_group * k * k, rng);
        Conv {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, shape), device)),
            bias: Param::from_tensor(Tensor::zeros([out_c], device)),
            bn: Some(BatchNormConfig::new(out_c).init(device)),
            stride,
            pad: (k - 1) / 2,
            groups,
            relu,
            quant: None,
        }
    }

    /// The weight tensor's dims.
    pub fn dims(&self) -> [usize; 4] {
        self.weight.val().dims()
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.dims()[0]
    }

    fn forward(&self, x: Tensor<4>, in_step: Option<&Tensor<1>>) -> Tensor<4> {
        let options = ConvOptions::new([self.stride; 2], [self.pad; 2], [1, 1], self.groups);
        let (weight, bias) = match &self.quant {
            Some(q) => {
                let [o, i, kh, kw] = self.dims();
                let w = lsq(self.weight.val(), q.step.val(), q.range(), i * kh * kw);
                (
                    w,
                    quantized_bias(self.bias.val(), in_step, q.step.val().reshape([o])),
                )
            }
            None => (self.weight.val(), self.bias.val()),
        };
        let mut y = conv2d(x, weight, Some(bias), options);
        if let Some(bn) = &self.bn {
            y = bn.forward(y);
        }
        if self.relu {
            y = relu(y);
        }
        match &self.quant {
            Some(q) => q.out.apply(y),
            None => y,
        }
    }

    /// Folds batch norm (running statistics) into weight and bias.
    fn fold_bn(mut self) -> Self {
        let Some(bn) = self.bn.take() else {
            return self;
        };
        let o = self.out_channels();
        let std = (bn.running_var.value() + bn.epsilon).sqrt();
        let gain = bn.gamma.val() / std;
        let weight = self.weight.val() * gain.clone().reshape([o, 1, 1, 1]);
        let bias = (self.bias.val() - bn.running_mean.value()) * gain + bn.beta.val();
        self.weight = Param::from_tensor(weight.detach());
        self.bias = Param::from_tensor(bias.detach());
        self
    }
}

/// The bias rounded onto the int32 grid the runtime adds it on (`s_in · s_w` per channel),
/// with a straight-through gradient. Without it, rounding the bias at export moves
/// outputs by up to `s_in · s_w / (2 s_out)`, enough to flip roundings near .5.
fn quantized_bias(bias: Tensor<1>, in_step: Option<&Tensor<1>>, w_steps: Tensor<1>) -> Tensor<1> {
    match in_step {
        Some(s_in) => {
            let grid = (w_steps * s_in.clone()).detach();
            round_ste(bias.div(grid.clone())).mul(grid)
        }
        None => bias,
    }
}

/// Dense (fully connected) layer, optional ReLU.
#[derive(Module, Debug)]
pub struct Dense {
    /// `[units, inputs]`, the runtime's layout.
    pub weight: Param<Tensor<2>>,
    /// `[units]`.
    pub bias: Param<Tensor<1>>,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Quantizers, once QAT starts.
    pub quant: Option<WeightQuant>,
}

impl Dense {
    /// A new layer.
    pub fn new(inputs: usize, units: usize, relu: bool, rng: &mut StdRng, device: &Device) -> Self {
        let w = kaiming(inputs * units, inputs, rng);
        Dense {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [units, inputs]),
                device,
            )),
            bias: Param::from_tensor(Tensor::zeros([units], device)),
            relu,
            quant: None,
        }
    }

    fn forward(&self, x: Tensor<4>, in_step: Option<&Tensor<1>>) -> Tensor<4> {
        let [n, ..] = x.dims();
        let x: Tensor<2> = x.flatten(1, 3);
        let (weight, bias) = match &self.quant {
            Some(q) => {
                let [units, inputs] = self.weight.val().dims();
                let step = q.step.val().reshape([units, 1]);
                let w = lsq(self.weight.val(), step, q.range(), inputs);
                let b = quantized_bias(self.bias.val(), in_step, q.step.val().reshape([units]));
                (w, b)
            }
            None => (self.weight.val(), self.bias.val()),
        };
        let mut y = x.matmul(weight.transpose()) + bias.unsqueeze_dim(0);
        if self.relu {
            y = relu(y);
        }
        let units = y.dims()[1];
        let y = y.reshape([n, units, 1, 1]);
        match &self.quant {
            Some(q) => q.out.apply(y),
            None => y,
        }
    }
}

/// A ResNet basic block: `relu(conv_b(conv_a(x)) + shortcut(x))`, the shortcut a strided
/// 1x1 convolution when the shape changes.
#[derive(Module, Debug)]
pub struct Residual {
    /// 3x3 conv with ReLU.
    pub a: Conv,
    /// 3x3 conv without ReLU.
    pub b: Conv,
    /// 1x1 projection (no ReLU), or identity.
    pub project: Option<Conv>,
    /// The sum's quantizer, once QAT starts.
    pub out: Option<ActQuant>,
}

/// Pooling: 2x2 max pooling (stride 2) or global average pooling.
#[derive(Module, Debug)]
pub struct Pool {
    /// True for global average pooling.
    pub global_average: bool,
}

/// One step of a [`super::Net`]. (Networks hold a dozen layers: boxing the residual
/// variant would save nothing worth the indirection.)
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Layer {
    /// Convolution.
    Conv(Conv),
    /// Residual block.
    Residual(Residual),
    /// Pooling.
    Pool(Pool),
    /// Dense layer.
    Dense(Dense),
}

/// Where quantized values flow: the activation and, in QAT, its step.
pub(super) struct Flow {
    pub x: Tensor<4>,
    pub step: Option<Tensor<1>>,
}

impl Layer {
    pub(super) fn forward(&self, flow: Flow, record: &mut Option<Vec<Tensor<4>>>) -> Flow {
        let mut keep = |t: &Tensor<4>| {
            if let Some(r) = record.as_mut() {
                r.push(t.clone());
            }
        };
        match self {
            Layer::Conv(c) => {
                let x = c.forward(flow.x, flow.step.as_ref());
                keep(&x);
                Flow {
                    x,
                    step: c.quant.as_ref().map(|q| q.out.step.val()),
                }
            }
            Layer::Dense(d) => {
                let x = d.forward(flow.x, flow.step.as_ref());
                keep(&x);
                Flow {
                    x,
                    step: d.quant.as_ref().map(|q| q.out.step.val()),
                }
            }
            Layer::Residual(r) => {
                let a = r.a.forward(flow.x.clone(), flow.step.as_ref());
                keep(&a);
                let a_step = r.a.quant.as_ref().map(|q| q.out.step.val());
                let b = r.b.forward(a, a_step.as_ref());
                keep(&b);
                let shortcut = match &r.project {
                    Some(p) => {
                        let s = p.forward(flow.x, flow.step.as_ref());
                        keep(&s);
                        s
                    }
                    None => flow.x,
                };
                let sum = relu(b + shortcut);
                keep(&sum);
                match &r.out {
                    Some(q) => Flow {
                        x: q.apply(sum),
                        step: Some(q.step.val()),
                    },
                    None => Flow { x: sum, step: None },
                }
            }
            Layer::Pool(p) if p.global_average => {
                let [n, c, _, _] = flow.x.dims();
                let mean = flow.x.mean_dim(2).mean_dim(3).reshape([n, c, 1, 1]);
                // The runtime rounds the mean back onto the input's grid.
                let x = match &flow.step {
                    Some(s) => {
                        let s = s.clone().detach().reshape([1, 1, 1, 1]);
                        round_ste(mean.div(s.clone())).mul(s)
                    }
                    None => mean,
                };
                Flow { x, step: flow.step }
            }
            Layer::Pool(_) => Flow {
                x: max_pool2d(flow.x, MaxPoolOptions::new([2, 2])),
                step: flow.step,
            },
        }
    }

    /// Every quantizer step clamped to at least [`MIN_STEP`].
    pub(super) fn positive_steps(self) -> Self {
        let conv = |mut c: Conv| {
            c.quant = c.quant.map(WeightQuant::positive);
            c
        };
        match self {
            Layer::Conv(c) => Layer::Conv(conv(c)),
            Layer::Dense(mut d) => {
                d.quant = d.quant.map(WeightQuant::positive);
                Layer::Dense(d)
            }
            Layer::Residual(r) => Layer::Residual(Residual {
                a: conv(r.a),
                b: conv(r.b),
                project: r.project.map(conv),
                out: r.out.map(ActQuant::positive),
            }),
            other => other,
        }
    }

    pub(super) fn fold_bn(self) -> Self {
        match self {
            Layer::Conv(c) => Layer::Conv(c.fold_bn()),
            Layer::Residual(r) => Layer::Residual(Residual {
                a: r.a.fold_bn(),
                b: r.b.fold_bn(),
                project: r.project.map(Conv::fold_bn),
                out: r.out,
            }),
            other => other,
        }
    }
}
