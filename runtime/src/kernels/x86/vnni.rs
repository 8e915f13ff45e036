//! AVX-512 VNNI kernels: `vpdpbusd` on 256-bit registers (AVX512VL), 32 multiply-adds per
//! instruction into int32 lanes, where AVX2's `vpmaddwd` does 16.
//!
//! The packed GEMM group (8 channels x 4 reduction steps, 32 bytes) is exactly one
//! `vpdpbusd` operand: dword lane `c` holds channel `c`'s 4 weights, so each lane's sum is
//! that channel's partial dot product and no reduction across lanes is left at the end.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes. Inputs are int8 (and may be -128); weights
//! are int8 too. The weights are made unsigned on the fly, `w ^ 0x80 = w + 128`, and each row's
//! extra `128 * sum(x)` is taken back out once per row: the row sums cost one pass over the
//! rows per tile, shared by every block of channels. With at most 65,536 reduction steps
//! (checked at load) `|sum((w + 128) * x)| <= 65536 * 255 * 128 < 2^31`, and the correction
//! is exact in wrapping int32 arithmetic anyway, since the true result fits.
//!
//! uint4 rows (values 0..=15) are already unsigned and need no correction.

use core::arch::x86_64::*;

use super::avx2::{finish_tile, i4_group, KERNELS as AVX2};
use crate::format::AddParams;
use crate::kernels::gemm::{block_tables, whole_block, Block, TileOut, KR, MR, NR};
use crate::kernels::table::{GemmKernels, Kernels, SummedI4, TileKernels};
use crate::kernels::Requant;
use crate::quant::Rounding;

/// The AVX-512 VNNI tier: AVX2's table with the GEMMs, convolutions, int8 depthwise and ADD on
/// `vpdpbusd`/`vpdpwssd` and 512-bit registers.
pub(crate) static KERNELS: Kernels = Kernels {
    name: c"avx512-vnni",
    peak_macs_per_cycle: 64,
    available: has_avx512_vnni,
    gemm: GemmKernels {
        in_place: Some(super::igemm::gemm_in_place),
        // uint4 convolutions keep this tier's tiles (AVX2's `conv_u4` is not measured here).
        conv_u4: None,
        one: TileKernels {
            all_blocks: Some(gemm_rows::<1>),
            i4_summed: Some(SummedI4 {
                signed_rows: gemm_tile_i4::<1, true>,
                u4_rows: gemm_tile_i4::<1, false>,
            }),
            ..AVX2.gemm.one
        },
        mr: TileKernels {
            all_blocks: Some(gemm_rows::<MR>),
            i4_summed: Some(SummedI4 {
                signed_rows: gemm_tile_i4::<MR, true>,
                u4_rows: gemm_tile_i4::<MR, false>,
            }),
            ..AVX2.gemm.mr
        },
        ..AVX2.gemm
    },
    depthwise: super::depthwise::depthwise_conv2d::<true>,
    add: Some(add),
    ..AVX2
};

/// Whether the CPU has AVX2 and AVX-512 F/BW/VL/VNNI (at compile time, or detected with
/// `std`).
#[allow(unreachable_code)]
fn has_avx512_vnni() -> bool {
    if !super::avx2::has_avx2() {
        return false;
    }
    #[cfg(all(
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512vl",
        target_feature = "avx512vnni"
    ))]
    return true;
    #[cfg(feature = "std")]
    return std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni");
    false
}

/// Blocks of 8 channels a 4-row tile computes per pass (8 accumulators), and a single row
/// (8 too: fewer left the single-row loop waiting on `vpdpbusd`'s latency).
const TILE_BLOCKS: usize = 2;
const ROW_BLOCKS: usize = 8;

/// `vpdpbusd` on 256-bit registers (unsigned bytes of `u` times signed bytes of `s`, four
/// products summed into each int32 lane of `acc`), in the encoding of a tier: EVEX here,
/// VEX on the AVX-VNNI tier. The dot-product loops below are generic over it and
/// `#[inline(always)]`, so each tier's `#[target_feature]` function compiles them with its
/// own instruction. They use plain loops, no closures: a closure inside a function without
/// `#[target_feature]` has none either, and the intrinsics in it would not be inlined.
pub(super) trait Dpbusd {
    /// # Safety
    /// The CPU has the encoding's instruction set.
    unsafe fn dpbusd(acc: __m256i, u: __m256i, s: __m256i) -> __m256i;
}

/// The AVX-512 VNNI (AVX512VL) encoding.
struct Evex;

impl Dpbusd for Evex {
    #[inline(always)]
    unsafe fn dpbusd(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        // SAFETY: the caller's CPU has AVX-512 VNNI and VL.
        unsafe { _mm256_dpbusd_epi32(acc, u, s) }
    }
}

/// `R` rows of `a` (each `kp = a[r].len()` values, a multiple of 4) by every block of the
/// packed int8 weights `w` (`[ceil(outputs/8), kp/4, 8, 4]`), requantized by `q` into `out`,
/// whose row `r` starts at `out[r * outputs]`. `rows_u4`: the rows hold uint4 values. Takes
/// every row (returns `true`).
fn gemm_rows<const R: usize>(
    a: [&[i8]; R],
    rows_u4: bool,
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) -> bool {
    // SAFETY: reached only through the AVX-512 VNNI table (see `Isa::kernels`).
    unsafe {
        match (R, rows_u4) {
            (1, false) => gemm_rows_vnni::<R, ROW_BLOCKS, true>(a, w, outputs, q, out),
            (1, true) => gemm_rows_vnni::<R, ROW_BLOCKS, false>(a, w, outputs, q, out),
            (_, false) => gemm_rows_vnni::<R, TILE_BLOCKS, true>(a, w, outputs, q, out),
            (_, true) => gemm_rows_vnni::<R, TILE_BLOCKS, false>(a, w, outputs, q, out),
        }
    }
    true
}

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm_rows_vnni<const R: usize, const B: usize, const SIGNED_ROWS: bool>(
    a: [&[i8]; R],
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) {
    if out.len() < R * outputs {
        return;
    }
    let store = |acc: &[[__m256i; R]], nb: usize, correction: &[__m256i; R]| {
        if R == 1 {
            // One row: two blocks per 512-bit requantization, not one block and a blank half.
            let mut pairs = acc.chunks_exact(2);
            for (b, pair) in (&mut pairs).enumerate() {
                let (lower, upper) = (pair[0][0], pair[1][0]);
                store_row_pair(lower, upper, correction[0], nb + 2 * b, outputs, q, out);
            }
            if let [last] = pairs.remainder() {
                store_block::<R>(last, correction, nb + acc.len() - 1, outputs, q, out);
            }
        } else {
            for (b, acc) in acc.iter().enumerate() {
                store_block::<R>(acc, correction, nb + b, outputs, q, out);
            }
        }
    };
    // SAFETY: this function's target features include AVX2 and AVX-512 VNNI.
    unsafe { block_passes::<Evex, R, B, SIGNED_ROWS>(&a, w, outputs, store) };
}

/// The loop of the tiers' `gemm_rows`: `R` rows of `a` (int8 values, or uint4 values if not
/// `SIGNED_ROWS`) by every block of the packed int8 weights `w` (`[ceil(outputs/8), kp/4,
/// 8, 4]`, `kp` the rows' shortest length rounded down to 4), `B` blocks per pass, then one
/// at a time. `store(acc, nb, correction)` takes each pass's raw dot products (`acc[b]` for
/// block `nb + b`) and each row's correction of the offset weights, to add before
/// requantizing (`-128 * sum(x)`; zero for uint4 rows).
///
/// # Safety
/// The CPU has AVX2 and `D`'s instruction set.
#[inline(always)]
pub(super) unsafe fn block_passes<
    D: Dpbusd,
    const R: usize,
    const B: usize,
    const SIGNED_ROWS: bool,
>(
    a: &[&[i8]; R],
    w: &[i8],
    outputs: usize,
    mut store: impl FnMut(&[[__m256i; R]], usize, &[__m256i; R]),
) {
    // SAFETY: the caller's CPU has AVX2 and `D`'s instruction set.
    unsafe {
        let mut kp = usize::MAX;
        for row in a {
            kp = kp.min(row.len() / KR * KR);
        }
        let block_bytes = kp * NR;
        // (Validation makes the depth at least 1; `checked_div` keeps a zero from panicking.)
        let in_w = w.len().checked_div(block_bytes).unwrap_or(usize::MAX);
        let blocks = outputs.div_ceil(NR).min(in_w);
        let mut correction = [_mm256_setzero_si256(); R];
        if SIGNED_ROWS {
            for r in 0..R {
                let sum = row_sum::<D>(&a[r][..kp]);
                correction[r] = _mm256_set1_epi32(sum.wrapping_mul(-128));
            }
        }
        let mut nb = 0;
        while nb + B <= blocks {
            let mut passed: [&[i8]; B] = [&[]; B];
            for b in 0..B {
                passed[b] = &w[(nb + b) * block_bytes..][..block_bytes];
            }
            let acc = dot_blocks::<D, R, B, SIGNED_ROWS>(a, passed, kp);
            store(&acc, nb, &correction);
            nb += B;
        }
        while nb < blocks {
            let block = &w[nb * block_bytes..][..block_bytes];
            let acc = dot_blocks::<D, R, 1, SIGNED_ROWS>(a, [block], kp);
            store(&acc, nb, &correction);
            nb += 1;
        }
    }
}

/// Raw int32 dot products of `R` rows with `B` weight blocks: `acc[b][r]`, lane `c` for
/// channel `c` of block `b`. With `SIGNED_ROWS` the weights are offset by 128 (see above).
///
/// # Safety
/// The CPU has AVX2 and `D`'s instruction set.
#[inline(always)]
unsafe fn dot_blocks<D: Dpbusd, const R: usize, const B: usize, const SIGNED_ROWS: bool>(
    a: &[&[i8]; R],
    w: [&[i8]; B],
    kp: usize,
) -> [[__m256i; R]; B] {
    // SAFETY: the caller's CPU has AVX2 and `D`'s instruction set; every read is bounded
    // where it is made.
    unsafe {
        let mut groups = kp / KR;
        for w in &w {
            groups = groups.min(w.len() / (NR * KR));
        }
        let mut acc = [[_mm256_setzero_si256(); R]; B];
        let offset = _mm256_set1_epi8(0x80u8 as i8);
        for g in 0..groups {
            let mut wv = [_mm256_setzero_si256(); B];
            for b in 0..B {
                // `g < groups` bounds the 32-byte read within `w[b]`.
                let v = _mm256_loadu_si256(w[b].as_ptr().add(g * NR * KR).cast());
                wv[b] = if SIGNED_ROWS {
                    _mm256_xor_si256(v, offset)
                } else {
                    v
                };
            }
            for r in 0..R {
                // `g < groups <= kp / 4` bounds the 4-byte read within `a[r]`.
                let x4 = a[r].as_ptr().add(g * KR).cast::<i32>().read_unaligned();
                let x = _mm256_set1_epi32(x4);
                for b in 0..B {
                    acc[b][r] = if SIGNED_ROWS {
                        // (w + 128) unsigned times x signed.
                        D::dpbusd(acc[b][r], wv[b], x)
                    } else {
                        // x unsigned (uint4) times w signed.
                        D::dpbusd(acc[b][r], x, wv[b])
                    };
                }
            }
        }
        acc
    }
}

/// Requantizes the `R` accumulators of block `nb` (corrected by `correction`) and writes
/// its `min(8, outputs - 8 nb)` channels of each row.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn store_block<const R: usize>(
    acc: &[__m256i; R],
    correction: &[__m256i; R],
    nb: usize,
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) {
    let n0 = nb * NR;
    let nr = NR.min(outputs - n0);
    let copies;
    let block = block_tables!(q, n0, nr, copies);
    let requant = Requant16::new(&block, &block, q);
    // Two rows per 512-bit requantization: rows `r` and `r + 1` in the low and high halves.
    for r in (0..R).step_by(2) {
        let upper = if r + 1 < R {
            acc[r + 1]
        } else {
            _mm256_setzero_si256()
        };
        let upper = _mm256_add_epi32(upper, correction[(r + 1).min(R - 1)]);
        let lower = _mm256_add_epi32(acc[r], correction[r]);
        let both = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lower), upper);
        // The saturating narrow finishes the clamp (see `Requant16::apply`).
        let bytes = _mm512_cvtsepi32_epi8(requant.apply(both));
        let halves = [_mm_cvtsi128_si64(bytes), _mm_extract_epi64::<1>(bytes)];
        for (h, half) in halves.iter().enumerate().take(R - r) {
            let dst = &mut out[(r + h) * outputs + n0..][..nr];
            let all = half.to_le_bytes();
            if nr == NR {
                // SAFETY: `dst` holds 8 bytes; the write is unaligned.
                unsafe { dst.as_mut_ptr().cast::<i64>().write_unaligned(*half) };
            } else {
                for (d, &v) in dst.iter_mut().zip(&all) {
                    *d = v as i8;
                }
            }
        }
    }
}

/// Requantizes one row's accumulators of blocks `nb` and `nb + 1` (both exist; the second
/// may be the last, partial block), corrected by `correction`, and writes their channels.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn store_row_pair(
    lower: __m256i,
    upper: __m256i,
    correction: __m256i,
    nb: usize,
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) {
    let n0 = nb * NR;
    let (copies_lower, copies_upper);
    let requant = Requant16::new(
        &block_tables!(q, n0, NR.min(outputs - n0), copies_lower),
        &block_tables!(q, n0 + NR, NR.min(outputs - n0 - NR), copies_upper),
        q,
    );
    let both = _mm512_inserti64x4::<1>(
        _mm512_castsi256_si512(_mm256_add_epi32(lower, correction)),
        _mm256_add_epi32(upper, correction),
    );
    // The saturating narrow finishes the clamp (see `Requant16::apply`).
    let bytes = _mm512_cvtsepi32_epi8(requant.apply(both));
    let count = (2 * NR).min(outputs - n0);
    let mut lanes = [0i8; 2 * NR];
    // SAFETY: `lanes` is 16 writable bytes; storeu has no alignment need.
    unsafe { _mm_storeu_si128(lanes.as_mut_ptr().cast(), bytes) };
    if let Some(dst) = out.get_mut(n0..n0 + count) {
        dst.copy_from_slice(&lanes[..count]);
    }
}

/// Requantization constants of 16 lanes: two blocks of 8 channels in the low and high
/// 256-bit halves (the same block twice where the halves are two rows of a GEMM tile), with
/// what depends only on the shifts worked out once. Bit for bit `quant.rs`, like AVX2's
/// `Requant8`, with AVX-512's mask registers and 64-bit arithmetic shifts saving steps.
#[derive(Clone, Copy)]
pub(super) struct Requant16 {
    bias: __m512i,
    multiplier: __m512i,
    /// The odd lanes' multipliers moved into the even dwords (for `vpmuldq`).
    multiplier_odd: __m512i,
    /// Clamp bounds with the output zero point taken out: `act - zp`.
    lo: __m512i,
    hi: __m512i,
    zero_point: __m512i,
    /// Whether `apply` clamps to `lo..=hi`; not when the clamp is the identity or the
    /// callers' saturating narrow to int8 does the same (see `new`).
    clamp: bool,
    rounding: Rounding,
    /// Double rounding: left shift (if any lane has one), right shift, its remainder mask
    /// and half that mask.
    left: Option<__m512i>,
    right: __m512i,
    mask: __m512i,
    half_mask: __m512i,
    /// Single rounding: the total right shift `31 - shift` of the even and odd lanes, as
    /// 64-bit lanes, the rounding term `2^(total - 1)`, and `lo`, `hi` as 64-bit lanes.
    total: [__m512i; 2],
    round: [__m512i; 2],
    lo64: __m512i,
    hi64: __m512i,
}

impl Requant16 {
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn new(lower: &Block<'_>, upper: &Block<'_>, q: &Requant<'_>) -> Self {
        let load = |t: &[i32; NR]| {
            // SAFETY: `t` is 8 i32 = 32 readable bytes; loadu has no alignment need.
            unsafe { _mm256_loadu_si256(t.as_ptr().cast()) }
        };
        let both = |lo: &[i32; NR], hi: &[i32; NR]| {
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(load(lo)), load(hi))
        };
        let shift = both(lower.shift, upper.shift);
        let multiplier = both(lower.multiplier, upper.multiplier);
        let zero = _mm512_setzero_si512();
        let mut r = Self {
            bias: both(lower.bias, upper.bias),
            multiplier,
            multiplier_odd: _mm512_srli_epi64::<32>(multiplier),
            lo: _mm512_set1_epi32(q.act_min - q.output_zero_point),
            hi: _mm512_set1_epi32(q.act_max - q.output_zero_point),
            zero_point: _mm512_set1_epi32(q.output_zero_point),
            clamp: true,
            rounding: q.rounding,
            left: None,
            right: zero,
            mask: zero,
            half_mask: zero,
            total: [zero; 2],
            round: [zero; 2],
            lo64: zero,
            hi64: zero,
        };
        match q.rounding {
            Rounding::Double => {
                let one = _mm512_set1_epi32(1);
                let left = _mm512_max_epi32(shift, zero);
                // Multipliers below 1 (the usual case) have no left shift to apply.
                r.left = (_mm512_cmpgt_epi32_mask(left, zero) != 0).then_some(left);
                r.right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
                r.mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, r.right), one);
                r.half_mask = _mm512_srli_epi32::<1>(r.mask);
                // With a right shift in every lane, |result| <= 2^30 and adding the zero
                // point cannot wrap: for the whole int8 range, clamping and then narrowing
                // equals narrowing with saturation. A whole int32 range with zero point 0
                // (ADD's input scaling) clamps nothing.
                let right_everywhere = _mm512_cmplt_epi32_mask(r.right, one) == 0;
                let int8_range = q.act_min <= -128 && q.act_max >= 127;
                let int32_range =
                    q.act_min == i32::MIN && q.act_max == i32::MAX && q.output_zero_point == 0;
                r.clamp = !(int32_range || (int8_range && right_everywhere));
            }
            Rounding::Single => {
                let total = _mm512_sub_epi32(_mm512_set1_epi32(31), shift); // 1..=62
                r.total = [
                    _mm512_and_si512(total, _mm512_set1_epi64(0xffff_ffff)),
                    _mm512_srli_epi64::<32>(total),
                ];
                let one64 = _mm512_set1_epi64(1);
                r.round = r
                    .total
                    .map(|t| _mm512_sllv_epi64(one64, _mm512_sub_epi64(t, one64)));
                r.lo64 = _mm512_set1_epi64(i64::from(q.act_min - q.output_zero_point));
                r.hi64 = _mm512_set1_epi64(i64::from(q.act_max - q.output_zero_point));
                // Clamped in 64 bits already.
                r.clamp = false;
            }
        }
        r
    }

    /// Takes `v` (per lane, wrapping) from the bias.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn subtract_from_bias(&mut self, v: __m512i) {
        self.bias = _mm512_sub_epi32(self.bias, v);
    }

    /// int32 accumulators to the outputs, in int32 lanes: int8 values, or values whose
    /// saturation to int8 (`vpmovsdb`, which every caller narrowing to int8 uses) is the
    /// clamped result.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn apply(&self, acc: __m512i) -> __m512i {
        let x = _mm512_add_epi32(acc, self.bias); // wrapping, as the reference
        let odd_x = _mm512_srli_epi64::<32>(x);
        let scaled = match self.rounding {
            Rounding::Double => {
                let x = match self.left {
                    Some(left) => _mm512_sllv_epi32(x, left),
                    None => x,
                };
                let odd_x = match self.left {
                    Some(_) => _mm512_srli_epi64::<32>(x),
                    None => odd_x,
                };
                // gemmlowp's SaturatingRoundingDoublingHighMul for multipliers >= 0:
                // floor((x * m + 2^30) / 2^31), bits 31..62 of each 64-bit sum.
                let nudge = _mm512_set1_epi64(1 << 30);
                let even = _mm512_add_epi64(_mm512_mul_epi32(x, self.multiplier), nudge);
                let odd = _mm512_add_epi64(_mm512_mul_epi32(odd_x, self.multiplier_odd), nudge);
                let high = _mm512_mask_blend_epi32(
                    0xAAAA,
                    _mm512_srli_epi64::<31>(even),
                    _mm512_slli_epi64::<1>(odd),
                );
                let shifted = _mm512_srav_epi32(high, self.right);
                round_half_away(high, shifted, self.mask, self.half_mask)
            }
            Rounding::Single => {
                // (x * m + 2^(t - 1)) >> t in 64 bits, clamped there (it may not fit 32).
                let shift64 = |product: __m512i, half: usize| {
                    let v = _mm512_add_epi64(product, self.round[half]);
                    let v = _mm512_srav_epi64(v, self.total[half]);
                    _mm512_min_epi64(_mm512_max_epi64(v, self.lo64), self.hi64)
                };
                let even = shift64(_mm512_mul_epi32(x, self.multiplier), 0);
                let odd = shift64(_mm512_mul_epi32(odd_x, self.multiplier_odd), 1);
                _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64::<32>(odd))
            }
        };
        // saturating_add(zp).clamp(min, max) == clamp(x, min - zp, max - zp) + zp, since
        // min and max are int8 and the saturation bounds lie far outside them.
        let clamped = if self.clamp {
            _mm512_min_epi32(_mm512_max_epi32(scaled, self.lo), self.hi)
        } else {
            scaled
        };
        _mm512_add_epi32(clamped, self.zero_point)
    }
}

/// GEMM tile with int4 weights (16 bytes per group of 8 channels x 4 steps, see
/// `kernels::int4`): the nibbles split in registers (a shift and a mask), then `vpdpbusd`.
/// uint4 rows (`SIGNED_ROWS = false`) are the unsigned operand against the weights
/// sign-extended by a table lookup; int8 rows are the signed operand against the weights
/// offset to `w + 8` (`nibble ^ 8`, 0..=15), and `8 * row_sums[r]` comes back out. Exact: a
/// lane's sum stays below `65,536 * 15 * 128 < 2^31`. The epilogue is AVX2's.
fn gemm_tile_i4<const R: usize, const SIGNED_ROWS: bool>(
    a: [&[i8]; R],
    w: &[u8],
    row_sums: &[i32; R],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    // SAFETY: reached only through the AVX-512 VNNI table (see `Isa::kernels`).
    unsafe { tile_i4_vnni::<R, SIGNED_ROWS>(a, w, row_sums, block, q, pack) }
}

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile_i4_vnni<const R: usize, const SIGNED_ROWS: bool>(
    a: [&[i8]; R],
    w: &[u8],
    row_sums: &[i32; R],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    // SAFETY: this function's target features include AVX2 and AVX-512 VNNI.
    let acc = unsafe { dot_i4::<Evex, R, SIGNED_ROWS>(&a, w) };
    finish_tile(acc, SIGNED_ROWS.then_some(row_sums), block, q, pack)
}

/// The raw int32 dot products of [`gemm_tile_i4`]'s `R` rows with one block of int4 weights
/// (lane `c` for channel `c`), before the `8 * row_sums` correction of int8 rows.
///
/// # Safety
/// The CPU has AVX2 and `D`'s instruction set.
#[inline(always)]
pub(super) unsafe fn dot_i4<D: Dpbusd, const R: usize, const SIGNED_ROWS: bool>(
    a: &[&[i8]; R],
    w: &[u8],
) -> [__m256i; R] {
    // SAFETY: the caller's CPU has AVX2 and `D`'s instruction set; every read is bounded
    // where it is made.
    unsafe {
        let mut groups = w.len() / 16;
        for row in a {
            groups = groups.min(row.len() / KR);
        }
        let mut acc = [_mm256_setzero_si256(); R];
        for g in 0..groups {
            // `g < groups` bounds the 16-byte read within `w`.
            let wv = i4_group::<SIGNED_ROWS>(_mm_loadu_si128(w.as_ptr().add(g * 16).cast()));
            for r in 0..R {
                // `g < groups` bounds the 4-byte read within each row.
                let x4 = a[r].as_ptr().add(g * KR).cast::<i32>().read_unaligned();
                let x = _mm256_set1_epi32(x4);
                acc[r] = if SIGNED_ROWS {
                    D::dpbusd(acc[r], wv, x)
                } else {
                    D::dpbusd(acc[r], x, wv)
                };
            }
        }
        acc
    }
}

/// Sum of `row`'s values: `vpdpbusd` of ones (unsigned) by the row (signed), 32 at a time.
///
/// # Safety
/// The CPU has AVX2 and `D`'s instruction set.
#[inline(always)]
unsafe fn row_sum<D: Dpbusd>(row: &[i8]) -> i32 {
    // SAFETY: the caller's CPU has AVX2 and `D`'s instruction set; each chunk is 32
    // readable bytes.
    unsafe {
        let ones = _mm256_set1_epi8(1);
        let mut acc = _mm256_setzero_si256();
        let mut chunks = row.chunks_exact(32);
        for chunk in &mut chunks {
            let x = _mm256_loadu_si256(chunk.as_ptr().cast());
            acc = D::dpbusd(acc, ones, x);
        }
        let mut tail = 0i32;
        for &x in chunks.remainder() {
            tail += i32::from(x);
        }
        let half = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let pair = _mm_add_epi32(half, _mm_shuffle_epi32::<0b01_00_11_10>(half));
        let one = _mm_add_epi32(pair, _mm_shuffle_epi32::<0b10_11_00_01>(pair));
        _mm_cvtsi128_si32(one).wrapping_add(tail)
    }
}

/// Element-wise int8 ADD (TFLite's, see `scalar::add`), 16 elements per step; returns how
/// many it did (the scalar kernel does the tail). The three fixed-point rescalings are
/// [`Requant16`]'s double rounding with per-tensor constants; the two input ones clamp to the
/// whole int32 range, i.e. not at all.
fn add(p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) -> usize {
    // SAFETY: reached only through the AVX-512 VNNI table (see `Isa::kernels`).
    unsafe { add_vnni(p, a, b, output) }
}

#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn add_vnni(p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) -> usize {
    let n = a.len().min(b.len()).min(output.len()) / 16 * 16;
    let scale = |multiplier: i32, shift: i32, (act_min, act_max, zero_point): (i32, i32, i32)| {
        let q = Requant {
            bias: None,
            multiplier: &[multiplier; NR],
            shift: &[shift; NR],
            input_zero_point: 0,
            output_zero_point: zero_point,
            act_min,
            act_max,
            rounding: Rounding::Double,
        };
        let block = Block {
            bias: &[0; NR],
            multiplier: &[multiplier; NR],
            shift: &[shift; NR],
        };
        Requant16::new(&block, &block, &q)
    };
    let unclamped = (i32::MIN, i32::MAX, 0);
    let in1 = scale(p.input1_multiplier, p.input1_shift, unclamped);
    let in2 = scale(p.input2_multiplier, p.input2_shift, unclamped);
    let out = scale(
        p.output_multiplier,
        p.output_shift,
        (p.act_min, p.act_max, p.output_zero_point),
    );
    let left = _mm512_set1_epi32(p.left_shift);
    let (zp1, zp2) = (
        _mm512_set1_epi32(p.input1_zero_point),
        _mm512_set1_epi32(p.input2_zero_point),
    );
    let load = |s: &[i8], i: usize| {
        // SAFETY: `i + 16 <= n <= s.len()`.
        _mm512_cvtepi8_epi32(unsafe { _mm_loadu_si128(s.as_ptr().add(i).cast()) })
    };
    let scales = (
        InputScale::new(p.left_shift, p.input1_multiplier, p.input1_shift),
        InputScale::new(p.left_shift, p.input2_multiplier, p.input2_shift),
    );
    if let (Some(s1), Some(s2)) = scales {
        for i in (0..n).step_by(16) {
            let x = s1.apply(_mm512_sub_epi32(load(a, i), zp1));
            let y = s2.apply(_mm512_sub_epi32(load(b, i), zp2));
            // Clamped to int8 by `out` (or saturated by the narrow, see `Requant16::apply`).
            let bytes = _mm512_cvtsepi32_epi8(out.apply(_mm512_add_epi32(x, y)));
            // SAFETY: `i + 16 <= n <= output.len()`; storeu has no alignment need.
            unsafe { _mm_storeu_si128(output.as_mut_ptr().add(i).cast(), bytes) };
        }
        return n;
    }
    for i in (0..n).step_by(16) {
        let x = _mm512_sllv_epi32(_mm512_sub_epi32(load(a, i), zp1), left);
        let y = _mm512_sllv_epi32(_mm512_sub_epi32(load(b, i), zp2), left);
        let sum = _mm512_add_epi32(in1.apply(x), in2.apply(y));
        // Clamped to int8 by `out` (or saturated by the narrow, see `Requant16::apply`).
        let bytes = _mm512_cvtsepi32_epi8(out.apply(sum));
        // SAFETY: `i + 16 <= n <= output.len()`; storeu has no alignment need.
        unsafe { _mm_storeu_si128(output.as_mut_ptr().add(i).cast(), bytes) };
    }
    n
}

/// ADD's scaling of an offset input `v` (|v| <= 255) by `2^left` and then a multiplier below
/// 1 with a right shift, in 32-bit lanes: the reference's
/// `floor((v 2^L m + 2^30) / 2^31)` equals `v mh + floor((v ml + 2^(30-L)) / 2^(31-L))` with
/// `m = mh 2^(31-L) + ml`, and for `10 <= L <= 20` both products fit int32
/// (`|v mh| < 2^28`, `|v ml| < 2^29`): two `vpmulld` instead of the 64-bit even/odd dance.
/// The right shift then rounds half away from zero, as `Requant16::apply`.
struct InputScale {
    high: __m512i,
    low: __m512i,
    nudge: __m512i,
    /// `31 - L`, as `vpsrad`'s count.
    split: __m128i,
    right: __m128i,
    mask: __m512i,
    half_mask: __m512i,
}

impl InputScale {
    /// `None` where the split does not fit int32 (`L` outside 10..=20), or for a left shift
    /// or a negative multiplier.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    fn new(left: i32, multiplier: i32, shift: i32) -> Option<Self> {
        if !(10..=20).contains(&left) || shift > 0 || multiplier < 0 {
            return None;
        }
        let split = 31 - left;
        let right = -shift; // 0..=31
        let mask = ((1i64 << right) - 1) as i32;
        Some(Self {
            high: _mm512_set1_epi32(multiplier >> split),
            low: _mm512_set1_epi32(multiplier & ((1 << split) - 1)),
            nudge: _mm512_set1_epi32(1 << (split - 1)),
            split: _mm_cvtsi32_si128(split),
            right: _mm_cvtsi32_si128(right),
            mask: _mm512_set1_epi32(mask),
            half_mask: _mm512_set1_epi32(mask >> 1),
        })
    }

    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    fn apply(&self, v: __m512i) -> __m512i {
        let low = _mm512_add_epi32(_mm512_mullo_epi32(v, self.low), self.nudge);
        let high = _mm512_add_epi32(
            _mm512_mullo_epi32(v, self.high),
            _mm512_sra_epi32(low, self.split),
        );
        let shifted = _mm512_sra_epi32(high, self.right);
        round_half_away(high, shifted, self.mask, self.half_mask)
    }
}

/// gemmlowp's RoundingDivideByPOT: `shifted` (`x` shifted right arithmetically by the
/// exponent whose remainder mask is `mask`, `half_mask = mask >> 1`) rounded half away from
/// zero.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn round_half_away(x: __m512i, shifted: __m512i, mask: __m512i, half_mask: __m512i) -> __m512i {
    let remainder = _mm512_and_si512(x, mask);
    let threshold = _mm512_add_epi32(half_mask, _mm512_srli_epi32::<31>(x));
    let round_up = _mm512_cmpgt_epi32_mask(remainder, threshold);
    _mm512_mask_add_epi32(shifted, round_up, shifted, _mm512_set1_epi32(1))
}
