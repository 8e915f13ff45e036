//! `edgeq ptq-study`: post-training quantization against QAT + KD + GoR on the same float
//! network. Per seed: the float `cnn` student is trained, written as ONNX and quantized by
//! `edgeq import --calibrate` (three range methods), and the same float network goes through
//! QAT with distillation from the best teacher balanced by GoR. Every quantized accuracy is
//! the runtime's on the held-out digits.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use super::ablate::mean_std;
use super::lab::{Lab, Method};
use crate::data;
use crate::import::onnx::ptq;
use crate::nn::BitPlan;

/// Bit widths compared.
const BITS: [&str; 2] = ["w8a8", "w4a8"];
/// PTQ range methods compared.
const METHODS: [ptq::Method; 3] = [
    ptq::Method::MinMax,
    ptq::Method::Percentile(99.99),
    ptq::Method::Mse,
];

/// One measured model.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `float`, `ptq minmax`, ..., `qat+kd+gor`.
    pub method: String,
    /// Bits (`-` for float).
    pub bits: String,
    /// Seed of the float network.
    pub seed: u64,
    /// Test accuracy (runtime for quantized models, tract for the float ONNX).
    pub accuracy: f32,
    /// `.eqm` constant bytes.
    pub weight_bytes: Option<usize>,
    /// Seconds to produce it (PTQ: calibration and lowering; QAT: training).
    pub seconds: f32,
}

fn const_bytes(eqm: &[u8]) -> Option<usize> {
    let bytes = edgeq_runtime::ModelBytes::copy_from(eqm);
    edgeq_runtime::Model::from_bytes(bytes.bytes())
        .ok()
        .map(|m| m.const_size())
}

/// Runs the study, writing `rows.json` into `work` and the Markdown table to `markdown`.
pub fn run(work: &Path, markdown: &Path, seeds: &[u64]) -> Result<Vec<Row>> {
    let started = Instant::now();
    let splits = data::load_splits(&data::bundled_mnist_dir())?;
    let mut lab = Lab::new(splits, work, "cnn")?;
    // QAT + KD + GoR distils from the best teacher; in the ablation that is deep-cnn.
    lab.train_teachers(&[("deep-cnn", 2)])?;
    let mut rows = vec![];
    for &seed in seeds {
        let (float, _) = lab.float_student(seed)?;
        let onnx = work.join(format!("cnn-seed{seed}.onnx"));
        crate::nn::onnx::write_onnx(&float.net, &float.spec, &onnx)?;
        for bits in BITS {
            let (weight_bits, act_bits) = edgeq_convert::cli::parse_bits(bits)?;
            for method in METHODS {
                let t = Instant::now();
                let opts = ptq::Options {
                    weight_bits,
                    act_bits,
                    all_layers: false,
                    method,
                    images: 512,
                };
                let imported = ptq::import(
                    &onnx,
                    &lab.splits.train,
                    Some(&lab.splits.test),
                    &opts,
                    false,
                )?;
                let acc = imported.accuracy.expect("the test split is not empty");
                if rows
                    .iter()
                    .all(|r: &Row| r.seed != seed || r.method != "float")
                {
                    rows.push(Row {
                        method: "float".into(),
                        bits: "-".into(),
                        seed,
                        accuracy: acc.float,
                        weight_bytes: None,
                        seconds: 0.0,
                    });
                }
                eprintln!(
                    "seed {seed} {bits} PTQ {method}: {:.2}%",
                    100.0 * acc.quantized
                );
                rows.push(Row {
                    method: format!("PTQ {method}"),
                    bits: bits.into(),
                    seed,
                    accuracy: acc.quantized,
                    weight_bytes: const_bytes(&imported.eqm),
                    seconds: t.elapsed().as_secs_f32(),
                });
            }
            let t = Instant::now();
            let plan = BitPlan::parse(bits).expect("valid bits");
            let (_, exported, o) = lab.quantized_student(&float, Method::QatKdGor, plan, seed)?;
            eprintln!("seed {seed} {bits} QAT+KD+GoR: {:.2}%", 100.0 * o.accuracy);
            rows.push(Row {
                method: "QAT + KD + GoR".into(),
                bits: bits.into(),
                seed,
                accuracy: o.accuracy,
                weight_bytes: const_bytes(&exported.eqm),
                seconds: t.elapsed().as_secs_f32(),
            });
            std::fs::write(work.join("rows.json"), serde_json::to_string_pretty(&rows)?)?;
        }
    }
    std::fs::write(
        markdown,
        table(&lab, &rows, seeds, started.elapsed().as_secs_f32()),
    )?;
    Ok(rows)
}

fn table(lab: &Lab, rows: &[Row], seeds: &[u64], seconds: f32) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| method | W8A8 accuracy (%) | W4A8 accuracy (%) | W8A8 / W4A8 weight bytes | time per model (s) |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    let mut methods: Vec<&str> = vec![];
    for r in rows {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    for method in methods {
        let of = |bits: &str| -> Vec<&Row> {
            rows.iter()
                .filter(|r| r.method == method && (r.bits == bits || r.bits == "-"))
                .collect()
        };
        let cell = |bits: &str| {
            let acc: Vec<f32> = of(bits).iter().map(|r| 100.0 * r.accuracy).collect();
            let (m, sd) = mean_std(&acc);
            format!("{m:.2} ± {sd:.2}")
        };
        let bytes = |bits: &str| {
            of(bits)
                .first()
                .and_then(|r| r.weight_bytes)
                .map_or("-".into(), |b| b.to_string())
        };
        let time: Vec<f32> = rows
            .iter()
            .filter(|r| r.method == method)
            .map(|r| r.seconds)
            .collect();
        let _ = writeln!(
            s,
            "| {method} | {} | {} | {} / {} | {:.1} |",
            cell("w8a8"),
            cell("w4a8"),
            bytes("w8a8"),
            bytes("w4a8"),
            mean_std(&time).0
        );
    }
    let _ = writeln!(
        s,
        "\nStudent `cnn`, seeds {seeds:?}, {} test images; PTQ calibrated on 512 training \
         images; QAT + KD + GoR distils from {}. Study time {seconds:.0} s.",
        lab.splits.test.len(),
        lab.teacher_summary()
    );
    s
}
