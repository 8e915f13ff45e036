//! `edgeq`: the host-side command line.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use edgeq_convert::cli;

#[derive(Parser)]
#[command(
    name = "edgeq",
    version,
    about = "edgeq host tools: train and distil quantized students (QAT + KD + GoR), export \
             them to .eqm, import TFLite and ONNX models (quantized, or float with PTQ), inspect \
             and evaluate",
    after_help = "Start with `edgeq demo`: it trains teachers and W8A8/W4A4 students on the \
                  bundled MNIST digits and scores them with the integer runtime."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network: float (teachers, FP32 students) or quantized with QAT, optionally
    /// distilling from teachers with a loss balancer (GoR by default).
    ///
    /// Writes OUT.bpk + OUT.json (checkpoint and report) and, when quantized, OUT.eqm scored
    /// by the runtime. Example: `edgeq train --arch cnn --bits w4a4 --teacher t.bpk -o s`.
    Train(Box<edgeq_trainer::commands::train::TrainArgs>),
    /// Accuracy of a model on a dataset's test split: an .eqm run by the integer runtime, or
    /// a .bpk checkpoint run by the trainer (float or fake-quant).
    Eval {
        /// The model (.eqm or .bpk).
        model: PathBuf,
        /// Dataset folder (default: the bundled MNIST subset).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a checkpoint: a quantized one to .eqm, a float one to .onnx (by the output's
    /// extension).
    Export {
        /// The checkpoint (.bpk with its .json beside it).
        checkpoint: PathBuf,
        /// The output file (.eqm or .onnx).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// The end-to-end demo on the bundled MNIST digits: three teachers, a float student,
    /// W8A8 and W4A4 students distilled from the ensemble with GoR, exported and scored by
    /// the runtime (about 6 minutes on 2 cores).
    Demo {
        /// Folder for checkpoints, .eqm/.onnx files and demo.json.
        #[arg(long, default_value = "edgeq-demo")]
        out: PathBuf,
        /// Student architecture (cnn, ds-cnn, resnet8).
        #[arg(long, default_value = "cnn")]
        student: String,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Rank data-augmentation policies for distillation from the teacher alone (the
    /// contextual mutual information metric; see docs/TRAINING.md), or study how the ranking
    /// predicts students' accuracy.
    Augment {
        #[command(subcommand)]
        command: AugmentCommand,
    },
    /// The ablation: FP32, QAT, QAT+KD (fixed), QAT+KD+GoR, QAT+EKD+GoR at W8A8 and W4A4
    /// over several seeds with identical recipes; writes a Markdown table.
    Ablate {
        /// Folder for teachers and results.json.
        #[arg(long, default_value = "edgeq-ablate")]
        work: PathBuf,
        /// Where to write the Markdown table.
        #[arg(long, default_value = "edgeq-ablate/ablation.md")]
        out: PathBuf,
        /// Student architecture.
        #[arg(long, default_value = "cnn")]
        student: String,
        /// Seeds, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
    },
    /// Post-training quantization against QAT + KD + GoR on the same float `cnn`: per seed,
    /// PTQ (minmax, percentile, mse) and QAT+KD+GoR at W8A8 and W4A8, all scored by the
    /// runtime; writes a Markdown table (about 4 minutes per seed).
    PtqStudy {
        /// Folder for the teacher, the float ONNX files and rows.json.
        #[arg(long, default_value = "edgeq-ptq")]
        work: PathBuf,
        /// Where to write the Markdown table.
        #[arg(long, default_value = "edgeq-ptq/ptq.md")]
        out: PathBuf,
        /// Seeds, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
    },
    /// Convert a model to edgeq's .eqm format: int8 TFLite, quantized ONNX (QDQ or
    /// QLinear), or float ONNX with post-training quantization (--calibrate DATA).
    ///
    /// Every requantization constant is computed here, exactly as TFLite's reference kernels
    /// compute it, so the runtime reproduces TFLite's int8 outputs bit for bit (and the
    /// tf2onnx conversions of the same models give the same outputs). Example:
    /// `edgeq import net.onnx --calibrate bundled --bits w4a8 -o net.eqm`.
    Import(Box<cli::ImportArgs>),
    /// Print a model's operators, shapes, quantization, weight bytes and arena bytes.
    Inspect(cli::InspectArgs),
    /// Write a synthetic model: an MLPerf Tiny architecture with random but valid
    /// parameters at the given bit widths (benchmarks and tests of W4A4 against W8A8).
    ///
    /// Every layer uses the requested widths; the model's input and output stay int8.
    Synth(cli::SynthArgs),
}

#[derive(Subcommand)]
enum AugmentCommand {
    /// Score candidate policies with the teacher(s) over the training set: −CE + KL, best
    /// first.
    Rank {
        /// A teacher (.bpk or .onnx); repeat for an ensemble.
        #[arg(long, required = true)]
        teacher: Vec<PathBuf>,
        /// Dataset folder (default: the bundled MNIST subset).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Policies to score, separated by ';' (default: 8 single ops and compositions).
        #[arg(long, value_delimiter = ';')]
        policies: Vec<String>,
        /// Also write the ranking as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Rank the default policies with the best teacher, train a W4A4 QAT+KD+GoR student
    /// with each (3 seeds for the top and bottom), and write a Markdown table with the rank
    /// correlation.
    Study {
        /// Folder for teachers and augment-study.json (reuses teachers trained there).
        #[arg(long, default_value = "edgeq-ablate")]
        work: PathBuf,
        /// Where to write the Markdown table.
        #[arg(long, default_value = "edgeq-ablate/augment-study.md")]
        out: PathBuf,
        /// Student architecture.
        #[arg(long, default_value = "cnn")]
        student: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Train(args) => {
            let report = edgeq_trainer::commands::train::run(*args)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Eval { model, data, json } => eval(&model, data, json)?,
        Command::Export { checkpoint, output } => export(&checkpoint, &output)?,
        Command::Demo { out, student, seed } => {
            edgeq_trainer::commands::demo::run(&out, &student, seed)?;
        }
        Command::Augment { command } => match command {
            AugmentCommand::Rank {
                teacher,
                data,
                policies,
                json,
            } => {
                edgeq_trainer::commands::augment::run_rank(
                    &teacher,
                    data,
                    &policies,
                    json.as_deref(),
                )?;
            }
            AugmentCommand::Study { work, out, student } => {
                edgeq_trainer::commands::augment::run_study(&work, &out, &student)?;
                println!("wrote {}", out.display());
            }
        },
        Command::Ablate {
            work,
            out,
            student,
            seeds,
        } => {
            edgeq_trainer::commands::ablate::run(&work, &out, &student, &seeds)?;
            println!("wrote {}", out.display());
        }
        Command::PtqStudy { work, out, seeds } => {
            edgeq_trainer::commands::ptq_study::run(&work, &out, &seeds)?;
            println!("wrote {}", out.display());
        }
        Command::Import(args) => cli::run_import(&args)?,
        Command::Inspect(args) => cli::run_inspect(&args)?,
        Command::Synth(args) => cli::run_synth(&args)?,
    }
    Ok(())
}

fn eval(model: &std::path::Path, data: Option<PathBuf>, json: bool) -> Result<()> {
    if model.extension().and_then(|e| e.to_str()) != Some("bpk") {
        return cli::run_eval_eqm(model, data, json);
    }
    let dir = data.unwrap_or_else(edgeq_trainer::data::bundled_mnist_dir);
    let splits = edgeq_trainer::data::load_splits(&dir)
        .with_context(|| format!("loading {}", dir.display()))?;
    let (net, _) = edgeq_trainer::nn::checkpoint::load(model, &burn_device())?;
    let accuracy = edgeq_trainer::pipeline::float_accuracy(&net, &splits.test)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "accuracy": accuracy, "images": splits.test.len() })
        );
    } else {
        println!(
            "{}: {:.2}% of {} test images, scored by the trainer (float or fake-quant)",
            model.display(),
            100.0 * accuracy,
            splits.test.len()
        );
    }
    Ok(())
}

fn burn_device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}

fn export(checkpoint: &std::path::Path, output: &std::path::Path) -> Result<()> {
    let (net, meta) = edgeq_trainer::nn::checkpoint::load(checkpoint, &burn_device())?;
    match output.extension().and_then(|e| e.to_str()) {
        Some("eqm") => std::fs::write(output, edgeq_trainer::export::to_eqm(&net, &meta.spec)?)?,
        Some("onnx") => edgeq_trainer::nn::onnx::write_onnx(&net, &meta.spec, output)?,
        _ => anyhow::bail!("the output must end in .eqm (quantized) or .onnx (float)"),
    }
    println!("wrote {}", output.display());
    Ok(())
}
