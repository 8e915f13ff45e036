//! `edgeq demo`: the README's main job. Trains three heterogeneous teachers and a float
//! student on the bundled MNIST digits, distils W8A8 and W4A4 students from the teacher
//! ensemble with GoR, exports them to `.eqm`, scores them with the integer runtime and
//! prints a table.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use super::lab::{Lab, Method, Outcome, TEACHERS};
use crate::data;
use crate::nn::BitPlan;

/// The demo's results (also written as `demo.json`).
#[derive(Serialize)]
pub struct DemoReport {
    /// Student architecture.
    pub student: String,
    /// Teachers: name and float test accuracy.
    pub teachers: Vec<(String, f32)>,
    /// Students.
    pub students: Vec<Outcome>,
    /// Wall-clock seconds of the whole demo.
    pub seconds: f32,
}

/// Runs the demo, writing everything into `out`.
pub fn run(out: &Path, student: &str, seed: u64) -> Result<DemoReport> {
    let started = Instant::now();
    let splits = data::load_splits(&data::bundled_mnist_dir())?;
    eprintln!(
        "edgeq demo: {} training / {} test MNIST digits; teachers {}, student {student}",
        splits.train.len(),
        splits.test.len(),
        TEACHERS.map(|t| t.0).join(", ")
    );
    let mut lab = Lab::new(splits, out, student)?;
    lab.train_teachers(&TEACHERS)?;
    let (float, fp32) = lab.float_student(seed)?;
    let mut students = vec![fp32];
    for bits in ["w8a8", "w4a4"] {
        let plan = BitPlan::parse(bits).expect("valid bits");
        let (_, exported, outcome) =
            lab.quantized_student(&float, Method::QatEkdGor, plan, seed)?;
        let path = out.join(format!("student-{student}-{bits}.eqm"));
        std::fs::write(&path, &exported.eqm)?;
        eprintln!("wrote {}", path.display());
        students.push(outcome);
    }
    let report = DemoReport {
        student: student.to_string(),
        teachers: lab
            .teachers
            .iter()
            .map(|(n, _, a)| (n.clone(), *a))
            .collect(),
        students,
        seconds: started.elapsed().as_secs_f32(),
    };
    std::fs::write(
        out.join("demo.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    print_table(&report, lab.splits.test.len());
    Ok(report)
}

fn print_table(r: &DemoReport, test_images: usize) {
    println!();
    println!("Test accuracy on {test_images} held-out MNIST digits");
    println!(
        "{:<34} {:>9} {:>10} {:>10} {:>9} {:>8}",
        "model", "accuracy", "scored by", "weights B", "arena B", "s_t/s_k"
    );
    for (name, acc) in &r.teachers {
        println!(
            "{:<34} {:>8.2}% {:>10} {:>10} {:>9} {:>8}",
            format!("teacher {name} (fp32)"),
            100.0 * acc,
            "float",
            "-",
            "-",
            "-"
        );
    }
    for s in &r.students {
        let name = match &s.bits {
            Some(b) => format!("{} {b}, {}", r.student, s.method.label()),
            None => format!("{} fp32, no KD", r.student),
        };
        let (w, a) = s.model_bytes.map_or(("-".into(), "-".into()), |(w, a)| {
            (w.to_string(), a.to_string())
        });
        let gor = s
            .epochs
            .last()
            .filter(|_| s.method == Method::QatEkdGor)
            .map_or("-".into(), |l| format!("{:.2}/{:.2}", l.s_task, l.s_kd));
        let scorer = if s.bits.is_some() { "runtime" } else { "float" };
        println!(
            "{name:<34} {:>8.2}% {scorer:>10} {w:>10} {a:>9} {gor:>8}",
            100.0 * s.accuracy
        );
    }
    for s in r.students.iter().filter(|s| s.agreement.is_some()) {
        println!(
            "{} {}: fake-quant and runtime agree on {:.2}% of test predictions",
            s.bits.as_deref().unwrap_or(""),
            s.method.label(),
            100.0 * s.agreement.unwrap_or(0.0)
        );
    }
    println!(
        "s_t/s_k: GoR's learned log-variances at the end (loss weights exp(−s)). \
         Quantized accuracies are the .eqm files run by edgeq-runtime."
    );
    println!("demo time: {:.0} s", r.seconds);
}
