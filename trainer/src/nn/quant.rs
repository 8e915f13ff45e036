//! LSQ fake quantization (Esser et al., "Learned Step Size Quantization", ICLR 2020).
//!
//! `q = clamp(round(x / s), qn, qp)`, `x̂ = q · s`. Rounding passes the gradient straight
//! through (STE); the step `s` is a trainable parameter whose gradient is LSQ's
//! (`round(x/s) − x/s` inside the range, `qn` or `qp` outside), scaled by
//! `g = 1 / sqrt(N · qp)` with `N` the number of values sharing a step, as the paper does.
//! Autodiff derives exactly that gradient from the forward written below.

use burn::tensor::Tensor;

/// The integer range of a quantizer: `[qn, qp]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Smallest level.
    pub qn: f32,
    /// Largest level.
    pub qp: f32,
}

impl Range {
    /// Signed, symmetric weights: `[−(2^(b−1) − 1), 2^(b−1) − 1]` (int8 weights never use
    /// −128, as in TFLite; int4 weights never use −8).
    pub fn weights(bits: u8) -> Range {
        let qp = ((1u32 << (bits - 1)) - 1) as f32;
        Range { qn: -qp, qp }
    }

    /// Activations: unsigned `[0, 2^b − 1]` after a ReLU, signed `[−2^(b−1), 2^(b−1) − 1]`
    /// otherwise.
    pub fn activations(bits: u8, unsigned: bool) -> Range {
        if unsigned {
            Range {
                qn: 0.0,
                qp: ((1u32 << bits) - 1) as f32,
            }
        } else {
            let half = (1u32 << (bits - 1)) as f32;
            Range {
                qn: -half,
                qp: half - 1.0,
            }
        }
    }
}

/// `x · g` in the backward pass, `x` in the forward pass.
fn scale_grad<const D: usize>(x: Tensor<D>, g: f32) -> Tensor<D> {
    let scaled = x.clone().mul_scalar(g);
    scaled.clone() + (x - scaled).detach()
}

/// Round with a straight-through gradient.
pub fn round_ste<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() + (x.clone().round() - x).detach()
}

/// LSQ fake quantization of `x` with step `step` (broadcast against `x`), `count` values per
/// step (for the gradient scale).
pub fn lsq<const D: usize>(x: Tensor<D>, step: Tensor<D>, range: Range, count: usize) -> Tensor<D> {
    let g = 1.0 / ((count.max(1) as f32) * range.qp).sqrt();
    let s = scale_grad(step, g);
    let levels = round_ste(x.div(s.clone()).clamp(range.qn, range.qp));
    levels.mul(s)
}

/// LSQ's initial step for values `x`: `2 · mean|x| / sqrt(qp)`.
pub fn lsq_init_step(x: &[f32], range: Range) -> f32 {
    let mean = x.iter().map(|v| v.abs()).sum::<f32>() / x.len().max(1) as f32;
    (2.0 * mean / range.qp.sqrt()).max(1e-8)
}

/// The initial activation step from calibration values: the 99.99th percentile of |x| over
/// the range's largest magnitude. LSQ's mean-based rule clips post-ReLU activations far too
/// hard at 8 bits; the step keeps learning either way.
pub fn range_init_step(x: &mut [f32], range: Range) -> f32 {
    if x.is_empty() {
        return 1.0;
    }
    for v in x.iter_mut() {
        *v = v.abs();
    }
    let k = ((x.len() - 1) as f64 * 0.9999) as usize;
    let (_, p, _) = x.select_nth_unstable_by(k, f32::total_cmp);
    (*p / range.qp.max(-range.qn)).max(1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn forward_rounds_and_clamps_and_step_gets_lsq_gradient() {
        let device = Device::flex().autodiff();
        let x =
            Tensor::<1>::from_data(TensorData::from([0.26f32, -0.9, 5.0]), &device).require_grad();
        let s = Tensor::<1>::from_data(TensorData::from([0.5f32]), &device).require_grad();
        let range = Range::weights(4); // [-7, 7]
        let y = lsq(x.clone(), s.clone().reshape([1]), range, 1);
        let out = y.clone().into_data().try_into_vec_as::<f32>().unwrap();
        assert_eq!(out, [0.5, -1.0, 3.5]);
        let grads = y.sum().backward();
        let gx = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert_eq!(gx, [1.0, 1.0, 0.0], "STE inside the range, zero outside");
        // d/ds: (round(v) - v) for 0.52 and -1.8, then qp = 7 for the clipped value; times
        // g = 1/sqrt(7).
        let gs = s
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap()[0];
        let want = ((1.0 - 0.52) + (-2.0 + 1.8) + 7.0) / 7f32.sqrt();
        assert!((gs - want).abs() < 1e-5, "{gs} vs {want}");
    }

    #[test]
    fn ranges() {
        assert_eq!(
            Range::weights(8),
            Range {
                qn: -127.0,
                qp: 127.0
            }
        );
        assert_eq!(Range::activations(4, true), Range { qn: 0.0, qp: 15.0 });
        assert_eq!(
            Range::activations(8, false),
            Range {
                qn: -128.0,
                qp: 127.0
            }
        );
    }
}
