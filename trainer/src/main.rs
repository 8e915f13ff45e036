//! `edgeq`: the host-side command line.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use edgeq_runtime::{load_model_file, Model};

#[derive(Parser)]
#[command(
    name = "edgeq",
    version,
    about = "edgeq host tools: import models to .eqm, inspect them, make synthetic ones"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a model (TFLite int8 .tflite) to edgeq's .eqm format.
    ///
    /// Every requantization constant is computed here, exactly as TFLite's reference kernels
    /// compute it, so the runtime reproduces TFLite's int8 outputs bit for bit.
    Import {
        /// The model to import (.tflite).
        model: PathBuf,
        /// Where to write the .eqm file (default: the model's path with .eqm).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Keep TFLite's weight layouts instead of packing them for the SIMD kernels: the
        /// model then runs on the scalar reference kernels (slow; for checking).
        #[arg(long)]
        plain_weights: bool,
    },
    /// Print a model's operators, shapes, quantization, weight bytes and arena bytes.
    Inspect {
        /// The .eqm file.
        model: PathBuf,
    },
    /// Write a synthetic model: an MLPerf Tiny architecture with random but valid
    /// parameters at the given bit widths (benchmarks and tests of W4A4 against W8A8).
    ///
    /// Every layer uses the requested widths; the model's input and output stay int8.
    Synth {
        /// resnet8, ds-cnn, mobilenet-v1 or autoencoder.
        #[arg(long, value_parser = parse_arch)]
        arch: edgeq_trainer::synth::Arch,
        /// Weight and activation bits of every layer: w8a8, w4a4, w4a8 or w8a4.
        #[arg(long, default_value = "w8a8", value_parser = parse_bits)]
        bits: edgeq_trainer::synth::Bits,
        /// Seed of the random parameters.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep the plain weight layouts (reference kernels; for checking).
        #[arg(long)]
        plain_weights: bool,
        /// Where to write the .eqm file.
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn parse_arch(s: &str) -> std::result::Result<edgeq_trainer::synth::Arch, String> {
    edgeq_trainer::synth::Arch::from_name(s).ok_or_else(|| {
        let names: Vec<_> = edgeq_trainer::synth::Arch::ALL
            .iter()
            .map(|a| a.name())
            .collect();
        format!("unknown architecture '{s}' (one of: {})", names.join(", "))
    })
}

fn parse_bits(s: &str) -> std::result::Result<edgeq_trainer::synth::Bits, String> {
    edgeq_trainer::synth::Bits::parse(s)
        .ok_or_else(|| format!("bits must be w8a8, w4a4, w4a8 or w8a4, not '{s}'"))
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Import {
            model,
            output,
            plain_weights,
        } => {
            let options = edgeq_trainer::import::ImportOptions {
                pack_weights: !plain_weights,
            };
            let bytes = edgeq_trainer::import::import_file_with(&model, options)
                .with_context(|| format!("importing {}", model.display()))?;
            let output = output.unwrap_or_else(|| model.with_extension("eqm"));
            // Load what we wrote with the runtime's own validator before reporting success.
            let aligned = edgeq_runtime::ModelBytes::copy_from(&bytes);
            let m = Model::from_bytes(aligned.bytes())
                .context("internal error: the runtime rejects the imported model")?;
            std::fs::write(&output, &bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "wrote {} ({} bytes: {} ops, arena {} bytes, constants {} bytes)",
                output.display(),
                bytes.len(),
                m.op_count(),
                m.arena_size(),
                m.const_size()
            );
        }
        Command::Synth {
            arch,
            bits,
            seed,
            plain_weights,
            output,
        } => {
            let mut builder = edgeq_trainer::synth::graph(arch, bits, seed)?;
            if !plain_weights {
                edgeq_trainer::pack::pack_gemm_weights(&mut builder)?;
            }
            let bytes = builder.finish()?;
            let aligned = edgeq_runtime::ModelBytes::copy_from(&bytes);
            let m = Model::from_bytes(aligned.bytes())
                .context("internal error: the runtime rejects the synthetic model")?;
            std::fs::write(&output, &bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "wrote {} ({} {bits}: {} bytes, {} ops, arena {} bytes, constants {} bytes)",
                output.display(),
                arch.name(),
                bytes.len(),
                m.op_count(),
                m.arena_size(),
                m.const_size()
            );
        }
        Command::Inspect { model } => {
            let bytes =
                load_model_file(&model).with_context(|| format!("reading {}", model.display()))?;
            let m = Model::from_bytes(bytes.bytes())
                .with_context(|| format!("loading {}", model.display()))?;
            print!("{}", edgeq_trainer::inspect::describe(&m)?);
        }
    }
    Ok(())
}
