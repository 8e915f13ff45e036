//! int8 depthwise convolution (depth multiplier 1): 32, 16 or 8 channels per block, two taps
//! per multiply-add. AVX2 widens each pair to `vpmaddwd`, reading the input from windows
//! padded with the zero point ([`windowed_avx2`]); the AVX-512 VNNI tier uses `vpdpwssd` on
//! 32 lanes and tests the edges with masked loads. Both pack several output pixels of a
//! narrow layer into one pass.
//!
//! The input zero point is folded into the bias once per channel block:
//! `sum((x - zp) * w) = sum(x * w) - zp * sum(w)`. A tap over the edge, which the reference
//! skips, reads the zero point instead, so its `zp * w` cancels against the fold: every pixel
//! runs all taps, and interior pixels (most of them) need no bounds tests. Each tap pair's
//! inputs interleave byte-wise (`punpcklbw`), widen to int16 and meet the pair's weights,
//! interleaved the same way once per block, exact (|x * w| <= 128 * 128, and a pair's sum
//! fits int32 with room to spare).

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::avx2::{requant4, Requant8};
use super::vnni::Requant16;
use crate::kernels::depthwise::{depthwise_channel, for_each_pixel};
use crate::kernels::gemm::{block_tables, whole_block, Block, NR};
use crate::kernels::int4::{Values, ValuesMut};
use crate::kernels::{ConvGeometry, Requant};

/// Most taps (`kernel_h * kernel_w`) the kernels take: the interleaved filter of one channel
/// block lives on the stack (4 KB). Larger kernels run the reference kernel.
const MAX_TAPS: usize = 64;

/// Depthwise conv with depth multiplier 1: the AVX-512 VNNI tier's kernel if `AVX512`, else
/// AVX2's. The caller checked the slice lengths.
pub(crate) fn depthwise_conv2d<const AVX512: bool>(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    if g.kernel_h * g.kernel_w > MAX_TAPS {
        return crate::kernels::scalar::depthwise_conv2d(g, q, input, filter, output);
    }
    if !AVX512 {
        // SAFETY: reached only through the AVX2 table (see `Isa::kernels`); the caller
        // checked the slice lengths.
        if !unsafe { windowed_avx2(g, q, input, Values::I8(filter), &mut *output) } {
            crate::kernels::scalar::depthwise_conv2d(g, q, input, filter, output);
        }
        return;
    }
    let c = g.in_c;
    let mut c0 = 0;
    while c0 + 8 <= c {
        let lanes = block_lanes(c - c0);
        // SAFETY: reached only through the AVX-512 VNNI table (see `Isa::kernels`); the
        // caller checked the slice lengths; `c0 + lanes <= c`.
        unsafe {
            match (lanes, g.kernel_h == 3 && g.kernel_w == 3) {
                (32, true) => block_vnni::<32, 9>(g, q, c0, input, filter, output),
                (16, true) => block_vnni::<16, 9>(g, q, c0, input, filter, output),
                (_, true) => block_vnni::<8, 9>(g, q, c0, input, filter, output),
                (32, false) => block_vnni::<32, 0>(g, q, c0, input, filter, output),
                (16, false) => block_vnni::<16, 0>(g, q, c0, input, filter, output),
                (_, false) => block_vnni::<8, 0>(g, q, c0, input, filter, output),
            }
        }
        c0 += lanes;
    }
    channels_left(g, q, input, filter, output, c0);
}

/// Channels of the next block, `left` (at least 8) channels being left: 32, 16 or 8.
fn block_lanes(left: usize) -> usize {
    match left {
        32.. => 32,
        16.. => 16,
        _ => 8,
    }
}

/// Channels `c0..` of every pixel, by the reference kernel (fewer than 8 left after the
/// blocks).
fn channels_left(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
    c0: usize,
) {
    let c = g.in_c;
    for_each_pixel(g, |pixel| {
        for ch in c0..c {
            let at = ((pixel.0 * g.out_h + pixel.1) * g.out_w + pixel.2) * c + ch;
            output[at] = depthwise_channel(g, q, input, filter, pixel, ch);
        }
    });
}

/// The kernel's taps: `TAPS` when known at compile time (9 for 3x3), else from `g`.
#[inline(always)]
fn tap_count<const TAPS: usize>(g: &ConvGeometry) -> usize {
    if TAPS > 0 {
        TAPS
    } else {
        g.kernel_h * g.kernel_w
    }
}

/// uint4 x int4 depthwise convolution by the AVX2 windowed kernel ([`windowed_avx2`]): the
/// packed inputs unpacked to bytes as the windows are filled, each block's filter as its
/// weights are interleaved, the outputs (uint4 or int8) packed as they are stored. Returns
/// `false`, having done nothing, for shapes it does not take (channels not a multiple of 8,
/// more than [`MAX_TAPS`] taps, no output pixel's window fits) or short buffers.
///
/// # Safety
/// The CPU has AVX2.
pub(super) unsafe fn windowed_u4(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[u8],
    filter: &[u8],
    output: &mut ValuesMut<'_>,
) -> bool {
    let (c, taps) = (g.in_c, g.kernel_h * g.kernel_w);
    let pixels = g.batch * g.out_h * g.out_w;
    let takes = c.is_multiple_of(8)
        && taps <= MAX_TAPS
        && g.depth_multiplier == 1
        && input.len() * 2 >= g.batch * g.in_h * g.in_w * c
        && filter.len() * 2 >= taps * c
        && output.len() >= pixels * c;
    let (input, filter) = (&PackedU4In(input), Values::I4(filter));
    // SAFETY: the caller's contract; the lengths are checked above.
    takes
        && unsafe {
            match output {
                ValuesMut::I8(out) => windowed_avx2(g, q, input, filter, &mut **out),
                ValuesMut::U4(out) => windowed_avx2(g, q, input, filter, &mut PackedU4Out(out)),
            }
        }
}

/// Bytes of the AVX2 kernel's window of padded input rows, on the stack.
const WINDOW: usize = 16 * 1024;
/// Bytes past a window's last row that a short pass's loads may read.
const SLACK: usize = 32;

/// The AVX2 depthwise kernel over windows: for each band of output rows, strip of output
/// columns and block of up to 32 channels, the input they read is copied with its padding
/// (the zero point) into a window, `C` bytes per column (uint4 inputs unpacked to a byte
/// each; they need channels in multiples of 8, as do uint4 outputs). Every tap then lies inside the
/// window: no pixel needs edge tests, and a block of fewer than 32 channels (`C` 8 or 16) at
/// stride 1 runs `32 / C` neighbouring pixels per pass, their bytes side by side. Returns
/// `false`, having done nothing, when not even one output pixel's window fits.
///
/// # Safety
/// The CPU has AVX2; the slices hold the geometry's elements.
#[target_feature(enable = "avx2")]
unsafe fn windowed_avx2<I: Input + ?Sized, O: Passes + ?Sized>(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &I,
    filter: Values<'_>,
    output: &mut O,
) -> bool {
    let c = g.in_c;
    let span = (g.kernel_h - 1) * g.dilation_h + 1;
    let span_w = (g.kernel_w - 1) * g.dilation_w + 1;
    // Window columns that fit the kernel's height at the widest block (32 bytes per column),
    // then output columns per strip.
    let columns = (WINDOW - SLACK) / (span * 32);
    if columns < span_w {
        return false;
    }
    let strip = ((columns - span_w) / g.stride_w + 1).min(g.out_w.max(1));
    let mut window = [const { MaybeUninit::<i8>::uninit() }; WINDOW];
    let square3 = g.kernel_h == 3 && g.kernel_w == 3;
    let mut c0 = 0;
    while c0 + 8 <= c {
        let lanes = block_lanes(c - c0);
        // Fewer than 32 channels at stride 1: several pixels per pass.
        let several = lanes < 32 && g.stride_w == 1;
        let block = |band: &Band<'_>, window: &[i8], pixels: &Pixels, output: &mut O| {
            macro_rules! run {
                ($lanes:literal, $c:literal, $taps:literal) => {
                    windowed_block::<$lanes, $c, $taps, O>(
                        band, window, q, pixels, c0, filter, output,
                    )
                };
            }
            match (lanes, several, square3) {
                (32, _, true) => run!(32, 32, 9),
                (16, false, true) => run!(16, 16, 9),
                (16, true, true) => run!(32, 16, 9),
                (_, false, true) => run!(8, 8, 9),
                (_, true, true) => run!(32, 8, 9),
                (32, _, false) => run!(32, 32, 0),
                (16, false, false) => run!(16, 16, 0),
                (16, true, false) => run!(32, 16, 0),
                (_, false, false) => run!(8, 8, 0),
                (_, true, false) => run!(32, 8, 0),
            }
        };
        let mut ox0 = 0;
        while ox0 < g.out_w {
            let out_cols = strip.min(g.out_w - ox0);
            let columns = (out_cols - 1) * g.stride_w + span_w;
            let rows = (WINDOW - SLACK) / (columns * lanes);
            let band = Band {
                g,
                columns,
                out_rows: (rows - span) / g.stride_h + 1,
            };
            for b in 0..g.batch {
                let mut oy0 = 0;
                while oy0 < g.out_h {
                    let out_rows = band.out_rows.min(g.out_h - oy0);
                    let pixels = Pixels {
                        b,
                        first: (oy0, ox0),
                        count: (out_rows, out_cols),
                    };
                    let zero_point = q.input_zero_point as i8;
                    let bytes = band.fill(&mut window, input, zero_point, &pixels, (c0, lanes));
                    // SAFETY: `fill` initialized the window's first `bytes` bytes.
                    let written =
                        unsafe { core::slice::from_raw_parts(window.as_ptr().cast::<i8>(), bytes) };
                    block(&band, written, &pixels, &mut *output);
                    oy0 += out_rows;
                }
            }
            ox0 += out_cols;
        }
        c0 += lanes;
    }
    // (uint4 inputs and outputs come in whole blocks.)
    if let (Some(input), Values::I8(filter), Some(output)) = (input.int8(), filter, output.int8()) {
        channels_left(g, q, input, filter, output, c0);
    }
    true
}

/// The output pixels of one window: rows `first.0..first.0 + count.0` and columns
/// `first.1..first.1 + count.1` of image `b`.
struct Pixels {
    b: usize,
    first: (usize, usize),
    count: (usize, usize),
}

/// The windows of [`windowed_avx2`]: `columns` pixels wide, padding included, for bands of
/// `out_rows` output rows (the last may have fewer).
struct Band<'a> {
    g: &'a ConvGeometry,
    columns: usize,
    out_rows: usize,
}

impl Band<'_> {
    /// Copies channels `c0..c0 + lanes` of the input `pixels` read into `window`, `lanes`
    /// bytes per column and the zero point outside the input, then [`SLACK`] bytes of the
    /// zero point. Returns the bytes written.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn fill<I: Input + ?Sized>(
        &self,
        window: &mut [MaybeUninit<i8>; WINDOW],
        input: &I,
        zero_point: i8,
        pixels: &Pixels,
        (c0, lanes): (usize, usize),
    ) -> usize {
        let g = self.g;
        let row_bytes = self.columns * lanes;
        let rows = (pixels.count.0 - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1;
        let bytes = rows * row_bytes + SLACK;
        // Window columns `inside.0..inside.1` hold input columns `x0 + inside.0..`.
        let x0 = (pixels.first.1 * g.stride_w) as isize - g.pad_left as isize;
        let inside = (
            (-x0).clamp(0, self.columns as isize) as usize,
            (g.in_w as isize - x0).clamp(0, self.columns as isize) as usize,
        );
        let first_iy = (pixels.first.0 * g.stride_h).wrapping_sub(g.pad_top);
        for (i, row) in window[..rows * row_bytes]
            .chunks_exact_mut(row_bytes)
            .enumerate()
        {
            let iy = first_iy.wrapping_add(i);
            if iy >= g.in_h || inside.0 >= inside.1 {
                row.fill(MaybeUninit::new(zero_point));
                continue;
            }
            let (left, rest) = row.split_at_mut(inside.0 * lanes);
            let (middle, right) = rest.split_at_mut((inside.1 - inside.0) * lanes);
            left.fill(MaybeUninit::new(zero_point));
            right.fill(MaybeUninit::new(zero_point));
            let ix = (x0 + inside.0 as isize) as usize;
            let first = ((pixels.b * g.in_h + iy) * g.in_w + ix) * g.in_c + c0;
            match lanes {
                32 => input.copy::<32>(middle, first, g.in_c),
                16 => input.copy::<16>(middle, first, g.in_c),
                _ => input.copy::<8>(middle, first, g.in_c),
            }
        }
        window[rows * row_bytes..bytes].fill(MaybeUninit::new(zero_point));
        bytes
    }
}

/// Fills `dst` with the first `L` bytes of each pixel of `src` (`stride` bytes apart): a
/// fixed-size copy each, not a call to `memmove`.
#[inline]
fn copy_pixels<const L: usize>(dst: &mut [MaybeUninit<i8>], src: &[i8], stride: usize) {
    for (dst, src) in dst.chunks_exact_mut(L).zip(src.chunks(stride)) {
        if let (Ok(dst), Some(src)) = (
            <&mut [MaybeUninit<i8>; L]>::try_from(dst),
            src.first_chunk::<L>(),
        ) {
            for (d, &x) in dst.iter_mut().zip(src) {
                d.write(x);
            }
        }
    }
}

/// What the windows are filled from: int8 values, or uint4 values packed two per byte
/// ([`PackedU4In`]). Generic rather than an enum, so that each kind's fill is small enough
/// to inline.
trait Input {
    /// Fills `dst` with the first `L` values of each pixel from value `first` on, `stride`
    /// values apart.
    fn copy<const L: usize>(&self, dst: &mut [MaybeUninit<i8>], first: usize, stride: usize);
    /// The int8 values, for the reference kernel's last channels.
    fn int8(&self) -> Option<&[i8]>;
}

impl Input for [i8] {
    #[inline(always)]
    fn copy<const L: usize>(&self, dst: &mut [MaybeUninit<i8>], first: usize, stride: usize) {
        copy_pixels::<L>(dst, &self[first..], stride);
    }

    fn int8(&self) -> Option<&[i8]> {
        Some(self)
    }
}

/// uint4 inputs, two per byte, low nibble first.
struct PackedU4In<'a>(&'a [u8]);

impl Input for PackedU4In<'_> {
    /// `first` and `stride` are even (channels come in whole blocks of 8), so each pixel
    /// starts on a byte. A pixel past the input's end reads as zeros.
    #[inline(always)]
    fn copy<const L: usize>(&self, dst: &mut [MaybeUninit<i8>], first: usize, stride: usize) {
        for (j, dst) in dst.chunks_exact_mut(L).enumerate() {
            let at = (first + j * stride) / 2;
            match self.0.get(at..at + L / 2) {
                // SAFETY: `bytes` holds `L / 2` readable bytes and `dst` `L` writable ones.
                Some(bytes) => unsafe { unpack_nibbles::<L>(bytes.as_ptr(), dst.as_mut_ptr()) },
                None => dst.fill(MaybeUninit::new(0)),
            }
        }
    }

    fn int8(&self) -> Option<&[i8]> {
        None
    }
}

/// Unpacks `L / 2` bytes at `src` (`L` 8, 16 or 32) into `L` values at `dst`, low nibble
/// first: SSE2 only (the x86-64 baseline), so that it inlines into any caller.
///
/// # Safety
/// `src` has `L / 2` readable bytes and `dst` `L` writable ones.
#[inline(always)]
unsafe fn unpack_nibbles<const L: usize>(src: *const u8, dst: *mut MaybeUninit<i8>) {
    // SAFETY: the caller's contract; unaligned accesses.
    unsafe {
        let packed = match L {
            8 => _mm_cvtsi32_si128(src.cast::<i32>().read_unaligned()),
            16 => _mm_loadl_epi64(src.cast()),
            _ => _mm_loadu_si128(src.cast()),
        };
        let low4 = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(packed, low4);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(packed), low4);
        let first = _mm_unpacklo_epi8(lo, hi);
        match L {
            8 => _mm_storel_epi64(dst.cast(), first),
            16 => _mm_storeu_si128(dst.cast(), first),
            _ => {
                _mm_storeu_si128(dst.cast(), first);
                _mm_storeu_si128(dst.add(16).cast(), _mm_unpackhi_epi8(lo, hi));
            }
        }
    }
}

/// Channels `c0..c0 + C` of output rows `oy0..oy0 + out_rows` of image `b` from their
/// `window` (see [`Band::fill`]), `LANES / C` pixels per pass: byte lane `i` of a pass is
/// pixel `i / C`, channel `c0 + i % C` (`LANES > C` only at stride 1). `TAPS`: the kernel's
/// tap count when known at compile time (9 for 3x3), else 0.
#[target_feature(enable = "avx2")]
fn windowed_block<const LANES: usize, const C: usize, const TAPS: usize, O: Passes + ?Sized>(
    band: &Band<'_>,
    window: &[i8],
    q: &Requant<'_>,
    pixels: &Pixels,
    c0: usize,
    filter: Values<'_>,
    output: &mut O,
) {
    let g = band.g;
    let c = g.in_c;
    let taps = tap_count::<TAPS>(g);
    let pairs = taps.div_ceil(2);
    let per_pass = LANES / C;
    // 16-byte loads per tap (one 8-byte load for 8 lanes).
    let loads = LANES.div_ceil(16);
    let load = |data: *const i8| -> [__m128i; 2] {
        // SAFETY: callers pass a tap's first byte in the window, with `LANES` readable bytes
        // behind it (a pass's pixels, then at most `SLACK` bytes past the last row).
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
    // Each tap's weights by byte lane: its `C` channels, repeated across the pass's pixels.
    let tap_weights = |t: usize| -> [__m128i; 2] {
        if t >= taps {
            return [_mm_setzero_si128(); 2];
        }
        let mut unpacked = [0i8; 32];
        let at = t * c + c0;
        let w = match filter {
            Values::I8(f) => f.as_ptr().wrapping_add(at),
            // int4, two per byte (`at` is even: channels come in whole blocks of 8).
            Values::I4(f) => {
                let bytes = f.get(at / 2..at / 2 + C / 2).unwrap_or_default();
                for (pair, &b) in unpacked.chunks_exact_mut(2).zip(bytes) {
                    pair[0] = ((b << 4) as i8) >> 4;
                    pair[1] = (b as i8) >> 4;
                }
                unpacked.as_ptr()
            }
            Values::U4(_) => unpacked.as_ptr(),
        };
        // SAFETY: `w` holds channels `c0..c0 + C` of tap `t` (the caller checked that the
        // filter holds `taps * in_c` values; `unpacked` holds 32).
        unsafe {
            match C {
                _ if C == LANES => load(w),
                8 => [_mm_set1_epi64x(w.cast::<i64>().read_unaligned()); 2],
                _ => [_mm_loadu_si128(w.cast()); 2],
            }
        }
    };
    // Each tap pair's weights, interleaved and widened as the inputs will be.
    // (Uninitialized past `pairs`: zeroing all 4 KB cost a `memset` per call.)
    let mut storage = [const { MaybeUninit::<[__m256i; 4]>::uninit() }; MAX_TAPS / 2];
    for (p, slot) in storage.iter_mut().enumerate().take(pairs) {
        let (wa, wb) = (tap_weights(2 * p), tap_weights(2 * p + 1));
        let mut pair = [_mm256_setzero_si256(); 4];
        for v in 0..loads {
            pair[2 * v] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(wa[v], wb[v]));
            pair[2 * v + 1] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(wa[v], wb[v]));
        }
        slot.write(pair);
    }
    // SAFETY: the loop above initialized the first `pairs` entries (at most all of them).
    let weights: &[[__m256i; 4]] =
        unsafe { core::slice::from_raw_parts(storage.as_ptr().cast(), pairs.min(storage.len())) };
    let requant = lane_requant::<LANES>(q, weights, |lane| c0 + lane % C);

    let row_bytes = band.columns * C;
    // Each tap's offset from its pixel's window position.
    let mut tap_offset = [0usize; MAX_TAPS];
    for (t, offset) in tap_offset.iter_mut().enumerate().take(taps) {
        let (ky, kx) = (t / g.kernel_w, t % g.kernel_w);
        *offset = ky * g.dilation_h * row_bytes + kx * g.dilation_w * C;
    }
    let wp = window.as_ptr();
    let ((oy0, ox0), (out_rows, out_cols)) = (pixels.first, pixels.count);
    for oy in 0..out_rows {
        let row = wp.wrapping_add(oy * g.stride_h * row_bytes);
        let out_row = ((pixels.b * g.out_h + oy0 + oy) * g.out_w + ox0) * c + c0;
        let mut ox = 0;
        while ox < out_cols {
            let origin = row.wrapping_add(ox * g.stride_w * C);
            let mut acc = [_mm256_setzero_si256(); 4];
            for (p, w) in weights.iter().enumerate().take(pairs) {
                let xa = load(origin.wrapping_add(tap_offset[2 * p]));
                // A missing last tap: any inputs times zero weights.
                let xb = if 2 * p + 1 < taps {
                    load(origin.wrapping_add(tap_offset[2 * p + 1]))
                } else {
                    xa
                };
                for v in 0..loads {
                    let lo = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(xa[v], xb[v]));
                    acc[2 * v] = _mm256_add_epi32(acc[2 * v], _mm256_madd_epi16(lo, w[2 * v]));
                    if LANES >= 16 {
                        let hi = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(xa[v], xb[v]));
                        acc[2 * v + 1] =
                            _mm256_add_epi32(acc[2 * v + 1], _mm256_madd_epi16(hi, w[2 * v + 1]));
                    }
                }
            }
            // SAFETY: this function runs on AVX2.
            let bytes = unsafe { requant4(requant.each_ref(), &acc, LANES / 8) };
            let count = per_pass.min(out_cols - ox);
            let at = out_row + ox * c;
            if count == per_pass && (per_pass == 1 || C == c) {
                // The pass's pixels side by side: one store.
                if let Some(values) = bytes.first_chunk::<LANES>() {
                    output.put(at, values);
                }
            } else {
                for (p, values) in bytes.as_chunks::<C>().0.iter().take(count).enumerate() {
                    output.put(at + p * c, values);
                }
            }
            ox += per_pass;
        }
    }
}

/// The requantization of a pass's `LANES` byte lanes in blocks of 8, the 8 lanes of block
/// `k` being the consecutive channels from `first_channel(8 * k)`, the bias folded with the
/// input zero point: `bias - zp * sum(w)`, the filter sums taken from the interleaved tap
/// pairs `weights` (a zero weight pads an odd tap count). Blocks past `LANES` repeat the
/// first (their lanes are not stored).
#[inline]
#[target_feature(enable = "avx2")]
fn lane_requant<const LANES: usize>(
    q: &Requant<'_>,
    weights: &[[__m256i; 4]],
    first_channel: impl Fn(usize) -> usize,
) -> [Requant8; 4] {
    let ones = _mm256_set1_epi16(1);
    let zero_point = _mm256_set1_epi32(q.input_zero_point);
    let block = |k: usize| {
        let mut sum = _mm256_setzero_si256();
        for pair in weights {
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pair[k], ones));
        }
        let copies;
        let tables = block_tables!(q, first_channel(8 * k), NR, copies);
        let mut requant = Requant8::new(&tables, q);
        requant.subtract_from_bias(_mm256_mullo_epi32(zero_point, sum));
        requant
    };
    let first = block(0);
    core::array::from_fn(|k| {
        if k > 0 && 8 * k < LANES {
            block(k)
        } else {
            first
        }
    })
}

/// The AVX-512 VNNI tier: channels `c0..c0 + C` (`C` 8, 16 or 32, `c0 + C <= in_c`) of
/// `32 / C` neighbouring output pixels per pass, so narrow layers fill the register too.
/// Byte lane `i` of a pass is pixel `i / C`, channel `c0 + i % C`. Each tap pair's 32
/// input bytes interleave with the pair's second tap (`vpunpck[lh]bw`, per 128-bit half),
/// widen to int16 and meet the pair's weights in one `vpdpwssd` per 16 lanes. The unpack
/// leaves accumulator 0 with byte lanes 0..8 and 16..24, accumulator 1 with 8..16 and
/// 24..32; the requantization tables follow that order and the stores undo it.
/// `TAPS`: the kernel's tap count when known at compile time (9 for 3x3), else 0.
///
/// # Safety
/// The CPU runs AVX-512 VNNI (F, BW, VL); the slices hold the geometry's elements.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn block_vnni<const C: usize, const TAPS: usize>(
    g: &ConvGeometry,
    q: &Requant<'_>,
    c0: usize,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    let pixels = 32 / C;
    let c = g.in_c;
    let taps = tap_count::<TAPS>(g);
    let pairs = taps.div_ceil(2);

    // Each tap pair's weights, interleaved as the inputs will be, widened to int16.
    let fp = filter.as_ptr().wrapping_add(c0);
    let tap_weights = |t: usize| -> __m256i {
        if t >= taps {
            return _mm256_setzero_si256();
        }
        let w = fp.wrapping_add(t * c);
        // SAFETY: tap `t`'s row has channels `c0..c0 + C` (the caller checked the filter
        // holds `taps * in_c` values); each width repeats them across the 32 lanes.
        unsafe {
            match C {
                32 => _mm256_loadu_si256(w.cast()),
                16 => _mm256_broadcastsi128_si256(_mm_loadu_si128(w.cast())),
                _ => _mm256_set1_epi64x(w.cast::<i64>().read_unaligned()),
            }
        }
    };
    let mut weights = [[_mm512_setzero_si512(); 2]; MAX_TAPS / 2];
    let ones = _mm512_set1_epi16(1);
    let mut weight_sums = [_mm512_setzero_si512(); 2];
    for (p, pair) in weights.iter_mut().enumerate().take(pairs) {
        let (wa, wb) = (tap_weights(2 * p), tap_weights(2 * p + 1));
        pair[0] = _mm512_cvtepi8_epi16(_mm256_unpacklo_epi8(wa, wb));
        pair[1] = _mm512_cvtepi8_epi16(_mm256_unpackhi_epi8(wa, wb));
        for (sum, &w) in weight_sums.iter_mut().zip(pair.iter()) {
            *sum = _mm512_add_epi32(*sum, _mm512_madd_epi16(w, ones));
        }
    }

    // Requantization tables by byte lane in blocks of 8 lanes; the bias then loses the
    // input zero point's share, `zp * sum(w)` (wrapping, as the reference's int32 sum).
    let bias = q.bias.map_or([[0; NR]; 4], |b| lane_table::<C>(b, c0));
    let multiplier = lane_table::<C>(q.multiplier, c0);
    let shift = lane_table::<C>(q.shift, c0);
    let block = |k: usize| Block {
        bias: &bias[k],
        multiplier: &multiplier[k],
        shift: &shift[k],
    };
    let zp = _mm512_set1_epi32(q.input_zero_point);
    let requant = [(0, 2), (1, 3)].map(|(lower, upper)| {
        let mut r = Requant16::new(&block(lower), &block(upper), q);
        r.subtract_from_bias(_mm512_mullo_epi32(zp, weight_sums[lower]));
        r
    });

    // Each tap's input offset from the window's first pixel, in elements.
    let mut tap_offset = [0usize; MAX_TAPS];
    for (t, offset) in tap_offset.iter_mut().enumerate().take(taps) {
        let (ky, kx) = (t / g.kernel_w, t % g.kernel_w);
        *offset = (ky * g.dilation_h * g.in_w + kx * g.dilation_w) * c;
    }
    let ip = input.as_ptr().wrapping_add(c0);
    // Input elements between the windows of neighbouring output pixels.
    let step = g.stride_w * c;
    let (last_y, last_x) = (
        (g.kernel_h - 1) * g.dilation_h,
        (g.kernel_w - 1) * g.dilation_w,
    );
    // A tap over the edge reads the zero point (masked loads: its bytes are never touched).
    let zero_points = _mm256_set1_epi8(q.input_zero_point as i8);
    let pixel_lanes = |p: usize| (u32::MAX >> (32 - C)) << (p * C);
    let mut row_mask = [0u32; MAX_TAPS];
    let mut column_mask = [0u32; MAX_TAPS];

    let weights = &weights[..pairs];
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            // Out-of-range coordinates wrap to huge values: one compare each.
            let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
            let rows_inside = iy0 < g.in_h && iy0.wrapping_add(last_y) < g.in_h;
            for (ky, mask) in row_mask.iter_mut().enumerate().take(g.kernel_h) {
                let inside = iy0.wrapping_add(ky * g.dilation_h) < g.in_h;
                *mask = if inside { u32::MAX } else { 0 };
            }
            let ix = |x: usize| (x * g.stride_w).wrapping_sub(g.pad_left);
            // Whether the pass from output column `x` has all its pixels and windows inside.
            let inside = |x: usize| {
                rows_inside
                    && x + pixels <= g.out_w
                    && ix(x) < g.in_w
                    && ix(x + pixels - 1).wrapping_add(last_x) < g.in_w
            };
            // The window of output column `x`, wrapping: over the edge it may point outside.
            let origin = |x: usize| {
                ip.wrapping_add(
                    (b * g.in_h)
                        .wrapping_add(iy0)
                        .wrapping_mul(g.in_w)
                        .wrapping_add(ix(x))
                        .wrapping_mul(c),
                )
            };
            let out_at = |x: usize| ((b * g.out_h + oy) * g.out_w + x) * c + c0;
            let mut ox = 0;
            while ox < g.out_w {
                let count = pixels.min(g.out_w - ox);
                let first = origin(ox);
                let bytes = if inside(ox) {
                    passes::<1>(weights, taps, &requant, |_, t| {
                        // SAFETY: the pass's windows lie in the input; each load reads `C`
                        // channels from `c0` of its pixels (all 32 bytes when `step == C`).
                        unsafe { load_pixels::<C>(first.wrapping_add(tap_offset[t]), step) }
                    })
                } else {
                    for (kx, mask) in column_mask.iter_mut().enumerate().take(g.kernel_w) {
                        *mask = (0..count)
                            .filter(|&p| ix(ox + p).wrapping_add(kx * g.dilation_w) < g.in_w)
                            .fold(0, |m, p| m | pixel_lanes(p));
                    }
                    passes::<1>(weights, taps, &requant, |_, t| {
                        let mask = row_mask[t / g.kernel_w] & column_mask[t % g.kernel_w];
                        let at = first.wrapping_add(tap_offset[t]);
                        // SAFETY: the mask keeps exactly the bytes of the pass's pixels
                        // whose tap `t` lies inside the input.
                        unsafe { load_pixels_masked::<C>(at, step, mask, zero_points) }
                    })
                };
                store_pixels::<C>(&bytes[0], count, |p| out_at(ox + p), output);
                ox += count;
            }
        }
    }
}

/// The int8 outputs of `N` passes (byte lanes 0..16 and 16..32 of each), `tap(n, t)` loading
/// tap `t` of pass `n` and `weights` holding the tap pairs. The kernel runs one pass at a time:
/// two interleaved passes measured slower on Zen 4, and so, oddly, did this function written
/// for one pass only (`[__m128i; 2]`, 6.0 vs 4.7 us on KWS's depthwise shape: LLVM lays the
/// two out differently).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn passes<const N: usize>(
    weights: &[[__m512i; 2]],
    taps: usize,
    requant: &[Requant16; 2],
    tap: impl Fn(usize, usize) -> __m256i,
) -> [[__m128i; 2]; N] {
    let mut acc = [[_mm512_setzero_si512(); 2]; N];
    for (p, w) in weights.iter().enumerate() {
        for (n, acc) in acc.iter_mut().enumerate() {
            let xa = tap(n, 2 * p);
            // A missing last tap: any inputs times zero weights.
            let xb = if 2 * p + 1 < taps {
                tap(n, 2 * p + 1)
            } else {
                xa
            };
            let lo = _mm512_cvtepi8_epi16(_mm256_unpacklo_epi8(xa, xb));
            let hi = _mm512_cvtepi8_epi16(_mm256_unpackhi_epi8(xa, xb));
            acc[0] = _mm512_dpwssd_epi32(acc[0], lo, w[0]);
            acc[1] = _mm512_dpwssd_epi32(acc[1], hi, w[1]);
        }
    }
    // A loop, not `map`: LLVM outlined the closure, accumulators passed through memory.
    let mut bytes = [[_mm_setzero_si128(); 2]; N];
    for (halves, acc) in bytes.iter_mut().zip(&acc) {
        // The saturating narrow finishes the clamp (see `Requant16::apply`).
        let first = _mm512_cvtsepi32_epi8(requant[0].apply(acc[0]));
        let second = _mm512_cvtsepi32_epi8(requant[1].apply(acc[1]));
        *halves = [
            _mm_unpacklo_epi64(first, second),
            _mm_unpackhi_epi64(first, second),
        ];
    }
    bytes
}

/// Table `t` of channels `c0..c0 + C` by byte lane of a pass, in blocks of 8 lanes.
fn lane_table<const C: usize>(t: &[i32], c0: usize) -> [[i32; NR]; 4] {
    core::array::from_fn(|k| core::array::from_fn(|j| t[c0 + (8 * k + j) % C]))
}

/// Channels `c0..c0 + C` of `32 / C` pixels `step` elements apart, from `p` at the first.
///
/// # Safety
/// Each pixel's `C` bytes are readable (all 32 bytes when `step == C`).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn load_pixels<const C: usize>(p: *const i8, step: usize) -> __m256i {
    // SAFETY: the caller's contract, pixel by pixel.
    unsafe {
        if C == 32 || step == C {
            return _mm256_loadu_si256(p.cast());
        }
        if C == 16 {
            let lo = _mm_loadu_si128(p.cast());
            return _mm256_inserti128_si256::<1>(
                _mm256_castsi128_si256(lo),
                _mm_loadu_si128(p.add(step).cast()),
            );
        }
        let two = |a: *const i8, b: *const i8| {
            let lo = _mm_castsi128_pd(_mm_loadl_epi64(a.cast()));
            _mm_castpd_si128(_mm_loadh_pd(lo, b.cast()))
        };
        _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(two(p, p.add(step))),
            two(p.add(2 * step), p.add(3 * step)),
        )
    }
}

/// [`load_pixels`] with the bytes outside `mask` (bit `i`: byte lane `i`) taken from `fill`
/// and never read.
///
/// # Safety
/// The bytes inside `mask` are readable.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn load_pixels_masked<const C: usize>(
    p: *const i8,
    step: usize,
    mask: u32,
    fill: __m256i,
) -> __m256i {
    let fill_half = _mm256_castsi256_si128(fill);
    let part = |k: usize| {
        let bits = (mask >> (k * C)) & (u32::MAX >> (32 - C));
        // SAFETY: the caller's contract; masked-off bytes are not accessed.
        unsafe { _mm_mask_loadu_epi8(fill_half, bits as u16, p.wrapping_add(k * step).cast()) }
    };
    let join =
        |lo: __m128i, hi: __m128i| _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(lo), hi);
    if C == 32 || step == C {
        // SAFETY: as above.
        return unsafe { _mm256_mask_loadu_epi8(fill, mask, p.cast()) };
    }
    if C == 16 {
        return join(part(0), part(1));
    }
    join(
        _mm_unpacklo_epi64(part(0), part(1)),
        _mm_unpacklo_epi64(part(2), part(3)),
    )
}

/// Where the windowed kernel's passes go: int8 values, or uint4 values packed two per byte
/// ([`PackedU4Out`]). Generic rather than an enum, so that the int8 kernel has no branch
/// per pass.
trait Passes {
    /// Writes `N` values of a pass from element `at` (even for uint4 outputs, which come in
    /// whole blocks of 8 channels); values that do not fit are not written.
    fn put<const N: usize>(&mut self, at: usize, values: &[i8; N]);
    /// The int8 values, for the reference kernel's last channels.
    fn int8(&mut self) -> Option<&mut [i8]>;
}

impl Passes for [i8] {
    #[inline(always)]
    fn put<const N: usize>(&mut self, at: usize, values: &[i8; N]) {
        if let Some(dst) = self.get_mut(at..at + N) {
            dst.copy_from_slice(values);
        }
    }

    fn int8(&mut self) -> Option<&mut [i8]> {
        Some(self)
    }
}

/// uint4 outputs, two per byte, low nibble first.
struct PackedU4Out<'a>(&'a mut [u8]);

impl Passes for PackedU4Out<'_> {
    #[inline(always)]
    fn put<const N: usize>(&mut self, at: usize, values: &[i8; N]) {
        if let Some(dst) = self.0.get_mut(at / 2..at / 2 + N / 2) {
            for (b, pair) in dst.iter_mut().zip(values.chunks_exact(2)) {
                *b = pair[0] as u8 | (pair[1] as u8) << 4;
            }
        }
    }

    fn int8(&mut self) -> Option<&mut [i8]> {
        None
    }
}

/// Writes the first `count` pixels of a pass (`halves`: byte lanes 0..16 and 16..32) at
/// `output[at(p)..]`, `C` bytes each; a pixel that does not fit is not written.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn store_pixels<const C: usize>(
    halves: &[__m128i; 2],
    count: usize,
    at: impl Fn(usize) -> usize,
    output: &mut [i8],
) {
    let mut put16 = |from: usize, v: __m128i| {
        if let Some(dst) = output.get_mut(from..from + 16) {
            // SAFETY: `dst` is 16 writable bytes; storeu has no alignment need.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), v) };
        }
    };
    let pixels = 32 / C;
    // A whole pass of pixels that lie side by side in memory: two stores.
    if C == 32 || (count == pixels && at(pixels - 1) == at(0) + 32 - C) {
        put16(at(0), halves[0]);
        put16(at(0) + 16, halves[1]);
        return;
    }
    if C == 16 {
        for (p, &half) in halves.iter().enumerate().take(count) {
            put16(at(p), half);
        }
        return;
    }
    for p in 0..count {
        let half = halves[p / 2];
        let bytes = if p % 2 == 0 {
            _mm_cvtsi128_si64(half)
        } else {
            _mm_extract_epi64::<1>(half)
        };
        if let Some(dst) = output.get_mut(at(p)..at(p) + 8) {
            // SAFETY: `dst` is 8 writable bytes; the write is unaligned.
            unsafe { dst.as_mut_ptr().cast::<i64>().write_unaligned(bytes) };
        }
    }
}
