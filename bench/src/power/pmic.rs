//! The Raspberry Pi 5 PMIC: `vcgencmd pmic_read_adc` prints each rail's current and voltage,
//!
//! ```text
//!       VDD_CORE_A current(7)=0.68500000A
//!       VDD_CORE_V volt(15)=0.72006900V
//! ```
//!
//! and power is the sum of V·I over the rails that have both. These are the PMIC's output
//! rails: the 5 V input (EXT5V_V has no current) and conversion losses are not included, so
//! the figure is below wall power; the difference between run and idle is what it is for.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{PowerSource, Reading, Roots};

/// V and I per rail name (without the `_V`/`_A` suffix), from `pmic_read_adc` output.
pub fn parse(text: &str) -> BTreeMap<String, (Option<f64>, Option<f64>)> {
    let mut rails: BTreeMap<String, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for line in text.lines() {
        let Some((left, value)) = line.trim().split_once('=') else {
            continue;
        };
        let name = left.split_whitespace().next().unwrap_or("");
        let value = value.trim();
        let number = |unit: char| value.strip_suffix(unit).and_then(|v| v.parse::<f64>().ok());
        if let (Some(rail), Some(amps)) = (name.strip_suffix("_A"), number('A')) {
            rails.entry(rail.to_string()).or_default().1 = Some(amps);
        } else if let (Some(rail), Some(volts)) = (name.strip_suffix("_V"), number('V')) {
            rails.entry(rail.to_string()).or_default().0 = Some(volts);
        }
    }
    rails
}

/// Sum of V·I over rails with both readings, and how many rails that was.
pub fn total_watts(rails: &BTreeMap<String, (Option<f64>, Option<f64>)>) -> (f64, usize) {
    rails
        .values()
        .filter_map(|&(v, i)| Some(v? * i?))
        .fold((0.0, 0), |(w, n), p| (w + p, n + 1))
}

/// Reads the PMIC by running `vcgencmd`.
pub struct Pmic {
    program: std::path::PathBuf,
    rails: usize,
}

impl Pmic {
    fn query(&self) -> Result<(f64, usize)> {
        let out = Command::new(&self.program)
            .arg("pmic_read_adc")
            .output()
            .with_context(|| format!("running {} pmic_read_adc", self.program.display()))?;
        if !out.status.success() {
            bail!(
                "{} pmic_read_adc failed: {}",
                self.program.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(total_watts(&parse(&String::from_utf8_lossy(&out.stdout))))
    }
}

/// Checks that `vcgencmd pmic_read_adc` works and reports rails with current and voltage.
pub fn open(roots: &Roots) -> Result<Box<dyn PowerSource>> {
    let mut p = Pmic {
        program: roots.vcgencmd.clone(),
        rails: 0,
    };
    let (_, rails) = p.query()?;
    if rails == 0 {
        bail!("vcgencmd pmic_read_adc printed no rail with both current and voltage (not a Pi 5?)");
    }
    p.rails = rails;
    Ok(Box::new(p))
}

impl PowerSource for Pmic {
    fn name(&self) -> &'static str {
        "pi5-pmic"
    }

    fn detail(&self) -> String {
        format!(
            "Raspberry Pi 5 PMIC, sum of V x I over {} output rails (excludes conversion losses \
             and 5 V USB loads)",
            self.rails
        )
    }

    fn resolution(&self) -> String {
        "PMIC ADC readings through vcgencmd (a process per reading), sampled every 100 ms".into()
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(100)
    }

    fn read(&mut self) -> Result<Reading> {
        Ok(Reading::Power(self.query()?.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_rails_and_skips_voltage_only_ones() {
        let text =
            "     VDD_CORE_A current(7)=2.00000000A\n       1V8_SYS_A current(2)=0.50000000A\n\
                    1V8_SYS_V volt(10)=1.80000000V\n      VDD_CORE_V volt(15)=0.75000000V\n\
                    EXT5V_V volt(24)=5.13114000V\n";
        let rails = parse(text);
        assert_eq!(rails.len(), 3);
        let (w, n) = total_watts(&rails);
        assert_eq!(n, 2);
        assert!((w - (2.0 * 0.75 + 0.5 * 1.8)).abs() < 1e-12);
    }
}
