//! `edgeq-bench`: the device-side tool. `infer` runs a model on NumPy inputs; `bench`
//! measures its latency and energy; `compare` runs tract beside edgeq.

mod compare;
mod context;
mod cpu;
mod dump;
mod latency;
mod plot;
mod power;

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, Subcommand};
use edgeq_runtime::kernels::Isa;
use edgeq_runtime::{load_model_file, DType, Interpreter, Model, TensorInfo};
use npyz::WriterBuilder;

#[derive(Parser)]
#[command(
    name = "edgeq-bench",
    version,
    about = "Run edgeq models on the device: inference, latency and energy benchmarks, comparison with tract"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one inference: read the inputs from .npy files, write the outputs as .npy.
    ///
    /// Arrays are in the model's own input/output dtypes (int8 for int8 models, float32 for
    /// models with QUANTIZE/DEQUANTIZE at their boundaries, int32 for run-time GATHER
    /// indices) and must match their shapes
    /// (or at least their element counts). A model with several inputs takes one --input
    /// per input, in the model's order (`edgeq inspect` lists them).
    Infer {
        /// The .eqm model.
        model: PathBuf,
        /// Input array (.npy); repeat it for each input of the model, in order.
        #[arg(short, long, required = true)]
        input: Vec<PathBuf>,
        /// Where to write an output array (.npy); repeat it for each output of the model, in
        /// order. Without it, the outputs are printed.
        #[arg(short, long)]
        output: Vec<PathBuf>,
        /// Class names for a classifier's output, comma-separated (or @FILE, one per line):
        /// prints the top classes with their dequantized scores.
        #[arg(short, long)]
        labels: Option<String>,
        /// How many classes to print with --labels.
        #[arg(long, default_value_t = 3)]
        top: usize,
        /// Also write the model's inputs and every operator's output, in execution order, to
        /// DIR as .npy files, indexed by DIR/tensors.tsv (operator, kind, tensor name,
        /// quantization). bench/scripts/tflite_diff.py compares such a dump with LiteRT's run
        /// of the original .tflite and names the first operator that differs.
        #[arg(long, value_name = "DIR")]
        dump: Option<PathBuf>,
    },
    /// Measure single-thread inference latency (min / p50 / p90 / p99 microseconds,
    /// inferences per second, GMAC/s, fraction of the core's int8 peak) and, with a power
    /// source, energy per inference.
    ///
    /// Inputs are fixed pseudo-random values (latency does not depend on them). With a power
    /// source, idle power is measured first, then the run lasts at least --power-secs;
    /// energy per inference = (run power - idle power) x run time / inferences. The CPU's
    /// clock and temperature are read before and after, with a warning if it throttled.
    /// Run it on an idle machine; --pin-core steadies the numbers. See docs/BENCHMARKING.md.
    Bench {
        /// The .eqm model.
        model: PathBuf,
        /// Timed inferences.
        #[arg(long, default_value_t = 500)]
        runs: usize,
        /// Untimed inferences before timing.
        #[arg(long, default_value_t = 50)]
        warmup: usize,
        /// Kernels to use: scalar, avx2, avx-vnni, avx512-vnni, neon, neon-dotprod (default: the
        /// best this CPU runs).
        #[arg(long, value_parser = parse_isa)]
        isa: Option<Isa>,
        /// Also time each operator (a profile: where the time goes).
        #[arg(long)]
        ops: bool,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Int8 MACs per cycle one core can do, for the fraction-of-peak figure. Default: the
        /// kernel tier's widest multiply-add timed on this core (avx512-vnni: 512-bit
        /// vpdpbusd, 64 MACs each, one per cycle on Zen 4, two on Sapphire Rapids;
        /// avx-vnni: 256-bit vpdpbusd; avx2: 256-bit vpmaddwd; neon-dotprod: sdot; neon:
        /// smlal), rounded to a power of two; where that cannot be timed, the tier's nominal
        /// figure (avx2 32, avx-vnni 64, avx512-vnni 64, neon-dotprod 32, neon 8, scalar 1).
        #[arg(long)]
        peak_macs_per_cycle: Option<f64>,
        /// Power source for energy per inference: auto (the first found of rapl, hwmon,
        /// pi5-pmic), rapl (Linux powercap / amd_energy counters), hwmon (INA219/INA226/INA3221
        /// monitors), pi5-pmic (vcgencmd pmic_read_adc), csv:FILE (an external meter's log,
        /// aligned by timestamps), none.
        #[arg(long, default_value = "auto", value_parser = parse_power)]
        power: power::Selection,
        /// Seconds of idle power measured before the run (with a power source).
        #[arg(long, default_value_t = 3.0)]
        idle_secs: f64,
        /// With a power source, the run lasts at least this many seconds (more runs than
        /// --runs if needed), so the mean power has enough samples.
        #[arg(long, default_value_t = 5.0)]
        power_secs: f64,
        /// Pin the benchmark thread to this core (e.g. a big core; see lscpu).
        #[arg(long)]
        pin_core: Option<usize>,
        /// Write a one-row CSV summary (latency, energy, clocks) to this file.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Draw the latency histogram and the power trace into this SVG file.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Read sysfs under this directory instead of / (for containers and tests).
        #[arg(long, default_value = "/", hide_short_help = true)]
        sysfs_root: PathBuf,
        /// The vcgencmd program (Raspberry Pi).
        #[arg(long, default_value = "vcgencmd", hide_short_help = true)]
        vcgencmd: PathBuf,
    },
    /// Time two .eqm models alternately in one run (e.g. the same network at W8A8 and
    /// W4A4) and print latency, arena and weight bytes side by side with their ratios.
    Versus {
        /// Model A (the baseline).
        a: PathBuf,
        /// Model B.
        b: PathBuf,
        /// Timed inferences of each.
        #[arg(long, default_value_t = 500)]
        runs: usize,
        /// Untimed inferences of each first.
        #[arg(long, default_value_t = 50)]
        warmup: usize,
        /// Kernels to use (default: the best this CPU runs).
        #[arg(long, value_parser = parse_isa)]
        isa: Option<Isa>,
    },
    /// Compare edgeq with tract on the same model, in this process: latency (alternating
    /// runs, same inputs) and output agreement.
    ///
    /// MODEL.eqm and --onnx FILE must be the same network (e.g. a TFLite model imported with
    /// `edgeq import` and its ONNX conversion). Inputs are fixed pseudo-random values in the
    /// model's input type. Disagreement is reported, never hidden.
    Compare {
        /// The .eqm model.
        model: PathBuf,
        /// The ONNX version of the same model.
        #[arg(long)]
        onnx: PathBuf,
        /// Timed inferences of each runtime.
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// Untimed inferences of each first.
        #[arg(long, default_value_t = 20)]
        warmup: usize,
        /// Different random inputs compared for output agreement.
        #[arg(long, default_value_t = 20)]
        inputs: usize,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn parse_power(s: &str) -> std::result::Result<power::Selection, String> {
    s.parse()
}

fn parse_isa(name: &str) -> std::result::Result<Isa, String> {
    Isa::from_name(name).ok_or_else(|| {
        let names: Vec<_> = Isa::ALL.iter().map(|i| i.name()).collect();
        format!(
            "unknown ISA '{name}' (this build has: {})",
            names.join(", ")
        )
    })
}

/// Elements of a .npy file, in one of the dtypes edgeq models take.
enum Array {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    F32(Vec<f32>),
}

fn read_npy(path: &Path) -> Result<(Array, Vec<u64>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a .npy file", path.display()))?;
    let shape = npy.shape().to_vec();
    ensure!(
        npy.order() == npyz::Order::C,
        "{}: Fortran-ordered arrays are not supported",
        path.display()
    );
    let descr = npy.dtype().descr();
    let array = match descr.as_str() {
        "'|i1'" | "'i1'" => Array::I8(npy.into_vec::<i8>()?),
        "'<i2'" => Array::I16(npy.into_vec::<i16>()?),
        "'<i4'" => Array::I32(npy.into_vec::<i32>()?),
        "'<f4'" => Array::F32(npy.into_vec::<f32>()?),
        other => bail!(
            "{}: dtype {other} is not supported (int8, little-endian int16, int32 or float32)",
            path.display()
        ),
    };
    Ok((array, shape))
}

fn write_npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[usize],
    data: &[T],
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(&shape.iter().map(|&d| d as u64).collect::<Vec<_>>())
        .writer(std::io::BufWriter::new(file))
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()?;
    Ok(())
}

fn check_shape(info: &TensorInfo, shape: &[u64], len: usize) -> Result<()> {
    ensure!(
        len == info.len(),
        "input has {len} elements (shape {shape:?}); the model takes {} (shape {:?})",
        info.len(),
        info.shape()
    );
    Ok(())
}

/// Class names from `a,b,c` or `@file` (one per line).
fn parse_labels(spec: &str) -> Result<Vec<String>> {
    let text = match spec.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading labels {path}"))?
        }
        None => spec.replace(',', "\n"),
    };
    Ok(text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Prints the `top` highest scores with their class names.
fn print_top(scores: &[f32], labels: &[String], top: usize) -> Result<()> {
    ensure!(
        labels.len() == scores.len(),
        "{} labels for {} outputs",
        labels.len(),
        scores.len()
    );
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    for &i in order.iter().take(top) {
        println!("{:>12}  {:.4}", labels[i], scores[i]);
    }
    println!("class: {}", labels[order[0]]);
    Ok(())
}

fn infer(
    model_path: &Path,
    inputs: &[PathBuf],
    outputs: &[PathBuf],
    labels: Option<&str>,
    top: usize,
    dump: Option<&Path>,
) -> Result<()> {
    let bytes =
        load_model_file(model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let model = Model::from_bytes(bytes.bytes())
        .with_context(|| format!("loading {}", model_path.display()))?;
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let (n_in, n_out) = (model.input_count(), model.output_count());
    ensure!(
        inputs.len() == n_in,
        "the model has {n_in} input{}; give one --input per input, in order ({} given)",
        plural(n_in),
        inputs.len()
    );
    ensure!(
        outputs.is_empty() || outputs.len() == n_out,
        "the model has {n_out} output{}; give one --output per output, in order, or none to print them ({} given)",
        plural(n_out),
        outputs.len()
    );
    ensure!(
        labels.is_none() || n_out == 1,
        "--labels needs a model with one output (this one has {n_out})"
    );
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena)?;
    for (i, path) in inputs.iter().enumerate() {
        let info = model.input(i)?;
        let (array, shape) = read_npy(path)?;
        match (array, info.dtype) {
            (Array::I8(v), DType::I8) => {
                check_shape(&info, &shape, v.len())
                    .with_context(|| format!("{}", path.display()))?;
                interp.input_i8_mut(i)?.copy_from_slice(&v);
            }
            (Array::I16(v), DType::I16) => {
                check_shape(&info, &shape, v.len())
                    .with_context(|| format!("{}", path.display()))?;
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                interp.input_bytes_mut(i)?.copy_from_slice(&bytes);
            }
            (Array::I32(v), DType::I32) => {
                check_shape(&info, &shape, v.len())
                    .with_context(|| format!("{}", path.display()))?;
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                interp.input_bytes_mut(i)?.copy_from_slice(&bytes);
            }
            (Array::F32(v), DType::F32) => {
                check_shape(&info, &shape, v.len())
                    .with_context(|| format!("{}", path.display()))?;
                interp.set_input_f32(i, &v)?;
            }
            (array, dtype) => bail!(
                "{}: a {} array, and input {i} of the model takes {}",
                path.display(),
                match array {
                    Array::I8(_) => "int8",
                    Array::I16(_) => "int16",
                    Array::I32(_) => "int32",
                    Array::F32(_) => "float32",
                },
                dtype.name()
            ),
        }
    }
    match dump {
        Some(dir) => dump::invoke_and_dump(&mut interp, dir)?,
        None => interp.invoke()?,
    }
    for i in 0..n_out {
        let out = model.output(i)?;
        let path = outputs.get(i);
        let print = path.is_none() && labels.is_none();
        let real: Vec<f32> = match out.dtype {
            DType::I8 => {
                let y = interp.output_i8(i)?;
                match path {
                    Some(path) => write_npy(path, out.shape(), y)?,
                    None if print && n_out > 1 => println!("output {i}: {y:?}"),
                    None if print => println!("{y:?}"),
                    None => {}
                }
                y.iter()
                    .map(|&q| out.scale * (i32::from(q) - out.zero_point) as f32)
                    .collect()
            }
            DType::F32 => {
                let mut y = vec![0f32; out.len()];
                interp.get_output_f32(i, &mut y)?;
                match path {
                    Some(path) => write_npy(path, out.shape(), &y)?,
                    None if print && n_out > 1 => println!("output {i}: {y:?}"),
                    None if print => println!("{y:?}"),
                    None => {}
                }
                y
            }
            DType::I16 | DType::I32 => {
                let bytes = interp.output_bytes(i)?;
                let values: Vec<i32> = if out.dtype == DType::I16 {
                    bytes
                        .chunks_exact(2)
                        .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]])))
                        .collect()
                } else {
                    bytes
                        .chunks_exact(4)
                        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect()
                };
                match path {
                    Some(path) if out.dtype == DType::I16 => {
                        let v: Vec<i16> = values.iter().map(|&v| v as i16).collect();
                        write_npy(path, out.shape(), &v)?
                    }
                    Some(path) => write_npy(path, out.shape(), &values)?,
                    None if print && n_out > 1 => println!("output {i}: {values:?}"),
                    None if print => println!("{values:?}"),
                    None => {}
                }
                values
                    .iter()
                    .map(|&q| out.scale * (q - out.zero_point) as f32)
                    .collect()
            }
            other => bail!("output dtype {} is not supported by infer", other.name()),
        };
        if let Some(spec) = labels {
            print_top(&real, &parse_labels(spec)?, top)?;
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Infer {
            model,
            input,
            output,
            labels,
            top,
            dump,
        } => infer(
            &model,
            &input,
            &output,
            labels.as_deref(),
            top,
            dump.as_deref(),
        ),
        Command::Bench {
            model,
            runs,
            warmup,
            isa,
            ops,
            json,
            peak_macs_per_cycle,
            power,
            idle_secs,
            power_secs,
            pin_core,
            csv,
            plot,
            sysfs_root,
            vcgencmd,
        } => latency::bench(
            &model,
            &latency::BenchOptions {
                runs,
                warmup,
                isa,
                per_op: ops,
                json: json.as_deref(),
                peak_macs_per_cycle,
                power,
                roots: power::Roots {
                    sys: sysfs_root,
                    vcgencmd,
                },
                idle_secs,
                power_secs,
                pin_core,
                csv: csv.as_deref(),
                plot: plot.as_deref(),
            },
        ),
        Command::Versus {
            a,
            b,
            runs,
            warmup,
            isa,
        } => latency::versus(&a, &b, runs, warmup, isa),
        Command::Compare {
            model,
            onnx,
            runs,
            warmup,
            inputs,
            json,
        } => compare::compare(&model, &onnx, runs, warmup, inputs, json.as_deref()),
    }
}
