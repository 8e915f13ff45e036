//! AVX2 int8 convolution with each output pixel's receptive field gathered straight into
//! int16, the form the `vpmaddwd` tiles read (`avx2::Chunk::wide_rows`): no int8 im2col rows
//! in between, no call per row, and each block's requantization constants built once per
//! call instead of once per tile.
//!
//! A kernel row whose taps are all inside the input is one contiguous run of `kernel_w *
//! in_c` bytes (`dilation_w` 1), widened 16 bytes at a time; taps over the edge read as the
//! input zero point, which the folded bias takes back out (see `gemm`). Short rows of few
//! kernel rows (first layers: 3x3 RGB) are assembled in registers by `pshufb`
//! ([`SmallGather`]), so that the tile's loads never straddle two of the gather's stores.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::avx2::{for_each_chunk, small_row, WIDE_VECTORS};
use crate::kernels::gemm::{padded_depth, SmallGather, KR, MR, NR};
use crate::kernels::{ConvGeometry, Requant};

/// int16 values of one widened row.
const WIDE_LEN: usize = 16 * WIDE_VECTORS;

/// One widened row, as `Chunk::wide_rows` reads it.
type WideRow = [MaybeUninit<__m256i>; WIDE_VECTORS];

/// Convolution `g` of the int8 NHWC `input` (zero point `zero_point`) by the weights `w`
/// packed as `gemm::pack` does for its im2col depth, into `out` (`outputs` channels per
/// pixel). Returns `false`, having done nothing, when the im2col rows are too deep for the
/// stack (more than 1008 values) or a buffer is short.
pub(super) fn conv(
    g: &ConvGeometry,
    input: &[i8],
    zero_point: i8,
    outputs: usize,
    w: &[i8],
    q: &Requant<'_>,
    out: &mut [i8],
) -> bool {
    let depth = g.kernel_h * g.kernel_w * g.in_c;
    let rows = g.batch * g.out_h * g.out_w;
    let q_fits = |t: &[i32]| t.len() >= outputs;
    let takes = depth > 0
        // A 16-value store may reach 15 values past the depth.
        && depth + 16 <= WIDE_LEN
        && input.len() >= g.batch * g.in_h * g.in_w * g.in_c
        && w.len() >= outputs.div_ceil(NR) * NR * padded_depth(depth)
        && out.len() >= rows * outputs
        && q_fits(q.multiplier)
        && q_fits(q.shift)
        && q.bias.is_none_or(q_fits);
    if takes {
        // SAFETY: reached only through a table of a tier with AVX2 (see `Isa::kernels`); the
        // lengths are checked above.
        unsafe { conv_avx2(g, input, zero_point, outputs, w, q, out) };
    }
    takes
}

/// See [`conv`]; the caller checked every length.
#[target_feature(enable = "avx2")]
fn conv_avx2(
    g: &ConvGeometry,
    input: &[i8],
    zero_point: i8,
    outputs: usize,
    w: &[i8],
    q: &Requant<'_>,
    out: &mut [i8],
) {
    let depth = g.kernel_h * g.kernel_w * g.in_c;
    let groups = padded_depth(depth) / KR;
    let rows = g.batch * g.out_h * g.out_w;
    let gather = Gather {
        g,
        input,
        zero_point,
        depth,
        small: SmallGather::new(g, padded_depth(depth)),
    };
    for_each_chunk(outputs, depth, w, q, |chunk| {
        let mut pixels = Pixels::new(g);
        let mut wide = [[const { MaybeUninit::<__m256i>::uninit() }; WIDE_VECTORS]; MR];
        let mut m = 0;
        while m + MR <= rows {
            for row in &mut wide {
                gather.pixel(pixels.next(), row);
            }
            // SAFETY: `gather.pixel` initialized the first `KR * groups` values of each row.
            unsafe { chunk.wide_rows::<MR>(&wide, groups, &mut out[m * outputs..]) };
            m += MR;
        }
        while m < rows {
            let [row, ..] = &mut wide;
            gather.pixel(pixels.next(), row);
            let one = core::array::from_ref(row);
            // SAFETY: as above, for the one row.
            unsafe { chunk.wide_rows::<1>(one, groups, &mut out[m * outputs..]) };
            m += 1;
        }
    });
}

/// The output pixels `(batch, y, x)` in order.
struct Pixels {
    at: (usize, usize, usize),
    out_h: usize,
    out_w: usize,
}

impl Pixels {
    fn new(g: &ConvGeometry) -> Self {
        Self {
            at: (0, 0, 0),
            out_h: g.out_h,
            out_w: g.out_w,
        }
    }

    /// The next pixel (wrapping to the first after the last).
    fn next(&mut self) -> (usize, usize, usize) {
        let at = self.at;
        let (b, y, x) = &mut self.at;
        *x += 1;
        if *x == self.out_w {
            (*x, *y) = (0, *y + 1);
            if *y == self.out_h {
                (*y, *b) = (0, *b + 1);
            }
        }
        at
    }
}

/// A convolution's im2col rows, widened to int16.
struct Gather<'a> {
    g: &'a ConvGeometry,
    input: &'a [i8],
    zero_point: i8,
    /// Values per row (`kernel_h * kernel_w * in_c`), at most `WIDE_LEN - 16`.
    depth: usize,
    small: Option<SmallGather>,
}

impl Gather<'_> {
    /// Writes the im2col row of output pixel `(b, oy, ox)` into `dst`, zero padded to a
    /// multiple of [`KR`].
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pixel(&self, (b, oy, ox): (usize, usize, usize), dst: &mut WideRow) {
        let g = self.g;
        let d = dst.as_mut_ptr().cast::<i16>();
        // Out-of-range coordinates wrap to huge values: one compare each.
        let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
        let ix0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
        let last_y = iy0.wrapping_add((g.kernel_h - 1) * g.dilation_h);
        let last_x = ix0.wrapping_add((g.kernel_w - 1) * g.dilation_w);
        let columns_inside = ix0 < g.in_w && last_x < g.in_w;
        let run = g.kernel_w * g.in_c;
        let row_step = g.dilation_h * g.in_w * g.in_c;
        let start = |iy: usize| ((b * g.in_h + iy) * g.in_w + ix0) * g.in_c;
        if let Some(small) = &self.small {
            if columns_inside
                && iy0 < g.in_h
                && last_y < g.in_h
                && start(last_y) + 16 <= self.input.len()
            {
                let first = start(iy0);
                // SAFETY: every kernel row lies inside the input, the last with 16 bytes
                // readable from its start (checked above).
                let [lo, hi] =
                    unsafe { small_row(small, self.input.as_ptr(), |ky| first + ky * row_step) };
                // SAFETY: the row holds `WIDE_LEN >= 32` values; unaligned stores.
                unsafe {
                    _mm256_storeu_si256(d.cast(), _mm256_cvtepi8_epi16(lo));
                    _mm256_storeu_si256(d.add(16).cast(), _mm256_cvtepi8_epi16(hi));
                }
                return;
            }
        }
        if g.dilation_w == 1 {
            // Kernel columns `lo..hi` lie inside the input, the same in every kernel row.
            let x0 = ix0 as isize; // (wrapped: negative over the left edge)
            let width = g.kernel_w as isize;
            let lo = (-x0).clamp(0, width) as usize;
            let hi = (g.in_w as isize - x0).clamp(0, width) as usize;
            let c = g.in_c;
            for ky in 0..g.kernel_h {
                let iy = iy0.wrapping_add(ky * g.dilation_h);
                let at = ky * run;
                if iy >= g.in_h || lo >= hi {
                    self.fill(d, at, run);
                    continue;
                }
                // In order: each step's overrun lands where a later one writes.
                self.fill(d, at, lo * c);
                let src = ((b * g.in_h + iy) * g.in_w + ix0.wrapping_add(lo)) * c;
                self.copy(src, d, at + lo * c, (hi - lo) * c);
                self.fill(d, at + hi * c, run - hi * c);
            }
        } else {
            for ky in 0..g.kernel_h {
                let iy = iy0.wrapping_add(ky * g.dilation_h);
                if iy >= g.in_h {
                    self.fill(d, ky * run, run);
                    continue;
                }
                let row = (b * g.in_h + iy) * g.in_w;
                for kx in 0..g.kernel_w {
                    let ix = ix0.wrapping_add(kx * g.dilation_w);
                    let at = ky * run + kx * g.in_c;
                    if ix < g.in_w {
                        self.copy((row + ix) * g.in_c, d, at, g.in_c);
                    } else {
                        self.fill(d, at, g.in_c);
                    }
                }
            }
        }
        for k in self.depth..padded_depth(self.depth) {
            // SAFETY: `k < depth + KR <= WIDE_LEN`.
            unsafe { d.add(k).write(0) };
        }
    }

    /// Widens input bytes `src..src + len` (inside the input) to values `at..at + len` of the
    /// row `d` (`at + len <= depth`), writing up to 15 values past them.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn copy(&self, src: usize, d: *mut i16, at: usize, len: usize) {
        let input = self.input;
        let widen16 = |from: usize, to: usize| {
            // SAFETY: the callers keep `from + 16 <= input.len()` and `to < depth`, so the
            // 16 values written end before `depth + 16 <= WIDE_LEN`; unaligned accesses.
            unsafe {
                let v = _mm_loadu_si128(input.as_ptr().add(from).cast());
                _mm256_storeu_si256(d.add(to).cast(), _mm256_cvtepi8_epi16(v));
            }
        };
        let mut k = 0;
        while k + 16 <= len {
            widen16(src + k, at + k);
            k += 16;
        }
        if k < len {
            if src + k + 16 <= input.len() {
                widen16(src + k, at + k);
            } else if len >= 16 {
                // The run's last 16 bytes, overlapping what is done.
                widen16(src + len - 16, at + len - 16);
            } else {
                // The input's last bytes.
                for (i, &x) in input[src + k..src + len].iter().enumerate() {
                    // SAFETY: `at + len <= depth <= WIDE_LEN`.
                    unsafe { d.add(at + k + i).write(i16::from(x)) };
                }
            }
        }
    }

    /// Sets values `at..at + len` of the row `d` (`at + len <= depth`) to the zero point,
    /// writing up to 15 values past them.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn fill(&self, d: *mut i16, at: usize, len: usize) {
        let zero_points = _mm256_set1_epi16(i16::from(self.zero_point));
        let mut k = 0;
        while k < len {
            // SAFETY: `at + k < depth`, so the 16 values end before `depth + 16 <= WIDE_LEN`.
            unsafe { _mm256_storeu_si256(d.add(at + k).cast(), zero_points) };
            k += 16;
        }
    }
}
