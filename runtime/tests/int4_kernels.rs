//! 4-bit kernels (uint4 activations, int4 weights, and the mixed W4A8 / W8A4 cases) on every
//! ISA this CPU runs, against the scalar oracle on the same values: conv and fully connected
//! through the packed GEMM, depthwise through its native uint4 x int4 kernels and its row-window
//! path. Also run under qemu.

mod common;

use edgeq_runtime::format::DType;
use edgeq_runtime::kernels::int4::{self, Values, ValuesMut};
use edgeq_runtime::kernels::{
    depthwise, gemm, pool, scalar, ConvGeometry, FullyConnectedGeometry, PoolGeometry,
};
use edgeq_runtime::kernels::{Isa, Requant};
use edgeq_runtime::quant::{quantize_multiplier, Rounding};

use common::{isas, random_geometry, random_pool_geometry, wide_depthwise_geometry, Tables};

const CASES: usize = 300;

/// One combination of element types.
#[derive(Clone, Copy, Debug)]
struct Types {
    input: DType,
    weights: DType,
    output: DType,
}

/// Every combination with at least one 4-bit type.
const COMBOS: [Types; 7] = {
    use DType::{I4, I8, U4};
    [
        Types {
            input: U4,
            weights: I4,
            output: U4,
        },
        Types {
            input: U4,
            weights: I4,
            output: I8,
        },
        Types {
            input: I8,
            weights: I4,
            output: U4,
        },
        Types {
            input: I8,
            weights: I4,
            output: I8,
        },
        Types {
            input: U4,
            weights: I8,
            output: U4,
        },
        Types {
            input: U4,
            weights: I8,
            output: I8,
        },
        Types {
            input: I8,
            weights: I8,
            output: U4,
        },
    ]
};

/// Random values of `dtype` (sometimes only its extremes).
fn values(rng: &mut fastrand::Rng, dtype: DType, n: usize) -> Vec<i8> {
    let (lo, hi) = dtype.int_range();
    let extremes = rng.u8(0..5) == 0;
    (0..n)
        .map(|_| {
            if extremes {
                if rng.bool() {
                    lo as i8
                } else {
                    hi as i8
                }
            } else {
                rng.i32(lo..=hi) as i8
            }
        })
        .collect()
}

/// The tensor bytes of `v` as `dtype` (4-bit types packed, plain order).
fn bytes(dtype: DType, v: &[i8]) -> Vec<u8> {
    match dtype {
        DType::I8 => v.iter().map(|&x| x as u8).collect(),
        _ => {
            let mut b = vec![0u8; v.len().div_ceil(2)];
            for (i, &x) in v.iter().enumerate() {
                int4::set_nibble(&mut b, i, x as u8);
            }
            b
        }
    }
}

/// Tables whose outputs spread over the output type's range.
fn tables(rng: &mut fastrand::Rng, t: Types, channels: usize, reduction: usize) -> Tables {
    let in_range = if t.input == DType::U4 { 16.0 } else { 256.0 };
    let w_range = if t.weights == DType::I4 { 8.0 } else { 128.0 };
    let out_range = if t.output == DType::U4 { 16.0 } else { 256.0 };
    let (mut mult, mut shift) = (Vec::new(), Vec::new());
    for _ in 0..channels {
        let real = rng.f64() * 2.0 * out_range
            / (reduction as f64 * in_range * w_range).sqrt()
            / in_range.sqrt();
        let (m, s) = quantize_multiplier(real.clamp(1e-6, 0.99));
        mult.push(m);
        shift.push(s);
    }
    Tables {
        bias: (0..channels).map(|_| rng.i32(-2000..2000)).collect(),
        mult,
        shift,
    }
}

fn requant<'a>(rng: &mut fastrand::Rng, tables: &'a Tables, t: Types) -> Requant<'a> {
    let (in_lo, in_hi) = t.input.int_range();
    let (lo, hi) = t.output.int_range();
    let act_min = rng.i32(lo..=hi);
    Requant {
        bias: if rng.u8(0..4) == 0 {
            None
        } else {
            Some(&tables.bias)
        },
        multiplier: &tables.mult,
        shift: &tables.shift,
        input_zero_point: rng.i32(in_lo..=in_hi),
        output_zero_point: rng.i32(lo..=hi),
        act_min,
        act_max: rng.i32(act_min..=hi),
        rounding: if rng.bool() {
            Rounding::Double
        } else {
            Rounding::Single
        },
    }
}

/// The oracle on plain-layout values: returns the output values.
fn expected(
    t: Types,
    out_len: usize,
    run: impl FnOnce(&Values<'_>, &Values<'_>, &mut ValuesMut<'_>),
    (x, w): (&[u8], &[u8]),
) -> Vec<i8> {
    let xv = Values::of(t.input, x).unwrap();
    let wv = Values::of(t.weights, w).unwrap();
    let mut out = vec![0u8; t.output.byte_len(out_len)];
    run(&xv, &wv, &mut ValuesMut::of(t.output, &mut out).unwrap());
    unpack(t.output, &out, out_len)
}

fn unpack(dtype: DType, bytes: &[u8], n: usize) -> Vec<i8> {
    let v = Values::of(dtype, bytes).unwrap();
    (0..n).map(|i| int4::Elems::at(&v, i) as i8).collect()
}

/// GEMM weights for `w` ([n, k] values), packed as the exporter packs them.
fn packed_weights(t: Types, w: &[i8], n: usize, k: usize) -> Vec<u8> {
    let mut p = vec![0i8; gemm::packed_len(n, k)];
    gemm::pack(n, k, |row, col| w[row * k + col], &mut p);
    match t.weights {
        DType::I4 => {
            let mut b = vec![0u8; p.len() / 2];
            int4::pack_gemm_i4(&p, &mut b);
            b
        }
        _ => p.iter().map(|&v| v as u8).collect(),
    }
}

fn folded_bias(q: &Requant<'_>, w: &[i8], n: usize, k: usize) -> Vec<i32> {
    (0..n)
        .map(|row| {
            let sum: i32 = w[row * k..(row + 1) * k]
                .iter()
                .map(|&v| i32::from(v))
                .sum();
            q.bias
                .map_or(0, |b| b[row])
                .wrapping_sub(q.input_zero_point.wrapping_mul(sum))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn run_gemm(
    isa: Isa,
    t: Types,
    (rows, n, k): (usize, usize, usize),
    conv: Option<&ConvGeometry>,
    x: &[u8],
    wp: &[u8],
    q: &Requant<'_>,
) -> Vec<i8> {
    let acts = match t.input {
        DType::U4 => Values::U4(x),
        _ => Values::I8(bytemuck::cast_slice(x)),
    };
    let weights = match t.weights {
        DType::I4 => gemm::Weights::I4(wp),
        _ => gemm::Weights::I8(bytemuck::cast_slice(wp)),
    };
    let mut scratch = vec![0i8; gemm::scratch_len(k)];
    let mut out = vec![0u8; t.output.byte_len(rows * n)];
    let acts_out = match t.output {
        DType::U4 => ValuesMut::U4(&mut out),
        _ => ValuesMut::I8(bytemuck::cast_slice_mut(&mut out)),
    };
    let a = match conv {
        Some(geometry) => gemm::Rows::Conv {
            geometry,
            input: acts,
            zero_point: q.input_zero_point as i8,
        },
        None => gemm::Rows::Dense(acts),
    };
    gemm::gemm(isa, rows, n, k, a, weights, q, &mut scratch, acts_out).unwrap();
    unpack(t.output, &out, rows * n)
}

#[test]
fn conv_gemm_matches_the_oracle_for_every_4bit_combination() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x4b17_0001);
    for case in 0..CASES {
        let t = COMBOS[case % COMBOS.len()];
        let mut g = random_geometry(&mut rng, false);
        g.in_c = rng.usize(1..=21);
        g.out_c = rng.usize(1..=21);
        check_conv(&isas, &mut rng, t, &g, &format!("case {case}"));
    }
}

/// W4A4 convolutions over inputs wider and deeper than one window of input rows holds (the
/// AVX2 kernel unpacks bands of rows), more blocks of channels than one run of requantization
/// constants, kernel rows of more groups than int16 sums may hold, a last block of 2
/// channels, strides and a row dilation.
#[test]
fn wide_4bit_convs_match_the_oracle() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x4b17_0003);
    let w4a4 = COMBOS[0];
    // (in_h, in_w, in_c, out_c, kernel, stride, dilation_h, pad)
    let shapes = [
        (40, 40, 16, 24, (3, 3), (1, 1), 1, (1, 1)),
        (37, 45, 8, 138, (3, 2), (2, 2), 2, (2, 0)),
        (5, 9, 200, 18, (2, 3), (1, 1), 1, (0, 1)),
        (30, 30, 24, 10, (1, 1), (1, 1), 1, (0, 0)),
    ];
    for (i, (in_h, in_w, in_c, out_c, (kh, kw), (sh, sw), dh, (pt, pl))) in
        shapes.into_iter().enumerate()
    {
        let out_h = (in_h + 2 * pt - (kh - 1) * dh - 1) / sh + 1;
        let out_w = (in_w + 2 * pl - kw) / sw + 1;
        let g = ConvGeometry {
            batch: 2,
            in_h,
            in_w,
            in_c,
            out_h,
            out_w,
            out_c,
            kernel_h: kh,
            kernel_w: kw,
            stride_h: sh,
            stride_w: sw,
            dilation_h: dh,
            dilation_w: 1,
            pad_top: pt,
            pad_left: pl,
            depth_multiplier: 1,
        };
        for t in [w4a4, COMBOS[1]] {
            check_conv(&isas, &mut rng, t, &g, &format!("shape {i}"));
        }
    }
}

/// Conv `g` with types `t` on random values through the packed GEMM of every ISA, against the
/// oracle.
fn check_conv(isas: &[Isa], rng: &mut fastrand::Rng, t: Types, g: &ConvGeometry, case: &str) {
    let k = g.kernel_h * g.kernel_w * g.in_c;
    let x = values(rng, t.input, g.batch * g.in_h * g.in_w * g.in_c);
    let w = values(rng, t.weights, g.out_c * k);
    let tb = tables(rng, t, g.out_c, k);
    let q = requant(rng, &tb, t);
    let rows = g.batch * g.out_h * g.out_w;
    let (xb, wb) = (bytes(t.input, &x), bytes(t.weights, &w));
    let want = expected(
        t,
        rows * g.out_c,
        |x, w, o| scalar::conv2d(g, &q, x, w, o),
        (&xb, &wb),
    );
    let folded = folded_bias(&q, &w, g.out_c, k);
    let qp = Requant {
        bias: Some(&folded),
        ..q
    };
    let wp = packed_weights(t, &w, g.out_c, k);
    for &isa in isas {
        let got = run_gemm(isa, t, (rows, g.out_c, k), Some(g), &xb, &wp, &qp);
        assert_eq!(got, want, "{case} {t:?} isa {isa:?} {g:?}");
    }
}

#[test]
fn fully_connected_gemm_matches_the_oracle_for_every_4bit_combination() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x4b17_0002);
    for case in 0..CASES {
        let t = COMBOS[case % COMBOS.len()];
        let (rows, depth, units) = (rng.usize(1..=9), rng.usize(1..=300), rng.usize(1..=35));
        check_fully_connected(
            &isas,
            &mut rng,
            t,
            (rows, depth, units),
            &format!("case {case}"),
        );
    }
}

/// W4A4 over many dense rows (the AVX2 uint4 kernel takes them as the pixels of a 1x1
/// convolution): depths around its limits, one and several pairs of blocks, a last block
/// of 2 channels.
#[test]
fn dense_4bit_rows_match_the_oracle() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x4b17_0004);
    for rows in [8, 13, 64] {
        for depth in [4, 8, 12, 20, 300] {
            for units in [2, 18, 40] {
                let case = format!("rows {rows} depth {depth} units {units}");
                check_fully_connected(&isas, &mut rng, COMBOS[0], (rows, depth, units), &case);
            }
        }
    }
}

/// Fully connected `(rows, depth, units)` with types `t` on random values through the packed
/// GEMM of every ISA, against the oracle.
fn check_fully_connected(
    isas: &[Isa],
    rng: &mut fastrand::Rng,
    t: Types,
    (rows, depth, units): (usize, usize, usize),
    case: &str,
) {
    let g = FullyConnectedGeometry {
        rows,
        depth,
        units,
        weight_zero_point: 0,
    };
    let x = values(rng, t.input, rows * depth);
    let w = values(rng, t.weights, units * depth);
    let tb = tables(rng, t, units, depth);
    let q = requant(rng, &tb, t);
    let (xb, wb) = (bytes(t.input, &x), bytes(t.weights, &w));
    let want = expected(
        t,
        rows * units,
        |x, w, o| scalar::fully_connected(&g, &q, x, w, o),
        (&xb, &wb),
    );
    let folded = folded_bias(&q, &w, units, depth);
    let qp = Requant {
        bias: Some(&folded),
        ..q
    };
    let wp = packed_weights(t, &w, units, depth);
    for &isa in isas {
        let got = run_gemm(isa, t, (rows, units, depth), None, &xb, &wp, &qp);
        assert_eq!(got, want, "{case} {t:?} isa {isa:?} {g:?}");
    }
}

#[test]
fn depthwise_row_windows_match_the_oracle() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x4b17_0003);
    for case in 0..CASES {
        let t = COMBOS[case % COMBOS.len()];
        let mut g: ConvGeometry = random_geometry(&mut rng, true);
        g.in_c = rng.usize(1..=40);
        g.depth_multiplier = if rng.u8(0..4) == 0 { 2 } else { 1 };
        g.out_c = g.in_c * g.depth_multiplier;
        check_depthwise(&isas, &mut rng, t, &g, case);
    }
}

/// The native uint4 x int4 kernels (channels a multiple of 8): blocks of 32, 16 and 8
/// channels, runs of pixels for 8 and 16 channels, odd and even tap counts up to the 32-tap
/// limit, and just past it (where the row-window path or the oracle takes over).
#[test]
fn native_u4_depthwise_matches_the_oracle() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x4b17_0004);
    for case in 0..CASES {
        let t = COMBOS[case % 2]; // uint4 x int4, to uint4 or int8
        let mut g: ConvGeometry = random_geometry(&mut rng, true);
        g.in_c = 8 * rng.usize(1..=9);
        if case % 3 == 1 {
            // 8 or 16 channels at horizontal stride 1: runs of neighbouring pixels share
            // the lanes, wherever the run lies inside the input.
            g.in_c = 8 * rng.usize(1..=2);
            g.stride_w = 1;
            g.in_w = rng.usize(1..=20);
            g.out_w = g.in_w + g.pad_left;
        }
        g.depth_multiplier = 1;
        g.out_c = g.in_c;
        if case % 10 == 0 {
            // 25 to 36 taps.
            g.kernel_h = rng.usize(5..=6);
            g.kernel_w = rng.usize(5..=6);
            g.pad_top = rng.usize(0..g.kernel_h);
            g.pad_left = rng.usize(0..g.kernel_w);
            g.dilation_h = 1;
            g.dilation_w = 1;
            g.out_h = (g.in_h + g.pad_top).div_ceil(g.stride_h);
            g.out_w = (g.in_w + g.pad_left).div_ceil(g.stride_w);
        }
        check_depthwise(&isas, &mut rng, t, &g, case);
    }
}

/// uint4 depthwise layers wider and taller than one window holds (the AVX2 kernel fills
/// several bands and column strips per image), to uint4 and to int8.
#[test]
fn wide_u4_depthwise_matches_the_oracle() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x4b17_0005);
    for case in 0..CASES / 10 {
        let g = wide_depthwise_geometry(&mut rng);
        check_depthwise(&isas, &mut rng, COMBOS[case % 2], &g, case);
    }
}

/// Random values, tables and zero points for depthwise conv `g` with types `t`: every ISA's
/// 4-bit path ([`depthwise::depthwise_conv2d_values`]) against the oracle.
fn check_depthwise(isas: &[Isa], rng: &mut fastrand::Rng, t: Types, g: &ConvGeometry, case: usize) {
    let x = values(rng, t.input, g.batch * g.in_h * g.in_w * g.in_c);
    let w = values(rng, t.weights, g.kernel_h * g.kernel_w * g.out_c);
    let tb = tables(rng, t, g.out_c, g.kernel_h * g.kernel_w);
    let q = requant(rng, &tb, t);
    let n = g.batch * g.out_h * g.out_w * g.out_c;
    let (xb, wb) = (bytes(t.input, &x), bytes(t.weights, &w));
    let want = expected(
        t,
        n,
        |x, w, o| scalar::depthwise_conv2d(g, &q, x, w, o),
        (&xb, &wb),
    );
    for &isa in isas {
        let mut out = vec![0u8; t.output.byte_len(n)];
        let mut scratch = vec![0i8; depthwise::values_scratch_len(g, t.input, t.weights)];
        let (xv, wv) = (
            Values::of(t.input, &xb).unwrap(),
            Values::of(t.weights, &wb).unwrap(),
        );
        let mut ov = ValuesMut::of(t.output, &mut out).unwrap();
        depthwise::depthwise_conv2d_values(isa, g, &q, xv, wv, &mut ov, &mut scratch);
        assert_eq!(
            unpack(t.output, &out, n),
            want,
            "case {case} {t:?} isa {isa:?} {g:?}"
        );
    }
}

/// The average pool's fast path (runs of channels, uint4 unpacked) against the oracle, int8
/// and uint4, with padding and channel counts past one run of 64.
#[test]
fn average_pool_matches_the_oracle() {
    let mut rng = fastrand::Rng::with_seed(0x4b17_0005);
    for case in 0..CASES {
        let dtype = if case % 2 == 0 { DType::U4 } else { DType::I8 };
        let g = random_pool_geometry(&mut rng, 150);
        let (lo, hi) = dtype.int_range();
        let act_min = rng.i32(lo..=hi);
        let act_max = rng.i32(act_min..=hi);
        let x = bytes(
            dtype,
            &values(&mut rng, dtype, g.batch * g.in_h * g.in_w * g.channels),
        );
        let n = g.batch * g.out_h * g.out_w * g.channels;
        let xv = Values::of(dtype, &x).unwrap();
        let (mut want, mut got) = (vec![0u8; dtype.byte_len(n)], vec![0u8; dtype.byte_len(n)]);
        let mut wv = ValuesMut::of(dtype, &mut want).unwrap();
        scalar::average_pool(&g, act_min, act_max, &xv, &mut wv);
        pool::average_pool(
            &g,
            act_min,
            act_max,
            xv,
            &mut ValuesMut::of(dtype, &mut got).unwrap(),
        );
        assert_eq!(got, want, "case {case} {dtype:?} {g:?}");
    }
}

/// The average pool's int16 sums at their bound: whole-image windows of 255, 256 and 257
/// values (the last summed in int32), every input at -128 or 127 or random, no clamp.
#[test]
fn average_pool_large_windows_stay_exact() {
    let mut rng = fastrand::Rng::with_seed(0x4b17_0006);
    for (h, w) in [(15, 17), (16, 16), (1, 257), (17, 17)] {
        for fill in [Some(-128i8), Some(127), None] {
            let channels = rng.usize(1..=70);
            let g = PoolGeometry {
                batch: 1,
                in_h: h,
                in_w: w,
                channels,
                out_h: 1,
                out_w: 1,
                filter_h: h,
                filter_w: w,
                stride_h: 1,
                stride_w: 1,
                pad_top: 0,
                pad_left: 0,
            };
            let x: Vec<u8> = (0..h * w * channels)
                .map(|_| fill.unwrap_or_else(|| rng.i8(..)) as u8)
                .collect();
            let xv = Values::of(DType::I8, &x).unwrap();
            let (mut want, mut got) = (vec![0u8; channels], vec![0u8; channels]);
            let mut wv = ValuesMut::of(DType::I8, &mut want).unwrap();
            scalar::average_pool(&g, -128, 127, &xv, &mut wv);
            let mut gv = ValuesMut::of(DType::I8, &mut got).unwrap();
            pool::average_pool(&g, -128, 127, xv, &mut gv);
            assert_eq!(got, want, "{h}x{w} {fill:?}");
            if let Some(v) = fill {
                assert!(got.iter().all(|&m| m as i8 == v), "{h}x{w} {fill:?}");
            }
        }
    }
}

/// The int16 partial sums of the 4-bit kernels at their worst: every input and weight at the
/// extreme of its type, reductions deep enough to widen many times, a scale that keeps the
/// outputs off the clamps (so an overflowed partial sum would show).
#[test]
fn extreme_deep_products_stay_exact() {
    let isas = isas();
    // 1024 and 1020 deep over 8 and more rows: the AVX2 uint4 kernel's deepest rows.
    let shapes = [
        (1, 1100),
        (1, 1101),
        (4, 1100),
        (5, 1103),
        (8, 1024),
        (9, 1020),
    ];
    for t in COMBOS {
        // Both weight extremes: kernels that offset the weights to `w + 8` peak at the top.
        let (w_lo, w_hi) = t.weights.int_range();
        for ((rows, depth), w_extreme) in shapes.into_iter().flat_map(|s| [(s, w_lo), (s, w_hi)]) {
            // Even over 8 rows: the AVX2 uint4 kernel packs whole pixels.
            let units = if rows >= 8 { 20 } else { 19 };
            let (in_lo, in_hi) = t.input.int_range();
            let x_extreme = if t.input == DType::U4 { in_hi } else { in_lo };
            let x = vec![x_extreme as i8; rows * depth];
            let w = vec![w_extreme as i8; units * depth];
            let (lo, hi) = t.output.int_range();
            // The accumulator times the scale is a quarter of the output range.
            let product = f64::from(x_extreme * w_extreme).abs();
            let scale = f64::from(hi - lo) / 4.0 / (depth as f64 * product);
            let (m, s) = quantize_multiplier(scale);
            // A zero multiplier would test constant outputs (it did on armv7 while a kernel
            // clobbered its callers' floating-point registers).
            assert!(m > 0, "{t:?}: scale {scale} has no multiplier");
            let tb = Tables {
                bias: vec![0; units],
                mult: vec![m; units],
                shift: vec![s; units],
            };
            let q = Requant {
                bias: Some(&tb.bias),
                multiplier: &tb.mult,
                shift: &tb.shift,
                input_zero_point: in_lo.max(0),
                output_zero_point: (lo + hi + 1) / 2,
                act_min: lo,
                act_max: hi,
                rounding: Rounding::Single,
            };
            let g = FullyConnectedGeometry {
                rows,
                depth,
                units,
                weight_zero_point: 0,
            };
            let (xb, wb) = (bytes(t.input, &x), bytes(t.weights, &w));
            let want = expected(
                t,
                rows * units,
                |x, w, o| scalar::fully_connected(&g, &q, x, w, o),
                (&xb, &wb),
            );
            assert!(
                want.iter().all(|&v| i32::from(v) > lo && i32::from(v) < hi),
                "{t:?}: outputs on the clamps test nothing: {want:?}"
            );
            let folded = folded_bias(&q, &w, units, depth);
            let qp = Requant {
                bias: Some(&folded),
                ..q
            };
            let wp = packed_weights(t, &w, units, depth);
            for &isa in &isas {
                let got = run_gemm(isa, t, (rows, units, depth), None, &xb, &wp, &qp);
                let case = format!("{t:?} rows {rows} depth {depth} w {w_extreme} isa {isa:?}");
                assert_eq!(got, want, "{case}");
            }
        }
    }
}

/// uint4 ADD (table lookups; AVX2 counts thresholds) against the reference on the same
/// values, lengths odd and even, realistic and extreme parameters, the latter including
/// output rows that are not monotonic (where the thresholds must not be used).
#[test]
fn uint4_add_matches_the_oracle() {
    use edgeq_runtime::kernels::elementwise;
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x4b17_0007);
    let mut non_monotonic = 0;
    for case in 0..CASES {
        let realistic = rng.u8(0..4) != 0;
        let multiplier = |rng: &mut fastrand::Rng| {
            if realistic {
                rng.i32(1 << 30..=i32::MAX)
            } else {
                rng.i32(0..=i32::MAX)
            }
        };
        let shift = |rng: &mut fastrand::Rng, typical: core::ops::RangeInclusive<i32>| {
            if realistic {
                rng.i32(typical)
            } else {
                rng.i32(-31..=30)
            }
        };
        let act_min = rng.i32(0..16);
        let p = edgeq_runtime::format::AddParams {
            input1_zero_point: rng.i32(0..16),
            input2_zero_point: rng.i32(0..16),
            output_zero_point: rng.i32(0..16),
            left_shift: if realistic { 20 } else { rng.i32(0..=20) },
            input1_multiplier: multiplier(&mut rng),
            input1_shift: shift(&mut rng, -3..=0),
            input2_multiplier: multiplier(&mut rng),
            input2_shift: shift(&mut rng, -3..=0),
            output_multiplier: multiplier(&mut rng),
            // Spreads sums of (x - zp) * 2^19-ish over the 16 output levels.
            output_shift: shift(&mut rng, -21..=-17),
            act_min,
            act_max: rng.i32(act_min..16),
        };
        let table = elementwise::add_u4_table(Isa::SCALAR, &p);
        non_monotonic += usize::from(elementwise::add_u4_thresholds(&table).is_none());
        let n = rng.usize(0..400);
        let (a, b) = (
            values(&mut rng, DType::U4, n),
            values(&mut rng, DType::U4, n),
        );
        let (ab, bb) = (bytes(DType::U4, &a), bytes(DType::U4, &b));
        // The byte past an odd length's last element keeps its high nibble.
        let garbage: Vec<u8> = (0..n.div_ceil(2)).map(|_| rng.u8(..)).collect();
        let mut want = garbage.clone();
        let (av, bv) = (Values::U4(&ab), Values::U4(&bb));
        scalar::add(&p, n, &av, &bv, &mut ValuesMut::U4(&mut want));
        for &isa in &isas {
            let mut got = garbage.clone();
            elementwise::add_u4(isa, &p, &ab, &bb, &mut got, n);
            assert_eq!(got, want, "case {case} n {n} isa {isa:?} {p:?}");
        }
    }
    assert!(non_monotonic > 0, "no case exercised the lookup fallback");
}
