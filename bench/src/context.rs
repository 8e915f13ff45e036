//! What else changes a benchmark's result: the CPU's clock and temperature before and after
//! the run (a throttling core is slower at the end), the core it ran on, and on a Raspberry
//! Pi the firmware's throttling flags. Everything is read where Linux exposes it; what is not
//! readable is reported as unknown.

use std::process::Command;

use serde::Serialize;

use crate::power::{entries, read_text, read_u64, Roots};

/// One reading of the CPU's state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuState {
    /// The core read.
    pub cpu: Option<usize>,
    /// Its current clock (cpufreq), MHz.
    pub mhz: Option<f64>,
    /// Its highest clock, MHz.
    pub max_mhz: Option<f64>,
    /// The cpufreq governor.
    pub governor: Option<String>,
    /// Temperature, °C, and the sensor it came from.
    pub celsius: Option<f64>,
    /// Thermal zone or hwmon sensor name.
    pub sensor: Option<String>,
    /// `vcgencmd get_throttled` on a Raspberry Pi ("0x0" when all is well).
    pub pi_throttled: Option<String>,
}

/// The core this thread last ran on (field 39 of /proc/thread-self/stat).
pub fn current_cpu() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    // Field 3 is the first after the command name; "processor" is field 39.
    after_comm.split_whitespace().nth(39 - 3)?.parse().ok()
}

/// Reads the state of `cpu`.
pub fn read(roots: &Roots, cpu: Option<usize>) -> CpuState {
    let mut s = CpuState {
        cpu,
        ..CpuState::default()
    };
    if let Some(c) = cpu {
        let dir = roots.path(&format!("/sys/devices/system/cpu/cpu{c}/cpufreq"));
        s.mhz = read_u64(&dir.join("scaling_cur_freq"))
            .ok()
            .map(|khz| khz as f64 / 1e3);
        s.max_mhz = read_u64(&dir.join("cpuinfo_max_freq"))
            .ok()
            .map(|khz| khz as f64 / 1e3);
        s.governor = read_text(&dir.join("scaling_governor")).ok();
    }
    (s.celsius, s.sensor) = temperature(roots).unzip();
    s.pi_throttled = pi_throttled(roots);
    s
}

/// The CPU temperature: the thermal zone that is the CPU's, else the first one.
fn temperature(roots: &Roots) -> Option<(f64, String)> {
    let zones: Vec<(String, f64)> = entries(&roots.path("/sys/class/thermal"), "thermal_zone")
        .into_iter()
        .filter_map(|z| {
            let kind = read_text(&z.join("type")).ok()?;
            let milli: f64 = read_text(&z.join("temp")).ok()?.parse().ok()?;
            Some((kind, milli / 1e3))
        })
        .collect();
    const CPU_ZONES: [&str; 5] = [
        "x86_pkg_temp",
        "cpu-thermal",
        "cpu_thermal",
        "soc_thermal",
        "cpu",
    ];
    zones
        .iter()
        .find(|(k, _)| CPU_ZONES.iter().any(|c| k.starts_with(c)))
        .or(zones.first())
        .map(|(k, c)| (*c, k.clone()))
}

fn pi_throttled(roots: &Roots) -> Option<String> {
    let out = Command::new(&roots.vcgencmd)
        .arg("get_throttled")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.trim().strip_prefix("throttled=")?.to_string())
}

/// What the firmware's throttling bits say (Raspberry Pi documentation of get_throttled).
fn decode_throttled(hex: &str) -> Vec<&'static str> {
    let bits = u32::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or(0);
    [
        (0, "under-voltage now"),
        (1, "ARM frequency capped now"),
        (2, "throttled now"),
        (3, "soft temperature limit now"),
        (16, "under-voltage has occurred"),
        (17, "frequency capping has occurred"),
        (18, "throttling has occurred"),
        (19, "soft temperature limit has occurred"),
    ]
    .into_iter()
    .filter(|(b, _)| bits & (1 << b) != 0)
    .map(|(_, m)| m)
    .collect()
}

/// Warnings about a run whose conditions were not steady.
pub fn warnings(before: &CpuState, after: &CpuState) -> Vec<String> {
    let mut w = Vec::new();
    if let (Some(b), Some(a)) = (before.mhz, after.mhz) {
        if a < 0.9 * b {
            w.push(format!(
                "the CPU clock fell from {b:.0} to {a:.0} MHz during the run (throttling or power \
                 saving): the results are not steady"
            ));
        }
    }
    if let (Some(a), Some(max)) = (after.mhz, after.max_mhz) {
        if a < 0.75 * max && after.governor.as_deref() != Some("performance") {
            w.push(format!(
                "the CPU ran at {a:.0} of {max:.0} MHz with the '{}' governor; for steady numbers \
                 set the 'performance' governor",
                after.governor.as_deref().unwrap_or("unknown")
            ));
        }
    }
    if let Some(c) = after.celsius {
        if c >= 80.0 {
            w.push(format!("the CPU reached {c:.0} °C: it may be throttling"));
        }
    }
    if let Some(t) = &after.pi_throttled {
        let flags = decode_throttled(t);
        if !flags.is_empty() {
            w.push(format!(
                "Raspberry Pi firmware reports {t}: {}",
                flags.join(", ")
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pi_throttling_flags() {
        assert!(decode_throttled("0x0").is_empty());
        assert_eq!(
            decode_throttled("0x50005"),
            [
                "under-voltage now",
                "throttled now",
                "under-voltage has occurred",
                "throttling has occurred"
            ]
        );
    }

    #[test]
    fn warns_on_a_falling_clock_and_heat() {
        let before = CpuState {
            mhz: Some(2400.0),
            ..Default::default()
        };
        let after = CpuState {
            mhz: Some(1500.0),
            celsius: Some(85.0),
            ..Default::default()
        };
        let w = warnings(&before, &after);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(warnings(&before, &before).is_empty());
    }
}
