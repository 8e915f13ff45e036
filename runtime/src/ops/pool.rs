//! AVERAGE_POOL_2D and MAX_POOL_2D.

use super::{check_clamp_for, dims, Check, Io, ACTS};
use crate::error::Result;
use crate::format::{DType, OpKind, PoolParams};
use crate::kernels::int4::{Values, ValuesMut};
use crate::kernels::{pool, scalar, PoolGeometry};

fn geometry(c: &Check<'_, '_>) -> Result<(PoolGeometry, PoolParams, DType)> {
    let (input, dtype) = c.input_of(0, &ACTS, "input must be int8 or uint4")?;
    let (output, _) = c.output_of(&[dtype], "output must have the input's type")?;
    if input.rank != 4 || output.rank != 4 {
        return Err(c.err("input and output must be rank 4"));
    }
    let [n, in_h, in_w, ch] = dims(input);
    let [on, out_h, out_w, oc] = dims(output);
    if n != on || ch != oc {
        return Err(c.err("input and output batch or channels differ"));
    }
    let p: PoolParams = c.params();
    if p.stride_h == 0 || p.stride_w == 0 || p.filter_h == 0 || p.filter_w == 0 {
        return Err(c.err("filter and stride must be at least 1"));
    }
    let g = PoolGeometry {
        batch: n,
        in_h,
        in_w,
        channels: ch,
        out_h,
        out_w,
        filter_h: usize::from(p.filter_h),
        filter_w: usize::from(p.filter_w),
        stride_h: usize::from(p.stride_h),
        stride_w: usize::from(p.stride_w),
        pad_top: usize::from(p.pad_top),
        pad_left: usize::from(p.pad_left),
    };
    Ok((g, p, dtype))
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let (_, p, dtype) = geometry(c)?;
    check_clamp_for(c, p.act_min, p.act_max, dtype)
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let (g, p, dtype) = geometry(&ins.check)?;
    let average = ins.check.kind == OpKind::AveragePool2d;
    let (lo, hi) = (p.act_min, p.act_max);
    let input = ins.values(0)?;
    if let (false, Values::I8(input)) = (average, input) {
        let output: &mut [i8] = bytemuck::cast_slice_mut(io.output);
        scalar::max_pool(&g, lo, hi, input, output);
        return Ok(());
    }
    let mut output = ValuesMut::of(dtype, &mut *io.output)
        .ok_or(io.inputs.check.err("output must be int8 or uint4"))?;
    if average {
        pool::average_pool(&g, lo, hi, input, &mut output);
    } else {
        scalar::max_pool(&g, lo, hi, &input, &mut output);
    }
    Ok(())
}
