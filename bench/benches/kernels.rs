//! Kernel micro-benchmarks on MLPerf Tiny layer shapes, for every ISA this CPU runs.
//! Throughput is in elements = multiply-accumulates, so criterion's `Melem/s` is MMAC/s.
//! Fraction of peak = MAC/s / (clock x peak MACs per cycle); `docs/PERFORMANCE.md` gives
//! the clock (measured by `edgeq-bench bench`) and the peak assumed.
//!
//! `cargo bench -p edgeq-bench --bench kernels`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edgeq_runtime::kernels::int4::{Values, ValuesMut};
use edgeq_runtime::kernels::{depthwise, gemm, ConvGeometry, Isa, Requant};
use edgeq_runtime::quant::Rounding;

fn conv(h: usize, w: usize, cin: usize, cout: usize, k: usize, stride: usize) -> ConvGeometry {
    let pad = k / 2;
    ConvGeometry {
        batch: 1,
        in_h: h,
        in_w: w,
        in_c: cin,
        out_h: h.div_ceil(stride),
        out_w: w.div_ceil(stride),
        out_c: cout,
        kernel_h: k,
        kernel_w: k,
        stride_h: stride,
        stride_w: stride,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: pad,
        pad_left: pad,
        depth_multiplier: 1,
    }
}

/// KWS DS-CNN's first layer: a 10x4 kernel at stride 2 over the 49x10 MFCC features.
fn kws_first_conv() -> ConvGeometry {
    ConvGeometry {
        out_h: 25,
        out_w: 5,
        kernel_h: 10,
        kernel_w: 4,
        pad_top: 4,
        pad_left: 1,
        ..conv(49, 10, 1, 64, 1, 2)
    }
}

fn values(n: usize, seed: u32) -> Vec<i8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as i8)
        .collect()
}

struct Tables {
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

fn tables(n: usize) -> Tables {
    Tables {
        bias: vec![1234; n],
        multiplier: vec![1_500_000_000; n],
        shift: vec![-9; n],
    }
}

fn requant(t: &Tables, rounding: Rounding) -> Requant<'_> {
    Requant {
        bias: Some(&t.bias),
        multiplier: &t.multiplier,
        shift: &t.shift,
        input_zero_point: -128,
        output_zero_point: -128,
        act_min: -128,
        act_max: 127,
        rounding,
    }
}

fn isas() -> Vec<Isa> {
    Isa::ALL
        .iter()
        .copied()
        .filter(|i| i.is_available())
        .collect()
}

fn bench_gemm(c: &mut Criterion) {
    // (name, geometry): the hot convolutions of IC, KWS and VWW (first layers included), at
    // W8A8 and at W4A4 (uint4 activations in and out, int4 weights).
    let cases = [
        ("ic_first_conv3x3_32x32x3x16", conv(32, 32, 3, 16, 3, 1)),
        ("vww_first_conv3x3s2_96x96x3x8", conv(96, 96, 3, 8, 3, 2)),
        ("kws_first_conv10x4s2_49x10x1x64", kws_first_conv()),
        ("ic_conv3x3_32x32x16", conv(32, 32, 16, 16, 3, 1)),
        ("ic_conv3x3_16x16x32", conv(16, 16, 32, 32, 3, 1)),
        ("kws_pointwise_25x5x64", conv(25, 5, 64, 64, 1, 1)),
        ("vww_pointwise_12x12x64x128", conv(12, 12, 64, 128, 1, 1)),
        ("vww_pointwise_3x3x256x256", conv(3, 3, 256, 256, 1, 1)),
    ];
    let mut group = c.benchmark_group("conv_gemm");
    for (name, g) in cases {
        let k = g.kernel_h * g.kernel_w * g.in_c;
        let rows = g.out_h * g.out_w;
        let x = values(g.in_h * g.in_w * g.in_c, 1);
        let w = values(gemm::packed_len(g.out_c, k), 2);
        let (x4, w4): (Vec<u8>, Vec<u8>) = (
            x[..x.len().div_ceil(2)].iter().map(|&v| v as u8).collect(),
            w[..w.len() / 2].iter().map(|&v| v as u8).collect(),
        );
        let t = tables(g.out_c);
        let q = requant(&t, Rounding::Double);
        let q4 = Requant {
            input_zero_point: 0,
            output_zero_point: 0,
            act_min: 0,
            act_max: 15,
            ..q
        };
        let mut scratch = vec![0i8; gemm::conv_u4_scratch_len(&g, k)];
        let mut out = vec![0i8; rows * g.out_c];
        let mut out4 = vec![0u8; (rows * g.out_c).div_ceil(2)];
        group.throughput(Throughput::Elements((rows * g.out_c * k) as u64));
        for isa in isas() {
            let rows_of = |acts| {
                if gemm::conv_rows_are_input(&g) {
                    gemm::Rows::Dense(acts)
                } else {
                    gemm::Rows::Conv {
                        geometry: &g,
                        input: acts,
                        zero_point: 0,
                    }
                }
            };
            group.bench_function(BenchmarkId::new(format!("{name}/w8a8"), isa.name()), |b| {
                b.iter(|| {
                    let a = rows_of(Values::I8(&x));
                    let (w, out) = (gemm::Weights::I8(&w), ValuesMut::I8(&mut out));
                    gemm::gemm(isa, rows, g.out_c, k, a, w, &q, &mut scratch, out)
                })
            });
            group.bench_function(BenchmarkId::new(format!("{name}/w4a4"), isa.name()), |b| {
                b.iter(|| {
                    let a = rows_of(Values::U4(&x4));
                    let (w, out) = (gemm::Weights::I4(&w4), ValuesMut::U4(&mut out4));
                    gemm::gemm(isa, rows, g.out_c, k, a, w, &q4, &mut scratch, out)
                })
            });
        }
    }
    group.finish();
}

fn bench_fully_connected(c: &mut Criterion) {
    let mut group = c.benchmark_group("fully_connected");
    for (name, depth, units) in [("ad_640x128", 640, 128), ("ad_128x128", 128, 128)] {
        let x = values(depth, 3);
        let w = values(gemm::packed_len(units, depth), 4);
        let t = tables(units);
        let q = requant(&t, Rounding::Single);
        let mut out = vec![0i8; units];
        group.throughput(Throughput::Elements((depth * units) as u64));
        for isa in isas() {
            group.bench_function(BenchmarkId::new(name, isa.name()), |b| {
                b.iter(|| {
                    let a = gemm::Rows::Dense(Values::I8(&x));
                    let (w, out) = (gemm::Weights::I8(&w), ValuesMut::I8(&mut out));
                    gemm::gemm(isa, 1, units, depth, a, w, &q, &mut [], out)
                })
            });
        }
    }
    group.finish();
}

fn bench_depthwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("depthwise");
    for (name, g) in [
        ("kws_dw3x3_25x5x64", conv(25, 5, 64, 64, 3, 1)),
        ("vww_dw3x3_48x48x8", conv(48, 48, 8, 8, 3, 1)),
        ("vww_dw3x3_24x24x32", conv(24, 24, 32, 32, 3, 1)),
    ] {
        let x = values(g.in_h * g.in_w * g.in_c, 5);
        let w = values(9 * g.out_c, 6);
        let t = tables(g.out_c);
        let q = requant(&t, Rounding::Double);
        let mut out = vec![0i8; g.out_h * g.out_w * g.out_c];
        group.throughput(Throughput::Elements(
            (g.out_h * g.out_w * g.out_c * 9) as u64,
        ));
        for isa in isas() {
            group.bench_function(BenchmarkId::new(name, isa.name()), |b| {
                b.iter(|| depthwise::depthwise_conv2d(isa, &g, &q, &x, &w, &mut out))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_gemm, bench_fully_connected, bench_depthwise);
criterion_main!(benches);
