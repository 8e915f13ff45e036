//! Trainable networks (burn modules): the student and teacher zoo, float training, and the
//! switch to quantization-aware training.
//!
//! A [`Net`] is a list of [`Layer`]s built from a [`NetSpec`] (architecture, input shape,
//! classes, and the bit plan once quantized). Checkpoints are a burnpack file of the
//! parameters plus the spec as JSON beside it (see [`checkpoint`]).

pub mod checkpoint;
pub mod layers;
pub mod onnx;
pub mod quant;
pub mod zoo;

use anyhow::{bail, Result};
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use layers::Layer;
use layers::{ActQuant, Conv, Flow, WeightQuant};
use quant::{lsq_init_step, range_init_step, Range};

/// Scale of the quantized models' int8 input (zero point −128): pixels `k / 255`.
pub const INPUT_SCALE: f32 = 1.0 / 255.0;

/// Weight and activation bits of a quantized network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitPlan {
    /// Weight bits of the inner layers (4 or 8).
    pub weights: u8,
    /// Activation bits between inner layers (4 or 8).
    pub acts: u8,
    /// Keep the first layer's weights, the last layer's weights and the last layer's input
    /// at 8 bits (the usual choice: those layers are small and sensitive).
    pub first_last_8bit: bool,
}

impl BitPlan {
    /// Parses `w4a4`, `w8a8`, `w4a8`, `w8a4`; first and last layers at 8 bits.
    pub fn parse(s: &str) -> Option<BitPlan> {
        let bits = crate::synth::Bits::parse(s)?;
        Some(BitPlan {
            weights: bits.weights,
            acts: bits.acts,
            first_last_8bit: true,
        })
    }
}

impl std::fmt::Display for BitPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "w{}a{}", self.weights, self.acts)?;
        if !self.first_last_8bit {
            write!(f, " (all layers)")?;
        }
        Ok(())
    }
}

/// What a network is: enough to rebuild it before loading its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Architecture name from [`zoo`].
    pub arch: String,
    /// `[C, H, W]` of the input.
    pub input: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// The bit plan, when the network is quantized (QAT).
    pub bits: Option<BitPlan>,
}

/// A network: layers applied in order, logits out.
#[derive(Module, Debug)]
pub struct Net {
    /// The layers.
    pub layers: Vec<Layer>,
}

impl Net {
    /// Builds the float network `spec` describes, parameters drawn from `seed`.
    pub fn new(spec: &NetSpec, seed: u64, device: &Device) -> Result<Net> {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        zoo::build(spec, &mut rng, device)
    }

    /// Logits `[N, classes]` of images `[N, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_recording(x, &mut None)
    }

    pub fn forward_recording(
        &self,
        x: Tensor<4>,
        record: &mut Option<Vec<Tensor<4>>>,
    ) -> Tensor<2> {
        // The model's input is int8 at scale 1/255 (exact for 8-bit pixels).
        let step = self
            .is_quantized()
            .then(|| Tensor::from_data(TensorData::from([INPUT_SCALE]), &x.device()));
        let mut flow = Flow { x, step };
        for layer in &self.layers {
            flow = layer.forward(flow, record);
        }
        let [n, c, ..] = flow.x.dims();
        flow.x.reshape([n, c])
    }

    /// True once [`Net::into_qat`] has run.
    pub fn is_quantized(&self) -> bool {
        self.layers.iter().any(|l| match l {
            Layer::Conv(c) => c.quant.is_some(),
            Layer::Dense(d) => d.quant.is_some(),
            Layer::Residual(r) => r.out.is_some(),
            Layer::Pool(_) => false,
        })
    }

    /// Folds batch norm and attaches LSQ quantizers for `bits`: weight steps from LSQ's
    /// rule, activation steps from the float network's activations on `calibration`
    /// (see [`quant::range_init_step`]). The input must be images in `[0, 1]`: the model's
    /// input is int8 with scale 1/255, exact for 8-bit pixels.
    pub fn into_qat(self, bits: BitPlan, calibration: Tensor<4>) -> Result<Net> {
        if self.is_quantized() {
            bail!("the network is already quantized");
        }
        let device = calibration.device();
        let folded = self.folded();
        let mut record = Some(Vec::new());
        let _ = folded.valid().forward_recording(calibration, &mut record);
        if !matches!(folded.layers.last(), Some(Layer::Dense(_))) {
            bail!("a quantized network must end with a dense layer");
        }
        let mut q = Quantizer {
            bits,
            device,
            recorded: record.unwrap_or_default().into_iter(),
            point: 0,
            // The activation feeding the last layer is the last quantizer before it.
            feeds_last: folded.quant_point_count() - 2,
            weight_layer: 0,
        };
        let last_index = folded.layers.len() - 1;
        let mut layers = Vec::new();
        for (i, layer) in folded.layers.into_iter().enumerate() {
            layers.push(match layer {
                Layer::Conv(c) => Layer::Conv(q.conv(c)),
                Layer::Dense(mut d) => {
                    let is_last = i == last_index;
                    let out = q.act(d.relu, is_last);
                    let [u, n] = d.weight.val().dims();
                    d.quant = Some(q.weights(d.weight.val().reshape([u, n, 1, 1]), is_last, out));
                    Layer::Dense(d)
                }
                Layer::Residual(mut r) => {
                    r.a = q.conv(r.a);
                    r.b = q.conv(r.b);
                    r.project = r.project.map(|p| q.conv(p));
                    r.out = Some(q.act(true, false));
                    Layer::Residual(r)
                }
                Layer::Pool(p) => Layer::Pool(p),
            });
        }
        Ok(Net { layers })
    }

    /// The same network with every quantizer step clamped to at least
    /// [`layers::MIN_STEP`] (a no-op on float networks).
    pub fn with_positive_steps(self) -> Net {
        if !self.is_quantized() {
            return self;
        }
        Net {
            layers: self.layers.into_iter().map(Layer::positive_steps).collect(),
        }
    }

    /// The same network with every batch norm folded into its convolution (running
    /// statistics): what inference computes, in fewer operations.
    pub fn folded(self) -> Net {
        Net {
            layers: self.layers.into_iter().map(Layer::fold_bn).collect(),
        }
    }

    fn quant_point_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| match l {
                Layer::Conv(_) | Layer::Dense(_) => 1,
                Layer::Residual(r) => 3 + usize::from(r.project.is_some()),
                Layer::Pool(_) => 0,
            })
            .sum()
    }
}

/// A tensor's values as `f32` (empty if they cannot be read as numbers).
pub fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap_or_default()
}

/// Images `[N, C, H, W]` as a tensor on `device`.
pub fn images_tensor(pixels: Vec<f32>, n: usize, shape: [usize; 3], device: &Device) -> Tensor<4> {
    let [c, h, w] = shape;
    Tensor::from_data(TensorData::new(pixels, [n, c, h, w]), device)
}

/// Attaches quantizers in forward order, consuming the recorded float activations.
struct Quantizer {
    bits: BitPlan,
    device: Device,
    recorded: std::vec::IntoIter<Tensor<4>>,
    point: usize,
    feeds_last: usize,
    weight_layer: usize,
}

impl Quantizer {
    /// The next activation quantizer.
    fn act(&mut self, unsigned: bool, is_logits: bool) -> ActQuant {
        let values = self
            .recorded
            .next()
            .expect("one recording per quantization point");
        let mut v = crate::nn::floats(values);
        let feeds_last = self.bits.first_last_8bit && self.point == self.feeds_last;
        let bits = if is_logits || feeds_last {
            8
        } else {
            self.bits.acts
        };
        self.point += 1;
        let range = Range::activations(bits, unsigned);
        ActQuant::new(range_init_step(&mut v, range), bits, unsigned, &self.device)
    }

    /// The weight quantizer of the next layer (weights `[O, ...]`).
    fn weights(&mut self, weights: Tensor<4>, is_last: bool, out: ActQuant) -> WeightQuant {
        let first = self.weight_layer == 0;
        self.weight_layer += 1;
        let bits = if self.bits.first_last_8bit && (first || is_last) {
            8
        } else {
            self.bits.weights
        };
        let range = Range::weights(bits);
        let [o, ..] = weights.dims();
        let values = crate::nn::floats(weights);
        let steps: Vec<f32> = values
            .chunks(values.len() / o)
            .map(|c| lsq_init_step(c, range))
            .collect();
        WeightQuant {
            step: Param::from_tensor(Tensor::from_data(
                TensorData::new(steps, [o, 1, 1, 1]),
                &self.device,
            )),
            bits,
            out,
        }
    }

    fn conv(&mut self, mut c: Conv) -> Conv {
        let out = self.act(c.relu, false);
        c.quant = Some(self.weights(c.weight.val(), false, out));
        c
    }
}
