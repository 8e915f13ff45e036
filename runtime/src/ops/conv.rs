//! CONV_2D and DEPTHWISE_CONV_2D.

use super::{
    check_clamp_for, check_requant_tables, check_zero_point_for, dims, Check, Io, ACTS, WEIGHTS,
};
use crate::error::Result;
use crate::format::{
    ConvParams, DType, OpKind, Storage, TensorDesc, WEIGHT_LAYOUT_PACKED_8X4, WEIGHT_LAYOUT_PLAIN,
};
use crate::kernels::int4::ValuesMut;
use crate::kernels::{depthwise, gemm, scalar, ConvGeometry};
use crate::quant::Rounding;

/// The element types of a conv: input, filter, output.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Types {
    input: DType,
    filter: DType,
    output: DType,
}

impl Types {
    fn all_int8(&self) -> bool {
        [self.input, self.filter, self.output] == [DType::I8; 3]
    }
}

/// Largest reduction (kernel_h * kernel_w * in_c) accepted: keeps the int32 accumulator
/// from overflowing for any int8 values (255 * 128 * 65536 < 2^31).
const MAX_REDUCTION: usize = 1 << 16;

fn geometry(c: &Check<'_, '_>) -> Result<(ConvGeometry, ConvParams, Types)> {
    let p: ConvParams = c.params();
    let (input, input_type) = c.input_of(0, &ACTS, "input must be int8 or uint4")?;
    let (filter, filter_type) = c.input_of(1, &WEIGHTS, "filter must be int8 or int4")?;
    let (output, output_type) = c.output_of(&ACTS, "output must be int8 or uint4")?;
    let types = Types {
        input: input_type,
        filter: filter_type,
        output: output_type,
    };
    if input.rank != 4 || filter.rank != 4 || output.rank != 4 {
        return Err(c.err("input, filter and output must be rank 4"));
    }
    if filter.storage != Storage::Const as u8 {
        return Err(c.err("filter must be constant"));
    }
    let [n, _, _, in_c] = dims(input);
    let [on, _, _, out_c] = dims(output);
    let depthwise = c.kind == OpKind::DepthwiseConv2d;
    let depth_multiplier = usize::from(p.depth_multiplier);
    let (kernel_h, kernel_w, filter_ok) = match p.weight_layout {
        WEIGHT_LAYOUT_PLAIN => {
            let [fo, kernel_h, kernel_w, fi] = dims(filter);
            let ok = if depthwise {
                fo == 1 && fi == out_c && depth_multiplier >= 1 && in_c * depth_multiplier == out_c
            } else {
                fo == out_c && fi == in_c
            };
            (kernel_h, kernel_w, ok)
        }
        WEIGHT_LAYOUT_PACKED_8X4 if !depthwise => {
            let (kernel_h, kernel_w) = (usize::from(p.kernel_h), usize::from(p.kernel_w));
            let depth = kernel_h * kernel_w * in_c;
            let blocks = [
                out_c.div_ceil(gemm::NR),
                gemm::padded_depth(depth) / gemm::KR,
                gemm::NR,
                gemm::KR,
            ];
            (kernel_h, kernel_w, dims(filter) == blocks)
        }
        _ => return Err(c.err("unknown weight layout")),
    };
    if n != on || !filter_ok {
        return Err(c.err("input, filter and output shapes disagree"));
    }
    if p.stride_h == 0 || p.stride_w == 0 || p.dilation_h == 0 || p.dilation_w == 0 {
        return Err(c.err("stride and dilation must be at least 1"));
    }
    if kernel_h == 0 || kernel_w == 0 {
        return Err(c.err("empty kernel"));
    }
    let reduction = kernel_h * kernel_w * if depthwise { 1 } else { in_c };
    if reduction > MAX_REDUCTION {
        return Err(c.err("kernel reduction above 65536 elements"));
    }
    let g = ConvGeometry::from_params(dims(input), dims(output), (kernel_h, kernel_w), &p);
    Ok((g, p, types))
}

/// The per-channel constants of a conv-like op (CONV_2D, DEPTHWISE_CONV_2D,
/// TRANSPOSE_CONV): an optional int32 bias in slot 2, multipliers and shifts in slots 3 and
/// 4, one per output channel. Returns the bias.
pub(super) fn check_channel_tables<'m>(
    c: &Check<'_, 'm>,
    out_c: usize,
) -> Result<Option<&'m TensorDesc>> {
    let bias = c.const_table(2, DType::I32, out_c, "bias must be constant int32 [Cout]")?;
    let table = |slot| {
        c.const_table(
            slot,
            DType::I32,
            out_c,
            "requantization tables must be constant int32 [Cout]",
        )?
        .ok_or(c.err("requantization tables missing"))
    };
    check_requant_tables(c, c.const_i32(table(3)?)?, c.const_i32(table(4)?)?)?;
    Ok(bias)
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let (g, p, types) = geometry(c)?;
    check_zero_point_for(c, p.input_zero_point, types.input)?;
    check_zero_point_for(c, p.output_zero_point, types.output)?;
    check_clamp_for(c, p.act_min, p.act_max, types.output)?;
    if Rounding::from_u16(p.rounding).is_none() {
        return Err(c.err("unknown rounding rule"));
    }
    let bias = check_channel_tables(c, g.out_c)?;
    if p.weight_layout == WEIGHT_LAYOUT_PACKED_8X4 {
        if bias.is_none() {
            return Err(c.err("packed weights need the folded bias"));
        }
        let depth = g.kernel_h * g.kernel_w * g.in_c;
        let u4 = types.input == DType::U4;
        if gemm::gathers_rows(u4, !gemm::conv_rows_are_input(&g), depth) {
            c.scratch_at_least(gemm::scratch_len(depth))?;
        }
    }
    // The 4-bit depthwise fast path needs its scratch; without it the oracle runs (slowly
    // but correctly), so it is not required.
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let (g, p, types) = geometry(&ins.check)?;
    let q = ins.requant(
        (p.input_zero_point, p.output_zero_point),
        (p.act_min, p.act_max),
        p.rounding,
    )?;
    let depthwise = ins.check.kind == OpKind::DepthwiseConv2d;
    if types.all_int8() && (depthwise || p.weight_layout == WEIGHT_LAYOUT_PLAIN) {
        let (input, filter) = (ins.input_i8(0)?, ins.input_i8(1)?);
        let output: &mut [i8] = bytemuck::cast_slice_mut(io.output);
        if depthwise {
            depthwise::depthwise_conv2d(io.isa, &g, &q, input, filter, output);
        } else {
            scalar::conv2d(&g, &q, input, filter, output);
        }
        return Ok(());
    }
    if p.weight_layout == WEIGHT_LAYOUT_PACKED_8X4 {
        let input = ins.values(0)?;
        let filter = match types.filter {
            DType::I4 => gemm::Weights::I4(ins.input_bytes(1)?),
            _ => gemm::Weights::I8(ins.input_i8(1)?),
        };
        let rows = if gemm::conv_rows_are_input(&g) {
            gemm::Rows::Dense(input)
        } else {
            gemm::Rows::Conv {
                geometry: &g,
                input,
                zero_point: p.input_zero_point as i8,
            }
        };
        let m = g.batch * g.out_h * g.out_w;
        let depth = g.kernel_h * g.kernel_w * g.in_c;
        let (isa, err) = (
            io.isa,
            ins.check.err("buffer sizes disagree with the shapes"),
        );
        let scratch: &mut [i8] = bytemuck::cast_slice_mut(&mut *io.scratch);
        let output = ValuesMut::of(types.output, &mut *io.output).ok_or(err)?;
        return gemm::gemm(isa, m, g.out_c, depth, rows, filter, &q, scratch, output)
            .map_err(|_| err);
    }
    // 4-bit with the plain layout: the oracle, or the depthwise row-window path.
    let (input, filter) = (ins.values(0)?, ins.values(1)?);
    let isa = io.isa;
    let scratch: &mut [i8] = bytemuck::cast_slice_mut(&mut *io.scratch);
    let mut output = ValuesMut::of(types.output, &mut *io.output)
        .ok_or(io.inputs.check.err("output must be int8 or uint4"))?;
    if depthwise {
        depthwise::depthwise_conv2d_values(isa, &g, &q, input, filter, &mut output, scratch);
    } else {
        scalar::conv2d(&g, &q, &input, &filter, &mut output);
    }
    Ok(())
}
