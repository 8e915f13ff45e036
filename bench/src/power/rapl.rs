//! CPU package energy counters: Linux powercap (`/sys/class/powercap/intel-rapl:N`, which
//! also carries AMD's RAPL on Zen kernels ≥ 5.8) or, failing that, the `amd_energy` hwmon
//! driver. Counters are in microjoules and wrap at `max_energy_range_uj`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use super::{entries, read_text, read_u64, PowerSource, Reading, Roots};

/// One wrapping microjoule counter, unwrapped into a running total.
#[derive(Debug)]
pub struct Counter {
    label: String,
    path: PathBuf,
    /// The value after which the counter restarts from 0 (u64::MAX when it never wraps).
    range: u64,
    last: u64,
    total_uj: f64,
}

impl Counter {
    fn open(label: String, path: PathBuf, range: u64) -> Result<Self> {
        let last = read_u64(&path)?;
        Ok(Counter {
            label,
            path,
            range,
            last,
            total_uj: 0.0,
        })
    }

    /// Adds the energy since the last read; a smaller value than last time is a wrap.
    /// (Sampled every 50 ms, far inside the wrap period of any package counter.)
    pub fn advance(&mut self, now: u64) {
        let delta = if now >= self.last {
            now - self.last
        } else {
            self.range.saturating_sub(self.last).saturating_add(now)
        };
        self.total_uj += delta as f64;
        self.last = now;
    }

    fn update(&mut self) -> Result<()> {
        let now = read_u64(&self.path)?;
        self.advance(now);
        Ok(())
    }
}

/// Package energy, summed over sockets.
pub struct Rapl {
    kind: &'static str,
    counters: Vec<Counter>,
}

/// Finds the package zones (or the `amd_energy` socket counters).
pub fn open(roots: &Roots) -> Result<Box<dyn PowerSource>> {
    let powercap = roots.path("/sys/class/powercap");
    // Top-level zones are "intel-rapl:N"; "intel-rapl:N:M" are their sub-zones (core, dram),
    // which the package already includes.
    let zones: Vec<PathBuf> = entries(&powercap, "intel-rapl:")
        .into_iter()
        .filter(|p| p.to_string_lossy().matches(':').count() == 1)
        .collect();
    let mut counters = Vec::new();
    let mut first_error = None;
    for prefer in ["package", "psys"] {
        for z in &zones {
            let name = read_text(&z.join("name")).unwrap_or_default();
            if !name.starts_with(prefer) {
                continue;
            }
            let opened = read_u64(&z.join("max_energy_range_uj"))
                .and_then(|range| Counter::open(name.clone(), z.join("energy_uj"), range));
            match opened {
                Ok(c) => counters.push(c),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if !counters.is_empty() {
            return Ok(Box::new(Rapl {
                kind: "powercap",
                counters,
            }));
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    // The amd_energy driver (Zen 2/3 servers on older kernels): 64-bit accumulated counters.
    for dev in entries(&roots.path("/sys/class/hwmon"), "hwmon") {
        if read_text(&dev.join("name")).ok().as_deref() != Some("amd_energy") {
            continue;
        }
        for input in entries(&dev, "energy").into_iter().filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_input"))
        }) {
            let label_path = PathBuf::from(input.to_string_lossy().replace("_input", "_label"));
            let label = read_text(&label_path).unwrap_or_default();
            if label.starts_with("Esocket") {
                counters.push(Counter::open(label, input, u64::MAX)?);
            }
        }
        if !counters.is_empty() {
            return Ok(Box::new(Rapl {
                kind: "amd_energy",
                counters,
            }));
        }
    }
    bail!(
        "no RAPL energy counters: neither {} holds intel-rapl package zones nor is there an \
         amd_energy hwmon device (virtual machines and most Arm boards have neither)",
        powercap.display()
    )
}

impl PowerSource for Rapl {
    fn name(&self) -> &'static str {
        "rapl"
    }

    fn detail(&self) -> String {
        let zones: Vec<&str> = self.counters.iter().map(|c| c.label.as_str()).collect();
        format!("{} {}", self.kind, zones.join(" + "))
    }

    fn resolution(&self) -> String {
        "energy counter in µJ (hardware updates about every 1 ms), sampled every 50 ms".into()
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(50)
    }

    fn read(&mut self) -> Result<Reading> {
        let mut joules = 0.0;
        for c in &mut self.counters {
            c.update()?;
            joules += c.total_uj * 1e-6;
        }
        Ok(Reading::Energy(joules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_around_adds_the_distance_to_the_range_end() {
        let mut c = Counter {
            label: String::new(),
            path: PathBuf::new(),
            range: 262_143_328_850,
            last: 262_143_000_000,
            total_uj: 0.0,
        };
        c.advance(262_143_300_000); // +300,000
        c.advance(1_000); // wraps: +28,850 to the end, +1,000 after
        assert_eq!(c.total_uj, 300_000.0 + 28_850.0 + 1_000.0);
    }
}
