//! Ranking augmentation policies before training, from the frozen teacher alone: the
//! metric of "Data-Augmented Quantization-Aware Knowledge Distillation" (arXiv 2509.03850)
//! as its authors' public code computes it.
//!
//! For a policy, every training image is augmented (with the batch mixes applied per
//! batch, as in training) and run through the teacher. With `p(x)` the teacher's softmax
//! and `y(x)` the (possibly mixed) target:
//!
//! - `CE = mean_x −Σ_c y_c(x) log p_c(x)`: how well the teacher's predictions still match
//!   the labels (low is good);
//! - `p̄_c = Σ_x y_c(x) p(x) / Σ_x y_c(x)`: the class-average prediction;
//! - `KL = mean_x Σ_c y_c(x) KL(p(x) ‖ p̄_c)`: how much the teacher's predictions vary
//!   within a class beyond the label, the contextual mutual information (high is good);
//! - **score = −CE + KL**; the policy with the highest score ranks first.

use anyhow::Result;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use super::teacher::Ensemble;
use crate::augment::Policy;
use crate::data::Dataset;

/// A policy's score and its two terms.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyScore {
    /// The policy, as `Policy::parse` reads it.
    pub policy: String,
    /// Cross-entropy of the teacher against the targets.
    pub cross_entropy: f32,
    /// Mean KL divergence from the class-average prediction.
    pub contextual_kl: f32,
    /// `−CE + KL`.
    pub score: f32,
}

/// The candidate policies `edgeq augment rank` scores by default: single ops and
/// compositions, with and without mixup and cutmix.
pub const DEFAULT_POLICIES: [&str; 8] = [
    "none",
    "shift=2",
    "rotate=15",
    "erase=0.4",
    "shift=2+rotate=10",
    "mixup=0.2",
    "cutmix=1",
    "shift=2+rotate=10+cutmix=1",
];

/// Scores `policy` on `data` with `teachers` (temperature 1), in batches of `batch` for the
/// batch mixes, with augmentation drawn from `seed`.
pub fn score(
    policy: &Policy,
    data: &Dataset,
    teachers: &Ensemble,
    batch: usize,
    seed: u64,
) -> Result<PolicyScore> {
    let classes = data.classes;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut probs = Vec::with_capacity(data.len() * classes);
    let mut targets = Vec::with_capacity(data.len() * classes);
    for start in (0..data.len()).step_by(batch.max(1)) {
        let n = (data.len() - start).min(batch.max(1));
        let mut pixels =
            data.pixels[start * data.image_len()..(start + n) * data.image_len()].to_vec();
        let mut t = vec![0f32; n * classes];
        for i in 0..n {
            t[i * classes + usize::from(data.labels[start + i])] = 1.0;
        }
        policy.apply(data.shape, &mut pixels, &mut t, classes, &mut rng);
        probs.extend(teachers.probabilities(&pixels, data.shape, 1.0)?);
        targets.extend(t);
    }
    Ok(metric(&probs, &targets, classes, &policy.to_string()))
}

/// The metric from teacher probabilities and targets (row-major, `classes` per row).
pub fn metric(probs: &[f32], targets: &[f32], classes: usize, name: &str) -> PolicyScore {
    let n = probs.len() / classes;
    let eps = 1e-12f64;
    let mut ce = 0f64;
    let mut mean = vec![0f64; classes * classes];
    let mut weight = vec![0f64; classes];
    for (p, y) in probs.chunks(classes).zip(targets.chunks(classes)) {
        for c in 0..classes {
            let yc = f64::from(y[c]);
            ce -= yc * (f64::from(p[c]) + eps).ln();
            if yc > 0.0 {
                weight[c] += yc;
                for k in 0..classes {
                    mean[c * classes + k] += yc * f64::from(p[k]);
                }
            }
        }
    }
    for c in 0..classes {
        for k in 0..classes {
            mean[c * classes + k] /= weight[c].max(eps);
        }
    }
    let mut kl = 0f64;
    for (p, y) in probs.chunks(classes).zip(targets.chunks(classes)) {
        for c in 0..classes {
            let yc = f64::from(y[c]);
            if yc > 0.0 {
                let d: f64 = (0..classes)
                    .map(|k| {
                        let pk = f64::from(p[k]);
                        if pk > 0.0 {
                            pk * ((pk + eps).ln() - (mean[c * classes + k] + eps).ln())
                        } else {
                            0.0
                        }
                    })
                    .sum();
                kl += yc * d;
            }
        }
    }
    let (ce, kl) = ((ce / n.max(1) as f64) as f32, (kl / n.max(1) as f64) as f32);
    PolicyScore {
        policy: name.to_string(),
        cross_entropy: ce,
        contextual_kl: kl,
        score: kl - ce,
    }
}

/// Spearman's rank correlation of two equally long series (average ranks for ties).
pub fn spearman(a: &[f32], b: &[f32]) -> f32 {
    fn ranks(v: &[f32]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for k in i..=j {
                r[idx[k]] = (i + j) as f64 / 2.0 + 1.0;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    (cov / (va * vb).sqrt().max(1e-12)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_terms_on_a_hand_computed_case() {
        // Two images of class 0: predictions (0.5, 0.5) and (1, 0). Class average
        // (0.75, 0.25). CE = −(ln 0.5 + ln 1)/2; KL = (KL1 + KL2)/2 with
        // KL1 = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25), KL2 = ln(1/0.75).
        let probs = [0.5, 0.5, 1.0, 0.0];
        let targets = [1.0, 0.0, 1.0, 0.0];
        let s = metric(&probs, &targets, 2, "x");
        let ce = -(0.5f64.ln()) / 2.0;
        let kl1 = 0.5 * (0.5f64 / 0.75).ln() + 0.5 * 2f64.ln();
        let kl2 = (1.0f64 / 0.75).ln();
        assert!((f64::from(s.cross_entropy) - ce).abs() < 1e-6);
        assert!((f64::from(s.contextual_kl) - (kl1 + kl2) / 2.0).abs() < 1e-6);
        assert!((s.score - (s.contextual_kl - s.cross_entropy)).abs() < 1e-7);
    }

    #[test]
    fn spearman_of_monotone_and_reversed_series() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-6);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-6);
        assert!((spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]) - 0.866).abs() < 1e-3);
    }
}
