//! Fixed-point arithmetic shared by every kernel (scalar and SIMD) and by the exporter.
//!
//! These functions define edgeq's rounding rules; `docs/QUANT.md` is their normative text.
//! They reproduce TFLite's reference kernels (and gemmlowp's fixed-point library) bit for bit:
//! a SIMD kernel is correct when it agrees with these on every input.

/// `(a * b * 2) >> 32` rounded to nearest (positive ties up, negative ties toward zero),
/// saturating the single overflow case `a == b == i32::MIN`. gemmlowp's
/// `SaturatingRoundingDoublingHighMul`.
#[inline(always)]
pub fn sat_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division (not a shift): truncation toward zero is part of the rule.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero. `exponent` in `0..=31`.
/// gemmlowp's `RoundingDivideByPOT`.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    debug_assert!(exponent <= 31);
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `x * M * 2^shift` with `M` a Q0.31 multiplier: TFLite's `MultiplyByQuantizedMultiplier`
/// (the double-rounding variant its reference kernels use). `shift` in `-31..=30`.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift as u32 } else { 0 };
    let right = if shift > 0 { 0 } else { (-shift) as u32 };
    rounding_divide_by_pot(
        sat_rounding_doubling_high_mul(x.wrapping_mul(1 << left), multiplier),
        right,
    )
}

/// `x * M * 2^shift` with one rounding step: `(x * M + 2^(30 - shift)) >> (31 - shift)` in
/// 64-bit (ties toward +infinity). TFLite's reference FULLY_CONNECTED rounds this way
/// (`TFLITE_SINGLE_ROUNDING`), its convolutions the double-rounding way above.
/// `shift` in `-31..=30`; the result saturates to `i32`.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_single_round(x: i32, multiplier: i32, shift: i32) -> i32 {
    let total_shift = (31 - shift) as u32;
    let product = i64::from(x) * i64::from(multiplier) + (1i64 << (total_shift - 1));
    (product >> total_shift).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Which rounding rule requantizes an accumulator (see `docs/QUANT.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Rounding {
    /// [`multiply_by_quantized_multiplier`]: TFLite's reference convolutions.
    Double = 0,
    /// [`multiply_by_quantized_multiplier_single_round`]: TFLite's reference fully connected.
    Single = 1,
}

impl Rounding {
    /// The rule for a raw format value.
    pub fn from_u16(v: u16) -> Option<Self> {
        match v {
            0 => Some(Self::Double),
            1 => Some(Self::Single),
            _ => None,
        }
    }

    /// Applies the rule.
    #[inline(always)]
    pub fn apply(self, x: i32, multiplier: i32, shift: i32) -> i32 {
        match self {
            Self::Double => multiply_by_quantized_multiplier(x, multiplier, shift),
            Self::Single => multiply_by_quantized_multiplier_single_round(x, multiplier, shift),
        }
    }
}

/// Splits a positive real multiplier into a Q0.31 significand and a power-of-two exponent,
/// exactly as TFLite's `QuantizeMultiplier` does (host side; the runtime never calls it on
/// the inference path). Returns `(multiplier, shift)`.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 || !real.is_finite() {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = round_half_away_f64(q * (1i64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    if shift > 30 {
        shift = 30;
        q_fixed = (1i64 << 31) - 1;
    }
    (q_fixed as i32, shift)
}

/// `frexp`: `x = m * 2^e` with `0.5 <= |m| < 1`, for finite non-zero `x`.
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    if exp_bits == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * (1u64 << 54) as f64);
        return (m, e - 54);
    }
    let e = exp_bits - 1022;
    let m_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(m_bits), e)
}

/// C's `round`: half away from zero. Works without `std` (no `f64::round` in `core`).
pub fn round_half_away_f64(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= 4_503_599_627_370_496.0 {
        return x; // already an integer (or not a number)
    }
    let t = x as i64 as f64; // truncates toward zero; exact in this range
    let frac = x - t;
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// C's `round` for `f32`, then conversion to `i32` saturating at the type's bounds.
#[inline]
pub fn round_half_away_f32_to_i32(x: f32) -> i32 {
    // `as` saturates and maps NaN to 0; in f32 every |x| >= 2^23 is already an integer.
    let t = x as i32;
    let frac = x - t as f32;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// The gemmlowp fixed-point pieces TFLite's reference int8 softmax is built from.
/// Raw values are `i32`; the number of integer bits of each value is noted beside it.
pub mod fixed {
    use super::{rounding_divide_by_pot, sat_rounding_doubling_high_mul as mul};

    /// Saturating `x * 2^exponent` for `exponent > 0` (gemmlowp's
    /// `SaturatingRoundingMultiplyByPOT` with a positive exponent).
    #[inline]
    pub fn saturating_shl(x: i32, exponent: u32) -> i32 {
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    }

    /// `exp(a)` for `a` in `[-1/4, 0)`, Q0.31 in, Q0.31 out.
    fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
        const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
        const ONE_THIRD: i32 = 715_827_883;
        let x = a.wrapping_add(1 << 28); // a + 1/8
        let x2 = mul(x, x);
        let x3 = mul(x2, x);
        let x4 = mul(x2, x2);
        let x4_over_4 = rounding_divide_by_pot(x4, 2);
        let poly = rounding_divide_by_pot(
            mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
            1,
        );
        CONSTANT_TERM.wrapping_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
    }

    /// `exp(a)` for `a <= 0` given in Q5.26; result in Q0.31.
    pub fn exp_on_negative_values_q5(a: i32) -> i32 {
        const INTEGER_BITS: u32 = 5;
        const FRACTIONAL_BITS: u32 = 31 - INTEGER_BITS;
        let one_quarter = 1i32 << (FRACTIONAL_BITS - 2);
        let mask = one_quarter - 1;
        let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
        let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(saturating_shl(
            a_mod_quarter_minus_one_quarter,
            INTEGER_BITS,
        ));
        let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
        // exp(-2^k) for k = -2..=4, Q0.31: the barrel shifter over the remainder's bits.
        const MULTIPLIERS: [(i32, i32); 7] = [
            (-2, 1_672_461_947),
            (-1, 1_302_514_674),
            (0, 790_015_084),
            (1, 290_630_308),
            (2, 39_332_535),
            (3, 720_401),
            (4, 242),
        ];
        for (exponent, multiplier) in MULTIPLIERS {
            let bit = (FRACTIONAL_BITS as i32 + exponent) as u32;
            if remainder & (1 << bit) != 0 {
                result = mul(result, multiplier);
            }
        }
        if a == 0 {
            result = i32::MAX; // one, saturated
        }
        result
    }

    /// `1 / (1 + x)` for `x` in `[0, 1)`, Q0.31 in, Q0.31 out (Newton-Raphson).
    pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
        let half_denominator = {
            let sum = i64::from(a) + i64::from(i32::MAX);
            let sign = if sum >= 0 { 1 } else { -1 };
            ((sum + sign) / 2) as i32
        };
        const C48_OVER_17: i32 = 1_515_870_810; // Q2.29
        const CNEG32_OVER_17: i32 = -1_010_580_540; // Q2.29
        const ONE_Q2: i32 = 1 << 29;
        let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, CNEG32_OVER_17));
        for _ in 0..3 {
            let half_denominator_times_x = mul(half_denominator, x);
            let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
            x = x.wrapping_add(saturating_shl(mul(x, one_minus), 2));
        }
        saturating_shl(x, 1)
    }

    /// TFLite's `GetReciprocal`: returns `(1/x` scaled into Q0.31, `num_bits_over_unit)`
    /// for a positive `x` with `x_integer_digits` integer bits.
    pub fn reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
        let headroom_plus_one = (x as u32).leading_zeros();
        let num_bits_over_unit = x_integer_digits - headroom_plus_one as i32;
        let shifted_sum_minus_one =
            ((x as u32).wrapping_shl(headroom_plus_one)).wrapping_sub(1u32 << 31) as i32;
        (
            one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
            num_bits_over_unit,
        )
    }
}

/// gemmlowp's fixed-point logistic and tanh on 16-bit raw values, as TFLite's integer LSTM
/// applies them to its int16 gates (`tensor_utils::ApplySigmoid`, `ApplyTanh`). A value with
/// `k` integer bits is `raw / 2^(15 - k)`; results have 0 integer bits (Q0.15). Additions
/// wrap as gemmlowp's do on `int16_t` unless noted; multiplications are the 16-bit
/// `SaturatingRoundingDoublingHighMul`.
pub mod fixed16 {
    /// `(a * b * 2) >> 16` rounded to nearest (ties as the 32-bit version), saturating
    /// `-1 * -1`.
    #[inline]
    pub fn mul(a: i16, b: i16) -> i16 {
        if a == i16::MIN && b == i16::MIN {
            return i16::MAX;
        }
        let ab = i32::from(a) * i32::from(b);
        let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
        ((ab + nudge) / (1 << 15)) as i16
    }

    /// `x / 2^exponent` rounded to nearest, ties away from zero.
    #[inline]
    pub fn rounding_divide_by_pot(x: i16, exponent: u32) -> i16 {
        let mask = ((1i32 << exponent) - 1) as i16;
        let remainder = x & mask;
        let threshold = (mask >> 1) + i16::from(x < 0);
        (x >> exponent) + i16::from(remainder > threshold)
    }

    /// `x * 2^exponent`, saturating, for `exponent >= 0`.
    #[inline]
    pub fn saturating_shl(x: i16, exponent: u32) -> i16 {
        if exponent == 0 {
            return x;
        }
        let threshold = (1i32 << (15 - exponent)) - 1;
        let x32 = i32::from(x);
        if x32 > threshold {
            i16::MAX
        } else if x32 < -threshold {
            i16::MIN
        } else {
            (x32 << exponent) as i16
        }
    }

    /// A gemmlowp constant given as a 32-bit raw value, rounded to 16 bits as gemmlowp's
    /// `RescaleConstantInitializer` does.
    const fn constant(raw32: i32) -> i16 {
        // rounding_divide_by_pot(raw32, 16) in 32 bits, spelled out for a const fn.
        let remainder = raw32 & 0xffff;
        let threshold = 0x7fff + (raw32 < 0) as i32;
        ((raw32 >> 16) + (remainder > threshold) as i32) as i16
    }

    const ONE_Q0: i16 = i16::MAX;

    /// `exp(a)` for `a` in `[-1/4, 0)`, Q0.15 in and out.
    fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i16) -> i16 {
        const CONSTANT_TERM: i16 = constant(1_895_147_668);
        const ONE_THIRD: i16 = constant(715_827_883);
        let x = a.wrapping_add(1 << 12);
        let x2 = mul(x, x);
        let x3 = mul(x2, x);
        let x4 = mul(x2, x2);
        let x4_over_4 = rounding_divide_by_pot(x4, 2);
        let poly = rounding_divide_by_pot(
            mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
            1,
        );
        CONSTANT_TERM.saturating_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
    }

    /// `exp(a)` for `a <= 0` with `integer_bits` integer bits (0..=6); result in Q0.15.
    pub fn exp_on_negative_values(a: i16, integer_bits: u32) -> i16 {
        let fractional_bits = 15 - integer_bits;
        let one_quarter = 1i16 << (fractional_bits - 2);
        let mask = one_quarter.wrapping_sub(1);
        let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
        let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(saturating_shl(
            a_mod_quarter_minus_one_quarter,
            integer_bits,
        ));
        let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a) as u16;
        // exp(-2^k) for k = -2..=4: the barrel shifter over the remainder's bits.
        const MULTIPLIERS: [(i32, i16); 7] = [
            (-2, constant(1_672_461_947)),
            (-1, constant(1_302_514_674)),
            (0, constant(790_015_084)),
            (1, constant(290_630_308)),
            (2, constant(39_332_535)),
            (3, constant(720_401)),
            (4, constant(242)),
        ];
        for (exponent, multiplier) in MULTIPLIERS {
            if integer_bits as i32 > exponent {
                let bit = (fractional_bits as i32 + exponent) as u32;
                if remainder & (1 << bit) != 0 {
                    result = mul(result, multiplier);
                }
            }
        }
        if integer_bits > 5 {
            // Below -32 the result is 0.
            let clamp = constant(-(1 << (36 - integer_bits)));
            if a < clamp {
                result = 0;
            }
        }
        if a == 0 {
            result = ONE_Q0;
        }
        result
    }

    /// Newton-Raphson iterations shared by `1 / (1 + a)` and `(1 - a) / (1 + a)` for `a` in
    /// `[0, 1)`: returns `x ~ 1 / half_denominator` with 2 integer bits.
    fn reciprocal_of_half_denominator(a: i16) -> i16 {
        const C48_OVER_17: i16 = constant(1_515_870_810);
        const CNEG32_OVER_17: i16 = constant(-1_010_580_540);
        const ONE_Q2: i16 = 1 << 13;
        let half_denominator = {
            let sum = i32::from(a) + i32::from(ONE_Q0);
            let sign = if sum >= 0 { 1 } else { -1 };
            ((sum + sign) / 2) as i16
        };
        let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, CNEG32_OVER_17));
        for _ in 0..3 {
            let one_minus = ONE_Q2.wrapping_sub(mul(half_denominator, x));
            x = x.wrapping_add(saturating_shl(mul(x, one_minus), 2));
        }
        x
    }

    /// `1 / (1 + a)` for `a` in `[0, 1)`, Q0.15.
    fn one_over_one_plus_x_for_x_in_0_1(a: i16) -> i16 {
        saturating_shl(reciprocal_of_half_denominator(a), 1)
    }

    /// `(1 - a) / (1 + a)` for `a` in `[0, 1)`, Q0.15.
    fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i16) -> i16 {
        saturating_shl(reciprocal_of_half_denominator(a).wrapping_sub(1 << 13), 2)
    }

    /// `1 / (1 + exp(-a))` for `a` with `integer_bits` integer bits, Q0.15 out.
    pub fn logistic(a: i16, integer_bits: u32) -> i16 {
        if a == 0 {
            return constant(1 << 30);
        }
        let abs = if a > 0 { a } else { a.wrapping_neg() };
        let positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
            abs.wrapping_neg(),
            integer_bits,
        ));
        if a > 0 {
            positive
        } else {
            ONE_Q0.wrapping_sub(positive)
        }
    }

    /// `tanh(a)` for `a` with `integer_bits` integer bits (0..=5 here, the exp taking one
    /// more), Q0.15 out.
    pub fn tanh(a: i16, integer_bits: u32) -> i16 {
        if a == 0 {
            return 0;
        }
        let negative_abs = if a < 0 { a } else { a.wrapping_neg() };
        // exp(-2|a|): the same raw value read with one more integer bit.
        let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
            negative_abs,
            integer_bits + 1,
        ));
        if a < 0 {
            t.wrapping_neg()
        } else {
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_divide_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(123, 0), 123);
    }

    #[test]
    fn high_mul_matches_definition_and_saturates() {
        assert_eq!(sat_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(sat_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        // 0.5 * -0.5 = -0.25 in Q0.31.
        assert_eq!(
            sat_rounding_doubling_high_mul(1 << 30, -(1 << 30)),
            -(1 << 29)
        );
        assert_eq!(sat_rounding_doubling_high_mul(3, 1 << 30), 2); // 1.5 rounds away
                                                                   // Negative ties round toward zero: gemmlowp's nudge is 1 - 2^30, not -2^30.
        assert_eq!(sat_rounding_doubling_high_mul(-3, 1 << 30), -1);
    }

    #[test]
    fn quantize_multiplier_round_trips() {
        for &real in &[0.5, 0.75, 1.0, 1e-3, 0.0003745, 2.5, 1e-9, 123.456] {
            let (m, s) = quantize_multiplier(real);
            let back = m as f64 / (1u64 << 31) as f64 * 2f64.powi(s);
            assert!(
                (back - real).abs() <= real * 1e-9,
                "{real}: {m} {s} -> {back}"
            );
            assert!(m >= 1 << 30, "normalised significand");
        }
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(1e-40), (0, 0));
    }

    #[test]
    fn multiply_by_quantized_multiplier_scales() {
        let (m, s) = quantize_multiplier(0.25);
        assert_eq!(multiply_by_quantized_multiplier(1000, m, s), 250);
        assert_eq!(multiply_by_quantized_multiplier(-1002, m, s), -251); // -250.5 -> -251
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!(multiply_by_quantized_multiplier(7, m, s), 21);
    }

    #[test]
    fn single_and_double_rounding_differ_where_expected() {
        // 438 * 0.13797 = 60.43: double rounding goes 241.68 -> 242 -> 60.5 -> 61.
        let (m, s) = quantize_multiplier(0.137_97);
        assert_eq!(multiply_by_quantized_multiplier(438, m, s), 61);
        assert_eq!(multiply_by_quantized_multiplier_single_round(438, m, s), 60);
        let (m, s) = quantize_multiplier(0.5);
        assert_eq!(multiply_by_quantized_multiplier_single_round(-3, m, s), -1); // -1.5 -> -1
        assert_eq!(multiply_by_quantized_multiplier_single_round(3, m, s), 2);
    }

    #[test]
    fn round_half_away_matches_c_round() {
        assert_eq!(round_half_away_f32_to_i32(2.5), 3);
        assert_eq!(round_half_away_f32_to_i32(-2.5), -3);
        assert_eq!(round_half_away_f32_to_i32(2.4999), 2);
        assert_eq!(round_half_away_f32_to_i32(f32::NAN), 0);
        assert_eq!(round_half_away_f32_to_i32(1e20), i32::MAX);
        assert_eq!(round_half_away_f64(-0.5), -1.0);
        assert_eq!(round_half_away_f64(0.49999999999999994), 0.0);
    }

    #[test]
    fn fixed_point_exp_and_reciprocal_are_accurate() {
        for i in 0..200 {
            let x = -(i as f64) * 0.1; // down to -19.9
            let raw = (x * (1 << 26) as f64) as i32;
            let got = fixed::exp_on_negative_values_q5(raw) as f64 / 2f64.powi(31);
            assert!((got - x.exp()).abs() < 1e-6, "exp({x}) = {got}");
        }
        for i in 1..100 {
            let x = i as f64 / 100.0;
            let raw = (x * 2f64.powi(31)) as i32;
            let got = fixed::one_over_one_plus_x_for_x_in_0_1(raw) as f64 / 2f64.powi(31);
            assert!((got - 1.0 / (1.0 + x)).abs() < 1e-6);
        }
    }
}

#[cfg(test)]
mod fixed16_tests {
    use super::fixed16;

    /// Every 16-bit input: gemmlowp's logistic and tanh stay within 2^-10 (32 Q0.15 steps) of the
    /// real functions (exactness against TFLite is the LSTM goldens' job; this catches a
    /// port that is wrong everywhere or in a range).
    #[test]
    fn logistic_and_tanh_track_the_real_functions() {
        for bits in 0..=6u32 {
            let (mut worst_logistic, mut worst_tanh) = (0f64, 0f64);
            // Every input natively; a sample under miri.
            for raw in (i16::MIN..=i16::MAX).step_by(if cfg!(miri) { 257 } else { 1 }) {
                let x = f64::from(raw) / f64::from(1u32 << (15 - bits));
                let got = |v: i16| f64::from(v) / 32768.0;
                worst_tanh = worst_tanh.max((got(fixed16::tanh(raw, bits)) - x.tanh()).abs());
                let logistic = 1.0 / (1.0 + (-x).exp());
                worst_logistic =
                    worst_logistic.max((got(fixed16::logistic(raw, bits)) - logistic).abs());
            }
            std::println!("{bits} integer bits: logistic {worst_logistic:e}, tanh {worst_tanh:e}");
            assert!(
                worst_logistic < 1.0 / 1024.0,
                "{bits}: logistic {worst_logistic}"
            );
            assert!(worst_tanh < 1.0 / 1024.0, "{bits}: tanh {worst_tanh}");
        }
    }
}
