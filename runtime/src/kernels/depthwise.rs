//! Depthwise convolution fast path: channels are the vector lanes, so the plain
//! `[1, KH, KW, C]` filter layout is already the kernel's layout.

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
