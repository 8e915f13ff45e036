//! AVERAGE_POOL_2D and MAX_POOL_2D.

use super::{check_clamp, dims, Check, Io};
use crate::error::Result;
use crate::format::{DType, OpKind, PoolParams};
use crate::kernels::{scalar, PoolGeometry};

fn geometry(c: &Check<'_, '_>) -> Result<(PoolGeometry, PoolParams)> {
    let input = c.input(0, DType::I8, "input must be int8")?;
    let output = c.output(DType::I8, "output must be int8")?;
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
    Ok((g, p))
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let (_, p) = geometry(c)?;
    check_clamp(c, p.act_min, p.act_max)
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let (g, p) = geometry(&ins.check)?;
    let input = ins.input_i8(0)?;
    let output: &mut [i8] = bytemuck::cast_slice_mut(io.output);
    if ins.check.kind == OpKind::AveragePool2d {
        scalar::average_pool(&g, p.act_min, p.act_max, input, output);
    } else {
        scalar::max_pool(&g, p.act_min, p.act_max, input, output);
    }
    Ok(())
}
