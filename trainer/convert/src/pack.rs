//! Weight packing: rewrites conv and fully connected ops from TFLite's plain weight layout to
//! the runtime's GEMM layout (`WEIGHT_LAYOUT_PACKED_8X4`), once, at export.
//!
//! For each op: the weights are packed by `edgeq_runtime::kernels::gemm::pack`, the bias is
//! replaced by the folded bias `bias - input_zero_point * sum_k w` (wrapping int32, so the
//! kernels' `bias' + sum x*w` equals the reference `bias + sum (x - zp) * w` exactly), and
//! the op gets the im2col scratch it needs. int4 weights are packed the same way, then their
//! nibbles grouped as `kernels::int4` describes. Depthwise convs keep their layout, which is
//! already channel-major; with 4-bit tensors they get the scratch of their row-window path
//! (none when the native uint4 x int4 kernels take them).

use anyhow::{ensure, Result};
use edgeq_runtime::format::{
    write_params, ConvParams, DType, FullyConnectedParams, OpKind, WEIGHT_LAYOUT_PACKED_8X4,
    WEIGHT_LAYOUT_PLAIN,
};
use edgeq_runtime::kernels::{depthwise, gemm, int4, ConvGeometry};

use crate::eqm::{ModelBuilder, TensorSpec};

/// Packs every conv and fully connected op that is still in the plain layout.
pub fn pack_gemm_weights(builder: &mut ModelBuilder) -> Result<()> {
    for i in 0..builder.ops.len() {
        let op = &builder.ops[i];
        if !matches!(op.kind, OpKind::Conv2d | OpKind::FullyConnected) {
            continue;
        }
        let (Some(&Some(x)), Some(&Some(w))) = (op.inputs.first(), op.inputs.get(1)) else {
            continue;
        };
        let bias = op.inputs.get(2).copied().flatten();
        let input_u4 = builder.tensors[x].dtype == DType::U4;
        match op.kind {
            OpKind::Conv2d => {
                let mut p: ConvParams = read_params_of(&op.params);
                if p.weight_layout != WEIGHT_LAYOUT_PLAIN {
                    continue;
                }
                let wd = builder.tensors[w].dims.clone();
                ensure!(wd.len() == 4, "conv filter must be OHWI");
                let (kh, kw) = (wd[1], wd[2]);
                let (n, k) = (wd[0], kh * kw * wd[3]);
                let (packed, folded) = pack_one(builder, w, bias, n, k, p.input_zero_point);
                p.weight_layout = WEIGHT_LAYOUT_PACKED_8X4;
                p.kernel_h = u16::try_from(kh)?;
                p.kernel_w = u16::try_from(kw)?;
                let g = conv_geometry(builder, x, builder.ops[i].output, &p, (kh, kw));
                let op = &mut builder.ops[i];
                op.params = write_params(&p);
                op.inputs[1] = Some(packed);
                set_bias(&mut op.inputs, folded);
                let conv_gathers = !gemm::conv_rows_are_input(&g);
                if input_u4 && conv_gathers {
                    op.scratch = op.scratch.max(gemm::conv_u4_scratch_len(&g, k));
                } else if gemm::gathers_rows(input_u4, conv_gathers, k) {
                    op.scratch = op.scratch.max(gemm::scratch_len(k));
                }
            }
            OpKind::FullyConnected => {
                let mut p: FullyConnectedParams = read_params_of(&op.params);
                if p.weight_layout != WEIGHT_LAYOUT_PLAIN || p.weight_zero_point != 0 {
                    continue;
                }
                let wd = builder.tensors[w].dims.clone();
                ensure!(
                    wd.len() == 2,
                    "fully connected weights must be [units, depth]"
                );
                let (n, k) = (wd[0], wd[1]);
                let (packed, folded) = pack_one(builder, w, bias, n, k, p.input_zero_point);
                p.weight_layout = WEIGHT_LAYOUT_PACKED_8X4;
                let op = &mut builder.ops[i];
                op.params = write_params(&p);
                op.inputs[1] = Some(packed);
                set_bias(&mut op.inputs, folded);
                if gemm::gathers_rows(input_u4, false, k) {
                    let inputs: usize = builder.tensors[x].dims.iter().product();
                    let op = &mut builder.ops[i];
                    op.scratch = op.scratch.max(gemm::scratch_len_for(inputs / k, k));
                }
            }
            _ => {}
        }
    }
    // Depthwise convs with 4-bit tensors run on the native uint4 x int4 kernels, or on int8
    // kernels through row windows.
    for i in 0..builder.ops.len() {
        let op = &builder.ops[i];
        let Some(&Some(w)) = op.inputs.get(1) else {
            continue;
        };
        let x = op.inputs[0].unwrap_or(w);
        let four_bit = [x, w, op.output]
            .iter()
            .any(|&t| builder.tensors[t].dtype.bits() == 4);
        if op.kind == OpKind::DepthwiseConv2d && four_bit {
            let p: ConvParams = read_params_of(&op.params);
            let wd = &builder.tensors[w].dims;
            ensure!(wd.len() == 4, "depthwise filter must be [1, KH, KW, C]");
            let g = conv_geometry(builder, x, op.output, &p, (wd[1], wd[2]));
            let dtype = |t: usize| builder.tensors[t].dtype;
            let need = depthwise::values_scratch_len(&g, dtype(x), dtype(w));
            let op = &mut builder.ops[i];
            op.scratch = op.scratch.max(need);
        }
    }
    builder.drop_unused_constants();
    Ok(())
}

fn read_params_of<P: bytemuck::Pod>(params: &[u8]) -> P {
    bytemuck::pod_read_unaligned(&params[..std::mem::size_of::<P>()])
}

fn set_bias(inputs: &mut Vec<Option<usize>>, folded: usize) {
    if inputs.len() < 3 {
        inputs.resize(3, None);
    }
    inputs[2] = Some(folded);
}

/// Adds the packed weights and folded bias of one op; returns their tensor indices.
fn pack_one(
    builder: &mut ModelBuilder,
    w: usize,
    bias: Option<usize>,
    n: usize,
    k: usize,
    input_zero_point: i32,
) -> (usize, usize) {
    let spec = &builder.tensors[w];
    let data = spec.int_values().unwrap_or_default();
    let data = &data[..];
    let weight = |row: usize, col: usize| data[row * k + col];
    let mut packed = vec![0i8; gemm::packed_len(n, k)];
    gemm::pack(n, k, weight, &mut packed);
    let bias_values: Vec<i32> = match bias.and_then(|b| builder.tensors[b].data.as_deref()) {
        Some(bytes) => bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        None => vec![0; n],
    };
    let folded: Vec<i32> = (0..n)
        .map(|row| {
            let sum: i32 = data[row * k..(row + 1) * k]
                .iter()
                .map(|&v| i32::from(v))
                .sum();
            bias_values[row].wrapping_sub(input_zero_point.wrapping_mul(sum))
        })
        .collect();
    let name = spec.name.clone();
    let dims = vec![
        n.div_ceil(gemm::NR),
        gemm::padded_depth(k) / gemm::KR,
        gemm::NR,
        gemm::KR,
    ];
    let mut packed_spec = match spec.dtype {
        DType::I4 => {
            let mut bytes = vec![0u8; packed.len() / 2];
            int4::pack_gemm_i4(&packed, &mut bytes);
            TensorSpec {
                data: Some(bytes),
                ..TensorSpec::const_4bit(&format!("{name}/packed"), DType::I4, &dims, &[])
            }
        }
        _ => TensorSpec::const_i8(&format!("{name}/packed"), &dims, &packed),
    };
    packed_spec.scale = spec.scale;
    let packed = builder.add_tensor(packed_spec);
    let folded = builder.add_tensor(TensorSpec::const_i32(
        &format!("{name}/folded_bias"),
        &folded,
    ));
    (packed, folded)
}

fn conv_geometry(
    builder: &ModelBuilder,
    x: usize,
    y: usize,
    p: &ConvParams,
    kernel: (usize, usize),
) -> ConvGeometry {
    let nhwc = |t: usize| -> [usize; 4] {
        let d = &builder.tensors[t].dims;
        std::array::from_fn(|i| d.get(i).copied().unwrap_or(1))
    };
    ConvGeometry::from_params(nhwc(x), nhwc(y), kernel, p)
}

#[cfg(test)]
mod tests {
    use edgeq_runtime::kernels::gemm;

    #[test]
    fn packed_layout_puts_each_weight_where_the_format_says() {
        let (n, k) = (11, 7); // both need padding
        let weight = |row: usize, col: usize| (row * 16 + col) as i8;
        let mut out = vec![-1i8; gemm::packed_len(n, k)];
        gemm::pack(n, k, weight, &mut out);
        let groups = gemm::padded_depth(k) / gemm::KR;
        for row in 0..16 {
            for col in 0..groups * gemm::KR {
                let at = ((row / 8 * groups + col / 4) * 8 + row % 8) * 4 + col % 4;
                let expected = if row < n && col < k {
                    weight(row, col)
                } else {
                    0
                };
                assert_eq!(out[at], expected, "w[{row}, {col}]");
            }
        }
    }
}
