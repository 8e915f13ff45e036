//! Depthwise convolution fast path: channels are the vector lanes, so the plain
//! `[1, KH, KW, C]` filter layout is already the kernel's layout.

use super::int4::{self, Values, ValuesMut};
use super::{scalar, ConvGeometry, Isa, Requant};
use crate::format::DType;

/// Depthwise conv with `depth_multiplier == 1` on `isa`; other multipliers, and ISAs without
/// a depthwise kernel, run the reference kernel. Callers have checked the lengths.
pub fn depthwise_conv2d(
    isa: Isa,
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    let fits = input.len() >= g.batch * g.in_h * g.in_w * g.in_c
        && filter.len() >= g.kernel_h * g.kernel_w * g.out_c
        && output.len() >= g.batch * g.out_h * g.out_w * g.out_c
        && q.multiplier.len() >= g.out_c
        && q.shift.len() >= g.out_c
        && q.bias.is_none_or(|b| b.len() >= g.out_c);
    if g.depth_multiplier != 1 || !fits {
        return scalar::depthwise_conv2d(g, q, input, filter, output);
    }
    (isa.kernels().depthwise)(g, q, input, filter, output)
}

/// Output rows [`depthwise_conv2d_values`] computes per call of the int8 kernel (4 measured no
/// faster on the KWS and VWW shapes, and takes more scratch).
const WINDOW_ROWS: usize = 1;

/// Input rows a window of [`WINDOW_ROWS`] output rows reads.
fn window_span(g: &ConvGeometry) -> usize {
    (WINDOW_ROWS - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1
}

/// Most taps (`kernel_h * kernel_w`) the native uint4 x int4 kernels take: their int16 sums
/// stay exact (32 taps * 15 * 8 < 2^15) and their weights fit a fixed stack array.
pub const U4_MAX_TAPS: usize = 32;

/// Whether a depthwise conv runs on the native uint4 x int4 kernels (AVX2, aarch64 NEON):
/// uint4 input, int4 filter, depth multiplier 1, channels a multiple of 8 (every pixel starts
/// on a byte) and at most [`U4_MAX_TAPS`] taps. They read the packed tensors directly and
/// need no scratch.
pub fn runs_native_u4(g: &ConvGeometry, input: DType, filter: DType) -> bool {
    input == DType::U4
        && filter == DType::I4
        && g.depth_multiplier == 1
        && g.in_c.is_multiple_of(8)
        && g.kernel_h * g.kernel_w <= U4_MAX_TAPS
}

/// Scratch bytes [`depthwise_conv2d_values`] needs for its fast path: none on the native
/// uint4 x int4 kernels ([`runs_native_u4`]); otherwise the filter as int8, a window of
/// input rows as bytes and the window's output rows.
pub fn values_scratch_len(g: &ConvGeometry, input: DType, filter: DType) -> usize {
    if runs_native_u4(g, input, filter) {
        return 0;
    }
    window_scratch_len(g)
}

/// Scratch bytes of the row-window path.
fn window_scratch_len(g: &ConvGeometry) -> usize {
    g.kernel_h * g.kernel_w * g.out_c
        + window_span(g) * g.in_w * g.in_c
        + WINDOW_ROWS * g.out_w * g.out_c
}

/// Depthwise conv with 4-bit inputs, filters or outputs. uint4 x int4 convs of
/// [`runs_native_u4`] shapes run the native kernels of `isa`. Otherwise every
/// `WINDOW_ROWS` output rows are computed by the int8 kernels of `isa` from a window of the
/// input rows they read, unpacked to bytes (rows outside the input filled with the zero
/// point, which contributes nothing, as the reference's skipped taps), then packed. Falls back
/// to the oracle without the SIMD kernel or the scratch.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_values(
    isa: Isa,
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: Values<'_>,
    filter: Values<'_>,
    output: &mut ValuesMut<'_>,
    scratch: &mut [i8],
) {
    if let (Values::U4(x), Values::I4(w)) = (input, filter) {
        if runs_native_u4(g, DType::U4, DType::I4) && native_u4(isa, g, q, x, w, output) {
            return;
        }
    }
    let (taps, row_len, out_row) = (
        g.kernel_h * g.kernel_w * g.out_c,
        g.in_w * g.in_c,
        g.out_w * g.out_c,
    );
    if g.depth_multiplier != 1 || scratch.len() < window_scratch_len(g) {
        return scalar::depthwise_conv2d(g, q, &input, &filter, output);
    }
    let span = window_span(g);
    let (weights, rest) = scratch.split_at_mut(taps);
    let (window, rest) = rest.split_at_mut(span * row_len);
    let rows_out = &mut rest[..WINDOW_ROWS * out_row];
    filter.copy_to(0, weights);
    for b in 0..g.batch {
        let mut oy = 0;
        while oy < g.out_h {
            let rows = WINDOW_ROWS.min(g.out_h - oy);
            let first = (oy * g.stride_h) as isize - g.pad_top as isize;
            for (k, dst) in window.chunks_exact_mut(row_len).enumerate() {
                let iy = first + k as isize;
                if iy >= 0 && (iy as usize) < g.in_h {
                    input.copy_to((b * g.in_h + iy as usize) * row_len, dst);
                } else {
                    dst.fill(q.input_zero_point as i8);
                }
            }
            let sub = ConvGeometry {
                batch: 1,
                in_h: span,
                out_h: rows,
                pad_top: 0,
                ..*g
            };
            let out = &mut rows_out[..rows * out_row];
            depthwise_conv2d(isa, &sub, q, window, weights, out);
            output.write((b * g.out_h + oy) * out_row, out);
            oy += rows;
        }
    }
}

/// Runs the native uint4 x int4 kernel of `isa`, if it has one and the buffers hold the
/// shapes; returns whether it ran.
fn native_u4(
    isa: Isa,
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[u8],
    filter: &[u8],
    output: &mut ValuesMut<'_>,
) -> bool {
    let fits = input.len() * 2 >= g.batch * g.in_h * g.in_w * g.in_c
        && filter.len() * 2 >= g.kernel_h * g.kernel_w * g.out_c
        && output.len() >= g.batch * g.out_h * g.out_w * g.out_c
        && q.multiplier.len() >= g.out_c
        && q.shift.len() >= g.out_c
        && q.bias.is_none_or(|b| b.len() >= g.out_c);
    match isa.kernels().depthwise_u4 {
        Some(kernel) if fits => kernel(g, q, input, filter, output),
        _ => false,
    }
}

/// Where the native uint4 kernels read each tap of an output pixel: raw pointers into the
/// packed input, or to bytes holding the zero point in both nibbles for taps over the edge.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // NEON helpers
pub(crate) struct U4Taps<'a> {
    g: &'a ConvGeometry,
    input: &'a [u8],
    /// The zero point in both nibbles of 16 bytes (the widest read of one tap).
    zero_point: [u8; 16],
    /// Byte offset of each tap from the first tap, for pixels whose taps are all inside.
    deltas: [usize; U4_MAX_TAPS],
}

#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // NEON helpers
impl<'a> U4Taps<'a> {
    /// For conv `g` (channels a multiple of 8, at most [`U4_MAX_TAPS`] taps) over the packed
    /// `input` with input zero point `zero_point` (0..=15).
    pub(crate) fn new(g: &'a ConvGeometry, input: &'a [u8], zero_point: i32) -> Self {
        let zp = (zero_point & 0x0F) as u8;
        let mut deltas = [0; U4_MAX_TAPS];
        for ky in 0..g.kernel_h {
            for kx in 0..g.kernel_w {
                let pixels = ky * g.dilation_h * g.in_w + kx * g.dilation_w;
                deltas[ky * g.kernel_w + kx] = pixels * g.in_c / 2;
            }
        }
        Self {
            g,
            input,
            zero_point: [zp | zp << 4; 16],
            deltas,
        }
    }

    /// Pointers to the byte of channel `c0` (even) of every tap of output pixel
    /// `(b, oy, ox)`, in the filter's order, into `out[..KH * KW]`. Each is followed by at
    /// least `C - c0` readable nibbles, or is the zero-point bytes (16 readable bytes).
    #[inline(always)]
    pub(crate) fn pixel(
        &self,
        (b, oy, ox): (usize, usize, usize),
        c0: usize,
        out: &mut [*const u8],
    ) {
        let g = self.g;
        // Out-of-range coordinates wrapped to huge values, so one compare each.
        let iy0 = (oy * g.stride_h).wrapping_sub(g.pad_top);
        let ix0 = (ox * g.stride_w).wrapping_sub(g.pad_left);
        let inside = iy0 < g.in_h
            && iy0 + (g.kernel_h - 1) * g.dilation_h < g.in_h
            && ix0 < g.in_w
            && ix0 + (g.kernel_w - 1) * g.dilation_w < g.in_w;
        let at = |iy: usize, ix: usize| ((b * g.in_h + iy) * g.in_w + ix) * g.in_c / 2 + c0 / 2;
        if inside {
            let first = self.input.as_ptr().wrapping_add(at(iy0, ix0));
            for (p, &delta) in out.iter_mut().zip(&self.deltas[..g.kernel_h * g.kernel_w]) {
                *p = first.wrapping_add(delta);
            }
            return;
        }
        for ky in 0..g.kernel_h {
            let iy = iy0.wrapping_add(ky * g.dilation_h);
            for kx in 0..g.kernel_w {
                let ix = ix0.wrapping_add(kx * g.dilation_w);
                out[ky * g.kernel_w + kx] = if iy < g.in_h && ix < g.in_w {
                    self.input.as_ptr().wrapping_add(at(iy, ix))
                } else {
                    self.zero_point.as_ptr()
                };
            }
        }
    }

    /// The zero-point bytes (for the tap that pads an odd count, whose weights are 0).
    pub(crate) fn zero_point_bytes(&self) -> *const u8 {
        self.zero_point.as_ptr()
    }
}

/// The int4 weights of channels `c0..c0 + width` (`width` at most 32), one row per tap:
/// even channels sign-extended into bytes `0..width / 2`, odd ones into `16..16 + width / 2`,
/// the split of a tap's packed input bytes into low and high nibbles. Other bytes stay 0.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // NEON helper
pub(crate) fn split_u4_weights(
    g: &ConvGeometry,
    filter: &[u8],
    c0: usize,
    width: usize,
    rows: &mut [[i8; 32]],
) {
    for (t, row) in rows.iter_mut().take(g.kernel_h * g.kernel_w).enumerate() {
        for (j, &b) in filter[(t * g.out_c + c0) / 2..][..width / 2]
            .iter()
            .enumerate()
        {
            row[j] = int4::sign_extend(b) as i8;
            row[16 + j] = int4::sign_extend(b >> 4) as i8;
        }
    }
}

/// The bias of channels `c0..c0 + out.len()` of a uint4 x int4 depthwise conv with the input
/// zero point taken out over every tap: `bias[c] - zp * sum_t w[t, c]`, wrapping as the
/// reference's int32 sum does; the weights are the taps' rows of [`split_u4_weights`]. With
/// it, the native kernels sum `x * w` over all taps, reading the zero point for taps over the
/// edge, and still match the reference's `sum over valid taps of (x - zp) * w` exactly.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // NEON helper
pub(crate) fn folded_bias_u4(q: &Requant<'_>, split: &[[i8; 32]], c0: usize, out: &mut [i32]) {
    let mut sums = [0i32; 32];
    for row in split {
        for (s, &w) in sums.iter_mut().zip(row) {
            *s += i32::from(w);
        }
    }
    for (k, folded) in out.iter_mut().enumerate() {
        // Channel c0 + k is even channel k / 2 or odd channel k / 2 of the split.
        let sum = sums[k / 2 + 16 * (k % 2)];
        let bias = q.bias.map_or(0, |b| b[c0 + k]);
        *folded = bias.wrapping_sub(q.input_zero_point.wrapping_mul(sum));
    }
}

/// Requantization tables `[bias, multiplier, shift]` of lanes `first..first + 8` of a native
/// uint4 block whose lane `l` holds channel `c0 + l % period`; `folded` is the block's folded
/// bias by channel (from [`folded_bias_u4`]).
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))] // NEON helpers
#[inline]
pub(crate) fn lane_tables(
    q: &Requant<'_>,
    folded: &[i32],
    c0: usize,
    first: usize,
    period: usize,
) -> [[i32; 8]; 3] {
    // `first` is a multiple of 8 and 8 divides `period`, so the 8 lanes are 8 consecutive
    // channels: one remainder per block, not one per lane.
    let base = first % period;
    let channel = |i: usize| base + i;
    [
        core::array::from_fn(|i| folded[channel(i)]),
        core::array::from_fn(|i| q.multiplier[c0 + channel(i)]),
        core::array::from_fn(|i| q.shift[c0 + channel(i)]),
    ]
}

/// Calls `f((batch, oy, ox))` for every output pixel, in memory order.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)] // SIMD helpers
#[inline(always)]
pub(crate) fn for_each_pixel(g: &ConvGeometry, mut f: impl FnMut((usize, usize, usize))) {
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                f((b, oy, ox));
            }
        }
    }
}

/// The valid taps of output pixel `(oy, ox)`: `(tap index, input pixel index)` pairs, in
/// the reference kernel's order. At most `KH * KW`.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)] // SIMD helpers
#[inline(always)]
pub(crate) fn for_each_tap(
    g: &ConvGeometry,
    b: usize,
    oy: usize,
    ox: usize,
    mut f: impl FnMut(usize, usize),
) {
    for ky in 0..g.kernel_h {
        let iy = (oy * g.stride_h + ky * g.dilation_h).wrapping_sub(g.pad_top);
        if iy >= g.in_h {
            continue;
        }
        for kx in 0..g.kernel_w {
            let ix = (ox * g.stride_w + kx * g.dilation_w).wrapping_sub(g.pad_left);
            if ix < g.in_w {
                f(ky * g.kernel_w + kx, (b * g.in_h + iy) * g.in_w + ix);
            }
        }
    }
}

/// One channel of one output pixel, by the reference formula (the SIMD kernels' channel
/// tail).
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)] // SIMD helpers
pub(crate) fn depthwise_channel(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    (b, oy, ox): (usize, usize, usize),
    c: usize,
) -> i8 {
    let mut acc = 0i32;
    for_each_tap(g, b, oy, ox, |tap, pixel| {
        let x = i32::from(input[pixel * g.in_c + c]) - q.input_zero_point;
        acc += x * i32::from(filter[tap * g.out_c + c]);
    });
    scalar::requantize(acc, q, c)
}
