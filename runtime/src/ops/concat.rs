//! CONCATENATION (int8, 1 to 5 inputs of the output's quantization, no requantization).

use super::{aligned_dims, Check, Io};
use crate::error::Result;
use crate::format::{ConcatParams, DType};
use crate::kernels::layout;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let y = c.output(DType::I8, "output must be int8")?;
    let p: ConcatParams = c.params();
    let axis = p.axis as usize;
    if axis >= usize::from(y.rank) {
        return Err(c.err("axis outside the output's rank"));
    }
    if c.op.input_count == 0 {
        return Err(c.err("no inputs"));
    }
    let mut joined = 0usize;
    for slot in 0..usize::from(c.op.input_count) {
        let x = c.input(slot, DType::I8, "inputs must be int8")?;
        if x.rank != y.rank {
            return Err(c.err("input and output ranks differ"));
        }
        let other_axes_agree = (0..4).all(|a| a == axis || x.dims[a] == y.dims[a]);
        if !other_axes_agree {
            return Err(c.err("inputs differ from the output off the axis"));
        }
        joined += x.dims[axis] as usize;
    }
    if joined != y.dims[axis] as usize {
        return Err(c.err("the inputs' lengths along the axis do not add up to the output's"));
    }
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let c = &io.inputs.check;
    let y = c.output(DType::I8, "output must be int8")?;
    let p: ConcatParams = c.params();
    // The axis in right-aligned dims; `outer` the product of the axes before it.
    let axis = p.axis as usize + 4 - usize::from(y.rank);
    let out_dims = aligned_dims(y);
    let inner: usize = out_dims[axis + 1..].iter().product();
    let outer: usize = out_dims[..axis].iter().product();
    let out_run = out_dims[axis] * inner;
    let output: &mut [i8] = bytemuck::cast_slice_mut(io.output);
    let mut offset = 0;
    for slot in 0..usize::from(c.op.input_count) {
        let x = c.slot(slot).ok_or(c.err("missing input"))?;
        let run = aligned_dims(x)[axis] * inner;
        layout::concat_input(
            outer,
            run,
            out_run,
            offset,
            io.inputs.input_i8(slot)?,
            output,
        );
        offset += run;
    }
    Ok(())
}
