//! The interpreter: runs a validated model in a caller-owned arena.

use crate::error::{Error, Result};
use crate::format::{DType, Storage};
use crate::kernels::Isa;
use crate::model::{Model, TensorInfo};
use crate::ops;

/// Runs a [`Model`] in an arena the caller owns (stack, static, or heap). Nothing allocates.
pub struct Interpreter<'m, 'a> {
    model: &'m Model<'m>,
    arena: &'a mut [u8],
    isa: Isa,
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Binds `model` to `arena`, which must hold at least `model.arena_size()` bytes. The
    /// kernels are the best this CPU runs ([`Isa::detect`]).
    pub fn new(model: &'m Model<'m>, arena: &'a mut [u8]) -> Result<Self> {
        Self::with_isa(model, arena, Isa::detect())
    }

    /// As [`Interpreter::new`], with the kernels of `isa` (e.g. [`Isa::SCALAR`] to compare
    /// against the portable path). Fails if this CPU cannot run `isa`.
    pub fn with_isa(model: &'m Model<'m>, arena: &'a mut [u8], isa: Isa) -> Result<Self> {
        if !isa.is_available() {
            return Err(Error::IsaUnavailable(isa.name()));
        }
        if arena.len() < model.arena_size() {
            return Err(Error::ArenaTooSmall {
                need: model.arena_size(),
                have: arena.len(),
            });
        }
        ops::reset_state(model, arena)?;
        Ok(Self { model, arena, isa })
    }

    /// Starts every recurrent operator (LSTM) on a new sequence: its hidden state at its
    /// zero point, its cell state at 0. State otherwise carries from one `invoke` to the next
    /// (a streaming model feeds one frame per `invoke`), as TFLite's variable tensors do
    /// until `reset_all_variables`. A new interpreter starts reset.
    pub fn reset_state(&mut self) -> Result<()> {
        ops::reset_state(self.model, self.arena)
    }

    /// The instruction set this interpreter's kernels use.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The model this interpreter runs.
    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    /// Runs every operator once. Inputs must have been written, before every call: the
    /// arena planner reuses an input's bytes once no operator needs them, so after `invoke`
    /// the inputs may hold intermediate values (as in TFLite Micro).
    pub fn invoke(&mut self) -> Result<()> {
        for (i, op) in self.model.ops.iter().enumerate() {
            ops::run(self.model, i, op, self.arena, self.isa)?;
        }
        Ok(())
    }

    /// Runs operator `index` alone (for per-operator profiles); `invoke` runs them all.
    pub fn invoke_op(&mut self, index: usize) -> Result<()> {
        let op = self.model.ops.get(index).ok_or(Error::NoSuchOp {
            index,
            count: self.model.ops.len(),
        })?;
        ops::run(self.model, index, op, self.arena, self.isa)
    }

    fn range(&self, info: &TensorInfo, tensor: usize) -> core::ops::Range<usize> {
        let offset = self.model.tensors[tensor].offset as usize;
        offset..offset + info.size
    }

    /// Raw bytes of model input `i` (little-endian elements), for writing.
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8]> {
        let info = self.model.input(i)?;
        let t = usize::from(self.model.inputs[i]);
        let r = self.range(&info, t);
        Ok(&mut self.arena[r])
    }

    /// Raw bytes of model output `i`, after `invoke`.
    pub fn output_bytes(&self, i: usize) -> Result<&[u8]> {
        let info = self.model.output(i)?;
        let t = usize::from(self.model.outputs[i]);
        Ok(&self.arena[self.range(&info, t)])
    }

    /// Bytes of tensor `i` (any tensor; [`Model::tensor_info`] describes them) as they stand:
    /// a constant's stored bytes, or an arena tensor's current contents. An arena tensor holds
    /// its value from the moment the operator writing it has run until the planner gives its
    /// bytes to a later tensor, so read an intermediate right after [`Interpreter::invoke_op`]
    /// of its operator (as `edgeq-bench infer --dump` does).
    pub fn tensor_bytes(&self, i: usize) -> Result<&[u8]> {
        let info = self.model.tensor_info(i)?;
        let desc = &self.model.tensors[i];
        if desc.storage == Storage::Const as u8 {
            // Validated in from_bytes: a constant lies inside the CONST section.
            return self.model.const_bytes(desc).ok_or(Error::Invalid {
                what: "constant tensor",
                index: i as u32,
            });
        }
        Ok(&self.arena[self.range(&info, i)])
    }

    /// Model input `i` as int8.
    pub fn input_i8_mut(&mut self, i: usize) -> Result<&mut [i8]> {
        expect(self.model.input(i)?.dtype, DType::I8)?;
        Ok(bytemuck::cast_slice_mut(self.input_bytes_mut(i)?))
    }

    /// Model output `i` as int8.
    pub fn output_i8(&self, i: usize) -> Result<&[i8]> {
        expect(self.model.output(i)?.dtype, DType::I8)?;
        Ok(bytemuck::cast_slice(self.output_bytes(i)?))
    }

    /// Copies `values` into float input `i` (the arena has no alignment guarantee, so float
    /// tensors are copied rather than borrowed).
    pub fn set_input_f32(&mut self, i: usize, values: &[f32]) -> Result<()> {
        expect(self.model.input(i)?.dtype, DType::F32)?;
        let bytes = self.input_bytes_mut(i)?;
        if bytes.len() != values.len() * 4 {
            return Err(Error::LengthMismatch {
                expected: bytes.len() / 4,
                actual: values.len(),
            });
        }
        for (chunk, v) in bytes.chunks_exact_mut(4).zip(values) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }

    /// Copies float output `i` into `values`.
    pub fn get_output_f32(&self, i: usize, values: &mut [f32]) -> Result<()> {
        expect(self.model.output(i)?.dtype, DType::F32)?;
        let bytes = self.output_bytes(i)?;
        if bytes.len() != values.len() * 4 {
            return Err(Error::LengthMismatch {
                expected: bytes.len() / 4,
                actual: values.len(),
            });
        }
        for (chunk, v) in bytes.chunks_exact(4).zip(values) {
            *v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Ok(())
    }
}

fn expect(actual: DType, expected: DType) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(Error::DTypeMismatch {
            expected: expected.name(),
            actual: actual.name(),
        })
    }
}
