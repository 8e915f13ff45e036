//! Data movement of int8 tensors: PAD and CONCATENATION. Shapes are given right-aligned to
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
