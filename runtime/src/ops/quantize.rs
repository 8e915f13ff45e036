//! QUANTIZE (f32 -> int8) and DEQUANTIZE (int8 -> f32) at model boundaries.

use super::{check_zero_point, Check, Io};
use crate::error::Result;
use crate::format::{AffineParams, DType, OpKind};
use crate::kernels::scalar;

fn dtypes(kind: OpKind) -> (DType, DType) {
    if kind == OpKind::Quantize {
        (DType::F32, DType::I8)
    } else {
        (DType::I8, DType::F32)
    }
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let (from, to) = dtypes(c.kind);
    let input = c.input(0, from, "input has the wrong dtype")?;
    let output = c.output(to, "output has the wrong dtype")?;
    if input.dims != output.dims {
        return Err(c.err("input and output shapes differ"));
    }
    let p: AffineParams = c.params();
    if !(p.scale.is_finite() && p.scale > 0.0) {
        return Err(c.err("scale must be finite and positive"));
    }
    check_zero_point(c, p.zero_point)
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let p: AffineParams = io.inputs.check.params();
    let input = io.inputs.input_bytes(0)?;
    if io.inputs.check.kind == OpKind::Quantize {
        scalar::quantize(
            p.scale,
            p.zero_point,
            input,
            bytemuck::cast_slice_mut(io.output),
        );
    } else {
        scalar::dequantize(
            p.scale,
            p.zero_point,
            bytemuck::cast_slice(input),
            io.output,
        );
    }
    Ok(())
}
