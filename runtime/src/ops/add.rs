//! ADD (int8, equal shapes, inputs at different scales).

use super::{check_clamp, check_zero_point, Check, Io};
use crate::error::Result;
use crate::format::{AddParams, DType};
use crate::kernels::elementwise;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let a = c.input(0, DType::I8, "inputs must be int8")?;
    let b = c.input(1, DType::I8, "inputs must be int8")?;
    let out = c.output(DType::I8, "output must be int8")?;
    if a.size != out.size || b.size != out.size || a.dims != out.dims || b.dims != out.dims {
        return Err(c.err("inputs and output must have the same shape (no broadcasting)"));
    }
    let p: AddParams = c.params();
    check_zero_point(c, p.input1_zero_point)?;
    check_zero_point(c, p.input2_zero_point)?;
    check_zero_point(c, p.output_zero_point)?;
    check_clamp(c, p.act_min, p.act_max)?;
    if !(0..=20).contains(&p.left_shift) {
        return Err(c.err("left shift outside 0..=20"));
    }
    let multipliers = [
        p.input1_multiplier,
        p.input2_multiplier,
        p.output_multiplier,
    ];
    let shifts = [p.input1_shift, p.input2_shift, p.output_shift];
    super::check_requant_tables(c, &multipliers, &shifts)
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let p: AddParams = ins.check.params();
    let (a, b) = (ins.input_i8(0)?, ins.input_i8(1)?);
    elementwise::add(io.isa, &p, a, b, bytemuck::cast_slice_mut(io.output));
    Ok(())
}
