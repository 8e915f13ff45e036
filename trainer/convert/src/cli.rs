//! The converter's subcommands, shared by the `edgeq-convert` binary and the `edgeq` CLI:
//! `import` (a TFLite or ONNX model to `.eqm`; float ONNX models through post-training
//! quantization with calibration data), `inspect`, `synth` and `eval` of an `.eqm`.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use edgeq_runtime::{load_model_file, Model};
use serde::Serialize;

use crate::import::onnx::ptq;
use crate::import::ImportOptions;

/// Arguments of `edgeq import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The model: an int8 .tflite file, a quantized .onnx file (QuantizeLinear and
    /// DequantizeLinear pairs, QLinearConv, QLinearMatMul, ONNX Runtime's QOperator ops), or
    /// a float .onnx file with --calibrate.
    pub model: PathBuf,
    /// Where to write the .eqm file (default: the model's path with .eqm).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Keep plain weight layouts instead of packing them for the SIMD kernels: the model
    /// then runs on the scalar reference kernels (slow; for checking).
    #[arg(long)]
    pub plain_weights: bool,
    /// Post-training quantization of a float ONNX model: a dataset folder (IDX, CIFAR-10
    /// binary, or class folders of .npy/.png; `bundled` = the bundled MNIST digits). Ranges
    /// are calibrated on its training split; accuracy before and after is measured on its
    /// test split.
    #[arg(long, value_name = "DATA")]
    pub calibrate: Option<PathBuf>,
    /// PTQ bit widths: w8a8, w4a8, w8a4 or w4a4. The first and last layers' weights, the
    /// last layer's input, the model's input and output, and a Softmax's input stay 8-bit.
    #[arg(long, default_value = "w8a8", requires = "calibrate")]
    pub bits: String,
    /// PTQ activation ranges: minmax, percentile[=P] (default P 99.99) or mse (which also
    /// picks each weight channel's clipping by MSE).
    #[arg(long, default_value = "percentile", requires = "calibrate")]
    pub calibration: ptq::Method,
    /// Calibration images, from the start of the training split.
    #[arg(long, default_value_t = 512, requires = "calibrate")]
    pub calibration_images: usize,
    /// PTQ: quantize the first and last layers' weights to the requested width too.
    #[arg(long, requires = "calibrate")]
    pub all_layers: bool,
    /// Write the PTQ report (ranges, bits per layer, accuracy) as JSON here.
    #[arg(long, requires = "calibrate")]
    pub json: Option<PathBuf>,
}

/// PTQ's report.
#[derive(Serialize)]
struct PtqSummary {
    model: String,
    bits: String,
    calibration: ptq::Report,
    accuracy: Option<ptq::AccuracyDrop>,
}

/// Parses `w8a8`-style bit widths.
pub fn parse_bits(s: &str) -> Result<(u8, u8)> {
    let bits = parse_synth_bits(s).map_err(anyhow::Error::msg)?;
    Ok((bits.weights, bits.acts))
}

/// Runs `import`.
pub fn run_import(args: &ImportArgs) -> Result<()> {
    let options = ImportOptions {
        pack_weights: !args.plain_weights,
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.model.with_extension("eqm"));
    let (bytes, summary) = match &args.calibrate {
        None => (
            crate::import::import_file_with(&args.model, options)
                .with_context(|| format!("importing {}", args.model.display()))?,
            None,
        ),
        Some(data) => {
            let (bytes, summary) = calibrated(args, data, options)?;
            (bytes, Some(summary))
        }
    };
    // Load what we wrote with the runtime's own validator before reporting success.
    let aligned = edgeq_runtime::ModelBytes::copy_from(&bytes);
    let m = Model::from_bytes(aligned.bytes())
        .context("internal error: the runtime rejects the imported model")?;
    std::fs::write(&output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "wrote {} ({} bytes: {} ops, arena {} bytes, constants {} bytes)",
        output.display(),
        bytes.len(),
        m.op_count(),
        m.arena_size(),
        m.const_size()
    );
    if let Some(summary) = summary {
        if let Some(a) = &summary.accuracy {
            println!(
                "accuracy on {} held-out images: float {:.2}% (tract), {} {:.2}% (edgeq runtime), drop {:.2} points",
                a.images,
                100.0 * a.float,
                summary.bits,
                100.0 * a.quantized,
                100.0 * (a.float - a.quantized)
            );
        }
        if let Some(path) = &args.json {
            std::fs::write(path, serde_json::to_string_pretty(&summary)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

fn calibrated(
    args: &ImportArgs,
    data: &std::path::Path,
    options: ImportOptions,
) -> Result<(Vec<u8>, PtqSummary)> {
    ensure!(
        args.model.extension().and_then(|e| e.to_str()) == Some("onnx"),
        "--calibrate quantizes float ONNX models; {} is not .onnx",
        args.model.display()
    );
    let (weight_bits, act_bits) = parse_bits(&args.bits)?;
    let dir = if data.as_os_str() == "bundled" {
        crate::data::bundled_mnist_dir()
    } else {
        data.to_path_buf()
    };
    let splits = crate::data::load_splits(&dir)
        .with_context(|| format!("loading calibration data {}", dir.display()))?;
    if splits.train.is_empty() {
        bail!("{} has no training images to calibrate on", dir.display());
    }
    let opts = ptq::Options {
        weight_bits,
        act_bits,
        all_layers: args.all_layers,
        method: args.calibration,
        images: args.calibration_images,
    };
    eprintln!(
        "calibrating {} on {} images of {} ({})",
        args.model.display(),
        opts.images.min(splits.train.len()),
        dir.display(),
        opts.method
    );
    let imported = ptq::import(
        &args.model,
        &splits.train,
        Some(&splits.test),
        &opts,
        !options.pack_weights,
    )
    .with_context(|| format!("quantizing {}", args.model.display()))?;
    Ok((
        imported.eqm,
        PtqSummary {
            model: args.model.display().to_string(),
            bits: args.bits.clone(),
            calibration: imported.report,
            accuracy: imported.accuracy,
        },
    ))
}

/// Arguments of `inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The .eqm file.
    pub model: PathBuf,
}

/// Runs `inspect`: prints the model's operators, shapes, quantization and memory.
pub fn run_inspect(args: &InspectArgs) -> Result<()> {
    let model = &args.model;
    let bytes = load_model_file(model).with_context(|| format!("reading {}", model.display()))?;
    let m =
        Model::from_bytes(bytes.bytes()).with_context(|| format!("loading {}", model.display()))?;
    print!("{}", crate::inspect::describe(&m)?);
    Ok(())
}

/// Arguments of `synth`.
#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// resnet8, ds-cnn, mobilenet-v1 or autoencoder.
    #[arg(long, value_parser = parse_arch)]
    pub arch: crate::synth::Arch,
    /// Weight and activation bits of every layer: w8a8, w4a4, w4a8 or w8a4.
    #[arg(long, default_value = "w8a8", value_parser = parse_synth_bits)]
    pub bits: crate::synth::Bits,
    /// Seed of the random parameters.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the plain weight layouts (reference kernels; for checking).
    #[arg(long)]
    pub plain_weights: bool,
    /// Where to write the .eqm file.
    #[arg(short, long)]
    pub output: PathBuf,
}

fn parse_arch(s: &str) -> std::result::Result<crate::synth::Arch, String> {
    crate::synth::Arch::from_name(s).ok_or_else(|| {
        let names: Vec<_> = crate::synth::Arch::ALL.iter().map(|a| a.name()).collect();
        format!("unknown architecture '{s}' (one of: {})", names.join(", "))
    })
}

fn parse_synth_bits(s: &str) -> std::result::Result<crate::synth::Bits, String> {
    crate::synth::Bits::parse(s)
        .ok_or_else(|| format!("bits must be w8a8, w4a4, w4a8 or w8a4, not '{s}'"))
}

/// Runs `synth`: writes a synthetic MLPerf Tiny architecture at the requested widths.
pub fn run_synth(args: &SynthArgs) -> Result<()> {
    let mut builder = crate::synth::graph(args.arch, args.bits, args.seed)?;
    if !args.plain_weights {
        crate::pack::pack_gemm_weights(&mut builder)?;
    }
    let bytes = builder.finish()?;
    let aligned = edgeq_runtime::ModelBytes::copy_from(&bytes);
    let m = Model::from_bytes(aligned.bytes())
        .context("internal error: the runtime rejects the synthetic model")?;
    let output = &args.output;
    std::fs::write(output, &bytes).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "wrote {} ({} {}: {} bytes, {} ops, arena {} bytes, constants {} bytes)",
        output.display(),
        args.arch.name(),
        args.bits,
        bytes.len(),
        m.op_count(),
        m.arena_size(),
        m.const_size()
    );
    Ok(())
}

/// Runs `eval` of an `.eqm` model: its accuracy on a dataset's test split, scored by the
/// integer runtime. `data` defaults to the bundled MNIST digits.
pub fn run_eval_eqm(model: &Path, data: Option<PathBuf>, json: bool) -> Result<()> {
    let dir = data.unwrap_or_else(crate::data::bundled_mnist_dir);
    let splits =
        crate::data::load_splits(&dir).with_context(|| format!("loading {}", dir.display()))?;
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let score = crate::evaluate::score(&bytes, &splits.test)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&score)?);
    } else {
        println!(
            "{}: {:.2}% of {} test images, scored by edgeq-runtime (integer)",
            model.display(),
            100.0 * score.accuracy,
            splits.test.len()
        );
    }
    Ok(())
}
