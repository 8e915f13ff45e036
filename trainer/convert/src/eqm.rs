//! Writing `.eqm` files: a graph builder, the arena planner, and the serializer.
//!
//! Importers and the exporter describe a graph with [`ModelBuilder`]; [`ModelBuilder::finish`]
//! plans the arena and lays the file out with the record types of `edgeq_runtime::format`,
//! so writer and reader share one definition of the format.

use anyhow::{bail, ensure, Context, Result};
use edgeq_runtime::format::*;

/// A tensor as the builder sees it.
#[derive(Clone, Debug)]
pub struct TensorSpec {
    /// Name (kept in the file's NAMES section for inspection).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape (rank 0..=4); activations NHWC.
    pub dims: Vec<usize>,
    /// Per-tensor scale (0 for float or unquantized tensors).
    pub scale: f32,
    /// Per-tensor zero point.
    pub zero_point: i32,
    /// Constant contents (little-endian), or `None` for an activation in the arena.
    pub data: Option<Vec<u8>>,
}

impl TensorSpec {
    /// An activation (arena) tensor.
    pub fn activation(
        name: &str,
        dtype: DType,
        dims: &[usize],
        scale: f32,
        zero_point: i32,
    ) -> Self {
        Self {
            name: name.to_string(),
            dtype,
            dims: dims.to_vec(),
            scale,
            zero_point,
            data: None,
        }
    }

    /// A constant int8 tensor.
    pub fn const_i8(name: &str, dims: &[usize], values: &[i8]) -> Self {
        Self {
            name: name.to_string(),
            dtype: DType::I8,
            dims: dims.to_vec(),
            scale: 0.0,
            zero_point: 0,
            data: Some(bytemuck::cast_slice(values).to_vec()),
        }
    }

    /// A constant 4-bit tensor (`DType::I4` or `DType::U4`), packed two values per byte in
    /// the plain order (element `i` in byte `i / 2`, low nibble first).
    pub fn const_4bit(name: &str, dtype: DType, dims: &[usize], values: &[i8]) -> Self {
        let mut data = vec![0u8; values.len().div_ceil(2)];
        for (i, &v) in values.iter().enumerate() {
            edgeq_runtime::kernels::int4::set_nibble(&mut data, i, v as u8);
        }
        Self {
            name: name.to_string(),
            dtype,
            dims: dims.to_vec(),
            scale: 0.0,
            zero_point: 0,
            data: Some(data),
        }
    }

    /// The values of a constant int8 or 4-bit tensor (plain order), as int8.
    pub fn int_values(&self) -> Option<Vec<i8>> {
        let data = self.data.as_deref()?;
        let values = edgeq_runtime::kernels::int4::Values::of(self.dtype, data)?;
        Some(
            (0..self.elements())
                .map(|i| edgeq_runtime::kernels::int4::Elems::at(&values, i) as i8)
                .collect(),
        )
    }

    /// A constant int32 vector.
    pub fn const_i32(name: &str, values: &[i32]) -> Self {
        Self {
            name: name.to_string(),
            dtype: DType::I32,
            dims: vec![values.len()],
            scale: 0.0,
            zero_point: 0,
            data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        }
    }

    fn elements(&self) -> usize {
        self.dims.iter().product()
    }

    fn bytes(&self) -> usize {
        self.dtype.byte_len(self.elements())
    }
}

/// An operator as the builder sees it.
#[derive(Clone, Debug)]
pub struct OpSpec {
    /// Kind.
    pub kind: OpKind,
    /// Input tensors (`None` for an optional input left out).
    pub inputs: Vec<Option<usize>>,
    /// Output tensor.
    pub output: usize,
    /// Parameters (see `edgeq_runtime::format::write_params`).
    pub params: [u8; OP_PARAMS_BYTES],
    /// Scratch bytes the operator needs while it runs.
    pub scratch: usize,
}

/// Builds a model graph, then writes it as `.eqm` bytes.
#[derive(Default, Debug)]
pub struct ModelBuilder {
    pub(crate) tensors: Vec<TensorSpec>,
    pub(crate) ops: Vec<OpSpec>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

/// Where the planner put a buffer, and for which operator steps it is live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Arena offset.
    pub offset: usize,
    /// First live step.
    pub from: usize,
    /// Last live step.
    pub to: usize,
}

impl ModelBuilder {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tensor; returns its index.
    pub fn add_tensor(&mut self, t: TensorSpec) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    /// Adds an operator (execution order is insertion order).
    pub fn add_op(
        &mut self,
        kind: OpKind,
        inputs: &[Option<usize>],
        output: usize,
        params: [u8; OP_PARAMS_BYTES],
    ) {
        self.ops.push(OpSpec {
            kind,
            inputs: inputs.to_vec(),
            output,
            params,
            scratch: 0,
        });
    }

    /// Declares the model inputs and outputs.
    pub fn set_io(&mut self, inputs: &[usize], outputs: &[usize]) {
        self.inputs = inputs.to_vec();
        self.outputs = outputs.to_vec();
    }

    /// Makes every operator's output a model output too (in execution order, after the
    /// declared outputs), so tests and debugging can read each intermediate. The planner then
    /// keeps them all live to the end.
    pub fn expose_activations(&mut self) {
        for op in &self.ops {
            if !self.outputs.contains(&op.output) {
                self.outputs.push(op.output);
            }
        }
    }

    /// Removes constant tensors no operator reads (e.g. weights replaced by their packed
    /// form) and renumbers the rest.
    pub fn drop_unused_constants(&mut self) {
        let mut used = vec![false; self.tensors.len()];
        for op in &self.ops {
            for t in op.inputs.iter().flatten().chain([&op.output]) {
                used[*t] = true;
            }
        }
        for &t in self.inputs.iter().chain(&self.outputs) {
            used[t] = true;
        }
        let mut new_index = vec![usize::MAX; self.tensors.len()];
        let mut kept = Vec::with_capacity(self.tensors.len());
        for (i, t) in std::mem::take(&mut self.tensors).into_iter().enumerate() {
            if used[i] || t.data.is_none() {
                new_index[i] = kept.len();
                kept.push(t);
            }
        }
        self.tensors = kept;
        for op in &mut self.ops {
            for t in op.inputs.iter_mut().flatten().chain([&mut op.output]) {
                *t = new_index[*t];
            }
        }
        for t in self.inputs.iter_mut().chain(&mut self.outputs) {
            *t = new_index[*t];
        }
    }

    /// The tensors added so far.
    pub fn tensor(&self, i: usize) -> &TensorSpec {
        &self.tensors[i]
    }

    /// Lifetimes of arena buffers in operator steps: tensors first, then op scratch.
    /// Returns `(size, from, to)` per buffer, `None` for constants and unused tensors.
    fn lifetimes(&self) -> Vec<Option<(usize, usize, usize)>> {
        let n_ops = self.ops.len();
        let mut from = vec![None; self.tensors.len()];
        let mut to = vec![None; self.tensors.len()];
        for &t in &self.inputs {
            from[t] = Some(0);
            to[t] = Some(0);
        }
        for (i, op) in self.ops.iter().enumerate() {
            for t in op.inputs.iter().flatten() {
                to[*t] = Some(i.max(to[*t].unwrap_or(0)));
            }
            from[op.output] = Some(i);
            to[op.output] = Some(i.max(to[op.output].unwrap_or(0)));
        }
        for &t in &self.outputs {
            to[t] = Some(n_ops);
        }
        let mut out: Vec<_> = self
            .tensors
            .iter()
            .enumerate()
            .map(|(t, spec)| match (spec.data.is_none(), from[t], to[t]) {
                (true, Some(f), Some(e)) => Some((spec.bytes(), f, e)),
                _ => None,
            })
            .collect();
        out.extend(self.ops.iter().enumerate().map(|(i, op)| {
            // A stateful op's scratch is its state, kept across invokes: live at
            // every step (the rule the loader checks).
            let (from, to) = if op.kind.keeps_state() {
                (0, n_ops)
            } else {
                (i, i)
            };
            (op.scratch > 0).then_some((op.scratch, from, to))
        }));
        out
    }

    /// RESHAPE outputs that take their input's bytes (a view, no copy): those whose input is
    /// an activation the RESHAPE reads last. `alias[y] = Some(x)`, `x` the root of a chain.
    fn reshape_aliases(&self, lives: &[Option<(usize, usize, usize)>]) -> Vec<Option<usize>> {
        let mut alias = vec![None; self.tensors.len()];
        for (i, op) in self.ops.iter().enumerate() {
            let Some(Some(x)) = op.inputs.first().copied() else {
                continue;
            };
            let last_read_here = lives[x].is_some_and(|(_, _, to)| to == i);
            if op.kind == OpKind::Reshape && last_read_here && lives[op.output].is_some() {
                alias[op.output] = Some(alias[x].unwrap_or(x));
            }
        }
        alias
    }

    /// Greedy-by-size arena plan (TFLite Micro's strategy): largest buffers first, each at the
    /// lowest 16-byte aligned offset that no buffer live at the same time occupies. A
    /// RESHAPE's output shares its input's bytes where the RESHAPE is the input's last
    /// reader (the runtime then copies nothing).
    /// Returns the placements (tensors, then op scratch) and the arena size.
    pub fn plan(&self) -> (Vec<Option<Placement>>, usize) {
        let own = self.lifetimes();
        let alias = self.reshape_aliases(&own);
        // A chain of views is planned as one buffer, live until its last view is.
        let mut lives = own.clone();
        for (y, root) in alias.iter().enumerate() {
            if let (Some(x), Some((_, _, to))) = (*root, own[y]) {
                lives[y] = None;
                if let Some(l) = lives[x].as_mut() {
                    l.2 = l.2.max(to);
                }
            }
        }
        let mut order: Vec<usize> = (0..lives.len()).filter(|&i| lives[i].is_some()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(lives[i].map_or(0, |l| l.0)), i));
        let mut placed: Vec<Option<Placement>> = vec![None; lives.len()];
        let mut arena = 0usize;
        let align = |x: usize| x.div_ceil(ALIGN) * ALIGN;
        for &i in &order {
            let (size, from, to) = lives[i].expect("filtered");
            // Conflicting intervals, sorted by offset; first-fit into the gaps.
            let mut busy: Vec<(usize, usize)> = order
                .iter()
                .filter_map(|&j| {
                    let p = placed[j]?;
                    let (s, f, e) = lives[j]?;
                    (f <= to && from <= e).then_some((p.offset, p.offset + s))
                })
                .collect();
            busy.sort_unstable();
            let mut offset = 0;
            for (start, end) in busy {
                if offset + size <= start {
                    break;
                }
                offset = offset.max(align(end));
            }
            placed[i] = Some(Placement { offset, from, to });
            arena = arena.max(align(offset + size));
        }
        // Each tensor states its own lifetime; views take their root's offset.
        for (t, life) in own.iter().enumerate().take(self.tensors.len()) {
            let Some((_, from, to)) = *life else { continue };
            let root = alias[t].unwrap_or(t);
            if let Some(p) = placed[root] {
                placed[t] = Some(Placement {
                    offset: p.offset,
                    from,
                    to,
                });
            }
        }
        (placed, arena)
    }

    /// Plans the arena and serializes the model.
    pub fn finish(&self) -> Result<Vec<u8>> {
        ensure!(
            !self.inputs.is_empty() && !self.outputs.is_empty(),
            "model has no inputs or outputs"
        );
        ensure!(
            self.tensors.len() <= MAX_TENSORS,
            "more than {MAX_TENSORS} tensors"
        );
        ensure!(self.ops.len() <= MAX_OPS, "more than {MAX_OPS} operators");
        let (placements, arena_size) = self.plan();
        let align = |v: &mut Vec<u8>| v.resize(v.len().div_ceil(ALIGN) * ALIGN, 0);

        let mut consts = Vec::new();
        let mut tensors = Vec::with_capacity(self.tensors.len());
        for (i, t) in self.tensors.iter().enumerate() {
            ensure!(
                t.dims.len() <= MAX_RANK,
                "tensor {i} '{}' has rank {}",
                t.name,
                t.dims.len()
            );
            let mut dims = [1u32; 4];
            for (d, &v) in dims.iter_mut().zip(&t.dims) {
                *d = u32::try_from(v).context("dimension too large")?;
            }
            let (storage, offset, live_from, live_to) = match (&t.data, placements[i]) {
                (Some(data), _) => {
                    ensure!(
                        data.len() == t.bytes(),
                        "tensor {i} '{}': data size mismatch",
                        t.name
                    );
                    align(&mut consts);
                    let offset = consts.len();
                    consts.extend_from_slice(data);
                    (Storage::Const, offset, 0, 0)
                }
                (None, Some(p)) => (Storage::Arena, p.offset, p.from, p.to),
                // An activation nothing reads or writes has no place in the plan: refuse it.
                (None, None) => bail!("tensor {i} '{}' is neither constant nor used", t.name),
            };
            tensors.push(TensorDesc {
                dtype: t.dtype as u8,
                rank: t.dims.len() as u8,
                storage: storage as u8,
                reserved0: 0,
                dims,
                offset: offset as u32,
                size: t.bytes() as u32,
                scale: t.scale,
                zero_point: t.zero_point,
                reserved1: 0,
                live_from: live_from as u32,
                live_to: live_to as u32,
            });
        }
        align(&mut consts);

        let n_tensors = self.tensors.len();
        let ops: Vec<OpDesc> = self
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                ensure!(
                    op.inputs.len() <= MAX_OP_INPUTS,
                    "operator {i} has too many inputs"
                );
                let mut inputs = [NO_TENSOR; MAX_OP_INPUTS];
                for (slot, t) in inputs.iter_mut().zip(&op.inputs) {
                    *slot = t.map_or(NO_TENSOR, |t| t as u16);
                }
                let scratch = placements[n_tensors + i];
                Ok(OpDesc {
                    kind: op.kind as u16,
                    input_count: op.inputs.len() as u8,
                    reserved0: 0,
                    inputs,
                    output: op.output as u16,
                    scratch_offset: scratch.map_or(0, |p| p.offset as u32),
                    scratch_size: op.scratch as u32,
                    params: op.params,
                })
            })
            .collect::<Result<_>>()?;

        let mut io = bytemuck::bytes_of(&IoList {
            inputs: self.inputs.len() as u32,
            outputs: self.outputs.len() as u32,
        })
        .to_vec();
        for &t in self.inputs.iter().chain(&self.outputs) {
            io.extend_from_slice(&(t as u16).to_le_bytes());
        }

        let mut names_offsets = vec![0u32];
        let mut names_text = Vec::new();
        for t in &self.tensors {
            names_text.extend_from_slice(t.name.as_bytes());
            names_offsets.push(names_text.len() as u32);
        }
        let mut names = bytemuck::cast_slice::<u32, u8>(&names_offsets).to_vec();
        names.extend_from_slice(&names_text);

        let sections: [(SectionKind, &[u8]); 5] = [
            (SectionKind::Tensors, bytemuck::cast_slice(&tensors)),
            (SectionKind::Ops, bytemuck::cast_slice(&ops)),
            (SectionKind::Io, &io),
            (SectionKind::Names, &names),
            (SectionKind::Const, &consts),
        ];
        let table_end = 32 + 16 * sections.len();
        let mut file = vec![0u8; table_end];
        let mut entries = Vec::new();
        for (kind, data) in sections {
            align(&mut file);
            entries.push(SectionEntry {
                kind: kind as u32,
                offset: file.len() as u32,
                size: data.len() as u32,
                reserved: 0,
            });
            file.extend_from_slice(data);
        }
        align(&mut file);
        let header = Header {
            magic: MAGIC,
            version: FORMAT_VERSION,
            section_count: sections.len() as u32,
            arena_size: arena_size as u32,
            file_size: file.len() as u32,
            reserved: [0; 2],
        };
        file[..32].copy_from_slice(bytemuck::bytes_of(&header));
        file[32..table_end].copy_from_slice(bytemuck::cast_slice(&entries));
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` int8 activations of 100 values.
    fn activations(m: &mut ModelBuilder, n: usize) -> Vec<usize> {
        (0..n)
            .map(|i| {
                m.add_tensor(TensorSpec::activation(
                    &format!("t{i}"),
                    DType::I8,
                    &[100],
                    1.0,
                    0,
                ))
            })
            .collect()
    }

    /// A chain a -> b -> c -> d of copies (PAD by nothing): b and d may share bytes, c may not
    /// share with b.
    #[test]
    fn planner_reuses_memory_of_dead_buffers() {
        let mut m = ModelBuilder::new();
        let t = activations(&mut m, 4);
        for w in t.windows(2) {
            let copy = write_params(&PadParams::default());
            m.add_op(OpKind::Pad, &[Some(w[0])], w[1], copy);
        }
        m.set_io(&[t[0]], &[t[3]]);
        let (p, arena) = m.plan();
        assert_eq!(arena, 2 * 112, "two live buffers of 100 bytes, 16-aligned");
        let off = |i: usize| p[t[i]].unwrap().offset;
        assert_ne!(off(0), off(1));
        assert_ne!(off(1), off(2));
        assert_ne!(off(2), off(3));
        // And the runtime accepts the plan.
        let bytes = edgeq_runtime::ModelBytes::copy_from(&m.finish().unwrap());
        let model = edgeq_runtime::Model::from_bytes(bytes.bytes()).unwrap();
        assert_eq!(model.arena_size(), 224);
    }

    /// A chain of RESHAPEs, each the last reader of its input, is one buffer; the runtime
    /// accepts the views and the output is the input's bytes.
    #[test]
    fn reshapes_are_views_of_their_input() {
        let mut m = ModelBuilder::new();
        let t = activations(&mut m, 4);
        for w in t.windows(2) {
            m.add_op(OpKind::Reshape, &[Some(w[0])], w[1], [0; OP_PARAMS_BYTES]);
        }
        m.set_io(&[t[0]], &[t[3]]);
        let (p, arena) = m.plan();
        assert_eq!(arena, 112, "one buffer");
        assert!(t
            .iter()
            .all(|&i| p[i].unwrap().offset == p[t[0]].unwrap().offset));
        let bytes = edgeq_runtime::ModelBytes::copy_from(&m.finish().unwrap());
        let model = edgeq_runtime::Model::from_bytes(bytes.bytes()).unwrap();
        let mut arena = vec![0u8; model.arena_size()];
        let mut interp = edgeq_runtime::Interpreter::new(&model, &mut arena).unwrap();
        let x: Vec<i8> = (0..100).map(|i| i as i8 - 50).collect();
        interp.input_i8_mut(0).unwrap().copy_from_slice(&x);
        interp.invoke().unwrap();
        assert_eq!(interp.output_i8(0).unwrap(), &x[..]);
    }

    /// A RESHAPE whose input is read again later copies into a buffer of its own.
    #[test]
    fn reshape_of_a_tensor_read_later_is_a_copy() {
        let mut m = ModelBuilder::new();
        let t = activations(&mut m, 3);
        m.add_op(OpKind::Reshape, &[Some(t[0])], t[1], [0; OP_PARAMS_BYTES]);
        let params = crate::emit::add_params((1.0, 0), (1.0, 0), (2.0, 0), (-128, 127));
        m.add_op(
            OpKind::Add,
            &[Some(t[0]), Some(t[1])],
            t[2],
            write_params(&params),
        );
        m.set_io(&[t[0]], &[t[2]]);
        let (p, _) = m.plan();
        assert_ne!(p[t[0]].unwrap().offset, p[t[1]].unwrap().offset);
        let file = m.finish().unwrap();
        let bytes = edgeq_runtime::ModelBytes::copy_from(&file);
        assert!(edgeq_runtime::Model::from_bytes(bytes.bytes()).is_ok());
        // Claimed as a view anyway (the copy placed on its input), the loader refuses it.
        let mut forged = file.clone();
        let entry =
            |i: usize| bytemuck::pod_read_unaligned::<SectionEntry>(&file[32 + 16 * i..][..16]);
        let tensors = (0..5)
            .map(entry)
            .find(|e| e.kind == SectionKind::Tensors as u32)
            .unwrap();
        let offset_field = |t: usize| tensors.offset as usize + 48 * t + 20;
        let input_offset = file[offset_field(t[0])..][..4].to_vec();
        forged[offset_field(t[1])..][..4].copy_from_slice(&input_offset);
        let forged = edgeq_runtime::ModelBytes::copy_from(&forged);
        let err = edgeq_runtime::Model::from_bytes(forged.bytes())
            .err()
            .unwrap();
        assert!(err.to_string().contains("overlap"), "{err}");
    }
}
