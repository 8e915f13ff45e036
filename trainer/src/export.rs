//! Export of a quantized [`Net`] to `.eqm`: the integer model the runtime runs.
//!
//! The fake-quant network's numbers map one to one onto the runtime's:
//! - the input is int8 with scale 1/255 and zero point −128 (pixels in `[0, 1]` are exact);
//! - weights are `clamp(round(w / s_c))` per output channel, int8 or int4;
//! - an activation quantizer of step `s` becomes a tensor of scale `s`: unsigned 8-bit is
//!   int8 with zero point −128, signed 8-bit int8 with zero point 0, unsigned 4-bit uint4
//!   with zero point 0, signed 4-bit uint4 with zero point 8;
//! - biases become int32 at scale `s_in · s_c`, and requantization multipliers are
//!   `s_in · s_c / s_out` as TFLite computes them;
//! - batch norm was folded before QAT, so there is nothing left to fold.

use anyhow::{bail, ensure, Result};
use burn::tensor::Tensor;
use edgeq_runtime::format::{DType, OpKind};

use crate::emit::{Act, ConvShape, Emitter};
use crate::nn::layers::{ActQuant, Conv, Dense, Layer, WeightQuant};
use crate::nn::{Net, NetSpec};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    crate::nn::floats(t)
}

/// Type and zero point of an activation quantizer's tensor.
fn act_type(q: &ActQuant) -> (DType, i32) {
    match (q.bits, q.unsigned) {
        (8, true) => (DType::I8, -128),
        (8, false) => (DType::I8, 0),
        (_, true) => (DType::U4, 0),
        (_, false) => (DType::U4, 8),
    }
}

struct Exporter {
    e: Emitter,
}

impl Exporter {
    fn new_act(&mut self, shape: &[usize], q: &ActQuant) -> Act {
        let (dtype, zero_point) = act_type(q);
        self.e.activation(shape, dtype, q.step_value(), zero_point)
    }

    /// Weights, bias and tables of a layer whose float weights are `w` (`[O, ...]`, already
    /// in the runtime's layout) and bias `b`.
    fn consts(
        &mut self,
        x: &Act,
        w: &[f32],
        dims: &[usize],
        b: &[f32],
        q: &WeightQuant,
    ) -> Result<crate::emit::LayerConsts> {
        let steps = q.steps();
        let range = q.range();
        ensure!(
            steps.iter().chain([&q.out.step_value()]).all(|s| *s > 0.0),
            "a quantizer step is not positive; was the network trained by edgeq?"
        );
        let channels = b.len();
        // Channel of weight i: the first axis, or the last for depthwise [1, kh, kw, C].
        let depthwise = dims[0] == 1 && dims.len() == 4 && channels > 1;
        let per = w.len() / channels;
        let quantized: Vec<i8> = w
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let c = if depthwise { i % channels } else { i / per };
                (v / steps[c]).round_ties_even().clamp(range.qn, range.qp) as i8
            })
            .collect();
        let dtype = if q.bits == 4 { DType::I4 } else { DType::I8 };
        let weights = self.e.weights(dims, dtype, &quantized);
        let bias: Vec<i32> = b
            .iter()
            .zip(&steps)
            // The same f32 operations as the fake-quant bias (layers::quantized_bias).
            .map(|(b, s)| (b / (s * x.scale)).round_ties_even().clamp(-2e9, 2e9) as i32)
            .collect();
        let (mult, shift) = crate::emit::requant(x.scale, &steps, q.out.step_value());
        Ok(self.e.tables(weights, &bias, &mult, &shift))
    }

    fn conv(&mut self, x: Act, c: &Conv) -> Result<Act> {
        let Some(q) = &c.quant else {
            bail!("the network is not quantized (run QAT first)");
        };
        let [o, i, kh, kw] = c.dims();
        let [n, h, w, _] = x.dims;
        let (oh, ow) = (
            (h + 2 * c.pad - kh) / c.stride + 1,
            (w + 2 * c.pad - kw) / c.stride + 1,
        );
        let y = self.new_act(&[n, oh, ow, o], &q.out);
        let wv = values(c.weight.val());
        let depthwise = c.groups > 1;
        ensure!(
            !depthwise || (c.groups == o && i == 1),
            "grouped convolutions other than depthwise are not supported"
        );
        // burn's [O, I, KH, KW] to the runtime's OHWI, or [1, KH, KW, C] for depthwise.
        let mut plain = vec![0.0; wv.len()];
        for oc in 0..o {
            for ic in 0..i {
                for y_ in 0..kh {
                    for x_ in 0..kw {
                        let src = ((oc * i + ic) * kh + y_) * kw + x_;
                        let dst = if depthwise {
                            (y_ * kw + x_) * o + oc
                        } else {
                            ((oc * kh + y_) * kw + x_) * i + ic
                        };
                        plain[dst] = wv[src];
                    }
                }
            }
        }
        let dims = if depthwise {
            vec![1, kh, kw, o]
        } else {
            vec![o, kh, kw, i]
        };
        let consts = self.consts(&x, &plain, &dims, &values(c.bias.val()), q)?;
        let shape = ConvShape::simple((kh, kw), c.stride, (c.pad, c.pad), depthwise);
        self.e.conv(&x, &y, shape, consts, y.dtype.int_range());
        Ok(y)
    }

    fn dense(&mut self, x: Act, d: &Dense) -> Result<Act> {
        let Some(q) = &d.quant else {
            bail!("the network is not quantized (run QAT first)");
        };
        let [_, h, w, c] = x.dims;
        ensure!(
            (h == 1 && w == 1) || c == 1,
            "a dense layer after a {h}x{w}x{c} activation would flatten in a different order \
             than the trainer (NCHW); put a global average pool before it"
        );
        let [units, inputs] = d.weight.val().dims();
        let y = self.new_act(&[x.dims[0], units], &q.out);
        let consts = self.consts(
            &x,
            &values(d.weight.val()),
            &[units, inputs],
            &values(d.bias.val()),
            q,
        )?;
        self.e.fully_connected(&x, &y, consts, y.dtype.int_range());
        Ok(y)
    }
}

/// The `.eqm` graph of a quantized network (weights in the plain layout).
pub fn graph(net: &Net, spec: &NetSpec) -> Result<crate::eqm::ModelBuilder> {
    ensure!(
        net.is_quantized(),
        "only quantized networks export to .eqm (run QAT first)"
    );
    let [c, h, w] = spec.input;
    let mut ex = Exporter { e: Emitter::new() };
    ex.e.conv_rounding = edgeq_runtime::quant::Rounding::Single;
    let input =
        ex.e.activation(&[1, h, w, c], DType::I8, crate::nn::INPUT_SCALE, -128);
    let mut x = input;
    for layer in &net.layers {
        x = match layer {
            Layer::Conv(conv) => ex.conv(x, conv)?,
            Layer::Dense(d) => ex.dense(x, d)?,
            Layer::Residual(r) => {
                let a = ex.conv(x, &r.a)?;
                let b = ex.conv(a, &r.b)?;
                let shortcut = match &r.project {
                    Some(p) => ex.conv(x, p)?,
                    None => x,
                };
                let Some(q) = &r.out else {
                    bail!("residual block without its output quantizer");
                };
                let y = ex.new_act(&b.dims, q);
                ex.e.add(&b, &shortcut, &y, y.dtype.int_range());
                y
            }
            Layer::Pool(p) if p.global_average => ex.e.global_average_pool(&x),
            Layer::Pool(_) => ex.e.pool(OpKind::MaxPool2d, &x, (2, 2), 2),
        };
    }
    ensure!(
        x.dtype == DType::I8,
        "the network's output must be 8-bit (keep the last layer at 8 bits)"
    );
    ex.e.b.set_io(&[input.tensor], &[x.tensor]);
    Ok(ex.e.b)
}

/// `.eqm` bytes of a quantized network, weights packed for the fast kernels.
pub fn to_eqm(net: &Net, spec: &NetSpec) -> Result<Vec<u8>> {
    let mut b = graph(net, spec)?;
    crate::pack::pack_gemm_weights(&mut b)?;
    b.finish()
}
