//! Integer kernels: `scalar` is the oracle; `gemm`, `depthwise` and `elementwise` are the
//! drivers of the fast paths, whose per-tier inner loops live in `x86` (AVX2, AVX-VNNI,
//! AVX-512 VNNI) and `arm` (NEON, NEON+dotprod, armv7 NEON) and are reached through one
//! kernel table per tier ([`Isa`], `table`). Every fast path agrees with the oracle bit for
//! bit.

#[cfg(any(
    target_arch = "aarch64",
    all(target_arch = "arm", feature = "armv7-neon")
))]
mod arm;
pub mod depthwise;
pub mod elementwise;
pub mod gemm;
pub mod int4;
pub mod layout;
pub mod lstm;
pub mod pool;
pub mod scalar;
pub mod svdf;
mod table;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use table::Isa;

/// An element-wise operation of two tensors broadcast to the output's shape, right-aligned
/// to four axes: the output's dims, and each input's element strides per axis (0 where the
/// input has one element on an axis the output has more of). Checked by the op at load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Output dims.
    pub dims: [usize; 4],
    /// Strides of input 1.
    pub a: [usize; 4],
    /// Strides of input 2.
    pub b: [usize; 4],
}

impl Broadcast {
    /// Input 1's element at output index `at`.
    #[inline(always)]
    pub fn offset_a(&self, at: [usize; 4]) -> usize {
        dot(at, self.a)
    }

    /// Input 2's element at output index `at`.
    #[inline(always)]
    pub fn offset_b(&self, at: [usize; 4]) -> usize {
        dot(at, self.b)
    }
}

/// The flat offset of multi-index `at` under `strides`.
#[inline(always)]
pub(crate) fn dot(at: [usize; 4], strides: [usize; 4]) -> usize {
    at[0] * strides[0] + at[1] * strides[1] + at[2] * strides[2] + at[3] * strides[3]
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
    /// `rows` dense rows of `depth` values as the pixels of a 1x1 convolution to `outputs`
    /// channels (one column of `rows` pixels; no padding, so no zero point is read).
    pub fn pixels(rows: usize, depth: usize, outputs: usize) -> Self {
        Self {
            batch: 1,
            in_h: rows,
            in_w: 1,
            in_c: depth,
            out_h: rows,
            out_w: 1,
            out_c: outputs,
            kernel_h: 1,
            kernel_w: 1,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 0,
            pad_left: 0,
            depth_multiplier: 1,
        }
    }

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
