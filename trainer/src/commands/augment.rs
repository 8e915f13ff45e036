//! `edgeq augment rank` (score candidate policies with the teacher before training) and
//! `edgeq augment study` (train a W4A4 QAT+KD+GoR student with each policy and correlate
//! accuracy with the metric).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use serde::Serialize;

use super::lab::{Lab, Method, TEACHERS};
use super::train::load_teachers;
use crate::augment::Policy;
use crate::data::{self, Dataset};
use crate::nn::BitPlan;
use crate::train::augment_rank::{self, PolicyScore, DEFAULT_POLICIES};
use crate::train::teacher::Ensemble;

/// Scores `policies` (default: [`DEFAULT_POLICIES`]) on `train` with `teachers`; best first.
pub fn rank(policies: &[String], train: &Dataset, teachers: &Ensemble) -> Result<Vec<PolicyScore>> {
    ensure!(
        !teachers.is_empty(),
        "ranking augmentations needs a teacher (--teacher)"
    );
    let names: Vec<String> = if policies.is_empty() {
        DEFAULT_POLICIES.iter().map(|s| s.to_string()).collect()
    } else {
        policies.to_vec()
    };
    let mut scores = Vec::new();
    for name in &names {
        let policy = Policy::parse(name)?;
        let s = augment_rank::score(&policy, train, teachers, 64, 1)?;
        eprintln!(
            "{:<28} score {:+.4} (−CE {:+.4}, KL {:.4})",
            s.policy, s.score, -s.cross_entropy, s.contextual_kl
        );
        scores.push(s);
    }
    scores.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(scores)
}

/// `edgeq augment rank`: prints the ranking and optionally writes it as JSON.
pub fn run_rank(
    teachers: &[PathBuf],
    data_dir: Option<PathBuf>,
    policies: &[String],
    json: Option<&Path>,
) -> Result<Vec<PolicyScore>> {
    let dir = data_dir.unwrap_or_else(data::bundled_mnist_dir);
    let splits = data::load_splits(&dir)?;
    let ensemble = load_teachers(teachers, &[], splits.train.shape)?;
    let scores = rank(policies, &splits.train, &ensemble)?;
    println!(
        "{:<4} {:<28} {:>9} {:>9} {:>9}",
        "rank", "policy", "score", "-CE", "KL"
    );
    for (i, s) in scores.iter().enumerate() {
        println!(
            "{:<4} {:<28} {:>9.4} {:>9.4} {:>9.4}",
            i + 1,
            s.policy,
            s.score,
            -s.cross_entropy,
            s.contextual_kl
        );
    }
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&scores)?)?;
    }
    Ok(scores)
}

/// The top policy for `teachers` on `train` (what `edgeq train --augment auto` uses).
pub fn auto_policy(train: &Dataset, teachers: &Ensemble) -> Result<String> {
    let scores = rank(&[], train, teachers)?;
    Ok(scores[0].policy.clone())
}

/// One row of the study.
#[derive(Clone, Debug, Serialize)]
pub struct StudyRow {
    /// The metric.
    pub metric: PolicyScore,
    /// Runtime accuracy of the W4A4 student per seed.
    pub accuracy: Vec<(u64, f32)>,
}

/// `edgeq augment study`: ranks the default policies with the best teacher, trains a W4A4
/// QAT+KD+GoR student per policy (seed 1; seeds 1–3 for the top and bottom policy) and
/// writes a Markdown table with Spearman's rank correlation.
pub fn run_study(work: &Path, markdown: &Path, student: &str) -> Result<Vec<StudyRow>> {
    let splits = data::load_splits(&data::bundled_mnist_dir())?;
    let mut lab = Lab::new(splits, work, student)?;
    lab.train_teachers(&TEACHERS)?;
    let teacher = lab.ensemble(false)?;
    let scores = rank(&[], &lab.splits.train, &teacher)?;
    let bits = BitPlan::parse("w4a4").expect("valid bits");
    let mut rows: Vec<StudyRow> = scores
        .into_iter()
        .map(|metric| StudyRow {
            metric,
            accuracy: Vec::new(),
        })
        .collect();
    let last = rows.len() - 1;
    for seed in [1u64, 2, 3] {
        let (float, _) = lab.float_student(seed)?;
        for i in 0..rows.len() {
            if seed > 1 && i != 0 && i != last {
                continue;
            }
            lab.qat.augment = Policy::parse(&rows[i].metric.policy)?;
            let (_, _, o) = lab.quantized_student(&float, Method::QatKdGor, bits, seed)?;
            eprintln!(
                "policy {} seed {seed}: {:.2}%",
                rows[i].metric.policy,
                100.0 * o.accuracy
            );
            rows[i].accuracy.push((seed, o.accuracy));
            std::fs::write(
                work.join("augment-study.json"),
                serde_json::to_string_pretty(&rows)?,
            )?;
        }
    }
    std::fs::write(markdown, study_markdown(&rows, &lab))?;
    Ok(rows)
}

fn study_markdown(rows: &[StudyRow], lab: &Lab) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| rank | policy | score | −CE | KL | W4A4 accuracy, seed 1 (%) | seeds 1–3 (%) |"
    );
    let _ = writeln!(s, "|---:|---|---:|---:|---:|---:|---:|");
    for (i, r) in rows.iter().enumerate() {
        let seed1 = r
            .accuracy
            .iter()
            .find(|(s, _)| *s == 1)
            .map_or(0.0, |a| a.1);
        let all: Vec<f32> = r.accuracy.iter().map(|a| 100.0 * a.1).collect();
        let multi = if all.len() > 1 {
            let (m, sd) = super::ablate::mean_std(&all);
            format!("{m:.2} ± {sd:.2}")
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "| {} | `{}` | {:.4} | {:.4} | {:.4} | {:.2} | {multi} |",
            i + 1,
            r.metric.policy,
            r.metric.score,
            -r.metric.cross_entropy,
            r.metric.contextual_kl,
            100.0 * seed1
        );
    }
    let metric: Vec<f32> = rows.iter().map(|r| r.metric.score).collect();
    let acc: Vec<f32> = rows
        .iter()
        .map(|r| {
            r.accuracy
                .iter()
                .find(|(s, _)| *s == 1)
                .map_or(0.0, |a| a.1)
        })
        .collect();
    let _ = writeln!(
        s,
        "\nSpearman rank correlation between score and seed-1 accuracy: {:.3} ({} policies). \
         Teacher for the metric and for KD: the best of the lab's teachers ({}); student `{}`, \
         QAT stage trained with each policy (float stage: the default `shift=2`).",
        augment_rank::spearman(&metric, &acc),
        rows.len(),
        lab.teachers
            .iter()
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map_or("-".into(), |t| t.0.clone()),
        lab.student
    );
    s
}
