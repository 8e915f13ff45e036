//! SOFTMAX (int8 in; int8 out at scale 1/256 and zero point -128, or int16 out at 1/65536
//! and -32768).

use super::{Check, Io};
use crate::error::Result;
use crate::format::{DType, SoftmaxParams};
use crate::kernels::scalar;

/// Largest row: keeps the Q12.19 sum of exponentials below 2^31.
const MAX_DEPTH: usize = 4095;

fn depth(c: &Check<'_, '_>) -> Result<usize> {
    let input = c.input(0, DType::I8, "input must be int8")?;
    let (output, _) = c.output_of(&[DType::I8, DType::I16], "output must be int8 or int16")?;
    let rank = usize::from(input.rank);
    if input.rank != output.rank || input.dims[..rank] != output.dims[..rank] || rank == 0 {
        return Err(c.err("input and output sizes differ"));
    }
    let depth = input.dims[rank - 1] as usize;
    if depth > MAX_DEPTH {
        return Err(c.err("softmax row longer than 4095"));
    }
    Ok(depth)
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    depth(c)?;
    let p: SoftmaxParams = c.params();
    if !(0..=31).contains(&p.input_left_shift) {
        return Err(c.err("input left shift outside 0..=31"));
    }
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let depth = depth(&ins.check)?;
    let p: SoftmaxParams = ins.check.params();
    let input = ins.input_i8(0)?;
    let (_, out_type) = ins
        .check
        .output_of(&[DType::I8, DType::I16], "output type")?;
    if out_type == DType::I16 {
        scalar::softmax_i16(&p, depth, input, io.output);
    } else {
        scalar::softmax(&p, depth, input, bytemuck::cast_slice_mut(io.output));
    }
    Ok(())
}
