//! UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's integer 8x8->16 LSTM). The recurrent state lives
//! in the op's scratch, which the plan keeps for this op alone, so it carries from one
//! `invoke` to the next as TFLite's variable tensors do; [`reset`] (run when an interpreter
//! is created, and by `Interpreter::reset_state`) sets the hidden state to its zero point and
//! the cell state to 0.

use super::{check_requant_tables, check_zero_point, Check, Io};
use crate::error::Result;
use crate::format::{DType, LstmParams, TensorDesc};
use crate::kernels::lstm::{self, scratch_len, LstmQuant, LstmShape, LstmState};

fn shape(c: &Check<'_, '_>) -> Result<LstmShape> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    let p: LstmParams = c.params();
    if x.rank != 3 || y.rank != 3 || p.time_major > 1 {
        return Err(c.err("input and output must be [batch, time, features] (or time-major)"));
    }
    let (steps, batches) = if p.time_major == 1 {
        (x.dims[0] as usize, x.dims[1] as usize)
    } else {
        (x.dims[1] as usize, x.dims[0] as usize)
    };
    let shape = LstmShape {
        batches,
        steps,
        inputs: x.dims[2] as usize,
        cells: p.cells as usize,
        time_major: p.time_major == 1,
    };
    if y.dims[..2] != x.dims[..2] || y.dims[2] != p.cells || p.cells == 0 {
        return Err(c.err("output must be the input's batch and time by the cell count"));
    }
    Ok(shape)
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let s = shape(c)?;
    let p: LstmParams = c.params();
    let weights = |slot: usize, width: usize, what: &'static str| -> Result<&TensorDesc> {
        c.const_table(slot, DType::I8, 4 * s.cells * width, what)?
            .ok_or(c.err(what))
    };
    weights(1, s.inputs, "input weights must be int8 [4, cells, inputs]")?;
    weights(
        2,
        s.cells,
        "recurrent weights must be int8 [4, cells, cells]",
    )?;
    c.const_table(
        3,
        DType::I32,
        8 * s.cells,
        "biases must be int32 [8, cells]",
    )?
    .ok_or(c.err("biases missing"))?;
    let requant = c
        .const_table(4, DType::I32, 16, "gate requantization must be int32 [16]")?
        .ok_or(c.err("gate requantization missing"))?;
    let table = c.const_i32(requant)?;
    check_requant_tables(c, &table[..8], &table[8..])?;
    check_requant_tables(c, &[p.hidden_multiplier], &[p.hidden_shift])?;
    check_zero_point(c, p.hidden_zero_point)?;
    check_zero_point(c, p.state_zero_point)?;
    if !(-15..=-9).contains(&p.cell_shift) {
        return Err(c.err("cell state scale must be 2^-15..=2^-9"));
    }
    if !(0..=32767).contains(&p.cell_clip) {
        return Err(c.err("cell clip outside 0..=32767"));
    }
    c.scratch_at_least(scratch_len(s.batches, s.cells))
}

/// The state in an LSTM's scratch: `(hidden, cell, gates)`. The int16 part starts at the
/// first even address after the hidden state (the arena does not move while an interpreter
/// holds it, so the split is the same at every call).
fn split_state<'s>(
    scratch: &'s mut [u8],
    s: &LstmShape,
) -> Option<(&'s mut [i8], &'s mut [i16], &'s mut [i16])> {
    let state_len = s.batches * s.cells;
    let (hidden, rest) = scratch.split_at_mut_checked(state_len)?;
    let (_, words, _) = bytemuck::pod_align_to_mut::<u8, i16>(rest);
    let (cell, gates) = words
        .get_mut(..state_len + 4 * s.cells)?
        .split_at_mut(state_len);
    Some((bytemuck::cast_slice_mut(hidden), cell, gates))
}

/// Starts a new sequence: the hidden state at its zero point, the cell state at 0.
pub(super) fn reset(c: &Check<'_, '_>, scratch: &mut [u8]) -> Result<()> {
    let s = shape(c)?;
    let p: LstmParams = c.params();
    let (hidden, cell, _) =
        split_state(scratch, &s).ok_or(c.err("scratch smaller than the state"))?;
    hidden.fill(p.state_zero_point as i8);
    cell.fill(0);
    Ok(())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let s = shape(&io.inputs.check)?;
    let p: LstmParams = io.inputs.check.params();
    let ins = &io.inputs;
    let missing = ins.check.err("constant input missing");
    let table = ins.table_i32(4)?.ok_or(missing)?;
    let q = LstmQuant {
        biases: ins.table_i32(3)?.ok_or(missing)?,
        multipliers: &table[..8],
        shifts: &table[8..],
        hidden_multiplier: p.hidden_multiplier,
        hidden_shift: p.hidden_shift,
        hidden_zero_point: p.hidden_zero_point,
        cell_shift: p.cell_shift,
        cell_clip: p.cell_clip as i16,
    };
    let (hidden, cell, gates) =
        split_state(io.scratch, &s).ok_or(ins.check.err("scratch smaller than the state"))?;
    lstm::lstm(
        &s,
        &q,
        ins.input_i8(0)?,
        ins.input_i8(1)?,
        ins.input_i8(2)?,
        LstmState {
            hidden,
            cell,
            gates,
        },
        bytemuck::cast_slice_mut(io.output),
    );
    Ok(())
}
