//! `--plot FILE.svg`: the latency histogram and, with a power source, the power trace with
//! the idle and run windows marked.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::power::{Sample, Windows};

/// Draws the plot. `latencies_us` need not be sorted.
pub fn write_svg(
    path: &Path,
    title: &str,
    latencies_us: &[f64],
    power: Option<(&[Sample], &Windows)>,
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    let height = if power.is_some() { 900 } else { 480 };
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, bottom) = if power.is_some() {
        let (t, b) = root.split_vertically(450);
        (t, Some(b))
    } else {
        (root.clone(), None)
    };
    histogram(&top, title, latencies_us).map_err(|e| err(&e))?;
    if let (Some(area), Some((samples, windows))) = (bottom, power) {
        trace(&area, samples, windows).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn histogram(area: &Area<'_>, title: &str, latencies_us: &[f64]) -> DrawResult {
    let mut v = latencies_us.to_vec();
    v.sort_by(f64::total_cmp);
    // The plot spans min..p99.5 so that rare outliers do not squash the distribution.
    let lo = v.first().copied().unwrap_or(0.0);
    let hi = v
        .get(((v.len() as f64 - 1.0) * 0.995) as usize)
        .copied()
        .unwrap_or(1.0)
        .max(lo * 1.001 + 1e-9);
    const BINS: usize = 60;
    let width = (hi - lo) / BINS as f64;
    let mut counts = [0u32; BINS];
    for &x in v.iter().filter(|&&x| x <= hi) {
        counts[(((x - lo) / width) as usize).min(BINS - 1)] += 1;
    }
    let peak = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{title}: latency of {} inferences", v.len()),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0u32..peak + peak / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("microseconds (min to p99.5)")
        .y_desc("inferences")
        .draw()?;
    chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
        let x0 = lo + i as f64 * width;
        Rectangle::new([(x0, 0), (x0 + width, c)], BLUE.mix(0.6).filled())
    }))?;
    Ok(())
}

fn trace(area: &Area<'_>, samples: &[Sample], w: &Windows) -> DrawResult {
    let t0 = w
        .idle_from
        .min(samples.first().map_or(w.idle_from, |s| s.t));
    let t1 = w.run_to.max(samples.last().map_or(w.run_to, |s| s.t));
    let shown: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t >= t0 && s.t <= t1)
        .map(|s| (s.t - t0, s.watts))
        .collect();
    let top = shown.iter().map(|p| p.1).fold(0.0f64, f64::max) * 1.15 + 1e-3;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "power (shaded: idle window, then run window)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..(t1 - t0).max(1e-3), 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("watts")
        .draw()?;
    for (from, to, color) in [
        (w.idle_from, w.idle_to, GREEN.mix(0.15)),
        (w.run_from, w.run_to, RED.mix(0.12)),
    ] {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(from - t0, 0.0), (to - t0, top)],
            color.filled(),
        )))?;
    }
    chart.draw_series(LineSeries::new(shown, BLACK.stroke_width(1)))?;
    Ok(())
}
