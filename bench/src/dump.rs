//! `edgeq-bench infer --dump DIR`: every operator's output, as it is written, for finding the
//! first layer where a model stops matching its reference (`bench/scripts/tflite_diff.py`
//! compares a dump with LiteRT's run of the original `.tflite`).
//!
//! The directory gets one `.npy` per model input and per operator, and `tensors.tsv`, one row
//! per file: `op kind tensor name dtype shape scale zero_point file` (`op` is the operator's
//! index in execution order, or `input` for a model input).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use edgeq_runtime::format::OpKind;
use edgeq_runtime::{DType, Interpreter, Model, TensorInfo};

use crate::write_npy;

const HEADER: &str = "op\tkind\ttensor\tname\tdtype\tshape\tscale\tzero_point\tfile\n";

/// Runs every operator of `interp` once, writing the model's inputs and each operator's
/// output into `dir` (created if missing) as it goes. The inputs must have been written.
pub fn invoke_and_dump(interp: &mut Interpreter, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let model = *interp.model();
    let mut table = String::from(HEADER);
    for i in 0..model.input_count() {
        let t = model
            .input_tensor_index(i)
            .context("model input without a tensor")?;
        let file = format!("input_{i}.npy");
        write_tensor(interp, &model, t, &dir.join(&file))?;
        row(&mut table, &model, "input", "-", t, &file)?;
    }
    for op in 0..model.op_count() {
        interp
            .invoke_op(op)
            .with_context(|| format!("running operator {op}"))?;
        let desc = model.op_desc(op).context("operator out of range")?;
        let kind = OpKind::from_u16(desc.kind).map_or("?", OpKind::name);
        let t = usize::from(desc.output);
        let file = format!("{op:03}_{kind}.npy");
        write_tensor(interp, &model, t, &dir.join(&file))?;
        row(&mut table, &model, &op.to_string(), kind, t, &file)?;
    }
    let path = dir.join("tensors.tsv");
    std::fs::write(&path, table).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {} inputs and {} operator outputs to {} (index: tensors.tsv)",
        model.input_count(),
        model.op_count(),
        dir.display()
    );
    Ok(())
}

fn row(
    table: &mut String,
    model: &Model,
    op: &str,
    kind: &str,
    t: usize,
    file: &str,
) -> Result<()> {
    let info = model.tensor_info(t)?;
    // Tabs and newlines in a name would break the table's columns.
    let name: String = model
        .tensor_name(t)
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let shape: Vec<String> = info.shape().iter().map(usize::to_string).collect();
    writeln!(
        table,
        "{op}\t{kind}\t{t}\t{name}\t{}\t{}\t{}\t{}\t{file}",
        info.dtype.name(),
        shape.join(","),
        info.scale,
        info.zero_point
    )?;
    Ok(())
}

/// Writes tensor `t` as it stands in `interp` as a .npy of its elements (4-bit tensors one
/// element per byte, int4 as int8 and uint4 as uint8).
fn write_tensor(interp: &Interpreter, model: &Model, t: usize, path: &Path) -> Result<()> {
    let info: TensorInfo = model.tensor_info(t)?;
    let bytes = interp.tensor_bytes(t)?;
    let shape = info.shape();
    let words = |b: &[u8]| -> Vec<[u8; 4]> {
        b.chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect()
    };
    let nibble = |k: usize| (bytes[k / 2] >> (4 * (k % 2))) & 0xf;
    match info.dtype {
        DType::I8 => {
            let v: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
            write_npy(path, shape, &v)
        }
        DType::U8 => write_npy(path, shape, bytes),
        DType::I16 => {
            let v: Vec<i16> = bytes
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            write_npy(path, shape, &v)
        }
        DType::I32 => {
            let v: Vec<i32> = words(bytes).into_iter().map(i32::from_le_bytes).collect();
            write_npy(path, shape, &v)
        }
        DType::F32 => {
            let v: Vec<f32> = words(bytes).into_iter().map(f32::from_le_bytes).collect();
            write_npy(path, shape, &v)
        }
        DType::U4 => {
            let v: Vec<u8> = (0..info.len()).map(nibble).collect();
            write_npy(path, shape, &v)
        }
        DType::I4 => {
            // Sign-extend: the nibble in the high half of a byte, shifted back arithmetically.
            let v: Vec<i8> = (0..info.len())
                .map(|k| ((nibble(k) << 4) as i8) >> 4)
                .collect();
            write_npy(path, shape, &v)
        }
    }
}
