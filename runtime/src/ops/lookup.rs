//! LOOKUP (int8): each value mapped through a constant 256-entry table, entry `x + 128` for
//! input `x`. The importer computes the table with the arithmetic of the operator it stands
//! for (TFLite's LOGISTIC and TANH tabulate the same way in their `Prepare`).

use super::{elements, Check, Io};
use crate::error::Result;
use crate::format::DType;
use crate::kernels::scalar;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    if elements(x) != elements(y) {
        return Err(c.err("input and output differ in size"));
    }
    c.const_table(1, DType::I8, 256, "table must be 256 constant int8 values")?
        .ok_or(c.err("table missing"))?;
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let table: &[i8; 256] = io
        .inputs
        .input_i8(1)?
        .try_into()
        .map_err(|_| io.inputs.check.err("table must be 256 values"))?;
    let input = io.inputs.input_i8(0)?;
    scalar::lookup(table, input, bytemuck::cast_slice_mut(io.output));
    Ok(())
}
