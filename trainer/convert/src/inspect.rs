//! `edgeq inspect`: a human-readable summary of an `.eqm` file.

use std::fmt::Write;

use anyhow::Result;
use edgeq_runtime::format::*;
use edgeq_runtime::Model;

/// The shape, followed by the type when it is not int8 (`[1, 25, 5, 64] uint4`).
fn shape(model: &Model<'_>, t: usize) -> String {
    model
        .tensor_info(t)
        .map(|i| match i.dtype {
            DType::I8 => format!("{:?}", i.shape()),
            d => format!("{:?} {}", i.shape(), d.name()),
        })
        .unwrap_or_else(|_| "?".into())
}

/// Formats the model's operators, tensors, quantization and memory as text.
pub fn describe(model: &Model<'_>) -> Result<String> {
    let mut s = String::new();
    let (mut int8_bytes, mut int4_bytes, mut table_bytes) = (0usize, 0usize, 0usize);
    for t in 0..model.tensor_count() {
        let d = model.tensor_desc(t).expect("in range");
        if d.storage == Storage::Const as u8 {
            match DType::from_u8(d.dtype) {
                Some(DType::I8) => int8_bytes += d.size as usize,
                Some(DType::I4) => int4_bytes += d.size as usize,
                _ => table_bytes += d.size as usize,
            }
        }
    }
    let weight_bytes = int8_bytes + int4_bytes;
    writeln!(s, "format version   {FORMAT_VERSION}")?;
    writeln!(s, "operators        {}", model.op_count())?;
    writeln!(s, "tensors          {}", model.tensor_count())?;
    writeln!(s, "arena bytes      {}", model.arena_size())?;
    if int4_bytes == 0 {
        writeln!(s, "weight bytes     {weight_bytes} (int8 weights)")?;
    } else {
        writeln!(
            s,
            "weight bytes     {weight_bytes} ({int8_bytes} int8, {int4_bytes} int4 weights)"
        )?;
    }
    writeln!(
        s,
        "table bytes      {table_bytes} (int32 bias and requantization)"
    )?;
    let macs: u64 = (0..model.op_count()).map(|i| model.op_macs(i)).sum();
    writeln!(s, "MACs             {macs} per inference")?;
    let isa = edgeq_runtime::kernels::Isa::detect();
    let built: Vec<&str> = edgeq_runtime::kernels::Isa::ALL
        .iter()
        .map(|i| i.name())
        .collect();
    writeln!(
        s,
        "kernels here     {} (nominally {} int8 MAC/cycle; this build has {})",
        isa.name(),
        isa.peak_macs_per_cycle(),
        built.join(", ")
    )?;
    let inputs = (0..model.input_count()).map(|i| ("input ", i, model.input_tensor_index(i)));
    let outputs = (0..model.output_count()).map(|i| ("output", i, model.output_tensor_index(i)));
    for (what, i, t) in inputs.chain(outputs) {
        let t = t.expect("in range");
        let info = model.tensor_info(t)?;
        writeln!(
            s,
            "{what} {i}         {} {} {:?} scale {} zero point {}",
            model.tensor_name(t).unwrap_or(""),
            info.dtype.name(),
            info.shape(),
            info.scale,
            info.zero_point
        )?;
    }
    writeln!(s)?;
    writeln!(
        s,
        "{:>3}  {:<23} {:<22} {:<22} details",
        "#", "op", "input", "output"
    )?;
    for i in 0..model.op_count() {
        let op = model.op_desc(i).expect("in range");
        let kind = OpKind::from_u16(op.kind).expect("validated");
        let input = usize::from(op.inputs[0]);
        let output = usize::from(op.output);
        let out_info = model.tensor_info(output)?;
        let details = match kind {
            OpKind::Conv2d | OpKind::DepthwiseConv2d => {
                let p: ConvParams = read_params(op);
                let filter = if p.weight_layout == WEIGHT_LAYOUT_PACKED_8X4 {
                    format!(
                        "{}x{} packed 8x4 {}",
                        p.kernel_h,
                        p.kernel_w,
                        shape(model, usize::from(op.inputs[1]))
                    )
                } else {
                    shape(model, usize::from(op.inputs[1]))
                };
                format!(
                    "filter {filter} stride {}x{} dilation {}x{} pad {},{} clamp [{}, {}] out scale {} zp {}",
                    p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, p.pad_top, p.pad_left,
                    p.act_min, p.act_max, out_info.scale, out_info.zero_point
                )
            }
            OpKind::FullyConnected => {
                let p: FullyConnectedParams = read_params(op);
                let packed = if p.weight_layout == WEIGHT_LAYOUT_PACKED_8X4 {
                    "packed 8x4 "
                } else {
                    ""
                };
                format!(
                    "weights {packed}{} clamp [{}, {}] out scale {} zp {}",
                    shape(model, usize::from(op.inputs[1])),
                    p.act_min,
                    p.act_max,
                    out_info.scale,
                    out_info.zero_point
                )
            }
            OpKind::Maximum | OpKind::Minimum => String::new(),
            OpKind::Add | OpKind::Sub => {
                let p: AddParams = read_params(op);
                format!(
                    "in zps {}, {} clamp [{}, {}]",
                    p.input1_zero_point, p.input2_zero_point, p.act_min, p.act_max
                )
            }
            OpKind::AveragePool2d | OpKind::MaxPool2d => {
                let p: PoolParams = read_params(op);
                format!(
                    "window {}x{} stride {}x{} pad {},{}",
                    p.filter_h, p.filter_w, p.stride_h, p.stride_w, p.pad_top, p.pad_left
                )
            }
            OpKind::Softmax => {
                let p: SoftmaxParams = read_params(op);
                format!(
                    "multiplier {} left shift {} diff_min {}",
                    p.input_multiplier, p.input_left_shift, p.diff_min
                )
            }
            OpKind::Quantize | OpKind::Dequantize => {
                let p: AffineParams = read_params(op);
                format!("scale {} zero point {}", p.scale, p.zero_point)
            }
            OpKind::Reshape => String::new(),
            OpKind::Mul => {
                let p: MulParams = read_params(op);
                format!(
                    "in zps {}, {} clamp [{}, {}]",
                    p.input1_zero_point, p.input2_zero_point, p.act_min, p.act_max
                )
            }
            OpKind::Pad => {
                let p: PadParams = read_params(op);
                format!(
                    "before {:?} after {:?} value {}",
                    p.before, p.after, p.value
                )
            }
            OpKind::Lookup => "256-entry table".to_string(),
            OpKind::ResizeNearest => "row and column index tables".to_string(),
            OpKind::ResizeBilinear => {
                "row and column tables (low, high, fraction/1024)".to_string()
            }
            OpKind::Requantize => {
                let p: RequantizeParams = read_params(op);
                format!(
                    "zero point {} -> {}, multiplier {} shift {}",
                    p.input_zero_point, p.output_zero_point, p.multiplier, p.shift
                )
            }
            OpKind::Svdf => {
                let p: SvdfParams = read_params(op);
                format!("rank {} (memory kept across invokes)", p.rank)
            }
            OpKind::BatchMatMul => {
                let p: BatchMatMulParams = read_params(op);
                format!(
                    "adj_x {} adj_y {} zero points {}, {} -> {}",
                    p.adj_x, p.adj_y, p.lhs_zero_point, p.rhs_zero_point, p.output_zero_point
                )
            }
            OpKind::Prelu => {
                let p: PreluParams = read_params(op);
                format!(
                    "zero points {}, {} -> {}",
                    p.input_zero_point, p.alpha_zero_point, p.output_zero_point
                )
            }
            OpKind::Gather => {
                let p: GatherParams = read_params(op);
                format!("axis {} batch dims {}", p.axis, p.batch_dims)
            }
            OpKind::TransposeConv2d => {
                let p: ConvParams = read_params(op);
                format!(
                    "stride {}x{} pad {},{} clamp [{}, {}]",
                    p.stride_h, p.stride_w, p.pad_top, p.pad_left, p.act_min, p.act_max
                )
            }
            OpKind::Lstm => {
                let p: LstmParams = read_params(op);
                format!(
                    "{} cells, cell scale 2^{}, clip {}{}",
                    p.cells,
                    p.cell_shift,
                    p.cell_clip,
                    if p.time_major == 1 {
                        ", time-major"
                    } else {
                        ""
                    }
                )
            }
            OpKind::Slice => {
                let p: SliceParams = read_params(op);
                format!(
                    "begin {:?} stride {:?} size {:?}",
                    p.begin, p.stride, p.size
                )
            }
            OpKind::Transpose => {
                let p: TransposeParams = read_params(op);
                format!("perm {:?}", p.perm)
            }
            OpKind::Mean => {
                let p: MeanParams = read_params(op);
                format!("axes mask {:#b}", p.axes)
            }
            OpKind::Concatenation => {
                let p: ConcatParams = read_params(op);
                format!("axis {}, {} inputs", p.axis, op.input_count)
            }
        };
        writeln!(
            s,
            "{i:>3}  {:<23} {:<22} {:<22} {details}",
            kind.name(),
            shape(model, input),
            shape(model, output)
        )?;
    }
    Ok(s)
}
