//! The training loop: float training of teachers and students, and quantization-aware
//! training with distillation from a teacher ensemble, balanced by a [`balance::Balancer`].
//!
//! One recipe ([`Recipe`]) drives every run, so ablations differ only in the fields they
//! name. Everything random (initialisation, shuffling, augmentation) comes from the
//! recipe's seed.

pub mod augment_rank;
pub mod balance;
pub mod teacher;

use std::time::Instant;

use anyhow::{ensure, Result};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::augment::Policy;
use crate::data::Dataset;
use crate::nn::{images_tensor, Net};
use balance::{Balancer, LossBalancer};
use teacher::Ensemble;

/// How to train.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recipe {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// Peak learning rate (Adam), decayed to 0 by a cosine schedule.
    pub lr: f64,
    /// Learning rate of the balancer's two scalars (constant).
    pub balancer_lr: f64,
    /// Augmentation policy.
    #[serde(with = "policy_string")]
    pub augment: Policy,
    /// Distillation temperature.
    pub temperature: f32,
    /// How task and distillation losses combine; `None` trains on the task loss alone.
    pub balancer: Option<Balancer>,
    /// Seed of shuffling and augmentation.
    pub seed: u64,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            epochs: 4,
            batch: 64,
            lr: 2e-3,
            balancer_lr: 1e-2,
            augment: Policy::parse("shift=2").expect("valid policy"),
            temperature: 4.0,
            balancer: None,
            seed: 1,
        }
    }
}

mod policy_string {
    use super::Policy;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Policy, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Policy, D::Error> {
        let s = String::deserialize(d)?;
        Policy::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What happened in one epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean task (cross-entropy) loss.
    pub task_loss: f32,
    /// Mean distillation loss (0 without teachers).
    pub kd_loss: f32,
    /// Mean combined loss.
    pub loss: f32,
    /// The balancer's `s_t` at the end of the epoch.
    pub s_task: f32,
    /// The balancer's `s_k` at the end of the epoch.
    pub s_kd: f32,
    /// Accuracy on the evaluation set (float or fake-quant), if one was given.
    pub eval_accuracy: Option<f32>,
    /// Wall-clock seconds.
    pub seconds: f32,
}

/// Reports progress: a bar on a terminal, one line per epoch otherwise.
pub trait Progress {
    /// A new epoch of `steps` steps begins.
    fn start_epoch(&mut self, epoch: usize, epochs: usize, steps: usize);
    /// One step done, with the running loss.
    fn step(&mut self, loss: f32);
    /// The epoch is over.
    fn end_epoch(&mut self, log: &EpochLog);
}

/// No output (tests).
pub struct Quiet;

impl Progress for Quiet {
    fn start_epoch(&mut self, _: usize, _: usize, _: usize) {}
    fn step(&mut self, _: f32) {}
    fn end_epoch(&mut self, _: &EpochLog) {}
}

/// An indicatif bar per epoch, labelled with `label`.
pub struct Bars {
    label: String,
    bar: Option<indicatif::ProgressBar>,
}

impl Bars {
    /// Bars labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Bars {
            label: label.into(),
            bar: None,
        }
    }
}

impl Progress for Bars {
    fn start_epoch(&mut self, epoch: usize, epochs: usize, steps: usize) {
        let bar = indicatif::ProgressBar::new(steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{} epoch {epoch}/{epochs}", self.label));
        self.bar = Some(bar);
    }

    fn step(&mut self, loss: f32) {
        if let Some(b) = &self.bar {
            b.set_message(format!("loss {loss:.3}"));
            b.inc(1);
        }
    }

    fn end_epoch(&mut self, log: &EpochLog) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let acc = log
            .eval_accuracy
            .map(|a| format!(", eval acc {:.2}%", 100.0 * a))
            .unwrap_or_default();
        eprintln!(
            "{} epoch {}: loss {:.4} (task {:.4}, kd {:.4}), s_t {:.3}, s_k {:.3}{acc}, {:.1}s",
            self.label,
            log.epoch,
            log.loss,
            log.task_loss,
            log.kd_loss,
            log.s_task,
            log.s_kd,
            log.seconds
        );
    }
}

/// The device training runs on: burn's Flex CPU backend with autodiff.
pub fn train_device() -> Device {
    Device::flex().autodiff()
}

/// Trains `net` (float, or quantized after [`Net::into_qat`]) on `train` with `recipe`,
/// distilling from `teachers` when the recipe has a balancer. Evaluates on `eval` after each
/// epoch when given.
pub fn train(
    mut net: Net,
    train: &Dataset,
    eval: Option<&Dataset>,
    recipe: &Recipe,
    teachers: &Ensemble,
    progress: &mut dyn Progress,
) -> Result<(Net, Vec<EpochLog>)> {
    ensure!(
        recipe.batch > 0 && recipe.epochs > 0,
        "epochs and batch must be positive"
    );
    ensure!(
        recipe.balancer.is_none() || !teachers.is_empty(),
        "distillation needs at least one teacher"
    );
    let device = train_device();
    let distill = recipe.balancer.is_some();
    let mut rng = StdRng::seed_from_u64(recipe.seed);
    let mut optim = AdamConfig::new().init();
    let mut balancer_optim = AdamConfig::new().init();
    let mut balancer = LossBalancer::new(&device);
    // Without augmentation the teachers see the same images every epoch: compute once.
    let cached = if distill && recipe.augment.is_identity() {
        Some(teachers.probabilities(&train.pixels, train.shape, recipe.temperature)?)
    } else {
        None
    };
    let classes = train.classes;
    let steps = train.len().div_ceil(recipe.batch);
    let total_steps = (steps * recipe.epochs) as f64;
    let image_len = train.image_len();
    let mut logs = Vec::new();
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 1..=recipe.epochs {
        let started = Instant::now();
        progress.start_epoch(epoch, recipe.epochs, steps);
        rand::seq::SliceRandom::shuffle(&mut order[..], &mut rng);
        let (mut sum_task, mut sum_kd, mut sum_loss) = (0f64, 0f64, 0f64);
        for (step, chunk) in order.chunks(recipe.batch).enumerate() {
            let n = chunk.len();
            let mut pixels = Vec::with_capacity(n * image_len);
            let mut targets = vec![0f32; n * classes];
            for (row, &i) in chunk.iter().enumerate() {
                pixels.extend_from_slice(train.image(i));
                targets[row * classes + usize::from(train.labels[i])] = 1.0;
            }
            recipe
                .augment
                .apply(train.shape, &mut pixels, &mut targets, classes, &mut rng);
            let teacher_probs = match (&cached, distill) {
                (Some(all), _) => Some(
                    chunk
                        .iter()
                        .flat_map(|&i| all[i * classes..(i + 1) * classes].iter().copied())
                        .collect::<Vec<f32>>(),
                ),
                (None, true) => {
                    Some(teachers.probabilities(&pixels, train.shape, recipe.temperature)?)
                }
                (None, false) => None,
            };
            let x = images_tensor(pixels, n, train.shape, &device);
            let logits = net.forward(x);
            let targets = Tensor::<2>::from_data(TensorData::new(targets, [n, classes]), &device);
            let task = soft_cross_entropy(logits.clone(), targets);
            let (loss, kd) = match (teacher_probs, recipe.balancer) {
                (Some(p), Some(kind)) => {
                    let p = Tensor::<2>::from_data(TensorData::new(p, [n, classes]), &device);
                    let kd = kd_loss(logits, p, recipe.temperature);
                    (balancer.combine(kind, task.clone(), kd.clone()), Some(kd))
                }
                _ => (task.clone(), None),
            };
            let scalar = |t: &Tensor<1>| crate::nn::floats(t.clone())[0];
            let (task_v, loss_v) = (scalar(&task), scalar(&loss));
            let kd_v = kd.as_ref().map_or(0.0, scalar);
            sum_task += f64::from(task_v);
            sum_kd += f64::from(kd_v);
            sum_loss += f64::from(loss_v);

            let progress_done = ((epoch - 1) * steps + step) as f64 / total_steps;
            let lr = recipe.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress_done).cos());
            let mut grads = loss.backward();
            let net_grads = GradientsParams::from_module(&mut grads, &net);
            net = optim.step(lr, net, net_grads).with_positive_steps();
            if matches!(recipe.balancer, Some(Balancer::Gor | Balancer::GorSoft)) {
                let b_grads = GradientsParams::from_module(&mut grads, &balancer);
                balancer = balancer_optim
                    .step(recipe.balancer_lr, balancer, b_grads)
                    .clamped();
            }
            progress.step(loss_v);
        }
        let (s_task, s_kd) = balancer.values();
        let eval_accuracy = match eval {
            Some(d) => Some(accuracy(&predict(&net.valid(), d)?, &d.labels)),
            None => None,
        };
        let log = EpochLog {
            epoch,
            task_loss: (sum_task / steps as f64) as f32,
            kd_loss: (sum_kd / steps as f64) as f32,
            loss: (sum_loss / steps as f64) as f32,
            s_task,
            s_kd,
            eval_accuracy,
            seconds: started.elapsed().as_secs_f32(),
        };
        progress.end_epoch(&log);
        logs.push(log);
    }
    Ok((net, logs))
}

/// Cross-entropy against target distributions (one-hot or mixed), batch mean.
fn soft_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    (log_softmax(logits, 1) * targets).sum_dim(1).mean().neg()
}

/// `T² · KL(p_teacher ‖ softmax(z / T))`, batch mean (Hinton et al.'s scaling keeps the
/// gradient's size independent of `T`).
fn kd_loss(logits: Tensor<2>, teacher: Tensor<2>, temperature: f32) -> Tensor<1> {
    let log_student = log_softmax(logits.div_scalar(temperature), 1);
    let log_teacher = teacher.clone().clamp_min(1e-12).log();
    (teacher * (log_teacher - log_student))
        .sum_dim(1)
        .mean()
        .mul_scalar(temperature * temperature)
}

/// `f(logits)` of a network (inference device) over images in batches of 256, the rows of
/// every batch concatenated.
fn map_logits(
    net: &Net,
    pixels: &[f32],
    shape: [usize; 3],
    f: impl Fn(Tensor<2>) -> Tensor<2>,
) -> Vec<f32> {
    let device = Device::flex();
    let per: usize = shape.iter().product();
    let batch = 256 * per;
    let mut out = Vec::new();
    for chunk in pixels.chunks(batch) {
        let x = images_tensor(chunk.to_vec(), chunk.len() / per, shape, &device);
        out.extend(crate::nn::floats(f(net.forward(x))));
    }
    out
}

/// Predicted classes of a network (inference device) over `data`.
pub fn predict(net: &Net, data: &Dataset) -> Result<Vec<usize>> {
    let logits = map_logits(net, &data.pixels, data.shape, |z| z);
    Ok(logits.chunks(data.classes).map(argmax).collect())
}

/// Softened probabilities `softmax(z / T)` of a network (inference device), row-major.
pub fn probabilities(net: &Net, pixels: &[f32], shape: [usize; 3], temperature: f32) -> Vec<f32> {
    map_logits(net, pixels, shape, |z| {
        softmax(z.div_scalar(temperature), 1)
    })
}

pub use edgeq_convert::evaluate::argmax;

/// Fraction of `predicted` equal to `labels`.
pub fn accuracy(predicted: &[usize], labels: &[u8]) -> f32 {
    let right = predicted
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == usize::from(**l))
        .count();
    right as f32 / labels.len().max(1) as f32
}
