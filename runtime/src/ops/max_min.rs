//! MAXIMUM and MINIMUM (int8, numpy broadcasting): comparisons of the stored values, as
//! TFLite makes them (its converter gives the inputs and output one quantization).

use super::{broadcast, Check, Io};
use crate::error::Result;
use crate::format::{DType, OpKind};
use crate::kernels::scalar;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let a = c.input(0, DType::I8, "inputs must be int8")?;
    let b = c.input(1, DType::I8, "inputs must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    broadcast(c, a, b, y).map(|_| ())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let c = &io.inputs.check;
    let missing = c.err("missing input");
    let y = c.output(DType::I8, "output must be int8")?;
    let shape = broadcast(c, c.slot(0).ok_or(missing)?, c.slot(1).ok_or(missing)?, y)?;
    let (a, b) = (io.inputs.input_i8(0)?, io.inputs.input_i8(1)?);
    let maximum = c.kind == OpKind::Maximum;
    scalar::max_min(maximum, &shape, a, b, bytemuck::cast_slice_mut(io.output));
    Ok(())
}
