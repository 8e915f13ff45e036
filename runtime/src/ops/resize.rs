//! RESIZE_NEAREST_NEIGHBOR (int8 NHWC): each output pixel copies the input pixel its row and
//! column tables name (the importer computes them as TFLite's `GetNearestNeighbor`).

use super::{dims, Check, Io};
use crate::error::Result;
use crate::format::{DType, TensorDesc};
use crate::kernels::layout;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    if x.rank != 4 || y.rank != 4 || x.dims[0] != y.dims[0] || x.dims[3] != y.dims[3] {
        return Err(c.err("input and output must be NHWC with the same batch and channels"));
    }
    let index_table = |slot: usize, len: u32, bound: u32, what: &'static str| -> Result<()> {
        let t: &TensorDesc = c
            .const_table(slot, DType::I32, len as usize, what)?
            .ok_or(c.err(what))?;
        let values = c.const_i32(t)?;
        if values.iter().any(|&v| !(0..bound as i32).contains(&v)) {
            return Err(c.err("resize index outside the input"));
        }
        Ok(())
    };
    index_table(1, y.dims[1], x.dims[1], "row table must be int32 [out_h]")?;
    index_table(
        2,
        y.dims[2],
        x.dims[2],
        "column table must be int32 [out_w]",
    )
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let x = ins.check.slot(0).ok_or(ins.check.err("missing input"))?;
    let (rows, cols) = (ins.table_i32(1)?, ins.table_i32(2)?);
    let missing = ins.check.err("index tables missing");
    let input = ins.input_i8(0)?;
    layout::resize_nearest(
        dims(x),
        rows.ok_or(missing)?,
        cols.ok_or(missing)?,
        input,
        bytemuck::cast_slice_mut(io.output),
    );
    Ok(())
}
