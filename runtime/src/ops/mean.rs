//! MEAN (int8): the average over some axes, requantized once.

use super::{aligned_dims, check_zero_point, elements, Check, Io};
use crate::error::Result;
use crate::format::{DType, MeanParams};
use crate::kernels::scalar;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    geometry(c).map(|_| ())
}

/// `(input dims, reduced axes)`, right-aligned to four axes.
fn geometry(c: &Check<'_, '_>) -> Result<([usize; 4], [bool; 4])> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    let p: MeanParams = c.params();
    let rank = usize::from(x.rank);
    if p.axes >> rank != 0 {
        return Err(c.err("averaged axis past the input's rank"));
    }
    check_zero_point(c, p.input_zero_point)?;
    check_zero_point(c, p.output_zero_point)?;
    super::check_requant_tables(c, &[p.multiplier], &[p.shift])?;
    let shift = 4 - rank;
    let mut reduce = [false; 4];
    for (axis, r) in reduce.iter_mut().enumerate().skip(shift) {
        *r = p.axes & (1 << (axis - shift)) != 0;
    }
    let dims = aligned_dims(x);
    // With or without the averaged axes kept as 1, the output holds the other axes in order.
    let kept: usize = (0..4).filter(|&a| !reduce[a]).map(|a| dims[a]).product();
    if kept != elements(y) {
        return Err(c.err("output size is not the input's without the averaged axes"));
    }
    Ok((dims, reduce))
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let (dims, reduce) = geometry(&io.inputs.check)?;
    let p: MeanParams = io.inputs.check.params();
    let input = io.inputs.input_i8(0)?;
    scalar::mean(dims, reduce, &p, input, bytemuck::cast_slice_mut(io.output));
    Ok(())
}
