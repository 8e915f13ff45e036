//! PAD (int8): the input placed inside a constant border.

use super::{aligned_dims, check_zero_point, int8_same_rank, Check, Io};
use crate::error::Result;
use crate::format::PadParams;
use crate::kernels::layout;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    geometry(c).map(|_| ())
}

/// `(input dims, output dims, padding before)`, right-aligned to four axes.
fn geometry(c: &Check<'_, '_>) -> Result<([usize; 4], [usize; 4], [usize; 4])> {
    let (x, y) = int8_same_rank(c)?;
    let p: PadParams = c.params();
    check_zero_point(c, p.value)?;
    let rank = usize::from(x.rank);
    let shift = 4 - rank;
    let mut before = [0; 4];
    for axis in 0..4 {
        let (lo, hi) = (p.before[axis] as usize, p.after[axis] as usize);
        if axis >= rank {
            if lo != 0 || hi != 0 {
                return Err(c.err("padding past the rank"));
            }
            continue;
        }
        if (x.dims[axis] as usize)
            .checked_add(lo)
            .and_then(|d| d.checked_add(hi))
            != Some(y.dims[axis] as usize)
        {
            return Err(c.err("output dims are not the input's plus the padding"));
        }
        before[axis + shift] = lo;
    }
    Ok((aligned_dims(x), aligned_dims(y), before))
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let (in_dims, out_dims, before) = geometry(&io.inputs.check)?;
    let p: PadParams = io.inputs.check.params();
    let input = io.inputs.input_i8(0)?;
    layout::pad(
        in_dims,
        out_dims,
        before,
        p.value as i8,
        input,
        bytemuck::cast_slice_mut(io.output),
    );
    Ok(())
}
