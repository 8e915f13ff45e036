//! `edgeq-bench bench`: latency of whole inferences (and, with `--ops`, of each operator).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use edgeq_runtime::format::OpKind;
use edgeq_runtime::kernels::Isa;
use edgeq_runtime::{load_model_file, DType, Interpreter, Model};
use serde::Serialize;

/// What `bench` was asked to do.
pub struct BenchOptions<'a> {
    /// Timed inferences.
    pub runs: usize,
    /// Untimed inferences first (caches, branch predictors, frequency ramp-up).
    pub warmup: usize,
    /// Kernel ISA (`None`: the best this CPU runs).
    pub isa: Option<Isa>,
    /// Also time each operator.
    pub per_op: bool,
    /// Write the results as JSON here.
    pub json: Option<&'a Path>,
    /// Int8 MACs per cycle the fraction-of-peak figures assume (default: by ISA).
    pub peak_macs_per_cycle: Option<f64>,
}

/// Order statistics of a set of timings, in microseconds.
#[derive(Serialize, Clone, Copy, Debug)]
pub struct Stats {
    min: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    mean: f64,
}

impl Stats {
    fn of(samples: &mut [f64]) -> Self {
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Stats {
            min: samples[0],
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            mean: samples.iter().sum::<f64>() / samples.len() as f64,
        }
    }
}

#[derive(Serialize)]
struct OpReport {
    index: usize,
    kind: &'static str,
    macs: u64,
    us: Stats,
}

#[derive(Serialize)]
struct Report {
    model: String,
    isa: &'static str,
    runs: usize,
    warmup: usize,
    us: Stats,
    inferences_per_second: f64,
    arena_bytes: usize,
    weight_bytes: usize,
    macs: u64,
    gmacs_per_second: f64,
    /// Measured with a chain of dependent adds; `None` where not measurable.
    cpu_ghz: Option<f64>,
    peak_macs_per_cycle: f64,
    fraction_of_peak: Option<f64>,
    ops: Vec<OpReport>,
}

/// Runs the benchmark and prints (and optionally writes) the report.
/// One core's int8 MACs per cycle with `isa`'s best instruction, on the core edgeq's docs
/// assume for it (see `--peak-macs-per-cycle`).
fn default_peak_macs_per_cycle(isa: Isa) -> f64 {
    match isa {
        Isa::Avx2 | Isa::NeonDotprod => 32.0,
        Isa::Neon => 8.0,
        Isa::Scalar => 1.0,
    }
}

pub fn bench(model_path: &Path, o: &BenchOptions<'_>) -> Result<()> {
    anyhow::ensure!(o.runs > 0, "--runs must be at least 1");
    let bytes =
        load_model_file(model_path).with_context(|| format!("reading {}", model_path.display()))?;
    let model = Model::from_bytes(bytes.bytes())
        .with_context(|| format!("loading {}", model_path.display()))?;
    let mut arena = vec![0u8; model.arena_size()];
    let isa = o.isa.unwrap_or_else(Isa::detect);
    let mut interp = Interpreter::with_isa(&model, &mut arena, isa)?;
    fill_inputs(&model, &mut interp)?;

    for _ in 0..o.warmup {
        interp.invoke()?;
    }
    let mut samples = Vec::with_capacity(o.runs);
    for _ in 0..o.runs {
        let start = Instant::now();
        interp.invoke()?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let us = Stats::of(&mut samples);

    let ops = if o.per_op {
        profile_ops(&model, &mut interp, o.runs)?
    } else {
        Vec::new()
    };
    let macs: u64 = (0..model.op_count()).map(|i| model.op_macs(i)).sum();
    let gmacs = macs as f64 / us.min / 1e3;
    let cpu_ghz = crate::cpu::measure_ghz();
    let peak_macs_per_cycle = o
        .peak_macs_per_cycle
        .unwrap_or_else(|| default_peak_macs_per_cycle(isa));
    let report = Report {
        model: model_path.display().to_string(),
        isa: isa.name(),
        runs: o.runs,
        warmup: o.warmup,
        us,
        inferences_per_second: 1e6 / us.p50,
        arena_bytes: model.arena_size(),
        weight_bytes: weight_bytes(&model),
        macs,
        gmacs_per_second: gmacs,
        cpu_ghz,
        peak_macs_per_cycle,
        fraction_of_peak: cpu_ghz.map(|ghz| gmacs / (ghz * peak_macs_per_cycle)),
        ops,
    };
    print_report(&report);
    if let Some(path) = o.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Deterministic pseudo-random inputs (latency does not depend on the values).
fn fill_inputs(model: &Model<'_>, interp: &mut Interpreter<'_, '_>) -> Result<()> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..model.input_count() {
        match model.input(i)?.dtype {
            DType::F32 => {
                let n = model.input(i)?.len();
                let v: Vec<f32> = (0..n)
                    .map(|_| (next() % 2000) as f32 / 1000.0 - 1.0)
                    .collect();
                interp.set_input_f32(i, &v)?;
            }
            _ => interp
                .input_bytes_mut(i)?
                .iter_mut()
                .for_each(|b| *b = next() as u8),
        }
    }
    Ok(())
}

fn profile_ops(
    model: &Model<'_>,
    interp: &mut Interpreter<'_, '_>,
    runs: usize,
) -> Result<Vec<OpReport>> {
    let n = model.op_count();
    let mut samples = vec![Vec::with_capacity(runs); n];
    for _ in 0..runs {
        for (i, s) in samples.iter_mut().enumerate() {
            let start = Instant::now();
            interp.invoke_op(i)?;
            s.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok(samples
        .iter_mut()
        .enumerate()
        .map(|(index, s)| OpReport {
            index,
            kind: model
                .op_desc(index)
                .and_then(|op| OpKind::from_u16(op.kind))
                .map_or("?", |k| k.name()),
            macs: model.op_macs(index),
            us: Stats::of(s),
        })
        .collect())
}

/// Bytes of constant int8 data (weights), as `edgeq inspect` counts them.
fn weight_bytes(model: &Model<'_>) -> usize {
    (0..model.tensor_count())
        .filter_map(|i| model.tensor_desc(i))
        .filter(|t| t.storage == edgeq_runtime::format::Storage::Const as u8)
        .filter(|t| t.dtype == DType::I8 as u8)
        .map(|t| t.size as usize)
        .sum()
}

fn print_report(r: &Report) {
    println!("model            {}", r.model);
    println!("kernels          {}", r.isa);
    println!("runs             {} (after {} warm-up)", r.runs, r.warmup);
    println!(
        "latency us       min {:.1}  p50 {:.1}  p90 {:.1}  p99 {:.1}  mean {:.1}",
        r.us.min, r.us.p50, r.us.p90, r.us.p99, r.us.mean
    );
    println!("inferences/s     {:.0} (at p50)", r.inferences_per_second);
    println!("arena bytes      {}", r.arena_bytes);
    println!("weight bytes     {}", r.weight_bytes);
    println!(
        "MACs             {} ({:.2} GMAC/s at min)",
        r.macs, r.gmacs_per_second
    );
    match (r.cpu_ghz, r.fraction_of_peak) {
        (Some(ghz), Some(f)) => println!(
            "of peak          {:.1}% ({:.2} GHz measured x {} int8 MAC/cycle)",
            f * 100.0,
            ghz,
            r.peak_macs_per_cycle
        ),
        _ => println!("of peak          unknown (CPU frequency not measurable here)"),
    }
    if !r.ops.is_empty() {
        println!();
        println!(
            "{:>3}  {:<18} {:>10} {:>10} {:>8} {:>9}",
            "#", "op", "min us", "p50 us", "share", "GMAC/s"
        );
        let total: f64 = r.ops.iter().map(|o| o.us.p50).sum();
        for o in &r.ops {
            let gmacs = if o.macs > 0 {
                format!("{:.2}", o.macs as f64 / o.us.min / 1e3)
            } else {
                "-".to_string()
            };
            println!(
                "{:>3}  {:<18} {:>10.2} {:>10.2} {:>7.1}% {:>9}",
                o.index,
                o.kind,
                o.us.min,
                o.us.p50,
                100.0 * o.us.p50 / total,
                gmacs
            );
        }
    }
}
