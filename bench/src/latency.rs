//! `edgeq-bench bench`: latency of whole inferences (and, with `--ops`, of each operator).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use edgeq_runtime::format::OpKind;
use edgeq_runtime::kernels::Isa;
use edgeq_runtime::{load_model_file, DType, Interpreter, Model};
use serde::Serialize;

use crate::context::{self, CpuState};
use crate::power::sampler::{unix_now, Sampler};
use crate::power::{self, EnergyReport, Roots, Sample, Selection, Windows};

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
    /// Power source.
    pub power: Selection,
    /// Where sysfs and vcgencmd are.
    pub roots: Roots,
    /// Seconds of idle power measured before the run.
    pub idle_secs: f64,
    /// With a power source, the run lasts at least this long.
    pub power_secs: f64,
    /// Pin the benchmark to this core.
    pub pin_core: Option<usize>,
    /// Write a one-row CSV summary here.
    pub csv: Option<&'a Path>,
    /// Write an SVG plot here.
    pub plot: Option<&'a Path>,
}

/// Order statistics of a set of timings, in microseconds.
#[derive(Serialize, Clone, Copy, Debug)]
pub struct Stats {
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
}

impl Stats {
    pub fn of(samples: &mut [f64]) -> Self {
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
    /// edgeq runs an inference on one thread.
    threads: usize,
    pinned_core: Option<usize>,
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
    /// Where the peak came from: "option" (`--peak-macs-per-cycle`), "measured" (the tier's
    /// widest multiply-add timed on this core) or "table" (the tier's nominal figure).
    peak_source: &'static str,
    fraction_of_peak: Option<f64>,
    /// Energy per inference, when a power source was measured.
    energy: Option<EnergyReport>,
    /// Why there is no energy figure, when there is none.
    energy_note: Option<String>,
    cpu_before: CpuState,
    cpu_after: CpuState,
    warnings: Vec<String>,
    ops: Vec<OpReport>,
}

/// Runs the benchmark and prints (and optionally writes) the report.
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

    if let Some(core) = o.pin_core {
        let ok = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.id == core)
            .is_some_and(core_affinity::set_for_current);
        anyhow::ensure!(
            ok,
            "--pin-core {core}: cannot run on that core (does it exist?)"
        );
    }
    let cpu_before = context::read(&o.roots, o.pin_core.or_else(context::current_cpu));

    // Power: a live source sampled on its own thread, or a meter log read afterwards.
    let source = power::open(&o.power, &o.roots)?;
    let measuring = source.is_some() || matches!(o.power, Selection::Csv(_));
    let described = source
        .as_ref()
        .map(|s| (s.name().to_string(), s.detail(), s.resolution()));
    let sampler = source.map(Sampler::start);
    let idle_from = unix_now();
    if measuring {
        eprintln!("measuring idle power for {:.1} s...", o.idle_secs);
        std::thread::sleep(Duration::from_secs_f64(o.idle_secs));
    }
    let idle_to = unix_now();

    for _ in 0..o.warmup {
        interp.invoke()?;
    }
    // With power measured, keep running until the window is long enough for a mean.
    let min_secs = if measuring { o.power_secs } else { 0.0 };
    let mut samples = Vec::with_capacity(o.runs);
    let run_from = unix_now();
    let started = Instant::now();
    while samples.len() < o.runs || started.elapsed().as_secs_f64() < min_secs {
        let start = Instant::now();
        interp.invoke()?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let run_to = unix_now();
    let windows = Windows {
        idle_from,
        idle_to,
        run_from,
        run_to,
        inferences: samples.len(),
    };
    let trace: Option<Vec<Sample>> = match (sampler, &o.power) {
        (Some(s), _) => Some(s.stop()?),
        (None, Selection::Csv(path)) => Some(load_log_covering(path, run_to)?),
        _ => None,
    };
    let cpu_after = context::read(&o.roots, cpu_before.cpu);
    let latencies = samples.clone();
    let us = Stats::of(&mut samples);

    let (energy, energy_note) = match (&trace, &o.power) {
        (Some(t), Selection::Csv(path)) => {
            let detail = format!("external meter log {}", path.display());
            let resolution = format!("{} rows, median {:.0} ms apart", t.len(), median_gap_ms(t));
            (
                Some(power::energy(t, &windows, "csv", detail, resolution)?),
                None,
            )
        }
        (Some(t), _) => {
            let (name, detail, resolution) = described.clone().unwrap_or_default();
            (
                Some(power::energy(t, &windows, &name, detail, resolution)?),
                None,
            )
        }
        (None, Selection::None) => (None, Some("not measured (--power none)".to_string())),
        (None, _) => (
            None,
            Some(
                "no power source on this machine (no RAPL counters, INA hwmon monitor or Pi 5 \
                 PMIC found): energy not measured. With an external USB meter, log it to CSV and \
                 pass --power csv:FILE"
                    .to_string(),
            ),
        ),
    };

    let ops = if o.per_op {
        profile_ops(&model, &mut interp, o.runs)?
    } else {
        Vec::new()
    };
    let macs: u64 = (0..model.op_count()).map(|i| model.op_macs(i)).sum();
    let gmacs = macs as f64 / us.min / 1e3;
    let cpu_ghz = crate::cpu::measure_ghz();
    let measured_peak =
        || cpu_ghz.and_then(|ghz| crate::cpu::measure_peak_macs_per_cycle(isa.name(), ghz));
    let (peak_macs_per_cycle, peak_source) = match o.peak_macs_per_cycle {
        Some(peak) => (peak, "option"),
        None => match measured_peak() {
            Some(peak) => (peak, "measured"),
            None => (f64::from(isa.peak_macs_per_cycle()), "table"),
        },
    };
    let report = Report {
        model: model_path.display().to_string(),
        isa: isa.name(),
        threads: 1,
        pinned_core: o.pin_core,
        runs: samples.len(),
        warmup: o.warmup,
        us,
        inferences_per_second: 1e6 / us.p50,
        arena_bytes: model.arena_size(),
        weight_bytes: weight_bytes(&model),
        macs,
        gmacs_per_second: gmacs,
        cpu_ghz,
        peak_macs_per_cycle,
        peak_source,
        fraction_of_peak: cpu_ghz.map(|ghz| gmacs / (ghz * peak_macs_per_cycle)),
        energy,
        energy_note,
        warnings: context::warnings(&cpu_before, &cpu_after),
        cpu_before,
        cpu_after,
        ops,
    };
    print_report(&report);
    if let Some(path) = o.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = o.csv {
        write_csv(path, &report).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = o.plot {
        let name = model_path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into());
        let power = trace.as_deref().map(|t| (t, &windows));
        crate::plot::write_svg(path, &name, &latencies, power)?;
        println!("plot             {}", path.display());
    }
    Ok(())
}

/// Reads a meter log, waiting up to 10 s for its logger to write rows past `until`
/// (loggers flush late); then takes what is there.
fn load_log_covering(path: &Path, until: f64) -> Result<Vec<Sample>> {
    for _ in 0..20 {
        if let Ok(s) = power::csv_log::load(path) {
            if s.last().is_some_and(|last| last.t >= until) {
                return Ok(s);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    power::csv_log::load(path)
}

fn median_gap_ms(t: &[Sample]) -> f64 {
    let mut gaps: Vec<f64> = t.windows(2).map(|w| (w[1].t - w[0].t) * 1e3).collect();
    gaps.sort_by(f64::total_cmp);
    gaps.get(gaps.len() / 2).copied().unwrap_or(0.0)
}

/// One summary row (with a header) for spreadsheets.
fn write_csv(path: &Path, r: &Report) -> Result<()> {
    #[derive(Serialize)]
    struct Row<'r> {
        model: &'r str,
        isa: &'r str,
        threads: usize,
        runs: usize,
        min_us: f64,
        p50_us: f64,
        p90_us: f64,
        p99_us: f64,
        mean_us: f64,
        inferences_per_second: f64,
        arena_bytes: usize,
        weight_bytes: usize,
        macs: u64,
        gmacs_per_second: f64,
        power_source: &'r str,
        idle_watts: Option<f64>,
        run_watts: Option<f64>,
        millijoules_per_inference: Option<f64>,
        cpu_mhz_before: Option<f64>,
        cpu_mhz_after: Option<f64>,
        celsius_before: Option<f64>,
        celsius_after: Option<f64>,
    }
    let e = r.energy.as_ref();
    let mut w = csv::Writer::from_path(path)?;
    w.serialize(Row {
        model: &r.model,
        isa: r.isa,
        threads: r.threads,
        runs: r.runs,
        min_us: r.us.min,
        p50_us: r.us.p50,
        p90_us: r.us.p90,
        p99_us: r.us.p99,
        mean_us: r.us.mean,
        inferences_per_second: r.inferences_per_second,
        arena_bytes: r.arena_bytes,
        weight_bytes: r.weight_bytes,
        macs: r.macs,
        gmacs_per_second: r.gmacs_per_second,
        power_source: e.map_or("none", |e| e.source.as_str()),
        idle_watts: e.map(|e| e.idle_watts),
        run_watts: e.map(|e| e.run_watts),
        millijoules_per_inference: e.map(|e| e.joules_per_inference * 1e3),
        cpu_mhz_before: r.cpu_before.mhz,
        cpu_mhz_after: r.cpu_after.mhz,
        celsius_before: r.cpu_before.celsius,
        celsius_after: r.cpu_after.celsius,
    })?;
    w.flush()?;
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

/// Bytes of constant int8 and int4 data (weights).
fn weight_bytes(model: &Model<'_>) -> usize {
    weight_bytes_all(model)
}

fn print_report(r: &Report) {
    println!("model            {}", r.model);
    println!(
        "kernels          {} ({} thread{})",
        r.isa,
        r.threads,
        r.pinned_core
            .map_or(String::new(), |c| format!(", pinned to core {c}"))
    );
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
            "of peak          {:.1}% ({:.2} GHz measured x {} int8 MAC/cycle, {})",
            f * 100.0,
            ghz,
            r.peak_macs_per_cycle,
            match r.peak_source {
                "measured" => "measured on this core",
                "option" => "as given",
                _ => "the tier's nominal figure",
            }
        ),
        _ => println!("of peak          unknown (CPU frequency not measurable here)"),
    }
    match (&r.energy, &r.energy_note) {
        (Some(e), _) => {
            // Below the printed precision, a difference of equal means is rounding: show 0.
            let mj = |j: f64| if (j * 1e3).abs() < 5e-5 { 0.0 } else { j * 1e3 };
            println!(
                "energy           {:.4} mJ/inference above idle ({:.4} mJ including idle)",
                mj(e.joules_per_inference),
                mj(e.total_joules_per_inference)
            );
            println!(
                "power            {:.3} W during the run, {:.3} W idle ({} + {} samples)",
                e.run_watts, e.idle_watts, e.idle_samples, e.run_samples
            );
            println!("power source     {}: {}", e.source, e.detail);
            println!("resolution       {}", e.resolution);
        }
        (None, Some(note)) => println!("energy           {note}"),
        (None, None) => {}
    }
    let cpu = |s: &CpuState| {
        let mhz = s
            .mhz
            .map_or("clock unknown".to_string(), |m| format!("{m:.0} MHz"));
        let temp = s
            .celsius
            .map_or("temperature unknown".to_string(), |c| format!("{c:.1} °C"));
        format!("{mhz}, {temp}")
    };
    println!(
        "cpu {:<12} before: {}; after: {}{}",
        r.cpu_before.cpu.map_or("?".to_string(), |c| c.to_string()),
        cpu(&r.cpu_before),
        cpu(&r.cpu_after),
        r.cpu_after
            .governor
            .as_ref()
            .map_or(String::new(), |g| format!(" ({g} governor)"))
    );
    for w in &r.warnings {
        println!("warning          {w}");
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

/// `edgeq-bench versus A.eqm B.eqm`: the two models timed alternately, one inference each,
/// in the same run (so both see the same machine state), with their memory.
pub fn versus(a: &Path, b: &Path, runs: usize, warmup: usize, isa: Option<Isa>) -> Result<()> {
    anyhow::ensure!(runs > 0, "--runs must be at least 1");
    let load = |p: &Path| -> Result<edgeq_runtime::ModelBytes> {
        let bytes = load_model_file(p).with_context(|| format!("reading {}", p.display()))?;
        Model::from_bytes(bytes.bytes()).with_context(|| format!("loading {}", p.display()))?;
        Ok(bytes)
    };
    let (file_a, file_b) = (load(a)?, load(b)?);
    let (ma, mb) = (
        Model::from_bytes(file_a.bytes())?,
        Model::from_bytes(file_b.bytes())?,
    );
    let (mut arena_a, mut arena_b) = (vec![0u8; ma.arena_size()], vec![0u8; mb.arena_size()]);
    let isa = isa.unwrap_or_else(Isa::detect);
    let mut ia = Interpreter::with_isa(&ma, &mut arena_a, isa)?;
    let mut ib = Interpreter::with_isa(&mb, &mut arena_b, isa)?;
    fill_inputs(&ma, &mut ia)?;
    fill_inputs(&mb, &mut ib)?;
    let (mut ta, mut tb) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for i in 0..warmup + runs {
        let start = Instant::now();
        ia.invoke()?;
        let t_a = start.elapsed().as_secs_f64() * 1e6;
        let start = Instant::now();
        ib.invoke()?;
        let t_b = start.elapsed().as_secs_f64() * 1e6;
        if i >= warmup {
            ta.push(t_a);
            tb.push(t_b);
        }
    }
    let (sa, sb) = (Stats::of(&mut ta), Stats::of(&mut tb));
    let (wa, wb) = (weight_bytes_all(&ma), weight_bytes_all(&mb));
    println!(
        "kernels          {} ({runs} runs each, alternating)",
        isa.name()
    );
    println!("{:<16} {:>10} {:>10} {:>8}", "", "A", "B", "B / A");
    let row = |name: &str, x: f64, y: f64| {
        println!("{name:<16} {x:>10.1} {y:>10.1} {:>7.3}x", y / x);
    };
    row("p50 us", sa.p50, sb.p50);
    row("min us", sa.min, sb.min);
    row(
        "arena bytes",
        ma.arena_size() as f64,
        mb.arena_size() as f64,
    );
    row("weight bytes", wa as f64, wb as f64);
    println!("A                {}", a.display());
    println!("B                {}", b.display());
    Ok(())
}

/// Bytes of constant int8 and int4 data (weights).
fn weight_bytes_all(model: &Model<'_>) -> usize {
    (0..model.tensor_count())
        .filter_map(|i| model.tensor_desc(i))
        .filter(|t| t.storage == edgeq_runtime::format::Storage::Const as u8)
        .filter(|t| t.dtype == DType::I8 as u8 || t.dtype == DType::I4 as u8)
        .map(|t| t.size as usize)
        .sum()
}
