//! Teachers for distillation: trained [`Net`]s (burnpack checkpoints) or ONNX files run by
//! tract-onnx, frozen, averaged into one soft target by [`Ensemble`].

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use tract_onnx::prelude::*;

use crate::nn::{checkpoint, Net};

type TractPlan = std::sync::Arc<TypedRunnableModel>;

/// An ONNX classifier run by tract: `[B, C, H, W]` float in, `[B, classes]` logits out,
/// built for a fixed batch `B` (shorter batches are zero-padded).
pub struct OnnxTeacher {
    plan: TractPlan,
    batch: usize,
    shape: [usize; 3],
}

impl OnnxTeacher {
    /// Loads `path` for images of `shape`.
    pub fn load(path: &Path, shape: [usize; 3]) -> Result<Self> {
        let batch = 64;
        let [c, h, w] = shape;
        let plan = tract_onnx::onnx()
            .model_for_path(path)
            .with_context(|| format!("tract: parsing {}", path.display()))?
            .with_input_fact(0, f32::fact([batch, c, h, w]).into())?
            .into_optimized()
            .with_context(|| format!("tract: optimizing {}", path.display()))?
            .into_runnable()?;
        Ok(OnnxTeacher { plan, batch, shape })
    }

    fn logits(&self, pixels: &[f32]) -> Result<Vec<f32>> {
        let per: usize = self.shape.iter().product();
        let n = pixels.len() / per;
        let [c, h, w] = self.shape;
        let mut out = Vec::new();
        for chunk in pixels.chunks(self.batch * per) {
            let m = chunk.len() / per;
            let mut padded = chunk.to_vec();
            padded.resize(self.batch * per, 0.0);
            let input = tract_ndarray::Array4::from_shape_vec((self.batch, c, h, w), padded)?;
            let result = self.plan.run(tvec!(input.into_tensor().into_tvalue()))?;
            let logits = result[0].to_plain_array_view::<f32>()?;
            let values: Vec<f32> = logits.iter().copied().collect();
            let classes = values.len() / self.batch;
            out.extend_from_slice(&values[..m * classes]);
        }
        ensure!(
            n == 0 || !out.is_empty(),
            "the ONNX teacher returned nothing"
        );
        Ok(out)
    }
}

/// One frozen teacher.
pub enum Teacher {
    /// A network trained here (on the inference device).
    Net(Net),
    /// An ONNX file.
    Onnx(OnnxTeacher),
}

impl Teacher {
    /// Loads a `.bpk` checkpoint or a `.onnx` file, for images of `shape`.
    pub fn load(path: &Path, shape: [usize; 3]) -> Result<Teacher> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("onnx") => Ok(Teacher::Onnx(OnnxTeacher::load(path, shape)?)),
            Some("bpk") => {
                let (net, meta) = checkpoint::load(path, &burn::tensor::Device::flex())?;
                ensure!(
                    meta.spec.input == shape,
                    "teacher {} takes {:?} images, the data is {:?}",
                    path.display(),
                    meta.spec.input,
                    shape
                );
                Ok(Teacher::Net(net))
            }
            _ => bail!(
                "{}: a teacher is a .bpk checkpoint (edgeq train) or an .onnx file",
                path.display()
            ),
        }
    }

    /// Softened probabilities `softmax(z / T)`, row-major `[N, classes]`.
    pub fn probabilities(&self, pixels: &[f32], shape: [usize; 3], t: f32) -> Result<Vec<f32>> {
        match self {
            Teacher::Net(net) => Ok(super::probabilities(net, pixels, shape, t)),
            Teacher::Onnx(o) => {
                let logits = o.logits(pixels)?;
                let n = pixels.len() / shape.iter().product::<usize>();
                let classes = logits.len() / n.max(1);
                let mut p = logits;
                for row in p.chunks_mut(classes.max(1)) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for v in row.iter_mut() {
                        *v = ((*v - max) / t).exp();
                        sum += *v;
                    }
                    row.iter_mut().for_each(|v| *v /= sum);
                }
                Ok(p)
            }
        }
    }
}

/// Teachers with weights; the soft target is the weighted mean of their softened
/// probabilities (EKD with one teacher is plain KD).
#[derive(Default)]
pub struct Ensemble {
    members: Vec<(Teacher, f32)>,
}

impl Ensemble {
    /// No teacher.
    pub fn none() -> Self {
        Ensemble::default()
    }

    /// Adds a teacher with weight `weight` (weights are normalised to sum to 1).
    pub fn push(&mut self, teacher: Teacher, weight: f32) {
        self.members.push((teacher, weight.max(0.0)));
    }

    /// Number of teachers.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True without teachers.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The soft target for `pixels`: `Σ w_i softmax(z_i / T) / Σ w_i`.
    pub fn probabilities(&self, pixels: &[f32], shape: [usize; 3], t: f32) -> Result<Vec<f32>> {
        let total: f32 = self.members.iter().map(|(_, w)| w).sum();
        ensure!(total > 0.0, "the teachers' weights sum to 0");
        let mut out: Vec<f32> = Vec::new();
        for (teacher, w) in &self.members {
            let p = teacher.probabilities(pixels, shape, t)?;
            if out.is_empty() {
                out = vec![0.0; p.len()];
            }
            ensure!(
                p.len() == out.len(),
                "teachers disagree on the number of classes"
            );
            for (o, v) in out.iter_mut().zip(p) {
                *o += w / total * v;
            }
        }
        Ok(out)
    }
}
