//! AVX2 uint4 x int4 convolution (W4A4) with the receptive fields read in place, as
//! `avx2_conv` reads int8 ones: a band of input rows, padding included, is unpacked to bytes
//! once into a window, the weights of two blocks of channels are unpacked to int8 once per
//! band, and every pixel's kernel rows meet both in `vpmaddubsw` (32 multiply-adds per
//! instruction, exact: a pair of uint4 x int4 products is at most 240 in magnitude), each
//! input broadcast once for the two. Requantization constants are built once per block and
//! call, and the outputs packed to uint4 in registers. Dense rows (1x1 convolutions) come
//! as the pixels of a one-column image.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::avx2::{for_each_requants, i4_group, narrow, pack_u4_32, Requant8};
use super::avx2_conv::{Pixels, Window};
use crate::kernels::gemm::{padded_depth, KR, MR, NR};
use crate::kernels::int4;
use crate::kernels::{ConvGeometry, Requant};

/// Bytes of the window of input rows, on the stack.
const WINDOW_BYTES: usize = 16384;

/// Deepest im2col row taken: two blocks' weights unpacked to int8 fill 16 KB of stack.
const MAX_DEPTH: usize = 1024;

/// Groups whose int16 pair sums may add up before widening to int32: 128 * 240 < 2^15.
const WIDEN_EVERY: usize = 128;

/// Fewer pixels go tile by tile: the window and the constants would cost more than they save.
const MIN_PIXELS: usize = 8;

/// Convolution `g` of the packed uint4 NHWC `input` (zero point `zero_point`) by the int4
/// weights `w` packed as `int4::pack_gemm_i4` does for its im2col depth, into the packed uint4
/// `out` (`outputs` channels per pixel, an even number). Returns `false`, having done
/// nothing, for shapes it does not take (kernel rows that are not runs of whole groups of 4,
/// rows deeper than [`MAX_DEPTH`], too few pixels) or short buffers.
pub(super) fn conv_u4(
    g: &ConvGeometry,
    input: &[u8],
    zero_point: i8,
    outputs: usize,
    w: &[u8],
    q: &Requant<'_>,
    out: &mut [u8],
) -> bool {
    let depth = g.kernel_h * g.kernel_w * g.in_c;
    let pixels = g.batch * g.out_h * g.out_w;
    let q_fits = |t: &[i32]| t.len() >= outputs;
    // (Single rows, as in fully connected layers, leave at once.)
    if pixels < MIN_PIXELS {
        return false;
    }
    let Some(window) = Window::new(g, WINDOW_BYTES) else {
        return false;
    };
    let takes = (1..=MAX_DEPTH).contains(&depth)
        && outputs.is_multiple_of(2)
        && (0..16).contains(&zero_point)
        && input.len() * 2 >= g.batch * g.in_h * g.in_w * g.in_c
        && w.len() * 2 >= outputs.div_ceil(NR) * NR * padded_depth(depth)
        && out.len() * 2 >= pixels * outputs
        && q_fits(q.multiplier)
        && q_fits(q.shift)
        && q.bias.is_none_or(q_fits);
    if takes {
        // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`); the
        // lengths are checked above.
        unsafe { conv_u4_avx2(g, &window, input, zero_point, outputs, w, q, out) };
    }
    takes
}

/// See [`conv_u4`]; the caller checked every length.
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn conv_u4_avx2(
    g: &ConvGeometry,
    window: &Window,
    input: &[u8],
    zero_point: i8,
    outputs: usize,
    w: &[u8],
    q: &Requant<'_>,
    out: &mut [u8],
) {
    let c = g.in_c;
    let kp = padded_depth(g.kernel_h * g.kernel_w * c);
    let block_bytes = kp * NR / 2;
    // Zeroed only as far as a band reaches (with the 16 bytes `Window` keeps past it), and the
    // weights not at all (each pair's groups are written before they are read): zeroing
    // both whole buffers (32 KB) cost a `memset` per call.
    let mut storage = [const { MaybeUninit::<i8>::uninit() }; WINDOW_BYTES];
    let used = (window.band_rows(g, window.out_rows) * window.row_len + 16).min(WINDOW_BYTES);
    storage[..used].fill(MaybeUninit::new(0));
    // SAFETY: the first `used <= WINDOW_BYTES` values were just initialized.
    let values: &mut [i8] =
        unsafe { core::slice::from_raw_parts_mut(storage.as_mut_ptr().cast(), used) };
    let mut weights = [const { MaybeUninit::<__m256i>::uninit() }; 2 * MAX_DEPTH / KR];
    let mut out = Store { out, outputs };
    // Window columns `inside.0..inside.1` hold input columns `0..`.
    let inside = (
        g.pad_left.min(window.columns),
        (g.pad_left + g.in_w).min(window.columns),
    );
    for_each_requants(outputs, q, |first_block, requants| {
        for b in 0..g.batch {
            let mut oy0 = 0;
            while oy0 < g.out_h {
                let out_rows = window.out_rows.min(g.out_h - oy0);
                let first_iy = (oy0 * g.stride_h).wrapping_sub(g.pad_top);
                let band_rows = window.band_rows(g, out_rows);
                // Window rows that are whole input rows lie one after another in the input
                // too: one unpack for all of them (a call per row costs more than the row
                // when rows are short, as dense rows are).
                let mut whole = 0..0;
                if inside == (0, g.in_w) && window.columns == g.in_w {
                    let rows = (0..band_rows).filter(|&i| first_iy.wrapping_add(i) < g.in_h);
                    if let (Some(lo), Some(hi)) = (rows.clone().min(), rows.max()) {
                        whole = lo..hi + 1;
                        let src = (b * g.in_h + first_iy.wrapping_add(lo)) * window.row_len;
                        let dst = &mut values[lo * window.row_len..(hi + 1) * window.row_len];
                        int4::unpack_u4(input, src, dst);
                    }
                }
                for i in 0..band_rows {
                    let iy = first_iy.wrapping_add(i);
                    let row = &mut values[i * window.row_len..][..window.row_len];
                    if whole.contains(&i) {
                        continue;
                    }
                    if iy < g.in_h && inside.0 < inside.1 {
                        let src = ((b * g.in_h + iy) * g.in_w + inside.0 - g.pad_left) * c;
                        let (before, rest) = row.split_at_mut(inside.0 * c);
                        let (run, after) = rest.split_at_mut((inside.1 - inside.0) * c);
                        before.fill(zero_point);
                        int4::unpack_u4(input, src, run);
                        after.fill(zero_point);
                    } else {
                        row.fill(zero_point);
                    }
                }
                let band = Band {
                    g,
                    window,
                    base: values.as_ptr().cast(),
                    at: (b, oy0),
                    pixels: out_rows * g.out_w,
                };
                // Blocks two at a time (each pixel's inputs broadcast once for both), each
                // pair's weights unpacked to int8 and interleaved by group.
                let mut i = 0;
                while i < requants.len() {
                    let pair = requants.len() - i >= 2;
                    let count = if pair { 2 } else { 1 };
                    for k in 0..count {
                        let block = &w[(first_block + i + k) * block_bytes..][..block_bytes];
                        for (j, src) in block.chunks_exact(16).enumerate() {
                            // SAFETY: `src` is 16 readable bytes; loadu needs no alignment.
                            let group = unsafe { _mm_loadu_si128(src.as_ptr().cast()) };
                            weights[count * j + k].write(i4_group::<false>(group));
                        }
                    }
                    let n0 = (first_block + i) * NR;
                    let written = (count * kp / KR).min(weights.len());
                    // SAFETY: the loop above wrote groups `0..kp / KR` of `count` blocks,
                    // interleaved: the first `count * kp / KR` entries.
                    let groups: &[__m256i] =
                        unsafe { core::slice::from_raw_parts(weights.as_ptr().cast(), written) };
                    if pair {
                        band.blocks::<2>([&requants[i], &requants[i + 1]], n0, groups, &mut out);
                    } else {
                        band.blocks::<1>([&requants[i]], n0, groups, &mut out);
                    }
                    i += count;
                }
                oy0 += out_rows;
            }
        }
    });
}

/// The pixels of one band of output rows, their inputs in the window.
struct Band<'a> {
    g: &'a ConvGeometry,
    window: &'a Window,
    /// The window's first value.
    base: *const u8,
    /// Batch and first output row.
    at: (usize, usize),
    pixels: usize,
}

impl Band<'_> {
    /// Where output pixel `(_, oy, ox)`'s receptive field starts in the window.
    #[inline]
    fn start(&self, (_, oy, ox): (usize, usize, usize)) -> *const u8 {
        let g = self.g;
        let at = (oy - self.at.1) * g.stride_h * self.window.row_len + ox * g.stride_w * g.in_c;
        self.base.wrapping_add(at)
    }

    /// Every pixel of the band by `B` consecutive blocks from channel `n0` (`weights`: their
    /// groups unpacked, interleaved: group `j` of block `k` at `B * j + k`), into `out`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn blocks<const B: usize>(
        &self,
        requants: [&Requant8; B],
        n0: usize,
        weights: &[__m256i],
        out: &mut Store<'_>,
    ) {
        let (b, oy0) = self.at;
        let first = (b * self.g.out_h + oy0) * self.g.out_w;
        let mut pixel = Pixels::at(self.g, (b, oy0, 0));
        let mut m = 0;
        while m + MR <= self.pixels {
            let starts = core::array::from_fn(|_| self.start(pixel.next()));
            // SAFETY: the band's rows are written, and hold every kernel row of its pixels.
            let sums = unsafe { self.sums::<MR, B>(starts, weights) };
            for k in 0..B {
                // A plain loop: `map`'s closure stayed a call.
                let mut lanes = [_mm256_setzero_si256(); MR];
                for r in 0..MR {
                    lanes[r] = requants[k].apply(sums[k][r]);
                }
                let mut packed = [0u8; 16];
                // SAFETY: `packed` is 16 writable bytes; storeu needs no alignment.
                unsafe { _mm_storeu_si128(packed.as_mut_ptr().cast(), pack_u4_32(lanes)) };
                for (r, bytes) in packed.as_chunks::<{ NR / 2 }>().0.iter().enumerate() {
                    out.put(first + m + r, n0 + k * NR, bytes);
                }
            }
            m += MR;
        }
        while m < self.pixels {
            let start = [self.start(pixel.next())];
            // SAFETY: as above.
            let sums = unsafe { self.sums::<1, B>(start, weights) };
            for k in 0..B {
                let v = narrow(requants[k].apply(sums[k][0])).map(|v| v as u8);
                let bytes: [u8; NR / 2] = core::array::from_fn(|j| v[2 * j] | v[2 * j + 1] << 4);
                out.put(first + m, n0 + k * NR, &bytes);
            }
            m += 1;
        }
    }

    /// The int32 sums (lane `c`: channel `c`) of `R` pixels (their receptive fields from
    /// `x[r]`) by `B` blocks of weights (see [`Band::blocks`]), `[block][pixel]`.
    ///
    /// # Safety
    /// The receptive fields lie in the window's written rows, and `weights` holds
    /// `B * kernel_h * window.groups` groups.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn sums<const R: usize, const B: usize>(
        &self,
        x: [*const u8; R],
        weights: &[__m256i],
    ) -> [[__m256i; R]; B] {
        let ones = _mm256_set1_epi16(1);
        let mut acc32 = [[_mm256_setzero_si256(); R]; B];
        let mut acc16 = [[_mm256_setzero_si256(); R]; B];
        let mut pending = 0;
        let groups = self.window.groups;
        let kernel_row = self.g.dilation_h * self.window.row_len;
        for ky in 0..self.g.kernel_h {
            let row_weights = &weights[ky * groups * B..][..groups * B];
            let mut j0 = 0;
            while j0 < groups {
                let n = (groups - j0).min(WIDEN_EVERY - pending);
                let run = &row_weights[j0 * B..][..n * B];
                for (j, wv) in run.as_chunks::<B>().0.iter().enumerate() {
                    let at = ky * kernel_row + KR * (j0 + j);
                    for r in 0..R {
                        // SAFETY: the caller's contract; an unaligned read.
                        let x4 = unsafe { x[r].add(at).cast::<i32>().read_unaligned() };
                        let x4 = _mm256_set1_epi32(x4);
                        for k in 0..B {
                            let p = _mm256_maddubs_epi16(x4, wv[k]);
                            acc16[k][r] = _mm256_add_epi16(acc16[k][r], p);
                        }
                    }
                }
                (pending, j0) = (pending + n, j0 + n);
                if pending == WIDEN_EVERY {
                    widen(&mut acc32, &mut acc16, ones);
                    pending = 0;
                }
            }
        }
        widen(&mut acc32, &mut acc16, ones);
        acc32
    }
}

/// Adds the int16 pair sums into the int32 sums (one lane per channel) and clears them.
#[inline]
#[target_feature(enable = "avx2")]
fn widen<const R: usize, const B: usize>(
    acc32: &mut [[__m256i; R]; B],
    acc16: &mut [[__m256i; R]; B],
    ones: __m256i,
) {
    for k in 0..B {
        for r in 0..R {
            acc32[k][r] = _mm256_add_epi32(acc32[k][r], _mm256_madd_epi16(acc16[k][r], ones));
            acc16[k][r] = _mm256_setzero_si256();
        }
    }
}

/// Where the packed uint4 outputs go.
struct Store<'a> {
    out: &'a mut [u8],
    outputs: usize,
}

impl Store<'_> {
    /// Writes pixel `p`'s values of the block from channel `n0` (a multiple of [`NR`], so
    /// they start on a byte): a whole block in one 4-byte store (a copy of variable length
    /// is a call to `memmove`).
    #[inline(always)]
    fn put(&mut self, p: usize, n0: usize, packed: &[u8; NR / 2]) {
        let at = (p * self.outputs + n0) / 2;
        let bytes = NR.min(self.outputs - n0) / 2;
        if bytes == NR / 2 {
            self.out[at..][..NR / 2].copy_from_slice(packed);
        } else {
            self.out[at..][..bytes].copy_from_slice(&packed[..bytes]);
        }
    }
}
