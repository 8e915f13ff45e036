//! The architectures: small students that fit a microcontroller, and heterogeneous float
//! teachers (wider, deeper, and a plain MLP) for distillation.

use anyhow::{bail, Result};
use burn::tensor::Device;
use rand::rngs::StdRng;

use super::layers::{Conv, Dense, Layer, Pool, Residual};
use super::{Net, NetSpec};

/// Architecture names with a one-line description, students first.
pub const ARCHS: [(&str, &str); 6] = [
    (
        "cnn",
        "student: 3 conv (16-32-64) + 2 max pools, global average pool, dense",
    ),
    (
        "ds-cnn",
        "student: conv, 2 depthwise-separable blocks (32-64), global average pool, dense",
    ),
    (
        "resnet8",
        "student: conv + 3 residual blocks (16-32-64), global average pool, dense",
    ),
    (
        "wide-cnn",
        "teacher: 3 wide conv (48-96-96) + 2 max pools, global average pool, dense",
    ),
    (
        "deep-cnn",
        "teacher: 6 conv (32-32-64-64-96-96) + 2 max pools, global average pool, dense",
    ),
    ("mlp", "teacher: 2 hidden dense layers of 256"),
];

/// The names of [`ARCHS`].
pub fn names() -> Vec<&'static str> {
    ARCHS.iter().map(|(n, _)| *n).collect()
}

pub(super) fn build(spec: &NetSpec, rng: &mut StdRng, device: &Device) -> Result<Net> {
    let [c, h, w] = spec.input;
    let classes = spec.classes;
    let conv =
        |i, o, k, s, rng: &mut StdRng| Layer::Conv(Conv::new(i, o, k, s, false, true, rng, device));
    let dw =
        |ch, s, rng: &mut StdRng| Layer::Conv(Conv::new(ch, ch, 3, s, true, true, rng, device));
    let max_pool = || {
        Layer::Pool(Pool {
            global_average: false,
        })
    };
    let gap = || {
        Layer::Pool(Pool {
            global_average: true,
        })
    };
    let head = |i, rng: &mut StdRng| Layer::Dense(Dense::new(i, classes, false, rng, device));
    let layers = match spec.arch.as_str() {
        "cnn" => vec![
            conv(c, 16, 3, 1, rng),
            max_pool(),
            conv(16, 32, 3, 1, rng),
            max_pool(),
            conv(32, 64, 3, 1, rng),
            gap(),
            head(64, rng),
        ],
        "ds-cnn" => vec![
            conv(c, 32, 3, 2, rng),
            dw(32, 1, rng),
            conv(32, 64, 1, 1, rng),
            dw(64, 2, rng),
            conv(64, 64, 1, 1, rng),
            gap(),
            head(64, rng),
        ],
        "resnet8" => {
            let mut layers = vec![conv(c, 16, 3, 1, rng)];
            for (i, o, s) in [(16, 16, 1), (16, 32, 2), (32, 64, 2)] {
                layers.push(Layer::Residual(Residual {
                    a: Conv::new(i, o, 3, s, false, true, rng, device),
                    b: Conv::new(o, o, 3, 1, false, false, rng, device),
                    project: (s != 1 || i != o)
                        .then(|| Conv::new(i, o, 1, s, false, false, rng, device)),
                    out: None,
                }));
            }
            layers.extend([gap(), head(64, rng)]);
            layers
        }
        "wide-cnn" => vec![
            conv(c, 48, 3, 1, rng),
            max_pool(),
            conv(48, 96, 3, 1, rng),
            max_pool(),
            conv(96, 96, 3, 1, rng),
            gap(),
            head(96, rng),
        ],
        "deep-cnn" => vec![
            conv(c, 32, 3, 1, rng),
            conv(32, 32, 3, 1, rng),
            max_pool(),
            conv(32, 64, 3, 1, rng),
            conv(64, 64, 3, 1, rng),
            max_pool(),
            conv(64, 96, 3, 1, rng),
            conv(96, 96, 3, 1, rng),
            gap(),
            head(96, rng),
        ],
        "mlp" => vec![
            Layer::Dense(Dense::new(c * h * w, 256, true, rng, device)),
            Layer::Dense(Dense::new(256, 256, true, rng, device)),
            head(256, rng),
        ],
        other => bail!(
            "unknown architecture '{other}' (one of: {})",
            names().join(", ")
        ),
    };
    if h < 4 || w < 4 {
        bail!("input {h}x{w} is too small for the zoo's networks (at least 4x4)");
    }
    Ok(Net { layers })
}
