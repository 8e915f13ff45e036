//! Data movement of int8 tensors: PAD, CONCATENATION, TRANSPOSE, SLICE and nearest-neighbour
//! resizing. Shapes are given right-aligned to
//! four axes (a rank-2 `[H, W]` is `[1, 1, H, W]`), so the last axis is always the
//! contiguous one. Callers (the ops) check that the lengths match the shapes.

/// Writes `input` (shape `in_dims`) into `output` (shape `out_dims`) at offset `before` on
/// each axis, and `value` everywhere else. `out_dims[a] >= before[a] + in_dims[a]`.
pub fn pad(
    in_dims: [usize; 4],
    out_dims: [usize; 4],
    before: [usize; 4],
    value: i8,
    input: &[i8],
    output: &mut [i8],
) {
    output.fill(value);
    let (in_dims, out_dims, before) = merge_unpadded_rows(in_dims, out_dims, before);
    let row = in_dims[3];
    if row == 0 {
        return;
    }
    let mut rows = input.chunks_exact(row);
    for i0 in 0..in_dims[0] {
        for i1 in 0..in_dims[1] {
            for i2 in 0..in_dims[2] {
                let o = ((i0 + before[0]) * out_dims[1] + i1 + before[1]) * out_dims[2]
                    + i2
                    + before[2];
                let start = o * out_dims[3] + before[3];
                if let (Some(src), Some(dst)) = (rows.next(), output.get_mut(start..start + row)) {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
}

/// The same padding with the last axis merged into the one before it while the last is not
/// padded (an image padded in height and width copies whole pixel rows, not pixels).
fn merge_unpadded_rows(
    mut in_dims: [usize; 4],
    mut out_dims: [usize; 4],
    mut before: [usize; 4],
) -> ([usize; 4], [usize; 4], [usize; 4]) {
    for _ in 0..3 {
        if in_dims[3] != out_dims[3] || in_dims[2] == 1 && out_dims[2] == 1 {
            break;
        }
        let last = in_dims[3];
        before = [0, before[0], before[1], before[2] * last];
        in_dims = [1, in_dims[0], in_dims[1], in_dims[2] * last];
        out_dims = [1, out_dims[0], out_dims[1], out_dims[2] * last];
    }
    (in_dims, out_dims, before)
}

/// Copies one input of a concatenation into `output`: `outer` runs of `run` bytes, the
/// output's runs `out_run` bytes apart, this input's starting at byte `offset` of each.
/// With the axis `a` of right-aligned shapes: `outer` is the product of the axes before
/// `a`, `run` this input's `dims[a] * inner`, `out_run` the output's, `offset` the sum of
/// the runs of the inputs before this one.
pub fn concat_input(
    outer: usize,
    run: usize,
    out_run: usize,
    offset: usize,
    input: &[i8],
    output: &mut [i8],
) {
    if run == 0 {
        return;
    }
    for (o, src) in input.chunks_exact(run).take(outer).enumerate() {
        let start = o * out_run + offset;
        if let Some(dst) = output.get_mut(start..start + run) {
            dst.copy_from_slice(src);
        }
    }
}

/// Calls `f(index, flat)` for every multi-index of a tensor of `dims` in row-major order,
/// `flat` counting from 0.
#[inline]
pub fn for_each_index(dims: [usize; 4], mut f: impl FnMut([usize; 4], usize)) {
    let mut flat = 0;
    for i0 in 0..dims[0] {
        for i1 in 0..dims[1] {
            for i2 in 0..dims[2] {
                for i3 in 0..dims[3] {
                    f([i0, i1, i2, i3], flat);
                    flat += 1;
                }
            }
        }
    }
}

/// Row-major strides of a tensor of `dims`.
pub fn strides(dims: [usize; 4]) -> [usize; 4] {
    [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1]
}

/// `output` (of `out_dims`) is `input` with its axes permuted: output axis `a` is input axis
/// `perm[a]`, so `out_dims[a] == in_dims[perm[a]]`.
pub fn transpose(
    in_dims: [usize; 4],
    perm: [usize; 4],
    out_dims: [usize; 4],
    input: &[i8],
    output: &mut [i8],
) {
    let in_strides = strides(in_dims);
    let step = perm.map(|p| in_strides[p]);
    for_each_index(out_dims, |at, flat| {
        if let (Some(y), Some(&x)) = (output.get_mut(flat), input.get(super::dot(at, step))) {
            *y = x;
        }
    });
}

/// `output` is the box of `input` (of `in_dims`) starting at `begin` and stepping by `stride`
/// on each axis, `size` elements per axis. Every index it reaches lies inside `in_dims`.
pub fn slice(
    in_dims: [usize; 4],
    begin: [usize; 4],
    stride: [isize; 4],
    size: [usize; 4],
    input: &[i8],
    output: &mut [i8],
) {
    let in_strides = strides(in_dims);
    for_each_index(size, |at, flat| {
        let mut from = 0isize;
        for a in 0..4 {
            from += (begin[a] as isize + at[a] as isize * stride[a]) * in_strides[a] as isize;
        }
        if let (Some(y), Some(&x)) = (output.get_mut(flat), input.get(from as usize)) {
            *y = x;
        }
    });
}

/// Nearest-neighbour resize of an NHWC tensor (`in_dims`): output pixel `(y, x)` of each
/// image is input pixel `(rows[y], cols[x])`, all `in_dims[3]` channels. Indices lie inside
/// the input.
pub fn resize_nearest(
    in_dims: [usize; 4],
    rows: &[i32],
    cols: &[i32],
    input: &[i8],
    output: &mut [i8],
) {
    let channels = in_dims[3];
    if channels == 0 {
        return;
    }
    let mut pixels = output.chunks_exact_mut(channels);
    for b in 0..in_dims[0] {
        for &row in rows {
            for &col in cols {
                let start =
                    ((b * in_dims[1] + row as usize) * in_dims[2] + col as usize) * channels;
                if let (Some(dst), Some(src)) = (pixels.next(), input.get(start..start + channels))
                {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
}

/// The copy of a GATHER: `batches` groups, each `outer` blocks of `axis_len` slices of
/// `inner` values, from which `picks` slices are taken per block by that group's indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatherShape {
    /// Leading axes shared with the indices (TFLite's `batch_dims`), multiplied out.
    pub batches: usize,
    /// Input axes between those and the gathered axis, multiplied out.
    pub outer: usize,
    /// Indices per batch.
    pub picks: usize,
    /// Length of the gathered axis.
    pub axis_len: usize,
    /// Input axes after the gathered axis, multiplied out.
    pub inner: usize,
}

/// GATHER: for each batch and block, the slices of `input` the batch's indices name, in
/// order. `indices` are little-endian int32 (any alignment; they may come from the arena).
/// Returns `None`, leaving the output partly written, at the first index outside
/// `0..axis_len`.
pub fn gather(s: &GatherShape, input: &[i8], indices: &[u8], output: &mut [i8]) -> Option<()> {
    let mut slots = output.chunks_exact_mut(s.inner.max(1));
    for b in 0..s.batches {
        let batch_indices = indices.get(4 * b * s.picks..4 * (b + 1) * s.picks)?;
        for o in 0..s.outer {
            let block = (b * s.outer + o) * s.axis_len;
            for index in batch_indices.chunks_exact(4) {
                let k = i32::from_le_bytes([index[0], index[1], index[2], index[3]]);
                let k = usize::try_from(k).ok().filter(|&k| k < s.axis_len)?;
                let start = (block + k) * s.inner;
                if s.inner > 0 {
                    slots
                        .next()?
                        .copy_from_slice(input.get(start..start + s.inner)?);
                }
            }
        }
    }
    Some(())
}
