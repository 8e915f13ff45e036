//! Average pooling fast path: one output pixel at a time, its window's channels read a run at
//! a time (uint4 runs unpacked with SIMD) and summed in int32, instead of one element per
//! window read as the oracle does.

use super::int4::{Values, ValuesMut};
use super::PoolGeometry;

/// Channels summed per pass (stack buffers of this many values).
const RUN: usize = 64;

/// Average pooling of int8 or uint4 values, as `scalar::average_pool` (padding not counted,
/// rounding half away from zero). Callers have checked the lengths.
pub fn average_pool(
    g: &PoolGeometry,
    act_min: i32,
    act_max: i32,
    input: Values<'_>,
    output: &mut ValuesMut<'_>,
) {
    let (mut run, mut sums, mut means) = ([0i8; RUN], [0i32; RUN], [0i8; RUN]);
    let mut sums16 = [0i16; RUN];
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            // Window rows and columns inside the input (as the oracle's window).
            let y0 = (oy * g.stride_h) as isize - g.pad_top as isize;
            let ys =
                y0.max(0) as usize..(y0 + g.filter_h as isize).clamp(0, g.in_h as isize) as usize;
            for ox in 0..g.out_w {
                let x0 = (ox * g.stride_w) as isize - g.pad_left as isize;
                let xs = x0.max(0) as usize
                    ..(x0 + g.filter_w as isize).clamp(0, g.in_w as isize) as usize;
                let count = (ys.len() * xs.len()) as i32;
                let out_pixel = ((b * g.out_h + oy) * g.out_w + ox) * g.channels;
                let mut c0 = 0;
                while c0 < g.channels {
                    let n = RUN.min(g.channels - c0);
                    // Up to 256 values of -128..=127 sum exactly in int16: twice the lanes
                    // of int32 and a cheaper widening.
                    let narrow = count <= 256;
                    if narrow {
                        sums16[..n].fill(0);
                    } else {
                        sums[..n].fill(0);
                    }
                    for y in ys.clone() {
                        for x in xs.clone() {
                            let pixel = ((b * g.in_h + y) * g.in_w + x) * g.channels;
                            // int8 runs are summed where they lie (a vector loop; a copy
                            // first was a `memcpy` call per pixel).
                            let values = match input {
                                Values::I8(d) => &d[pixel + c0..][..n],
                                _ => {
                                    input.copy_to(pixel + c0, &mut run[..n]);
                                    &run[..n]
                                }
                            };
                            if narrow {
                                for (s, &v) in sums16[..n].iter_mut().zip(values) {
                                    *s += i16::from(v);
                                }
                            } else {
                                for (s, &v) in sums[..n].iter_mut().zip(values) {
                                    *s += i32::from(v);
                                }
                            }
                        }
                    }
                    if narrow {
                        for (s, &v) in sums[..n].iter_mut().zip(&sums16[..n]) {
                            *s = i32::from(v);
                        }
                    }
                    // Rounding half away from zero, the quotient truncated. In f64, which
                    // vectorizes: exact for int32 operands (their correctly rounded quotient
                    // never reaches the next integer: that would need count * quotient >
                    // 2^53).
                    let divisor = f64::from(count.max(1));
                    let half = count / 2;
                    for (m, &s) in means[..n].iter_mut().zip(&sums[..n]) {
                        let rounded = if s > 0 { s + half } else { s - half };
                        let mean = (f64::from(rounded) / divisor) as i32;
                        *m = mean.clamp(act_min, act_max) as i8;
                    }
                    output.write(out_pixel + c0, &means[..n]);
                    c0 += n;
                }
            }
        }
    }
}
