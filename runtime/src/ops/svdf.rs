//! SVDF (TFLite's integer form): a feature projection of each input vector pushed into a
//! per-filter memory of the last `memory` values (int16), which time weights then reduce.
//! The memory lives in the op's scratch and carries across invokes, as TFLite's variable
//! state tensor does; [`reset`] empties it.

use super::{check_requant_tables, check_zero_point, Check, Io};
use crate::error::Result;
use crate::format::{DType, SvdfParams};
use crate::kernels::svdf::{self, scratch_len, SvdfShape};

fn shape(c: &Check<'_, '_>) -> Result<SvdfShape> {
    let x = c.input(0, DType::I8, "input must be int8 [batch, inputs]")?;
    let y = c.output(DType::I8, "output must be int8 [batch, units]")?;
    let p: SvdfParams = c.params();
    if x.rank != 2 || y.rank != 2 || x.dims[0] != y.dims[0] || p.rank == 0 {
        return Err(c.err("input and output must be [batch, features], rank at least 1"));
    }
    let units = y.dims[1] as usize;
    let filters = units * p.rank as usize;
    let wt = c.input(
        2,
        DType::I16,
        "time weights must be int16 [filters, memory]",
    )?;
    if wt.rank != 2 || wt.dims[0] as usize != filters || wt.dims[1] == 0 {
        return Err(c.err("time weights must be int16 [filters, memory]"));
    }
    Ok(SvdfShape {
        batches: x.dims[0] as usize,
        inputs: x.dims[1] as usize,
        filters,
        units,
        rank: p.rank as usize,
        memory: wt.dims[1] as usize,
    })
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let s = shape(c)?;
    let p: SvdfParams = c.params();
    c.const_table(
        1,
        DType::I8,
        s.filters * s.inputs,
        "feature weights must be int8 [filters, inputs]",
    )?
    .ok_or(c.err("feature weights missing"))?;
    c.const_table(
        2,
        DType::I16,
        s.filters * s.memory,
        "time weights must be constant",
    )?;
    c.const_table(3, DType::I32, s.units, "bias must be int32 [units]")?;
    check_zero_point(c, p.input_zero_point)?;
    check_zero_point(c, p.output_zero_point)?;
    check_requant_tables(
        c,
        &[p.feature_multiplier, p.time_multiplier],
        &[p.feature_shift, p.time_shift],
    )?;
    c.scratch_at_least(scratch_len(&s))
}

/// Empties the memory (all zeros, TFLite's reset of an int16 state).
pub(super) fn reset(c: &Check<'_, '_>, scratch: &mut [u8]) -> Result<()> {
    let s = shape(c)?;
    let len = scratch_len(&s).min(scratch.len());
    scratch[..len].fill(0);
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let s = shape(&io.inputs.check)?;
    let p: SvdfParams = io.inputs.check.params();
    let ins = &io.inputs;
    let bias = ins.table_i32(3)?;
    let done = svdf::svdf(
        &s,
        &p,
        ins.input_i8(0)?,
        ins.input_i8(1)?,
        ins.input_bytes(2)?,
        bias,
        io.scratch,
        bytemuck::cast_slice_mut(io.output),
    );
    done.ok_or(ins.check.err("scratch smaller than the state"))
}
