//! The experiments behind `edgeq demo` and `edgeq ablate`: teachers trained once, a float
//! student per seed, and quantized students for each method, every one scored by the
//! integer runtime.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::train::{float_recipe, qat_recipe};
use crate::data::Splits;
use crate::nn::{checkpoint, BitPlan};
use crate::pipeline::{self, Trained};
use crate::train::balance::Balancer;
use crate::train::teacher::{Ensemble, Teacher};
use crate::train::{Bars, EpochLog, Recipe};

/// The teachers of the experiments: heterogeneous (a wide CNN, a deeper CNN, an MLP).
pub const TEACHERS: [(&str, usize); 3] = [("wide-cnn", 2), ("deep-cnn", 2), ("mlp", 4)];

/// A training method of the ablation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Method {
    /// Float student, task loss only.
    Fp32,
    /// QAT, task loss only.
    Qat,
    /// QAT + KD from the best teacher, fixed weights.
    QatKdFixed,
    /// QAT + KD from the best teacher, GoR.
    QatKdGor,
    /// QAT + KD from the teacher ensemble, GoR.
    QatEkdGor,
}

impl Method {
    /// Every method, in table order.
    pub const ALL: [Method; 5] = [
        Method::Fp32,
        Method::Qat,
        Method::QatKdFixed,
        Method::QatKdGor,
        Method::QatEkdGor,
    ];

    /// Table label.
    pub fn label(self) -> &'static str {
        match self {
            Method::Fp32 => "FP32 student, no KD",
            Method::Qat => "QAT",
            Method::QatKdFixed => "QAT + KD (fixed α=0.5)",
            Method::QatKdGor => "QAT + KD + GoR",
            Method::QatEkdGor => "QAT + EKD + GoR",
        }
    }

    fn balancer(self) -> Option<Balancer> {
        match self {
            Method::Fp32 | Method::Qat => None,
            Method::QatKdFixed => Some(Balancer::Fixed { alpha: 0.5 }),
            Method::QatKdGor | Method::QatEkdGor => Some(Balancer::Gor),
        }
    }
}

/// One trained and scored student.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Method.
    pub method: Method,
    /// Bits, for quantized students.
    pub bits: Option<String>,
    /// Seed.
    pub seed: u64,
    /// Test accuracy: the runtime's for quantized students, float for FP32.
    pub accuracy: f32,
    /// Fake-quant vs runtime agreement on test predictions (quantized students).
    pub agreement: Option<f32>,
    /// `.eqm` weight (constant) bytes and arena bytes (quantized students).
    pub model_bytes: Option<(usize, usize)>,
    /// Per-epoch log of the last stage (losses, s_t, s_k).
    pub epochs: Vec<EpochLog>,
    /// Seconds of training.
    pub seconds: f32,
}

/// Shared state: data, teachers, where files go.
pub struct Lab {
    /// The data.
    pub splits: Splits,
    /// Output folder.
    pub dir: PathBuf,
    /// Student architecture.
    pub student: String,
    /// Trained teachers: (name, checkpoint path, float test accuracy).
    pub teachers: Vec<(String, PathBuf, f32)>,
    /// Float recipe of the students.
    pub float: Recipe,
    /// QAT recipe.
    pub qat: Recipe,
}

impl Lab {
    /// A lab writing into `dir`.
    pub fn new(splits: Splits, dir: &Path, student: &str) -> Result<Lab> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Lab {
            splits,
            dir: dir.to_path_buf(),
            student: student.to_string(),
            teachers: Vec::new(),
            float: float_recipe(),
            qat: qat_recipe(),
        })
    }

    /// Trains the teachers (or reuses checkpoints already in the folder with the same
    /// recipe), writing each as `.bpk` and `.onnx`.
    pub fn train_teachers(&mut self, names: &[(&str, usize)]) -> Result<()> {
        for &(arch, epochs) in names {
            let path = self.dir.join(format!("teacher-{arch}.bpk"));
            let recipe = Recipe {
                epochs,
                ..float_recipe()
            };
            let reused = checkpoint::load(&path, &burn::tensor::Device::flex())
                .ok()
                .filter(|(_, meta)| {
                    meta.info.get("recipe") == serde_json::to_value(&recipe).ok().as_ref()
                });
            let accuracy = match reused {
                Some((net, _)) => {
                    let acc = pipeline::float_accuracy(&net, &self.splits.test)?;
                    eprintln!(
                        "teacher {arch}: reusing {} ({:.2}%)",
                        path.display(),
                        100.0 * acc
                    );
                    acc
                }
                None => {
                    let t = pipeline::train_float(
                        arch,
                        &self.splits,
                        &recipe,
                        &Ensemble::none(),
                        &mut Bars::new(format!("teacher {arch}")),
                    )?;
                    let acc = pipeline::float_accuracy(&t.net, &self.splits.test)?;
                    let meta = checkpoint::Meta {
                        spec: t.spec.clone(),
                        info: serde_json::json!({ "recipe": recipe, "test_accuracy": acc }),
                    };
                    checkpoint::save(&t.net, &meta, &path)?;
                    crate::nn::onnx::write_onnx(&t.net, &t.spec, &path.with_extension("onnx"))?;
                    acc
                }
            };
            self.teachers.push((arch.to_string(), path, accuracy));
        }
        Ok(())
    }

    /// "name acc%, ..." of the trained teachers, for reports.
    pub fn teacher_summary(&self) -> String {
        let parts: Vec<String> = self
            .teachers
            .iter()
            .map(|(n, _, a)| format!("{n} {:.2}%", 100.0 * a))
            .collect();
        parts.join(", ")
    }

    /// The best teacher alone, or all of them with equal weights.
    pub fn ensemble(&self, all: bool) -> Result<Ensemble> {
        let mut e = Ensemble::none();
        let mut chosen: Vec<&(String, PathBuf, f32)> = self.teachers.iter().collect();
        if !all {
            chosen.sort_by(|a, b| b.2.total_cmp(&a.2));
            chosen.truncate(1);
        }
        for (_, path, _) in chosen {
            e.push(Teacher::load(path, self.splits.train.shape)?, 1.0);
        }
        Ok(e)
    }

    /// The float student of `seed` (task loss only): the FP32 baseline and the start of
    /// every QAT run of that seed.
    pub fn float_student(&self, seed: u64) -> Result<(Trained, Outcome)> {
        let started = Instant::now();
        let recipe = Recipe {
            seed,
            ..self.float.clone()
        };
        let t = pipeline::train_float(
            &self.student,
            &self.splits,
            &recipe,
            &Ensemble::none(),
            &mut Bars::new(format!("{} fp32 seed {seed}", self.student)),
        )?;
        let accuracy = pipeline::float_accuracy(&t.net, &self.splits.test)?;
        let outcome = Outcome {
            method: Method::Fp32,
            bits: None,
            seed,
            accuracy,
            agreement: None,
            model_bytes: None,
            epochs: t.logs.clone(),
            seconds: started.elapsed().as_secs_f32(),
        };
        Ok((t, outcome))
    }

    /// A quantized student by `method`, from the float student, exported and scored.
    pub fn quantized_student(
        &self,
        float: &Trained,
        method: Method,
        bits: BitPlan,
        seed: u64,
    ) -> Result<(Trained, pipeline::Exported, Outcome)> {
        let started = Instant::now();
        let teachers = match method {
            Method::Fp32 | Method::Qat => Ensemble::none(),
            Method::QatKdFixed | Method::QatKdGor => self.ensemble(false)?,
            Method::QatEkdGor => self.ensemble(true)?,
        };
        let recipe = Recipe {
            seed,
            balancer: method.balancer(),
            ..self.qat.clone()
        };
        let label = format!("{} {bits} {} seed {seed}", self.student, method.label());
        let q = pipeline::train_qat(
            float,
            bits,
            &self.splits,
            &recipe,
            &teachers,
            &mut Bars::new(label),
        )?;
        let exported = pipeline::export_and_score(&q, &self.splits.test)?;
        let model = edgeq_runtime::ModelBytes::copy_from(&exported.eqm);
        let sizes = edgeq_runtime::Model::from_bytes(model.bytes())
            .map(|m| (m.const_size(), m.arena_size()))
            .ok();
        let outcome = Outcome {
            method,
            bits: Some(format!("w{}a{}", bits.weights, bits.acts)),
            seed,
            accuracy: exported.runtime.accuracy,
            agreement: Some(exported.agreement),
            model_bytes: sizes,
            epochs: q.logs.clone(),
            seconds: started.elapsed().as_secs_f32(),
        };
        Ok((q, exported, outcome))
    }
}
