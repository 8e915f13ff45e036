//! Element-wise kernels' dispatch: the SIMD body, then the scalar kernel for the tail.

use super::{scalar, Isa};
use crate::format::AddParams;

/// int8 ADD of equal-length tensors on `isa` (TFLite's int8 ADD; see `scalar::add`).
pub fn add(isa: Isa, p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) {
    let done = isa
        .kernels()
        .add
        .map_or(0, |kernel| kernel(p, a, b, output));
    let (a, b) = (a.get(done..).unwrap_or(&[]), b.get(done..).unwrap_or(&[]));
    let output = output.get_mut(done..).unwrap_or(&mut []);
    let len = a.len().min(b.len()).min(output.len());
    scalar::add(p, len, a, b, output);
}

/// The outputs of a uint4 ADD for every pair of inputs: `table[16 * a + b]` (0..=15), by the
/// int8 kernel (uint4 values and zero points are int8 values too), so exact by construction.
pub fn add_u4_table(isa: Isa, p: &AddParams) -> [u8; 256] {
    let a: [i8; 256] = core::array::from_fn(|i| (i / 16) as i8);
    let b: [i8; 256] = core::array::from_fn(|i| (i % 16) as i8);
    let mut out = [0i8; 256];
    add(isa, p, &a, &b, &mut out);
    // Clamped to the output's act range, a subset of 0..=15 (checked at load).
    out.map(|v| (v as u8) & 0x0F)
}

/// For each output level `v` in 1..=15 and input `a`, the first `b` whose output reaches
/// `v`: `[v - 1][a]`, 16 if none. Each output is then the number of levels whose threshold
/// its `b` reaches. `None` if an output row is not non-decreasing in `b` (the reference's
/// wrapping sums can break monotony with extreme shifts), where thresholds do not apply.
pub fn add_u4_thresholds(table: &[u8; 256]) -> Option<[[u8; 16]; 15]> {
    let mut thresholds = [[16u8; 16]; 15];
    for (a, row) in table.chunks_exact(16).enumerate() {
        if row.windows(2).any(|w| w[1] < w[0]) {
            return None;
        }
        // Walking b upwards, every level up to row[b] is reached at b at the latest.
        for (b, &out) in row.iter().enumerate().rev() {
            for level in thresholds.iter_mut().take(usize::from(out)) {
                level[a] = b as u8;
            }
        }
    }
    Some(thresholds)
}

/// The levels the SIMD uint4 ADDs count: an output is `top` minus the number of `thresholds`
/// (the first `active`) its `b` does not reach, by its `a`. Levels every `(a, b)` reaches are
/// in `top` only; levels none reaches are left out.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)] // SIMD helper
pub(crate) struct AddU4Levels {
    pub thresholds: [[u8; 16]; 15],
    pub active: usize,
    pub top: u8,
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)] // SIMD helper
impl AddU4Levels {
    fn new(all: &[[u8; 16]; 15]) -> Self {
        let always = all.iter().filter(|t| t.iter().all(|&x| x == 0)).count();
        let mut levels = Self {
            thresholds: [[0; 16]; 15],
            active: 0,
            top: 0,
        };
        for t in all
            .iter()
            .filter(|t| t.iter().any(|&x| x != 0) && t.iter().any(|&x| x < 16))
        {
            levels.thresholds[levels.active] = *t;
            levels.active += 1;
        }
        levels.top = (always + levels.active) as u8;
        levels
    }
}

/// uint4 ADD of equal-length packed tensors (`len` elements, low nibble first), inputs and
/// output all uint4: each output is a lookup in [`add_u4_table`] (AVX2 and NEON count
/// thresholds instead, 64 and 32 elements at a time). The odd last element keeps its byte's
/// high nibble.
pub fn add_u4(isa: Isa, p: &AddParams, a: &[u8], b: &[u8], output: &mut [u8], len: usize) {
    let bytes = len / 2;
    if a.len() < len.div_ceil(2) || b.len() < len.div_ceil(2) || output.len() < len.div_ceil(2) {
        return;
    }
    let table = add_u4_table(isa, p);
    let done = match (isa.kernels().add_u4, add_u4_thresholds(&table)) {
        (Some(kernel), Some(thresholds)) => {
            let levels = AddU4Levels::new(&thresholds);
            kernel(&levels, &a[..bytes], &b[..bytes], &mut output[..bytes])
        }
        _ => 0,
    };
    let at = |x: u8, y: u8| table[usize::from(x) * 16 + usize::from(y)];
    for ((o, &x), &y) in output[done..bytes]
        .iter_mut()
        .zip(&a[done..])
        .zip(&b[done..])
    {
        *o = at(x & 0x0F, y & 0x0F) | at(x >> 4, y >> 4) << 4;
    }
    if len % 2 == 1 {
        output[bytes] = (output[bytes] & 0xF0) | at(a[bytes] & 0x0F, b[bytes] & 0x0F);
    }
}
