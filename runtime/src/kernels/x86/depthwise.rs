//! int8 depthwise convolution (depth multiplier 1): 32, 16 or 8 channels per block, two taps
//! per `vpmaddwd`, for the AVX2 tier and (with 512-bit requantization) the AVX-512 VNNI tier.
//!
//! The input zero point is folded into the bias once per channel block:
//! `sum((x - zp) * w) = sum(x * w) - zp * sum(w)`. A tap over the edge, which the reference
//! skips, reads the zero point instead, so its `zp * w` cancels against the fold: every pixel
//! runs all taps, and interior pixels (most of them) need no bounds tests. Each tap pair's
//! inputs interleave byte-wise (`punpcklbw`), widen to int16 and meet the pair's weights,
//! interleaved the same way once per block: 16 products per `vpmaddwd`, exact
//! (|x * w| <= 128 * 128, and a pair's sum fits int32 with room to spare).

use core::arch::x86_64::*;

use super::avx2::{narrow, Requant8};
use super::vnni::Requant16;
use crate::kernels::depthwise::{depthwise_channel, for_each_pixel};
use crate::kernels::gemm::{Block, NR};
use crate::kernels::{ConvGeometry, Requant};

/// Most taps (`kernel_h * kernel_w`) the kernels take: the interleaved filter of one channel
/// block lives on the stack (4 KB). Larger kernels run the reference kernel.
const MAX_TAPS: usize = 64;

/// Depthwise conv with depth multiplier 1; `avx512`: requantize on 512-bit registers (the
/// caller checked `Isa::Avx512Vnni.is_available()`), else AVX2 (`Isa::Avx2`). The caller
/// checked the slice lengths.
pub(crate) fn depthwise_conv2d(
    avx512: bool,
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    if g.kernel_h * g.kernel_w > MAX_TAPS {
        return crate::kernels::scalar::depthwise_conv2d(g, q, input, filter, output);
    }
    let c = g.in_c;
    let mut c0 = 0;
    while c0 + 8 <= c {
        let lanes = match c - c0 {
            32.. => 32,
            16.. => 16,
            _ => 8,
        };
        // SAFETY: the dispatcher checked the tier's `Isa::is_available()` and the slice
        // lengths; `c0 + lanes <= c`.
        unsafe {
            match (avx512, lanes) {
                (true, 32) => block_avx512::<32>(g, q, c0, input, filter, output),
                (true, 16) => block_avx512::<16>(g, q, c0, input, filter, output),
                (true, _) => block_avx512::<8>(g, q, c0, input, filter, output),
                (false, 32) => block_avx2::<32>(g, q, c0, input, filter, output),
                (false, 16) => block_avx2::<16>(g, q, c0, input, filter, output),
                (false, _) => block_avx2::<8>(g, q, c0, input, filter, output),
            }
        }
        c0 += lanes;
    }
    for_each_pixel(g, |pixel| {
        for ch in c0..c {
            let at = ((pixel.0 * g.out_h + pixel.1) * g.out_w + pixel.2) * c + ch;
            output[at] = depthwise_channel(g, q, input, filter, pixel, ch);
        }
    });
}

/// The requantization tables of channels `c0..c0 + LANES` as 4 blocks of 8, the bias folded:
/// `bias - zp * sum(w)`, with `weight_sums` the blocks' filter sums; lanes past `LANES` zero.
fn folded_tables<const LANES: usize>(
    q: &Requant<'_>,
    c0: usize,
    weight_sums: &[[i32; NR]; 4],
) -> [[[i32; NR]; 3]; 4] {
    core::array::from_fn(|k| {
        let lane = |j: usize| c0 + 8 * k + j;
        let valid = |j: usize| 8 * k + j < LANES;
        let bias = core::array::from_fn(|j| {
            if !valid(j) {
                return 0;
            }
            q.bias
                .map_or(0, |b| b[lane(j)])
                .wrapping_sub(q.input_zero_point.wrapping_mul(weight_sums[k][j]))
        });
        let table = |t: &[i32]| core::array::from_fn(|j| if valid(j) { t[lane(j)] } else { 0 });
        [bias, table(q.multiplier), table(q.shift)]
    })
}

/// One table triple as a [`Block`].
fn block_of(t: &[[i32; NR]; 3]) -> Block<'_> {
    Block {
        bias: &t[0],
        multiplier: &t[1],
        shift: &t[2],
    }
}

/// Defines `$name::<LANES>`: channels `c0..c0 + LANES` (`LANES` 8, 16 or 32,
/// `c0 + LANES <= in_c`) of every pixel, compiled for `$features`. `$requant(tables, q)` makes
/// the block's requantization state; `$store(state, acc, out)` requantizes the `LANES / 8`
/// accumulators and writes the `LANES` bytes at `out`.
macro_rules! depthwise_block {
    ($name:ident, $features:literal, $requant:expr, $store:expr) => {
        /// # Safety
        /// The CPU runs the tier's features; the slices hold the geometry's elements.
        #[target_feature(enable = $features)]
        unsafe fn $name<const LANES: usize>(
            g: &ConvGeometry,
            q: &Requant<'_>,
            c0: usize,
            input: &[i8],
            filter: &[i8],
            output: &mut [i8],
        ) {
            // 16-byte loads per tap (one 8-byte load for 8 lanes).
            let loads = LANES.div_ceil(16);
            let c = g.in_c;
            let taps = g.kernel_h * g.kernel_w;
            let pairs = taps.div_ceil(2);
            let zp_row = [q.input_zero_point as i8; 32];
            let load = |data: *const i8| -> [__m128i; 2] {
                // SAFETY: callers pass a pixel's (or tap's) channel `c0`, with
                // `c0 + LANES <= c` elements behind it, or `zp_row`.
                unsafe {
                    match LANES {
                        8 => [_mm_loadl_epi64(data.cast()), _mm_setzero_si128()],
                        16 => [_mm_loadu_si128(data.cast()), _mm_setzero_si128()],
                        _ => [
                            _mm_loadu_si128(data.cast()),
                            _mm_loadu_si128(data.add(16).cast()),
                        ],
                    }
                }
            };
            let mut weights = [[_mm256_setzero_si256(); 4]; MAX_TAPS / 2];
            let fp = filter.as_ptr().wrapping_add(c0);
            for (p, pair) in weights.iter_mut().enumerate().take(pairs) {
                let wa = load(fp.wrapping_add(2 * p * c));
                let wb = if 2 * p + 1 < taps {
                    load(fp.wrapping_add((2 * p + 1) * c))
                } else {
                    [_mm_setzero_si128(); 2]
                };
                for v in 0..loads {
                    pair[2 * v] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(wa[v], wb[v]));
                    pair[2 * v + 1] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(wa[v], wb[v]));
                }
            }
            // Each channel's filter sum, from the interleaved pairs (a zero weight pads an
            // odd tap count).
            let mut weight_sums = [[0i32; NR]; 4];
            for (k, sums) in weight_sums.iter_mut().enumerate().take(LANES / 8) {
                let mut sum = _mm256_setzero_si256();
                for pair in weights.iter().take(pairs) {
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pair[k], _mm256_set1_epi16(1)));
                }
                // SAFETY: `sums` is 8 i32 = 32 writable bytes; storeu has no alignment need.
                unsafe { _mm256_storeu_si256(sums.as_mut_ptr().cast(), sum) };
            }
            let tables = folded_tables::<LANES>(q, c0, &weight_sums);
            let requant = $requant(&tables, q);
            // Each tap's input offset from the window's first pixel, in elements.
            let mut tap_offset = [0usize; MAX_TAPS];
            for (t, offset) in tap_offset.iter_mut().enumerate().take(taps) {
                let (ky, kx) = (t / g.kernel_w, t % g.kernel_w);
                *offset = (ky * g.dilation_h * g.in_w + kx * g.dilation_w) * c;
            }
            let ip = input.as_ptr().wrapping_add(c0);
            let mut border = [zp_row.as_ptr(); MAX_TAPS];
            let (last_y, last_x) = (
                (g.kernel_h - 1) * g.dilation_h,
                (g.kernel_w - 1) * g.dilation_w,
            );
            for_each_pixel(g, |(b, oy, ox)| {
                // Out-of-range coordinates wrap to huge values: one compare each.
                let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
                let ix0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
                let inside = iy0 < g.in_h
                    && iy0.wrapping_add(last_y) < g.in_h
                    && ix0 < g.in_w
                    && ix0.wrapping_add(last_x) < g.in_w;
                let origin = if inside {
                    ip.wrapping_add(((b * g.in_h + iy0) * g.in_w + ix0) * c)
                } else {
                    // Each tap's first value, or the zero point's row where it is outside.
                    for ky in 0..g.kernel_h {
                        let iy = iy0.wrapping_add(ky * g.dilation_h);
                        for kx in 0..g.kernel_w {
                            let ix = ix0.wrapping_add(kx * g.dilation_w);
                            border[ky * g.kernel_w + kx] = if iy < g.in_h && ix < g.in_w {
                                ip.wrapping_add(((b * g.in_h + iy) * g.in_w + ix) * c)
                            } else {
                                zp_row.as_ptr()
                            };
                        }
                    }
                    core::ptr::null()
                };
                let tap = |t: usize| {
                    if inside {
                        load(origin.wrapping_add(tap_offset[t]))
                    } else {
                        load(border[t])
                    }
                };
                let mut acc = [_mm256_setzero_si256(); 4];
                for (p, w) in weights.iter().enumerate().take(pairs) {
                    let xa = tap(2 * p);
                    // A missing last tap: any inputs times zero weights.
                    let xb = if 2 * p + 1 < taps { tap(2 * p + 1) } else { xa };
                    for v in 0..loads {
                        let lo = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(xa[v], xb[v]));
                        acc[2 * v] = _mm256_add_epi32(acc[2 * v], _mm256_madd_epi16(lo, w[2 * v]));
                        if LANES >= 16 {
                            let hi = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(xa[v], xb[v]));
                            acc[2 * v + 1] = _mm256_add_epi32(
                                acc[2 * v + 1],
                                _mm256_madd_epi16(hi, w[2 * v + 1]),
                            );
                        }
                    }
                }
                let base = ((b * g.out_h + oy) * g.out_w + ox) * c + c0;
                $store(&requant, &acc, &mut output[base..base + LANES]);
            });
        }
    };
}

depthwise_block!(
    block_avx2,
    "avx2",
    |tables: &[[[i32; NR]; 3]; 4], q| tables.each_ref().map(|t| Requant8::new(&block_of(t), q)),
    |requant: &[Requant8; 4], acc: &[__m256i; 4], out: &mut [i8]| {
        for (k, chunk) in out.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&narrow(requant[k].apply(acc[k])));
        }
    }
);

depthwise_block!(
    block_avx512,
    "avx2,avx512f,avx512bw,avx512vl,avx512vnni",
    |tables: &[[[i32; NR]; 3]; 4], q| {
        [0, 2].map(|k| Requant16::new(&block_of(&tables[k]), &block_of(&tables[k + 1]), q))
    },
    |requant: &[Requant16; 2], acc: &[__m256i; 4], out: &mut [i8]| {
        for (k, chunk) in out.chunks_mut(16).enumerate() {
            let both = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(acc[2 * k]), acc[2 * k + 1]);
            // The values are already int8: the saturating narrow is exact.
            let bytes = _mm512_cvtsepi32_epi8(requant[k].apply(both));
            if chunk.len() == 16 {
                // SAFETY: `chunk` holds 16 bytes; storeu has no alignment need.
                unsafe { _mm_storeu_si128(chunk.as_mut_ptr().cast(), bytes) };
            } else {
                let low = _mm_cvtsi128_si64(bytes);
                // SAFETY: `chunk` holds 8 bytes (8 lanes); the write is unaligned.
                unsafe { chunk.as_mut_ptr().cast::<i64>().write_unaligned(low) };
            }
        }
    }
);
