//! SLICE (int8): a strided box of the input.

use super::{aligned_dims, elements, Check, Io};
use crate::error::Result;
use crate::format::{DType, SliceParams};
use crate::kernels::layout;

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    geometry(c).map(|_| ())
}

/// A slice's facts, right-aligned to four axes.
struct Geometry {
    in_dims: [usize; 4],
    begin: [usize; 4],
    stride: [isize; 4],
    size: [usize; 4],
}

fn geometry(c: &Check<'_, '_>) -> Result<Geometry> {
    let x = c.input(0, DType::I8, "input must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    let p: SliceParams = c.params();
    let rank = usize::from(x.rank);
    let shift = 4 - rank;
    let (mut begin, mut stride, mut size) = ([0; 4], [1; 4], [1; 4]);
    for axis in 0..4 {
        let (b, s, n) = (p.begin[axis], p.stride[axis], p.size[axis]);
        if axis >= rank {
            if (b, s, n) != (0, 1, 1) {
                return Err(c.err("slice past the input's rank"));
            }
            continue;
        }
        let dim = i64::from(x.dims[axis]);
        let last = i64::from(b) + (i64::from(n) - 1) * i64::from(s);
        if s == 0 || n == 0 || !(0..dim).contains(&i64::from(b)) || !(0..dim).contains(&last) {
            return Err(c.err("slice reaches outside the input"));
        }
        begin[axis + shift] = b as usize;
        stride[axis + shift] = s as isize;
        size[axis + shift] = n as usize;
    }
    if size.iter().product::<usize>() != elements(y) {
        return Err(c.err("output size is not the slice's"));
    }
    Ok(Geometry {
        in_dims: aligned_dims(x),
        begin,
        stride,
        size,
    })
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let g = geometry(&io.inputs.check)?;
    let input = io.inputs.input_i8(0)?;
    let output = bytemuck::cast_slice_mut(io.output);
    layout::slice(g.in_dims, g.begin, g.stride, g.size, input, output);
    Ok(())
}
