//! Re-check of the static arena plan written by the exporter.
//!
//! The exporter decides where every activation and scratch buffer lives and for which operator
//! steps it is live (`TensorDesc::live_from..=live_to`); the loader does not trust it. It
//! checks that the stated lifetimes cover the real data flow (each activation written by one
//! operator, read only after it is written and while it is live) and that no two buffers live
//! at the same step share a byte, except a RESHAPE's output that is a view of its input (see
//! [`is_view`]). A stateful operator's scratch (see [`holds_state`]) counts as live at every
//! step. No memory beyond the stack frame is needed.

use crate::error::{Error, Result};
use crate::format::{OpDesc, OpKind, Storage, TensorDesc, NO_TENSOR};
use crate::model::Model;

#[derive(Clone, Copy)]
struct Live {
    from: usize,
    to: usize,
    offset: usize,
    size: usize,
}

fn is_arena(t: &TensorDesc) -> bool {
    t.storage == Storage::Arena as u8
}

/// Whether tensor `y` is a view of tensor `x`: the output of a RESHAPE that reads `x` last,
/// at `x`'s offset with its size. The two are then the same bytes (the RESHAPE copies
/// nothing), live together only at that RESHAPE's step.
pub(crate) fn is_view(model: &Model<'_>, x: usize, y: usize) -> bool {
    let (Some(xd), Some(yd)) = (model.tensors.get(x), model.tensors.get(y)) else {
        return false;
    };
    let step = yd.live_from as usize;
    model.ops.get(step).is_some_and(|op| {
        op.kind == OpKind::Reshape as u16
            && op.input_count >= 1
            && usize::from(op.inputs[0]) == x
            && usize::from(op.output) == y
            && is_arena(xd)
            && is_arena(yd)
            && xd.offset == yd.offset
            && xd.size == yd.size
            && xd.live_to as usize == step
    })
}

/// Whether `op`'s scratch holds state kept from one `invoke` to the next
/// ([`OpKind::keeps_state`]).
pub(crate) fn holds_state(op: &OpDesc) -> bool {
    OpKind::from_u16(op.kind).is_some_and(OpKind::keeps_state)
}

pub(crate) fn check(model: &Model<'_>) -> Result<()> {
    let n_ops = model.ops.len();
    let is_model_input = |t: u16| model.inputs.contains(&t);
    for &t in model.inputs {
        let d = &model.tensors[usize::from(t)];
        if d.live_from != 0 {
            return Err(Error::Invalid {
                what: "model input must be live from step 0",
                index: u32::from(t),
            });
        }
    }
    for &t in model.outputs {
        if (model.tensors[usize::from(t)].live_to as usize) < n_ops {
            return Err(Error::Invalid {
                what: "model output must be live to the end",
                index: u32::from(t),
            });
        }
    }
    for (i, op) in model.ops.iter().enumerate() {
        let bad = |what| Error::Invalid {
            what,
            index: i as u32,
        };
        for &t in &op.inputs[..usize::from(op.input_count)] {
            if t == NO_TENSOR || !is_arena(&model.tensors[usize::from(t)]) {
                continue;
            }
            let d = &model.tensors[usize::from(t)];
            let from = d.live_from as usize;
            let written_before = from < i && model.ops.get(from).is_some_and(|w| w.output == t);
            if !(written_before || (d.live_from == 0 && is_model_input(t))) {
                return Err(bad("operator reads an activation before it is written"));
            }
            if (d.live_to as usize) < i {
                return Err(bad("operator reads an activation after its lifetime"));
            }
        }
        let out = &model.tensors[usize::from(op.output)];
        if out.live_from as usize != i || is_model_input(op.output) {
            return Err(bad("activation lifetime does not start at its writer"));
        }
        if out.live_to < out.live_from {
            return Err(bad("activation lifetime ends before it starts"));
        }
        if op.scratch_size != 0 {
            let end = (op.scratch_offset as usize).checked_add(op.scratch_size as usize);
            if end.is_none_or(|e| e > model.arena_size()) {
                return Err(bad("operator scratch outside the arena"));
            }
        }
    }
    // A model output not written by any operator must be a model input.
    for &t in model.outputs {
        let written = model.ops.iter().any(|op| op.output == t);
        if !written && !is_model_input(t) {
            return Err(Error::Invalid {
                what: "model output never written",
                index: u32::from(t),
            });
        }
    }

    // Buffers: arena tensors 0..T, then each operator's scratch.
    let n_tensors = model.tensors.len();
    let buffer = |k: usize| -> Option<Live> {
        if k < n_tensors {
            let d = &model.tensors[k];
            is_arena(d).then_some(Live {
                from: d.live_from as usize,
                to: d.live_to as usize,
                offset: d.offset as usize,
                size: d.size as usize,
            })
        } else {
            let i = k - n_tensors;
            let op = &model.ops[i];
            // A stateful op's scratch is its state: no other buffer may ever share it.
            let (from, to) = if holds_state(op) { (0, n_ops) } else { (i, i) };
            (op.scratch_size != 0).then_some(Live {
                from,
                to,
                offset: op.scratch_offset as usize,
                size: op.scratch_size as usize,
            })
        }
    };
    let n = n_tensors + n_ops;
    for i in 0..n {
        let Some(a) = buffer(i) else { continue };
        for j in i + 1..n {
            let Some(b) = buffer(j) else { continue };
            let live_together = a.from <= b.to && b.from <= a.to;
            let share_bytes = a.offset < b.offset + b.size && b.offset < a.offset + a.size;
            let view = j < n_tensors && (is_view(model, i, j) || is_view(model, j, i));
            if live_together && share_bytes && !view {
                return Err(Error::Invalid {
                    what: "arena plan: two buffers live at the same step overlap",
                    index: i as u32,
                });
            }
        }
    }
    Ok(())
}
