//! RESHAPE: the bytes stay, the shape changes.

use super::{elements, Check, Io};
use crate::error::Result;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let input = c.slot(0).ok_or(c.err("missing input"))?;
    let output = c.model.tensor(c.op.output).ok_or(c.err("missing output"))?;
    // Same dtype and element count: the bytes (4-bit ones too) are the same in order.
    if input.size != output.size
        || input.dtype != output.dtype
        || elements(input) != elements(output)
    {
        return Err(c.err("input and output differ in size or dtype"));
    }
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let input = io.inputs.input_bytes(0)?;
    io.output.copy_from_slice(input);
    Ok(())
}
