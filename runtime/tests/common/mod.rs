//! Random shapes and requantization tables shared by the kernel tests.
#![allow(dead_code)] // each test binary uses its own subset

use edgeq_runtime::kernels::{ConvGeometry, Isa, PoolGeometry, Requant};
use edgeq_runtime::quant::{quantize_multiplier, Rounding};

pub fn random_i8(rng: &mut fastrand::Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| rng.i8(..)).collect()
}

pub struct Tables {
    pub bias: Vec<i32>,
    pub mult: Vec<i32>,
    pub shift: Vec<i32>,
}

pub fn tables(rng: &mut fastrand::Rng, channels: usize, reduction: usize) -> Tables {
    let mut mult = Vec::new();
    let mut shift = Vec::new();
    for _ in 0..channels {
        // Scale so that outputs land around the int8 range.
        let real = rng.f64() * 4.0 / (reduction as f64 * 128.0).max(1.0);
        let (m, s) = quantize_multiplier(real.max(1e-6));
        mult.push(m);
        shift.push(s);
    }
    Tables {
        bias: (0..channels).map(|_| rng.i32(-5000..5000)).collect(),
        mult,
        shift,
    }
}

pub fn requant<'a>(rng: &mut fastrand::Rng, t: &'a Tables, rounding: Rounding) -> Requant<'a> {
    // Half the time the whole int8 range (no fused activation: the usual case, where the
    // kernels may leave the clamp to a saturating narrow), else any range.
    let (act_min, act_max) = if rng.bool() {
        (-128, 127)
    } else {
        let act_min = rng.i32(-128..0);
        (act_min, rng.i32(act_min..128))
    };
    Requant {
        bias: if rng.bool() { Some(&t.bias) } else { None },
        multiplier: &t.mult,
        shift: &t.shift,
        input_zero_point: rng.i32(-128..128),
        output_zero_point: rng.i32(-128..128),
        act_min,
        act_max,
        rounding,
    }
}

pub fn random_geometry(rng: &mut fastrand::Rng, depthwise: bool) -> ConvGeometry {
    let kernel_h = rng.usize(1..=4);
    let kernel_w = rng.usize(1..=4);
    let dilation_h = rng.usize(1..=3);
    let dilation_w = rng.usize(1..=3);
    let stride_h = rng.usize(1..=3);
    let stride_w = rng.usize(1..=3);
    let in_h = rng.usize(1..=9);
    let in_w = rng.usize(1..=9);
    let in_c = rng.usize(1..=7);
    let depth_multiplier = if depthwise { rng.usize(1..=3) } else { 1 };
    let out_c = if depthwise {
        in_c * depth_multiplier
    } else {
        rng.usize(1..=6)
    };
    // Any padding up to the effective kernel, any output size that reads at least one row.
    let eff_h = (kernel_h - 1) * dilation_h + 1;
    let eff_w = (kernel_w - 1) * dilation_w + 1;
    let pad_top = rng.usize(0..eff_h);
    let pad_left = rng.usize(0..eff_w);
    let out_h = (in_h + pad_top).div_ceil(stride_h).max(1);
    let out_w = (in_w + pad_left).div_ceil(stride_w).max(1);
    ConvGeometry {
        batch: rng.usize(1..=2),
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_top,
        pad_left,
        depth_multiplier,
    }
}

/// A 3x3 depthwise geometry (depth multiplier 1) wider and taller than the AVX2 kernel's
/// window holds, so that it fills several bands and column strips: 8 to 64 channels in
/// blocks of 8, random strides, dilations and padding.
pub fn wide_depthwise_geometry(rng: &mut fastrand::Rng) -> ConvGeometry {
    let mut g = random_geometry(rng, true);
    g.in_c = [8, 16, 24, 32, 40, 64][rng.usize(0..6)];
    g.in_w = rng.usize(40..=200);
    g.in_h = rng.usize(8..=24);
    (g.kernel_h, g.kernel_w) = (3, 3);
    g.pad_top = g.pad_top.min(2 * g.dilation_h);
    g.pad_left = g.pad_left.min(2 * g.dilation_w);
    g.out_h = (g.in_h + g.pad_top).div_ceil(g.stride_h).max(1);
    g.out_w = (g.in_w + g.pad_left).div_ceil(g.stride_w).max(1);
    g.depth_multiplier = 1;
    g.out_c = g.in_c;
    g
}

/// A random pooling geometry: windows up to 4x4, strides up to 3, inputs up to 8x8, any
/// padding within the window, 1..=`max_channels` channels.
pub fn random_pool_geometry(rng: &mut fastrand::Rng, max_channels: usize) -> PoolGeometry {
    let (filter_h, filter_w) = (rng.usize(1..=4), rng.usize(1..=4));
    let (stride_h, stride_w) = (rng.usize(1..=3), rng.usize(1..=3));
    let (in_h, in_w) = (rng.usize(1..=8), rng.usize(1..=8));
    let (pad_top, pad_left) = (rng.usize(0..filter_h), rng.usize(0..filter_w));
    PoolGeometry {
        batch: rng.usize(1..=2),
        in_h,
        in_w,
        channels: rng.usize(1..=max_channels),
        out_h: (in_h + pad_top).div_ceil(stride_h),
        out_w: (in_w + pad_left).div_ceil(stride_w),
        filter_h,
        filter_w,
        stride_h,
        stride_w,
        pad_top,
        pad_left,
    }
}

/// The ISAs under test; panics if `EDGEQ_REQUIRE_ISA` names one that is missing.
pub fn isas() -> Vec<Isa> {
    let available: Vec<Isa> = Isa::ALL
        .iter()
        .copied()
        .filter(|i| i.is_available())
        .collect();
    if let Ok(required) = std::env::var("EDGEQ_REQUIRE_ISA") {
        for name in required.split(',').filter(|n| !n.is_empty()) {
            let isa = Isa::from_name(name).unwrap_or_else(|| panic!("unknown ISA {name}"));
            assert!(
                available.contains(&isa),
                "required ISA {name} is not available"
            );
        }
    }
    let names = |isas: &mut dyn Iterator<Item = &Isa>| isas.map(|i| i.name()).collect::<Vec<_>>();
    eprintln!("testing ISAs: {:?}", names(&mut available.iter()));
    let skipped = names(&mut Isa::ALL.iter().filter(|i| !i.is_available()));
    if !skipped.is_empty() {
        eprintln!("skipping ISAs this CPU lacks: {skipped:?}");
    }
    available
}
