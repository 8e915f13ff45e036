//! Scalar reference kernels: the oracle.
//!
//! Straight loops with TFLite's reference int8 semantics, written for clarity. Every SIMD
//! kernel must agree with these bit for bit. Callers (the ops) guarantee the slice lengths
//! match the geometry; the loops still index through bounds-checked slices.

use super::int4::{Elems, ElemsMut};
use super::{Broadcast, ConvGeometry, FullyConnectedGeometry, PoolGeometry, Requant};
use crate::format::{
    AddParams, BatchMatMulParams, DType, MeanParams, MulParams, PreluParams, RequantizeParams,
    SoftmaxParams,
};
use crate::quant::{self, fixed, multiply_by_quantized_multiplier as mbqm};

#[inline(always)]
pub(crate) fn requantize(acc: i32, q: &Requant<'_>, channel: usize) -> i8 {
    let acc = match q.bias {
        Some(bias) => acc.wrapping_add(bias[channel]),
        None => acc,
    };
    let scaled = q
        .rounding
        .apply(acc, q.multiplier[channel], q.shift[channel]);
    scaled
        .saturating_add(q.output_zero_point)
        .clamp(q.act_min, q.act_max) as i8
}

/// 2-D convolution. Input NHWC, filter OHWI, output NHWC; int8 or 4-bit elements.
pub fn conv2d<I, F, O>(g: &ConvGeometry, q: &Requant<'_>, input: &I, filter: &F, output: &mut O)
where
    I: Elems + ?Sized,
    F: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    let input_offset = -q.input_zero_point;
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for oc in 0..g.out_c {
                    let mut acc: i32 = 0;
                    for ky in 0..g.kernel_h {
                        let iy =
                            (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_top as isize;
                        if iy < 0 || iy >= g.in_h as isize {
                            continue;
                        }
                        for kx in 0..g.kernel_w {
                            let ix = (ox * g.stride_w + kx * g.dilation_w) as isize
                                - g.pad_left as isize;
                            if ix < 0 || ix >= g.in_w as isize {
                                continue;
                            }
                            let in_base =
                                ((b * g.in_h + iy as usize) * g.in_w + ix as usize) * g.in_c;
                            let f_base = ((oc * g.kernel_h + ky) * g.kernel_w + kx) * g.in_c;
                            for c in 0..g.in_c {
                                acc +=
                                    filter.at(f_base + c) * (input.at(in_base + c) + input_offset);
                            }
                        }
                    }
                    output.put(
                        ((b * g.out_h + oy) * g.out_w + ox) * g.out_c + oc,
                        requantize(acc, q, oc).into(),
                    );
                }
            }
        }
    }
}

/// Transposed 2-D convolution (TFLite's TRANSPOSE_CONV). Input NHWC (`in_h x in_w`), filter
/// OHWI, output NHWC (`out_h x out_w`); stride and padding are the transposed convolution's:
/// input pixel `(iy, ix)` and tap `(ky, kx)` reach output pixel `(iy * stride_h - pad_top +
/// ky, ...)`. Written as a gather (each output sums the pairs that reach it) rather than
/// TFLite's scatter into an int32 buffer: the same sums, in another order, which wrapping
/// int32 addition does not see.
pub fn transpose_conv2d(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &[i8],
    filter: &[i8],
    output: &mut [i8],
) {
    let input_offset = -q.input_zero_point;
    // Input index along one axis that tap `k` brings to output index `o`, if any.
    let source = |o: usize, k: usize, pad: usize, stride: usize, size: usize| {
        let at = (o + pad).checked_sub(k)?;
        (at % stride == 0 && at / stride < size).then_some(at / stride)
    };
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for oc in 0..g.out_c {
                    let mut acc: i32 = 0;
                    for ky in 0..g.kernel_h {
                        let Some(iy) = source(oy, ky, g.pad_top, g.stride_h, g.in_h) else {
                            continue;
                        };
                        for kx in 0..g.kernel_w {
                            let Some(ix) = source(ox, kx, g.pad_left, g.stride_w, g.in_w) else {
                                continue;
                            };
                            let x = ((b * g.in_h + iy) * g.in_w + ix) * g.in_c;
                            let w = ((oc * g.kernel_h + ky) * g.kernel_w + kx) * g.in_c;
                            for (&v, &f) in input[x..x + g.in_c].iter().zip(&filter[w..]) {
                                acc =
                                    acc.wrapping_add((i32::from(v) + input_offset) * i32::from(f));
                            }
                        }
                    }
                    output[((b * g.out_h + oy) * g.out_w + ox) * g.out_c + oc] =
                        requantize(acc, q, oc);
                }
            }
        }
    }
}

/// Depthwise 2-D convolution. Input NHWC, filter `[1, KH, KW, out_c]`, output NHWC with
/// `out_c = in_c * depth_multiplier`; int8 or 4-bit elements.
pub fn depthwise_conv2d<I, F, O>(
    g: &ConvGeometry,
    q: &Requant<'_>,
    input: &I,
    filter: &F,
    output: &mut O,
) where
    I: Elems + ?Sized,
    F: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    let input_offset = -q.input_zero_point;
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for ic in 0..g.in_c {
                    for m in 0..g.depth_multiplier {
                        let oc = ic * g.depth_multiplier + m;
                        let mut acc: i32 = 0;
                        for ky in 0..g.kernel_h {
                            let iy =
                                (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_top as isize;
                            if iy < 0 || iy >= g.in_h as isize {
                                continue;
                            }
                            for kx in 0..g.kernel_w {
                                let ix = (ox * g.stride_w + kx * g.dilation_w) as isize
                                    - g.pad_left as isize;
                                if ix < 0 || ix >= g.in_w as isize {
                                    continue;
                                }
                                let xv = input
                                    .at(((b * g.in_h + iy as usize) * g.in_w + ix as usize)
                                        * g.in_c
                                        + ic);
                                let wv = filter.at((ky * g.kernel_w + kx) * g.out_c + oc);
                                acc += wv * (xv + input_offset);
                            }
                        }
                        output.put(
                            ((b * g.out_h + oy) * g.out_w + ox) * g.out_c + oc,
                            requantize(acc, q, oc).into(),
                        );
                    }
                }
            }
        }
    }
}

/// Fully connected: `output[r, n] = requant(sum_k (w[n, k] - w_zp) * (x[r, k] - x_zp))`;
/// int8 or 4-bit elements.
pub fn fully_connected<I, F, O>(
    g: &FullyConnectedGeometry,
    q: &Requant<'_>,
    input: &I,
    weights: &F,
    output: &mut O,
) where
    I: Elems + ?Sized,
    F: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    let (rows, depth, units) = (g.rows, g.depth, g.units);
    let input_offset = -q.input_zero_point;
    let weight_offset = -g.weight_zero_point;
    for r in 0..rows {
        for n in 0..units {
            let mut acc: i32 = 0;
            for k in 0..depth {
                acc += (weights.at(n * depth + k) + weight_offset)
                    * (input.at(r * depth + k) + input_offset);
            }
            output.put(r * units + n, requantize(acc, q, n).into());
        }
    }
}

/// Element-wise add of two tensors at different scales (TFLite's int8 ADD; int8 or uint4
/// elements), `len` elements.
pub fn add<A, B, O>(p: &AddParams, len: usize, a: &A, b: &B, output: &mut O)
where
    A: Elems + ?Sized,
    B: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    for i in 0..len {
        output.put(i, add_one(p, false, a.at(i), b.at(i)));
    }
}

/// ADD (or SUB, `a - b`) of two tensors broadcast to the output (TFLite's int8 ADD and SUB:
/// the same rescaling, then the sum or the difference).
pub fn add_broadcast<A, B, O>(
    p: &AddParams,
    subtract: bool,
    s: &Broadcast,
    a: &A,
    b: &B,
    output: &mut O,
) where
    A: Elems + ?Sized,
    B: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    broadcast_pairs(s, a, b, output, |x, y| add_one(p, subtract, x, y));
}

/// `output[i] = f(a, b)` over the output's elements, each input read at its broadcast index.
#[inline(always)]
fn broadcast_pairs<A, B, O>(
    s: &Broadcast,
    a: &A,
    b: &B,
    output: &mut O,
    f: impl Fn(i32, i32) -> i32,
) where
    A: Elems + ?Sized,
    B: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    super::layout::for_each_index(s.dims, |at, i| {
        output.put(i, f(a.at(s.offset_a(at)), b.at(s.offset_b(at))));
    });
}

/// One element of ADD or SUB: both inputs shifted left and rescaled to a common scale,
/// summed (or subtracted), rescaled to the output's.
#[inline(always)]
fn add_one(p: &AddParams, subtract: bool, a: i32, b: i32) -> i32 {
    let x = (a - p.input1_zero_point) * (1 << p.left_shift);
    let y = (b - p.input2_zero_point) * (1 << p.left_shift);
    let x = mbqm(x, p.input1_multiplier, p.input1_shift);
    let y = mbqm(y, p.input2_multiplier, p.input2_shift);
    let raw = if subtract {
        x.wrapping_sub(y)
    } else {
        x.wrapping_add(y)
    };
    let sum = mbqm(raw, p.output_multiplier, p.output_shift);
    sum.saturating_add(p.output_zero_point)
        .clamp(p.act_min, p.act_max)
}

/// Element-wise maximum (or minimum) of two int8 tensors broadcast to the output, on the
/// stored values (TFLite's MAXIMUM and MINIMUM do not requantize).
pub fn max_min(maximum: bool, s: &Broadcast, a: &[i8], b: &[i8], output: &mut [i8]) {
    broadcast_pairs(
        s,
        a,
        b,
        output,
        |x, y| if maximum { x.max(y) } else { x.min(y) },
    );
}

/// TFLite's integer QUANTIZE (`Requantize`): each value less the input zero point, scaled
/// (double rounding), plus the output zero point, clamped to the output type. Values are
/// int8 or little-endian int16 (and int32 out) bytes, as `from` and `to` say.
pub fn requantize_values(
    p: &RequantizeParams,
    from: DType,
    to: DType,
    input: &[u8],
    output: &mut [u8],
) {
    let (lo, hi) = to.int_range();
    let read = |i: usize| -> Option<i32> {
        Some(match from {
            DType::I16 => i32::from(i16::from_le_bytes([
                *input.get(2 * i)?,
                *input.get(2 * i + 1)?,
            ])),
            _ => i32::from(*input.get(i)? as i8),
        })
    };
    let count = output.len() / to.byte_len(1);
    for i in 0..count {
        let Some(x) = read(i) else { return };
        let y = (mbqm(x - p.input_zero_point, p.multiplier, p.shift) + p.output_zero_point)
            .clamp(lo, hi);
        match to {
            DType::I16 => output[2 * i..2 * i + 2].copy_from_slice(&(y as i16).to_le_bytes()),
            DType::I32 => output[4 * i..4 * i + 4].copy_from_slice(&y.to_le_bytes()),
            _ => output[i] = y as i8 as u8,
        }
    }
}

/// The geometry of a batched matrix product (validated by the op at load).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulShape {
    /// The output's two batch axes.
    pub batches: [usize; 2],
    /// Element strides of the left operand's matrices along the batch axes (0: broadcast).
    pub lhs_strides: [usize; 2],
    /// Element strides of the right operand's matrices along the batch axes.
    pub rhs_strides: [usize; 2],
    /// Rows of each product (M).
    pub rows: usize,
    /// Reduction length (K).
    pub depth: usize,
    /// Columns of each product (N).
    pub cols: usize,
    /// The left operand is stored `[K, M]`.
    pub adj_x: bool,
    /// The right operand is stored `[N, K]`.
    pub adj_y: bool,
}

/// TFLite's int8 BATCH_MATMUL: each output `(i, j)` is `Σk (l(i, k) − zl)(r(k, j) − zr)`
/// requantized once (double rounding) to the int8 range.
pub fn batch_matmul(
    p: &BatchMatMulParams,
    s: &MatMulShape,
    lhs: &[i8],
    rhs: &[i8],
    output: &mut [i8],
) {
    let (m, k_len, n) = (s.rows, s.depth, s.cols);
    let mut out = output.iter_mut();
    for b0 in 0..s.batches[0] {
        for b1 in 0..s.batches[1] {
            let l0 = b0 * s.lhs_strides[0] + b1 * s.lhs_strides[1];
            let r0 = b0 * s.rhs_strides[0] + b1 * s.rhs_strides[1];
            for i in 0..m {
                for j in 0..n {
                    let mut acc: i32 = 0;
                    for k in 0..k_len {
                        let l = lhs[l0 + if s.adj_x { k * m + i } else { i * k_len + k }];
                        let r = rhs[r0 + if s.adj_y { j * k_len + k } else { k * n + j }];
                        acc = acc.wrapping_add(
                            (i32::from(l) - p.lhs_zero_point) * (i32::from(r) - p.rhs_zero_point),
                        );
                    }
                    let Some(y) = out.next() else { return };
                    *y = (mbqm(acc, p.multiplier, p.shift) + p.output_zero_point).clamp(-128, 127)
                        as i8;
                }
            }
        }
    }
}

/// TFLite's int8 PRELU: the input requantized where it is at least its zero point, else
/// its product with the slope (both less their zero points) requantized by the second
/// multiplier; slopes broadcast to the input.
pub fn prelu(p: &PreluParams, s: &Broadcast, x: &[i8], alpha: &[i8], output: &mut [i8]) {
    broadcast_pairs(s, x, alpha, output, |x, a| {
        let x = x - p.input_zero_point;
        let scaled = if x >= 0 {
            mbqm(x, p.positive_multiplier, p.positive_shift)
        } else {
            mbqm(
                x * (a - p.alpha_zero_point),
                p.negative_multiplier,
                p.negative_shift,
            )
        };
        scaled.saturating_add(p.output_zero_point).clamp(-128, 127)
    });
}

/// Element-wise product of two tensors broadcast to the output (TFLite's int8 MUL; int8 or
/// uint4 elements): `(a - za) * (b - zb)` requantized once by `rounding`.
pub fn mul<A, B, O>(
    p: &MulParams,
    rounding: quant::Rounding,
    s: &Broadcast,
    a: &A,
    b: &B,
    output: &mut O,
) where
    A: Elems + ?Sized,
    B: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    broadcast_pairs(s, a, b, output, |x, y| {
        let product = (x - p.input1_zero_point) * (y - p.input2_zero_point);
        let v = rounding.apply(product, p.output_multiplier, p.output_shift);
        v.saturating_add(p.output_zero_point)
            .clamp(p.act_min, p.act_max)
    });
}

/// Mean over the axes marked in `reduce` of an int8 tensor of `dims` (TFLite's int8 MEAN):
/// for each output element, `sum(x) - zero_point * count` requantized once (double
/// rounding) by the multiplier, which includes the division by the count. Sums wrap as
/// TFLite's int32 sums do.
pub fn mean(dims: [usize; 4], reduce: [bool; 4], p: &MeanParams, input: &[i8], output: &mut [i8]) {
    let keep = [0, 1, 2, 3].map(|a| if reduce[a] { 1 } else { dims[a] });
    let span = [0, 1, 2, 3].map(|a| if reduce[a] { dims[a] } else { 1 });
    let count = span.iter().product::<usize>() as i32;
    let strides = super::layout::strides(dims);
    super::layout::for_each_index(keep, |at, flat| {
        let mut sum = 0i32;
        let base = super::dot(at, strides);
        super::layout::for_each_index(span, |r, _| {
            let i = base + super::dot(r, strides);
            sum = sum.wrapping_add(input.get(i).map_or(0, |&x| i32::from(x)));
        });
        let acc = sum.wrapping_sub(p.input_zero_point.wrapping_mul(count));
        let y = mbqm(acc, p.multiplier, p.shift).saturating_add(p.output_zero_point);
        if let Some(out) = output.get_mut(flat) {
            *out = y.clamp(-128, 127) as i8;
        }
    });
}

/// Bilinear resize of an NHWC int8 tensor (`in_dims`) as TFLite's int8 reference: output
/// row `y` blends input rows `rows[3y]` and `rows[3y + 1]` with weights `1024 - f` and `f`
/// (`f = rows[3y + 2]`), columns likewise from `cols`; the sum of the four products (in
/// 1/2^20ths) is rounded half away from zero. Table entries lie inside the input and
/// fractions in [-1024, 1024] (checked at load).
pub fn resize_bilinear(
    in_dims: [usize; 4],
    rows: &[i32],
    cols: &[i32],
    input: &[i8],
    output: &mut [i8],
) {
    const ONE: i64 = 1 << 10;
    let [batches, height, width, channels] = in_dims;
    if channels == 0 {
        return;
    }
    let mut pixels = output.chunks_exact_mut(channels);
    for b in 0..batches {
        let pixel = |y: i32, x: i32| {
            let start = ((b * height + y as usize) * width + x as usize) * channels;
            input.get(start..start + channels)
        };
        for row in rows.chunks_exact(3) {
            let (wy0, wy1) = (ONE - i64::from(row[2]), i64::from(row[2]));
            for col in cols.chunks_exact(3) {
                let (wx0, wx1) = (ONE - i64::from(col[2]), i64::from(col[2]));
                let (Some(dst), Some(p00), Some(p10), Some(p01), Some(p11)) = (
                    pixels.next(),
                    pixel(row[0], col[0]),
                    pixel(row[1], col[0]),
                    pixel(row[0], col[1]),
                    pixel(row[1], col[1]),
                ) else {
                    return;
                };
                for (c, out) in dst.iter_mut().enumerate() {
                    let sum = i64::from(p00[c]) * wy0 * wx0
                        + i64::from(p10[c]) * wy1 * wx0
                        + i64::from(p01[c]) * wy0 * wx1
                        + i64::from(p11[c]) * wy1 * wx1;
                    let half = if sum > 0 { 1 << 19 } else { -(1 << 19) };
                    // Truncating division, then int8 as TFLite's static_cast (the weights
                    // sum to 2^20, so the value is in range).
                    *out = ((sum + half) / (1 << 20)) as i8;
                }
            }
        }
    }
}

/// `output[i] = table[input[i] + 128]`: any int8 function of one int8 value.
pub fn lookup(table: &[i8; 256], input: &[i8], output: &mut [i8]) {
    for (y, &x) in output.iter_mut().zip(input) {
        *y = table[usize::from(x as u8 ^ 0x80)];
    }
}

/// Calls `f(input_index)` for every input element under the pooling window of one output
/// element, skipping padding.
#[inline(always)]
fn pool_window(
    g: &PoolGeometry,
    b: usize,
    oy: usize,
    ox: usize,
    c: usize,
    mut f: impl FnMut(usize),
) {
    let y0 = (oy * g.stride_h) as isize - g.pad_top as isize;
    let x0 = (ox * g.stride_w) as isize - g.pad_left as isize;
    let y_start = y0.max(0) as usize;
    let y_end = (y0 + g.filter_h as isize).clamp(0, g.in_h as isize) as usize;
    let x_start = x0.max(0) as usize;
    let x_end = (x0 + g.filter_w as isize).clamp(0, g.in_w as isize) as usize;
    for y in y_start..y_end {
        for x in x_start..x_end {
            f(((b * g.in_h + y) * g.in_w + x) * g.channels + c);
        }
    }
}

/// Average pooling; padding is not counted; rounds half away from zero. int8 or uint4.
pub fn average_pool<I, O>(g: &PoolGeometry, act_min: i32, act_max: i32, input: &I, output: &mut O)
where
    I: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for c in 0..g.channels {
                    let (mut acc, mut count) = (0i32, 0i32);
                    pool_window(g, b, oy, ox, c, |i| {
                        acc += input.at(i);
                        count += 1;
                    });
                    let avg = if count == 0 {
                        0
                    } else if acc > 0 {
                        (acc + count / 2) / count
                    } else {
                        (acc - count / 2) / count
                    };
                    output.put(
                        ((b * g.out_h + oy) * g.out_w + ox) * g.channels + c,
                        avg.clamp(act_min, act_max),
                    );
                }
            }
        }
    }
}

/// Max pooling. int8 or uint4.
pub fn max_pool<I, O>(g: &PoolGeometry, act_min: i32, act_max: i32, input: &I, output: &mut O)
where
    I: Elems + ?Sized,
    O: ElemsMut + ?Sized,
{
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for c in 0..g.channels {
                    let mut max = i32::from(i8::MIN);
                    pool_window(g, b, oy, ox, c, |i| max = max.max(input.at(i)));
                    output.put(
                        ((b * g.out_h + oy) * g.out_w + ox) * g.channels + c,
                        max.clamp(act_min, act_max),
                    );
                }
            }
        }
    }
}

/// Softmax over rows of `depth` elements: TFLite's reference int8 algorithm (gemmlowp
/// fixed point), int8 output at scale 1/256 and zero point -128.
pub fn softmax(p: &SoftmaxParams, depth: usize, input: &[i8], output: &mut [i8]) {
    softmax_to(p, depth, input, 8, |i, v| output[i] = v as i8);
}

/// As [`softmax`], to int16 at scale 1/65536 and zero point -32768 (TFLite's int8 -> int16
/// SOFTMAX): `output` holds little-endian int16 values.
pub fn softmax_i16(p: &SoftmaxParams, depth: usize, input: &[i8], output: &mut [u8]) {
    softmax_to(p, depth, input, 16, |i, v| {
        output[2 * i..2 * i + 2].copy_from_slice(&(v as i16).to_le_bytes());
    });
}

/// The softmax of [`softmax`] to a signed output of `bits` bits: `put(i, value)` stores
/// element `i` of the input's layout, already clamped to the type.
fn softmax_to(
    p: &SoftmaxParams,
    depth: usize,
    input: &[i8],
    bits: u32,
    mut put: impl FnMut(usize, i32),
) {
    let (min, max) = (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
    const ACCUMULATION_INTEGER_BITS: i32 = 12;
    let rescale = |diff: i32| {
        // MultiplyByQuantizedMultiplierGreaterThanOne: Q5.26 result.
        quant::sat_rounding_doubling_high_mul(
            diff.wrapping_mul(1 << p.input_left_shift),
            p.input_multiplier,
        )
    };
    for (r, row) in input.chunks_exact(depth).enumerate() {
        let row_max = row.iter().copied().max().unwrap_or(0);
        let mut sum_of_exps: i32 = 0; // Q12.19
        for &x in row {
            let diff = i32::from(x) - i32::from(row_max);
            if diff >= p.diff_min {
                let e = fixed::exp_on_negative_values_q5(rescale(diff));
                sum_of_exps = sum_of_exps.wrapping_add(quant::rounding_divide_by_pot(e, 12));
            }
        }
        let (shifted_scale, num_bits_over_unit) =
            fixed::reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        let exponent = (num_bits_over_unit + 31 - bits as i32).clamp(0, 31) as u32;
        for (c, &x) in row.iter().enumerate() {
            let diff = i32::from(x) - i32::from(row_max);
            let value = if diff >= p.diff_min {
                let e = fixed::exp_on_negative_values_q5(rescale(diff));
                let unsat = quant::rounding_divide_by_pot(
                    quant::sat_rounding_doubling_high_mul(shifted_scale, e),
                    exponent,
                );
                (unsat + min).clamp(min, max)
            } else {
                min
            };
            put(r * depth + c, value);
        }
    }
}

/// f32 to int8: `clamp(round(x / scale) + zero_point)`, round half away from zero.
pub fn quantize(scale: f32, zero_point: i32, input: &[u8], output: &mut [i8]) {
    for (bytes, out) in input.chunks_exact(4).zip(output.iter_mut()) {
        let x = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let q = quant::round_half_away_f32_to_i32(x / scale).saturating_add(zero_point);
        *out = q.clamp(-128, 127) as i8;
    }
}

/// int8 to f32: `scale * (q - zero_point)`, computed in double as TFLite does.
pub fn dequantize(scale: f32, zero_point: i32, input: &[i8], output: &mut [u8]) {
    for (&q, bytes) in input.iter().zip(output.chunks_exact_mut(4)) {
        let x = (f64::from(scale) * f64::from(i32::from(q) - zero_point)) as f32;
        bytes.copy_from_slice(&x.to_le_bytes());
    }
}
