//! GATHER (int8): slices of the input along one axis, picked by int32 indices that are
//! constants or computed at run time (an index outside the axis is an error, not a read).

use super::{Check, Io};
use crate::error::Result;
use crate::format::{DType, GatherParams, TensorDesc};
use crate::kernels::layout::{self, GatherShape};

/// The copy's shape: `(batches, outer, indices per batch, axis length, inner)`.
fn shape(c: &Check<'_, '_>) -> Result<GatherShape> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let i: &TensorDesc = c.input(1, DType::I32, "indices must be int32")?;
    let y = c.output(DType::I8, "output must be int8")?;
    let p: GatherParams = c.params();
    let (axis, batch) = (p.axis as usize, p.batch_dims as usize);
    let (xr, ir, yr) = (
        usize::from(x.rank),
        usize::from(i.rank),
        usize::from(y.rank),
    );
    if axis >= xr || batch > axis || batch > ir || yr + 1 + batch != xr + ir {
        return Err(c.err("axis, batch dims and ranks disagree"));
    }
    let xd = |a: usize| x.dims[a] as usize;
    let id = |a: usize| i.dims[a] as usize;
    // Output: input axes before `axis`, the indices' own axes, then input axes after it.
    let expected = (0..axis)
        .map(xd)
        .chain((batch..ir).map(id))
        .chain((axis + 1..xr).map(xd));
    if !expected.eq((0..yr).map(|a| y.dims[a] as usize)) || (0..batch).any(|a| xd(a) != id(a)) {
        return Err(c.err("output shape is not the gathered shape"));
    }
    Ok(GatherShape {
        batches: (0..batch).map(xd).product(),
        outer: (batch..axis).map(xd).product(),
        picks: (batch..ir).map(id).product(),
        axis_len: xd(axis),
        inner: (axis + 1..xr).map(xd).product(),
    })
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    shape(c).map(|_| ())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let s = shape(&io.inputs.check)?;
    let ins = &io.inputs;
    let done = layout::gather(
        &s,
        ins.input_i8(0)?,
        ins.input_bytes(1)?,
        bytemuck::cast_slice_mut(io.output),
    );
    done.ok_or(ins.check.err("gather index outside the input's axis"))
}
