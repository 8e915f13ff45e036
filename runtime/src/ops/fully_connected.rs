//! FULLY_CONNECTED.

use super::{check_clamp, check_shifts, check_zero_point, dims, Check, Io};
use crate::error::Result;
use crate::format::{DType, FullyConnectedParams, Storage};
use crate::kernels::{scalar, FullyConnectedGeometry};
use crate::quant::Rounding;

/// Largest reduction depth: 255 * 255 * 32768 < 2^31 for any zero points.
const MAX_DEPTH: usize = 1 << 15;

/// `(rows, depth, units)`.
fn geometry(c: &Check<'_, '_>) -> Result<(usize, usize, usize)> {
    let input = c.input(0, DType::I8, "input must be int8")?;
    let weights = c.input(1, DType::I8, "weights must be int8")?;
    let output = c.output(DType::I8, "output must be int8")?;
    if weights.rank != 2 || weights.storage != Storage::Const as u8 {
        return Err(c.err("weights must be constant [units, depth]"));
    }
    let [units, depth, ..] = dims(weights);
    let elements = input.size as usize;
    if depth > MAX_DEPTH || elements % depth != 0 {
        return Err(c.err("input size is not a multiple of the weights' depth (or depth > 32768)"));
    }
    let rows = elements / depth;
    if output.size as usize != rows * units {
        return Err(c.err("output size is not rows x units"));
    }
    Ok((rows, depth, units))
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let (_, _, units) = geometry(c)?;
    let p: FullyConnectedParams = c.params();
    check_zero_point(c, p.input_zero_point)?;
    check_zero_point(c, p.weight_zero_point)?;
    check_zero_point(c, p.output_zero_point)?;
    check_clamp(c, p.act_min, p.act_max)?;
    if Rounding::from_u16(p.rounding).is_none() {
        return Err(c.err("unknown rounding rule"));
    }
    c.const_table(2, DType::I32, units, "bias must be constant int32 [units]")?;
    let table = |slot| {
        c.const_table(
            slot,
            DType::I32,
            units,
            "requantization tables must be constant int32 [units]",
        )?
        .ok_or(c.err("requantization tables missing"))
    };
    table(3)?;
    check_shifts(c, c.const_i32(table(4)?)?)
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
    let g = FullyConnectedGeometry {
        rows,
        depth,
        units,
        weight_zero_point: p.weight_zero_point,
    };
    scalar::fully_connected(&g, &q, input, weights, output);
    Ok(())
}
