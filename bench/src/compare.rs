//! `edgeq-bench compare MODEL.eqm --onnx MODEL.onnx`: edgeq and tract (tract-onnx) on the
//! same network in one process. Latency is measured alternating one edgeq and one tract
//! inference on the same input, so both see the same machine state; agreement is checked on
//! several random inputs and reported as it is.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use edgeq_runtime::{load_model_file, DType, Interpreter, Model};
use serde::Serialize;
use tract_onnx::prelude::*;

use crate::latency::Stats;

type TractPlan = std::sync::Arc<TypedRunnableModel>;

/// The input as edgeq bytes and as a tract tensor.
struct Input {
    bytes: Vec<u8>,
    tensor: TValue,
}

fn random_input(model: &Model<'_>, seed: u64) -> Result<Input> {
    let info = model.input(0)?;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let shape: Vec<usize> = info.shape().to_vec();
    let (bytes, tensor) = match info.dtype {
        DType::I8 => {
            let v: Vec<i8> = (0..info.len()).map(|_| next() as i8).collect();
            let bytes = v.iter().map(|&x| x as u8).collect();
            (
                bytes,
                tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into_tensor(),
            )
        }
        DType::F32 => {
            // Values spread over the input's typical range: the quantizer's input scale is
            // unknown here, so use [-4, 4).
            let v: Vec<f32> = (0..info.len())
                .map(|_| (next() % 8000) as f32 / 1000.0 - 4.0)
                .collect();
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (
                bytes,
                tract_ndarray::ArrayD::from_shape_vec(shape, v)?.into_tensor(),
            )
        }
        other => bail!(
            "compare supports int8 and float32 inputs, not {}",
            other.name()
        ),
    };
    Ok(Input {
        bytes,
        tensor: tensor.into_tvalue(),
    })
}

fn load_tract(onnx: &Path, model: &Model<'_>) -> Result<TractPlan> {
    let info = model.input(0)?;
    let fact: InferenceFact = match info.dtype {
        DType::I8 => i8::fact(info.shape()).into(),
        _ => f32::fact(info.shape()).into(),
    };
    tract_onnx::onnx()
        .model_for_path(onnx)
        .with_context(|| format!("tract: parsing {}", onnx.display()))?
        .with_input_fact(0, fact)?
        .into_optimized()
        .with_context(|| format!("tract: optimizing {}", onnx.display()))?
        .into_runnable()
        .context("tract: making the model runnable")
}

/// Output 0 as real numbers (dequantized when integer), and as raw integers when int8.
fn edgeq_output(
    model: &Model<'_>,
    interp: &Interpreter<'_, '_>,
) -> Result<(Vec<f32>, Option<Vec<i32>>)> {
    let info = model.output(0)?;
    let bytes = interp.output_bytes(0)?;
    Ok(match info.dtype {
        DType::I8 => {
            let q: Vec<i32> = bytes.iter().map(|&b| i32::from(b as i8)).collect();
            let real = q
                .iter()
                .map(|&v| info.scale * (v - info.zero_point) as f32)
                .collect();
            (real, Some(q))
        }
        DType::F32 => (
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            None,
        ),
        other => bail!(
            "compare supports int8 and float32 outputs, not {}",
            other.name()
        ),
    })
}

fn tract_output(model: &Model<'_>, out: &TValue) -> Result<(Vec<f32>, Option<Vec<i32>>)> {
    let info = model.output(0)?;
    let t = out.datum_type();
    if t == DatumType::F32 {
        return Ok((
            out.to_plain_array_view::<f32>()?.iter().copied().collect(),
            None,
        ));
    }
    // int8, or tract's quantized int8 (QI8, which carries its own scale): the raw bytes.
    if t.unquantized() != DatumType::I8 {
        bail!("tract's output is {t:?}; compare handles int8 and float32");
    }
    let q: Vec<i32> = out.as_bytes().iter().map(|&b| i32::from(b as i8)).collect();
    let real = q
        .iter()
        .map(|&v| info.scale * (v - info.zero_point) as f32)
        .collect();
    Ok((real, Some(q)))
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len())
        .max_by(|&a, &b| v[a].total_cmp(&v[b]))
        .unwrap_or(0)
}

#[derive(Serialize, Default)]
struct Agreement {
    inputs: usize,
    /// Inputs on which every output element is identical.
    identical_outputs: usize,
    /// Inputs on which the largest output is at the same index.
    same_argmax: usize,
    /// Largest difference of raw int8 outputs (LSB), when both are int8.
    max_lsb: Option<i32>,
    /// Largest difference of real (dequantized) outputs.
    max_abs: f32,
    /// Mean difference of real outputs.
    mean_abs: f32,
}

#[derive(Serialize)]
struct CompareReport {
    model: String,
    onnx: String,
    isa: &'static str,
    runs: usize,
    edgeq_us: Stats,
    tract_us: Stats,
    /// tract p50 / edgeq p50: above 1, edgeq is faster.
    tract_over_edgeq_p50: f64,
    /// tract min / edgeq min.
    tract_over_edgeq_min: f64,
    agreement: Agreement,
}

/// Runs the comparison and prints (and optionally writes) its report.
pub fn compare(
    model_path: &Path,
    onnx: &Path,
    runs: usize,
    warmup: usize,
    inputs: usize,
    json: Option<&Path>,
) -> Result<()> {
    ensure!(
        runs > 0 && inputs > 0,
        "--runs and --inputs must be at least 1"
    );
    let file =
        load_model_file(model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let model = Model::from_bytes(file.bytes())
        .with_context(|| format!("loading {}", model_path.display()))?;
    ensure!(
        model.input_count() == 1 && model.output_count() == 1,
        "compare handles models with one input and one output"
    );
    let tract = load_tract(onnx, &model)?;
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena)?;

    let mut agreement = Agreement {
        inputs,
        ..Agreement::default()
    };
    let mut sum_abs = 0.0f64;
    let mut count = 0usize;
    for seed in 0..inputs as u64 {
        let input = random_input(&model, seed + 1)?;
        interp.input_bytes_mut(0)?.copy_from_slice(&input.bytes);
        interp.invoke()?;
        let (ours, ours_q) = edgeq_output(&model, &interp)?;
        let outs = tract.run(tvec!(input.tensor.clone()))?;
        let (theirs, theirs_q) = tract_output(&model, &outs[0])?;
        ensure!(
            ours.len() == theirs.len(),
            "output sizes differ: edgeq {} values, tract {}",
            ours.len(),
            theirs.len()
        );
        if let (Some(a), Some(b)) = (&ours_q, &theirs_q) {
            let lsb = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .max()
                .unwrap_or(0);
            agreement.max_lsb = Some(agreement.max_lsb.unwrap_or(0).max(lsb));
        }
        let mut identical = true;
        for (x, y) in ours.iter().zip(&theirs) {
            let d = (x - y).abs();
            identical &= d == 0.0;
            agreement.max_abs = agreement.max_abs.max(d);
            sum_abs += f64::from(d);
            count += 1;
        }
        agreement.identical_outputs += usize::from(identical);
        agreement.same_argmax += usize::from(argmax(&ours) == argmax(&theirs));
    }
    agreement.mean_abs = (sum_abs / count.max(1) as f64) as f32;

    // Latency, alternating on one input.
    let input = random_input(&model, 1)?;
    let run_tract = || -> Result<f64> {
        let start = Instant::now();
        let out = tract.run(tvec!(input.tensor.clone()))?;
        let t = start.elapsed().as_secs_f64() * 1e6;
        drop(out);
        Ok(t)
    };
    let mut ours = Vec::with_capacity(runs);
    let mut theirs = Vec::with_capacity(runs);
    for i in 0..warmup + runs {
        interp.input_bytes_mut(0)?.copy_from_slice(&input.bytes);
        let start = Instant::now();
        interp.invoke()?;
        let t_ours = start.elapsed().as_secs_f64() * 1e6;
        let t_theirs = run_tract()?;
        if i >= warmup {
            ours.push(t_ours);
            theirs.push(t_theirs);
        }
    }
    let edgeq_us = Stats::of(&mut ours);
    let tract_us = Stats::of(&mut theirs);
    let report = CompareReport {
        model: model_path.display().to_string(),
        onnx: onnx.display().to_string(),
        isa: interp.isa().name(),
        runs,
        tract_over_edgeq_p50: tract_us.p50 / edgeq_us.p50,
        tract_over_edgeq_min: tract_us.min / edgeq_us.min,
        edgeq_us,
        tract_us,
        agreement,
    };
    print_report(&report);
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_report(r: &CompareReport) {
    println!("model            {} (edgeq, {} kernels)", r.model, r.isa);
    println!("onnx             {} (tract-onnx, optimized plan)", r.onnx);
    println!("runs             {} each, alternating", r.runs);
    println!(
        "edgeq us         min {:.1}  p50 {:.1}  p90 {:.1}",
        r.edgeq_us.min, r.edgeq_us.p50, r.edgeq_us.p90
    );
    println!(
        "tract us         min {:.1}  p50 {:.1}  p90 {:.1}",
        r.tract_us.min, r.tract_us.p50, r.tract_us.p90
    );
    println!(
        "tract / edgeq    {:.2}x at p50, {:.2}x at min ({})",
        r.tract_over_edgeq_p50,
        r.tract_over_edgeq_min,
        if r.tract_over_edgeq_p50 >= 1.0 {
            "edgeq faster"
        } else {
            "tract faster"
        }
    );
    let a = &r.agreement;
    println!(
        "agreement        {}/{} inputs identical, {}/{} same top index, max |diff| {:.4}{}, mean |diff| {:.5}",
        a.identical_outputs,
        a.inputs,
        a.same_argmax,
        a.inputs,
        a.max_abs,
        a.max_lsb.map_or(String::new(), |l| format!(" ({l} LSB)")),
        a.mean_abs
    );
    if a.identical_outputs < a.inputs {
        println!(
            "                 the outputs differ. edgeq matches TFLite's reference kernels bit for \
             bit (golden tests), so the difference is tract's arithmetic (known: its quantized \
             softmax) or how the ONNX conversion expresses the quantization"
        );
    }
}
