//! MUL (int8 or uint4, numpy broadcasting of either input to the output's shape).

use super::{binary_acts, broadcast, check_clamp_for, check_zero_point_for, Check, Io, ACTS};
use crate::error::Result;
use crate::format::MulParams;
use crate::kernels::int4::ValuesMut;
use crate::kernels::scalar;
use crate::quant::Rounding;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let [(a, a_type), (b, b_type), (out, out_type)] = binary_acts(c)?;
    broadcast(c, a, b, out)?;
    let p: MulParams = c.params();
    check_zero_point_for(c, p.input1_zero_point, a_type)?;
    check_zero_point_for(c, p.input2_zero_point, b_type)?;
    check_zero_point_for(c, p.output_zero_point, out_type)?;
    check_clamp_for(c, p.act_min, p.act_max, out_type)?;
    Rounding::from_u16(p.rounding).ok_or(c.err("unknown rounding rule"))?;
    super::check_requant_tables(c, &[p.output_multiplier], &[p.output_shift])
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let c = &ins.check;
    let p: MulParams = c.params();
    let rounding = Rounding::from_u16(p.rounding).ok_or(c.err("unknown rounding rule"))?;
    let missing = c.err("missing input");
    let out_desc = c.model.tensor(c.op.output).ok_or(c.err("no output"))?;
    let shape = broadcast(
        c,
        c.slot(0).ok_or(missing)?,
        c.slot(1).ok_or(missing)?,
        out_desc,
    )?;
    let (a, b) = (ins.values(0)?, ins.values(1)?);
    let (_, out_type) = c.output_of(&ACTS, "output must be int8 or uint4")?;
    let mut out =
        ValuesMut::of(out_type, &mut *io.output).ok_or(c.err("output must be int8 or uint4"))?;
    scalar::mul(&p, rounding, &shape, &a, &b, &mut out);
    Ok(())
}
