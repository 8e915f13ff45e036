//! AVX2 kernels.
//!
//! Products use `vpmaddwd` on int16 (sign-extended int8): exact, unlike `vpmaddubsw`, whose
//! int16 pair sums saturate for int8 x int8. Each `vpmaddwd` is 16 multiply-adds.
//! Requantization runs on 8 channels at once and reproduces `quant.rs` bit for bit (see the
//! comments at each step).
//!
//! The multi-row GEMMs widen each row to int16 once for every block of channels (rows up to
//! 1024 deep, on the stack), so a group's 4 inputs reach every lane as one 64-bit broadcast
//! load: the only shuffles left in the loop widen the weights, shared by 4 rows. Dense rows
//! (1x1 convolutions, fully connected layers over many rows) are read in place, and other
//! convolutions gathered straight into int16 (`avx2_conv`), with each block's requantization
//! constants built once per call.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use crate::format::AddParams;

use crate::kernels::elementwise::AddU4Levels;
use crate::kernels::gemm::{
    block_tables, padded_depth, whole_block, Block, RowOut, Rows, SmallGather, TileOut, Weights,
    KR, MR, NR,
};
use crate::kernels::int4::{Values, ValuesMut};
use crate::kernels::table::{GemmKernels, Kernels, SummedI4, TileKernels, SCALAR};
use crate::kernels::{ConvGeometry, Requant};
use crate::quant::Rounding;

/// The AVX2 tier: the oracle's table with AVX2's kernels.
pub(crate) static KERNELS: Kernels = Kernels {
    name: c"avx2",
    peak_macs_per_cycle: 32,
    available: has_avx2,
    gemm: GemmKernels {
        in_place: Some(gemm_in_place),
        conv_u4: Some(super::avx2_conv_u4::conv_u4),
        gather_small: Some(gather_small),
        single_row: Some(gemm_row),
        one: TileKernels {
            i8: gemm_tile::<1>,
            i8_u4_rows: Some(gemm_tile_u4_i8::<1>),
            i4_summed: Some(SummedI4 {
                signed_rows: gemm_tile_i4::<1, true>,
                u4_rows: gemm_tile_i4::<1, false>,
            }),
            ..SCALAR.gemm.one
        },
        mr: TileKernels {
            all_blocks: Some(gemm_rows::<MR>),
            i8: gemm_tile::<MR>,
            i8_u4_rows: Some(gemm_tile_u4_i8::<MR>),
            i4_summed: Some(SummedI4 {
                signed_rows: gemm_tile_i4::<MR, true>,
                u4_rows: gemm_tile_i4::<MR, false>,
            }),
            ..SCALAR.gemm.mr
        },
    },
    depthwise: super::depthwise::depthwise_conv2d::<false>,
    depthwise_u4: Some(depthwise_u4),
    add: Some(add),
    add_u4: Some(add_u4),
};

/// Whether the CPU has AVX2 (at compile time, or detected with `std`).
#[allow(unreachable_code)]
pub(super) fn has_avx2() -> bool {
    #[cfg(target_feature = "avx2")]
    return true;
    #[cfg(feature = "std")]
    return std::arch::is_x86_feature_detected!("avx2");
    false
}

/// Requantization constants of 8 channels, in registers, with everything that depends only
/// on the shifts worked out once (a block's constants serve many accumulators).
#[derive(Clone, Copy)]
pub(super) struct Requant8 {
    bias: __m256i,
    multiplier: __m256i,
    /// The multipliers of the odd lanes in the even ones (see [`odd_lanes`]).
    multiplier_odd: __m256i,
    /// Clamp bounds with the output zero point taken out: `act - zp`.
    lo: __m256i,
    hi: __m256i,
    zero_point: __m256i,
    /// The zero point in 16-bit lanes, the clamp bounds in bytes (see [`requant4`]).
    zero_point16: __m256i,
    min8: __m256i,
    max8: __m256i,
    scaling: Scaling,
}

/// How values are scaled by their multipliers and shifts, as `quant.rs` rounds them, with
/// the constants that depend only on the shifts worked out once.
#[derive(Clone, Copy)]
enum Scaling {
    /// Double rounding where every lane shifts right by `e >= 1` (almost every layer): both
    /// roundings in one 64-bit sum, see [`double_rounding_right`]. The nudges of the even and
    /// odd lanes (64-bit), for non-negative and for negative products, and `e - 1`.
    DoubleRight {
        nudge: [__m256i; 2],
        nudge_negative: [__m256i; 2],
        shift: __m256i,
    },
    /// Double rounding, any shifts: gemmlowp's two steps. The left shift (if any lane has
    /// one), the right shift, its remainder mask and half that mask.
    Double {
        left: Option<__m256i>,
        right: __m256i,
        mask: __m256i,
        half_mask: __m256i,
    },
    /// Single rounding: the total right shift `31 - shift` of the even and odd lanes (as
    /// 64-bit lanes), its rounding term, and `2^62` shifted by it.
    Single {
        total: [__m256i; 2],
        round: [__m256i; 2],
        offset_shifted: [__m256i; 2],
    },
}

/// `2^62`: added before the single-rounding shift so that a logical shift serves (see
/// [`single_rounding`]).
const OFFSET_62: i64 = 1 << 62;

/// The 64-bit lanes of the even and of the odd 32-bit lanes of `v`.
#[inline]
#[target_feature(enable = "avx2")]
fn halves(v: __m256i) -> [__m256i; 2] {
    [
        _mm256_and_si256(v, _mm256_set1_epi64x(0xffff_ffff)),
        _mm256_srli_epi64::<32>(v),
    ]
}

impl Scaling {
    /// The scaling by shifts `shift` (per 32-bit lane) under `rounding`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn new(shift: __m256i, rounding: Rounding) -> Self {
        let zero = _mm256_setzero_si256();
        let one64 = _mm256_set1_epi64x(1);
        match rounding {
            Rounding::Double => {
                let right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
                let every_right = _mm256_movemask_epi8(_mm256_cmpgt_epi32(right, zero)) == -1;
                if every_right {
                    // 2^30 + 2^(30 + e): the first rounding's nudge and the second's half.
                    let nudge = halves(right).map(|e| {
                        let e30 = _mm256_add_epi64(e, _mm256_set1_epi64x(30));
                        _mm256_add_epi64(_mm256_sllv_epi64(one64, e30), _mm256_set1_epi64x(1 << 30))
                    });
                    let minus_2_31 = _mm256_set1_epi64x(-(1 << 31));
                    Scaling::DoubleRight {
                        nudge,
                        nudge_negative: nudge.map(|n| _mm256_add_epi64(n, minus_2_31)),
                        shift: _mm256_sub_epi32(right, _mm256_set1_epi32(1)),
                    }
                } else {
                    let one = _mm256_set1_epi32(1);
                    let left = _mm256_max_epi32(shift, zero);
                    // Multipliers below 1 (the usual case) have no left shift to apply.
                    let any_left = _mm256_movemask_epi8(_mm256_cmpgt_epi32(left, zero)) != 0;
                    let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
                    Scaling::Double {
                        left: any_left.then_some(left),
                        right,
                        mask,
                        half_mask: _mm256_srli_epi32::<1>(mask),
                    }
                }
            }
            Rounding::Single => {
                let total = halves(_mm256_sub_epi32(_mm256_set1_epi32(31), shift)); // 1..=62
                let offset = _mm256_set1_epi64x(OFFSET_62);
                Scaling::Single {
                    total,
                    round: total.map(|t| _mm256_sllv_epi64(one64, _mm256_sub_epi64(t, one64))),
                    offset_shifted: total.map(|t| _mm256_srlv_epi64(offset, t)),
                }
            }
        }
    }

    /// `x` scaled by the multipliers `[m, m_odd]` (`m_odd`: the odd lanes of `m` in the even
    /// ones, see [`odd_lanes`]). Single rounding clamps to `[lo, hi]` on the way (its 64-bit
    /// result need not fit 32 bits); the other ways leave the clamp to the caller.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn apply(&self, x: __m256i, multiplier: [__m256i; 2], lo: __m256i, hi: __m256i) -> __m256i {
        match self {
            Scaling::DoubleRight {
                nudge,
                nudge_negative,
                shift,
            } => double_rounding_right(x, multiplier, nudge, nudge_negative, *shift),
            Scaling::Double {
                left,
                right,
                mask,
                half_mask,
            } => {
                let x = match left {
                    Some(left) => _mm256_sllv_epi32(x, *left),
                    None => x,
                };
                let high = doubling_high_mul(x, multiplier[0], multiplier[1]);
                rounding_divide_by_pot(high, *right, *mask, *half_mask)
            }
            Scaling::Single {
                total,
                round,
                offset_shifted,
            } => single_rounding(x, multiplier, [lo, hi], total, round, offset_shifted),
        }
    }
}

impl Requant8 {
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn new(block: &Block<'_>, q: &Requant<'_>) -> Self {
        let load = |t: &[i32; NR]| {
            // SAFETY: `t` is 8 i32 = 32 readable bytes; loadu has no alignment need.
            unsafe { _mm256_loadu_si256(t.as_ptr().cast()) }
        };
        let multiplier = load(block.multiplier);
        Self {
            bias: load(block.bias),
            multiplier,
            multiplier_odd: odd_lanes(multiplier),
            lo: _mm256_set1_epi32(q.act_min - q.output_zero_point),
            hi: _mm256_set1_epi32(q.act_max - q.output_zero_point),
            zero_point: _mm256_set1_epi32(q.output_zero_point),
            zero_point16: _mm256_set1_epi16(q.output_zero_point.clamp(-128, 127) as i16),
            min8: _mm256_set1_epi8(q.act_min.clamp(-128, 127) as i8),
            max8: _mm256_set1_epi8(q.act_max.clamp(-128, 127) as i8),
            scaling: Scaling::new(load(block.shift), q.rounding),
        }
    }

    /// Subtracts `v` from the bias, wrapping as the reference's int32 sums (a bias folded
    /// with terms the tables do not hold, as the depthwise kernel's input zero point).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn subtract_from_bias(&mut self, v: __m256i) {
        self.bias = _mm256_sub_epi32(self.bias, v);
    }

    /// int32 accumulators to int8 values (still in int32 lanes).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn apply(&self, acc: __m256i) -> __m256i {
        let scaled = self.scale(acc);
        // saturating_add(zp).clamp(min, max) == clamp(x, min - zp, max - zp) + zp, since
        // min and max are int8 and the saturation bounds lie far outside them.
        let clamped = _mm256_min_epi32(_mm256_max_epi32(scaled, self.lo), self.hi);
        _mm256_add_epi32(clamped, self.zero_point)
    }

    /// [`Requant8::apply`] before the zero point and the clamp.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn scale(&self, acc: __m256i) -> __m256i {
        let x = _mm256_add_epi32(acc, self.bias); // wrapping, as the reference
        let multiplier = [self.multiplier, self.multiplier_odd];
        self.scaling.apply(x, multiplier, self.lo, self.hi)
    }
}

/// Requantizes four accumulator vectors of one layer (`r[i]` for `acc[i]`) to 32 bytes,
/// `acc[0]`'s first, as [`Requant8::apply`] and four [`narrow`]s do, but with the zero point
/// added to 16-bit lanes and the clamp applied to bytes, after saturating narrows: a value
/// that saturates lies beyond the int8 bounds either way, so `clamp(x + zp, min, max)` is
/// unchanged, for 5 instructions per 32 values where the 32-bit clamp took 12. Only the
/// first `n` vectors are requantized; the bytes of the others are zero.
///
/// Always inlined, so not a `target_feature` function: LLVM kept it out of line, its
/// arguments passing through memory.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
pub(super) unsafe fn requant4(r: [&Requant8; 4], acc: &[__m256i; 4], n: usize) -> [i8; 32] {
    let mut out = [0i8; 32];
    // SAFETY: the caller's contract; `out` is 32 writable bytes, storeu has no alignment
    // need.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), requant4_vector(r, acc, n)) };
    out
}

/// [`requant4`]'s 32 bytes in a register, for callers that store them where they belong.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
unsafe fn requant4_vector(r: [&Requant8; 4], acc: &[__m256i; 4], n: usize) -> __m256i {
    // SAFETY: the caller's contract.
    unsafe {
        // Written out, not mapped: LLVM kept a loop, the accumulators in memory.
        let zero = _mm256_setzero_si256();
        let scaled = [
            r[0].scale(acc[0]),
            if n > 1 { r[1].scale(acc[1]) } else { zero },
            if n > 2 { r[2].scale(acc[2]) } else { zero },
            if n > 3 { r[3].scale(acc[3]) } else { zero },
        ];
        let zero_point = r[0].zero_point16;
        let words = [
            _mm256_adds_epi16(_mm256_packs_epi32(scaled[0], scaled[1]), zero_point),
            _mm256_adds_epi16(_mm256_packs_epi32(scaled[2], scaled[3]), zero_point),
        ];
        let bytes = _mm256_packs_epi16(words[0], words[1]);
        in_order(_mm256_min_epi8(
            _mm256_max_epi8(bytes, r[0].min8),
            r[0].max8,
        ))
    }
}

/// Requantization of one accumulator vector of the single-row kernels: single rounding with
/// every total shift `t = 31 - shift` at least 32 (the usual fully connected layer) in 32-bit
/// lanes; anything else through [`Requant8`]. Kept out of `Requant8`, whose size and
/// branches the GEMM tiles and depthwise kernels are sensitive to.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn requant_row(acc: __m256i, block: &Block<'_>, q: &Requant<'_>) -> __m256i {
    let load = |t: &[i32; NR]| {
        // SAFETY: `t` is 8 i32 = 32 readable bytes; loadu has no alignment need.
        unsafe { _mm256_loadu_si256(t.as_ptr().cast()) }
    };
    let total = _mm256_sub_epi32(_mm256_set1_epi32(31), load(block.shift)); // 1..=62
    let below_32 = _mm256_cmpgt_epi32(_mm256_set1_epi32(32), total);
    if q.rounding != Rounding::Single || _mm256_movemask_epi8(below_32) != 0 {
        return Requant8::new(block, q).apply(acc);
    }
    // floor(v / 2^t) with t >= 32 is the high dword of v shifted arithmetically by t - 32
    // (the low dword only adds a fraction below 1), and it fits in 32 bits (|v| < 2^62).
    let (x, multiplier) = (
        _mm256_add_epi32(acc, load(block.bias)),
        load(block.multiplier),
    );
    let one64 = _mm256_set1_epi64x(1);
    let round = |t: __m256i| _mm256_sllv_epi64(one64, _mm256_sub_epi64(t, one64));
    let t_even = _mm256_and_si256(total, _mm256_set1_epi64x(0xffff_ffff));
    let even = _mm256_add_epi64(_mm256_mul_epi32(x, multiplier), round(t_even));
    let odd = _mm256_mul_epi32(odd_lanes(x), odd_lanes(multiplier));
    let odd = _mm256_add_epi64(odd, round(_mm256_srli_epi64::<32>(total)));
    let high = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
    let scaled = _mm256_srav_epi32(high, _mm256_sub_epi32(total, _mm256_set1_epi32(32)));
    // As `Requant8::apply`: clamp with the zero point taken out, then add it.
    let zero_point = _mm256_set1_epi32(q.output_zero_point);
    let lo = _mm256_set1_epi32(q.act_min - q.output_zero_point);
    let hi = _mm256_set1_epi32(q.act_max - q.output_zero_point);
    _mm256_add_epi32(
        _mm256_min_epi32(_mm256_max_epi32(scaled, lo), hi),
        zero_point,
    )
}

/// The odd int32 lanes of `v` moved to the even ones (the low halves of the 64-bit lanes that
/// `vpmuldq` reads). A shuffle, not a 64-bit shift: from a shift, LLVM rebuilt the product
/// as a full 64-bit multiply, three `vpmuludq` and their fixes where one `vpmuldq` does.
#[inline]
#[target_feature(enable = "avx2")]
fn odd_lanes(v: __m256i) -> __m256i {
    _mm256_shuffle_epi32::<0b11_11_01_01>(v)
}

/// gemmlowp's `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, m), e)` for a right
/// shift `e >= 1`, in one rounding. With `p = x * m`, the first step is
/// `h = floor((p + 2^30) / 2^31)` and the second `floor((h + 2^(e-1) - [h < 0]) / 2^e)`;
/// nested floor divisions with integer offsets compose, so the result is
/// `floor((p + 2^30 + 2^(30+e) - [h < 0] * 2^31) / 2^(31+e))`. `[p < 0]` serves for
/// `[h < 0]`: they differ only for `-2^30 <= p < 0`, where `h = 0` and both give 0. As
/// `e >= 1`, the division is the sum's high dword (|sum| < 2^63) shifted right by `e - 1`.
/// 11 instructions per 8 values where the two steps take 15.
#[inline]
#[target_feature(enable = "avx2")]
fn double_rounding_right(
    x: __m256i,
    multiplier: [__m256i; 2],
    nudge: &[__m256i; 2],
    nudge_negative: &[__m256i; 2],
    shift: __m256i,
) -> __m256i {
    // The nudge for `p`'s sign (bit 63 of the product), added to `p`.
    let sum = |p: __m256i, half: usize| {
        let n = _mm256_blendv_pd(
            _mm256_castsi256_pd(nudge[half]),
            _mm256_castsi256_pd(nudge_negative[half]),
            _mm256_castsi256_pd(p),
        );
        _mm256_add_epi64(p, _mm256_castpd_si256(n))
    };
    let even = sum(_mm256_mul_epi32(x, multiplier[0]), 0);
    let odd = sum(_mm256_mul_epi32(odd_lanes(x), multiplier[1]), 1);
    // The high dwords: the even lanes' moved down, the odd lanes' in place.
    let high = _mm256_blend_epi32::<0b1010_1010>(odd_lanes(even), odd);
    _mm256_srav_epi32(high, shift)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` for `b >= 0` (the loader rejects negative
/// multipliers, so its one saturating case never occurs). Its round-half-away-from-zero of
/// `a*b / 2^31` equals `floor((a*b + 2^30) / 2^31)` for every product.
#[inline]
#[target_feature(enable = "avx2")]
fn doubling_high_mul(a: __m256i, b: __m256i, b_odd: __m256i) -> __m256i {
    let nudge = _mm256_set1_epi64x(1 << 30);
    let even = _mm256_add_epi64(_mm256_mul_epi32(a, b), nudge);
    let odd = _mm256_add_epi64(_mm256_mul_epi32(odd_lanes(a), b_odd), nudge);
    // Bits 31..62 of each 64-bit sum are the result: shift them into the lane's dword.
    _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1))
}

/// gemmlowp's `RoundingDivideByPOT` with per-lane exponents in `0..=31`, given the remainder
/// mask `2^exponent - 1` and half of it.
#[inline]
#[target_feature(enable = "avx2")]
fn rounding_divide_by_pot(
    x: __m256i,
    exponent: __m256i,
    mask: __m256i,
    half_mask: __m256i,
) -> __m256i {
    let remainder = _mm256_and_si256(x, mask);
    let negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), x); // -1 where x < 0
    let threshold = _mm256_sub_epi32(half_mask, negative);
    let round_up = _mm256_cmpgt_epi32(remainder, threshold); // -1 where rounding up
    _mm256_sub_epi32(_mm256_srav_epi32(x, exponent), round_up)
}

/// `(x * m + 2^(30 - shift)) >> (31 - shift)` in 64 bits, clamped to `[lo, hi]`.
/// AVX2 has no 64-bit arithmetic shift: `v + 2^62` is non-negative (|x * m| < 2^62), so a
/// logical shift of it, minus `2^62 >> s`, is the arithmetic shift of `v`.
#[inline]
#[target_feature(enable = "avx2")]
fn single_rounding(
    x: __m256i,
    multiplier: [__m256i; 2],
    [lo, hi]: [__m256i; 2],
    total: &[__m256i; 2],
    round: &[__m256i; 2],
    offset_shifted: &[__m256i; 2],
) -> __m256i {
    let (lo, hi) = (
        _mm256_cvtepi32_epi64(_mm256_castsi256_si128(lo)),
        _mm256_cvtepi32_epi64(_mm256_castsi256_si128(hi)),
    );
    let offset = _mm256_set1_epi64x(OFFSET_62);
    let shift64 = |product: __m256i, half: usize| {
        let v = _mm256_add_epi64(_mm256_add_epi64(product, round[half]), offset);
        let r = _mm256_sub_epi64(_mm256_srlv_epi64(v, total[half]), offset_shifted[half]);
        let r = _mm256_blendv_epi8(r, lo, _mm256_cmpgt_epi64(lo, r));
        _mm256_blendv_epi8(r, hi, _mm256_cmpgt_epi64(r, hi))
    };
    let even = shift64(_mm256_mul_epi32(x, multiplier[0]), 0);
    let odd = shift64(_mm256_mul_epi32(odd_lanes(x), multiplier[1]), 1);
    _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64(odd, 32))
}

/// Packs 32 uint4 values in int32 lanes (channels 0..8, 8..16, 16..24, 24..32) into 16
/// bytes, two per byte, low nibble first.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn pack_u4_32(v: [__m256i; 4]) -> __m128i {
    // Lane 0 gets channels 0-3, 8-11, 16-19, 24-27; lane 1 the other fours.
    let bytes = _mm256_packus_epi16(
        _mm256_packs_epi32(v[0], v[1]),
        _mm256_packs_epi32(v[2], v[3]),
    );
    // Byte pairs to one byte each: even + 16 * odd (at most 255).
    let pairs = _mm256_maddubs_epi16(bytes, _mm256_set1_epi16(0x1001));
    let packed = _mm256_packus_epi16(pairs, pairs);
    // Lane 0 holds bytes 0 1 4 5 8 9 12 13, lane 1 bytes 2 3 6 7 10 11 14 15.
    _mm_unpacklo_epi16(
        _mm256_castsi256_si128(packed),
        _mm256_extracti128_si256::<1>(packed),
    )
}

/// Narrows 8 int32 lanes holding int8 values to 8 bytes.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn narrow(v: __m256i) -> [i8; 8] {
    let words = _mm256_packs_epi32(v, v); // [0..4, 0..4 | 4..8, 4..8]
    let bytes = _mm256_packs_epi16(words, words);
    let gathered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
    _mm256_extract_epi64::<0>(gathered)
        .to_le_bytes()
        .map(|b| b as i8)
}

/// Orders the 32 bytes of 4 vectors narrowed in lanes (per 128-bit half: the vectors' lanes 0-3,
/// then 4-7, 4 bytes each), `v[0]`'s 8 first.
#[inline]
#[target_feature(enable = "avx2")]
fn in_order(bytes: __m256i) -> __m256i {
    _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// Stores the 4 rows of 8 bytes in `v` (row `r` in bytes `8r..8r + 8`) at `out[r * outputs
/// + n0..]`, straight from the register. `false`, storing nothing, if `out` is short.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
unsafe fn store_rows4(v: __m256i, out: &mut [i8], outputs: usize, n0: usize) -> bool {
    if n0 + 3 * outputs + NR > out.len() {
        return false;
    }
    // SAFETY: the caller's contract; the check above keeps the 4 stores of 8 bytes inside
    // `out`; unaligned stores.
    unsafe {
        let p = out.as_mut_ptr().add(n0);
        let (low, high) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        _mm_storel_epi64(p.cast(), low);
        _mm_storeh_pd(p.add(outputs).cast(), _mm_castsi128_pd(low));
        _mm_storel_epi64(p.add(2 * outputs).cast(), high);
        _mm_storeh_pd(p.add(3 * outputs).cast(), _mm_castsi128_pd(high));
    }
    true
}

/// The GEMM micro-kernel: `R` rows by one block of 8 channels.
///
/// Per group of 4 reduction steps: the 32 packed weight bytes widen to two int16 vectors
/// (channels 0-3 and 4-7, 4 steps each); each row's 4 inputs widen and broadcast; two
/// `vpmaddwd` give 2 partial sums per channel, reduced once at the end.
fn gemm_tile<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
    unsafe { gemm_tile_avx2::<R>(a, w, block, q) }
}

/// `R` rows of int8 values by every block of the packed int8 weights `w`, requantized into
/// `out` (row `r` at `out[r * outputs]`): [`gemm_tile`] without a call per block. Rows of
/// uint4 values are left to the per-block kernels (returns `false`).
fn gemm_rows<const R: usize>(
    a: [&[i8]; R],
    rows_u4: bool,
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) -> bool {
    if !rows_u4 {
        // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
        unsafe { gemm_rows_avx2(a, w, outputs, q, out) };
    }
    !rows_u4
}

#[target_feature(enable = "avx2")]
fn gemm_rows_avx2<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) {
    let kp = a.iter().fold(usize::MAX, |k, row| k.min(row.len()));
    // (`max(1)`: validation makes the depth at least 1; this keeps `chunks_exact` from
    // panicking whatever the caller passes.)
    let block_bytes = (kp * NR).max(1);
    let blocks = w
        .chunks_exact(block_bytes)
        .take(outputs.div_ceil(NR))
        .enumerate();
    let mut wide = [[const { MaybeUninit::<__m256i>::uninit() }; WIDE_VECTORS]; R];
    let widened = kp <= WIDE_VECTORS * 16;
    if widened {
        for (row, dst) in a.iter().zip(wide.iter_mut()) {
            widen_row(&row[..kp], dst);
        }
    }
    for (nb, w) in blocks {
        let n0 = nb * NR;
        let nr = NR.min(outputs - n0);
        let copies;
        let block = block_tables!(q, n0, nr, copies);
        let rows = if widened {
            // SAFETY: `widen_row` initialized the first `kp` int16 values of each row.
            unsafe { wide_tile::<R>(&wide, kp / KR, w, &block, q) }
        } else {
            gemm_tile_avx2::<R>(a, w, &block, q)
        };
        for (r, values) in rows.iter().enumerate() {
            put_channels(&mut out[r * outputs + n0..], values, nr);
        }
    }
}

/// Most reduction steps (in vectors of 16) whose rows [`gemm_rows_avx2`] widens to int16 once
/// for every block of channels, on the stack (8 KB for 4 rows); deeper rows are widened per
/// block.
pub(super) const WIDE_VECTORS: usize = 64;

/// Sign-extends `row` (a multiple of 4 values, at most `16 * dst.len()`) to int16 into `dst`.
#[inline]
#[target_feature(enable = "avx2")]
fn widen_row(row: &[i8], dst: &mut [MaybeUninit<__m256i>; WIDE_VECTORS]) {
    let dst = dst.as_mut_ptr().cast::<i16>();
    let mut k = 0;
    while k + 16 <= row.len() {
        // SAFETY: `k + 16 <= row.len()` bounds the load; `dst` holds `16 * WIDE_VECTORS`
        // int16, at least `row.len()`; unaligned accesses.
        unsafe {
            let v = _mm256_cvtepi8_epi16(_mm_loadu_si128(row.as_ptr().add(k).cast()));
            _mm256_storeu_si256(dst.add(k).cast(), v);
        }
        k += 16;
    }
    while k + KR <= row.len() {
        // SAFETY: as above, for 4 values.
        unsafe {
            let x4 = row.as_ptr().add(k).cast::<i32>().read_unaligned();
            let v = _mm_cvtepi8_epi16(_mm_cvtsi32_si128(x4));
            _mm_storel_epi64(dst.add(k).cast(), v);
        }
        k += KR;
    }
}

/// [`gemm_tile_avx2`] on rows widened by [`widen_row`].
///
/// # Safety
/// The first `4 * groups` int16 values of each row of `wide` are initialized.
#[target_feature(enable = "avx2")]
unsafe fn wide_tile<const R: usize>(
    wide: &[[MaybeUninit<__m256i>; WIDE_VECTORS]; R],
    groups: usize,
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    // SAFETY: the caller's contract.
    let (lo, hi) = unsafe { wide_sums::<R>(wide, groups, w) };
    // SAFETY: this function runs on AVX2.
    unsafe { finish_pairs(&lo, &hi, &Requant8::new(block, q)) }
}

/// The partial-sum pairs of `R` rows widened by [`widen_row`] by one block of packed weights
/// `w`, as [`gemm_tile_avx2`] accumulates them: each group's 4 int16 inputs are one 64-bit
/// broadcast from memory (a load, no shuffle), so the shuffles left per group are the two
/// weight widenings, shared by the `R` rows.
///
/// # Safety
/// The first `4 * groups` int16 values of each row of `wide` are initialized.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn wide_sums<const R: usize>(
    wide: &[[MaybeUninit<__m256i>; WIDE_VECTORS]; R],
    groups: usize,
    w: &[i8],
) -> ([__m256i; R], [__m256i; R]) {
    let groups = groups.min(4 * WIDE_VECTORS);
    pair_sums::<R>(groups, w, |r, g| {
        // SAFETY: group `g` is int16 values `4g..4g + 4` of the row, initialized (the
        // caller's contract) and inside the array (`g < 4 * WIDE_VECTORS`).
        let x4 = unsafe { wide[r].as_ptr().cast::<i64>().add(g).read_unaligned() };
        _mm256_set1_epi64x(x4)
    })
}

/// The loop of the `vpmaddwd` tiles: `R` rows by one block of packed weights `w`, over the
/// first `groups` groups (at most those in `w`), `x(r, g)` giving row `r`'s 4 inputs of group
/// `g` as int16, repeated across the register (called only for `g < groups`). Returns each
/// row's partial-sum pairs of channels 0-3 and 4-7 (see [`finish_pairs`]).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn pair_sums<const R: usize>(
    groups: usize,
    w: &[i8],
    x: impl Fn(usize, usize) -> __m256i,
) -> ([__m256i; R], [__m256i; R]) {
    let mut sums = ([_mm256_setzero_si256(); R], [_mm256_setzero_si256(); R]);
    add_pair_sums::<R>(&mut sums, groups, w, x);
    sums
}

/// [`pair_sums`] added into `sums`, so that a caller summing several runs of groups (kernel
/// rows) keeps one set of accumulators in registers.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn add_pair_sums<const R: usize>(
    (lo, hi): &mut ([__m256i; R], [__m256i; R]),
    groups: usize,
    w: &[i8],
    x: impl Fn(usize, usize) -> __m256i,
) {
    let groups = groups.min(w.len() / (NR * KR));
    let wp = w.as_ptr();
    for g in 0..groups {
        // SAFETY: `g < groups` bounds both loads within `w` (32 bytes per group); loadu
        // needs no alignment.
        let (w_lo, w_hi) = unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(g * 32).cast())),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(g * 32 + 16).cast())),
            )
        };
        for r in 0..R {
            let x = x(r, g);
            lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(x, w_lo));
            hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(x, w_hi));
        }
    }
}

/// Blocks of channels whose requantization constants [`for_each_chunk`] builds at once.
const CHUNK_BLOCKS: usize = 16;

/// The int8 GEMM without the gathering driver: dense rows read in place
/// ([`dense_in_place`]) and int8 convolutions gathered straight into int16
/// (`avx2_conv::conv`). Returns `false`, having done nothing, for rows neither takes.
#[allow(clippy::too_many_arguments)]
fn gemm_in_place(
    rows: usize,
    outputs: usize,
    depth: usize,
    direct: bool,
    a: Rows<'_>,
    w: &[i8],
    q: &Requant<'_>,
    scratch: &mut [i8],
    out: &mut [i8],
) -> bool {
    match a {
        Rows::Conv {
            geometry,
            input: Values::I8(input),
            zero_point,
        } => super::avx2_conv::conv(geometry, input, zero_point, outputs, w, q, out),
        _ => dense_in_place(rows, outputs, depth, direct, a, w, q, scratch, out),
    }
}

/// The int8 GEMM over dense rows (1x1 convolutions and fully connected layers over many rows),
/// read in place: each tile of rows is widened to int16 once for a chunk of up to
/// [`CHUNK_BLOCKS`] channel blocks, whose requantization constants are built once per call.
/// Returns `false`, having done nothing, for other rows (convolutions, uint4 or padded rows,
/// few rows, rows deeper than [`WIDE_VECTORS`] vectors) or short buffers.
#[allow(clippy::too_many_arguments)]
pub(super) fn dense_in_place(
    rows: usize,
    outputs: usize,
    depth: usize,
    direct: bool,
    a: Rows<'_>,
    w: &[i8],
    q: &Requant<'_>,
    _scratch: &mut [i8],
    out: &mut [i8],
) -> bool {
    // Fewer rows go tile by tile: the constants of every block would cost more than they save.
    const MIN_ROWS: usize = 8;
    let Rows::Dense(Values::I8(data)) = a else {
        return false;
    };
    let q_fits = |t: &[i32]| t.len() >= outputs;
    let takes = direct
        && rows >= MIN_ROWS
        && depth > 0
        && depth.is_multiple_of(KR)
        && depth <= 16 * WIDE_VECTORS
        && data.len() >= rows * depth
        && w.len() >= outputs.div_ceil(NR) * NR * depth
        && out.len() >= rows * outputs
        && q_fits(q.multiplier)
        && q_fits(q.shift)
        && q.bias.is_none_or(q_fits);
    if takes {
        // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`);
        // the lengths were checked above.
        unsafe { dense_rows_avx2(rows, outputs, depth, data, w, q, out) };
    }
    takes
}

/// See [`gemm_in_place`]; the caller checked every length.
#[target_feature(enable = "avx2")]
fn dense_rows_avx2(
    rows: usize,
    outputs: usize,
    depth: usize,
    data: &[i8],
    w: &[i8],
    q: &Requant<'_>,
    out: &mut [i8],
) {
    for_each_chunk(outputs, depth, w, q, |chunk| {
        let mut m = 0;
        while m + MR <= rows {
            chunk.rows::<MR>(&data[m * depth..][..MR * depth], &mut out[m * outputs..]);
            m += MR;
        }
        while m < rows {
            chunk.rows::<1>(&data[m * depth..][..depth], &mut out[m * outputs..]);
            m += 1;
        }
    });
}

/// Calls `f` with each [`Chunk`] of up to [`CHUNK_BLOCKS`] blocks of the `outputs` channels
/// of the packed weights `w` (reduction depth `depth`, padded), in order.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn for_each_chunk(
    outputs: usize,
    depth: usize,
    w: &[i8],
    q: &Requant<'_>,
    mut f: impl FnMut(&Chunk<'_>),
) {
    let block_bytes = padded_depth(depth) * NR;
    for_each_requants(outputs, q, |first, requants| {
        f(&Chunk {
            first,
            requants,
            w: &w[first * block_bytes..][..requants.len() * block_bytes],
            block_bytes,
            outputs,
        })
    });
}

/// Calls `f(first, requants)` with the requantization constants of each run of up to
/// [`CHUNK_BLOCKS`] blocks of the `outputs` channels, `first` the run's first block, in order.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn for_each_requants(
    outputs: usize,
    q: &Requant<'_>,
    mut f: impl FnMut(usize, &[Requant8]),
) {
    let blocks = outputs.div_ceil(NR);
    let requant = |b: usize| {
        let n0 = b * NR;
        let copies;
        let block = block_tables!(q, n0, NR.min(outputs - n0), copies);
        Requant8::new(&block, q)
    };
    let mut first = 0;
    while first < blocks {
        let count = CHUNK_BLOCKS.min(blocks - first);
        // Only `count` written: filling all 16 (~6 KB) cost a `memcpy` each per chunk.
        let mut storage = [const { MaybeUninit::<Requant8>::uninit() }; CHUNK_BLOCKS];
        for (i, r) in storage.iter_mut().enumerate().take(count) {
            r.write(requant(first + i));
        }
        // SAFETY: the loop above initialized the first `count <= CHUNK_BLOCKS` entries.
        let requants = unsafe { core::slice::from_raw_parts(storage.as_ptr().cast(), count) };
        f(first, requants);
        first += count;
    }
}

/// Consecutive channel blocks of a GEMM and their requantization (see [`for_each_chunk`]).
pub(super) struct Chunk<'a> {
    /// Index of the first block.
    first: usize,
    requants: &'a [Requant8],
    /// The blocks' packed weights.
    w: &'a [i8],
    /// Bytes of one block's weights.
    block_bytes: usize,
    outputs: usize,
}

impl Chunk<'_> {
    /// Channels per row of the output.
    pub(super) fn outputs(&self) -> usize {
        self.outputs
    }

    /// `R` rows (`a`: one after another, `depth` values each, a multiple of [`KR`]) by every
    /// block of the chunk, into `out` (row `r` at `out[r * outputs]`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rows<const R: usize>(&self, a: &[i8], out: &mut [i8]) {
        let depth = a.len() / R;
        let mut wide = [[const { MaybeUninit::<__m256i>::uninit() }; WIDE_VECTORS]; R];
        for (row, dst) in a.chunks_exact(depth.max(1)).zip(wide.iter_mut()) {
            widen_row(row, dst);
        }
        self.each_block::<R>(out, |w| {
            // SAFETY: `widen_row` initialized the first `depth` int16 values of each row.
            unsafe { wide_sums::<R>(&wide, depth / KR, w) }
        });
    }

    /// Blocks in the chunk.
    pub(super) fn blocks(&self) -> usize {
        self.requants.len()
    }

    /// `R` rows by every block of the chunk, into `out` (row `r` at `out[r * outputs]`):
    /// `sums(w)` gives the rows' partial-sum pairs (see [`pair_sums`]) by one block's packed
    /// weights `w`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn each_block<const R: usize>(
        &self,
        out: &mut [i8],
        sums: impl Fn(&[i8]) -> ([__m256i; R], [__m256i; R]),
    ) {
        for i in 0..self.blocks() {
            self.block::<R>(i, out, &sums);
        }
    }

    /// `R` rows by block `i` of the chunk (see [`Chunk::each_block`]).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn block<const R: usize>(
        &self,
        i: usize,
        out: &mut [i8],
        sums: impl Fn(&[i8]) -> ([__m256i; R], [__m256i; R]),
    ) {
        let w = &self.w[i * self.block_bytes..][..self.block_bytes];
        let (lo, hi) = sums(w);
        let n0 = (self.first + i) * NR;
        let requant = &self.requants[i];
        // Four rows of a whole block: stored from the register (through the stack, the 32
        // bytes were stored once and read back in pieces).
        if let (Ok(lo4), Ok(hi4), true) = (
            <&[__m256i; 4]>::try_from(&lo[..]),
            <&[__m256i; 4]>::try_from(&hi[..]),
            self.outputs >= n0 + NR,
        ) {
            // SAFETY: this function runs on AVX2.
            let v = unsafe { requant4_vector([requant; 4], &pair_totals(lo4, hi4), 4) };
            // SAFETY: as above.
            if unsafe { store_rows4(v, out, self.outputs, n0) } {
                return;
            }
        }
        // SAFETY: this function runs on AVX2.
        let values = unsafe { finish_pairs(&lo, &hi, requant) };
        for (r, v) in values.iter().enumerate() {
            put_channels(&mut out[r * self.outputs + n0..], v, self.outputs - n0);
        }
    }
}

/// Writes the first `nr` (at most [`NR`]) of a row's values of one block to `dst`: whole
/// blocks in one 8-byte store (a copy of variable length is a call to `memmove`).
#[inline(always)]
pub(super) fn put_channels(dst: &mut [i8], values: &[i8; NR], nr: usize) {
    if nr >= NR {
        dst[..NR].copy_from_slice(values);
    } else {
        dst[..nr].copy_from_slice(&values[..nr]);
    }
}

#[target_feature(enable = "avx2")]
fn gemm_tile_avx2<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    let groups = a.iter().fold(usize::MAX, |g, row| g.min(row.len() / KR));
    let (lo, hi) = pair_sums::<R>(groups, w, |r, g| {
        // SAFETY: `g < groups` bounds the 4-byte read within each row (4 bytes per group).
        let x4 = unsafe { a[r].as_ptr().add(g * KR).cast::<i32>().read_unaligned() };
        _mm256_cvtepi8_epi16(_mm_set1_epi32(x4))
    });
    // SAFETY: this function runs on AVX2.
    unsafe { finish_pairs(&lo, &hi, &Requant8::new(block, q)) }
}

/// The epilogue of the `vpmaddwd` tiles: each row's two vectors of partial-sum pairs
/// (`lo`: channels 0-3, `hi`: 4-7) summed, requantized and narrowed.
///
/// Always inlined, so not a `target_feature` function (as [`requant4`]): out of line, the
/// accumulators and the result passed through memory.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
unsafe fn finish_pairs<const R: usize>(
    lo: &[__m256i; R],
    hi: &[__m256i; R],
    requant: &Requant8,
) -> [[i8; NR]; R] {
    // SAFETY: the caller's contract.
    unsafe {
        let sums = pair_totals(lo, hi);
        let mut out = [[0i8; NR]; R];
        let mut r = 0;
        while r + 4 <= R {
            let acc = [sums[r], sums[r + 1], sums[r + 2], sums[r + 3]];
            let bytes = requant4([requant; 4], &acc, 4);
            for (dst, src) in out[r..r + 4].iter_mut().zip(bytes.chunks_exact(NR)) {
                dst.copy_from_slice(src);
            }
            r += 4;
        }
        for (dst, &v) in out[r..].iter_mut().zip(&sums[r..]) {
            *dst = narrow(requant.apply(v));
        }
        out
    }
}

/// Each row's partial-sum pairs (see [`finish_pairs`]) summed into one vector, channels in
/// order.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
unsafe fn pair_totals<const R: usize>(lo: &[__m256i; R], hi: &[__m256i; R]) -> [__m256i; R] {
    // SAFETY: the caller's contract.
    unsafe {
        // A plain loop, not a `from_fn` closure, so that the epilogue inlines (see `ubs_tile`).
        let mut sums = [_mm256_setzero_si256(); R];
        for r in 0..R {
            // [c0 c0 c1 c1 | c2 c2 c3 c3] and [c4 c4 c5 c5 | c6 c6 c7 c7] partial pairs.
            let pairs = _mm256_hadd_epi32(lo[r], hi[r]); // [c0 c1 c4 c5 | c2 c3 c6 c7]
            sums[r] = _mm256_permute4x64_epi64::<0b11_01_10_00>(pairs);
        }
        sums
    }
}

/// One row by `B` blocks of int8 weights: as [`gemm_tile`], each group's 4 inputs widened
/// and broadcast once for all `B` blocks.
#[inline]
#[target_feature(enable = "avx2")]
fn i8_row<const B: usize>(
    row: &[i8],
    w: [&[i8]; B],
    blocks: [&Block<'_>; B],
    q: &Requant<'_>,
) -> [[i8; NR]; B] {
    let groups = w
        .iter()
        .fold(row.len() / KR, |g, w| g.min(w.len() / (NR * KR)));
    let mut lo = [_mm256_setzero_si256(); B];
    let mut hi = [_mm256_setzero_si256(); B];
    for g in 0..groups {
        // SAFETY: `g < groups` bounds the 4-byte read within `row` and the 32-byte reads
        // within each `w[b]`; loadu needs no alignment.
        let x4 = unsafe { row.as_ptr().add(g * KR).cast::<i32>().read_unaligned() };
        let x = _mm256_cvtepi8_epi16(_mm_set1_epi32(x4));
        for b in 0..B {
            // SAFETY: as above.
            let (w_lo, w_hi) = unsafe {
                let wp = w[b].as_ptr().add(g * 32);
                (
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(16).cast())),
                )
            };
            lo[b] = _mm256_add_epi32(lo[b], _mm256_madd_epi16(x, w_lo));
            hi[b] = _mm256_add_epi32(hi[b], _mm256_madd_epi16(x, w_hi));
        }
    }
    let mut out = [[0i8; NR]; B];
    for b in 0..B {
        let sums = _mm256_hadd_epi32(lo[b], hi[b]); // [c0 c1 c4 c5 | c2 c3 c6 c7]
        let acc = _mm256_permute4x64_epi64::<0b11_01_10_00>(sums);
        out[b] = narrow(requant_row(acc, blocks[b], q));
    }
    out
}

/// Groups (or steps) whose int16 pair sums may be added before widening to int32. A pair
/// of uint4 x int8 products, or of int8 x int4-offset-to-`w + 8`, is at most
/// 2 * 15 * 128 = 3840 in magnitude, so 8 stay below 2^15.
const WIDEN_EVERY: usize = 8;
/// As [`WIDEN_EVERY`] for uint4 x int4, whose pairs are at most 2 * 15 * 8 = 240.
const WIDEN_EVERY_U4_I4: usize = 128;

/// Adds the int16 pair sums into the int32 accumulator (one lane per channel) and clears them.
#[inline]
#[target_feature(enable = "avx2")]
fn widen_into(acc32: &mut __m256i, acc16: &mut __m256i) {
    // [c0 c0 c1 c1 ...] int16 pairs -> [c0 c1 ...] int32.
    *acc32 = _mm256_add_epi32(*acc32, _mm256_madd_epi16(*acc16, _mm256_set1_epi16(1)));
    *acc16 = _mm256_setzero_si256();
}

/// GEMM tile with uint4 rows (bytes 0..=15) and int8 weights: `vpmaddubsw` (unsigned x
/// signed, 32 products per instruction) cannot saturate here, unlike int8 x int8.
fn gemm_tile_u4_i8<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
    unsafe { gemm_tile_u4_i8_avx2::<R>(a, w, block, q, pack) }
}

#[target_feature(enable = "avx2")]
fn gemm_tile_u4_i8_avx2<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    let wp = w.as_ptr();
    // SAFETY: `ubs_tile` asks only for groups below `w.len() / 32`, 32 bytes each in `w`.
    let weights = |g: usize| unsafe { _mm256_loadu_si256(wp.add(g * 32).cast()) };
    let groups = w.len() / (NR * KR);
    ubs_tile::<R, false>(a, groups, WIDEN_EVERY, weights, &[0; R], block, q, pack)
}

/// The `vpmaddubsw` tile shared by the 4-bit kernels: `weights(g)` gives group `g`'s 32
/// weights. Rows are uint4 bytes times signed weights, or (`OFFSET_WEIGHTS`) int8 rows times
/// weights offset to unsigned `w + 8`, whose extra `8 * sum(x)` per row `row_sums` takes back
/// out. int16 pair sums widen to int32 every `widen_every` groups.
#[inline]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn ubs_tile<const R: usize, const OFFSET_WEIGHTS: bool>(
    a: [&[i8]; R],
    groups: usize,
    widen_every: usize,
    weights: impl Fn(usize) -> __m256i,
    row_sums: &[i32; R],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    let groups = a.iter().fold(groups, |g, row| g.min(row.len() / KR));
    let mut acc16 = [_mm256_setzero_si256(); R];
    let mut acc32 = [_mm256_setzero_si256(); R];
    // Runs of `widen_every` groups, widened after each: no per-group test in the loop.
    let mut start = 0;
    while start < groups {
        let end = groups.min(start + widen_every);
        for g in start..end {
            let wv = weights(g);
            for r in 0..R {
                // SAFETY: `g < groups` bounds the 4-byte read within each row.
                let x4 = unsafe { a[r].as_ptr().add(g * KR).cast::<i32>().read_unaligned() };
                let x = _mm256_set1_epi32(x4);
                let p = if OFFSET_WEIGHTS {
                    _mm256_maddubs_epi16(wv, x)
                } else {
                    _mm256_maddubs_epi16(x, wv)
                };
                acc16[r] = _mm256_add_epi16(acc16[r], p);
            }
        }
        for r in 0..R {
            widen_into(&mut acc32[r], &mut acc16[r]);
        }
        start = end;
    }
    finish_tile(acc32, OFFSET_WEIGHTS.then_some(row_sums), block, q, pack)
}

/// The epilogue of a 4-bit tile: `R` rows of int32 accumulators (lane `c` channel `c`), less
/// `8 * row_sums[r]` where the weights were offset to `w + 8`, requantized, and packed to
/// uint4 in registers when `pack` (and `R` is 4).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn finish_tile<const R: usize>(
    mut acc32: [__m256i; R],
    offset_row_sums: Option<&[i32; R]>,
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    if let Some(row_sums) = offset_row_sums {
        for r in 0..R {
            let offset = _mm256_set1_epi32(row_sums[r].wrapping_mul(8));
            acc32[r] = _mm256_sub_epi32(acc32[r], offset);
        }
    }
    let requant = Requant8::new(block, q);
    if pack && R == 4 {
        // Four rows of 8 uint4 values: one pack into 16 bytes, 4 per row.
        let mut lanes = [_mm256_setzero_si256(); 4];
        for r in 0..R {
            lanes[r] = requant.apply(acc32[r]);
        }
        // Rows as 32-bit words, in registers: through a stack array, the rows' loads waited
        // on the one 16-byte store.
        let packed = pack_u4_32(lanes);
        let mut words = [0u32; R];
        words[0] = _mm_cvtsi128_si32(packed) as u32;
        words[1] = _mm_extract_epi32::<1>(packed) as u32;
        words[2] = _mm_extract_epi32::<2>(packed) as u32;
        words[3] = _mm_extract_epi32::<3>(packed) as u32;
        return TileOut::PackedU4(words);
    }
    // A plain loop: as a `from_fn` closure this epilogue was not inlined (a call per row).
    let mut out = [[0i8; NR]; R];
    for r in 0..R {
        out[r] = narrow(requant.apply(acc32[r]));
    }
    TileOut::Values(out)
}

/// GEMM tile with int4 weights (16 bytes per group, see `kernels::int4`), unpacked in
/// registers: one shift and one mask split a group into its two halves.
///
/// uint4 rows (`SIGNED_ROWS = false`) multiply the weights sign-extended by a table lookup.
/// int8 rows cannot be `vpmaddubsw`'s unsigned operand, so the weights are: `nibble ^ 8` is
/// `w + 8` in `0..=15`, and `row_sums[r]` (the sum of row `r`'s `kp` values) takes the extra
/// `8 * sum(x)` back out. A single row goes through [`i4_row`].
fn gemm_tile_i4<const R: usize, const SIGNED_ROWS: bool>(
    a: [&[i8]; R],
    w: &[u8],
    row_sums: &[i32; R],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    if R == 1 {
        // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
        let [row] = unsafe { i4_row::<1, SIGNED_ROWS>(a[0], [w], row_sums[0], [block], q) };
        return TileOut::Values([row; R]);
    }
    // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
    unsafe { gemm_tile_i4_avx2::<R, SIGNED_ROWS>(a, w, row_sums, block, q, pack) }
}

/// One packed group of 32 int4 weights (16 bytes) as 32 bytes in the int8 group order, the
/// nibbles split by a shift and a mask: offset to unsigned `w + 8` (`nibble ^ 8`, 0..=15) when
/// `OFFSET`, else sign-extended.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn i4_group<const OFFSET: bool>(packed: __m128i) -> __m256i {
    let packed = if OFFSET {
        _mm_xor_si128(packed, _mm_set1_epi8(0x88u8 as i8))
    } else {
        packed
    };
    let low4 = _mm256_set1_epi8(0x0F);
    let halves = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(packed), packed), low4);
    if OFFSET {
        halves
    } else {
        _mm256_shuffle_epi8(i4_sign_table(), halves)
    }
}

/// Nibble to int8 through `vpshufb`: 0..7 stay, 8..15 become -8..-1 (in both 128-bit lanes).
#[inline]
#[target_feature(enable = "avx2")]
fn i4_sign_table() -> __m256i {
    _mm256_setr_epi8(
        0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6,
        -5, -4, -3, -2, -1,
    )
}

#[target_feature(enable = "avx2")]
fn gemm_tile_i4_avx2<const R: usize, const SIGNED_ROWS: bool>(
    a: [&[i8]; R],
    w: &[u8],
    row_sums: &[i32; R],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    let wp = w.as_ptr();
    let weights = |g: usize| {
        // SAFETY: `ubs_tile` asks only for groups below `w.len() / 16`.
        i4_group::<SIGNED_ROWS>(unsafe { _mm_loadu_si128(wp.add(g * 16).cast()) })
    };
    let widen_every = if SIGNED_ROWS {
        WIDEN_EVERY
    } else {
        WIDEN_EVERY_U4_I4
    };
    ubs_tile::<R, SIGNED_ROWS>(
        a,
        w.len() / 16,
        widen_every,
        weights,
        row_sums,
        block,
        q,
        pack,
    )
}

/// One row by `B` blocks of int4 weights (`w[b]` and `blocks[b]` for block `b`), two groups
/// per step: 32 packed bytes hold groups `g` (low 128-bit lane) and `g + 1` (high lane);
/// their low nibbles are channels 0-3 and their high nibbles channels 4-7, each lane against
/// its own group's 4 inputs, spread once per step for all `B` blocks. The weights are offset
/// to `w + 8` (`nibble ^ 8`) for uint4 and int8 rows alike, and `8 * row_sum` comes back out
/// at the end, after the two lanes are added.
#[inline]
#[target_feature(enable = "avx2")]
fn i4_row<const B: usize, const SIGNED_ROWS: bool>(
    row: &[i8],
    w: [&[u8]; B],
    row_sum: i32,
    blocks: [&Block<'_>; B],
    q: &Requant<'_>,
) -> [[i8; NR]; B] {
    // A step adds one pair sum to each int16 lane: at most 2 * 15 * 128 = 3840 for int8
    // rows, 2 * 15 * 15 = 450 for uint4 rows (64 * 450 < 2^15).
    let steps_per_widen = if SIGNED_ROWS { WIDEN_EVERY } else { 64 };
    let groups = w.iter().fold(row.len() / KR, |g, w| g.min(w.len() / 16));
    let low4 = _mm256_set1_epi8(0x0F);
    let offset = _mm256_set1_epi8(0x88u8 as i8);
    // Lane 0 broadcasts input dword 0 (group g), lane 1 dword 1 (group g + 1).
    let spread = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    let xp = row.as_ptr();
    let step = |wv: __m256i, x: __m256i, acc_lo: &mut __m256i, acc_hi: &mut __m256i| {
        let wv = _mm256_xor_si256(wv, offset);
        let lo = _mm256_and_si256(wv, low4);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(wv), low4);
        *acc_lo = _mm256_add_epi16(*acc_lo, _mm256_maddubs_epi16(lo, x));
        *acc_hi = _mm256_add_epi16(*acc_hi, _mm256_maddubs_epi16(hi, x));
    };
    let zero = _mm256_setzero_si256();
    let (mut lo16, mut hi16, mut lo32, mut hi32) = ([zero; B], [zero; B], [zero; B], [zero; B]);
    let pairs = groups / 2;
    let mut start = 0;
    while start < pairs {
        let end = pairs.min(start + steps_per_widen);
        for p in start..end {
            // SAFETY: `2p + 1 < groups`: 8 bytes of `row` and 32 of each `w[b]` are in bounds.
            let x = unsafe { _mm256_castsi128_si256(_mm_loadl_epi64(xp.add(p * 8).cast())) };
            let x = _mm256_permutevar8x32_epi32(x, spread);
            for b in 0..B {
                // SAFETY: as above.
                let wv = unsafe { _mm256_loadu_si256(w[b].as_ptr().add(p * 32).cast()) };
                step(wv, x, &mut lo16[b], &mut hi16[b]);
            }
        }
        for b in 0..B {
            widen_into(&mut lo32[b], &mut lo16[b]);
            widen_into(&mut hi32[b], &mut hi16[b]);
        }
        start = end;
    }
    if groups % 2 == 1 {
        let g = groups - 1;
        // SAFETY: `g < groups`: 4 bytes of `row` and 16 of each `w[b]` are in bounds. The high
        // lane of the weights is zero, offset to 8s, times zero inputs.
        let x = unsafe { _mm_cvtsi32_si128(xp.add(g * KR).cast::<i32>().read_unaligned()) };
        let x = _mm256_permutevar8x32_epi32(_mm256_zextsi128_si256(x), spread);
        for b in 0..B {
            // SAFETY: as above.
            let wv = unsafe { _mm_loadu_si128(w[b].as_ptr().add(g * 16).cast()) };
            step(_mm256_zextsi128_si256(wv), x, &mut lo16[b], &mut hi16[b]);
            widen_into(&mut lo32[b], &mut lo16[b]);
            widen_into(&mut hi32[b], &mut hi16[b]);
        }
    }
    let mut out = [[0i8; NR]; B];
    for b in 0..B {
        // [lo: g-lane c0-3 | g+1-lane c0-3] + the same for c4-7 -> [c0-3 | c4-7].
        let acc = _mm256_add_epi32(
            _mm256_permute2x128_si256::<0x20>(lo32[b], hi32[b]),
            _mm256_permute2x128_si256::<0x31>(lo32[b], hi32[b]),
        );
        let acc = _mm256_sub_epi32(acc, _mm256_set1_epi32(row_sum.wrapping_mul(8)));
        out[b] = narrow(requant_row(acc, blocks[b], q));
    }
    out
}

/// One row (`kp` values, summing to `row_sum`) by every whole block of `w`, written to `out`
/// (its length says how many blocks): the micro-kernels of one row, several blocks at a time
/// sharing the inputs' unpacking (4 for int4 weights, 2 for int8: 4 measured slower there,
/// 7.3 -> 7.7-8.5 us on the autoencoder), in one call. Returns the number of blocks done: all
/// of them (as the tables cover them), or 0 for uint4 rows by int8 weights, which have no row
/// kernel.
fn gemm_row(
    row: &[i8],
    w: Weights<'_>,
    rows_u4: bool,
    row_sum: i32,
    q: &Requant<'_>,
    mut out: RowOut<'_>,
) -> usize {
    let kp = row.len();
    let blocks = match &out {
        RowOut::I8(d) => d.len() / NR,
        RowOut::PackedU4(d) => d.len() * 2 / NR,
    };
    // The int4 block of channels n0..n0 + 8.
    fn i4(w: &[u8], kp: usize, n0: usize) -> &[u8] {
        &w[n0 * kp / 2..][..NR * kp / 2]
    }
    // Four int4 blocks per step, then one. A macro, not a helper function: as a function
    // (inlined or not) the autoencoder's 4-bit layers measured 3-5 % slower.
    macro_rules! i4_blocks {
        ($w:expr, $signed_rows:literal) => {{
            let done = each_block::<4>(q, &mut out, 0..blocks / 4 * 4, |n0, b| {
                let w = core::array::from_fn(|k| i4($w, kp, n0 + k * NR));
                i4_row::<4, $signed_rows>(row, w, row_sum, b, q)
            });
            done + each_block::<1>(q, &mut out, done..blocks, |n0, b| {
                i4_row::<1, $signed_rows>(row, [i4($w, kp, n0)], row_sum, b, q)
            })
        }};
    }
    // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
    unsafe {
        match (w, rows_u4) {
            (Weights::I4(w), false) => i4_blocks!(w, true),
            (Weights::I4(w), true) => i4_blocks!(w, false),
            (Weights::I8(w), false) => {
                let i8 = |n0: usize| &w[n0 * kp..][..NR * kp];
                let done = each_block::<4>(q, &mut out, 0..blocks / 4 * 4, |n0, b| {
                    let w = core::array::from_fn(|k| i8(n0 + k * NR));
                    i8_row::<4>(row, w, b, q)
                });
                done + each_block::<1>(q, &mut out, done..blocks, |n0, b| {
                    i8_row::<1>(row, [i8(n0)], b, q)
                })
            }
            // uint4 rows by int8 weights (W8A4) keep the per-block path.
            (Weights::I8(_), true) => 0,
        }
    }
}

/// Calls `kernel(n0, blocks)` for the blocks `range` of `out`, `B` at a time (the range's
/// length a multiple of `B`), `n0` the first channel, and stores the values. Returns how many
/// blocks it did: stops early if the tables do not cover a block.
#[inline]
#[target_feature(enable = "avx2")]
fn each_block<const B: usize>(
    q: &Requant<'_>,
    out: &mut RowOut<'_>,
    range: core::ops::Range<usize>,
    kernel: impl Fn(usize, [&Block<'_>; B]) -> [[i8; NR]; B],
) -> usize {
    let mut b0 = range.start;
    while b0 + B <= range.end {
        let mut tables = [Block::ZERO; B];
        for (b, t) in tables.iter_mut().enumerate() {
            match whole_block(q, (b0 + b) * NR) {
                Some(block) => *t = block,
                None => return b0 - range.start,
            }
        }
        let results = kernel(b0 * NR, core::array::from_fn(|b| &tables[b]));
        for (b, values) in results.iter().enumerate() {
            let n0 = (b0 + b) * NR;
            match out {
                RowOut::I8(d) => d[n0..][..NR].copy_from_slice(values),
                RowOut::PackedU4(d) => {
                    // uint4 values in bytes: byte 2i | byte 2i+1 << 4 lands in byte 2i.
                    let v = u64::from_le_bytes(values.map(|x| x as u8));
                    let pairs = v | (v >> 4);
                    let packed = [0, 16, 32, 48].map(|s| (pairs >> s) as u8);
                    d[n0 / 2..][..NR / 2].copy_from_slice(&packed);
                }
            }
        }
        b0 += B;
    }
    b0 - range.start
}

/// The im2col row of output pixel `m` of conv `g` over int8 `input`, built in registers with
/// `small`'s masks and stored in pieces of 16, 8 and 4 bytes, so that each of the kernel's
/// 4-byte reads lies in one store. Returns false, writing nothing, for pixels whose window is
/// not wholly inside the input or whose 16-byte loads would pass its end.
fn gather_small(
    small: &SmallGather,
    g: &ConvGeometry,
    input: &[i8],
    m: usize,
    row: &mut [i8],
) -> bool {
    // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
    unsafe { gather_small_avx2(small, g, input, m, row) }
}

#[target_feature(enable = "avx2")]
fn gather_small_avx2(
    small: &SmallGather,
    g: &ConvGeometry,
    input: &[i8],
    m: usize,
    row: &mut [i8],
) -> bool {
    let pixels = g.out_h * g.out_w;
    let (b, oy, ox) = (m / pixels, (m % pixels) / g.out_w, m % g.out_w);
    // Out-of-range coordinates wrapped to huge values, so one compare each.
    let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
    let x0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
    let last_y = iy0.wrapping_add((g.kernel_h - 1) * g.dilation_h);
    let inside = iy0 < g.in_h && last_y < g.in_h && x0 < g.in_w && x0 + g.kernel_w <= g.in_w;
    let start = |ky: usize| ((b * g.in_h + iy0 + ky * g.dilation_h) * g.in_w + x0) * g.in_c;
    if !inside
        || start(g.kernel_h - 1) + 16 > input.len()
        || row.len() > 32
        || !row.len().is_multiple_of(4)
    {
        return false;
    }
    // SAFETY: each kernel row's 16-byte load starts at or before the last one, which ends
    // inside `input` (checked above).
    let [lo, hi] = unsafe { small_row(small, input.as_ptr(), start) };
    let (first, second) = row.split_at_mut(row.len().min(16));
    store_groups(lo, first);
    store_groups(hi, second);
    true
}

/// The im2col row of [`SmallGather`]'s convolution whose kernel row `ky` starts at
/// `input.add(start(ky))`, as its bytes 0-15 and 16-31 (zeros past the row).
///
/// # Safety
/// 16 bytes from each kernel row's start are readable.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn small_row(
    small: &SmallGather,
    input: *const i8,
    start: impl Fn(usize) -> usize,
) -> [__m128i; 2] {
    let (mut lo, mut hi) = (_mm_setzero_si128(), _mm_setzero_si128());
    for (ky, [mask_lo, mask_hi]) in small.masks.iter().enumerate().take(small.kernel_h) {
        // SAFETY: the caller's contract; the masks are 16 bytes.
        let (v, mask_lo, mask_hi) = unsafe {
            (
                _mm_loadu_si128(input.add(start(ky)).cast()),
                _mm_loadu_si128(mask_lo.as_ptr().cast()),
                _mm_loadu_si128(mask_hi.as_ptr().cast()),
            )
        };
        lo = _mm_or_si128(lo, _mm_shuffle_epi8(v, mask_lo));
        hi = _mm_or_si128(hi, _mm_shuffle_epi8(v, mask_hi));
    }
    [lo, hi]
}

/// Stores the first `dst.len()` (0, 4, 8, 12 or 16) bytes of `v` in one 16-byte store, or in
/// 8- and 4-byte stores.
#[inline]
#[target_feature(enable = "avx2")]
fn store_groups(v: __m128i, dst: &mut [i8]) {
    let p = dst.as_mut_ptr();
    // SAFETY: each store writes within `dst` (its length is checked before each).
    unsafe {
        if dst.len() >= 16 {
            _mm_storeu_si128(p.cast(), v);
            return;
        }
        let mut v = v;
        let mut at = 0;
        if dst.len() >= 8 {
            _mm_storel_epi64(p.cast(), v);
            v = _mm_srli_si128::<8>(v);
            at = 8;
        }
        if dst.len() >= at + 4 {
            p.add(at)
                .cast::<i32>()
                .write_unaligned(_mm_cvtsi128_si32(v));
        }
    }
}

/// uint4 x int4 depthwise convolution: the windowed int8 kernel (`depthwise::windowed_u4`),
/// its inputs unpacked as the windows fill and its outputs packed as they are stored.
fn depthwise_u4(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[u8],
    filter: &[u8],
    output: &mut ValuesMut<'_>,
) -> bool {
    // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
    unsafe { super::depthwise::windowed_u4(g, q, input, filter, output) }
}

/// Element-wise int8 ADD, 8 elements per step (the scalar kernel does the tail).
fn add(p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) -> usize {
    // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
    unsafe { add_avx2(p, a, b, output) }
}

/// uint4 ADD from per-level thresholds (`elementwise::AddU4Levels`), 32 bytes (64 elements)
/// per step: an output is the number of levels `v` whose threshold for its `a` (one `vpshufb`
/// looks up 32) its `b` reaches. Returns how many bytes it wrote.
fn add_u4(levels: &AddU4Levels, a: &[u8], b: &[u8], output: &mut [u8]) -> usize {
    // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`).
    unsafe {
        add_u4_avx2(
            &levels.thresholds[..levels.active],
            levels.top as i8,
            a,
            b,
            output,
        )
    }
}

#[target_feature(enable = "avx2")]
fn add_u4_avx2(levels: &[[u8; 16]], top: i8, a: &[u8], b: &[u8], output: &mut [u8]) -> usize {
    let n = a.len().min(b.len()).min(output.len()) / 32 * 32;
    let low4 = _mm256_set1_epi8(0x0F);
    let mut tables = [_mm256_setzero_si256(); 15];
    for (t, level) in tables.iter_mut().zip(levels) {
        // SAFETY: `level` is 16 readable bytes; loadu needs no alignment.
        *t = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(level.as_ptr().cast()) });
    }
    let tables = &tables[..levels.len()];
    let top = _mm256_set1_epi8(top);
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 32 <= n` bytes of `a`, `b` and `output`; loadu/storeu need no alignment.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(i).cast()),
                _mm256_loadu_si256(b.as_ptr().add(i).cast()),
            )
        };
        let halves = |v: __m256i| {
            (
                _mm256_and_si256(v, low4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(v), low4),
            )
        };
        let ((x_lo, x_hi), (y_lo, y_hi)) = (halves(x), halves(y));
        // Start at the level count and take one off per level not reached (threshold > b).
        let (mut lo, mut hi) = (top, top);
        for &t in tables {
            lo = _mm256_add_epi8(lo, _mm256_cmpgt_epi8(_mm256_shuffle_epi8(t, x_lo), y_lo));
            hi = _mm256_add_epi8(hi, _mm256_cmpgt_epi8(_mm256_shuffle_epi8(t, x_hi), y_hi));
        }
        // `hi` is at most 15, so shifting its 16-bit lanes moves no bits across bytes.
        let packed = _mm256_or_si256(lo, _mm256_slli_epi16::<4>(hi));
        // SAFETY: as above.
        unsafe { _mm256_storeu_si256(output.as_mut_ptr().add(i).cast(), packed) };
        i += 32;
    }
    n
}

/// Returns how many leading elements it wrote (a multiple of 8).
#[target_feature(enable = "avx2")]
fn add_avx2(p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) -> usize {
    let n = a.len().min(b.len()).min(output.len()) / 8 * 8;
    let left = _mm256_set1_epi32(p.left_shift);
    let (zp1, zp2) = (
        _mm256_set1_epi32(p.input1_zero_point),
        _mm256_set1_epi32(p.input2_zero_point),
    );
    let (lo, hi) = (
        _mm256_set1_epi32(p.act_min - p.output_zero_point),
        _mm256_set1_epi32(p.act_max - p.output_zero_point),
    );
    let zp_out = _mm256_set1_epi32(p.output_zero_point);
    let load = |s: &[i8], i: usize| {
        // SAFETY: `i + 8 <= n <= s.len()`.
        _mm256_cvtepi8_epi32(unsafe { _mm_loadl_epi64(s.as_ptr().add(i).cast()) })
    };
    // `MultiplyByQuantizedMultiplier` (double rounding) by one multiplier and shift.
    let scaling = |multiplier: i32, shift: i32| {
        let multiplier = _mm256_set1_epi32(multiplier);
        let scaling = Scaling::new(_mm256_set1_epi32(shift), Rounding::Double);
        move |x| scaling.apply(x, [multiplier; 2], lo, hi)
    };
    let scale1 = scaling(p.input1_multiplier, p.input1_shift);
    let scale2 = scaling(p.input2_multiplier, p.input2_shift);
    let scale_out = scaling(p.output_multiplier, p.output_shift);
    for i in (0..n).step_by(8) {
        let x = _mm256_sllv_epi32(_mm256_sub_epi32(load(a, i), zp1), left);
        let y = _mm256_sllv_epi32(_mm256_sub_epi32(load(b, i), zp2), left);
        let sum = _mm256_add_epi32(scale1(x), scale2(y));
        let sum = scale_out(sum);
        let clamped = _mm256_min_epi32(_mm256_max_epi32(sum, lo), hi);
        let bytes = narrow(_mm256_add_epi32(clamped, zp_out));
        output[i..i + 8].copy_from_slice(&bytes);
    }
    n
}
