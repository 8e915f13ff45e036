//! `edgeq-convert`: the converter alone (import, inspect, synth, eval), without the trainer.
//! The `edgeq` CLI has the same subcommands.

use anyhow::Result;
use clap::{Parser, Subcommand};
use edgeq_convert::cli;

#[derive(Parser)]
#[command(
    name = "edgeq-convert",
    version,
    about = "edgeq's model converter: import TFLite and ONNX models (quantized, or float with \
             post-training quantization) to .eqm, inspect them, write synthetic models and \
             score them with the integer runtime",
    after_help = "Example: `edgeq-convert import model.tflite -o model.eqm`, then \
                  `edgeq-convert inspect model.eqm`. The `edgeq` CLI (crate edgeq-trainer) has \
                  these subcommands too, beside training."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a model to edgeq's .eqm format: int8 TFLite, quantized ONNX (QDQ or
    /// QLinear), or float ONNX with post-training quantization (--calibrate DATA).
    ///
    /// Every requantization constant is computed here, exactly as TFLite's reference kernels
    /// compute it, so the runtime reproduces TFLite's int8 outputs bit for bit. Example:
    /// `edgeq-convert import net.onnx --calibrate bundled --bits w4a8 -o net.eqm`.
    Import(Box<cli::ImportArgs>),
    /// Print a model's operators, shapes, quantization, weight bytes and arena bytes.
    Inspect(cli::InspectArgs),
    /// Write a synthetic model: an MLPerf Tiny architecture with random but valid
    /// parameters at the given bit widths (benchmarks and tests of W4A4 against W8A8).
    ///
    /// Every layer uses the requested widths; the model's input and output stay int8.
    Synth(cli::SynthArgs),
    /// Accuracy of an .eqm model on a dataset's test split, run by the integer runtime.
    Eval {
        /// The .eqm model.
        model: std::path::PathBuf,
        /// Dataset folder (default: the bundled MNIST subset).
        #[arg(long)]
        data: Option<std::path::PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Import(args) => cli::run_import(&args),
        Command::Inspect(args) => cli::run_inspect(&args),
        Command::Synth(args) => cli::run_synth(&args),
        Command::Eval { model, data, json } => cli::run_eval_eqm(&model, data, json),
    }
}
