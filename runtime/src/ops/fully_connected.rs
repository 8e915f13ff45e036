//! FULLY_CONNECTED.

use super::{check_clamp, check_requant_tables, check_zero_point, dims, Check, Io};
use crate::error::Result;
use crate::format::{
    DType, FullyConnectedParams, Storage, WEIGHT_LAYOUT_PACKED_8X4, WEIGHT_LAYOUT_PLAIN,
};
use crate::kernels::{gemm, scalar, FullyConnectedGeometry};
use crate::quant::Rounding;

/// Largest reduction depth: 255 * 255 * 32768 < 2^31 for any zero points.
const MAX_DEPTH: usize = 1 << 15;

/// `(rows, depth, units)`.
fn geometry(c: &Check<'_, '_>) -> Result<(usize, usize, usize)> {
    let p: FullyConnectedParams = c.params();
    let input = c.input(0, DType::I8, "input must be int8")?;
    let weights = c.input(1, DType::I8, "weights must be int8")?;
    let output = c.output(DType::I8, "output must be int8")?;
    if weights.storage != Storage::Const as u8 {
        return Err(c.err("weights must be constant"));
    }
    let elements = input.size as usize;
    let (units, depth) = match p.weight_layout {
        WEIGHT_LAYOUT_PLAIN if weights.rank == 2 => {
            let [units, depth, ..] = dims(weights);
            (units, depth)
        }
        // Packed weights do not say the depth; the output's last dimension says the units.
        WEIGHT_LAYOUT_PACKED_8X4 if weights.rank == 4 && output.rank >= 1 => {
            let units = output.dims[usize::from(output.rank) - 1] as usize;
            let [blocks, groups, nr, kr] = dims(weights);
            let rows = (output.size as usize).checked_div(units).unwrap_or(0);
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
    if depth == 0 || depth > MAX_DEPTH || elements % depth != 0 {
        return Err(c.err("input size is not a multiple of the weights' depth (or depth > 32768)"));
    }
    let rows = elements / depth;
    if output.size as usize != rows * units {
        return Err(c.err("output size is not rows x units"));
    }
    Ok((rows, depth, units))
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let (_, depth, units) = geometry(c)?;
    let p: FullyConnectedParams = c.params();
    check_zero_point(c, p.input_zero_point)?;
    check_zero_point(c, p.weight_zero_point)?;
    check_zero_point(c, p.output_zero_point)?;
    check_clamp(c, p.act_min, p.act_max)?;
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
        if depth % gemm::KR != 0 {
            c.scratch_at_least(gemm::scratch_len(depth))?;
        }
    }
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let (rows, depth, units) = geometry(&ins.check)?;
    let p: FullyConnectedParams = ins.check.params();
    let q = ins.requant(
        (p.input_zero_point, p.output_zero_point),
        (p.act_min, p.act_max),
        p.rounding,
    )?;
    let (input, weights) = (ins.input_i8(0)?, ins.input_i8(1)?);
    let output: &mut [i8] = bytemuck::cast_slice_mut(io.output);
    if p.weight_layout == WEIGHT_LAYOUT_PACKED_8X4 {
        let scratch = bytemuck::cast_slice_mut(&mut *io.scratch);
        let a = gemm::Rows::Dense(input);
        gemm::gemm(io.isa, rows, units, depth, a, weights, &q, scratch, output)
            .map_err(|_| ins.check.err("buffer sizes disagree with the shapes"))?;
    } else {
        let g = FullyConnectedGeometry {
            rows,
            depth,
            units,
            weight_zero_point: p.weight_zero_point,
        };
        scalar::fully_connected(&g, &q, input, weights, output);
    }
    Ok(())
}
