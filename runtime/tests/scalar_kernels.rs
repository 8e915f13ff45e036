//! The scalar kernels (the oracle) against independent formulations, on random shapes that the
//! MLPerf Tiny goldens do not cover: dilation, every padding, depth multipliers above 1, max
//! pooling, RELU6-style clamps, odd channel counts.

use edgeq_runtime::format::{
    AddParams, BatchMatMulParams, DType, MeanParams, MulParams, PreluParams, RequantizeParams,
    SoftmaxParams,
};
use edgeq_runtime::kernels::{
    layout, scalar, Broadcast, ConvGeometry, FullyConnectedGeometry, Requant,
};
use edgeq_runtime::quant::{quantize_multiplier, Rounding};

mod common;
use common::{random_geometry, random_i8, random_pool_geometry, requant, tables};

/// `native` random cases natively; a few under miri (CI runs this file there too).
fn cases(native: usize) -> usize {
    if cfg!(miri) {
        native / 50
    } else {
        native
    }
}

fn finish(acc: i32, q: &Requant<'_>, c: usize) -> i8 {
    let acc = acc + q.bias.map_or(0, |b| b[c]);
    (q.rounding.apply(acc, q.multiplier[c], q.shift[c]) + q.output_zero_point)
        .clamp(q.act_min, q.act_max) as i8
}

/// Convolution written the other way: materialise a zero-point-padded input, then sum every
/// tap with no bounds checks.
fn conv_via_padded_input(g: &ConvGeometry, q: &Requant<'_>, x: &[i8], w: &[i8]) -> Vec<i8> {
    let eff_h = (g.kernel_h - 1) * g.dilation_h + 1;
    let eff_w = (g.kernel_w - 1) * g.dilation_w + 1;
    let ph = g.pad_top + (g.out_h - 1) * g.stride_h + eff_h + g.in_h;
    let pw = g.pad_left + (g.out_w - 1) * g.stride_w + eff_w + g.in_w;
    let zp = q.input_zero_point;
    let mut padded = vec![zp; g.batch * ph * pw * g.in_c];
    for b in 0..g.batch {
        for y in 0..g.in_h {
            for xx in 0..g.in_w {
                for c in 0..g.in_c {
                    padded[((b * ph + y + g.pad_top) * pw + xx + g.pad_left) * g.in_c + c] =
                        i32::from(x[((b * g.in_h + y) * g.in_w + xx) * g.in_c + c]);
                }
            }
        }
    }
    let mut out = vec![0i8; g.batch * g.out_h * g.out_w * g.out_c];
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for o in 0..g.out_c {
                    let mut acc = 0;
                    for ky in 0..g.kernel_h {
                        for kx in 0..g.kernel_w {
                            for c in 0..g.in_c {
                                let y = oy * g.stride_h + ky * g.dilation_h;
                                let xx = ox * g.stride_w + kx * g.dilation_w;
                                let v = padded[((b * ph + y) * pw + xx) * g.in_c + c] - zp;
                                acc += i32::from(
                                    w[((o * g.kernel_h + ky) * g.kernel_w + kx) * g.in_c + c],
                                ) * v;
                            }
                        }
                    }
                    out[((b * g.out_h + oy) * g.out_w + ox) * g.out_c + o] = finish(acc, q, o);
                }
            }
        }
    }
    out
}

#[test]
fn conv2d_matches_padded_input_formulation() {
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..cases(300) {
        let g = random_geometry(&mut rng, false);
        let x = random_i8(&mut rng, g.batch * g.in_h * g.in_w * g.in_c);
        let w = random_i8(&mut rng, g.out_c * g.kernel_h * g.kernel_w * g.in_c);
        let t = tables(&mut rng, g.out_c, g.kernel_h * g.kernel_w * g.in_c);
        let rounding = if rng.bool() {
            Rounding::Double
        } else {
            Rounding::Single
        };
        let q = requant(&mut rng, &t, rounding);
        let mut out = vec![0i8; g.batch * g.out_h * g.out_w * g.out_c];
        scalar::conv2d(&g, &q, &x[..], &w[..], &mut out[..]);
        assert_eq!(out, conv_via_padded_input(&g, &q, &x, &w), "{g:?}");
    }
}

/// Transposed convolution against TFLite's own formulation: scatter every input value times
/// every tap into an int32 buffer, then requantize (the kernel gathers instead).
#[test]
fn transpose_conv_matches_the_scatter_formulation() {
    let mut rng = fastrand::Rng::with_seed(24);
    for _ in 0..cases(300) {
        let mut g = random_geometry(&mut rng, false);
        (g.dilation_h, g.dilation_w) = (1, 1);
        g.pad_top = rng.usize(0..g.kernel_h);
        g.pad_left = rng.usize(0..g.kernel_w);
        // Any output size up to the full extent, as SAME and VALID give.
        g.out_h = rng.usize(1..=((g.in_h - 1) * g.stride_h + g.kernel_h));
        g.out_w = rng.usize(1..=((g.in_w - 1) * g.stride_w + g.kernel_w));
        let t = tables(&mut rng, g.out_c, g.kernel_h * g.kernel_w * g.in_c);
        let q = requant(&mut rng, &t, Rounding::Double);
        let input = random_i8(&mut rng, g.batch * g.in_h * g.in_w * g.in_c);
        let filter = random_i8(&mut rng, g.out_c * g.kernel_h * g.kernel_w * g.in_c);
        let out_len = g.batch * g.out_h * g.out_w * g.out_c;
        let mut sums = vec![0i32; out_len];
        for b in 0..g.batch {
            for iy in 0..g.in_h {
                for ix in 0..g.in_w {
                    for ic in 0..g.in_c {
                        let x = i32::from(
                            input[flat(&[g.batch, g.in_h, g.in_w, g.in_c], [b, iy, ix, ic])],
                        ) - q.input_zero_point;
                        for ky in 0..g.kernel_h {
                            for kx in 0..g.kernel_w {
                                let oy = (iy * g.stride_h + ky) as isize - g.pad_top as isize;
                                let ox = (ix * g.stride_w + kx) as isize - g.pad_left as isize;
                                if oy < 0
                                    || ox < 0
                                    || oy >= g.out_h as isize
                                    || ox >= g.out_w as isize
                                {
                                    continue;
                                }
                                for oc in 0..g.out_c {
                                    let w = filter
                                        [((oc * g.kernel_h + ky) * g.kernel_w + kx) * g.in_c + ic];
                                    let at = flat(
                                        &[g.batch, g.out_h, g.out_w, g.out_c],
                                        [b, oy as usize, ox as usize, oc],
                                    );
                                    sums[at] += x * i32::from(w);
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut out = vec![0i8; out_len];
        scalar::transpose_conv2d(&g, &q, &input, &filter, &mut out);
        for (i, (&got, &sum)) in out.iter().zip(&sums).enumerate() {
            assert_eq!(got, finish(sum, &q, i % g.out_c), "{g:?} at {i}");
        }
    }
}
/// Depthwise convolution is a convolution whose filter is zero off its channel group.
#[test]
fn depthwise_matches_block_diagonal_conv() {
    let mut rng = fastrand::Rng::with_seed(2);
    for _ in 0..cases(300) {
        let g = random_geometry(&mut rng, true);
        let x = random_i8(&mut rng, g.batch * g.in_h * g.in_w * g.in_c);
        let w = random_i8(&mut rng, g.kernel_h * g.kernel_w * g.out_c);
        let t = tables(&mut rng, g.out_c, g.kernel_h * g.kernel_w);
        let q = requant(&mut rng, &t, Rounding::Double);
        let mut full = vec![0i8; g.out_c * g.kernel_h * g.kernel_w * g.in_c];
        for o in 0..g.out_c {
            for k in 0..g.kernel_h * g.kernel_w {
                full[(o * g.kernel_h * g.kernel_w + k) * g.in_c + o / g.depth_multiplier] =
                    w[k * g.out_c + o];
            }
        }
        let mut out = vec![0i8; g.batch * g.out_h * g.out_w * g.out_c];
        scalar::depthwise_conv2d(&g, &q, &x[..], &w[..], &mut out[..]);
        let mut want = vec![0i8; out.len()];
        scalar::conv2d(
            &ConvGeometry {
                depth_multiplier: 1,
                ..g
            },
            &q,
            &x[..],
            &full[..],
            &mut want[..],
        );
        assert_eq!(out, want, "{g:?}");
    }
}

/// A fully connected layer is a 1x1 convolution over a 1x1 image.
#[test]
fn fully_connected_matches_1x1_conv() {
    let mut rng = fastrand::Rng::with_seed(3);
    for _ in 0..cases(200) {
        let (rows, depth, units) = (rng.usize(1..=4), rng.usize(1..=70), rng.usize(1..=20));
        let x = random_i8(&mut rng, rows * depth);
        let w: Vec<i8> = (0..units * depth).map(|_| rng.i8(-127..=127)).collect();
        let t = tables(&mut rng, units, depth);
        let q = requant(&mut rng, &t, Rounding::Single);
        let mut out = vec![0i8; rows * units];
        let fc = FullyConnectedGeometry {
            rows,
            depth,
            units,
            weight_zero_point: 0,
        };
        scalar::fully_connected(&fc, &q, &x[..], &w[..], &mut out[..]);
        let g = ConvGeometry {
            batch: rows,
            in_h: 1,
            in_w: 1,
            in_c: depth,
            out_h: 1,
            out_w: 1,
            out_c: units,
            kernel_h: 1,
            kernel_w: 1,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
            depth_multiplier: 1,
        };
        let mut want = vec![0i8; rows * units];
        scalar::conv2d(&g, &q, &x[..], &w[..], &mut want[..]);
        assert_eq!(out, want);
    }
}

#[test]
fn pooling_matches_window_enumeration() {
    let mut rng = fastrand::Rng::with_seed(4);
    for _ in 0..cases(300) {
        let g = random_pool_geometry(&mut rng, 5);
        let (filter_h, filter_w, stride_h, stride_w) =
            (g.filter_h, g.filter_w, g.stride_h, g.stride_w);
        let (in_h, in_w, pad_top, pad_left) = (g.in_h, g.in_w, g.pad_top, g.pad_left);
        let x = random_i8(&mut rng, g.batch * in_h * in_w * g.channels);
        let act_min = rng.i32(-128..0);
        let act_max = rng.i32(act_min..128);
        let n = g.batch * g.out_h * g.out_w * g.channels;
        let (mut avg, mut max) = (vec![0i8; n], vec![0i8; n]);
        scalar::average_pool(&g, act_min, act_max, &x[..], &mut avg[..]);
        scalar::max_pool(&g, act_min, act_max, &x[..], &mut max[..]);
        let mut i = 0;
        for b in 0..g.batch {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for c in 0..g.channels {
                        let mut values = Vec::new();
                        for fy in 0..filter_h {
                            for fx in 0..filter_w {
                                let y = (oy * stride_h + fy) as isize - pad_top as isize;
                                let xx = (ox * stride_w + fx) as isize - pad_left as isize;
                                if (0..in_h as isize).contains(&y)
                                    && (0..in_w as isize).contains(&xx)
                                {
                                    values.push(i32::from(
                                        x[((b * in_h + y as usize) * in_w + xx as usize)
                                            * g.channels
                                            + c],
                                    ));
                                }
                            }
                        }
                        let mean = values.iter().sum::<i32>() as f64 / values.len() as f64;
                        // Round half away from zero, as C's round().
                        let rounded = (mean.abs() + 0.5).floor().copysign(mean) as i32;
                        let want_avg =
                            if values.is_empty() { 0 } else { rounded }.clamp(act_min, act_max);
                        let want_max = values
                            .iter()
                            .copied()
                            .max()
                            .unwrap_or(-128)
                            .clamp(act_min, act_max);
                        assert_eq!(i32::from(avg[i]), want_avg, "{g:?} {values:?}");
                        assert_eq!(i32::from(max[i]), want_max, "{g:?}");
                        i += 1;
                    }
                }
            }
        }
    }
}

/// ADD agrees with real arithmetic to within one step of the output scale.
#[test]
fn add_is_within_one_lsb_of_real_arithmetic() {
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..cases(200) {
        let (p, (sa, sb, so)) = random_add_params(&mut rng);
        let (za, zb, zo) = (
            p.input1_zero_point,
            p.input2_zero_point,
            p.output_zero_point,
        );
        let a = random_i8(&mut rng, 64);
        let b = random_i8(&mut rng, 64);
        let mut out = [0i8; 64];
        scalar::add(&p, a.len(), &a[..], &b[..], &mut out[..]);
        for i in 0..64 {
            let real = f64::from(sa) * f64::from(i32::from(a[i]) - za)
                + f64::from(sb) * f64::from(i32::from(b[i]) - zb);
            let want = (real / f64::from(so) + f64::from(zo))
                .round()
                .clamp(-128.0, 127.0);
            assert!(
                (f64::from(out[i]) - want).abs() <= 1.0,
                "{} vs {want}",
                out[i]
            );
        }
    }
}

/// SOFTMAX agrees with the float softmax to within one output step (1/256).
#[test]
fn softmax_is_within_one_lsb_of_float() {
    let mut rng = fastrand::Rng::with_seed(6);
    for _ in 0..cases(200) {
        let depth = rng.usize(1..=40);
        let scale = rng.f32() * 0.2 + 0.01;
        let real = (f64::from(scale) * (1u64 << 26) as f64).min((1u64 << 31) as f64 - 1.0);
        let (multiplier, left_shift) = quantize_multiplier(real);
        let radius = (31.0 * (1u64 << 26) as f64 / (1u64 << left_shift) as f64).floor();
        let p = SoftmaxParams {
            input_multiplier: multiplier,
            input_left_shift: left_shift,
            diff_min: -(radius as i32),
        };
        let x = random_i8(&mut rng, depth * 2);
        let mut out = vec![0i8; depth * 2];
        scalar::softmax(&p, depth, &x, &mut out);
        for (row, got) in x.chunks(depth).zip(out.chunks(depth)) {
            let max = row.iter().map(|&v| f64::from(v)).fold(f64::MIN, f64::max);
            let exps: Vec<f64> = row
                .iter()
                .map(|&v| ((f64::from(v) - max) * f64::from(scale)).exp())
                .collect();
            let sum: f64 = exps.iter().sum();
            for (e, &g) in exps.iter().zip(got) {
                let want = (e / sum * 256.0 - 128.0).round().clamp(-128.0, 127.0);
                assert!((f64::from(g) - want).abs() <= 1.0, "got {g}, want {want}");
            }
        }
    }
}

/// Row-major index of `at` in a tensor of `dims`.
fn flat(dims: &[usize; 4], at: [usize; 4]) -> usize {
    ((at[0] * dims[1] + at[1]) * dims[2] + at[2]) * dims[3] + at[3]
}

/// The multi-index of row-major element `i` of a tensor of `dims`.
fn unflat(dims: &[usize; 4], mut i: usize) -> [usize; 4] {
    let mut at = [0; 4];
    for axis in (0..4).rev() {
        at[axis] = i % dims[axis];
        i /= dims[axis];
    }
    at
}

/// Random dims of 1..=5 per axis.
fn random_dims(rng: &mut fastrand::Rng) -> [usize; 4] {
    [
        rng.usize(1..=3),
        rng.usize(1..=5),
        rng.usize(1..=5),
        rng.usize(1..=5),
    ]
}

/// MUL with numpy broadcasting, written by multi-index (an input's index is the output's
/// taken modulo its dims), and within one output step of real arithmetic.
#[test]
fn mul_matches_broadcast_indexing_and_real_arithmetic() {
    let mut rng = fastrand::Rng::with_seed(11);
    for _ in 0..cases(300) {
        let (shape, a_dims, b_dims) = random_broadcast(&mut rng);
        let dims = shape.dims;
        let (sa, sb, so) = (
            rng.f64() * 0.1 + 0.001,
            rng.f64() * 0.1 + 0.001,
            rng.f64() * 0.01 + 0.0001,
        );
        let (multiplier, shift) = quantize_multiplier(sa * sb / so);
        let rounding = if rng.bool() {
            Rounding::Double
        } else {
            Rounding::Single
        };
        let p = MulParams {
            input1_zero_point: rng.i32(-128..128),
            input2_zero_point: rng.i32(-128..128),
            output_zero_point: rng.i32(-128..128),
            output_multiplier: multiplier,
            output_shift: shift,
            act_min: -128,
            act_max: 127,
            rounding: rounding as u16,
            reserved: 0,
        };
        let len = |d: [usize; 4]| d.iter().product::<usize>();
        let a = random_i8(&mut rng, len(a_dims));
        let b = random_i8(&mut rng, len(b_dims));
        let mut out = vec![0i8; len(dims)];
        scalar::mul(&p, rounding, &shape, &a[..], &b[..], &mut out[..]);
        for (i, &got) in out.iter().enumerate() {
            let at = unflat(&dims, i);
            let x = i32::from(a[flat(&a_dims, broadcast_index(at, &a_dims))]) - p.input1_zero_point;
            let y = i32::from(b[flat(&b_dims, broadcast_index(at, &b_dims))]) - p.input2_zero_point;
            let want =
                (rounding.apply(x * y, multiplier, shift) + p.output_zero_point).clamp(-128, 127);
            assert_eq!(i32::from(got), want, "element {i} of {dims:?}");
            let real = f64::from(x * y) * sa * sb / so + f64::from(p.output_zero_point);
            assert!(
                (f64::from(got) - real.round().clamp(-128.0, 127.0)).abs() <= 1.0,
                "{got} vs {real}"
            );
        }
    }
}

/// An output multi-index taken modulo an input's dims (numpy broadcasting).
fn broadcast_index(at: [usize; 4], dims: &[usize; 4]) -> [usize; 4] {
    [0, 1, 2, 3].map(|axis| at[axis] % dims[axis])
}

/// PAD written per output element: the input's value inside, the pad value outside.
#[test]
fn pad_matches_per_element_formulation() {
    let mut rng = fastrand::Rng::with_seed(12);
    for _ in 0..cases(300) {
        let in_dims = random_dims(&mut rng);
        let before = [0; 4].map(|_| rng.usize(0..3));
        let after = [0; 4].map(|_| rng.usize(0..3));
        let out_dims = [0, 1, 2, 3].map(|a| in_dims[a] + before[a] + after[a]);
        let value = rng.i8(..);
        let input = random_i8(&mut rng, in_dims.iter().product());
        let mut out = vec![0i8; out_dims.iter().product()];
        layout::pad(in_dims, out_dims, before, value, &input, &mut out);
        for (i, &got) in out.iter().enumerate() {
            let at = unflat(&out_dims, i);
            let inside = (0..4).all(|a| at[a] >= before[a] && at[a] < before[a] + in_dims[a]);
            let want = if inside {
                input[flat(&in_dims, [0, 1, 2, 3].map(|a| at[a] - before[a]))]
            } else {
                value
            };
            assert_eq!(
                got, want,
                "{in_dims:?} padded {before:?} {after:?}, element {i}"
            );
        }
    }
}

/// CONCATENATION written per output element: find the input whose range along the axis
/// holds the element.
#[test]
fn concat_matches_per_element_formulation() {
    let mut rng = fastrand::Rng::with_seed(13);
    for _ in 0..cases(300) {
        let axis = rng.usize(0..4);
        let base = random_dims(&mut rng);
        let inputs: Vec<([usize; 4], Vec<i8>)> = (0..rng.usize(1..=5))
            .map(|_| {
                let mut d = base;
                d[axis] = rng.usize(1..=4);
                (d, random_i8(&mut rng, d.iter().product()))
            })
            .collect();
        let mut out_dims = base;
        out_dims[axis] = inputs.iter().map(|(d, _)| d[axis]).sum();
        let inner: usize = out_dims[axis + 1..].iter().product();
        let outer: usize = out_dims[..axis].iter().product();
        let mut out = vec![0i8; out_dims.iter().product()];
        let mut offset = 0;
        for (d, x) in &inputs {
            let run = d[axis] * inner;
            layout::concat_input(outer, run, out_dims[axis] * inner, offset, x, &mut out);
            offset += run;
        }
        for (i, &got) in out.iter().enumerate() {
            let mut at = unflat(&out_dims, i);
            let mut k = 0;
            while at[axis] >= inputs[k].0[axis] {
                at[axis] -= inputs[k].0[axis];
                k += 1;
            }
            let (d, x) = &inputs[k];
            assert_eq!(got, x[flat(d, at)], "axis {axis}, element {i}");
        }
    }
}

/// TRANSPOSE written per output element: output index `at` reads input index `from` with
/// `from[perm[a]] = at[a]`.
#[test]
fn transpose_matches_per_element_formulation() {
    let mut rng = fastrand::Rng::with_seed(14);
    for _ in 0..cases(300) {
        let in_dims = random_dims(&mut rng);
        let mut perm = [0, 1, 2, 3];
        rng.shuffle(&mut perm);
        let out_dims = perm.map(|p| in_dims[p]);
        let input = random_i8(&mut rng, in_dims.iter().product());
        let mut out = vec![0i8; input.len()];
        layout::transpose(in_dims, perm, out_dims, &input, &mut out);
        for (i, &got) in out.iter().enumerate() {
            let at = unflat(&out_dims, i);
            let mut from = [0; 4];
            for a in 0..4 {
                from[perm[a]] = at[a];
            }
            assert_eq!(got, input[flat(&in_dims, from)], "{in_dims:?} by {perm:?}");
        }
    }
}

/// MEAN: each output's sum gathered by scanning the whole input for the elements that land
/// on it, requantized exactly; and within one output step of the real mean.
#[test]
fn mean_matches_scan_formulation_and_real_arithmetic() {
    let mut rng = fastrand::Rng::with_seed(15);
    for _ in 0..cases(300) {
        let dims = random_dims(&mut rng);
        let reduce = [0; 4].map(|_| rng.bool());
        let count: usize = (0..4).filter(|&a| reduce[a]).map(|a| dims[a]).product();
        let (si, so) = (rng.f64() * 0.1 + 0.001, rng.f64() * 0.1 + 0.001);
        let (multiplier, shift) = quantize_multiplier(si / (so * count as f64));
        let p = MeanParams {
            axes: 0,
            input_zero_point: rng.i32(-128..128),
            output_zero_point: rng.i32(-128..128),
            multiplier,
            shift,
        };
        let input = random_values_i8(&mut rng, dims.iter().product());
        let keep = [0, 1, 2, 3].map(|a| if reduce[a] { 1 } else { dims[a] });
        let mut out = vec![0i8; keep.iter().product()];
        scalar::mean(dims, reduce, &p, &input, &mut out);
        let mut sums = vec![0i32; out.len()];
        for (i, &x) in input.iter().enumerate() {
            let at = unflat(&dims, i);
            let o = flat(
                &keep,
                [0, 1, 2, 3].map(|a| if reduce[a] { 0 } else { at[a] }),
            );
            sums[o] += i32::from(x);
        }
        for (o, (&got, &sum)) in out.iter().zip(&sums).enumerate() {
            let acc = sum - p.input_zero_point * count as i32;
            let want = (Rounding::Double.apply(acc, multiplier, shift) + p.output_zero_point)
                .clamp(-128, 127);
            assert_eq!(i32::from(got), want, "{dims:?} over {reduce:?}, output {o}");
            let real = si * f64::from(acc) / count as f64 / so + f64::from(p.output_zero_point);
            assert!(
                (f64::from(got) - real.round().clamp(-128.0, 127.0)).abs() <= 1.0,
                "{got} vs {real}"
            );
        }
    }
}

/// Random int8 values, sometimes only the extremes.
fn random_values_i8(rng: &mut fastrand::Rng, n: usize) -> Vec<i8> {
    if rng.u8(0..4) == 0 {
        (0..n)
            .map(|_| if rng.bool() { -128 } else { 127 })
            .collect()
    } else {
        random_i8(rng, n)
    }
}

/// Strides of an input of `d` broadcast over its output (0 on axes of length 1).
fn broadcast_strides(d: [usize; 4]) -> [usize; 4] {
    let mut s = [0; 4];
    let mut step = 1;
    for axis in (0..4).rev() {
        s[axis] = if d[axis] == 1 { 0 } else { step };
        step *= d[axis];
    }
    s
}

/// SUB (ADD's rescaling, a difference) broadcast by multi-index is within one output step of
/// real arithmetic; MAXIMUM and MINIMUM pick the stored values.
#[test]
fn sub_and_max_min_match_broadcast_indexing() {
    let mut rng = fastrand::Rng::with_seed(16);
    for _ in 0..cases(300) {
        let (shape, a_dims, b_dims) = random_broadcast(&mut rng);
        let dims = shape.dims;
        let (p, (sa, sb, so)) = random_add_params(&mut rng);
        let (za, zb, zo) = (
            p.input1_zero_point,
            p.input2_zero_point,
            p.output_zero_point,
        );
        let a = random_i8(&mut rng, a_dims.iter().product());
        let b = random_i8(&mut rng, b_dims.iter().product());
        let n = dims.iter().product();
        let (mut diff, mut max, mut min) = (vec![0i8; n], vec![0i8; n], vec![0i8; n]);
        scalar::add_broadcast(&p, true, &shape, &a[..], &b[..], &mut diff[..]);
        scalar::max_min(true, &shape, &a, &b, &mut max);
        scalar::max_min(false, &shape, &a, &b, &mut min);
        for i in 0..n {
            let at = unflat(&dims, i);
            let x = a[flat(&a_dims, broadcast_index(at, &a_dims))];
            let y = b[flat(&b_dims, broadcast_index(at, &b_dims))];
            let real = f64::from(sa) * f64::from(i32::from(x) - za)
                - f64::from(sb) * f64::from(i32::from(y) - zb);
            let want = (real / f64::from(so) + f64::from(zo))
                .round()
                .clamp(-128.0, 127.0);
            assert!(
                (f64::from(diff[i]) - want).abs() <= 1.0,
                "{} vs {want}",
                diff[i]
            );
            assert_eq!((max[i], min[i]), (x.max(y), x.min(y)), "element {i}");
        }
    }
}

/// SLICE: each axis's list of taken indices (begin, begin + stride, ...), every combination in
/// order.
#[test]
fn slice_matches_index_lists() {
    let mut rng = fastrand::Rng::with_seed(17);
    for _ in 0..cases(300) {
        let dims = random_dims(&mut rng);
        let mut taken: Vec<Vec<usize>> = Vec::new();
        let (mut begin, mut stride, mut size) = ([0; 4], [1isize; 4], [1; 4]);
        for a in 0..4 {
            let s = rng.isize(1..=3) * if rng.bool() { 1 } else { -1 };
            let b = rng.usize(..dims[a]);
            // As many steps as stay inside the axis, at least one.
            let room = if s > 0 {
                (dims[a] - 1 - b) / s as usize
            } else {
                b / (-s) as usize
            };
            let n = rng.usize(1..=room + 1);
            taken.push(
                (0..n)
                    .map(|i| (b as isize + i as isize * s) as usize)
                    .collect(),
            );
            (begin[a], stride[a], size[a]) = (b, s, n);
        }
        let input = random_i8(&mut rng, dims.iter().product());
        let mut out = vec![0i8; size.iter().product()];
        layout::slice(dims, begin, stride, size, &input, &mut out);
        let mut want = Vec::new();
        for &i0 in &taken[0] {
            for &i1 in &taken[1] {
                for &i2 in &taken[2] {
                    for &i3 in &taken[3] {
                        want.push(input[flat(&dims, [i0, i1, i2, i3])]);
                    }
                }
            }
        }
        assert_eq!(out, want, "{dims:?} from {begin:?} by {stride:?}");
    }
}

/// Nearest-neighbour resize: every output element is the input element at the tables' row
/// and column, same batch and channel.
#[test]
fn resize_nearest_reads_the_tabled_pixels() {
    let mut rng = fastrand::Rng::with_seed(18);
    for _ in 0..cases(200) {
        let dims = random_dims(&mut rng);
        let (out_h, out_w) = (rng.usize(1..=9), rng.usize(1..=9));
        let rows: Vec<i32> = (0..out_h).map(|_| rng.usize(..dims[1]) as i32).collect();
        let cols: Vec<i32> = (0..out_w).map(|_| rng.usize(..dims[2]) as i32).collect();
        let input = random_i8(&mut rng, dims.iter().product());
        let out_dims = [dims[0], out_h, out_w, dims[3]];
        let mut out = vec![0i8; out_dims.iter().product()];
        layout::resize_nearest(dims, &rows, &cols, &input, &mut out);
        for (i, &got) in out.iter().enumerate() {
            let [b, y, x, c] = unflat(&out_dims, i);
            let from = [b, rows[y] as usize, cols[x] as usize, c];
            assert_eq!(got, input[flat(&dims, from)], "{dims:?} to {out_dims:?}");
        }
    }
}

/// Bilinear resize against the blend written in real numbers: each output is the weighted
/// mean of its four tabled pixels, `((1 - fy)(1 - fx) p00 + fy (1 - fx) p10 + ...)` with the
/// fractions in 1/1024ths, rounded half away from zero (f64 holds the sums exactly). The
/// tables are random, with negative fractions where both rows (columns) are one, as
/// TFLite's half-pixel tables have them, and the extreme weights 0 and 1024.
#[test]
fn resize_bilinear_blends_the_tabled_pixels() {
    let mut rng = fastrand::Rng::with_seed(22);
    let table = |rng: &mut fastrand::Rng, out: usize, size: usize| -> Vec<i32> {
        (0..out)
            .flat_map(|_| {
                let low = rng.usize(..size);
                let high = (low + rng.usize(..2)).min(size - 1);
                let fraction = match rng.usize(..4) {
                    0 if low == high => -rng.i32(1..=1024),
                    1 => *rng.choice(&[0, 1024]).unwrap(),
                    _ => rng.i32(0..=1024),
                };
                [low as i32, high as i32, fraction]
            })
            .collect()
    };
    for _ in 0..cases(300) {
        let dims = random_dims(&mut rng);
        let (out_h, out_w) = (rng.usize(1..=9), rng.usize(1..=9));
        let rows = table(&mut rng, out_h, dims[1]);
        let cols = table(&mut rng, out_w, dims[2]);
        let input = if rng.bool() {
            random_i8(&mut rng, dims.iter().product())
        } else {
            (0..dims.iter().product())
                .map(|_| *rng.choice(&[-128i8, 127]).unwrap())
                .collect()
        };
        let out_dims = [dims[0], out_h, out_w, dims[3]];
        let mut out = vec![0i8; out_dims.iter().product()];
        scalar::resize_bilinear(dims, &rows, &cols, &input, &mut out);
        for (i, &got) in out.iter().enumerate() {
            let [b, y, x, c] = unflat(&out_dims, i);
            let (r, k) = (&rows[3 * y..3 * y + 3], &cols[3 * x..3 * x + 3]);
            let (fy, fx) = (f64::from(r[2]) / 1024.0, f64::from(k[2]) / 1024.0);
            let at =
                |yy: i32, xx: i32| f64::from(input[flat(&dims, [b, yy as usize, xx as usize, c])]);
            let blend = (1.0 - fy) * (1.0 - fx) * at(r[0], k[0])
                + fy * (1.0 - fx) * at(r[1], k[0])
                + (1.0 - fy) * fx * at(r[0], k[1])
                + fy * fx * at(r[1], k[1]);
            assert_eq!(
                i32::from(got),
                blend.round() as i32,
                "{dims:?} to {out_dims:?} at {i}"
            );
        }
    }
}

/// REQUANTIZE between int8, int16 and int32 against the formula per element: each value
/// less its zero point, scaled (double rounding), plus the output zero point, clamped to the
/// output type; and within a step of the real rescaling.
#[test]
fn requantize_values_rescale_between_integer_types() {
    let mut rng = fastrand::Rng::with_seed(28);
    for _ in 0..cases(300) {
        let from = *rng.choice(&[DType::I8, DType::I16]).unwrap();
        let to = *rng.choice(&[DType::I8, DType::I16, DType::I32]).unwrap();
        let n = rng.usize(1..=40);
        let ratio = rng.f64() * 4.0 + 1e-3;
        let (multiplier, shift) = quantize_multiplier(ratio);
        let (in_lo, in_hi) = from.int_range();
        let (out_lo, out_hi) = to.int_range();
        let p = RequantizeParams {
            input_zero_point: rng.i32(in_lo.max(-1000)..=in_hi.min(1000)),
            output_zero_point: rng.i32(out_lo.max(-1000)..=out_hi.min(1000)),
            multiplier,
            shift,
        };
        let values: Vec<i32> = (0..n).map(|_| rng.i32(in_lo..=in_hi)).collect();
        let input: Vec<u8> = values
            .iter()
            .flat_map(|&v| {
                if from == DType::I16 {
                    (v as i16).to_le_bytes().to_vec()
                } else {
                    vec![v as i8 as u8]
                }
            })
            .collect();
        let width = to.byte_len(1);
        let mut output = vec![0u8; n * width];
        scalar::requantize_values(&p, from, to, &input, &mut output);
        for (i, &v) in values.iter().enumerate() {
            let bytes = &output[i * width..(i + 1) * width];
            let got = match to {
                DType::I8 => i32::from(bytes[0] as i8),
                DType::I16 => i32::from(i16::from_le_bytes([bytes[0], bytes[1]])),
                _ => i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            };
            let exact = Rounding::Double.apply(v - p.input_zero_point, multiplier, shift);
            let want = (exact + p.output_zero_point).clamp(out_lo, out_hi);
            assert_eq!(got, want, "{from:?} -> {to:?} value {v}");
            let real = (f64::from(v - p.input_zero_point) * ratio + f64::from(p.output_zero_point))
                .clamp(f64::from(out_lo), f64::from(out_hi));
            assert!(
                (f64::from(got) - real).abs() <= 1.0,
                "{v}: {got} for {real}"
            );
        }
    }
}

/// BATCH_MATMUL against materialized operands: the stored matrices transposed back where
/// `adj_x`/`adj_y` say so, broadcast batches copied out, then a plain triple loop.
#[test]
fn batch_matmul_matches_plain_products() {
    let mut rng = fastrand::Rng::with_seed(27);
    for _ in 0..cases(300) {
        let (m, k, n) = (rng.usize(1..=5), rng.usize(1..=40), rng.usize(1..=5));
        let batches = [rng.usize(1..=3), rng.usize(1..=3)];
        let l_b = batches.map(|b| if rng.bool() { b } else { 1 });
        let r_b = batches.map(|b| if rng.bool() { b } else { 1 });
        let (adj_x, adj_y) = (rng.bool(), rng.bool());
        let lhs = random_i8(&mut rng, l_b[0] * l_b[1] * m * k);
        let rhs = random_i8(&mut rng, r_b[0] * r_b[1] * k * n);
        let (multiplier, shift) = quantize_multiplier(rng.f64() * 0.01 + 1e-4);
        let p = BatchMatMulParams {
            lhs_zero_point: rng.i32(-128..128),
            rhs_zero_point: rng.i32(-128..128),
            output_zero_point: rng.i32(-128..128),
            multiplier,
            shift,
            adj_x: u32::from(adj_x),
            adj_y: u32::from(adj_y),
        };
        let stride = |b: [usize; 2], matrix: usize| {
            [
                if b[0] == 1 { 0 } else { matrix * b[1] },
                if b[1] == 1 { 0 } else { matrix },
            ]
        };
        let s = scalar::MatMulShape {
            batches,
            lhs_strides: stride(l_b, m * k),
            rhs_strides: stride(r_b, k * n),
            rows: m,
            depth: k,
            cols: n,
            adj_x,
            adj_y,
        };
        let mut out = vec![0i8; batches[0] * batches[1] * m * n];
        scalar::batch_matmul(&p, &s, &lhs, &rhs, &mut out);
        let mut expected = Vec::new();
        for b0 in 0..batches[0] {
            for b1 in 0..batches[1] {
                let lb = (b0 % l_b[0]) * l_b[1] + b1 % l_b[1];
                let rb = (b0 % r_b[0]) * r_b[1] + b1 % r_b[1];
                let l = |i: usize, kk: usize| {
                    let at = if adj_x { kk * m + i } else { i * k + kk };
                    i32::from(lhs[lb * m * k + at]) - p.lhs_zero_point
                };
                let r = |kk: usize, j: usize| {
                    let at = if adj_y { j * k + kk } else { kk * n + j };
                    i32::from(rhs[rb * k * n + at]) - p.rhs_zero_point
                };
                for i in 0..m {
                    for j in 0..n {
                        let acc: i32 = (0..k).map(|kk| l(i, kk) * r(kk, j)).sum();
                        let y =
                            Rounding::Double.apply(acc, multiplier, shift) + p.output_zero_point;
                        expected.push(y.clamp(-128, 127) as i8);
                    }
                }
            }
        }
        assert_eq!(out, expected, "{s:?}");
    }
}

/// PRELU against broadcast indexing written out and the real function: the identity
/// (rescaled) at or above the input's zero point, the slope's product below it, exactly as
/// TFLite's requantization gives them and within one step of the real value.
#[test]
fn prelu_matches_broadcast_indexing_and_real_arithmetic() {
    let mut rng = fastrand::Rng::with_seed(26);
    for _ in 0..cases(300) {
        let (shape, x_dims, a_dims) = random_broadcast(&mut rng);
        let dims = shape.dims;
        let (sx, sa, sy) = (
            rng.f64() * 0.1 + 0.001,
            rng.f64() * 0.01 + 0.0001,
            rng.f64() * 0.1 + 0.001,
        );
        let (m1, s1) = quantize_multiplier(sx / sy);
        let (m2, s2) = quantize_multiplier(sx * sa / sy);
        let p = PreluParams {
            input_zero_point: rng.i32(-128..128),
            alpha_zero_point: rng.i32(-128..128),
            output_zero_point: rng.i32(-128..128),
            positive_multiplier: m1,
            positive_shift: s1,
            negative_multiplier: m2,
            negative_shift: s2,
        };
        let len = |d: [usize; 4]| d.iter().product::<usize>();
        let x = random_i8(&mut rng, len(x_dims));
        let alpha = random_i8(&mut rng, len(a_dims));
        let mut out = vec![0i8; len(dims)];
        scalar::prelu(&p, &shape, &x, &alpha, &mut out);
        for (i, &got) in out.iter().enumerate() {
            let at = unflat(&dims, i);
            let v = i32::from(x[flat(&x_dims, broadcast_index(at, &x_dims))]) - p.input_zero_point;
            let a =
                i32::from(alpha[flat(&a_dims, broadcast_index(at, &a_dims))]) - p.alpha_zero_point;
            let real = if v >= 0 {
                f64::from(v) * sx / sy
            } else {
                f64::from(v * a) * sx * sa / sy
            } + f64::from(p.output_zero_point);
            let exact = if v >= 0 {
                Rounding::Double.apply(v, m1, s1)
            } else {
                Rounding::Double.apply(v * a, m2, s2)
            };
            let want = (exact + p.output_zero_point).clamp(-128, 127);
            assert_eq!(i32::from(got), want, "element {i} of {dims:?}");
            // Double rounding stays within one step of the real value.
            assert!(
                (f64::from(got) - real.clamp(-128.0, 127.0)).abs() <= 1.0,
                "element {i} of {dims:?}: {got} for {real}"
            );
        }
    }
}

/// GATHER against indexing written out per output element: element `(b, o, p, i)` is input
/// element `(b, o, indices[b][p], i)`; an index outside the axis anywhere makes it fail.
#[test]
fn gather_takes_the_indexed_slices() {
    let mut rng = fastrand::Rng::with_seed(25);
    for _ in 0..cases(300) {
        let s = layout::GatherShape {
            batches: rng.usize(1..=3),
            outer: rng.usize(1..=3),
            picks: rng.usize(1..=5),
            axis_len: rng.usize(1..=6),
            inner: rng.usize(1..=4),
        };
        let input = random_i8(&mut rng, s.batches * s.outer * s.axis_len * s.inner);
        let mut indices: Vec<i32> = (0..s.batches * s.picks)
            .map(|_| rng.i32(0..s.axis_len as i32))
            .collect();
        let bytes = |v: &[i32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let mut out = vec![0i8; s.batches * s.outer * s.picks * s.inner];
        assert_eq!(
            layout::gather(&s, &input, &bytes(&indices), &mut out),
            Some(())
        );
        for (n, &got) in out.iter().enumerate() {
            let (i, rest) = (n % s.inner, n / s.inner);
            let (p, rest) = (rest % s.picks, rest / s.picks);
            let (o, b) = (rest % s.outer, rest / s.outer);
            let k = indices[b * s.picks + p] as usize;
            let want = input[((b * s.outer + o) * s.axis_len + k) * s.inner + i];
            assert_eq!(got, want, "{s:?} at {n}");
        }
        let bad = rng.usize(..indices.len());
        indices[bad] = if rng.bool() { -1 } else { s.axis_len as i32 };
        assert_eq!(layout::gather(&s, &input, &bytes(&indices), &mut out), None);
    }
}

/// ADD's parameters as the importer computes them for random scales and zero points; with
/// the scales.
fn random_add_params(rng: &mut fastrand::Rng) -> (AddParams, (f32, f32, f32)) {
    let (sa, sb, so) = (
        rng.f32() * 0.1 + 0.001,
        rng.f32() * 0.1 + 0.001,
        rng.f32() * 0.2 + 0.002,
    );
    let twice_max = 2.0 * f64::from(sa.max(sb));
    let (m1, s1) = quantize_multiplier(f64::from(sa) / twice_max);
    let (m2, s2) = quantize_multiplier(f64::from(sb) / twice_max);
    let (mo, so_shift) = quantize_multiplier(twice_max / f64::from((1 << 20) as f32 * so));
    let p = AddParams {
        input1_zero_point: rng.i32(-128..128),
        input2_zero_point: rng.i32(-128..128),
        output_zero_point: rng.i32(-128..128),
        left_shift: 20,
        input1_multiplier: m1,
        input1_shift: s1,
        input2_multiplier: m2,
        input2_shift: s2,
        output_multiplier: mo,
        output_shift: so_shift,
        act_min: -128,
        act_max: 127,
    };
    (p, (sa, sb, so))
}

/// Random output dims and two input shapes that broadcast to them, with their strides.
fn random_broadcast(rng: &mut fastrand::Rng) -> (Broadcast, [usize; 4], [usize; 4]) {
    let dims = random_dims(rng);
    let mut input_dims = || dims.map(|d| if rng.bool() { d } else { 1 });
    let (a_dims, b_dims) = (input_dims(), input_dims());
    let shape = Broadcast {
        dims,
        a: broadcast_strides(a_dims),
        b: broadcast_strides(b_dims),
    };
    (shape, a_dims, b_dims)
}
