//! `edgeq ablate`: every method at W8A8 and W4A4 over several seeds with identical
//! recipes, scored by the runtime; writes the table to `docs/RESULTS.md` (or `--out`).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use super::lab::{Lab, Method, Outcome, TEACHERS};
use crate::data;
use crate::nn::BitPlan;

/// Mean and sample standard deviation.
pub fn mean_std(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f32;
    let mean = v.iter().sum::<f32>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Runs the ablation; returns every outcome and writes `results.json` into `work` and the
/// Markdown table to `markdown`.
pub fn run(work: &Path, markdown: &Path, student: &str, seeds: &[u64]) -> Result<Vec<Outcome>> {
    let started = Instant::now();
    let splits = data::load_splits(&data::bundled_mnist_dir())?;
    let mut lab = Lab::new(splits, work, student)?;
    lab.train_teachers(&TEACHERS)?;
    let mut outcomes = Vec::new();
    for &seed in seeds {
        let (float, fp32) = lab.float_student(seed)?;
        outcomes.push(fp32);
        for bits in ["w8a8", "w4a4"] {
            let plan = BitPlan::parse(bits).expect("valid bits");
            for method in &Method::ALL[1..] {
                let (_, _, o) = lab.quantized_student(&float, *method, plan, seed)?;
                eprintln!(
                    "{bits} {} seed {seed}: {:.2}%",
                    method.label(),
                    100.0 * o.accuracy
                );
                outcomes.push(o);
                std::fs::write(
                    work.join("results.json"),
                    serde_json::to_string_pretty(&outcomes)?,
                )?;
            }
        }
    }
    let md = markdown_table(&lab, &outcomes, seeds, started.elapsed().as_secs_f32());
    std::fs::write(markdown, md)?;
    Ok(outcomes)
}

fn markdown_table(lab: &Lab, outcomes: &[Outcome], seeds: &[u64], seconds: f32) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| method | W8A8 accuracy (%) | W4A4 accuracy (%) | final s_t / s_k (W4A4) |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for method in Method::ALL {
        let cell = |bits: Option<&str>| {
            let acc: Vec<f32> = outcomes
                .iter()
                .filter(|o| o.method == method && (bits.is_none() || o.bits.as_deref() == bits))
                .map(|o| 100.0 * o.accuracy)
                .collect();
            let (m, sd) = mean_std(&acc);
            format!("{m:.2} ± {sd:.2}")
        };
        let (w8, w4) = if method == Method::Fp32 {
            let c = cell(None);
            (format!("{c} (float)"), format!("{c} (float)"))
        } else {
            (cell(Some("w8a8")), cell(Some("w4a4")))
        };
        let gor: Vec<String> = outcomes
            .iter()
            .filter(|o| {
                o.method == method
                    && o.bits.as_deref() == Some("w4a4")
                    && matches!(method, Method::QatKdGor | Method::QatEkdGor)
            })
            .filter_map(|o| {
                o.epochs
                    .last()
                    .map(|l| format!("{:.2}/{:.2}", l.s_task, l.s_kd))
            })
            .collect();
        let gor = if gor.is_empty() {
            "-".into()
        } else {
            gor.join(", ")
        };
        let _ = writeln!(s, "| {} | {w8} | {w4} | {gor} |", method.label());
    }
    let _ = writeln!(
        s,
        "\nStudent `{}`, seeds {:?}, {} test images; teachers (float test accuracy): {}. \
         Quantized rows are the exported `.eqm` run by `edgeq-runtime`. Ablation time {:.0} s.",
        lab.student,
        seeds,
        lab.splits.test.len(),
        lab.teacher_summary(),
        seconds
    );
    s
}
