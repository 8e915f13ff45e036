//! `edgeq train`: one network, float or quantized, from flags and/or a TOML config file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::augment::Policy;
use crate::data::{self, Splits};
use crate::nn::{checkpoint, BitPlan};
use crate::pipeline::{self, Trained};
use crate::train::balance::Balancer;
use crate::train::teacher::{Ensemble, Teacher};
use crate::train::{Bars, Recipe};

/// Options of `edgeq train`. Every field can also come from `--config FILE.toml` (same
/// names, with underscores); flags given on the command line win.
#[derive(Args, Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainArgs {
    /// TOML file with any of these options (e.g. `arch = "cnn"`, `bits = "w4a4"`,
    /// `teacher = ["t1.bpk", "t2.onnx"]`).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Architecture: cnn, ds-cnn, resnet8 (students); wide-cnn, deep-cnn, mlp (teachers).
    #[arg(long)]
    pub arch: Option<String>,
    /// Dataset folder (IDX, CIFAR-10 binary, or train/ and test/ class folders). Default:
    /// the bundled 10k MNIST subset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output path without extension: writes OUT.bpk + OUT.json (checkpoint), and OUT.eqm
    /// for a quantized network.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Epochs of float training (skipped with --init).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Quantize and continue with QAT: w8a8, w4a4, w4a8 or w8a4.
    #[arg(long)]
    pub bits: Option<String>,
    /// Quantize the first and last layers at --bits too (default: they stay 8-bit).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub all_layers: Option<bool>,
    /// Epochs of QAT.
    #[arg(long)]
    pub qat_epochs: Option<usize>,
    /// Start QAT from this float checkpoint instead of training one.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// A teacher (.bpk checkpoint or .onnx file); repeat for an ensemble. With teachers the
    /// last stage distils (KD, or EKD for several).
    #[arg(long)]
    pub teacher: Vec<PathBuf>,
    /// Weights of the teachers in the ensemble, comma-separated (default: equal).
    #[arg(long, value_delimiter = ',')]
    pub teacher_weights: Vec<f32>,
    /// Loss balancer with teachers: gor (default), gor-soft, fixed or fixed=ALPHA.
    #[arg(long)]
    pub balancer: Option<String>,
    /// Distillation temperature.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Augmentation policy, e.g. shift=2+rotate=10+mixup=0.2, or none; `auto` ranks the
    /// candidates with the teachers (`edgeq augment rank`) and uses the top one.
    #[arg(long)]
    pub augment: Option<String>,
    /// Batch size.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Peak learning rate of float training.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Peak learning rate of QAT.
    #[arg(long)]
    pub qat_lr: Option<f64>,
    /// Learning rate of GoR's two scalars.
    #[arg(long)]
    pub balancer_lr: Option<f64>,
    /// Seed of initialisation, shuffling and augmentation.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also write the float network as OUT.onnx.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub onnx: Option<bool>,
}

impl TrainArgs {
    /// Fills unset fields from the `--config` file.
    pub fn with_config(self) -> Result<TrainArgs> {
        let Some(path) = &self.config else {
            return Ok(self);
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: TrainArgs =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(TrainArgs {
            config: self.config.clone(),
            arch: self.arch.or(file.arch),
            data: self.data.or(file.data),
            output: self.output.or(file.output),
            epochs: self.epochs.or(file.epochs),
            bits: self.bits.or(file.bits),
            all_layers: self.all_layers.or(file.all_layers),
            qat_epochs: self.qat_epochs.or(file.qat_epochs),
            init: self.init.or(file.init),
            teacher: if self.teacher.is_empty() {
                file.teacher
            } else {
                self.teacher
            },
            teacher_weights: if self.teacher_weights.is_empty() {
                file.teacher_weights
            } else {
                self.teacher_weights
            },
            balancer: self.balancer.or(file.balancer),
            temperature: self.temperature.or(file.temperature),
            augment: self.augment.or(file.augment),
            batch: self.batch.or(file.batch),
            lr: self.lr.or(file.lr),
            qat_lr: self.qat_lr.or(file.qat_lr),
            balancer_lr: self.balancer_lr.or(file.balancer_lr),
            seed: self.seed.or(file.seed),
            onnx: self.onnx.or(file.onnx),
        })
    }
}

/// Default float recipe.
pub fn float_recipe() -> Recipe {
    Recipe::default()
}

/// Default QAT recipe: a shorter, gentler fine-tune.
pub fn qat_recipe() -> Recipe {
    Recipe {
        epochs: 3,
        lr: 5e-4,
        ..Recipe::default()
    }
}

/// Loads the teachers named by `paths` with `weights` (empty = equal).
pub fn load_teachers(paths: &[PathBuf], weights: &[f32], shape: [usize; 3]) -> Result<Ensemble> {
    if !weights.is_empty() && weights.len() != paths.len() {
        bail!(
            "{} teacher weights for {} teachers",
            weights.len(),
            paths.len()
        );
    }
    let mut ensemble = Ensemble::none();
    for (i, path) in paths.iter().enumerate() {
        let teacher = Teacher::load(path, shape)
            .with_context(|| format!("loading teacher {}", path.display()))?;
        ensemble.push(teacher, weights.get(i).copied().unwrap_or(1.0));
    }
    Ok(ensemble)
}

/// What `edgeq train` reports (also written as OUT.json's `info`).
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// Float test accuracy (the float network, or the float init of a quantized one).
    pub float_accuracy: Option<f32>,
    /// For a quantized network: runtime accuracy, fake-quant accuracy and their agreement.
    pub exported: Option<pipeline::Exported>,
    /// Per-epoch logs of the last stage.
    pub epochs: Vec<crate::train::EpochLog>,
    /// The recipe of the last stage.
    pub recipe: Recipe,
    /// Teachers used.
    pub teachers: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f32,
}

fn recipe_from(
    args: &TrainArgs,
    base: Recipe,
    epochs: Option<usize>,
    lr: Option<f64>,
) -> Result<Recipe> {
    let balancer = match (&args.balancer, args.teacher.is_empty()) {
        (_, true) => None,
        (None, false) => Some(Balancer::Gor),
        (Some(b), false) => Some(Balancer::parse(b).with_context(|| {
            format!("unknown balancer '{b}' (gor, gor-soft, fixed, fixed=ALPHA)")
        })?),
    };
    Ok(Recipe {
        epochs: epochs.unwrap_or(base.epochs),
        batch: args.batch.unwrap_or(base.batch),
        lr: lr.unwrap_or(base.lr),
        balancer_lr: args.balancer_lr.unwrap_or(base.balancer_lr),
        augment: match &args.augment {
            Some(a) => Policy::parse(a)?,
            None => base.augment,
        },
        temperature: args.temperature.unwrap_or(base.temperature),
        balancer,
        seed: args.seed.unwrap_or(base.seed),
    })
}

/// Runs `edgeq train`.
pub fn run(args: TrainArgs) -> Result<TrainReport> {
    let args = args.with_config()?;
    let started = Instant::now();
    let data_dir = args.data.clone().unwrap_or_else(data::bundled_mnist_dir);
    let splits = data::load_splits(&data_dir)
        .with_context(|| format!("loading the dataset in {}", data_dir.display()))?;
    let output = args
        .output
        .clone()
        .context("--output is required (a path without extension)")?;
    let bits = match &args.bits {
        Some(b) => Some(
            BitPlan::parse(b)
                .map(|p| BitPlan {
                    first_last_8bit: !args.all_layers.unwrap_or(false),
                    ..p
                })
                .with_context(|| format!("--bits must be w8a8, w4a4, w4a8 or w8a4, not '{b}'"))?,
        ),
        None => None,
    };
    if args.onnx.unwrap_or(false) && bits.is_some() {
        bail!("--onnx writes float networks; with --bits the result is quantized (its .eqm is written)");
    }
    let teachers = load_teachers(&args.teacher, &args.teacher_weights, splits.train.shape)?;
    let mut args = args;
    if args.augment.as_deref() == Some("auto") {
        if teachers.is_empty() {
            bail!("--augment auto ranks policies with the teachers: give at least one --teacher");
        }
        let top = super::augment::auto_policy(&splits.train, &teachers)?;
        eprintln!("--augment auto: using '{top}', the top-ranked policy");
        args.augment = Some(top);
    }
    let teacher_names = args
        .teacher
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    eprintln!(
        "data: {} train / {} test images of {:?}, {} classes",
        splits.train.len(),
        splits.test.len(),
        splits.train.shape,
        splits.train.classes
    );
    let label = output
        .file_name()
        .map_or("train".into(), |n| n.to_string_lossy().into_owned());

    // The float stage: trained here, or loaded.
    let float_stage_distils = bits.is_none();
    let float = match &args.init {
        Some(init) => load_float(init, &splits)?,
        None => {
            let arch = args
                .arch
                .clone()
                .context("--arch is required (or --init)")?;
            let none = Ensemble::none();
            let (teachers_here, mut recipe) = if float_stage_distils {
                (
                    &teachers,
                    recipe_from(&args, float_recipe(), args.epochs, args.lr)?,
                )
            } else {
                (
                    &none,
                    recipe_from(&args, float_recipe(), args.epochs, args.lr)?,
                )
            };
            if !float_stage_distils {
                recipe.balancer = None;
            }
            pipeline::train_float(
                &arch,
                &splits,
                &recipe,
                teachers_here,
                &mut Bars::new(&label),
            )?
        }
    };
    let float_accuracy = Some(pipeline::float_accuracy(&float.net, &splits.test)?);

    let (trained, exported, recipe) = match bits {
        Some(bits) => {
            let recipe = recipe_from(&args, qat_recipe(), args.qat_epochs, args.qat_lr)?;
            let q = pipeline::train_qat(
                &float,
                bits,
                &splits,
                &recipe,
                &teachers,
                &mut Bars::new(format!("{label} {bits}")),
            )?;
            let exported = pipeline::export_and_score(&q, &splits.test)?;
            let eqm_path = output.with_extension("eqm");
            std::fs::write(&eqm_path, &exported.eqm)
                .with_context(|| format!("writing {}", eqm_path.display()))?;
            (q, Some(exported), recipe)
        }
        None => {
            let recipe = recipe_from(&args, float_recipe(), args.epochs, args.lr)?;
            (float, None, recipe)
        }
    };
    let report = TrainReport {
        float_accuracy,
        exported,
        epochs: trained.logs.clone(),
        recipe,
        teachers: teacher_names,
        seconds: started.elapsed().as_secs_f32(),
    };
    save(&trained, &report, &output)?;
    if args.onnx.unwrap_or(false) {
        crate::nn::onnx::write_onnx(&trained.net, &trained.spec, &output.with_extension("onnx"))?;
    }
    Ok(report)
}

fn load_float(path: &Path, splits: &Splits) -> Result<Trained> {
    let (net, meta) = checkpoint::load(path, &crate::train::train_device())?;
    if meta.spec.bits.is_some() {
        bail!(
            "{} is already quantized; --init takes a float checkpoint",
            path.display()
        );
    }
    if meta.spec.input != splits.train.shape {
        bail!(
            "{} takes {:?} images, the data has {:?}",
            path.display(),
            meta.spec.input,
            splits.train.shape
        );
    }
    Ok(Trained {
        net,
        spec: meta.spec,
        logs: Vec::new(),
    })
}

/// Writes the checkpoint with the report as its info.
pub fn save(trained: &Trained, report: &TrainReport, output: &Path) -> Result<()> {
    let meta = checkpoint::Meta {
        spec: trained.spec.clone(),
        info: serde_json::to_value(report)?,
    };
    checkpoint::save(&trained.net, &meta, &output.with_extension("bpk"))
}
