//! Data augmentation policies: per-image geometric and erasing ops, then optionally a
//! batch-level mix (mixup or cutmix) that blends images and their one-hot targets.
//!
//! A policy is written as ops joined by `+`, each `name` or `name=value`:
//! `shift=2` (translate by up to 2 pixels each way), `rotate=15` (up to ±15°),
//! `erase=0.4` (blank a random square of up to 0.4 of the side, with probability ½),
//! `mixup=0.2` (λ ~ Beta(0.2, 0.2)), `cutmix=1` (λ ~ Beta(1, 1), a box of area 1 − λ pasted
//! from another image). `none` is the empty policy. Example: `shift=2+rotate=10+mixup=0.2`.

use std::fmt;

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::RngExt;
use rand_distr::{Beta, Distribution};

/// One augmentation op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Translate by up to this many pixels in each direction (zero fill).
    Shift(usize),
    /// Rotate about the centre by up to this many degrees (bilinear, zero fill).
    Rotate(f32),
    /// With probability ½, set a random square of up to this fraction of the side to 0.
    Erase(f32),
    /// Mixup with λ ~ Beta(α, α).
    Mixup(f32),
    /// CutMix with λ ~ Beta(α, α).
    Cutmix(f32),
}

/// A sequence of per-image ops and at most one batch mix.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    /// Per-image ops, applied in order.
    pub ops: Vec<Op>,
    /// Batch-level mix (`Op::Mixup` or `Op::Cutmix`).
    pub mix: Option<Op>,
}

impl Policy {
    /// Parses `shift=2+rotate=10+mixup=0.2` (see the module docs).
    pub fn parse(s: &str) -> Result<Policy> {
        let mut policy = Policy::default();
        if s.trim() == "none" || s.trim().is_empty() {
            return Ok(policy);
        }
        for part in s.split('+') {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (part.trim(), None),
            };
            let num = |default: f32| -> Result<f32> {
                let v = value.map_or(Ok(default), |v| {
                    v.parse::<f32>()
                        .with_context(|| format!("'{v}' is not a number in '{part}'"))
                })?;
                if !(v.is_finite() && v >= 0.0) {
                    bail!("'{part}': the value must be a non-negative number");
                }
                Ok(v)
            };
            let op = match name {
                "shift" => Op::Shift(num(2.0)? as usize),
                "rotate" => Op::Rotate(num(15.0)?),
                "erase" => Op::Erase(num(0.4)?.min(1.0)),
                "mixup" => Op::Mixup(num(0.2)?.max(1e-3)),
                "cutmix" => Op::Cutmix(num(1.0)?.max(1e-3)),
                _ => bail!(
                    "unknown augmentation '{name}' (known: shift, rotate, erase, mixup, cutmix, none)"
                ),
            };
            match op {
                Op::Mixup(_) | Op::Cutmix(_) => {
                    if policy.mix.replace(op).is_some() {
                        bail!("'{s}': at most one of mixup and cutmix");
                    }
                }
                _ => policy.ops.push(op),
            }
        }
        Ok(policy)
    }

    /// True when the policy changes nothing.
    pub fn is_identity(&self) -> bool {
        self.ops.is_empty() && self.mix.is_none()
    }

    /// Augments a batch in place: `pixels` holds `targets.len() / classes` images of
    /// `shape`; `targets` holds their target distributions (one-hot before mixing).
    pub fn apply(
        &self,
        shape: [usize; 3],
        pixels: &mut [f32],
        targets: &mut [f32],
        classes: usize,
        rng: &mut StdRng,
    ) {
        let len: usize = shape.iter().product();
        let mut scratch = vec![0.0; len];
        for image in pixels.chunks_exact_mut(len) {
            for op in &self.ops {
                match *op {
                    Op::Shift(max) => shift(image, shape, max, rng, &mut scratch),
                    Op::Rotate(max) => rotate(image, shape, max, rng, &mut scratch),
                    Op::Erase(max) => erase(image, shape, max, rng),
                    Op::Mixup(_) | Op::Cutmix(_) => {}
                }
            }
        }
        match self.mix {
            Some(Op::Mixup(alpha)) => mix(shape, pixels, targets, classes, alpha, false, rng),
            Some(Op::Cutmix(alpha)) => mix(shape, pixels, targets, classes, alpha, true, rng),
            _ => {}
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_identity() {
            return write!(f, "none");
        }
        let parts: Vec<String> = self
            .ops
            .iter()
            .chain(&self.mix)
            .map(|op| match op {
                Op::Shift(v) => format!("shift={v}"),
                Op::Rotate(v) => format!("rotate={v}"),
                Op::Erase(v) => format!("erase={v}"),
                Op::Mixup(v) => format!("mixup={v}"),
                Op::Cutmix(v) => format!("cutmix={v}"),
            })
            .collect();
        write!(f, "{}", parts.join("+"))
    }
}

fn shift(image: &mut [f32], [c, h, w]: [usize; 3], max: usize, rng: &mut StdRng, tmp: &mut [f32]) {
    let m = max as i32;
    let (dy, dx) = (
        rng.random_range(-m..=m) as isize,
        rng.random_range(-m..=m) as isize,
    );
    tmp.fill(0.0);
    for ch in 0..c {
        for y in 0..h {
            let sy = y as isize - dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w {
                let sx = x as isize - dx;
                if sx >= 0 && sx < w as isize {
                    tmp[(ch * h + y) * w + x] = image[(ch * h + sy as usize) * w + sx as usize];
                }
            }
        }
    }
    image.copy_from_slice(tmp);
}

fn rotate(image: &mut [f32], [c, h, w]: [usize; 3], max: f32, rng: &mut StdRng, tmp: &mut [f32]) {
    let angle = rng.random_range(-max..=max).to_radians();
    let (sin, cos) = angle.sin_cos();
    let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
    let at = |ch: usize, y: isize, x: isize| -> f32 {
        if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
            0.0
        } else {
            image[(ch * h + y as usize) * w + x as usize]
        }
    };
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                // Inverse map: where in the source does this output pixel come from.
                let (ry, rx) = (y as f32 - cy, x as f32 - cx);
                let sy = cos * ry - sin * rx + cy;
                let sx = sin * ry + cos * rx + cx;
                let (y0, x0) = (sy.floor(), sx.floor());
                let (fy, fx) = (sy - y0, sx - x0);
                let (y0, x0) = (y0 as isize, x0 as isize);
                tmp[(ch * h + y) * w + x] = (1.0 - fy)
                    * ((1.0 - fx) * at(ch, y0, x0) + fx * at(ch, y0, x0 + 1))
                    + fy * ((1.0 - fx) * at(ch, y0 + 1, x0) + fx * at(ch, y0 + 1, x0 + 1));
            }
        }
    }
    image.copy_from_slice(tmp);
}

fn erase(image: &mut [f32], [c, h, w]: [usize; 3], max: f32, rng: &mut StdRng) {
    if !rng.random_bool(0.5) {
        return;
    }
    let side = ((h.min(w) as f32 * rng.random_range(0.0..=max)).round() as usize).max(1);
    let (y0, x0) = (
        rng.random_range(0..=h - side.min(h)),
        rng.random_range(0..=w - side.min(w)),
    );
    for ch in 0..c {
        for y in y0..(y0 + side).min(h) {
            image[(ch * h + y) * w + x0..(ch * h + y) * w + (x0 + side).min(w)].fill(0.0);
        }
    }
}

/// Mixes each image with a randomly permuted partner (one λ per batch, as in the papers).
fn mix(
    [c, h, w]: [usize; 3],
    pixels: &mut [f32],
    targets: &mut [f32],
    classes: usize,
    alpha: f32,
    cut: bool,
    rng: &mut StdRng,
) {
    let n = targets.len() / classes;
    if n < 2 {
        return;
    }
    let mut lambda = Beta::new(alpha, alpha).map_or(0.5, |b| b.sample(rng));
    let mut partner: Vec<usize> = (0..n).collect();
    rand::seq::SliceRandom::shuffle(&mut partner[..], rng);
    let (src_pixels, src_targets) = (pixels.to_vec(), targets.to_vec());
    let len = c * h * w;
    if cut {
        // A box of area (1 - λ) at a random centre, clipped; λ is recomputed from the clip.
        let ratio = (1.0 - lambda).sqrt();
        let (bh, bw) = ((h as f32 * ratio) as usize, (w as f32 * ratio) as usize);
        let (cy, cx) = (rng.random_range(0..h), rng.random_range(0..w));
        let (y0, y1) = (cy.saturating_sub(bh / 2), (cy + bh / 2).min(h));
        let (x0, x1) = (cx.saturating_sub(bw / 2), (cx + bw / 2).min(w));
        lambda = 1.0 - ((y1 - y0) * (x1 - x0)) as f32 / (h * w) as f32;
        for (i, &j) in partner.iter().enumerate() {
            for ch in 0..c {
                for y in y0..y1 {
                    let row = (ch * h + y) * w;
                    pixels[i * len + row + x0..i * len + row + x1]
                        .copy_from_slice(&src_pixels[j * len + row + x0..j * len + row + x1]);
                }
            }
        }
    } else {
        for (i, &j) in partner.iter().enumerate() {
            for (p, q) in pixels[i * len..(i + 1) * len]
                .iter_mut()
                .zip(&src_pixels[j * len..(j + 1) * len])
            {
                *p = lambda * *p + (1.0 - lambda) * q;
            }
        }
    }
    for (i, &j) in partner.iter().enumerate() {
        for k in 0..classes {
            targets[i * classes + k] = lambda * src_targets[i * classes + k]
                + (1.0 - lambda) * src_targets[j * classes + k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_and_prints_policies() {
        let p = Policy::parse("shift=2+rotate=10+mixup=0.2").unwrap();
        assert_eq!(p.ops, [Op::Shift(2), Op::Rotate(10.0)]);
        assert_eq!(p.mix, Some(Op::Mixup(0.2)));
        assert_eq!(p.to_string(), "shift=2+rotate=10+mixup=0.2");
        assert!(Policy::parse("none").unwrap().is_identity());
        assert!(Policy::parse("mixup+cutmix").is_err());
        assert!(Policy::parse("blur=2")
            .unwrap_err()
            .to_string()
            .contains("unknown"));
        assert!(Policy::parse("shift=-1").is_err());
    }

    /// Two 8x8 images, all ones (class 0) and all zeros (class 1), one-hot over 3 classes.
    fn ones_and_zeros() -> (Vec<f32>, Vec<f32>) {
        (
            [vec![1.0; 64], vec![0.0; 64]].concat(),
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        )
    }

    #[test]
    fn mixing_moves_pixels_and_targets_by_the_same_amount() {
        // The share of the ones-image in each mixed image's pixels must equal its target
        // weight on class 0, for mixup and for cutmix (whose λ is the clipped box's).
        for (policy, seed) in [("mixup=0.4", 1), ("cutmix=1", 2), ("cutmix=1", 3)] {
            let mut rng = StdRng::seed_from_u64(seed);
            let (mut pixels, mut targets) = ones_and_zeros();
            Policy::parse(policy)
                .unwrap()
                .apply([1, 8, 8], &mut pixels, &mut targets, 3, &mut rng);
            for i in 0..2 {
                let t = &targets[i * 3..i * 3 + 3];
                assert!((t.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{policy}");
                let mean = pixels[i * 64..(i + 1) * 64].iter().sum::<f32>() / 64.0;
                assert!(
                    (mean - t[0]).abs() < 1e-5,
                    "{policy}: mean {mean} vs target {t:?}"
                );
            }
        }
    }

    #[test]
    fn geometric_ops_move_pixels_within_bounds() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut tmp = vec![0.0; 64];
        // A shift of up to 1 keeps at least a 7x7 block of an all-ones image.
        let mut img = vec![1.0; 64];
        shift(&mut img, [1, 8, 8], 1, &mut rng, &mut tmp);
        let ones = img.iter().filter(|&&v| v == 1.0).count();
        assert!((49..=64).contains(&ones), "{ones}");
        // Rotation by 0 degrees is the identity; erasing only ever zeroes pixels.
        let mut img: Vec<f32> = (0..64).map(|i| i as f32).collect();
        let before = img.clone();
        rotate(&mut img, [1, 8, 8], 0.0, &mut rng, &mut tmp);
        assert_eq!(img, before);
        for _ in 0..10 {
            erase(&mut img, [1, 8, 8], 0.5, &mut rng);
        }
        assert!(img.iter().zip(&before).all(|(a, b)| *a == *b || *a == 0.0));
        assert!(
            img != before,
            "ten draws at probability 1/2 erased something"
        );
    }
}
