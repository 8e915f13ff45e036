//! aarch64 NEON kernels: baseline (`smlal` by lane) and `dotprod` (`sdot`).
//!
//! Requantization uses the instructions gemmlowp's NEON path was designed around:
//! `sqrdmulh` *is* `SaturatingRoundingDoublingHighMul`, and `srshl` after gemmlowp's sign
//! fix-up *is* `RoundingDivideByPOT`; the single-rounding rule is `smull` + `srshl` on 64
//! bits + `sqxtn`, which saturates exactly as the scalar clamp does.

use core::arch::aarch64::*;

use crate::kernels::depthwise::{
    depthwise_channel, folded_bias_u4, for_each_pixel, for_each_tap, lane_tables, split_u4_weights,
    U4Taps, U4_MAX_TAPS,
};
use crate::kernels::gemm::{Block, KR, MR, NR};
use crate::kernels::int4::ValuesMut;
use crate::kernels::table::{GemmKernels, Kernels, TileKernels, SCALAR};
use crate::kernels::{ConvGeometry, Requant};
use crate::quant::Rounding;

/// The aarch64 NEON tier (NEON is baseline there): the oracle's table with NEON's kernels.
pub(crate) static NEON: Kernels = Kernels {
    name: c"neon",
    peak_macs_per_cycle: 8,
    available: || true,
    gemm: GemmKernels {
        one: TileKernels {
            i8: gemm_tile::<1>,
            i4: gemm_tile_i4::<1>,
            ..SCALAR.gemm.one
        },
        mr: TileKernels {
            i8: gemm_tile::<MR>,
            i4: gemm_tile_i4::<MR>,
            ..SCALAR.gemm.mr
        },
        ..SCALAR.gemm
    },
    depthwise: depthwise_conv2d,
    depthwise_u4: Some(depthwise_u4),
    add_u4: Some(add_u4),
    ..SCALAR
};

/// The aarch64 NEON tier with `sdot`: NEON's table with the GEMM tiles on `sdot`.
pub(crate) static NEON_DOTPROD: Kernels = Kernels {
    name: c"neon-dotprod",
    peak_macs_per_cycle: 32,
    available: has_dotprod,
    gemm: GemmKernels {
        one: TileKernels {
            i8: gemm_tile_dotprod::<1>,
            i4: gemm_tile_dotprod_i4::<1>,
            ..NEON.gemm.one
        },
        mr: TileKernels {
            i8: gemm_tile_dotprod::<MR>,
            i4: gemm_tile_dotprod_i4::<MR>,
            ..NEON.gemm.mr
        },
        ..NEON.gemm
    },
    ..NEON
};

/// Whether the CPU has `dotprod` (at compile time, or detected with `std`).
#[allow(unreachable_code)]
fn has_dotprod() -> bool {
    #[cfg(target_feature = "dotprod")]
    return true;
    #[cfg(feature = "std")]
    return std::arch::is_aarch64_feature_detected!("dotprod");
    false
}

/// Requantization constants of 4 channels.
#[derive(Clone, Copy)]
struct Requant4 {
    bias: int32x4_t,
    multiplier: int32x4_t,
    left: int32x4_t,
    /// Negated right shift (`srshl` shifts right by a negative amount).
    neg_right: int32x4_t,
    shift: int32x4_t,
    lo: int32x4_t,
    hi: int32x4_t,
    zero_point: int32x4_t,
    rounding: Rounding,
}

impl Requant4 {
    /// From 4 entries of each table starting at `c0`.
    #[inline(always)]
    fn new(
        bias: &[i32; NR],
        multiplier: &[i32; NR],
        shift: &[i32; NR],
        c0: usize,
        q: &Requant<'_>,
    ) -> Self {
        let load = |t: &[i32; NR]| {
            let v: [i32; 4] = [t[c0], t[c0 + 1], t[c0 + 2], t[c0 + 3]];
            // SAFETY: `v` is 4 readable i32.
            unsafe { vld1q_s32(v.as_ptr()) }
        };
        // SAFETY: NEON is baseline on aarch64; these are register operations.
        unsafe {
            let shift = load(shift);
            let zero = vdupq_n_s32(0);
            Self {
                bias: load(bias),
                multiplier: load(multiplier),
                left: vmaxq_s32(shift, zero),
                neg_right: vminq_s32(shift, zero),
                shift,
                lo: vdupq_n_s32(q.act_min - q.output_zero_point),
                hi: vdupq_n_s32(q.act_max - q.output_zero_point),
                zero_point: vdupq_n_s32(q.output_zero_point),
                rounding: q.rounding,
            }
        }
    }

    #[inline(always)]
    fn apply(&self, acc: int32x4_t) -> int32x4_t {
        // SAFETY: NEON is baseline on aarch64; these are register operations.
        unsafe {
            let x = vaddq_s32(acc, self.bias); // wrapping, as the reference
            let scaled = match self.rounding {
                Rounding::Double => {
                    let x = vshlq_s32(x, self.left); // wrapping left shift
                    let high = vqrdmulhq_s32(x, self.multiplier);
                    // gemmlowp: nudge negative values so srshl's round-half-up becomes
                    // round-half-away-from-zero.
                    let fixup = vshrq_n_s32::<31>(vandq_s32(high, self.neg_right));
                    let fixed = vqaddq_s32(high, fixup);
                    vrshlq_s32(fixed, self.neg_right)
                }
                Rounding::Single => {
                    // (x * m + 2^(s-1)) >> s with s = 31 - shift, then saturate to i32.
                    let neg_total = vsubq_s32(self.shift, vdupq_n_s32(31));
                    let lo = vmull_s32(vget_low_s32(x), vget_low_s32(self.multiplier));
                    let hi = vmull_high_s32(x, self.multiplier);
                    let lo = vrshlq_s64(lo, vmovl_s32(vget_low_s32(neg_total)));
                    let hi = vrshlq_s64(hi, vmovl_high_s32(neg_total));
                    vcombine_s32(vqmovn_s64(lo), vqmovn_s64(hi))
                }
            };
            let clamped = vminq_s32(vmaxq_s32(scaled, self.lo), self.hi);
            vaddq_s32(clamped, self.zero_point)
        }
    }
}

/// Narrows two int32x4 of int8 values to 8 bytes.
#[inline(always)]
fn narrow(a: int32x4_t, b: int32x4_t) -> [i8; 8] {
    // SAFETY: register operations, then a store of 8 bytes into an 8-byte array.
    unsafe {
        let v = vmovn_s16(vcombine_s16(vmovn_s32(a), vmovn_s32(b)));
        let mut out = [0i8; 8];
        vst1_s8(out.as_mut_ptr(), v);
        out
    }
}

fn requantize_block(lo: int32x4_t, hi: int32x4_t, block: &Block<'_>, q: &Requant<'_>) -> [i8; NR] {
    let r0 = Requant4::new(block.bias, block.multiplier, block.shift, 0, q);
    let r1 = Requant4::new(block.bias, block.multiplier, block.shift, 4, q);
    narrow(r0.apply(lo), r1.apply(hi))
}

/// Baseline NEON GEMM micro-kernel: `ld4` de-interleaves a group into 4 vectors of 8
/// channels (one per reduction step), widened to int16; `smlal` by lane multiplies them by
/// each row's 4 inputs.
fn gemm_tile<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    let groups = a
        .iter()
        .fold(w.len() / (NR * KR), |g, row| g.min(row.len() / KR));
    // SAFETY: NEON is baseline on aarch64. `g < groups` keeps the 32-byte weight load
    // within `w` and the 4-byte row loads within each row.
    unsafe {
        let mut lo = [vdupq_n_s32(0); R];
        let mut hi = [vdupq_n_s32(0); R];
        for g in 0..groups {
            let wk = vld4_s8(w.as_ptr().add(g * NR * KR));
            let w0 = vmovl_s8(wk.0);
            let w1 = vmovl_s8(wk.1);
            let w2 = vmovl_s8(wk.2);
            let w3 = vmovl_s8(wk.3);
            for r in 0..R {
                let x4 = a[r].as_ptr().add(g * KR).cast::<i32>().read_unaligned();
                let x = vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(x4))));
                lo[r] = vmlal_lane_s16::<0>(lo[r], vget_low_s16(w0), x);
                hi[r] = vmlal_lane_s16::<0>(hi[r], vget_high_s16(w0), x);
                lo[r] = vmlal_lane_s16::<1>(lo[r], vget_low_s16(w1), x);
                hi[r] = vmlal_lane_s16::<1>(hi[r], vget_high_s16(w1), x);
                lo[r] = vmlal_lane_s16::<2>(lo[r], vget_low_s16(w2), x);
                hi[r] = vmlal_lane_s16::<2>(hi[r], vget_high_s16(w2), x);
                lo[r] = vmlal_lane_s16::<3>(lo[r], vget_low_s16(w3), x);
                hi[r] = vmlal_lane_s16::<3>(hi[r], vget_high_s16(w3), x);
            }
        }
        core::array::from_fn(|r| requantize_block(lo[r], hi[r], block, q))
    }
}

/// `dotprod` GEMM micro-kernel: a group is two 16-byte vectors (channels 0-3 and 4-7, 4
/// steps each), exactly `sdot`'s operand layout; each row's 4 inputs are broadcast.
fn gemm_tile_dotprod<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    // SAFETY: reached only through the NEON+dotprod table (see `Isa::kernels`).
    unsafe { gemm_tile_sdot::<R>(a, w, block, q) }
}

#[target_feature(enable = "dotprod")]
fn gemm_tile_sdot<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    let weights = |g: usize| {
        // SAFETY: `sdot_tile` asks only for groups below `w.len() / 32`.
        unsafe {
            (
                vld1q_s8(w.as_ptr().add(g * NR * KR)),
                vld1q_s8(w.as_ptr().add(g * NR * KR + 16)),
            )
        }
    };
    sdot_tile::<R>(a, w.len() / (NR * KR), weights, block, q)
}

/// The `sdot` tile shared by the int8 and int4 kernels: `weights(g)` gives group `g`'s
/// channels 0..3 and 4..7, 4 steps each.
#[inline]
#[target_feature(enable = "dotprod")]
fn sdot_tile<const R: usize>(
    a: [&[i8]; R],
    groups: usize,
    weights: impl Fn(usize) -> (int8x16_t, int8x16_t),
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    let groups = a.iter().fold(groups, |g, row| g.min(row.len() / KR));
    let mut lo = [vdupq_n_s32(0); R];
    let mut hi = [vdupq_n_s32(0); R];
    for g in 0..groups {
        let (w_lo, w_hi) = weights(g);
        for r in 0..R {
            // SAFETY: `g < groups` keeps the 4-byte read within each row.
            let x4 = unsafe { a[r].as_ptr().add(g * KR).cast::<i32>().read_unaligned() };
            let x = vreinterpretq_s8_s32(vdupq_n_s32(x4));
            lo[r] = sdot(lo[r], w_lo, x);
            hi[r] = sdot(hi[r], w_hi, x);
        }
    }
    core::array::from_fn(|r| requantize_block(lo[r], hi[r], block, q))
}

/// The two halves of one int4 GEMM group (16 bytes, see `kernels::int4`) as int8:
/// channels 0..3 from the low nibbles, 4..7 from the high ones (arithmetic shifts sign-extend).
#[inline(always)]
fn unpack_i4_group(w: &[u8], g: usize) -> (int8x16_t, int8x16_t) {
    // SAFETY: callers bound `g` by `w.len() / 16`; NEON is baseline on aarch64.
    unsafe {
        let packed = vreinterpretq_s8_u8(vld1q_u8(w.as_ptr().add(g * 16)));
        (
            vshrq_n_s8::<4>(vshlq_n_s8::<4>(packed)),
            vshrq_n_s8::<4>(packed),
        )
    }
}

/// GEMM tile with int4 weights on `sdot`: each group unpacks with three shifts into the two
/// registers the int8 kernel loads.
fn gemm_tile_dotprod_i4<const R: usize>(
    a: [&[i8]; R],
    w: &[u8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    // SAFETY: reached only through the NEON+dotprod table (see `Isa::kernels`).
    unsafe { gemm_tile_sdot_i4::<R>(a, w, block, q) }
}

#[target_feature(enable = "dotprod")]
fn gemm_tile_sdot_i4<const R: usize>(
    a: [&[i8]; R],
    w: &[u8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    sdot_tile::<R>(a, w.len() / 16, |g| unpack_i4_group(w, g), block, q)
}

/// GEMM tile with int4 weights on baseline NEON: `smull` of 8 byte pairs into int16 (every
/// product of an int4 weight and a byte fits), `sadalp` pairs into four int32 accumulators
/// per row, and a final pairwise add gives one lane per channel.
fn gemm_tile_i4<const R: usize>(
    a: [&[i8]; R],
    w: &[u8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    let groups = a.iter().fold(w.len() / 16, |g, row| g.min(row.len() / KR));
    // SAFETY: NEON is baseline on aarch64; loads are bounded by `groups`.
    unsafe {
        let mut acc = [[vdupq_n_s32(0); 4]; R];
        for g in 0..groups {
            let (w_lo, w_hi) = unpack_i4_group(w, g);
            for r in 0..R {
                let x4 = a[r].as_ptr().add(g * KR).cast::<i32>().read_unaligned();
                let x = vreinterpretq_s8_s32(vdupq_n_s32(x4));
                let xl = vget_low_s8(x);
                // [c0 k0..k3, c1 k0..k3] products, then pairs: [c0 c0 c1 c1] partial sums.
                acc[r][0] = vpadalq_s16(acc[r][0], vmull_s8(vget_low_s8(w_lo), xl));
                acc[r][1] = vpadalq_s16(acc[r][1], vmull_high_s8(w_lo, x));
                acc[r][2] = vpadalq_s16(acc[r][2], vmull_s8(vget_low_s8(w_hi), xl));
                acc[r][3] = vpadalq_s16(acc[r][3], vmull_high_s8(w_hi, x));
            }
        }
        core::array::from_fn(|r| {
            let lo = vpaddq_s32(acc[r][0], acc[r][1]);
            let hi = vpaddq_s32(acc[r][2], acc[r][3]);
            requantize_block(lo, hi, block, q)
        })
    }
}

/// `acc[i] += sum_j a[4i + j] * b[4i + j]` (SDOT, vector form).
#[inline(always)]
fn sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: only called from `dotprod` functions; register-only instruction.
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack),
        );
    }
    acc
}

/// Depthwise conv, depth multiplier 1: 8 channels per step with `smlal`, reference order of
/// taps; the channel tail runs the reference formula.
fn depthwise_conv2d(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    let c = g.in_c;
    let zeros = [0i32; NR];
    let table = |t: &[i32], c0: usize| -> [i32; NR] { t[c0..c0 + NR].try_into().unwrap_or(zeros) };
    // SAFETY: NEON is baseline on aarch64.
    let zero_point = unsafe { vdupq_n_s16(q.input_zero_point as i16) };
    let out_at = |(b, oy, ox): (usize, usize, usize)| ((b * g.out_h + oy) * g.out_w + ox) * c;
    // Channel blocks outermost: each block's requantization constants load once per op.
    let mut c0 = 0;
    while c0 + 8 <= c {
        let (bias, multiplier, shift) = (
            q.bias.map_or(zeros, |t| table(t, c0)),
            table(q.multiplier, c0),
            table(q.shift, c0),
        );
        let r0 = Requant4::new(&bias, &multiplier, &shift, 0, q);
        let r1 = Requant4::new(&bias, &multiplier, &shift, 4, q);
        for_each_pixel(g, |(b, oy, ox)| {
            // SAFETY: NEON is baseline; each tap reads 8 bytes at offsets whose channel
            // `c0 + 8 <= c` keeps them inside `input` and `filter` (the dispatcher checked
            // both lengths).
            let (lo, hi) = unsafe {
                let (mut lo, mut hi) = (vdupq_n_s32(0), vdupq_n_s32(0));
                for_each_tap(g, b, oy, ox, |tap, pixel| {
                    let x = vld1_s8(input.as_ptr().add(pixel * c + c0));
                    let w = vld1_s8(filter.as_ptr().add(tap * c + c0));
                    let x = vsubq_s16(vmovl_s8(x), zero_point);
                    let w = vmovl_s8(w);
                    lo = vmlal_s16(lo, vget_low_s16(x), vget_low_s16(w));
                    hi = vmlal_high_s16(hi, x, w);
                });
                (lo, hi)
            };
            let base = out_at((b, oy, ox)) + c0;
            output[base..base + 8].copy_from_slice(&narrow(r0.apply(lo), r1.apply(hi)));
        });
        c0 += 8;
    }
    for_each_pixel(g, |pixel| {
        for ch in c0..c {
            output[out_at(pixel) + ch] = depthwise_channel(g, q, input, filter, pixel, ch);
        }
    });
}

/// Depthwise conv of uint4 inputs by int4 filters (`depthwise::runs_native_u4` shapes),
/// straight from the packed nibbles, in blocks of 32 channels (then 16, then 8): a tap's 16
/// bytes split into even and odd channels (`and`, `ushr`), and `smlal` accumulates their
/// products in int16, exact because each is at most 15 * 8 and there are at most 32 taps.
/// Taps over the edge read the zero point, which the folded bias takes back out. Takes every
/// such shape (returns `true`).
fn depthwise_u4(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[u8],
    filter: &[u8],
    output: &mut ValuesMut<'_>,
) -> bool {
    let mut c0 = 0;
    while c0 < g.in_c {
        c0 += match g.in_c - c0 {
            32.. => depthwise_u4_block::<32>(g, q, input, filter, output, c0),
            16.. => depthwise_u4_block::<16>(g, q, input, filter, output, c0),
            _ => depthwise_u4_block::<8>(g, q, input, filter, output, c0),
        };
    }
    true
}

/// Channels `c0..c0 + W` (`W` 8, 16 or 32) of [`depthwise_u4`]; returns `W`.
fn depthwise_u4_block<const W: usize>(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[u8],
    filter: &[u8],
    output: &mut ValuesMut<'_>,
    c0: usize,
) -> usize {
    let (c, taps) = (g.in_c, g.kernel_h * g.kernel_w);
    let mut split = [[0i8; 32]; U4_MAX_TAPS];
    split_u4_weights(g, filter, c0, W, &mut split);
    let mut bias = [0i32; 32];
    folded_bias_u4(q, &split[..taps], c0, &mut bias[..W]);
    let requant: [[Requant4; 2]; 4] = core::array::from_fn(|k| {
        let first = (8 * k).min(W - 8); // blocks past W are never applied
        let [bias, multiplier, shift] = lane_tables(q, &bias, c0, first, W);
        [0, 4].map(|half| Requant4::new(&bias, &multiplier, &shift, half, q))
    });
    let reader = U4Taps::new(g, input, q.input_zero_point);
    let mut taps_at = [reader.zero_point_bytes(); U4_MAX_TAPS];
    for_each_pixel(g, |pixel| {
        reader.pixel(pixel, c0, &mut taps_at[..taps]);
        // SAFETY: NEON is baseline on aarch64. `U4Taps` pointers have at least W/2
        // readable bytes behind them; `split` rows are 32 bytes.
        let sums = unsafe {
            // Even channels 0..8 and 8..16 of the block, then odd ones.
            let mut acc = [vdupq_n_s16(0); 4];
            for (&p, w) in taps_at[..taps].iter().zip(&split) {
                let x = match W {
                    32 => vld1q_u8(p),
                    16 => vcombine_u8(vld1_u8(p), vdup_n_u8(0)),
                    _ => {
                        let four = p.cast::<u32>().read_unaligned();
                        vreinterpretq_u8_u32(vsetq_lane_u32::<0>(four, vdupq_n_u32(0)))
                    }
                };
                let even = vreinterpretq_s8_u8(vandq_u8(x, vdupq_n_u8(0x0F)));
                let odd = vreinterpretq_s8_u8(vshrq_n_u8::<4>(x));
                let (w_even, w_odd) = (vld1q_s8(w.as_ptr()), vld1q_s8(w.as_ptr().add(16)));
                acc[0] = vmlal_s8(acc[0], vget_low_s8(even), vget_low_s8(w_even));
                acc[2] = vmlal_s8(acc[2], vget_low_s8(odd), vget_low_s8(w_odd));
                if W == 32 {
                    acc[1] = vmlal_high_s8(acc[1], even, w_even);
                    acc[3] = vmlal_high_s8(acc[3], odd, w_odd);
                }
            }
            // Channel order: 0..8, 8..16, 16..24, 24..32.
            [
                vzip1q_s16(acc[0], acc[2]),
                vzip2q_s16(acc[0], acc[2]),
                vzip1q_s16(acc[1], acc[3]),
                vzip2q_s16(acc[1], acc[3]),
            ]
        };
        let mut values = [0i8; 32];
        for (k, eight) in sums.into_iter().take(W / 8).enumerate() {
            // SAFETY: NEON is baseline on aarch64; register operations.
            let (lo, hi) = unsafe { (vmovl_s16(vget_low_s16(eight)), vmovl_high_s16(eight)) };
            let [r0, r1] = &requant[k];
            values[8 * k..][..8].copy_from_slice(&narrow(r0.apply(lo), r1.apply(hi)));
        }
        let (b, oy, ox) = pixel;
        let first = ((b * g.out_h + oy) * g.out_w + ox) * c + c0;
        match output {
            ValuesMut::U4(bytes) => {
                let mut packed = [0u8; 16];
                // SAFETY: NEON is baseline on aarch64; `values` is 32 readable bytes and
                // `packed` 16 writable ones.
                unsafe {
                    let (v0, v1) = (
                        vld1q_u8(values.as_ptr().cast()),
                        vld1q_u8(values.as_ptr().add(16).cast()),
                    );
                    // Even channels, with the odd ones shifted into their high nibbles.
                    let pairs = vsliq_n_u8::<4>(vuzp1q_u8(v0, v1), vuzp2q_u8(v0, v1));
                    vst1q_u8(packed.as_mut_ptr(), pairs);
                }
                bytes[first / 2..][..W / 2].copy_from_slice(&packed[..W / 2]);
            }
            ValuesMut::I8(bytes) => bytes[first..][..W].copy_from_slice(&values[..W]),
        }
    });
    W
}

/// uint4 ADD from per-level thresholds (`elementwise::AddU4Levels`), 16 bytes (32 elements)
/// per step, as the AVX2 kernel: an output is the number of levels whose threshold for its `a`
/// (one `tbl` looks up 16) its `b` reaches. Returns how many bytes it wrote.
fn add_u4(
    levels: &crate::kernels::elementwise::AddU4Levels,
    a: &[u8],
    b: &[u8],
    output: &mut [u8],
) -> usize {
    let n = a.len().min(b.len()).min(output.len()) / 16 * 16;
    let thresholds = &levels.thresholds[..levels.active];
    // SAFETY: NEON is baseline on aarch64; every load and store below is within the first
    // `n` bytes of its slice (16 per step), and the tables are 16 bytes each.
    unsafe {
        let low4 = vdupq_n_u8(0x0F);
        let top = vdupq_n_u8(levels.top);
        let mut i = 0;
        while i < n {
            let (x, y) = (vld1q_u8(a.as_ptr().add(i)), vld1q_u8(b.as_ptr().add(i)));
            let (x_lo, x_hi) = (vandq_u8(x, low4), vshrq_n_u8::<4>(x));
            let (y_lo, y_hi) = (vandq_u8(y, low4), vshrq_n_u8::<4>(y));
            // Start at the level count; each level not reached (threshold > b) adds 0xFF = -1.
            let (mut lo, mut hi) = (top, top);
            for t in thresholds {
                let t = vld1q_u8(t.as_ptr());
                lo = vaddq_u8(lo, vcgtq_u8(vqtbl1q_u8(t, x_lo), y_lo));
                hi = vaddq_u8(hi, vcgtq_u8(vqtbl1q_u8(t, x_hi), y_hi));
            }
            vst1q_u8(
                output.as_mut_ptr().add(i),
                vorrq_u8(lo, vshlq_n_u8::<4>(hi)),
            );
            i += 16;
        }
    }
    n
}
