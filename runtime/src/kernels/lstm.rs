//! The integer LSTM of TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM ("8x8->16": int8 input, weights
//! and hidden state, int16 gates and cell state), without peepholes, layer normalization,
//! projection or CIFG. Scalar only: sequence models are small, and no profile has asked for
//! SIMD yet.
//!
//! Per batch and time step, each gate `g` (input, forget, cell, output) is
//! `act(sat16(rq(bx + Wx·x, mx) + rq(bh + Wh·h, mh)))` with its effective biases `b` (the
//! bias and the zero points' products folded in at import) and requantizations `rq` to the
//! gates' Q3.12; `act` is gemmlowp's 16-bit logistic, or tanh for the cell gate. Then
//! `c = f·c / 2^15 + i·g / 2^(30 + cell_shift)` (saturating, clipped) and
//! `h = rq(o · tanh(c), hidden) + hidden_zero_point`, which is also the step's output.

use crate::quant::{fixed16, multiply_by_quantized_multiplier, rounding_divide_by_pot};

/// Sizes of one LSTM: `batches` sequences of `steps` vectors of `inputs` values, `cells`
/// units (also the output width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmShape {
    /// Sequences.
    pub batches: usize,
    /// Time steps per sequence.
    pub steps: usize,
    /// Values per input vector.
    pub inputs: usize,
    /// Units: gate rows, cell state and output width.
    pub cells: usize,
    /// Input and output are `[steps, batches, ...]` (else `[batches, steps, ...]`).
    pub time_major: bool,
}

/// The folded constants of an integer LSTM (computed by the importer as TFLite's Prepare).
#[derive(Clone, Copy, Debug)]
pub struct LstmQuant<'a> {
    /// Effective biases, `[8, cells]`: input side for the input, forget, cell and output
    /// gates, then the recurrent side in the same order.
    pub biases: &'a [i32],
    /// Multipliers and shifts of the eight products, in the order of `biases`.
    pub multipliers: &'a [i32],
    /// Shifts matching `multipliers`.
    pub shifts: &'a [i32],
    /// `o · tanh(c)` to the hidden state's scale.
    pub hidden_multiplier: i32,
    /// Shift matching `hidden_multiplier`.
    pub hidden_shift: i32,
    /// Zero point of the hidden (output) state.
    pub hidden_zero_point: i32,
    /// log2 of the cell state's scale (`-15..=-9`).
    pub cell_shift: i32,
    /// Cell state clip, 0 for none.
    pub cell_clip: i16,
}

/// Bytes of scratch an LSTM op needs: the int8 hidden state, then (after at most one byte
/// of alignment) the int16 cell state and the four int16 gates.
pub fn scratch_len(batches: usize, cells: usize) -> usize {
    batches * cells + 1 + 2 * (batches * cells + 4 * cells)
}

/// The recurrent state and gate buffers of one LSTM, borrowed from the op's scratch.
pub struct LstmState<'a> {
    /// Hidden state, `[batches, cells]`.
    pub hidden: &'a mut [i8],
    /// Cell state, `[batches, cells]`.
    pub cell: &'a mut [i16],
    /// The four gates of one step, `[4, cells]`.
    pub gates: &'a mut [i16],
}

/// Runs the whole sequence from the state given. `input_weights` is `[4, cells, inputs]`,
/// `recurrent_weights` `[4, cells, cells]` (gates in the order input, forget, cell, output);
/// `output` receives each step's hidden state. Slices have the sizes `shape` implies
/// (checked at load); a short one ends the run early rather than panicking.
pub fn lstm(
    shape: &LstmShape,
    q: &LstmQuant<'_>,
    input: &[i8],
    input_weights: &[i8],
    recurrent_weights: &[i8],
    state: LstmState<'_>,
    output: &mut [i8],
) {
    let (n, c) = (shape.inputs, shape.cells);
    if n == 0 || c == 0 {
        return;
    }
    let LstmState {
        hidden,
        cell,
        gates,
    } = state;
    for b in 0..shape.batches {
        let (Some(h), Some(cs)) = (
            hidden.get_mut(b * c..(b + 1) * c),
            cell.get_mut(b * c..(b + 1) * c),
        ) else {
            return;
        };
        for t in 0..shape.steps {
            let row = if shape.time_major {
                t * shape.batches + b
            } else {
                b * shape.steps + t
            };
            let Some(x) = input.get(row * n..(row + 1) * n) else {
                return;
            };
            for (g, gate) in gates.chunks_exact_mut(c).take(4).enumerate() {
                let side = |k: usize, vector: &[i8], weights: &[i8], j: usize| -> i32 {
                    let w = weights
                        .get(((k % 4) * c + j) * vector.len()..)
                        .unwrap_or(&[]);
                    let acc = vector.iter().zip(w).fold(
                        q.biases.get(k * c + j).copied().unwrap_or(0),
                        |acc, (&v, &w)| acc.wrapping_add(i32::from(v) * i32::from(w)),
                    );
                    multiply_by_quantized_multiplier(
                        acc,
                        q.multipliers.get(k).copied().unwrap_or(0),
                        q.shifts.get(k).copied().unwrap_or(0),
                    )
                };
                for (j, out) in gate.iter_mut().enumerate() {
                    // TFLite accumulates each side into the int16 gate, saturating each time.
                    let from_input = side(g, x, input_weights, j).clamp(-32768, 32767);
                    let sum = side(4 + g, h, recurrent_weights, j).wrapping_add(from_input);
                    let pre = sum.clamp(-32768, 32767) as i16;
                    *out = if g == 2 {
                        fixed16::tanh(pre, 3)
                    } else {
                        fixed16::logistic(pre, 3)
                    };
                }
            }
            let (i_gate, rest) = gates.split_at(c);
            let (f_gate, rest) = rest.split_at(c);
            let (g_gate, o_gate) = rest.split_at(c);
            let tanh_bits = (15 + q.cell_shift) as u32;
            let Some(out) = output.get_mut(row * c..(row + 1) * c) else {
                return;
            };
            for j in 0..c {
                let kept = rounding_divide_by_pot(i32::from(f_gate[j]) * i32::from(cs[j]), 15);
                let added = rounding_divide_by_pot(
                    i32::from(i_gate[j]) * i32::from(g_gate[j]),
                    (30 + q.cell_shift) as u32,
                );
                let mut next = (kept as i16).saturating_add(added as i16);
                if q.cell_clip > 0 {
                    next = next.clamp(-q.cell_clip, q.cell_clip);
                }
                cs[j] = next;
                let hidden = multiply_by_quantized_multiplier(
                    i32::from(o_gate[j]) * i32::from(fixed16::tanh(next, tanh_bits)),
                    q.hidden_multiplier,
                    q.hidden_shift,
                ) + q.hidden_zero_point;
                h[j] = hidden.clamp(-128, 127) as i8;
            }
            out.copy_from_slice(h);
        }
    }
}
