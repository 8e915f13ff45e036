//! BATCH_MATMUL (int8): matrix products over the last two axes, the leading axes broadcast
//! as numpy does (ranks 2 to 4).

use super::{aligned_dims, check_requant_tables, check_zero_point, Check, Io};
use crate::error::Result;
use crate::format::{BatchMatMulParams, DType};
use crate::kernels::scalar::{self, MatMulShape};

/// Longest reduction: `K · 255 · 255` stays below 2^31.
const MAX_DEPTH: usize = 1 << 15;

fn shape(c: &Check<'_, '_>) -> Result<MatMulShape> {
    let l = c.input(0, DType::I8, "left operand must be int8")?;
    let r = c.input(1, DType::I8, "right operand must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    let p: BatchMatMulParams = c.params();
    if l.rank < 2 || r.rank < 2 || y.rank < 2 || p.adj_x > 1 || p.adj_y > 1 {
        return Err(c.err("operands and output must have rank 2 to 4"));
    }
    let (ld, rd, yd) = (aligned_dims(l), aligned_dims(r), aligned_dims(y));
    let (rows, depth) = if p.adj_x == 1 {
        (ld[3], ld[2])
    } else {
        (ld[2], ld[3])
    };
    let (r_depth, cols) = if p.adj_y == 1 {
        (rd[3], rd[2])
    } else {
        (rd[2], rd[3])
    };
    if depth != r_depth || yd[2] != rows || yd[3] != cols {
        return Err(c.err("operand and output matrix sizes disagree"));
    }
    if depth > MAX_DEPTH {
        return Err(c.err("reduction above 32768 elements"));
    }
    let mut strides = [[0usize; 2]; 2];
    for a in 0..2 {
        if [ld, rd].iter().any(|d| d[a] != yd[a] && d[a] != 1) {
            return Err(c.err("batch axes do not broadcast to the output's"));
        }
    }
    // Element strides of whole matrices along the two batch axes (0 where broadcast).
    for (k, d) in [ld, rd].iter().enumerate() {
        let matrix = d[2] * d[3];
        strides[k][1] = if d[1] == 1 { 0 } else { matrix };
        strides[k][0] = if d[0] == 1 { 0 } else { matrix * d[1] };
    }
    Ok(MatMulShape {
        batches: [yd[0], yd[1]],
        lhs_strides: strides[0],
        rhs_strides: strides[1],
        rows,
        depth,
        cols,
        adj_x: p.adj_x == 1,
        adj_y: p.adj_y == 1,
    })
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let p: BatchMatMulParams = c.params();
    for zp in [p.lhs_zero_point, p.rhs_zero_point, p.output_zero_point] {
        check_zero_point(c, zp)?;
    }
    check_requant_tables(c, &[p.multiplier], &[p.shift])?;
    shape(c).map(|_| ())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let s = shape(&io.inputs.check)?;
    let p: BatchMatMulParams = io.inputs.check.params();
    let (l, r) = (io.inputs.input_i8(0)?, io.inputs.input_i8(1)?);
    scalar::batch_matmul(&p, &s, l, r, bytemuck::cast_slice_mut(io.output));
    Ok(())
}
