//! Operators: each checks its tensors and parameters once at load (`validate`) and calls a
//! kernel at run time (`run`). One file per operator family.

mod add;
mod conv;
mod fully_connected;
mod pool;
mod quantize;
mod reshape;
mod softmax;

use crate::error::{Error, Result};
use crate::format::{DType, OpDesc, OpKind, Storage, TensorDesc, NO_TENSOR};
use crate::kernels::Requant;
use crate::model::Model;
use crate::quant::Rounding;

/// Validates operator `index` of `model`.
pub(crate) fn validate(model: &Model<'_>, index: usize, op: &OpDesc) -> Result<()> {
    let check = Check::new(model, index, op)?;
    let kind = check.kind;
    if usize::from(op.input_count) > op.inputs.len() {
        return Err(check.err("more than 5 inputs"));
    }
    for &t in op.inputs[..usize::from(op.input_count)]
        .iter()
        .chain([&op.output])
    {
        if t != NO_TENSOR && model.tensor(t).is_none() {
            return Err(check.err("tensor index out of range"));
        }
    }
    check.output_in_arena()?;
    match kind {
        OpKind::Conv2d | OpKind::DepthwiseConv2d => conv::validate(&check),
        OpKind::FullyConnected => fully_connected::validate(&check),
        OpKind::Add => add::validate(&check),
        OpKind::AveragePool2d | OpKind::MaxPool2d => pool::validate(&check),
        OpKind::Reshape => reshape::validate(&check),
        OpKind::Softmax => softmax::validate(&check),
        OpKind::Quantize | OpKind::Dequantize => quantize::validate(&check),
    }
}

/// Runs one validated operator.
pub(crate) fn run(model: &Model<'_>, index: usize, op: &OpDesc, arena: &mut [u8]) -> Result<()> {
    let check = Check::new(model, index, op)?;
    let kind = check.kind;
    let out = model.tensor(op.output).ok_or(check.err("no output"))?;
    let (start, end) = (out.offset as usize, out.offset as usize + out.size as usize);
    if end > arena.len() {
        return Err(check.err("output outside the arena"));
    }
    let (before, rest) = arena.split_at_mut(start);
    let (output, after) = rest.split_at_mut(end - start);
    let mut io = Io {
        inputs: Inputs {
            check,
            before,
            after,
            out_start: start,
            out_end: end,
        },
        output,
    };
    match kind {
        OpKind::Conv2d | OpKind::DepthwiseConv2d => conv::run(&mut io),
        OpKind::FullyConnected => fully_connected::run(&mut io),
        OpKind::Add => add::run(&mut io),
        OpKind::AveragePool2d | OpKind::MaxPool2d => pool::run(&mut io),
        OpKind::Reshape => reshape::run(&mut io),
        OpKind::Softmax => softmax::run(&mut io),
        OpKind::Quantize | OpKind::Dequantize => quantize::run(&mut io),
    }
}

/// An operator and its model, for checks and tensor look-ups.
pub(crate) struct Check<'a, 'm> {
    model: &'a Model<'m>,
    index: usize,
    op: &'a OpDesc,
    kind: OpKind,
}

impl<'a, 'm> Check<'a, 'm> {
    fn new(model: &'a Model<'m>, index: usize, op: &'a OpDesc) -> Result<Self> {
        let kind = OpKind::from_u16(op.kind).ok_or(Error::Invalid {
            what: "unknown operator kind",
            index: index as u32,
        })?;
        Ok(Self {
            model,
            index,
            op,
            kind,
        })
    }

    fn err(&self, what: &'static str) -> Error {
        Error::InvalidOp {
            op: self.index as u32,
            kind: self.kind.name(),
            what,
        }
    }

    fn slot(&self, slot: usize) -> Option<&'m TensorDesc> {
        if slot >= usize::from(self.op.input_count) {
            return None;
        }
        let t = *self.op.inputs.get(slot)?;
        self.model.tensor(t)
    }

    /// Input `slot`, required, with the given dtype.
    fn input(&self, slot: usize, dtype: DType, what: &'static str) -> Result<&'m TensorDesc> {
        let t = self.slot(slot).ok_or(self.err(what))?;
        if t.dtype != dtype as u8 {
            return Err(self.err(what));
        }
        Ok(t)
    }

    /// A constant input of `len` elements of `dtype`, or none if `optional` and absent.
    fn const_table(
        &self,
        slot: usize,
        dtype: DType,
        len: usize,
        what: &'static str,
    ) -> Result<Option<&'m TensorDesc>> {
        let Some(t) = self.slot(slot) else {
            return Ok(None);
        };
        if t.dtype != dtype as u8
            || t.storage != Storage::Const as u8
            || t.size as usize != len * dtype.size()
        {
            return Err(self.err(what));
        }
        Ok(Some(t))
    }

    fn output(&self, dtype: DType, what: &'static str) -> Result<&'m TensorDesc> {
        let t = self.model.tensor(self.op.output).ok_or(self.err(what))?;
        if t.dtype != dtype as u8 {
            return Err(self.err(what));
        }
        Ok(t)
    }

    fn output_in_arena(&self) -> Result<()> {
        match self.model.tensor(self.op.output) {
            Some(t) if t.storage == Storage::Arena as u8 => Ok(()),
            _ => Err(self.err("output must be an arena tensor")),
        }
    }

    fn const_i32(&self, t: &TensorDesc) -> Result<&'m [i32]> {
        let bytes = self
            .model
            .const_bytes(t)
            .ok_or(self.err("table must be constant"))?;
        bytemuck::try_cast_slice(bytes).map_err(|_| self.err("misaligned table"))
    }

    fn params<P: bytemuck::Pod>(&self) -> P {
        crate::format::read_params(self.op)
    }
}

/// Run-time view of one operator: its inputs and its output bytes, borrowed separately.
pub(crate) struct Io<'a, 'm> {
    inputs: Inputs<'a, 'm>,
    output: &'a mut [u8],
}

/// An operator's inputs: constants, or arena bytes outside its output.
pub(crate) struct Inputs<'a, 'm> {
    check: Check<'a, 'm>,
    before: &'a [u8],
    after: &'a [u8],
    out_start: usize,
    out_end: usize,
}

impl Inputs<'_, '_> {
    fn bytes(&self, t: &TensorDesc) -> Result<&[u8]> {
        if t.storage == Storage::Const as u8 {
            return self
                .check
                .model
                .const_bytes(t)
                .ok_or(self.check.err("bad constant"));
        }
        let (start, end) = (t.offset as usize, t.offset as usize + t.size as usize);
        let found = if end <= self.out_start {
            self.before.get(start..end)
        } else if start >= self.out_end {
            self.after.get(start - self.out_end..end - self.out_end)
        } else {
            None
        };
        found.ok_or(self.check.err("input overlaps the output"))
    }

    fn input_bytes(&self, slot: usize) -> Result<&[u8]> {
        let t = self
            .check
            .slot(slot)
            .ok_or(self.check.err("missing input"))?;
        self.bytes(t)
    }

    fn input_i8(&self, slot: usize) -> Result<&[i8]> {
        Ok(bytemuck::cast_slice(self.input_bytes(slot)?))
    }

    /// The requantization of a conv-like op: bias in slot 2 (optional), multiplier and shift
    /// tables in slots 3 and 4.
    fn requant(
        &self,
        zero_points: (i32, i32),
        clamp: (i32, i32),
        rounding: u16,
    ) -> Result<Requant<'_>> {
        let missing = self.check.err("requantization tables missing");
        Ok(Requant {
            bias: self.table_i32(2)?,
            multiplier: self.table_i32(3)?.ok_or(missing)?,
            shift: self.table_i32(4)?.ok_or(missing)?,
            input_zero_point: zero_points.0,
            output_zero_point: zero_points.1,
            act_min: clamp.0,
            act_max: clamp.1,
            rounding: Rounding::from_u16(rounding)
                .ok_or(self.check.err("unknown rounding rule"))?,
        })
    }

    fn table_i32(&self, slot: usize) -> Result<Option<&[i32]>> {
        match self.check.slot(slot) {
            None => Ok(None),
            Some(t) => self.check.const_i32(t).map(Some),
        }
    }
}

/// Output clamp bounds must be ordered and within int8.
fn check_clamp(check: &Check<'_, '_>, min: i32, max: i32) -> Result<()> {
    if min > max || min < -128 || max > 127 {
        return Err(check.err("activation clamp outside int8 or min > max"));
    }
    Ok(())
}

/// A zero point must be representable in int8.
fn check_zero_point(check: &Check<'_, '_>, zp: i32) -> Result<()> {
    if !(-128..=127).contains(&zp) {
        return Err(check.err("zero point outside int8"));
    }
    Ok(())
}

/// Requantization tables: every shift within -31..=30.
fn check_shifts(check: &Check<'_, '_>, shifts: &[i32]) -> Result<()> {
    if shifts.iter().any(|s| !(-31..=30).contains(s)) {
        return Err(check.err("requantization shift outside -31..=30"));
    }
    Ok(())
}

fn dims(t: &TensorDesc) -> [usize; 4] {
    t.dims.map(|d| d as usize)
}
