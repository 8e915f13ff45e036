//! TRANSPOSE_CONV (int8, per-channel weights): the gradient of a convolution, as decoders
//! and segmenters upsample. Inputs and parameters as CONV_2D's (plain OHWI weights; the
//! strides and padding are those of the convolution it transposes, dilation 1).

use super::{check_clamp_for, check_zero_point, dims, Check, Io};
use crate::error::Result;
use crate::format::{ConvParams, DType, Storage, WEIGHT_LAYOUT_PLAIN};
use crate::kernels::{scalar, ConvGeometry};
use crate::quant::Rounding;

fn geometry(c: &Check<'_, '_>) -> Result<(ConvGeometry, ConvParams)> {
    let p: ConvParams = c.params();
    let x = c.input(0, DType::I8, "input must be int8")?;
    let w = c.input(1, DType::I8, "filter must be int8")?;
    let y = c.output(DType::I8, "output must be int8")?;
    if x.rank != 4 || w.rank != 4 || y.rank != 4 {
        return Err(c.err("input, filter and output must be rank 4"));
    }
    if w.storage != Storage::Const as u8 || p.weight_layout != WEIGHT_LAYOUT_PLAIN {
        return Err(c.err("filter must be constant, OHWI"));
    }
    let ([n, _, _, in_c], [fo, kh, kw, fi], [on, _, _, out_c]) = (dims(x), dims(w), dims(y));
    if n != on || fo != out_c || fi != in_c || kh == 0 || kw == 0 {
        return Err(c.err("input, filter and output shapes disagree"));
    }
    if p.stride_h == 0 || p.stride_w == 0 || p.dilation_h != 1 || p.dilation_w != 1 {
        return Err(c.err("strides must be at least 1, dilation 1"));
    }
    // Each output sums at most ceil(KH/stride) * ceil(KW/stride) * Cin products: the same
    // bound as a convolution's keeps int32 from overflowing.
    if kh * kw * in_c > 1 << 16 {
        return Err(c.err("kernel reduction above 65536 elements"));
    }
    Ok((ConvGeometry::from_params(dims(x), dims(y), (kh, kw), &p), p))
}

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let (g, p) = geometry(c)?;
    check_zero_point(c, p.input_zero_point)?;
    check_zero_point(c, p.output_zero_point)?;
    check_clamp_for(c, p.act_min, p.act_max, DType::I8)?;
    if Rounding::from_u16(p.rounding).is_none() {
        return Err(c.err("unknown rounding rule"));
    }
    super::conv::check_channel_tables(c, g.out_c).map(|_| ())
}

pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let (g, p) = geometry(&io.inputs.check)?;
    let q = io.inputs.requant(
        (p.input_zero_point, p.output_zero_point),
        (p.act_min, p.act_max),
        p.rounding,
    )?;
    scalar::transpose_conv2d(
        &g,
        &q,
        io.inputs.input_i8(0)?,
        io.inputs.input_i8(1)?,
        bytemuck::cast_slice_mut(io.output),
    );
    Ok(())
}
