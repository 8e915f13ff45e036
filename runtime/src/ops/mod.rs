//! Operators: each checks its tensors and parameters once at load (`validate`) and calls a
//! kernel at run time (`run`). One file per operator family.

mod add;
mod batch_matmul;
mod concat;
mod conv;
mod fully_connected;
mod gather;
mod lookup;
mod lstm;
mod max_min;
mod mean;
mod mul;
mod pad;
mod pool;
mod prelu;
mod quantize;
mod requantize;
mod reshape;
mod resize;
mod slice;
mod softmax;
mod svdf;
mod transpose;
mod transpose_conv;

use crate::error::{Error, Result};
use crate::format::{DType, OpDesc, OpKind, Storage, TensorDesc, NO_TENSOR};
use crate::kernels::int4::Values;
use crate::kernels::{Broadcast, Isa, Requant};
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
        OpKind::Add | OpKind::Sub => add::validate(&check),
        OpKind::Maximum | OpKind::Minimum => max_min::validate(&check),
        OpKind::AveragePool2d | OpKind::MaxPool2d => pool::validate(&check),
        OpKind::Reshape => reshape::validate(&check),
        OpKind::Softmax => softmax::validate(&check),
        OpKind::Quantize | OpKind::Dequantize => quantize::validate(&check),
        OpKind::Mul => mul::validate(&check),
        OpKind::Pad => pad::validate(&check),
        OpKind::Concatenation => concat::validate(&check),
        OpKind::Lookup => lookup::validate(&check),
        OpKind::Transpose => transpose::validate(&check),
        OpKind::Mean => mean::validate(&check),
        OpKind::Slice => slice::validate(&check),
        OpKind::ResizeNearest | OpKind::ResizeBilinear => resize::validate(&check),
        OpKind::Lstm => lstm::validate(&check),
        OpKind::TransposeConv2d => transpose_conv::validate(&check),
        OpKind::Gather => gather::validate(&check),
        OpKind::Prelu => prelu::validate(&check),
        OpKind::BatchMatMul => batch_matmul::validate(&check),
        OpKind::Requantize => requantize::validate(&check),
        OpKind::Svdf => svdf::validate(&check),
    }
}

/// Puts the state of every stateful operator (`OpKind::keeps_state`) at its start: a new
/// sequence for each LSTM, an empty memory for each SVDF.
pub(crate) fn reset_state(model: &Model<'_>, arena: &mut [u8]) -> Result<()> {
    for (index, op) in model.ops.iter().enumerate() {
        if !crate::plan::holds_state(op) {
            continue;
        }
        let check = Check::new(model, index, op)?;
        let start = op.scratch_offset as usize;
        let scratch = arena
            .get_mut(start..start + op.scratch_size as usize)
            .ok_or(check.err("scratch outside the arena"))?;
        match check.kind {
            OpKind::Lstm => lstm::reset(&check, scratch)?,
            OpKind::Svdf => svdf::reset(&check, scratch)?,
            _ => {}
        }
    }
    Ok(())
}

/// Runs one validated operator with the kernels of `isa`.
pub(crate) fn run(
    model: &Model<'_>,
    index: usize,
    op: &OpDesc,
    arena: &mut [u8],
    isa: Isa,
) -> Result<()> {
    let check = Check::new(model, index, op)?;
    let kind = check.kind;
    if kind == OpKind::Reshape
        && crate::plan::is_view(model, usize::from(op.inputs[0]), usize::from(op.output))
    {
        // The output is the input's bytes (checked at load): nothing to copy.
        return Ok(());
    }
    let out = model.tensor(op.output).ok_or(check.err("no output"))?;
    let output_range = (out.offset as usize, out.offset as usize + out.size as usize);
    let scratch_range = (
        op.scratch_offset as usize,
        op.scratch_offset as usize + op.scratch_size as usize,
    );
    let (output, scratch, pieces) = carve(arena, output_range, scratch_range)
        .ok_or(check.err("output or scratch outside the arena, or overlapping"))?;
    let mut io = Io {
        inputs: Inputs { check, pieces },
        output,
        scratch,
        isa,
    };
    match kind {
        OpKind::Conv2d | OpKind::DepthwiseConv2d => conv::run(&mut io),
        OpKind::FullyConnected => fully_connected::run(&mut io),
        OpKind::Add | OpKind::Sub => add::run(&mut io),
        OpKind::Maximum | OpKind::Minimum => max_min::run(&mut io),
        OpKind::AveragePool2d | OpKind::MaxPool2d => pool::run(&mut io),
        OpKind::Reshape => reshape::run(&mut io),
        OpKind::Softmax => softmax::run(&mut io),
        OpKind::Quantize | OpKind::Dequantize => quantize::run(&mut io),
        OpKind::Mul => mul::run(&mut io),
        OpKind::Pad => pad::run(&mut io),
        OpKind::Concatenation => concat::run(&mut io),
        OpKind::Lookup => lookup::run(&mut io),
        OpKind::Transpose => transpose::run(&mut io),
        OpKind::Mean => mean::run(&mut io),
        OpKind::Slice => slice::run(&mut io),
        OpKind::ResizeNearest | OpKind::ResizeBilinear => resize::run(&mut io),
        OpKind::Lstm => lstm::run(&mut io),
        OpKind::TransposeConv2d => transpose_conv::run(&mut io),
        OpKind::Gather => gather::run(&mut io),
        OpKind::Prelu => prelu::run(&mut io),
        OpKind::BatchMatMul => batch_matmul::run(&mut io),
        OpKind::Requantize => requantize::run(&mut io),
        OpKind::Svdf => svdf::run(&mut io),
    }
}

/// Read-only arena pieces around an op's output and scratch: `(arena offset, bytes)`.
type Pieces<'a> = [(usize, &'a [u8]); 3];

/// Splits the arena into the output range, the scratch range (possibly empty) and the three
/// read-only pieces around them. `None` if a range is out of bounds or they overlap.
fn carve(
    arena: &mut [u8],
    output: (usize, usize),
    scratch: (usize, usize),
) -> Option<(&mut [u8], &mut [u8], Pieces<'_>)> {
    let len = arena.len();
    let in_bounds = |(start, end): (usize, usize)| start <= end && end <= len;
    if !in_bounds(output) || !in_bounds(scratch) {
        return None;
    }
    let empty_scratch = scratch.0 == scratch.1;
    // An empty scratch sits at the output's end, so the order is always defined.
    let scratch = if empty_scratch {
        (output.1, output.1)
    } else {
        scratch
    };
    let output_first = output.0 <= scratch.0;
    let (first, second) = if output_first {
        (output, scratch)
    } else {
        (scratch, output)
    };
    if first.1 > second.0 {
        return None;
    }
    let (p0, rest) = arena.split_at_mut(first.0);
    let (a, rest) = rest.split_at_mut(first.1 - first.0);
    let (p1, rest) = rest.split_at_mut(second.0 - first.1);
    let (b, p2) = rest.split_at_mut(second.1 - second.0);
    let pieces = [(0, &*p0), (first.1, &*p1), (second.1, &*p2)];
    let (output, scratch) = if output_first { (a, b) } else { (b, a) };
    Some((output, scratch, pieces))
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
            || t.size as usize != dtype.byte_len(len)
        {
            return Err(self.err(what));
        }
        Ok(Some(t))
    }

    /// Input `slot`, required, of one of `dtypes`; with its dtype.
    fn input_of(
        &self,
        slot: usize,
        dtypes: &[DType],
        what: &'static str,
    ) -> Result<(&'m TensorDesc, DType)> {
        let t = self.slot(slot).ok_or(self.err(what))?;
        match DType::from_u8(t.dtype) {
            Some(d) if dtypes.contains(&d) => Ok((t, d)),
            _ => Err(self.err(what)),
        }
    }

    /// The output, of one of `dtypes`; with its dtype.
    fn output_of(&self, dtypes: &[DType], what: &'static str) -> Result<(&'m TensorDesc, DType)> {
        let t = self.model.tensor(self.op.output).ok_or(self.err(what))?;
        match DType::from_u8(t.dtype) {
            Some(d) if dtypes.contains(&d) => Ok((t, d)),
            _ => Err(self.err(what)),
        }
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

    /// The op's planned scratch must hold at least `bytes`.
    fn scratch_at_least(&self, bytes: usize) -> Result<()> {
        if (self.op.scratch_size as usize) < bytes {
            return Err(self.err("scratch buffer smaller than the kernel needs"));
        }
        Ok(())
    }

    fn params<P: bytemuck::Pod>(&self) -> P {
        crate::format::read_params(self.op)
    }
}

/// Run-time view of one operator: its inputs, its output and scratch bytes, borrowed
/// separately, and the ISA its kernels run on.
pub(crate) struct Io<'a, 'm> {
    inputs: Inputs<'a, 'm>,
    output: &'a mut [u8],
    scratch: &'a mut [u8],
    isa: Isa,
}

/// An operator's inputs: constants, or arena bytes outside its output and scratch.
pub(crate) struct Inputs<'a, 'm> {
    check: Check<'a, 'm>,
    pieces: Pieces<'a>,
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
        let (start, size) = (t.offset as usize, t.size as usize);
        self.pieces
            .iter()
            .find_map(|&(base, piece)| {
                piece
                    .get(start.checked_sub(base)?..)
                    .and_then(|p| p.get(..size))
            })
            .ok_or(self.check.err("input overlaps the output or scratch"))
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

    fn dtype(&self, slot: usize) -> Result<DType> {
        self.check
            .slot(slot)
            .and_then(|t| DType::from_u8(t.dtype))
            .ok_or(self.check.err("missing input"))
    }

    /// Input `slot` as int8 or 4-bit elements (validated to be one of them).
    fn values(&self, slot: usize) -> Result<Values<'_>> {
        Values::of(self.dtype(slot)?, self.input_bytes(slot)?)
            .ok_or(self.check.err("input is not int8 or 4-bit"))
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

/// The int8 input (slot 0) and output of a data-movement op, of one rank.
fn int8_same_rank<'m>(c: &Check<'_, 'm>) -> Result<(&'m TensorDesc, &'m TensorDesc)> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    if x.rank != y.rank {
        return Err(c.err("input and output ranks differ"));
    }
    Ok((x, y))
}

/// Two operands (slots 0 and 1) and the output of an element-wise op, each int8 or uint4;
/// with their types.
fn binary_acts<'m>(c: &Check<'_, 'm>) -> Result<[(&'m TensorDesc, DType); 3]> {
    Ok([
        c.input_of(0, &ACTS, "inputs must be int8 or uint4")?,
        c.input_of(1, &ACTS, "inputs must be int8 or uint4")?,
        c.output_of(&ACTS, "output must be int8 or uint4")?,
    ])
}

/// Output clamp bounds must be ordered and within the output type.
fn check_clamp_for(check: &Check<'_, '_>, min: i32, max: i32, dtype: DType) -> Result<()> {
    let (lo, hi) = dtype.int_range();
    if min > max || min < lo || max > hi {
        return Err(check.err("activation clamp outside the output type or min > max"));
    }
    Ok(())
}

/// A zero point must be representable in int8.
fn check_zero_point(check: &Check<'_, '_>, zp: i32) -> Result<()> {
    check_zero_point_for(check, zp, DType::I8)
}

/// A zero point must be representable in its tensor's type.
fn check_zero_point_for(check: &Check<'_, '_>, zp: i32, dtype: DType) -> Result<()> {
    let (lo, hi) = dtype.int_range();
    if !(lo..=hi).contains(&zp) {
        return Err(check.err("zero point outside its tensor's type"));
    }
    Ok(())
}

/// Elements of a tensor (the product of its dims).
fn elements(t: &TensorDesc) -> usize {
    t.dims.iter().map(|&d| d as usize).product()
}

/// Activation types: int8, or uint4 (4-bit layers).
const ACTS: [DType; 2] = [DType::I8, DType::U4];
/// Weight types: int8 or int4.
const WEIGHTS: [DType; 2] = [DType::I8, DType::I4];

/// Requantization tables: multipliers are non-negative Q0.31 values (as TFLite's
/// `QuantizeMultiplier` makes them; the SIMD kernels rely on it), shifts within -31..=30.
fn check_requant_tables(check: &Check<'_, '_>, multipliers: &[i32], shifts: &[i32]) -> Result<()> {
    if multipliers.iter().any(|&m| m < 0) {
        return Err(check.err("negative requantization multiplier"));
    }
    if shifts.iter().any(|s| !(-31..=30).contains(s)) {
        return Err(check.err("requantization shift outside -31..=30"));
    }
    Ok(())
}

/// The inputs' strides over the output: each input axis (right-aligned) equals the
/// output's or is 1, and no input has a higher rank than the output.
pub(super) fn broadcast(
    c: &Check<'_, '_>,
    a: &TensorDesc,
    b: &TensorDesc,
    out: &TensorDesc,
) -> Result<Broadcast> {
    let dims = aligned_dims(out);
    let strides = |t: &TensorDesc| -> Result<[usize; 4]> {
        let d = aligned_dims(t);
        if t.rank > out.rank {
            return Err(c.err("an input has a higher rank than the output"));
        }
        let mut strides = [0; 4];
        let mut step = 1;
        for axis in (0..4).rev() {
            if d[axis] == dims[axis] {
                strides[axis] = if d[axis] == 1 { 0 } else { step };
            } else if d[axis] != 1 {
                return Err(c.err("input shapes do not broadcast to the output's"));
            }
            step *= d[axis];
        }
        Ok(strides)
    };
    Ok(Broadcast {
        dims,
        a: strides(a)?,
        b: strides(b)?,
    })
}

/// A tensor's dims right-aligned to four axes (`[H, W]` is `[1, 1, H, W]`): the last axis
/// is the contiguous one whatever the rank.
fn aligned_dims(t: &TensorDesc) -> [usize; 4] {
    let rank = usize::from(t.rank).min(4);
    let mut out = [1; 4];
    out[4 - rank..].copy_from_slice(&dims(t)[..rank]);
    out
}

fn dims(t: &TensorDesc) -> [usize; 4] {
    t.dims.map(|d| d as usize)
}
