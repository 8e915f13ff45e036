//! Balancing the task loss and the distillation loss: [`LossBalancer`].
//!
//! GoR ("Game of Regularizer", from "Punching Above Precision: Small Quantized Model
//! Distillation with Learnable Regularizer", arXiv 2509.20854) balances the two losses with
//! a learnable regularizer of two trainable scalars. The exact published formula is not
//! available to us; [`Balancer::Gor`] is **our reading of GoR**, in the form of
//! homoscedastic-uncertainty weighting (Kendall et al., 2018):
//!
//! `L = exp(−s_t)·L_task + exp(−s_k)·L_kd + s_t + s_k`, with `s_t = s_k = 0` at the start.
//!
//! Each loss is weighted by a learned precision; the `+ s` terms stop the weights from
//! collapsing to zero. At the optimum `exp(−s) = 1 / L`: the loss that is currently larger
//! gets the smaller weight, so neither dominates. `s_t` and `s_k` are learned jointly with
//! the student by their own Adam optimizer and learning rate, and clamped to `[−4, 4]`
//! after each step (weights between 0.018 and 55) so a loss that reaches ~0 cannot blow
//! its weight up.
//!
//! [`Balancer::GorSoft`] is the variant we judged promising: the positive regularizer of
//! Liebel & Körner (2018), `L = L_task/(2σ_t²) + L_kd/(2σ_k²) + ln(1 + σ_t²) + ln(1 + σ_k²)`
//! with `σ² = exp(s)`: the regularizer stays positive and grows only logarithmically, so the
//! weights move less aggressively than with GoR when a loss gets small.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Bounds of the learned log-variances.
pub const S_BOUNDS: (f32, f32) = (-4.0, 4.0);

/// How the task and distillation losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Balancer {
    /// `(1 − α)·L_task + α·L_kd`.
    Fixed {
        /// Weight of the distillation loss.
        alpha: f32,
    },
    /// Our reading of GoR (see the module docs).
    Gor,
    /// GoR with the positive regularizer `ln(1 + σ²)`.
    GorSoft,
}

impl Balancer {
    /// Parses `fixed`, `fixed=0.7`, `gor`, `gor-soft`.
    pub fn parse(s: &str) -> Option<Balancer> {
        match s.split_once('=') {
            Some(("fixed", a)) => a
                .parse::<f32>()
                .ok()
                .filter(|a| (0.0..=1.0).contains(a))
                .map(|alpha| Balancer::Fixed { alpha }),
            None if s == "fixed" => Some(Balancer::Fixed { alpha: 0.5 }),
            None if s == "gor" => Some(Balancer::Gor),
            None if s == "gor-soft" => Some(Balancer::GorSoft),
            _ => None,
        }
    }
}

impl std::fmt::Display for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Balancer::Fixed { alpha } => write!(f, "fixed={alpha}"),
            Balancer::Gor => write!(f, "gor"),
            Balancer::GorSoft => write!(f, "gor-soft"),
        }
    }
}

/// The balancer's trainable state: `s_t` and `s_k` (unused by [`Balancer::Fixed`]).
#[derive(Module, Debug)]
pub struct LossBalancer {
    /// Log-variance of the task loss.
    pub s_task: Param<Tensor<1>>,
    /// Log-variance of the distillation loss.
    pub s_kd: Param<Tensor<1>>,
}

impl LossBalancer {
    /// `s_t = s_k = 0`.
    pub fn new(device: &Device) -> Self {
        let zero = || Param::from_tensor(Tensor::from_data(TensorData::from([0.0f32]), device));
        LossBalancer {
            s_task: zero(),
            s_kd: zero(),
        }
    }

    /// The combined loss.
    pub fn combine(&self, kind: Balancer, task: Tensor<1>, kd: Tensor<1>) -> Tensor<1> {
        let (st, sk) = (self.s_task.val(), self.s_kd.val());
        match kind {
            Balancer::Fixed { alpha } => task.mul_scalar(1.0 - alpha) + kd.mul_scalar(alpha),
            Balancer::Gor => task * st.clone().neg().exp() + kd * sk.clone().neg().exp() + st + sk,
            Balancer::GorSoft => {
                let weighted = |l: Tensor<1>, s: Tensor<1>| {
                    l * s.clone().neg().exp().mul_scalar(0.5) + (s.exp() + 1.0).log()
                };
                weighted(task, st) + weighted(kd, sk)
            }
        }
    }

    /// Clamps `s_t` and `s_k` to [`S_BOUNDS`].
    pub fn clamped(self) -> Self {
        // A fresh leaf: the clamp must not chain this step's graph into the next one.
        let clamp = |p: Param<Tensor<1>>| {
            p.map(|t| t.clamp(S_BOUNDS.0, S_BOUNDS.1).detach().require_grad())
        };
        LossBalancer {
            s_task: clamp(self.s_task),
            s_kd: clamp(self.s_kd),
        }
    }

    /// `(s_t, s_k)` as numbers.
    pub fn values(&self) -> (f32, f32) {
        let v = |t: Tensor<1>| crate::nn::floats(t)[0];
        (v(self.s_task.val()), v(self.s_kd.val()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: f32, device: &Device) -> Tensor<1> {
        Tensor::from_data(TensorData::from([v]), device)
    }

    #[test]
    fn gor_is_the_documented_formula_and_its_gradient_balances() {
        let device = Device::flex().autodiff();
        let b = LossBalancer::new(&device);
        let (task, kd) = (scalar(2.0, &device), scalar(0.5, &device));
        let loss = b.combine(Balancer::Gor, task, kd);
        let v = loss.clone().into_data().try_into_vec_as::<f32>().unwrap()[0];
        assert!((v - 2.5).abs() < 1e-6, "at s = 0 GoR is the plain sum");
        let grads = loss.backward();
        // dL/ds = 1 - L·exp(-s): task 1 - 2 = -1 (raise s_t), kd 1 - 0.5 = 0.5 (lower s_k).
        let g = |p: &Param<Tensor<1>>| {
            p.val()
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap()[0]
        };
        assert!((g(&b.s_task) + 1.0).abs() < 1e-6);
        assert!((g(&b.s_kd) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn parses_names() {
        assert_eq!(
            Balancer::parse("fixed=0.7"),
            Some(Balancer::Fixed { alpha: 0.7 })
        );
        assert_eq!(Balancer::parse("gor"), Some(Balancer::Gor));
        assert_eq!(Balancer::parse("gor-soft"), Some(Balancer::GorSoft));
        assert_eq!(Balancer::parse("fixed=2"), None);
        assert_eq!(Balancer::parse("gor").unwrap().to_string(), "gor");
    }
}
