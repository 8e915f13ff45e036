//! Integer kernels: `scalar` is the oracle; `gemm` and `depthwise` are the fast paths, with
//! per-ISA inner loops in `x86` (AVX2) and `arm` (NEON, NEON+dotprod) behind one dispatch
//! point, [`Isa`]. Every fast path agrees with the oracle bit for bit.

#[cfg(any(
    target_arch = "aarch64",
    all(target_arch = "arm", feature = "armv7-neon")
))]
mod arm;
pub mod depthwise;
pub mod elementwise;
pub mod gemm;
pub mod int4;
pub mod pool;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

/// The instruction set the fast kernels run on. Chosen once per interpreter: by runtime CPU
/// detection with the `std` feature, by compile-time target features without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust; always available.
    Scalar,
    /// x86-64 AVX2.
    Avx2,
    /// x86-64 AVX-512 with VNNI (`vpdpbusd`; AVX512F/BW/VL): the GEMMs on VNNI, int8
    /// depthwise and ADD on 512-bit registers, every other kernel AVX2's.
    Avx512Vnni,
    /// Arm Advanced SIMD (aarch64, or armv7 with NEON).
    Neon,
    /// aarch64 Advanced SIMD with the `dotprod` extension (SDOT).
    NeonDotprod,
}

impl Isa {
    /// Every ISA edgeq has kernels for.
    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::Avx512Vnni,
        Isa::Neon,
        Isa::NeonDotprod,
    ];

    /// The best ISA this CPU runs.
    pub fn detect() -> Isa {
        [Isa::NeonDotprod, Isa::Neon, Isa::Avx512Vnni, Isa::Avx2]
            .into_iter()
            .find(|isa| isa.is_available())
            .unwrap_or(Isa::Scalar)
    }

    /// Whether this CPU (and this build) can run kernels for `self`.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => x86_has_avx2(),
            Isa::Avx512Vnni => x86_has_avx2() && x86_has_avx512_vnni(),
            Isa::Neon => arm_has_neon(),
            Isa::NeonDotprod => arm_has_dotprod(),
        }
    }

    /// Lower-case name, as printed by the tools.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::Neon => "neon",
            Isa::NeonDotprod => "neon-dotprod",
        }
    }

    /// int8 multiply-accumulates per cycle of one core at this ISA's best instruction, as the
    /// benchmarks assume it (docs/PERFORMANCE.md): two 256-bit `vpmaddwd` (AVX2) or
    /// `vpdpbusd` (VNNI) per cycle, two `sdot` (dotprod), one `smlal` pair (NEON).
    pub fn peak_macs_per_cycle(self) -> u32 {
        match self {
            Isa::Scalar => 1,
            Isa::Neon => 8,
            Isa::Avx2 | Isa::NeonDotprod => 32,
            Isa::Avx512Vnni => 64,
        }
    }

    /// Whether `self` runs the AVX2 kernels wherever it has none of its own.
    pub(crate) fn has_avx2(self) -> bool {
        matches!(self, Isa::Avx2 | Isa::Avx512Vnni)
    }

    /// The ISA called `name` (see [`Isa::name`]).
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name() == name)
    }
}

#[allow(unreachable_code)]
fn x86_has_avx2() -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    return true;
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    return std::arch::is_x86_feature_detected!("avx2");
    false
}

#[allow(unreachable_code)]
fn x86_has_avx512_vnni() -> bool {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512vl",
        target_feature = "avx512vnni"
    ))]
    return true;
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    return std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni");
    false
}

#[allow(unreachable_code)]
fn arm_has_neon() -> bool {
    // Baseline on aarch64; armv7 needs the NEON target feature at compile time.
    #[cfg(target_arch = "aarch64")]
    return true;
    #[cfg(all(target_arch = "arm", feature = "armv7-neon"))]
    return true;
    false
}

#[allow(unreachable_code)]
fn arm_has_dotprod() -> bool {
    #[cfg(all(target_arch = "aarch64", target_feature = "dotprod"))]
    return true;
    #[cfg(all(target_arch = "aarch64", feature = "std"))]
    return std::arch::is_aarch64_feature_detected!("dotprod");
    false
}

/// Shape and stride facts of a (depthwise) convolution, checked by the op at load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Rows of zero padding above the input.
    pub pad_top: usize,
    /// Columns of zero padding left of the input.
    pub pad_left: usize,
    /// Depthwise: output channels per input channel.
    pub depth_multiplier: usize,
}

impl ConvGeometry {
    /// From NHWC input and output dims, the kernel size and the op's parameters.
    pub fn from_params(
        input: [usize; 4],
        output: [usize; 4],
        (kernel_h, kernel_w): (usize, usize),
        p: &crate::format::ConvParams,
    ) -> Self {
        let [batch, in_h, in_w, in_c] = input;
        let [_, out_h, out_w, out_c] = output;
        Self {
            batch,
            in_h,
            in_w,
            in_c,
            out_h,
            out_w,
            out_c,
            kernel_h,
            kernel_w,
            stride_h: usize::from(p.stride_h),
            stride_w: usize::from(p.stride_w),
            dilation_h: usize::from(p.dilation_h),
            dilation_w: usize::from(p.dilation_w),
            pad_top: usize::from(p.pad_top),
            pad_left: usize::from(p.pad_left),
            depth_multiplier: usize::from(p.depth_multiplier).max(1),
        }
    }
}

/// Shape facts of a fully connected op: `[rows, depth] x [units, depth]^T`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FullyConnectedGeometry {
    /// Input rows (batch).
    pub rows: usize,
    /// Reduction depth.
    pub depth: usize,
    /// Output units.
    pub units: usize,
    /// Weight zero point (0 for symmetric weights).
    pub weight_zero_point: i32,
}

/// Shape facts of a pooling op.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Batch size.
    pub batch: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (input = output).
    pub channels: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Window height.
    pub filter_h: usize,
    /// Window width.
    pub filter_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Padding rows above.
    pub pad_top: usize,
    /// Padding columns left.
    pub pad_left: usize,
}

/// Per-output-channel requantization of an int32 accumulator to int8.
#[derive(Clone, Copy, Debug)]
pub struct Requant<'a> {
    /// Optional bias added to the accumulator, one per output channel.
    pub bias: Option<&'a [i32]>,
    /// Q0.31 multipliers, one per output channel.
    pub multiplier: &'a [i32],
    /// Power-of-two exponents (-31..=30), one per output channel.
    pub shift: &'a [i32],
    /// Input zero point (subtracted from every input value).
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Output clamp, fused activation included.
    pub act_min: i32,
    /// Output clamp, fused activation included.
    pub act_max: i32,
    /// The rounding rule of the multiplication by `multiplier`.
    pub rounding: crate::quant::Rounding,
}
