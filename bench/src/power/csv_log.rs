//! An external USB power meter's log as CSV, read after the run and aligned with it by
//! timestamps (the meter's logger and this machine must share a clock, e.g. both on NTP).
//!
//! The first row names the columns. Needed: a time column (header containing `time`, `date`
//! or `ts`; Unix seconds or milliseconds, or RFC 3339 like `2026-11-23T17:05:00.120Z`, UTC if
//! no offset), and either a power column (`power`/`watt`/`W`) or voltage (`volt`/`V`) and
//! current (`curr`/`amp`/`A`) columns. Units come from a header's last word: `W`/`mW`/`uW`,
//! `V`/`mV`, `A`/`mA`/`uA` (default W, V, A): `power_mW`, `Current (mA)`, `voltage[V]`.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::Sample;

/// A column and the factor from its unit to W, V or A.
#[derive(Clone, Copy, Debug)]
struct Column {
    index: usize,
    scale: f64,
}

/// The last alphanumeric word of a header, lower-cased: its unit if it is one.
fn unit_scale(header: &str, base: char) -> f64 {
    let last = header
        .split(|c: char| !(c.is_alphanumeric()))
        .rfind(|w| !w.is_empty())
        .unwrap_or("")
        .to_lowercase();
    let b = base.to_string();
    match last.strip_suffix(b.as_str()) {
        Some("m") => 1e-3,
        Some("u") | Some("µ") => 1e-6,
        _ => 1.0,
    }
}

/// The first column (other than `skip`) whose header contains a key or whose first word is
/// one of `exact`.
fn find(
    headers: &[String],
    keys: &[&str],
    exact: &[&str],
    base: char,
    skip: Option<usize>,
) -> Option<Column> {
    headers
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(i) != skip)
        .find_map(|(index, h)| {
            let l = h.to_lowercase();
            let first = l.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
            let hit = keys.iter().any(|k| l.contains(k)) || exact.contains(&first);
            hit.then(|| Column {
                index,
                scale: unit_scale(h, base),
            })
        })
}

/// Parses a timestamp: Unix seconds (or milliseconds, if too large for seconds) or RFC 3339.
pub fn parse_time(s: &str) -> Result<f64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Ok(if v > 1e11 { v / 1e3 } else { v });
    }
    let t = humantime::parse_rfc3339_weak(s)
        .or_else(|_| humantime::parse_rfc3339(s))
        .with_context(|| format!("not a Unix time or RFC 3339 timestamp: {s:?}"))?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)?.as_secs_f64())
}

/// The log's rows as power samples, in time order.
pub fn load(path: &Path) -> Result<Vec<Sample>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening meter log {}", path.display()))?;
    let headers: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let Some(time) = find(&headers, &["time", "date"], &["ts", "t"], 's', None) else {
        bail!("{}: no time column in {headers:?}", path.display());
    };
    // ("timestamp" contains "amp": the time column is not a candidate for the others.)
    let other =
        |keys: &[&str], exact: &[&str], base| find(&headers, keys, exact, base, Some(time.index));
    let power = other(&["power", "watt"], &["w", "p"], 'w');
    let volts = other(&["volt"], &["v", "u"], 'v');
    let amps = other(&["curr", "amp"], &["a", "i"], 'a');
    if power.is_none() && (volts.is_none() || amps.is_none()) {
        bail!(
            "{}: needs a power column, or voltage and current columns; found {headers:?}",
            path.display()
        );
    }
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record?;
        let field = |c: Column| -> Result<f64> {
            let text = record.get(c.index).unwrap_or("");
            let v: f64 = text.parse().with_context(|| {
                format!(
                    "{} row {}: not a number: {text:?}",
                    path.display(),
                    line + 2
                )
            })?;
            Ok(v * c.scale)
        };
        let t = parse_time(record.get(time.index).unwrap_or(""))
            .with_context(|| format!("{} row {}", path.display(), line + 2))?;
        let watts = match power {
            Some(p) => field(p)?,
            None => field(volts.expect("checked"))? * field(amps.expect("checked"))?,
        };
        rows.push((t, watts));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    if rows.len() < 2 {
        bail!(
            "{}: {} sample(s); a log needs at least 2",
            path.display(),
            rows.len()
        );
    }
    // Each row stands for the time since the previous one (the first for the second's gap).
    let first_gap = rows[1].0 - rows[0].0;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, &(t, watts))| Sample {
            t,
            watts,
            weight: if i == 0 { first_gap } else { t - rows[i - 1].0 },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Vec<Sample>> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("meter.csv");
        std::fs::write(&p, text)?;
        load(&p)
    }

    #[test]
    fn reads_power_or_voltage_times_current_with_units() {
        let s = load_text("timestamp,power_mW\n1700000000.0,2500\n1700000000.5,3000\n").unwrap();
        let va = load_text(
            "timestamp,voltage_V,current_mA\n1700000000.0,5.0,100\n1700000000.1,5.0,200\n",
        )
        .unwrap();
        assert!((va[1].watts - 1.0).abs() < 1e-12, "{va:?}");
        assert_eq!(s.len(), 2);
        assert!((s[0].watts - 2.5).abs() < 1e-12 && (s[1].watts - 3.0).abs() < 1e-12);
        assert!((s[1].weight - 0.5).abs() < 1e-9);
        let s = load_text(
            "Time,Voltage (V),Current (mA)\n2026-11-23T17:00:00.000Z,5.0,400\n2026-11-23T17:00:00.100Z,5.0,500\n",
        )
        .unwrap();
        assert!((s[0].watts - 2.0).abs() < 1e-12 && (s[1].watts - 2.5).abs() < 1e-12);
        assert!((s[1].t - s[0].t - 0.1).abs() < 1e-6);
        // Milliseconds since the epoch are recognised.
        let s = load_text("t,W\n1700000000000,1\n1700000000250,1\n").unwrap();
        assert!((s[1].t - 1_700_000_000.25).abs() < 1e-6);
    }

    #[test]
    fn says_what_is_missing() {
        let e = load_text("time,temperature\n1,2\n2,3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a power column"), "{e}");
        let e = load_text("power\n1\n2\n").unwrap_err().to_string();
        assert!(e.contains("no time column"), "{e}");
        let e = load_text("time,power\n1,x\n2,3\n").unwrap_err().to_string();
        assert!(e.contains("row 2: not a number"), "{e}");
    }
}
