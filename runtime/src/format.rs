//! The `.eqm` file layout: fixed-size little-endian records, read in place (zero-copy).
//!
//! `docs/FORMAT.md` is the normative description; the structs here are its code form and are
//! shared with the host-side exporter so the two can never disagree.
//!
//! ```text
//! Header (32 B) | SectionEntry x section_count (16 B each) | sections, each 16-byte aligned
//! ```

use bytemuck::{Pod, Zeroable};

/// First eight bytes of every `.eqm` file.
pub const MAGIC: [u8; 8] = *b"EDGEQMDL";
/// Format version this runtime reads. Bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;
/// Alignment of every section and of every constant blob inside the `CONST` section.
pub const ALIGN: usize = 16;
/// "No tensor" in an operator's input list (an optional input left out).
pub const NO_TENSOR: u16 = u16::MAX;
/// Upper bound on the tensor and operator counts (keeps load-time checks cheap).
pub const MAX_TENSORS: usize = 4096;
/// Upper bound on the operator count.
pub const MAX_OPS: usize = 4096;
/// Maximum tensor rank.
pub const MAX_RANK: usize = 4;

/// File header, at offset 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// Number of [`SectionEntry`] records following the header.
    pub section_count: u32,
    /// Bytes of arena the model needs (activations and per-op scratch).
    pub arena_size: u32,
    /// Total file size in bytes (a cheap truncation check).
    pub file_size: u32,
    /// Reserved, zero.
    pub reserved: [u32; 2],
}

/// One entry of the section table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SectionEntry {
    /// A [`SectionKind`] value.
    pub kind: u32,
    /// Byte offset from the start of the file; a multiple of [`ALIGN`].
    pub offset: u32,
    /// Length in bytes.
    pub size: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// Section kinds. Each kind appears at most once; unknown kinds are ignored (forward
/// compatibility for optional metadata).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SectionKind {
    /// `[TensorDesc]`.
    Tensors = 1,
    /// `[OpDesc]`, in execution order.
    Ops = 2,
    /// Constant data (weights, biases, requantization tables); tensors point into it.
    Const = 3,
    /// `[IoList]` followed by `u16` tensor indices: inputs, then outputs.
    Io = 4,
    /// Optional: tensor names, `u32` offsets table (one per tensor + 1) then UTF-8 bytes.
    Names = 5,
}

impl SectionKind {
    /// The kind for a raw value, if known.
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Tensors,
            2 => Self::Ops,
            3 => Self::Const,
            4 => Self::Io,
            5 => Self::Names,
            _ => return None,
        })
    }
}

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DType {
    /// Signed 8-bit integer.
    I8 = 1,
    /// Unsigned 8-bit integer.
    U8 = 2,
    /// Signed 32-bit integer (biases, requantization tables).
    I32 = 3,
    /// IEEE 754 single precision (model boundaries only).
    F32 = 4,
    /// Signed 4-bit integer, -8..=7 (weights), two per byte: element `i` is in byte `i / 2`,
    /// the low nibble for even `i` (packed GEMM weights order nibbles per 32-element group;
    /// see [`WEIGHT_LAYOUT_PACKED_8X4`]).
    I4 = 5,
    /// Unsigned 4-bit integer, 0..=15 (activations, with a zero point), two per byte as
    /// [`DType::I4`].
    U4 = 6,
    /// Signed 16-bit integer (audio inputs, SVDF time weights and state).
    I16 = 7,
}

impl DType {
    /// The dtype for a raw value, if known.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::I8,
            2 => Self::U8,
            3 => Self::I32,
            4 => Self::F32,
            5 => Self::I4,
            6 => Self::U4,
            7 => Self::I16,
            _ => return None,
        })
    }

    /// Bits per element.
    pub fn bits(self) -> usize {
        match self {
            Self::I4 | Self::U4 => 4,
            Self::I8 | Self::U8 => 8,
            Self::I16 => 16,
            Self::I32 | Self::F32 => 32,
        }
    }

    /// Bytes holding `elements` values (4-bit types round up to whole bytes).
    pub fn byte_len(self, elements: usize) -> usize {
        (elements * self.bits()).div_ceil(8)
    }

    /// Alignment the runtime needs for a constant of this type (the element size, at
    /// least a byte).
    pub fn align(self) -> usize {
        self.bits().div_ceil(8)
    }

    /// The smallest and largest value of an integer type (for zero points and clamps).
    pub fn int_range(self) -> (i32, i32) {
        match self {
            Self::I4 => (-8, 7),
            Self::U4 => (0, 15),
            Self::U8 => (0, 255),
            Self::I16 => (-32768, 32767),
            Self::I32 => (i32::MIN, i32::MAX),
            Self::I8 | Self::F32 => (-128, 127),
        }
    }

    /// Lower-case name, as in NumPy (`int8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::I8 => "int8",
            Self::U8 => "uint8",
            Self::I32 => "int32",
            Self::F32 => "float32",
            Self::I4 => "int4",
            Self::U4 => "uint4",
            Self::I16 => "int16",
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Storage {
    /// In the caller's arena, at `TensorDesc::offset` (activations).
    Arena = 0,
    /// In the `CONST` section, at `TensorDesc::offset` (weights and tables).
    Const = 1,
}

/// One tensor (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct TensorDesc {
    /// A [`DType`] value.
    pub dtype: u8,
    /// Number of used entries in `dims` (0..=4).
    pub rank: u8,
    /// A [`Storage`] value.
    pub storage: u8,
    /// Reserved, zero.
    pub reserved0: u8,
    /// Shape; activations are NHWC. Unused entries are 1.
    pub dims: [u32; 4],
    /// Byte offset in the arena or the `CONST` section.
    pub offset: u32,
    /// Byte length: product of dims times the element size.
    pub size: u32,
    /// Per-tensor quantization: `real = scale * (q - zero_point)`. Informative for the
    /// runtime (ops carry precomputed integer parameters); used at model boundaries.
    pub scale: f32,
    /// Per-tensor zero point.
    pub zero_point: i32,
    /// Reserved, zero.
    pub reserved1: u32,
    /// Arena tensors: first operator step at which the bytes are live (the writer's index;
    /// 0 for model inputs). The loader checks it against the data flow.
    pub live_from: u32,
    /// Arena tensors: last operator step at which the bytes are live (the last reader's
    /// index; the operator count for model outputs).
    pub live_to: u32,
}

/// The `IO` section's leading record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct IoList {
    /// Number of model inputs.
    pub inputs: u32,
    /// Number of model outputs.
    pub outputs: u32,
}

/// Operator kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum OpKind {
    /// 2-D convolution, int8, per-channel requantization. Params: [`ConvParams`].
    Conv2d = 1,
    /// Depthwise 2-D convolution, int8. Params: [`ConvParams`].
    DepthwiseConv2d = 2,
    /// Fully connected, int8. Params: [`FullyConnectedParams`].
    FullyConnected = 3,
    /// Element-wise add of two int8 or uint4 tensors broadcast to the output's shape.
    /// Params: [`AddParams`].
    Add = 4,
    /// Average pooling, int8. Params: [`PoolParams`].
    AveragePool2d = 5,
    /// Max pooling, int8. Params: [`PoolParams`].
    MaxPool2d = 6,
    /// The same bytes under a new shape: copied, or shared when the plan makes the output a
    /// view of the input (`docs/FORMAT.md`). No params.
    Reshape = 7,
    /// Softmax over the last axis, int8 in, int8 out (scale 1/256, zero point -128).
    /// Params: [`SoftmaxParams`].
    Softmax = 8,
    /// f32 to int8. Params: [`AffineParams`].
    Quantize = 9,
    /// int8 to f32. Params: [`AffineParams`].
    Dequantize = 10,
    /// Element-wise product of two int8 or uint4 tensors, broadcast to the output's shape.
    /// Params: [`MulParams`].
    Mul = 11,
    /// Constant padding of an int8 tensor. Params: [`PadParams`].
    Pad = 12,
    /// Concatenation of up to five int8 tensors along one axis. Params: [`ConcatParams`].
    Concatenation = 13,
    /// An int8 function of one int8 value by a 256-entry table: TFLite's LOGISTIC, TANH,
    /// HARD_SWISH, LEAKY_RELU and RELU ops, their arithmetic done by the importer. No params.
    Lookup = 14,
    /// Permutation of the axes of an int8 tensor. Params: [`TransposeParams`].
    Transpose = 15,
    /// Mean of an int8 tensor over some of its axes. Params: [`MeanParams`].
    Mean = 16,
    /// Element-wise difference `a - b` of two int8 or uint4 tensors broadcast to the
    /// output's shape, rescaled as ADD. Params: [`AddParams`].
    Sub = 17,
    /// Element-wise maximum of two int8 tensors broadcast to the output. No params.
    Maximum = 18,
    /// Element-wise minimum of two int8 tensors broadcast to the output. No params.
    Minimum = 19,
    /// A strided box of an int8 tensor (TFLite's SLICE and STRIDED_SLICE, and each output
    /// of SPLIT). Params: [`SliceParams`].
    Slice = 20,
    /// Nearest-neighbour resize of an int8 NHWC tensor by constant row and column index
    /// tables (TFLite's RESIZE_NEAREST_NEIGHBOR, its index arithmetic done by the importer).
    /// No params.
    ResizeNearest = 21,
    /// Bilinear resize of an int8 NHWC tensor by constant row and column tables of
    /// `[low, high, fraction]` triples (TFLite's int8 RESIZE_BILINEAR, its 1/1024 index
    /// arithmetic done by the importer). No params.
    ResizeBilinear = 22,
    /// TFLite's integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 input, weights and hidden state,
    /// int16 gates and cell state; no peepholes, layer norm, projection or CIFG). Inputs: x,
    /// input weights, recurrent weights, effective biases, gate requantization table.
    /// Params: [`LstmParams`].
    Lstm = 23,
    /// Transposed convolution (TFLite's TRANSPOSE_CONV): int8, plain OHWI weights, inputs
    /// and requantization as [`OpKind::Conv2d`]. Params: [`ConvParams`] (dilation 1).
    TransposeConv2d = 24,
    /// Slices of an int8 tensor picked along one axis by int32 indices (TFLite's GATHER;
    /// constant or run-time indices). Params: [`GatherParams`].
    Gather = 25,
    /// Parametric ReLU of an int8 tensor by int8 slopes broadcast to it (TFLite's PRELU).
    /// Params: [`PreluParams`].
    Prelu = 26,
    /// Batched matrix product of two int8 tensors (TFLite's BATCH_MATMUL): the last two axes
    /// multiplied, the others broadcast. Params: [`BatchMatMulParams`].
    BatchMatMul = 27,
    /// An integer tensor rescaled to another integer type or quantization (TFLite's QUANTIZE
    /// between int16 and int8). Params: [`RequantizeParams`].
    Requantize = 28,
    /// TFLite's integer SVDF (int8 input and output, int8 feature weights, int16 time
    /// weights and state). Inputs: x, feature weights, time weights, optional int32 bias.
    /// Params: [`SvdfParams`]. Stateful, as [`OpKind::Lstm`].
    Svdf = 29,
}

impl OpKind {
    /// Whether operators of this kind keep state in their scratch from one `invoke` to the
    /// next (an LSTM's hidden and cell state, an SVDF's memory). Such a scratch is planned
    /// live at every step, so no other buffer ever shares its bytes (FORMAT.md, rule 4).
    pub fn keeps_state(self) -> bool {
        matches!(self, Self::Lstm | Self::Svdf)
    }

    /// The kind for a raw value, if known.
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::Conv2d,
            2 => Self::DepthwiseConv2d,
            3 => Self::FullyConnected,
            4 => Self::Add,
            5 => Self::AveragePool2d,
            6 => Self::MaxPool2d,
            7 => Self::Reshape,
            8 => Self::Softmax,
            9 => Self::Quantize,
            10 => Self::Dequantize,
            11 => Self::Mul,
            12 => Self::Pad,
            13 => Self::Concatenation,
            14 => Self::Lookup,
            15 => Self::Transpose,
            16 => Self::Mean,
            17 => Self::Sub,
            18 => Self::Maximum,
            19 => Self::Minimum,
            20 => Self::Slice,
            21 => Self::ResizeNearest,
            22 => Self::ResizeBilinear,
            23 => Self::Lstm,
            24 => Self::TransposeConv2d,
            25 => Self::Gather,
            26 => Self::Prelu,
            27 => Self::BatchMatMul,
            28 => Self::Requantize,
            29 => Self::Svdf,
            _ => return None,
        })
    }

    /// Upper-case name, as in TFLite's builtin operator list.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conv2d => "CONV_2D",
            Self::DepthwiseConv2d => "DEPTHWISE_CONV_2D",
            Self::FullyConnected => "FULLY_CONNECTED",
            Self::Add => "ADD",
            Self::AveragePool2d => "AVERAGE_POOL_2D",
            Self::MaxPool2d => "MAX_POOL_2D",
            Self::Reshape => "RESHAPE",
            Self::Softmax => "SOFTMAX",
            Self::Quantize => "QUANTIZE",
            Self::Dequantize => "DEQUANTIZE",
            Self::Mul => "MUL",
            Self::Pad => "PAD",
            Self::Concatenation => "CONCATENATION",
            Self::Lookup => "LOOKUP",
            Self::Transpose => "TRANSPOSE",
            Self::Mean => "MEAN",
            Self::Sub => "SUB",
            Self::Maximum => "MAXIMUM",
            Self::Minimum => "MINIMUM",
            Self::Slice => "SLICE",
            Self::ResizeNearest => "RESIZE_NEAREST_NEIGHBOR",
            Self::ResizeBilinear => "RESIZE_BILINEAR",
            Self::Lstm => "UNIDIRECTIONAL_SEQUENCE_LSTM",
            Self::TransposeConv2d => "TRANSPOSE_CONV",
            Self::Gather => "GATHER",
            Self::Prelu => "PRELU",
            Self::BatchMatMul => "BATCH_MATMUL",
            Self::Requantize => "REQUANTIZE",
            Self::Svdf => "SVDF",
        }
    }
}

/// Bytes of operator-specific parameters in an [`OpDesc`].
pub const OP_PARAMS_BYTES: usize = 56;
/// Maximum number of inputs of an operator.
pub const MAX_OP_INPUTS: usize = 5;

/// One operator (80 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct OpDesc {
    /// An [`OpKind`] value.
    pub kind: u16,
    /// Number of used entries in `inputs`.
    pub input_count: u8,
    /// Reserved, zero.
    pub reserved0: u8,
    /// Input tensor indices; [`NO_TENSOR`] for an optional input left out.
    pub inputs: [u16; MAX_OP_INPUTS],
    /// Output tensor index.
    pub output: u16,
    /// Arena offset of this operator's scratch buffer (0 when `scratch_size` is 0).
    pub scratch_offset: u32,
    /// Bytes of scratch this operator needs while it runs.
    pub scratch_size: u32,
    /// Operator parameters, one of the `*Params` structs below, zero-padded.
    pub params: [u8; OP_PARAMS_BYTES],
}

/// Weight layout of a conv or fully connected op: the plain TFLite layout (OHWI for conv,
/// `[N, K]` for fully connected, `[1, KH, KW, Cout]` for depthwise), read by the reference
/// kernels.
pub const WEIGHT_LAYOUT_PLAIN: u16 = 0;
/// Weight layout of a conv or fully connected op: GEMM blocks of 8 output channels by 4
/// reduction steps, `[ceil(N/8), ceil(K/4), 8, 4]` int8, zero padded, with the reduction
/// index `k = (ky * KW + kx) * Cin + c` for conv. The bias input holds the *folded* bias
/// `bias[n] - input_zero_point * sum_k w[n, k]`, so kernels multiply raw int8 inputs
/// (padding reads as the input zero point). Not for depthwise. See `docs/FORMAT.md`.
pub const WEIGHT_LAYOUT_PACKED_8X4: u16 = 1;

/// Params of [`OpKind::Conv2d`] and [`OpKind::DepthwiseConv2d`].
///
/// Inputs: `[input i8 NHWC, filter i8, bias i32 [Cout] or NO_TENSOR, multiplier i32 [Cout],
/// shift i32 [Cout]]`. Conv filter is OHWI or packed (see `weight_layout`); depthwise filter
/// is `[1, KH, KW, Cout]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct ConvParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Output clamp (fused activation folded in).
    pub act_min: i32,
    /// Output clamp (fused activation folded in).
    pub act_max: i32,
    /// Strides.
    pub stride_h: u16,
    /// Strides.
    pub stride_w: u16,
    /// Dilations.
    pub dilation_h: u16,
    /// Dilations.
    pub dilation_w: u16,
    /// Zero padding before the first row.
    pub pad_top: u16,
    /// Zero padding before the first column.
    pub pad_left: u16,
    /// Depthwise only: output channels per input channel.
    pub depth_multiplier: u16,
    /// [`WEIGHT_LAYOUT_PLAIN`] or [`WEIGHT_LAYOUT_PACKED_8X4`].
    pub weight_layout: u16,
    /// Requantization rounding: 0 double (TFLite conv), 1 single (see `quant::Rounding`).
    pub rounding: u16,
    /// Reserved, zero.
    pub reserved: u16,
    /// Kernel height; read only with the packed layout (the plain filter's shape has it).
    pub kernel_h: u16,
    /// Kernel width; read only with the packed layout.
    pub kernel_w: u16,
}

/// Params of [`OpKind::FullyConnected`].
///
/// Inputs: `[input i8 [.., K], weights i8 [N, K], bias i32 [N] or NO_TENSOR,
/// multiplier i32 [N], shift i32 [N]]`. The input is read as `[rows, K]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct FullyConnectedParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Weight zero point (TFLite int8 requires 0; kept for generality).
    pub weight_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Output clamp.
    pub act_min: i32,
    /// Output clamp.
    pub act_max: i32,
    /// Requantization rounding: 0 double, 1 single (TFLite's FC; see `quant::Rounding`).
    pub rounding: u16,
    /// [`WEIGHT_LAYOUT_PLAIN`] (`[N, K]`) or [`WEIGHT_LAYOUT_PACKED_8X4`] (needs
    /// `weight_zero_point == 0`).
    pub weight_layout: u16,
}

/// Params of [`OpKind::Add`] (TFLite's int8 ADD: both inputs rescaled to a common scale).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct AddParams {
    /// Zero point of input 1.
    pub input1_zero_point: i32,
    /// Zero point of input 2.
    pub input2_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Left shift applied to both offset inputs (20 for int8).
    pub left_shift: i32,
    /// Input 1 requantization.
    pub input1_multiplier: i32,
    /// Input 1 requantization.
    pub input1_shift: i32,
    /// Input 2 requantization.
    pub input2_multiplier: i32,
    /// Input 2 requantization.
    pub input2_shift: i32,
    /// Output requantization.
    pub output_multiplier: i32,
    /// Output requantization.
    pub output_shift: i32,
    /// Output clamp.
    pub act_min: i32,
    /// Output clamp.
    pub act_max: i32,
}

/// Params of the pooling ops. Input and output share scale and zero point.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct PoolParams {
    /// Window size.
    pub filter_h: u16,
    /// Window size.
    pub filter_w: u16,
    /// Strides.
    pub stride_h: u16,
    /// Strides.
    pub stride_w: u16,
    /// Padding before the first row.
    pub pad_top: u16,
    /// Padding before the first column.
    pub pad_left: u16,
    /// Output clamp.
    pub act_min: i32,
    /// Output clamp.
    pub act_max: i32,
}

/// Params of [`OpKind::Softmax`] (TFLite's reference int8 softmax, beta folded in).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct SoftmaxParams {
    /// `beta * input_scale` as a Q0.31 multiplier ...
    pub input_multiplier: i32,
    /// ... and a left shift (0..=31).
    pub input_left_shift: i32,
    /// Differences to the row maximum below this give probability 0.
    pub diff_min: i32,
}

/// Params of [`OpKind::Mul`] (TFLite's int8 MUL: the product of the offset inputs
/// requantized once).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct MulParams {
    /// Zero point of input 1.
    pub input1_zero_point: i32,
    /// Zero point of input 2.
    pub input2_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// `input1_scale * input2_scale / output_scale` as a Q0.31 multiplier ...
    pub output_multiplier: i32,
    /// ... and a shift (-31..=30).
    pub output_shift: i32,
    /// Output clamp.
    pub act_min: i32,
    /// Output clamp.
    pub act_max: i32,
    /// Requantization rounding: 0 double (TFLite's MUL), 1 single (see `quant::Rounding`).
    pub rounding: u16,
    /// Reserved, zero.
    pub reserved: u16,
}

/// Params of [`OpKind::Pad`], by axis of the tensors (rank at most 4; entries past the rank
/// are zero).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct PadParams {
    /// Elements added before the input along each axis.
    pub before: [u32; 4],
    /// Elements added after it.
    pub after: [u32; 4],
    /// The int8 value written in the padding (TFLite's PAD: the output zero point).
    pub value: i32,
}

/// Params of [`OpKind::Concatenation`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct ConcatParams {
    /// The axis joined, `0..rank` (the inputs agree on every other axis).
    pub axis: u32,
}

/// Params of [`OpKind::Slice`], by axis of the input (entries past its rank: begin 0,
/// stride 1, size 1). Output element `i` (a multi-index over `size`) is input element
/// `begin + i * stride`; the output holds `size`'s elements, whatever its rank.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct SliceParams {
    /// First index on each axis.
    pub begin: [i32; 4],
    /// Step on each axis (not zero; negative steps walk backwards).
    pub stride: [i32; 4],
    /// Elements taken on each axis (at least 1).
    pub size: [u32; 4],
}

/// Params of [`OpKind::Transpose`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct TransposeParams {
    /// Output axis `i` is input axis `perm[i]` (`perm[..rank]` a permutation of `0..rank`;
    /// entries past the rank zero).
    pub perm: [u32; 4],
}

/// Params of [`OpKind::Mean`] (TFLite's int8 MEAN: the offset sum requantized once by a
/// multiplier that folds in the division by the element count).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct MeanParams {
    /// Bit `a` set: axis `a` of the input is averaged over (`a < rank`).
    pub axes: u32,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// `input_scale / (output_scale * count)` as a Q0.31 multiplier ...
    pub multiplier: i32,
    /// ... and a shift (-31..=30), applied with double rounding.
    pub shift: i32,
}

/// Params of [`OpKind::Prelu`]: `y = zy + M1(x − zx)` where `x ≥ zx`, else
/// `zy + M2((x − zx)(α − zα))`, clamped to int8 (double rounding).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct PreluParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Slope zero point.
    pub alpha_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// `s_x / s_y` as a Q0.31 multiplier ...
    pub positive_multiplier: i32,
    /// ... and shift.
    pub positive_shift: i32,
    /// `s_x · s_α / s_y` as a Q0.31 multiplier ...
    pub negative_multiplier: i32,
    /// ... and shift.
    pub negative_shift: i32,
}

/// Params of [`OpKind::BatchMatMul`]: `y[b, i, j] = clamp(zy + M(Σk (l[b, i, k] − zl) ·
/// (r[b, k, j] − zr)))`, double rounding, int8 range.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct BatchMatMulParams {
    /// Left operand's zero point.
    pub lhs_zero_point: i32,
    /// Right operand's zero point.
    pub rhs_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// `s_l · s_r / s_y` as a Q0.31 multiplier ...
    pub multiplier: i32,
    /// ... and shift.
    pub shift: i32,
    /// 1: the left operand is stored transposed (`[..., K, M]`).
    pub adj_x: u32,
    /// 1: the right operand is stored transposed (`[..., N, K]`).
    pub adj_y: u32,
}

/// Params of [`OpKind::Requantize`]: `y = clamp(zy + M(x − zx))` to the output's type,
/// double rounding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct RequantizeParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// `s_x / s_y` as a Q0.31 multiplier ...
    pub multiplier: i32,
    /// ... and shift.
    pub shift: i32,
}

/// Params of [`OpKind::Svdf`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct SvdfParams {
    /// Filters per output unit (`filters = units · rank`).
    pub rank: u32,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Feature products to the state's scale (`s_x · s_wf / s_state`): multiplier ...
    pub feature_multiplier: i32,
    /// ... and shift.
    pub feature_shift: i32,
    /// Time products to the output's scale (`s_state · s_wt / s_y`): multiplier ...
    pub time_multiplier: i32,
    /// ... and shift.
    pub time_shift: i32,
}

/// Params of [`OpKind::Gather`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct GatherParams {
    /// The input axis indexed, `batch_dims..rank`.
    pub axis: u32,
    /// Leading axes shared by input and indices (gathered batch by batch), `0..=axis`.
    pub batch_dims: u32,
}

/// Params of [`OpKind::Lstm`]. The gate requantizations are a constant input (eight of them
/// do not fit here).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq, Eq)]
pub struct LstmParams {
    /// Units (gate rows, cell state and output width).
    pub cells: u32,
    /// 1: input and output are `[steps, batches, ...]`; 0: `[batches, steps, ...]`.
    pub time_major: u32,
    /// log2 of the cell state's scale, `-15..=-9`.
    pub cell_shift: i32,
    /// Cell state clip in its quantized units, `0..=32767`, 0 for none.
    pub cell_clip: i32,
    /// Zero point of the output state: its value at the start of each inference.
    pub state_zero_point: i32,
    /// Zero point the hidden state is written with (TFLite's hidden intermediate's).
    pub hidden_zero_point: i32,
    /// `o * tanh(c)` to the hidden state's scale: a Q0.31 multiplier ...
    pub hidden_multiplier: i32,
    /// ... and its shift (-31..=30), double rounding.
    pub hidden_shift: i32,
}

/// Params of [`OpKind::Quantize`] and [`OpKind::Dequantize`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable, PartialEq)]
pub struct AffineParams {
    /// Scale of the integer side.
    pub scale: f32,
    /// Zero point of the integer side.
    pub zero_point: i32,
}

/// Reads a params struct out of an operator's parameter bytes.
pub fn read_params<P: Pod>(op: &OpDesc) -> P {
    bytemuck::pod_read_unaligned(&op.params[..core::mem::size_of::<P>()])
}

/// Writes a params struct into parameter bytes (host side).
pub fn write_params<P: Pod>(params: &P) -> [u8; OP_PARAMS_BYTES] {
    let mut out = [0u8; OP_PARAMS_BYTES];
    let bytes = bytemuck::bytes_of(params);
    out[..bytes.len()].copy_from_slice(bytes);
    out
}

// The record sizes are part of the format.
const _: () = assert!(core::mem::size_of::<Header>() == 32);
const _: () = assert!(core::mem::size_of::<SectionEntry>() == 16);
const _: () = assert!(core::mem::size_of::<TensorDesc>() == 48);
const _: () = assert!(core::mem::size_of::<OpDesc>() == 80);
const _: () = assert!(core::mem::size_of::<ConvParams>() <= OP_PARAMS_BYTES);
const _: () = assert!(core::mem::size_of::<AddParams>() <= OP_PARAMS_BYTES);
const _: () = assert!(core::mem::size_of::<MulParams>() <= OP_PARAMS_BYTES);
const _: () = assert!(core::mem::size_of::<PadParams>() <= OP_PARAMS_BYTES);
const _: () = assert!(core::mem::size_of::<SliceParams>() <= OP_PARAMS_BYTES);
