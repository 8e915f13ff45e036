//! TRANSPOSE (int8): the axes permuted.

use super::{aligned_dims, int8_same_rank, Check, Io};
use crate::error::Result;
use crate::format::TransposeParams;
use crate::kernels::layout;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    geometry(c).map(|_| ())
}

/// `(input dims, permutation, output dims)`, right-aligned to four axes.
fn geometry(c: &Check<'_, '_>) -> Result<([usize; 4], [usize; 4], [usize; 4])> {
    let (x, y) = int8_same_rank(c)?;
    let p: TransposeParams = c.params();
    let rank = usize::from(x.rank);
    let shift = 4 - rank;
    // Leading axes added by the alignment stay in place.
    let mut perm = [0, 1, 2, 3];
    let mut seen = [false; 4];
    for axis in 0..4 {
        let from = p.perm[axis] as usize;
        if axis >= rank {
            if from != 0 {
                return Err(c.err("permutation entry past the rank"));
            }
            continue;
        }
        if from >= rank || seen[from] {
            return Err(c.err("not a permutation of the axes"));
        }
        seen[from] = true;
        if y.dims[axis] != x.dims[from] {
            return Err(c.err("output dims are not the permuted input dims"));
        }
        perm[axis + shift] = from + shift;
    }
    Ok((aligned_dims(x), perm, aligned_dims(y)))
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let (in_dims, perm, out_dims) = geometry(&io.inputs.check)?;
    let input = io.inputs.input_i8(0)?;
    layout::transpose(
        in_dims,
        perm,
        out_dims,
        input,
        bytemuck::cast_slice_mut(io.output),
    );
    Ok(())
}
