//! RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (int8 NHWC), by constant row and column
//! tables the importer computes with TFLite's index arithmetic: nearest-neighbour tables
//! hold the input index each output row (column) copies, bilinear tables a
//! `[low, high, fraction]` triple per output row (column), the fraction in 1/1024ths.

use super::{dims, Check, Io};
use crate::error::Result;
use crate::format::{DType, OpKind, TensorDesc};
use crate::kernels::{layout, scalar};

/// Table entries per output row or column: an index, or a bilinear triple.
fn entry_len(kind: OpKind) -> usize {
    if kind == OpKind::ResizeBilinear {
        3
    } else {
        1
    }
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    if x.rank != 4 || y.rank != 4 || x.dims[0] != y.dims[0] || x.dims[3] != y.dims[3] {
        return Err(c.err("input and output must be NHWC with the same batch and channels"));
    }
    let per = entry_len(c.kind);
    let table = |slot: usize, len: u32, bound: u32, what: &'static str| -> Result<()> {
        let t: &TensorDesc = c
            .const_table(slot, DType::I32, len as usize * per, what)?
            .ok_or(c.err(what))?;
        let inside = |v: &i32| (0..bound as i32).contains(v);
        for entry in c.const_i32(t)?.chunks_exact(per) {
            // A bilinear fraction lies in [-1024, 1024] (TFLite's half-pixel rows can start
            // below the first input row), so the sums fit in i64 with room to spare.
            let fraction_ok = per == 1 || (-1024..=1024).contains(&entry[2]);
            if !entry[..per.min(2)].iter().all(inside) || !fraction_ok {
                return Err(c.err("resize table entry outside the input"));
            }
        }
        Ok(())
    };
    table(
        1,
        y.dims[1],
        x.dims[1],
        "row table must be int32, one entry per output row",
    )?;
    table(
        2,
        y.dims[2],
        x.dims[2],
        "column table must be int32, one entry per output column",
    )
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let x = ins.check.slot(0).ok_or(ins.check.err("missing input"))?;
    let missing = ins.check.err("resize tables missing");
    let rows = ins.table_i32(1)?.ok_or(missing)?;
    let cols = ins.table_i32(2)?.ok_or(missing)?;
    let input = ins.input_i8(0)?;
    let output = bytemuck::cast_slice_mut(io.output);
    if ins.check.kind == OpKind::ResizeBilinear {
        scalar::resize_bilinear(dims(x), rows, cols, input, output);
    } else {
        layout::resize_nearest(dims(x), rows, cols, input, output);
    }
    Ok(())
}
