//! Every fast kernel (portable packed, AVX2, NEON, NEON+dotprod: whichever this CPU runs)
//! against the scalar oracle, bit for bit, on random shapes and values: odd channel counts,
//! 1..9 rows, all strides, paddings and dilations, extreme zero points, multipliers and
//! shifts, both rounding rules.
//!
//! `EDGEQ_REQUIRE_ISA=avx2` (or `neon`, `neon-dotprod`) makes the run fail if that ISA is
//! not available, so a CI job under qemu cannot pass by testing only the portable path.

use edgeq_runtime::kernels::int4::{Values, ValuesMut};
use edgeq_runtime::kernels::{
    depthwise, gemm, scalar, ConvGeometry, FullyConnectedGeometry, Isa, Requant,
};
use edgeq_runtime::quant::Rounding;

mod common;
use common::{isas, random_geometry, random_i8, requant, tables, wide_depthwise_geometry, Tables};

const CASES: usize = 400;

/// Tables that also hit the edges: full-range multipliers and shifts, huge biases. Half of
/// them shift every channel right (the kernels' one-rounding path for double rounding).
fn extreme_tables(rng: &mut fastrand::Rng, channels: usize) -> Tables {
    let shifts = if rng.bool() { -31..=-1 } else { -31..=30 };
    Tables {
        bias: (0..channels).map(|_| rng.i32(..)).collect(),
        mult: (0..channels)
            .map(|_| match rng.u8(0..4) {
                0 => 0,
                1 => i32::MAX,
                2 => 1 << 30,
                _ => rng.i32(0..=i32::MAX),
            })
            .collect(),
        shift: (0..channels).map(|_| rng.i32(shifts.clone())).collect(),
    }
}

fn random_tables(rng: &mut fastrand::Rng, channels: usize, reduction: usize) -> Tables {
    if rng.u8(0..4) == 0 {
        extreme_tables(rng, channels)
    } else {
        tables(rng, channels, reduction)
    }
}

/// `bias - zp * sum_k w[n, k]`, wrapping: what the exporter stores with packed weights.
fn folded_bias(q: &Requant<'_>, w: &[i8], n: usize, k: usize) -> Vec<i32> {
    (0..n)
        .map(|row| {
            let sum: i32 = w[row * k..(row + 1) * k]
                .iter()
                .map(|&v| i32::from(v))
                .sum();
            let bias = q.bias.map_or(0, |b| b[row]);
            bias.wrapping_sub(q.input_zero_point.wrapping_mul(sum))
        })
        .collect()
}

fn packed(w: &[i8], n: usize, k: usize) -> Vec<i8> {
    let mut out = vec![0i8; gemm::packed_len(n, k)];
    gemm::pack(n, k, |row, col| w[row * k + col], &mut out);
    out
}

/// Sometimes the extreme int8 values only.
fn random_values(rng: &mut fastrand::Rng, n: usize) -> Vec<i8> {
    if rng.u8(0..5) == 0 {
        (0..n)
            .map(|_| if rng.bool() { i8::MIN } else { i8::MAX })
            .collect()
    } else {
        random_i8(rng, n)
    }
}

/// The int8 GEMM of `(rows, outputs, depth)` on `isa`, its output.
fn int8_gemm(
    isa: Isa,
    (rows, n, k): (usize, usize, usize),
    a: gemm::Rows<'_>,
    wp: &[i8],
    q: &Requant<'_>,
    scratch: &mut [i8],
) -> Vec<i8> {
    let mut out = vec![0i8; rows * n];
    let (w, o) = (gemm::Weights::I8(wp), ValuesMut::I8(&mut out));
    gemm::gemm(isa, rows, n, k, a, w, q, scratch, o).unwrap();
    out
}

fn random_rounding(rng: &mut fastrand::Rng) -> Rounding {
    if rng.bool() {
        Rounding::Double
    } else {
        Rounding::Single
    }
}

/// Convolution `g` on random values: the packed GEMM of every ISA in `isas` against the
/// reference conv.
fn check_conv(rng: &mut fastrand::Rng, isas: &[Isa], case: usize, g: &ConvGeometry) {
    let k = g.kernel_h * g.kernel_w * g.in_c;
    let x = random_values(rng, g.batch * g.in_h * g.in_w * g.in_c);
    let w = random_values(rng, g.out_c * k);
    let t = random_tables(rng, g.out_c, k);
    let rounding = random_rounding(rng);
    let q = requant(rng, &t, rounding);
    let rows = g.batch * g.out_h * g.out_w;
    let mut expected = vec![0i8; rows * g.out_c];
    scalar::conv2d(g, &q, &x[..], &w[..], &mut expected[..]);

    let folded = folded_bias(&q, &w, g.out_c, k);
    let qp = Requant {
        bias: Some(&folded),
        ..q
    };
    let wp = packed(&w, g.out_c, k);
    let a = gemm::Rows::Conv {
        geometry: g,
        input: Values::I8(&x),
        zero_point: q.input_zero_point as i8,
    };
    for &isa in isas {
        let mut scratch = vec![0i8; gemm::scratch_len(k)];
        let out = int8_gemm(isa, (rows, g.out_c, k), a, &wp, &qp, &mut scratch);
        assert_eq!(out, expected, "case {case} isa {isa:?} {g:?} {rounding:?}");
    }
}

#[test]
fn conv_gemm_matches_the_reference_conv() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0001);
    for case in 0..CASES {
        let mut g = random_geometry(&mut rng, false);
        // Wider channel ranges than the oracle tests: cross the 8-channel block and the
        // 4-step group boundaries.
        g.in_c = rng.usize(1..=21);
        g.out_c = rng.usize(1..=21);
        check_conv(&mut rng, &isas, case, &g);
    }
}

/// Convolutions whose input channels are a multiple of 4 (read in place, tap by tap, on
/// AVX-512 VNNI), with enough output channels to cross every channel-block grouping (pairs,
/// 4 and 8 blocks, chunks of 64 channels) and row counts that leave 1-7 rows after the
/// 4- and 8-row tiles.
#[test]
fn wide_convs_match_the_reference_conv() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0005);
    for case in 0..CASES / 4 {
        let mut g = random_geometry(&mut rng, false);
        g.in_c = 4 * rng.usize(1..=5);
        g.out_c = rng.usize(1..=150);
        check_conv(&mut rng, &isas, case, &g);
    }
}

/// First-layer convolutions: few input channels (not a multiple of 4; on AVX-512 VNNI each
/// kernel row's run of bytes is read at once), kernels as tall as KWS's 10x4, output channels
/// in fours up to 64 and beyond, inputs large enough for passes wholly inside the input.
#[test]
fn narrow_convs_match_the_reference_conv() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0006);
    for case in 0..CASES / 2 {
        let mut g = random_geometry(&mut rng, false);
        g.in_c = [1, 2, 3, 5, 6, 7][rng.usize(0..6)];
        g.kernel_h = rng.usize(1..=10);
        g.kernel_w = rng.usize(1..=(18 / g.in_c).max(1));
        g.dilation_w = if rng.u8(0..8) == 0 { 2 } else { 1 };
        g.out_c = match rng.u8(0..4) {
            0 => rng.usize(1..=70),
            _ => 4 * rng.usize(1..=16),
        };
        g.in_h = rng.usize(1..=24);
        g.in_w = rng.usize(1..=24);
        let eff_h = (g.kernel_h - 1) * g.dilation_h + 1;
        let eff_w = (g.kernel_w - 1) * g.dilation_w + 1;
        g.pad_top = rng.usize(0..eff_h);
        g.pad_left = rng.usize(0..eff_w);
        g.out_h = (g.in_h + g.pad_top).div_ceil(g.stride_h).max(1);
        g.out_w = (g.in_w + g.pad_left).div_ceil(g.stride_w).max(1);
        check_conv(&mut rng, &isas, case, &g);
    }
}

/// Convolutions over inputs too wide for one window of their whole height (AVX2 widens a band
/// of input rows at a time, 16 KB of int16): several bands per image, down to one output row
/// each, with strides, vertical dilation and padding at every band's edge.
#[test]
fn wide_inputs_match_the_reference_conv() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0007);
    for case in 0..CASES / 8 {
        let mut g = random_geometry(&mut rng, false);
        g.dilation_w = 1;
        g.in_c = 4 * rng.usize(4..=16);
        g.in_w = rng.usize(16..=48);
        g.in_h = rng.usize(4..=16);
        g.out_c = rng.usize(1..=20);
        let eff_h = (g.kernel_h - 1) * g.dilation_h + 1;
        g.pad_top = rng.usize(0..eff_h);
        g.pad_left = rng.usize(0..g.kernel_w);
        g.out_h = (g.in_h + g.pad_top).div_ceil(g.stride_h).max(1);
        g.out_w = (g.in_w + g.pad_left).div_ceil(g.stride_w).max(1);
        check_conv(&mut rng, &isas, case, &g);
    }
}

#[test]
fn pointwise_conv_reads_rows_in_place() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0002);
    for case in 0..CASES / 2 {
        let mut g = random_geometry(&mut rng, false);
        (g.kernel_h, g.kernel_w, g.stride_h, g.stride_w) = (1, 1, 1, 1);
        (g.pad_top, g.pad_left, g.out_h, g.out_w) = (0, 0, g.in_h, g.in_w);
        g.in_c = 4 * rng.usize(1..=10);
        g.out_c = rng.usize(1..=40);
        assert!(gemm::conv_rows_are_input(&g));
        let k = g.in_c;
        let x = random_values(&mut rng, g.batch * g.in_h * g.in_w * k);
        let w = random_values(&mut rng, g.out_c * k);
        let t = random_tables(&mut rng, g.out_c, k);
        let rounding = random_rounding(&mut rng);
        let q = requant(&mut rng, &t, rounding);
        let rows = g.batch * g.out_h * g.out_w;
        let mut expected = vec![0i8; rows * g.out_c];
        scalar::conv2d(&g, &q, &x[..], &w[..], &mut expected[..]);
        let folded = folded_bias(&q, &w, g.out_c, k);
        let qp = Requant {
            bias: Some(&folded),
            ..q
        };
        let wp = packed(&w, g.out_c, k);
        for &isa in &isas {
            // No scratch: dense rows whose depth is a multiple of 4 are read in place.
            let a = gemm::Rows::Dense(Values::I8(&x));
            let out = int8_gemm(isa, (rows, g.out_c, k), a, &wp, &qp, &mut []);
            assert_eq!(out, expected, "case {case} isa {isa:?} {g:?}");
        }
    }
}

/// Fully connected layer `g` (weights `[units, depth]`): the packed GEMM of every ISA in
/// `isas` against the reference.
fn check_fully_connected(
    isas: &[Isa],
    g: &FullyConnectedGeometry,
    q: &Requant<'_>,
    x: &[i8],
    w: &[i8],
    label: &str,
) {
    let (rows, depth, units) = (g.rows, g.depth, g.units);
    let mut expected = vec![0i8; rows * units];
    scalar::fully_connected(g, q, x, w, &mut expected[..]);
    let folded = folded_bias(q, w, units, depth);
    let qp = Requant {
        bias: Some(&folded),
        ..*q
    };
    let wp = packed(w, units, depth);
    for &isa in isas {
        let mut scratch = vec![0i8; gemm::scratch_len(depth)];
        let a = gemm::Rows::Dense(Values::I8(x));
        let out = int8_gemm(isa, (rows, units, depth), a, &wp, &qp, &mut scratch);
        assert_eq!(out, expected, "{label} isa {isa:?} {g:?}");
    }
}

/// A random fully connected layer of `rows x depth` inputs and `units` outputs, checked by
/// [`check_fully_connected`] on `isas`.
fn check_random_fully_connected(
    isas: &[Isa],
    rng: &mut fastrand::Rng,
    (rows, depth, units): (usize, usize, usize),
    label: &str,
) {
    let g = FullyConnectedGeometry {
        rows,
        depth,
        units,
        weight_zero_point: 0,
    };
    let x = random_values(rng, rows * depth);
    let w = random_values(rng, units * depth);
    let t = random_tables(rng, units, depth);
    let rounding = random_rounding(rng);
    let q = requant(rng, &t, rounding);
    check_fully_connected(isas, &g, &q, &x, &w, label);
}

#[test]
fn fully_connected_gemm_matches_the_reference() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0003);
    for case in 0..CASES {
        let shape = (rng.usize(1..=9), rng.usize(1..=70), rng.usize(1..=140));
        check_random_fully_connected(&isas, &mut rng, shape, &format!("case {case}"));
    }
}

/// Deep rows on both sides of the depth up to which the AVX2 tiles widen their rows once for
/// every block (1024), with tails of 4, 8 and 12 steps after the last 16.
#[test]
fn deep_gemms_match_the_reference() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0007);
    for case in 0..CASES / 8 {
        let shape = (rng.usize(4..=9), rng.usize(960..=1100), rng.usize(1..=20));
        check_random_fully_connected(&isas, &mut rng, shape, &format!("case {case}"));
    }
}

/// Requantization where adding the output zero point to the scaled value would wrap int32
/// (a multiplier of almost 1, no shift, a bias near `i32::MAX`): the kernels may leave the
/// clamp to a saturating narrow only where that cannot happen. Single rows, tiles of rows
/// and in-place rows, both rounding rules, the whole int8 range and a narrower one.
#[test]
fn requantization_at_the_int32_edge() {
    let isas = isas();
    let (units, depth) = (24, 8);
    let bias: Vec<i32> = (0..units as i32).map(|i| i32::MAX - 16 * i).collect();
    let w = vec![1i8; units * depth];
    // Shifts of 0 in some channels, and right shifts in all.
    for first_shift in [0, 1] {
        let t = Tables {
            bias: bias.clone(),
            mult: vec![i32::MAX; units],
            shift: (0..units as i32).map(|i| -(first_shift + i % 3)).collect(),
        };
        requantize_at_the_int32_edge(&isas, &t, &w, depth);
    }
}

fn requantize_at_the_int32_edge(isas: &[Isa], t: &Tables, w: &[i8], depth: usize) {
    let units = t.bias.len();
    for rows in [1, 5, 20] {
        for (act_min, act_max) in [(-128, 127), (-100, 100)] {
            for rounding in [Rounding::Double, Rounding::Single] {
                let q = Requant {
                    bias: Some(&t.bias),
                    multiplier: &t.mult,
                    shift: &t.shift,
                    input_zero_point: 0,
                    output_zero_point: 127,
                    act_min,
                    act_max,
                    rounding,
                };
                let x: Vec<i8> = (0..rows * depth).map(|i| (i % 7) as i8).collect();
                let g = FullyConnectedGeometry {
                    rows,
                    depth,
                    units,
                    weight_zero_point: 0,
                };
                let label = format!("{act_min}..={act_max} {rounding:?} {:?}", &t.shift[..3]);
                check_fully_connected(isas, &g, &q, &x, w, &label);
            }
        }
    }
}

#[test]
fn depthwise_matches_the_reference() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0004);
    for case in 0..CASES {
        let mut g: ConvGeometry = random_geometry(&mut rng, true);
        // Channel counts around the 8- and 16-lane steps, and often exactly the widths
        // whose pixels pack into one pass; 3x3 (a compiled tap count) often; multiplier 1 is
        // the fast path.
        g.in_c = match rng.u8(0..3) {
            0 => [8, 16, 32, 40, 48][rng.usize(0..5)],
            _ => rng.usize(1..=40),
        };
        if rng.bool() {
            (g.kernel_h, g.kernel_w) = (3, 3);
            g.pad_top = g.pad_top.min(2 * g.dilation_h);
            g.pad_left = g.pad_left.min(2 * g.dilation_w);
            g.out_h = (g.in_h + g.pad_top).div_ceil(g.stride_h).max(1);
            g.out_w = (g.in_w + g.pad_left).div_ceil(g.stride_w).max(1);
        }
        g.depth_multiplier = if rng.u8(0..4) == 0 { 2 } else { 1 };
        g.out_c = g.in_c * g.depth_multiplier;
        check_depthwise(&mut rng, &isas, case, &g);
    }
}

/// Depthwise convolutions over inputs that take several windows (AVX2 copies the input
/// under bands of output rows, and strips of output columns when rows are wide, into 16 KB).
#[test]
fn wide_depthwise_matches_the_reference() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0008);
    for case in 0..CASES / 8 {
        let g = wide_depthwise_geometry(&mut rng);
        check_depthwise(&mut rng, &isas, case, &g);
    }
}

/// Depthwise convolution `g` on random values: every ISA in `isas` against the reference.
fn check_depthwise(rng: &mut fastrand::Rng, isas: &[Isa], case: usize, g: &ConvGeometry) {
    let x = random_values(rng, g.batch * g.in_h * g.in_w * g.in_c);
    let w = random_values(rng, g.kernel_h * g.kernel_w * g.out_c);
    let t = random_tables(rng, g.out_c, g.kernel_h * g.kernel_w);
    let rounding = random_rounding(rng);
    let q = requant(rng, &t, rounding);
    let n = g.batch * g.out_h * g.out_w * g.out_c;
    let mut expected = vec![0i8; n];
    scalar::depthwise_conv2d(g, &q, &x[..], &w[..], &mut expected[..]);
    for &isa in isas {
        let mut out = vec![0i8; n];
        depthwise::depthwise_conv2d(isa, g, &q, &x, &w, &mut out);
        assert_eq!(out, expected, "case {case} isa {isa:?} {g:?}");
    }
}

#[test]
fn short_buffers_are_refused_not_read() {
    let q = Requant {
        bias: None,
        multiplier: &[1 << 30; 8],
        shift: &[0; 8],
        input_zero_point: 0,
        output_zero_point: 0,
        act_min: -128,
        act_max: 127,
        rounding: Rounding::Double,
    };
    let w = vec![1i8; gemm::packed_len(8, 16)];
    let x = vec![1i8; 2 * 16];
    for isa in isas() {
        let run = |rows: gemm::Rows<'_>, depth, w: &[i8], out: &mut [i8]| {
            gemm::gemm(
                isa,
                2,
                8,
                depth,
                rows,
                gemm::Weights::I8(w),
                &q,
                &mut [],
                ValuesMut::I8(out),
            )
        };
        let dense = gemm::Rows::Dense(Values::I8(&x));
        let mut out = vec![0i8; 2 * 8];
        assert_eq!(run(dense, 16, &w[..10], &mut out), Err(gemm::ShapeMismatch));
        let short_rows = gemm::Rows::Dense(Values::I8(&x[..20]));
        assert!(run(short_rows, 16, &w, &mut out).is_err());
        assert!(run(dense, 16, &w, &mut out[..10]).is_err());
        // Depth 15 needs scratch to pad the rows.
        let rows = gemm::Rows::Dense(Values::I8(&x[..30]));
        assert!(run(rows, 15, &w, &mut out).is_err());
        assert!(run(dense, 16, &w, &mut out).is_ok());
    }
}

/// ADD on every pair of int8 inputs, for parameters that put the products on rounding ties
/// (the multipliers' low 11 bits at exactly half, so `v * m / 2^11` ends in .5 for odd `v`),
/// with and without the input right shifts, at the usual left shift and at ones the split
/// scaling does not take.
#[test]
fn add_is_exact_on_every_input_pair() {
    let isas = isas();
    let a: Vec<i8> = (0..65536).map(|i| (i / 256) as u8 as i8).collect();
    let b: Vec<i8> = (0..65536).map(|i| (i % 256) as u8 as i8).collect();
    let tie = |high: i32| (high << 11) | (1 << 10);
    // (left shift, input shift, input multipliers, output multiplier and shift): the first
    // cases scale the inputs to about `v / 2` and `3v / 2` and keep the output at unit
    // resolution, so an intermediate off by one shows in the result.
    for (left_shift, input_shift, m1, m2, (mo, so)) in [
        (20, 0, tie(0), tie(1), (i32::MAX, 0)),
        (20, -1, tie(2), tie(0), (i32::MAX, 0)),
        (20, 0, tie(600_000), tie(700_001), (1_500_000_000, -19)),
        (
            20,
            -1,
            tie(1 << 19),
            tie((1 << 20) - 1),
            (1_500_000_000, -19),
        ),
        (20, -2, i32::MAX, 1 << 30, (1_500_000_000, -19)),
        (12, -1, tie(3), (1 << 30) + 1, (1_500_000_000, -11)),
        (9, -1, tie(900_000), tie(1_000_000), (1_500_000_000, -8)),
    ] {
        let p = edgeq_runtime::format::AddParams {
            input1_zero_point: -3,
            input2_zero_point: 5,
            output_zero_point: -7,
            left_shift,
            input1_multiplier: m1,
            input1_shift: input_shift,
            input2_multiplier: m2,
            input2_shift: input_shift,
            output_multiplier: mo,
            output_shift: so,
            act_min: -128,
            act_max: 127,
        };
        let mut expected = vec![0i8; a.len()];
        scalar::add(&p, a.len(), &a[..], &b[..], &mut expected[..]);
        for &isa in &isas {
            let mut out = vec![0i8; a.len()];
            edgeq_runtime::kernels::elementwise::add(isa, &p, &a, &b, &mut out);
            assert_eq!(out, expected, "isa {isa:?} {p:?}");
        }
    }
}

#[test]
fn add_matches_the_reference() {
    let isas = isas();
    let mut rng = fastrand::Rng::with_seed(0x5eed_0005);
    for case in 0..CASES {
        // The whole int8 range half the time (no fused activation).
        let (act_min, act_max) = if rng.bool() {
            (-128, 127)
        } else {
            let act_min = rng.i32(-128..0);
            (act_min, rng.i32(act_min..128))
        };
        let realistic = rng.bool();
        let multiplier = |rng: &mut fastrand::Rng| {
            if realistic {
                rng.i32(1 << 30..=i32::MAX)
            } else {
                rng.i32(0..=i32::MAX)
            }
        };
        let p = edgeq_runtime::format::AddParams {
            input1_zero_point: rng.i32(-128..128),
            input2_zero_point: rng.i32(-128..128),
            output_zero_point: rng.i32(-128..128),
            left_shift: if realistic { 20 } else { rng.i32(0..=20) },
            input1_multiplier: multiplier(&mut rng),
            input1_shift: if realistic {
                rng.i32(-3..=0)
            } else {
                rng.i32(-31..=30)
            },
            input2_multiplier: multiplier(&mut rng),
            input2_shift: if realistic {
                rng.i32(-3..=0)
            } else {
                rng.i32(-31..=30)
            },
            output_multiplier: multiplier(&mut rng),
            output_shift: if realistic {
                rng.i32(-22..=-15)
            } else {
                rng.i32(-31..=30)
            },
            act_min,
            act_max,
        };
        let n = rng.usize(0..100);
        let (a, b) = (random_values(&mut rng, n), random_values(&mut rng, n));
        let mut expected = vec![0i8; n];
        scalar::add(&p, a.len(), &a[..], &b[..], &mut expected[..]);
        for &isa in &isas {
            let mut out = vec![0i8; n];
            edgeq_runtime::kernels::elementwise::add(isa, &p, &a, &b, &mut out);
            assert_eq!(out, expected, "case {case} isa {isa:?} {p:?}");
        }
    }
}
