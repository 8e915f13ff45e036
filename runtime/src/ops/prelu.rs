//! PRELU (int8, slopes broadcast to the input as numpy does).

use super::{broadcast, check_requant_tables, check_zero_point, Check, Io};
use crate::error::Result;
use crate::format::{DType, PreluParams};
use crate::kernels::scalar;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let alpha = c.input(1, DType::I8, "slopes must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    let p: PreluParams = c.params();
    for zp in [p.input_zero_point, p.alpha_zero_point, p.output_zero_point] {
        check_zero_point(c, zp)?;
    }
    check_requant_tables(
        c,
        &[p.positive_multiplier, p.negative_multiplier],
        &[p.positive_shift, p.negative_shift],
    )?;
    broadcast(c, x, alpha, y).map(|_| ())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let c = &io.inputs.check;
    let missing = c.err("missing input");
    let y = c.output(DType::I8, "output must be int8")?;
    let shape = broadcast(c, c.slot(0).ok_or(missing)?, c.slot(1).ok_or(missing)?, y)?;
    let p: PreluParams = c.params();
    let (x, alpha) = (io.inputs.input_i8(0)?, io.inputs.input_i8(1)?);
    scalar::prelu(&p, &shape, x, alpha, bytemuck::cast_slice_mut(io.output));
    Ok(())
}
