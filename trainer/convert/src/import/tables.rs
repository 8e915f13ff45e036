//! int8 element-wise functions as the 256-entry tables of edgeq's LOOKUP op, each computed
//! for every input value with the arithmetic TFLite's reference kernels use for it (their
//! `Prepare` and `Eval` in `tensorflow/lite/kernels/activations.cc`), so that the lookup
//! gives TFLite's bytes. Entry `i` is the output for input `i - 128`.

use edgeq_runtime::quant::{
    multiply_by_quantized_multiplier as mbqm, quantize_multiplier, rounding_divide_by_pot,
};

/// A tensor's quantization: `(scale, zero point)`.
pub type Quant = (f32, i32);

fn tabulate(f: impl Fn(i32) -> i32) -> [i8; 256] {
    core::array::from_fn(|i| f(i as i32 - 128).clamp(-128, 127) as i8)
}

/// TFLite's `PopulateLookupTable` (LOGISTIC and TANH on int8): the function in `f32` of the
/// dequantized input, rounded half away from zero on the output scale. All in single
/// precision, as TFLite computes it.
pub fn float_function(input: Quant, output: Quant, f: impl Fn(f32) -> f32) -> [i8; 256] {
    let inverse_scale = 1.0 / output.0;
    tabulate(|v| {
        let dequantized = input.0 * (v - input.1) as f32;
        let rescaled = (f(dequantized) * inverse_scale).round();
        (rescaled + output.1 as f32) as i32
    })
}

/// TFLite's LOGISTIC on int8 (`1 / (1 + e^-x)` in `f32`).
pub fn logistic(input: Quant, output: Quant) -> [i8; 256] {
    float_function(input, output, |x| 1.0 / (1.0 + (-x).exp()))
}

/// TFLite's TANH on int8.
pub fn tanh(input: Quant, output: Quant) -> [i8; 256] {
    float_function(input, output, f32::tanh)
}

/// TFLite's RELU, RELU6 and RELU_N1_TO_1 ops on int8 (`QuantizedReluX`): the input
/// requantized by `input_scale / output_scale` (a single-precision quotient), clamped to
/// `[low, high]` (`high` may be infinite) rounded onto the output's grid.
pub fn relu(input: Quant, output: Quant, low: f32, high: f32) -> [i8; 256] {
    let (multiplier, shift) = quantize_multiplier(f64::from(input.0 / output.0));
    let min = (output.1 + (low / output.0).round() as i32).max(-128);
    let max = if high.is_infinite() {
        127
    } else {
        (output.1 + (high / output.0).round() as i32).min(127)
    };
    tabulate(|v| (output.1 + mbqm(v - input.1, multiplier, shift)).clamp(min, max))
}

/// TFLite's LEAKY_RELU on int8 (`QuantizeLeakyRelu`): non-negative inputs requantized by
/// `input_scale / output_scale`, negative ones by `input_scale * alpha / output_scale` (a
/// negative alpha's sign applied after the product).
pub fn leaky_relu(input: Quant, output: Quant, alpha: f32) -> [i8; 256] {
    let (identity, identity_shift) = quantize_multiplier(f64::from(input.0 / output.0));
    let (alpha_multiplier, alpha_shift) =
        quantize_multiplier(f64::from(input.0 * alpha / output.0));
    tabulate(|v| {
        let x = v - input.1;
        let scaled = if x >= 0 {
            mbqm(x, identity, identity_shift)
        } else {
            let product = mbqm(x, alpha_multiplier.wrapping_abs(), alpha_shift);
            if alpha_multiplier < 0 {
                -product
            } else {
                product
            }
        };
        output.1 + scaled
    })
}

/// TFLite's HARD_SWISH on int8 (`reference_ops::HardSwish` with the parameters of
/// `HardSwishPrepare`): `x * relu6(x + 3) / 6` in 16-bit fixed point. `None` where TFLite
/// refuses the scales (an output multiplier above one).
pub fn hard_swish(input: Quant, output: Quant) -> Option<[i8; 256]> {
    let hires_input_scale = (1.0f32 / 128.0) * input.0;
    let reluish_scale = 3.0f32 / 32768.0;
    let (out_m, out_exp) = quantize_multiplier(f64::from(hires_input_scale / output.0));
    let (reluish_m, reluish_exp) =
        quantize_multiplier(f64::from(hires_input_scale / reluish_scale));
    if out_exp > 0 {
        return None;
    }
    let (out_m, reluish_m) = (to_q15(out_m), to_q15(reluish_m));
    Some(tabulate(|v| {
        let hires = ((v - input.1) as i16).wrapping_mul(1 << 7);
        let preshift_output = sat_rounding_doubling_high_mul_16(hires, out_m);
        let mut reluish = hires;
        if reluish_exp > 0 {
            reluish = saturating_shl_16(reluish, reluish_exp - 1);
        }
        reluish = sat_rounding_doubling_high_mul_16(reluish, reluish_m);
        if reluish_exp > 0 {
            reluish = saturating_shl_16(reluish, 1);
        }
        if reluish_exp < 0 {
            reluish = rounding_divide_by_pot(i32::from(reluish), (-reluish_exp) as u32) as i16;
        }
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let preshift = doubling_high_mul_16(reluish, preshift_output);
        let value = rounding_divide_by_pot(i32::from(preshift), (-out_exp) as u32);
        i32::from((value as i16).wrapping_add(output.1 as i16))
    }))
}

/// TFLite's `GetNearestNeighbor`: the input row (or column) that output row `output_index`
/// of a nearest-neighbour resize from `input_size` to `output_size` copies, in `f32` as
/// TFLite computes it.
pub fn nearest_neighbor(
    output_index: usize,
    input_size: usize,
    output_size: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> i32 {
    let scale = if align_corners && output_size > 1 {
        (input_size - 1) as f32 / (output_size - 1) as f32
    } else {
        input_size as f32 / output_size as f32
    };
    let offset = if half_pixel_centers { 0.5f32 } else { 0.0 };
    let at = (output_index as f32 + offset) * scale;
    let index = if align_corners {
        at.round()
    } else {
        at.floor()
    } as i32;
    let index = index.min(input_size as i32 - 1);
    if half_pixel_centers {
        index.max(0)
    } else {
        index
    }
}

/// One output row (or column) of TFLite's integer bilinear resize: the two input rows it
/// reads and the weight of the second, in 1/1024ths (`[low, high, fraction]`; the first
/// row's weight is `1024 - fraction`). Computed as TFLite's int8 `ResizeBilinear` does, on a
/// scale rounded to 1/1024 (`scale_10`) and with C's truncating division: with
/// `half_pixel_centers` the first rows can get a negative fraction, with `low == high`.
/// `None` if a row would fall outside the input (TFLite would read out of bounds there).
pub fn bilinear_axis(
    output_index: usize,
    input_size: usize,
    output_size: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> Option<[i32; 3]> {
    const ONE: i64 = 1 << 10;
    let (n, m) = if align_corners && output_size > 1 {
        (input_size as i64 - 1, output_size as i64 - 1)
    } else {
        (input_size as i64, output_size as i64)
    };
    let scale_10 = (ONE * n + m / 2) / m;
    let mut at = output_index as i64 * scale_10;
    if half_pixel_centers {
        at += scale_10 / 2 - ONE / 2;
    }
    // Rust's `/` on integers truncates toward zero, as C's does.
    let low = (at / ONE).max(0);
    let high = ((at + ONE - 1) / ONE).min(input_size as i64 - 1);
    let fraction = at - ONE * low;
    let inside = |v: i64| (0..input_size as i64).contains(&v);
    (inside(low) && inside(high) && (-ONE..=ONE).contains(&fraction)).then_some([
        low as i32,
        high as i32,
        fraction as i32,
    ])
}

/// A Q0.31 multiplier rounded to Q0.15 (TFLite's `DownScaleInt32ToInt16Multiplier`).
fn to_q15(m: i32) -> i16 {
    if m >= i32::MAX - (1 << 15) {
        i16::MAX
    } else {
        ((m + (1 << 15)) >> 16) as i16
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` on int16.
fn sat_rounding_doubling_high_mul_16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// TFLite's int16 `SaturatingDoublingHighMul` (truncating, no rounding).
fn doubling_high_mul_16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// TFLite's int16 `SaturatingLeftShift`.
fn saturating_shl_16(v: i16, amount: i32) -> i16 {
    (i64::from(v) * (1i64 << amount)).clamp(i16::MIN.into(), i16::MAX.into()) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table and the real function it approximates.
    type Case = (&'static str, [i8; 256], Box<dyn Fn(f64) -> f64>);

    /// Every table against the real function of the dequantized input, rounded onto the
    /// output grid: within one step (the fixed-point paths round twice).
    #[test]
    fn tables_are_within_one_step_of_real_arithmetic() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..200 {
            let input = (rng.f32() * 0.2 + 0.005, rng.i32(-128..128));
            let output = (rng.f32() * 0.05 + 0.005, rng.i32(-128..128));
            let alpha = rng.f32() * 2.0 - 1.0;
            let relu6 = |x: f64| x.clamp(0.0, 6.0);
            let mut cases: Vec<Case> = vec![
                (
                    "logistic",
                    logistic(input, output),
                    Box::new(|x| 1.0 / (1.0 + (-x).exp())),
                ),
                ("tanh", tanh(input, output), Box::new(f64::tanh)),
                (
                    "relu",
                    relu(input, output, 0.0, f32::INFINITY),
                    Box::new(|x| x.max(0.0)),
                ),
                ("relu6", relu(input, output, 0.0, 6.0), Box::new(relu6)),
                (
                    "relu1",
                    relu(input, output, -1.0, 1.0),
                    Box::new(|x| x.clamp(-1.0, 1.0)),
                ),
                (
                    "leaky_relu",
                    leaky_relu(input, output, alpha),
                    Box::new(move |x| if x >= 0.0 { x } else { x * f64::from(alpha) }),
                ),
            ];
            if let Some(t) = hard_swish(input, output) {
                cases.push(("hard_swish", t, Box::new(move |x| x * relu6(x + 3.0) / 6.0)));
            }
            for (name, table, f) in cases {
                for (i, &got) in table.iter().enumerate() {
                    let x = f64::from(input.0) * f64::from(i as i32 - 128 - input.1);
                    let want = (f(x) / f64::from(output.0)).round() + f64::from(output.1);
                    let want = want.clamp(-128.0, 127.0);
                    assert!(
                        (f64::from(got) - want).abs() <= 1.0,
                        "{name} of {x} with {input:?} -> {output:?}: {got}, want {want}"
                    );
                }
            }
        }
    }
}
