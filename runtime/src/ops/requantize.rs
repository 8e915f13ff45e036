//! REQUANTIZE: an int8 or int16 tensor to another quantization of int8, int16 or int32
//! (TFLite's QUANTIZE between integer types, e.g. an int16 audio input into an int8 model).

use super::{check_requant_tables, check_zero_point_for, Check, Io};
use crate::error::Result;
use crate::format::{DType, RequantizeParams};
use crate::kernels::scalar;

const TYPES: [DType; 2] = [DType::I8, DType::I16];
const OUT_TYPES: [DType; 3] = [DType::I8, DType::I16, DType::I32];

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let (x, from) = c.input_of(0, &TYPES, "input must be int8 or int16")?;
    let (y, to) = c.output_of(&OUT_TYPES, "output must be int8, int16 or int32")?;
    if x.dims != y.dims {
        return Err(c.err("input and output shapes differ"));
    }
    let p: RequantizeParams = c.params();
    check_zero_point_for(c, p.input_zero_point, from)?;
    check_zero_point_for(c, p.output_zero_point, to)?;
    check_requant_tables(c, &[p.multiplier], &[p.shift])
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let c = &io.inputs.check;
    let (_, from) = c.input_of(0, &TYPES, "input must be int8 or int16")?;
    let (_, to) = c.output_of(&OUT_TYPES, "output must be int8, int16 or int32")?;
    let p: RequantizeParams = c.params();
    scalar::requantize_values(&p, from, to, io.inputs.input_bytes(0)?, io.output);
    Ok(())
}
