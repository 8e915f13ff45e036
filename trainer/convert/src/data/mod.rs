//! Datasets for training and evaluation: images as `f32` in `[0, 1]`, channel-major
//! (`[C, H, W]` per image), with `u8` class labels.
//!
//! Loaders: IDX (MNIST, Fashion-MNIST, gzip or not), CIFAR-10 binary batches, and a folder
//! of `.npy` arrays or PNG images (one sub-folder per class). The trainer's augmentations
//! are in `edgeq_trainer::augment`.

mod cifar;
mod folder;
mod idx;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A labelled image set held in memory.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `[channels, height, width]` of every image.
    pub shape: [usize; 3],
    /// `len * C * H * W` pixels in `[0, 1]`, image after image, channel-major.
    pub pixels: Vec<f32>,
    /// One class index per image.
    pub labels: Vec<u8>,
    /// Number of classes (one more than the largest label, at least).
    pub classes: usize,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            shape: self.shape,
            pixels: self.pixels[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
            classes: self.classes,
        }
    }

    fn check(self) -> Result<Self> {
        if self.is_empty() {
            bail!("the dataset has no images");
        }
        if self.pixels.len() != self.len() * self.image_len() {
            bail!(
                "{} pixels for {} images of {:?}",
                self.pixels.len(),
                self.len(),
                self.shape
            );
        }
        Ok(self)
    }
}

/// A training and a test split.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training images.
    pub train: Dataset,
    /// Held-out test images.
    pub test: Dataset,
}

/// The bundled 10,000-digit MNIST subset (7,996 train / 2,004 test), see
/// `trainer/data/mnist-10k/README.md`.
pub fn bundled_mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist-10k")
}

/// Loads both splits from `path`, guessing the format:
/// - a folder with `train-images-idx3-ubyte[.gz]` and friends (IDX: MNIST, Fashion-MNIST);
/// - a folder with `data_batch_*.bin` and `test_batch.bin` (CIFAR-10 binary);
/// - a folder with `train/` and `test/` sub-folders of class folders holding `.npy` or
///   `.png` files.
pub fn load_splits(path: &Path) -> Result<Splits> {
    let has = |name: &str| path.join(name).exists();
    let splits = if has("train-images-idx3-ubyte.gz") || has("train-images-idx3-ubyte") {
        Splits {
            train: idx::load_pair(path, "train")?,
            test: idx::load_pair(path, "t10k")?,
        }
    } else if has("test_batch.bin") {
        cifar::load_splits(path)?
    } else if path.join("train").is_dir() && path.join("test").is_dir() {
        Splits {
            train: folder::load(&path.join("train"))?,
            test: folder::load(&path.join("test"))?,
        }
    } else {
        bail!(
            "{}: not a dataset folder. Expected IDX files (train-images-idx3-ubyte[.gz], \
             train-labels-idx1-ubyte[.gz], t10k-...), CIFAR-10 binary batches \
             (data_batch_N.bin, test_batch.bin), or train/ and test/ folders with one \
             sub-folder of .npy or .png files per class",
            path.display()
        )
    };
    if splits.train.shape != splits.test.shape {
        bail!(
            "train images are {:?} but test images are {:?}",
            splits.train.shape,
            splits.test.shape
        );
    }
    let classes = splits.train.classes.max(splits.test.classes);
    Ok(Splits {
        train: Dataset {
            classes,
            ..splits.train.check().context("train split")?
        },
        test: Dataset {
            classes,
            ..splits.test.check().context("test split")?
        },
    })
}

/// Reads a file, gunzipping it when its name ends in `.gz`.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)
            .with_context(|| format!("gunzipping {}", path.display()))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// `dir/name`, or `dir/name.gz` when only that exists.
fn plain_or_gz(dir: &Path, name: &str) -> PathBuf {
    let plain = dir.join(name);
    if plain.exists() {
        plain
    } else {
        dir.join(format!("{name}.gz"))
    }
}
