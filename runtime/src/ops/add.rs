//! ADD and SUB (int8 or uint4, inputs at different scales, numpy broadcasting).

use super::{binary_acts, broadcast, check_clamp_for, check_zero_point_for, Check, Io, ACTS};
use crate::error::Result;
use crate::format::{AddParams, DType, OpKind};
use crate::kernels::int4::{Values, ValuesMut};
use crate::kernels::{elementwise, scalar};

pub(super) fn validate(c: &Check<'_, '_>) -> Result<()> {
    let [(a, a_type), (b, b_type), (out, out_type)] = binary_acts(c)?;
    broadcast(c, a, b, out)?;
    let p: AddParams = c.params();
    check_zero_point_for(c, p.input1_zero_point, a_type)?;
    check_zero_point_for(c, p.input2_zero_point, b_type)?;
    check_zero_point_for(c, p.output_zero_point, out_type)?;
    check_clamp_for(c, p.act_min, p.act_max, out_type)?;
    if !(0..=20).contains(&p.left_shift) {
        return Err(c.err("left shift outside 0..=20"));
    }
    let multipliers = [
        p.input1_multiplier,
        p.input2_multiplier,
        p.output_multiplier,
    ];
    let shifts = [p.input1_shift, p.input2_shift, p.output_shift];
    super::check_requant_tables(c, &multipliers, &shifts)
}

// Not inlined into the op dispatcher: its chunk buffers would enlarge every op's stack frame.
#[inline(never)]
pub(super) fn run(io: &mut Io<'_, '_>) -> Result<()> {
    let ins = &io.inputs;
    let c = &ins.check;
    let p: AddParams = c.params();
    let (a, b) = (ins.values(0)?, ins.values(1)?);
    let (out_desc, out_type) = c.output_of(&ACTS, "output must be int8 or uint4")?;
    let missing = c.err("missing input");
    let (a_desc, b_desc) = (c.slot(0).ok_or(missing)?, c.slot(1).ok_or(missing)?);
    let subtract = c.kind == OpKind::Sub;
    if subtract || a_desc.dims != out_desc.dims || b_desc.dims != out_desc.dims {
        let shape = broadcast(c, a_desc, b_desc, out_desc)?;
        let mut out = ValuesMut::of(out_type, &mut *io.output)
            .ok_or(c.err("output must be int8 or uint4"))?;
        scalar::add_broadcast(&p, subtract, &shape, &a, &b, &mut out);
        return Ok(());
    }
    let len = super::elements(out_desc);
    if let (Values::I8(a), Values::I8(b), DType::I8) = (a, b, out_type) {
        elementwise::add(io.isa, &p, a, b, bytemuck::cast_slice_mut(io.output));
        return Ok(());
    }
    if let (Values::U4(a), Values::U4(b), DType::U4) = (a, b, out_type) {
        elementwise::add_u4(io.isa, &p, a, b, io.output, len);
        return Ok(());
    }
    // Mixed operands: chunks unpacked to bytes run through the int8 kernel (uint4 values
    // and zero points are int8 values too), then packed.
    let mut out =
        ValuesMut::of(out_type, &mut *io.output).ok_or(c.err("output must be int8 or uint4"))?;
    const CHUNK: usize = 256;
    let (mut xa, mut xb, mut y) = ([0i8; CHUNK], [0i8; CHUNK], [0i8; CHUNK]);
    let mut start = 0;
    while start < len {
        let n = CHUNK.min(len - start);
        a.copy_to(start, &mut xa[..n]);
        b.copy_to(start, &mut xb[..n]);
        elementwise::add(io.isa, &p, &xa[..n], &xb[..n], &mut y[..n]);
        out.write(start, &y[..n]);
        start += n;
    }
    Ok(())
}
