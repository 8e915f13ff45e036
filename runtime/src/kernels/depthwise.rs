//! Depthwise convolution fast path: channels are the vector lanes, so the plain
//! `[1, KH, KW, C]` filter layout is already the kernel's layout.

use super::int4::{Values, ValuesMut};
use super::{scalar, ConvGeometry, Isa, Requant};

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
    if g.depth_multiplier != 1 || !fits || !isa.is_available() {
        return scalar::depthwise_conv2d(g, q, input, filter, output);
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => super::x86::depthwise_conv2d(g, q, input, filter, output),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDotprod => super::arm::depthwise_conv2d(g, q, input, filter, output),
        _ => scalar::depthwise_conv2d(g, q, input, filter, output),
    }
}

/// Output rows [`depthwise_conv2d_values`] computes per call of the int8 kernel (4 measured no
/// faster on the KWS and VWW shapes, and takes more scratch).
const WINDOW_ROWS: usize = 1;

/// Input rows a window of [`WINDOW_ROWS`] output rows reads.
fn window_span(g: &ConvGeometry) -> usize {
    (WINDOW_ROWS - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1
}

/// Scratch bytes [`depthwise_conv2d_values`] needs for its fast path: the filter as int8, a
/// window of input rows as bytes and the window's output rows.
pub fn values_scratch_len(g: &ConvGeometry) -> usize {
    g.kernel_h * g.kernel_w * g.out_c
        + window_span(g) * g.in_w * g.in_c
        + WINDOW_ROWS * g.out_w * g.out_c
}

/// Depthwise conv with 4-bit inputs, filters or outputs: every [`WINDOW_ROWS`] output rows
/// are computed by the int8 kernels of `isa` from a window of the input rows they read,
/// unpacked to bytes (rows outside the input filled with the zero point, which contributes
/// nothing, as the reference's skipped taps), then packed. Falls back to the oracle without
/// the scratch.
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
    let (taps, row_len, out_row) = (
        g.kernel_h * g.kernel_w * g.out_c,
        g.in_w * g.in_c,
        g.out_w * g.out_c,
    );
    if g.depth_multiplier != 1 || scratch.len() < values_scratch_len(g) {
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
