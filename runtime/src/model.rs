//! `Model::from_bytes`: parse and validate an `.eqm` file in place.
//!
//! Everything the interpreter relies on is checked here, once: after `from_bytes` returns
//! `Ok`, `invoke` cannot index out of bounds or overflow. Any byte string yields `Ok` or an
//! `Err` that says what is wrong (the property the fuzz target checks).

use crate::error::{Error, Result};
use crate::format::*;
use crate::{ops, plan};

/// A validated model borrowing the file's bytes (weights are used in place).
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    pub(crate) tensors: &'a [TensorDesc],
    pub(crate) ops: &'a [OpDesc],
    pub(crate) consts: &'a [u8],
    pub(crate) inputs: &'a [u16],
    pub(crate) outputs: &'a [u16],
    names: Option<(&'a [u32], &'a [u8])>,
    arena_size: usize,
}

/// Shape, type and quantization of a tensor, as the caller sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Number of dimensions.
    pub rank: usize,
    /// Dimensions; entries past `rank` are 1.
    pub dims: [usize; MAX_RANK],
    /// Quantization scale (`real = scale * (q - zero_point)`); 0 for float tensors.
    pub scale: f32,
    /// Quantization zero point.
    pub zero_point: i32,
    /// Bytes.
    pub size: usize,
}

impl TensorInfo {
    /// The used dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// True for a tensor without elements (never produced by a valid model).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

fn slice<'a>(bytes: &'a [u8], offset: usize, size: usize, what: &'static str) -> Result<&'a [u8]> {
    let end = offset.checked_add(size).ok_or(Error::Truncated {
        what,
        need: usize::MAX,
        have: bytes.len(),
    })?;
    bytes.get(offset..end).ok_or(Error::Truncated {
        what,
        need: end,
        have: bytes.len(),
    })
}

fn records<'a, T: bytemuck::Pod>(bytes: &'a [u8], what: &'static str) -> Result<&'a [T]> {
    if !bytes.len().is_multiple_of(core::mem::size_of::<T>()) {
        return Err(Error::Invalid {
            what,
            index: bytes.len() as u32,
        });
    }
    bytemuck::try_cast_slice(bytes).map_err(|_| Error::Misaligned)
}

impl<'a> Model<'a> {
    /// Parses and validates a model. `bytes` must start at a 16-byte aligned address.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(Error::Misaligned);
        }
        let header: Header = *bytemuck::from_bytes(slice(bytes, 0, 32, "header")?);
        if header.magic != MAGIC {
            return Err(Error::BadMagic);
        }
        if header.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(header.version));
        }
        let file_size = header.file_size as usize;
        let bytes = slice(bytes, 0, file_size, "file (header.file_size)")?;
        let count = header.section_count as usize;
        if count > 64 {
            return Err(Error::Invalid {
                what: "more than 64 sections",
                index: header.section_count,
            });
        }
        let table: &[SectionEntry] = records(
            slice(bytes, 32, count * 16, "section table")?,
            "section table",
        )?;

        let mut found: [Option<&[u8]>; 6] = [None; 6];
        for (i, s) in table.iter().enumerate() {
            if !(s.offset as usize).is_multiple_of(ALIGN) {
                return Err(Error::Invalid {
                    what: "section offset not 16-byte aligned",
                    index: i as u32,
                });
            }
            let data = slice(bytes, s.offset as usize, s.size as usize, "section")?;
            if let Some(kind) = SectionKind::from_u32(s.kind) {
                let slot = &mut found[kind as usize];
                if slot.is_some() {
                    return Err(Error::Invalid {
                        what: "duplicate section",
                        index: i as u32,
                    });
                }
                *slot = Some(data);
            }
        }
        let need = |kind: SectionKind, what: &'static str| {
            found[kind as usize].ok_or(Error::Invalid { what, index: 0 })
        };
        let tensors: &[TensorDesc] = records(
            need(SectionKind::Tensors, "no TENSORS section")?,
            "TENSORS size",
        )?;
        let ops: &[OpDesc] = records(need(SectionKind::Ops, "no OPS section")?, "OPS size")?;
        let consts = need(SectionKind::Const, "no CONST section")?;
        let io = need(SectionKind::Io, "no IO section")?;

        if tensors.len() > MAX_TENSORS {
            return Err(Error::Invalid {
                what: "too many tensors",
                index: tensors.len() as u32,
            });
        }
        if ops.len() > MAX_OPS {
            return Err(Error::Invalid {
                what: "too many operators",
                index: ops.len() as u32,
            });
        }
        let io_list: IoList = bytemuck::pod_read_unaligned(slice(io, 0, 8, "IO section")?);
        let (n_in, n_out) = (io_list.inputs as usize, io_list.outputs as usize);
        if n_in == 0 || n_out == 0 || n_in > MAX_TENSORS || n_out > MAX_TENSORS {
            return Err(Error::Invalid {
                what: "model needs 1 to 4096 inputs and outputs",
                index: 0,
            });
        }
        let indices: &[u16] = records(
            slice(io, 8, (n_in + n_out) * 2, "IO section")?,
            "IO section",
        )?;
        let (inputs, outputs) = indices.split_at(n_in);

        let names = match found[SectionKind::Names as usize] {
            None => None,
            Some(data) => Some(parse_names(data, tensors.len())?),
        };

        let model = Model {
            tensors,
            ops,
            consts,
            inputs,
            outputs,
            names,
            arena_size: header.arena_size as usize,
        };
        model.validate_tensors()?;
        for &t in inputs.iter().chain(outputs) {
            let desc = model.tensor(t).ok_or(Error::Invalid {
                what: "model input/output is not a tensor",
                index: u32::from(t),
            })?;
            if desc.storage != Storage::Arena as u8 {
                return Err(Error::Invalid {
                    what: "model input/output must live in the arena",
                    index: u32::from(t),
                });
            }
        }
        for (i, op) in ops.iter().enumerate() {
            ops::validate(&model, i, op)?;
        }
        plan::check(&model)?;
        Ok(model)
    }

    fn validate_tensors(&self) -> Result<()> {
        for (i, t) in self.tensors.iter().enumerate() {
            let bad = |what| Error::Invalid {
                what,
                index: i as u32,
            };
            let dtype = DType::from_u8(t.dtype).ok_or(bad("unknown dtype"))?;
            let rank = t.rank as usize;
            if rank > MAX_RANK {
                return Err(bad("rank above 4"));
            }
            let mut elements: usize = 1;
            for (d, &dim) in t.dims.iter().enumerate() {
                if d >= rank && dim != 1 {
                    return Err(bad("dimension past the rank is not 1"));
                }
                if dim == 0 || dim > 1 << 24 {
                    return Err(bad("dimension is 0 or above 2^24"));
                }
                elements = elements
                    .checked_mul(dim as usize)
                    .filter(|&e| e <= 1 << 28)
                    .ok_or(bad("tensor above 2^28 elements"))?;
            }
            if dtype.byte_len(elements) != t.size as usize {
                return Err(bad("size is not the product of dims and element size"));
            }
            let end = (t.offset as usize)
                .checked_add(t.size as usize)
                .ok_or(bad("offset overflows"))?;
            match t.storage {
                s if s == Storage::Arena as u8 => {
                    if end > self.arena_size {
                        return Err(bad("arena tensor outside the arena"));
                    }
                }
                s if s == Storage::Const as u8 => {
                    if end > self.consts.len() {
                        return Err(bad("constant tensor outside the CONST section"));
                    }
                    if !(t.offset as usize).is_multiple_of(dtype.align()) {
                        return Err(bad("constant tensor misaligned for its dtype"));
                    }
                }
                _ => return Err(bad("unknown storage")),
            }
        }
        Ok(())
    }

    /// Bytes of arena `Interpreter::new` needs.
    pub fn arena_size(&self) -> usize {
        self.arena_size
    }

    /// Bytes of constant data (weights, biases, requantization tables).
    pub fn const_size(&self) -> usize {
        self.consts.len()
    }

    /// Number of model inputs.
    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    /// Number of model outputs.
    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }

    /// Number of operators.
    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// Model input `i`.
    pub fn input(&self, i: usize) -> Result<TensorInfo> {
        self.io_info(self.inputs, i)
    }

    /// Model output `i`.
    pub fn output(&self, i: usize) -> Result<TensorInfo> {
        self.io_info(self.outputs, i)
    }

    fn io_info(&self, list: &[u16], i: usize) -> Result<TensorInfo> {
        let t = *list.get(i).ok_or(Error::NoSuchTensor {
            index: i,
            count: list.len(),
        })?;
        self.tensor_info(usize::from(t))
    }

    /// Tensor `i` (any tensor, for inspection).
    pub fn tensor_info(&self, i: usize) -> Result<TensorInfo> {
        let t = self.tensors.get(i).ok_or(Error::NoSuchTensor {
            index: i,
            count: self.tensors.len(),
        })?;
        let mut dims = [1usize; MAX_RANK];
        for (d, &v) in dims.iter_mut().zip(&t.dims) {
            *d = v as usize;
        }
        Ok(TensorInfo {
            // Validated in from_bytes.
            dtype: DType::from_u8(t.dtype).unwrap_or(DType::I8),
            rank: t.rank as usize,
            dims,
            scale: t.scale,
            zero_point: t.zero_point,
            size: t.size as usize,
        })
    }

    /// Raw descriptor of tensor `i`.
    pub fn tensor_desc(&self, i: usize) -> Option<&'a TensorDesc> {
        self.tensors.get(i)
    }

    /// Multiply-accumulates of operator `i` per inference (0 for ops that do none): the
    /// figure benchmarks divide by time.
    pub fn op_macs(&self, i: usize) -> u64 {
        use crate::format::{read_params, ConvParams, OpKind, WEIGHT_LAYOUT_PACKED_8X4};
        let Some(op) = self.ops.get(i) else { return 0 };
        let tensor = |slot: usize| op.inputs.get(slot).and_then(|&t| self.tensor(t));
        let (Some(input), Some(weights), Some(output)) =
            (tensor(0), tensor(1), self.tensor(op.output))
        else {
            return 0;
        };
        let out_elems = u64::from(output.size); // int8 outputs: bytes = elements
        let reduction = match OpKind::from_u16(op.kind) {
            Some(OpKind::Conv2d) => {
                let p: ConvParams = read_params(op);
                if p.weight_layout == WEIGHT_LAYOUT_PACKED_8X4 {
                    u64::from(p.kernel_h) * u64::from(p.kernel_w) * u64::from(input.dims[3])
                } else {
                    u64::from(weights.dims[1])
                        * u64::from(weights.dims[2])
                        * u64::from(weights.dims[3])
                }
            }
            Some(OpKind::DepthwiseConv2d) => {
                u64::from(weights.dims[1]) * u64::from(weights.dims[2])
            }
            Some(OpKind::TransposeConv2d) => {
                // Every input value meets every tap of every output channel (some products
                // fall outside the output at the borders).
                let taps = u64::from(weights.dims[0])
                    * u64::from(weights.dims[1])
                    * u64::from(weights.dims[2]);
                return u64::from(input.size) * taps;
            }
            Some(OpKind::Lstm) => {
                // Four gates, each a row of inputs and a row of hidden values per cell.
                let cells = u64::from(output.dims[2]);
                4 * (u64::from(input.dims[2]) + cells)
            }
            Some(OpKind::FullyConnected) => {
                let units = u64::from(output.dims[usize::from(output.rank.max(1)) - 1]);
                let rows = out_elems / units.max(1);
                u64::from(input.size) / rows.max(1)
            }
            _ => 0,
        };
        out_elems * reduction
    }

    /// Raw descriptor of operator `i`.
    pub fn op_desc(&self, i: usize) -> Option<&'a OpDesc> {
        self.ops.get(i)
    }

    /// Index of model input `i` in the tensor table.
    pub fn input_tensor_index(&self, i: usize) -> Option<usize> {
        self.inputs.get(i).map(|&t| usize::from(t))
    }

    /// Index of model output `i` in the tensor table.
    pub fn output_tensor_index(&self, i: usize) -> Option<usize> {
        self.outputs.get(i).map(|&t| usize::from(t))
    }

    /// Name of tensor `i`, if the file carries names.
    pub fn tensor_name(&self, i: usize) -> Option<&'a str> {
        let (offsets, text) = self.names?;
        let start = *offsets.get(i)? as usize;
        let end = *offsets.get(i + 1)? as usize;
        core::str::from_utf8(text.get(start..end)?).ok()
    }

    pub(crate) fn tensor(&self, i: u16) -> Option<&'a TensorDesc> {
        self.tensors.get(usize::from(i))
    }

    /// Constant bytes of a tensor stored in the `CONST` section.
    pub(crate) fn const_bytes(&self, t: &TensorDesc) -> Option<&'a [u8]> {
        if t.storage != Storage::Const as u8 {
            return None;
        }
        self.consts
            .get(t.offset as usize..t.offset as usize + t.size as usize)
    }
}

fn parse_names(data: &[u8], tensors: usize) -> Result<(&[u32], &[u8])> {
    let table_len = (tensors + 1) * 4;
    let offsets: &[u32] = records(slice(data, 0, table_len, "NAMES section")?, "NAMES section")?;
    let text = &data[table_len..];
    let sorted = offsets.windows(2).all(|w| w[0] <= w[1]);
    if !sorted || offsets.last().copied().unwrap_or(0) as usize > text.len() {
        return Err(Error::Invalid {
            what: "NAMES offsets out of order or out of bounds",
            index: 0,
        });
    }
    Ok((offsets, text))
}
