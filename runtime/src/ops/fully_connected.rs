//! FULLY_CONNECTED.

use super::{
    check_clamp_for, check_requant_tables, check_zero_point, check_zero_point_for, dims, elements,
    Check, Io, ACTS, WEIGHTS,
};
use crate::error::Result;
use crate::format::{
    DType, FullyConnectedParams, Storage, WEIGHT_LAYOUT_PACKED_8X4, WEIGHT_LAYOUT_PLAIN,
};
use crate::kernels::int4::{Values, ValuesMut};
use crate::kernels::{gemm, scalar, FullyConnectedGeometry};
use crate::quant::Rounding;

/// Largest reduction depth: 255 * 255 * 32768 < 2^31 for any zero points.
const MAX_DEPTH: usize = 1 << 15;

/// `(rows, depth, units)` and the (input, weights, output) types.
fn geometry(c: &Check<'_, '_>) -> Result<((usize, usize, usize), [DType; 3])> {
    let p: FullyConnectedParams = c.params();
    let (input, input_type) = c.input_of(0, &ACTS, "input must be int8 or uint4")?;
    let (weights, weight_type) = c.input_of(1, &WEIGHTS, "weights must be int8 or int4")?;
    let (output, output_type) = c.output_of(&ACTS, "output must be int8 or uint4")?;
    if weights.storage != Storage::Const as u8 {
        return Err(c.err("weights must be constant"));
    }
    let out_elements = elements(output);
    let elements = elements(input);
    let (units, depth) = match p.weight_layout {
        WEIGHT_LAYOUT_PLAIN if weights.rank == 2 => {
            let [units, depth, ..] = dims(weights);
            (units, depth)
        }
        // Packed weights do not say the depth; the output's last dimension says the units.
        WEIGHT_LAYOUT_PACKED_8X4 if weights.rank == 4 && output.rank >= 1 => {
            let units = output.dims[usize::from(output.rank) - 1] as usize;
            let [blocks, groups, nr, kr] = dims(weights);
            let rows = out_elements.checked_div(units).unwrap_or(0);
            let depth = elements.checked_div(rows).unwrap_or(0);
            let ok = [blocks, groups, nr, kr]
                == [
                    units.div_ceil(gemm::NR),
                    gemm::padded_depth(depth) / gemm::KR,
                    gemm::NR,
                    gemm::KR,
                ];
            if !ok {
                return Err(c.err("packed weights disagree with the input and output shapes"));
            }
            (units, depth)
        }
        _ => return Err(c.err("weights must be [units, depth] or packed 8x4 blocks")),
    };
    if depth == 0 || depth > MAX_DEPTH || !elements.is_multiple_of(depth) {
        return Err(c.err("input size is not a multiple of the weights' depth (or depth > 32768)"));
    }
    let rows = elements / depth;
    if out_elements != rows * units {
        return Err(c.err("output size is not rows x units"));
    }
    Ok(((rows, depth, units), [input_type, weight_type, output_type]))
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let ((rows, depth, units), [input_type, _, output_type]) = geometry(c)?;
    let p: FullyConnectedParams = c.params();
    check_zero_point_for(c, p.input_zero_point, input_type)?;
    check_zero_point(c, p.weight_zero_point)?;
    check_zero_point_for(c, p.output_zero_point, output_type)?;
    check_clamp_for(c, p.act_min, p.act_max, output_type)?;
    if Rounding::from_u16(p.rounding).is_none() {
        return Err(c.err("unknown rounding rule"));
    }
    let bias = c.const_table(2, DType::I32, units, "bias must be constant int32 [units]")?;
    let table = |slot| {
        c.const_table(
            slot,
            DType::I32,
            units,
            "requantization tables must be constant int32 [units]",
        )?
        .ok_or(c.err("requantization tables missing"))
    };
    let multipliers = c.const_i32(table(3)?)?;
    check_requant_tables(c, multipliers, c.const_i32(table(4)?)?)?;
    if p.weight_layout == WEIGHT_LAYOUT_PACKED_8X4 {
        if bias.is_none() || p.weight_zero_point != 0 {
            return Err(c.err("packed weights need the folded bias and weight zero point 0"));
        }
        if gemm::gathers_rows(input_type == DType::U4, false, depth) {
            c.scratch_at_least(gemm::scratch_len_for(rows, depth))?;
        }
    }
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let ((rows, depth, units), [_, weight_type, output_type]) = geometry(&ins.check)?;
    let p: FullyConnectedParams = ins.check.params();
    let q = ins.requant(
        (p.input_zero_point, p.output_zero_point),
        (p.act_min, p.act_max),
        p.rounding,
    )?;
    if p.weight_layout == WEIGHT_LAYOUT_PACKED_8X4 {
        let a = gemm::Rows::Dense(ins.values(0)?);
        let weights = match weight_type {
            DType::I4 => gemm::Weights::I4(ins.input_bytes(1)?),
            _ => gemm::Weights::I8(ins.input_i8(1)?),
        };
        let (isa, err) = (
            io.isa,
            ins.check.err("buffer sizes disagree with the shapes"),
        );
        let scratch = bytemuck::cast_slice_mut(&mut *io.scratch);
        let output = ValuesMut::of(output_type, &mut *io.output).ok_or(err)?;
        return gemm::gemm(isa, rows, units, depth, a, weights, &q, scratch, output)
            .map_err(|_| err);
    }
    let g = FullyConnectedGeometry {
        rows,
        depth,
        units,
        weight_zero_point: p.weight_zero_point,
    };
    let (input, weights) = (ins.values(0)?, ins.values(1)?);
    match (input, weights, output_type) {
        (Values::I8(input), Values::I8(weights), DType::I8) => {
            let output: &mut [i8] = bytemuck::cast_slice_mut(io.output);
            scalar::fully_connected(&g, &q, input, weights, output);
        }
        _ => {
            let mut output = ValuesMut::of(output_type, &mut *io.output)
                .ok_or(io.inputs.check.err("output must be int8 or uint4"))?;
            scalar::fully_connected(&g, &q, &input, &weights, &mut output);
        }
    }
    Ok(())
}
