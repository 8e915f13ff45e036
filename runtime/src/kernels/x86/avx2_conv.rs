//! AVX2 int8 convolution with the receptive fields widened to int16 before the `vpmaddwd`
//! tiles read them (`avx2::Chunk::each_block`): no int8 im2col rows in between, no call per
//! row, and each block's requantization constants built once per call instead of once per
//! tile. Taps over the edge read as the input zero point, which the folded bias takes back
//! out (see `gemm`).
//!
//! Two ways to widen. When each kernel row's taps are one run of values (`dilation_w` 1), a
//! band of input rows, padding included, is widened once into a window on the stack, and
//! every pixel of the band's output rows reads its runs there: each input value is widened
//! about once instead of up to `kernel_w * kernel_h` times. A run that is not whole groups
//! of 4 (3x3 RGB first layers: 9 values) is read as the next whole number of groups against
//! weights repacked on the stack with zeros in the extra places ([`pad_kernel_rows`]).
//! Otherwise each pixel's im2col row is gathered on its own; short rows of few kernel rows
//! are assembled in registers by `pshufb` ([`SmallGather`]), so that the tile's loads never
//! straddle two of the gather's stores.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::avx2::{add_pair_sums, for_each_chunk, small_row, wide_sums, Chunk, WIDE_VECTORS};
use crate::kernels::gemm::{padded_depth, SmallGather, KR, MR, NR};
use crate::kernels::{ConvGeometry, Requant};

/// int16 values of one widened row.
const WIDE_LEN: usize = 16 * WIDE_VECTORS;

/// One widened row, as `avx2::wide_sums` reads it.
type WideRow = [MaybeUninit<__m256i>; WIDE_VECTORS];

/// Most int16 values of a window of input rows ([`by_bands`]), on the stack (16 KB).
const WINDOW_LEN: usize = 8192;

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
    let widen = Widen { input, zero_point };
    let window = Window::new(g, WINDOW_LEN);
    let gather = Gather {
        g,
        widen,
        depth,
        small: SmallGather::new(g, padded_depth(depth)),
    };
    if let Some(window) = &window {
        return for_each_chunk(outputs, depth, w, q, |chunk| {
            by_bands(g, &widen, window, chunk, out)
        });
    }
    // Kernel rows that are not whole groups (first layers): padded to whole groups, with
    // the weights to match, if they fit the stack; else each pixel gathered on its own.
    let mut padded_weights = [const { MaybeUninit::<i8>::uninit() }; PADDED_WEIGHTS];
    let blocks = outputs.div_ceil(NR);
    if let Some(window) = Window::padded(g, WINDOW_LEN) {
        let run = g.kernel_w * g.in_c;
        if let Some(wp) = pad_kernel_rows(w, blocks, g.kernel_h, run, &mut padded_weights) {
            let depth = g.kernel_h * window.groups * KR;
            return for_each_chunk(outputs, depth, wp, q, |chunk| {
                by_bands(g, &widen, &window, chunk, out)
            });
        }
    }
    for_each_chunk(outputs, depth, w, q, |chunk| by_pixels(&gather, chunk, out));
}

/// Bytes of weights [`pad_kernel_rows`] writes on the stack (8 KB: 3x3 RGB layers of up to
/// 224 channels).
const PADDED_WEIGHTS: usize = 8192;

/// The first `blocks` blocks of `w` (packed by `gemm::pack` for the im2col depth
/// `kernel_h * run`) repacked for the depth `kernel_h * run4`, `run4` being `run` rounded
/// up to whole groups: each kernel row's `run` values, then zero weights. `None` if they
/// do not fit `dst` or `w` is short.
fn pad_kernel_rows<'d>(
    w: &[i8],
    blocks: usize,
    kernel_h: usize,
    run: usize,
    dst: &'d mut [MaybeUninit<i8>],
) -> Option<&'d [i8]> {
    let run4 = run.next_multiple_of(KR);
    let (old_bytes, new_bytes) = (padded_depth(kernel_h * run) * NR, kernel_h * run4 * NR);
    let (old, new) = (
        w.get(..blocks * old_bytes)?,
        dst.get_mut(..blocks * new_bytes)?,
    );
    // Value `k` of channel `c` of a block lies at `(k / KR) * NR * KR + c * KR + k % KR`.
    let at = |k: usize, c: usize| (k / KR) * NR * KR + c * KR + k % KR;
    for (old, new) in old
        .chunks_exact(old_bytes)
        .zip(new.chunks_exact_mut(new_bytes))
    {
        for ky in 0..kernel_h {
            for j in 0..run4 {
                for c in 0..NR {
                    let value = if j < run { old[at(ky * run + j, c)] } else { 0 };
                    new[at(ky * run4 + j, c)].write(value);
                }
            }
        }
    }
    // SAFETY: the loops wrote every value of `new`: `blocks * kernel_h * run4 * NR`.
    Some(unsafe { core::slice::from_raw_parts(new.as_ptr().cast(), new.len()) })
}

/// The windows of [`by_bands`]: a band of consecutive input rows, padding included, over the
/// columns the output pixels reach, for as many output rows as fit the stack.
pub(super) struct Window {
    /// Values per window row: `columns * in_c`.
    pub row_len: usize,
    /// Columns per window row: `(out_w - 1) * stride_w + kernel_w`.
    pub columns: usize,
    /// Groups of [`KR`] values per kernel row: `kernel_w * in_c / KR`.
    pub groups: usize,
    /// Output rows per band.
    pub out_rows: usize,
}

impl Window {
    /// The window of `g` in a buffer of `capacity` values, if its kernel rows are runs of
    /// whole groups and one output row's fit.
    pub(super) fn new(g: &ConvGeometry, capacity: usize) -> Option<Self> {
        Self::with_runs(g, capacity, false)
    }

    /// As [`Window::new`], kernel rows that are not whole groups (3x3 RGB: 9 values) read
    /// as the next whole number of groups, for weights padded to match
    /// ([`pad_kernel_rows`]): the extra values are the next column's, times zero weights.
    fn padded(g: &ConvGeometry, capacity: usize) -> Option<Self> {
        Self::with_runs(g, capacity, true)
    }

    fn with_runs(g: &ConvGeometry, capacity: usize, padded: bool) -> Option<Self> {
        let run = g.kernel_w * g.in_c;
        let columns = (g.out_w.max(1) - 1) * g.stride_w + g.kernel_w;
        let row_len = columns * g.in_c;
        let span = (g.kernel_h - 1) * g.dilation_h + 1;
        // A 16-value store may reach 15 values past the last row (and a padded run's read
        // at most 3).
        let rows = (capacity - 16) / row_len.max(1);
        let whole = run.is_multiple_of(KR) || padded;
        let fits = g.dilation_w == 1 && whole && span <= rows;
        fits.then(|| Self {
            row_len,
            columns,
            groups: run.div_ceil(KR),
            out_rows: (rows - span) / g.stride_h + 1,
        })
    }

    /// Input rows of a band of `out_rows` output rows.
    pub(super) fn band_rows(&self, g: &ConvGeometry, out_rows: usize) -> usize {
        (out_rows - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1
    }
}

/// [`conv_avx2`] by bands of output rows: each band's input rows widened once into the
/// window, then every tile of the band's pixels reading its runs from there.
#[inline]
#[target_feature(enable = "avx2")]
fn by_bands(
    g: &ConvGeometry,
    widen: &Widen<'_>,
    window: &Window,
    chunk: &Chunk<'_>,
    out: &mut [i8],
) {
    let outputs = chunk.outputs();
    let mut vectors = [const { MaybeUninit::<__m256i>::uninit() }; WINDOW_LEN / 16];
    let values = values_of(&mut vectors);
    let c = g.in_c;
    // Window columns `inside.0..inside.1` hold input columns `0..`.
    let inside = (
        g.pad_left.min(window.columns),
        (g.pad_left + g.in_w).min(window.columns),
    );
    // Kernel row `ky` of a pixel lies `ky * kernel_row` values past its first.
    let kernel_row = g.dilation_h * window.row_len;
    for b in 0..g.batch {
        let mut oy0 = 0;
        while oy0 < g.out_h {
            let out_rows = window.out_rows.min(g.out_h - oy0);
            let first_iy = (oy0 * g.stride_h).wrapping_sub(g.pad_top);
            for i in 0..window.band_rows(g, out_rows) {
                let iy = first_iy.wrapping_add(i);
                let (at, len) = (i * window.row_len, window.row_len);
                if iy < g.in_h {
                    let src = ((b * g.in_h + iy) * g.in_w + inside.0)
                        .wrapping_sub(g.pad_left)
                        .wrapping_mul(c);
                    widen.row(values, at, len, (inside.0 * c, inside.1 * c), src);
                } else {
                    widen.fill(values, at, len);
                }
            }
            // A padded kernel row reads up to 3 values past its run: past the band's last
            // row, these (in the 16 values `Window` keeps free).
            if window.groups * KR > g.kernel_w * c {
                let end = window.band_rows(g, out_rows) * window.row_len;
                for v in values.iter_mut().skip(end).take(16) {
                    v.write(i16::from(widen.zero_point));
                }
            }
            // The band's pixels in order; output pixel `(oy, ox)` starts at `x(oy, ox)`.
            let d = values.as_ptr().cast::<i16>();
            let x = |(_, oy, ox): (usize, usize, usize)| {
                d.wrapping_add((oy - oy0) * g.stride_h * window.row_len + ox * g.stride_w * c)
            };
            let pixels = out_rows * g.out_w;
            let first = (b * g.out_h + oy0) * g.out_w;
            // Block by block, so that one block's weights and the band stay in L1 (deep
            // layers' weights do not fit beside the band).
            for i in 0..chunk.blocks() {
                let mut pixel = Pixels::at(g, (b, oy0, 0));
                let mut m = 0;
                while m + MR <= pixels {
                    let starts = core::array::from_fn(|_| x(pixel.next()));
                    chunk.block::<MR>(i, &mut out[(first + m) * outputs..], |w| {
                        // SAFETY: the band's rows are written, and hold every kernel row of
                        // its pixels.
                        unsafe { window_sums::<MR>(starts, window, kernel_row, g.kernel_h, w) }
                    });
                    m += MR;
                }
                while m < pixels {
                    let start = [x(pixel.next())];
                    chunk.block::<1>(i, &mut out[(first + m) * outputs..], |w| {
                        // SAFETY: as above.
                        unsafe { window_sums::<1>(start, window, kernel_row, g.kernel_h, w) }
                    });
                    m += 1;
                }
            }
            oy0 += out_rows;
        }
    }
}

/// The partial-sum pairs (see `avx2::pair_sums`) of `R` pixels by one block of packed
/// weights `w`, pixel `r`'s kernel row `ky` being the `window.groups` groups from
/// `x[r] + ky * kernel_row`.
///
/// # Safety
/// Those values are initialized int16 of one allocation.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn window_sums<const R: usize>(
    x: [*const i16; R],
    window: &Window,
    kernel_row: usize,
    kernel_h: usize,
    w: &[i8],
) -> ([__m256i; R], [__m256i; R]) {
    let mut sums = ([_mm256_setzero_si256(); R], [_mm256_setzero_si256(); R]);
    let block_row = window.groups * KR * NR;
    for (ky, w) in w.chunks_exact(block_row).take(kernel_h).enumerate() {
        add_pair_sums::<R>(&mut sums, window.groups, w, |r, j| {
            // SAFETY: the caller's contract (`j < groups`); an unaligned read.
            let x4 = unsafe {
                x[r].add(ky * kernel_row + KR * j)
                    .cast::<i64>()
                    .read_unaligned()
            };
            _mm256_set1_epi64x(x4)
        });
    }
    sums
}

/// [`conv_avx2`] pixel by pixel: each pixel's im2col row gathered on its own.
#[inline]
#[target_feature(enable = "avx2")]
fn by_pixels(gather: &Gather<'_>, chunk: &Chunk<'_>, out: &mut [i8]) {
    let g = gather.g;
    let outputs = chunk.outputs();
    let groups = padded_depth(gather.depth) / KR;
    let rows = g.batch * g.out_h * g.out_w;
    let mut pixels = Pixels::at(g, (0, 0, 0));
    let mut wide = [[const { MaybeUninit::<__m256i>::uninit() }; WIDE_VECTORS]; MR];
    let mut m = 0;
    while m + MR <= rows {
        for row in &mut wide {
            gather.pixel(pixels.next(), row);
        }
        chunk.each_block::<MR>(&mut out[m * outputs..], |w| {
            // SAFETY: `gather.pixel` initialized the first `KR * groups` values of each row.
            unsafe { wide_sums::<MR>(&wide, groups, w) }
        });
        m += MR;
    }
    while m < rows {
        let [row, ..] = &mut wide;
        gather.pixel(pixels.next(), row);
        let one = core::array::from_ref(row);
        chunk.each_block::<1>(&mut out[m * outputs..], |w| {
            // SAFETY: as above, for the one row.
            unsafe { wide_sums::<1>(one, groups, w) }
        });
        m += 1;
    }
}

/// The output pixels `(batch, y, x)` in order.
pub(super) struct Pixels {
    at: (usize, usize, usize),
    out_h: usize,
    out_w: usize,
}

impl Pixels {
    /// From pixel `at` of `g`'s output on.
    pub(super) fn at(g: &ConvGeometry, at: (usize, usize, usize)) -> Self {
        Self {
            at,
            out_h: g.out_h,
            out_w: g.out_w,
        }
    }

    /// The next pixel (wrapping to the first after the last).
    pub(super) fn next(&mut self) -> (usize, usize, usize) {
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

/// The int16 values of stack vectors, uninitialized until written.
fn values_of(vectors: &mut [MaybeUninit<__m256i>]) -> &mut [MaybeUninit<i16>] {
    // SAFETY: the same bytes, 16 int16 per vector; `MaybeUninit` has no invalid values, and
    // i16's alignment divides __m256i's.
    unsafe { core::slice::from_raw_parts_mut(vectors.as_mut_ptr().cast(), vectors.len() * 16) }
}

/// int8 input values widened into int16 buffers, 16 at a time. Each write may run up to 15
/// values past its range (a later write, or nobody, reads there); a write that the buffer or
/// the input could not hold writes nothing.
#[derive(Clone, Copy)]
struct Widen<'a> {
    input: &'a [i8],
    zero_point: i8,
}

impl Widen<'_> {
    /// Values `at..at + len` of `d`: positions `inside.0..inside.1` widened from input values
    /// `src..`, the zero point elsewhere.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn row(
        &self,
        d: &mut [MaybeUninit<i16>],
        at: usize,
        len: usize,
        inside: (usize, usize),
        src: usize,
    ) {
        let (lo, hi) = inside;
        if lo >= hi {
            self.fill(d, at, len);
            return;
        }
        // In order: each step's overrun lands where a later one writes.
        self.fill(d, at, lo);
        self.copy(src, d, at + lo, hi - lo);
        self.fill(d, at + hi, len - hi);
    }

    /// Widens input values `src..src + len` to values `at..at + len` of `d`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn copy(&self, src: usize, d: &mut [MaybeUninit<i16>], at: usize, len: usize) {
        let input = self.input;
        if src + len > input.len() || at + len + 15 > d.len() {
            return;
        }
        let dp = d.as_mut_ptr().cast::<i16>();
        let widen16 = |from: usize, to: usize| {
            // SAFETY: the callers keep `from + 16 <= input.len()` and `to + 16 <= at + len +
            // 15 <= d.len()`; unaligned accesses.
            unsafe {
                let v = _mm_loadu_si128(input.as_ptr().add(from).cast());
                _mm256_storeu_si256(dp.add(to).cast(), _mm256_cvtepi8_epi16(v));
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
                // The run's last 16 values, overlapping what is done.
                widen16(src + len - 16, at + len - 16);
            } else {
                // The input's last values.
                for (v, &x) in d[at + k..at + len].iter_mut().zip(&input[src + k..]) {
                    v.write(i16::from(x));
                }
            }
        }
    }

    /// Sets values `at..at + len` of `d` to the zero point.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn fill(&self, d: &mut [MaybeUninit<i16>], at: usize, len: usize) {
        if at + len + 15 > d.len() {
            return;
        }
        let zero_points = _mm256_set1_epi16(i16::from(self.zero_point));
        let dp = d.as_mut_ptr().cast::<i16>();
        let mut k = 0;
        while k < len {
            // SAFETY: `k < len`: the 16 values end by `at + len + 15 <= d.len()`.
            unsafe { _mm256_storeu_si256(dp.add(at + k).cast(), zero_points) };
            k += 16;
        }
    }
}

/// A convolution's im2col rows, widened to int16, one pixel at a time.
struct Gather<'a> {
    g: &'a ConvGeometry,
    widen: Widen<'a>,
    /// Values per row (`kernel_h * kernel_w * in_c`), at most `WIDE_LEN - 16`.
    depth: usize,
    small: Option<SmallGather>,
}

impl Gather<'_> {
    /// Writes the im2col row of output pixel `(b, oy, ox)` into `dst`, zero padded to a
    /// multiple of [`KR`].
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pixel(&self, pixel: (usize, usize, usize), dst: &mut WideRow) {
        if !self.pixel_in_registers(pixel, dst) {
            self.pixel_in_runs(pixel, dst);
        }
    }

    /// [`Gather::pixel`] by [`SmallGather`]'s `pshufb`, if the convolution has one and the
    /// pixel's window lies inside the input (with 16 readable bytes from each kernel row);
    /// else `false`, having written nothing.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pixel_in_registers(&self, (b, oy, ox): (usize, usize, usize), dst: &mut WideRow) -> bool {
        let Some(small) = &self.small else {
            return false;
        };
        let g = self.g;
        let input = self.widen.input;
        // Out-of-range coordinates wrap to huge values: one compare each.
        let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
        let ix0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
        let last_y = iy0.wrapping_add((g.kernel_h - 1) * g.dilation_h);
        let row_step = g.dilation_h * g.in_w * g.in_c;
        let first = (b * g.in_h)
            .wrapping_add(iy0)
            .wrapping_mul(g.in_w)
            .wrapping_add(ix0)
            .wrapping_mul(g.in_c);
        let inside = ix0 < g.in_w
            && ix0 + g.kernel_w <= g.in_w
            && iy0 < g.in_h
            && last_y < g.in_h
            && first + (g.kernel_h - 1) * row_step + 16 <= input.len();
        if inside {
            // SAFETY: every kernel row lies inside the input, the last with 16 bytes
            // readable from its start (checked above).
            let [lo, hi] = unsafe { small_row(small, input.as_ptr(), |ky| first + ky * row_step) };
            let d = dst.as_mut_ptr().cast::<i16>();
            // SAFETY: the row holds `WIDE_LEN >= 32` values; unaligned stores.
            unsafe {
                _mm256_storeu_si256(d.cast(), _mm256_cvtepi8_epi16(lo));
                _mm256_storeu_si256(d.add(16).cast(), _mm256_cvtepi8_epi16(hi));
            }
        }
        inside
    }

    /// [`Gather::pixel`] run by run, kernel row by kernel row.
    #[target_feature(enable = "avx2")]
    fn pixel_in_runs(&self, (b, oy, ox): (usize, usize, usize), dst: &mut WideRow) {
        let g = self.g;
        let widen = &self.widen;
        let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
        let ix0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
        let run = g.kernel_w * g.in_c;
        let values = values_of(dst);
        if g.dilation_w == 1 {
            // Kernel columns `lo..hi` lie inside the input, the same in every kernel row.
            let x0 = ix0 as isize; // (wrapped: negative over the left edge)
            let width = g.kernel_w as isize;
            let lo = (-x0).clamp(0, width) as usize;
            let hi = (g.in_w as isize - x0).clamp(0, width) as usize;
            let c = g.in_c;
            for ky in 0..g.kernel_h {
                let iy = iy0.wrapping_add(ky * g.dilation_h);
                if iy < g.in_h {
                    // (Meaningless, and unread, when no column is inside.)
                    let src = ((b * g.in_h + iy) * g.in_w)
                        .wrapping_add(ix0.wrapping_add(lo))
                        .wrapping_mul(c);
                    widen.row(values, ky * run, run, (lo * c, hi * c), src);
                } else {
                    widen.fill(values, ky * run, run);
                }
            }
        } else {
            for ky in 0..g.kernel_h {
                let iy = iy0.wrapping_add(ky * g.dilation_h);
                if iy >= g.in_h {
                    widen.fill(values, ky * run, run);
                    continue;
                }
                let row = (b * g.in_h + iy) * g.in_w;
                for kx in 0..g.kernel_w {
                    let ix = ix0.wrapping_add(kx * g.dilation_w);
                    let at = ky * run + kx * g.in_c;
                    if ix < g.in_w {
                        widen.copy((row + ix) * g.in_c, values, at, g.in_c);
                    } else {
                        widen.fill(values, at, g.in_c);
                    }
                }
            }
        }
        for v in &mut values[self.depth..padded_depth(self.depth)] {
            v.write(0);
        }
    }
}
