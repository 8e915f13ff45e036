//! TFLite's integer SVDF (`EvalIntegerSVDF`), scalar. Per invoke: the memory (int16
//! `[batch, filters, memory]`) moves one step back, each filter's projection of the input
//! (`M1(Σ wf·(x − zx))`, saturated to int16) enters as its newest value, each filter's
//! memory meets its time weights (`Σ wt·state`), the `rank` filters of a unit are summed,
//! the bias added, and `M2` brings the sum to the int8 output.

use crate::format::SvdfParams;
use crate::quant::multiply_by_quantized_multiplier as mbqm;

/// Sizes of one SVDF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SvdfShape {
    /// Independent sequences.
    pub batches: usize,
    /// Values per input vector.
    pub inputs: usize,
    /// Filters (`units · rank`).
    pub filters: usize,
    /// Output values per batch.
    pub units: usize,
    /// Filters summed per unit.
    pub rank: usize,
    /// Past values each filter keeps.
    pub memory: usize,
}

/// Bytes of scratch an SVDF op needs: its int16 memory, little-endian (kept across invokes).
pub fn scratch_len(s: &SvdfShape) -> usize {
    2 * s.batches * s.filters * s.memory
}

/// One invoke. `time_weights` are little-endian int16 `[filters, memory]`; `state` the
/// op's scratch. Returns `None` if a slice is shorter than `s` implies (checked at load).
#[allow(clippy::too_many_arguments)]
pub fn svdf(
    s: &SvdfShape,
    p: &SvdfParams,
    input: &[i8],
    feature_weights: &[i8],
    time_weights: &[u8],
    bias: Option<&[i32]>,
    state: &mut [u8],
    output: &mut [i8],
) -> Option<()> {
    let total = s.batches * s.filters * s.memory;
    let state = state.get_mut(..2 * total)?;
    let time_weights = time_weights.get(..2 * s.filters * s.memory)?;
    // The whole memory moves back one value, across filter boundaries, as TFLite's
    // `std::copy` does; each filter's newest value is then overwritten.
    state.copy_within(2.., 0);
    let word = |b: &[u8], i: usize| i32::from(i16::from_le_bytes([b[2 * i], b[2 * i + 1]]));
    for b in 0..s.batches {
        let x = input.get(b * s.inputs..(b + 1) * s.inputs)?;
        for f in 0..s.filters {
            let w = feature_weights.get(f * s.inputs..(f + 1) * s.inputs)?;
            let dot = x.iter().zip(w).fold(0i32, |acc, (&v, &w)| {
                acc.wrapping_add(i32::from(w) * (i32::from(v) - p.input_zero_point))
            });
            let newest = mbqm(dot, p.feature_multiplier, p.feature_shift).clamp(-32768, 32767);
            let at = (b * s.filters + f) * s.memory + s.memory - 1;
            state[2 * at..2 * at + 2].copy_from_slice(&(newest as i16).to_le_bytes());
        }
        for u in 0..s.units {
            let mut sum = bias.and_then(|v| v.get(u)).copied().unwrap_or(0);
            for f in u * s.rank..(u + 1) * s.rank {
                let base = (b * s.filters + f) * s.memory;
                for m in 0..s.memory {
                    let t = word(time_weights, f * s.memory + m);
                    sum = sum.wrapping_add(t * word(state, base + m));
                }
            }
            let y = mbqm(sum, p.time_multiplier, p.time_shift) + p.output_zero_point;
            *output.get_mut(b * s.units + u)? = y.clamp(-128, 127) as i8;
        }
    }
    Some(())
}
