//! INA219/INA226/INA3221-class power monitors through Linux hwmon: `power*_input` (µW) where
//! the driver computes power (ina2xx), else `curr<k>_input` (mA) × `in<k>_input` (mV, the bus
//! voltage of the same channel; ina3221), summed over the device's channels.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};

use super::{entries, read_text, read_u64, PowerSource, Reading, Roots};

/// hwmon driver names of TI INA current/power monitors.
const INA_DRIVERS: [&str; 9] = [
    "ina209", "ina219", "ina220", "ina226", "ina230", "ina231", "ina238", "ina260", "ina3221",
];

enum Channels {
    /// `power*_input` files, µW.
    Power(Vec<PathBuf>),
    /// (`curr<k>_input` mA, `in<k>_input` mV) pairs.
    CurrentVoltage(Vec<(PathBuf, PathBuf)>),
}

/// One INA device.
pub struct Hwmon {
    device: PathBuf,
    driver: String,
    labels: Vec<String>,
    channels: Channels,
    update_ms: Option<u64>,
}

fn name_of(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// The first INA device under `/sys/class/hwmon`.
pub fn open(roots: &Roots) -> Result<Box<dyn PowerSource>> {
    let class = roots.path("/sys/class/hwmon");
    for dev in entries(&class, "hwmon") {
        let driver = read_text(&dev.join("name")).unwrap_or_default();
        if !INA_DRIVERS.contains(&driver.as_str()) {
            continue;
        }
        let inputs = |prefix: &str| -> Vec<PathBuf> {
            entries(&dev, prefix)
                .into_iter()
                .filter(|p| name_of(p).ends_with("_input"))
                .collect()
        };
        let label = |input: &Path| {
            let l = input.with_file_name(name_of(input).replace("_input", "_label"));
            read_text(&l).unwrap_or_else(|_| name_of(input).trim_end_matches("_input").to_string())
        };
        let power = inputs("power");
        let (channels, labels) = if !power.is_empty() {
            let labels = power.iter().map(|p| label(p)).collect();
            (Channels::Power(power), labels)
        } else {
            // curr<k> pairs with in<k>: the bus voltage of channel k. On the INA3221 only
            // k = 1..3 are channels (in4..in7 are shunt voltages, curr4 their summed current),
            // and a channel can be disabled (in<k>_enable = 0).
            let pairs: Vec<(PathBuf, PathBuf)> = inputs("curr")
                .into_iter()
                .filter_map(|c| {
                    let k = name_of(&c)
                        .trim_start_matches("curr")
                        .trim_end_matches("_input");
                    let k: u32 = k.parse().ok()?;
                    if driver == "ina3221" && !(1..=3).contains(&k) {
                        return None;
                    }
                    let enabled = read_text(&dev.join(format!("in{k}_enable"))).ok();
                    if enabled.as_deref() == Some("0") {
                        return None;
                    }
                    let v = dev.join(format!("in{k}_input"));
                    v.exists().then_some((c, v))
                })
                .collect();
            let labels = pairs.iter().map(|(_, v)| label(v)).collect();
            (Channels::CurrentVoltage(pairs), labels)
        };
        let empty = match &channels {
            Channels::Power(v) => v.is_empty(),
            Channels::CurrentVoltage(v) => v.is_empty(),
        };
        if empty {
            continue;
        }
        let mut source = Hwmon {
            update_ms: read_u64(&dev.join("update_interval")).ok(),
            device: dev,
            driver,
            labels,
            channels,
        };
        source.read()?; // fail now, not mid-run, if a file is unreadable
        return Ok(Box::new(source));
    }
    bail!(
        "no INA power monitor under {} (looked for hwmon devices named {})",
        class.display(),
        INA_DRIVERS.join(", ")
    )
}

impl PowerSource for Hwmon {
    fn name(&self) -> &'static str {
        "hwmon"
    }

    fn detail(&self) -> String {
        let how = match self.channels {
            Channels::Power(_) => "power",
            Channels::CurrentVoltage(_) => "current x bus voltage",
        };
        format!(
            "{} at {} ({how} of {})",
            self.driver,
            self.device.display(),
            self.labels.join(" + ")
        )
    }

    fn resolution(&self) -> String {
        let update = self
            .update_ms
            .map_or("unknown update interval".to_string(), |ms| {
                format!("updates every {ms} ms")
            });
        let unit = match self.channels {
            Channels::Power(_) => "power in µW",
            Channels::CurrentVoltage(_) => "current in mA, voltage in mV",
        };
        format!(
            "{unit}, {update}; sampled every {} ms",
            self.interval().as_millis()
        )
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.update_ms.unwrap_or(10).clamp(2, 100))
    }

    fn read(&mut self) -> Result<Reading> {
        let micro_watts: f64 = match &self.channels {
            Channels::Power(files) => files
                .iter()
                .map(|f| read_u64(f).map(|v| v as f64))
                .sum::<Result<f64>>()?,
            Channels::CurrentVoltage(pairs) => pairs
                .iter()
                .map(|(c, v)| {
                    // Currents are signed in hwmon; mA × mV = µW.
                    let ma: f64 = read_text(c)?.parse()?;
                    let mv: f64 = read_text(v)?.parse()?;
                    Ok(ma * mv)
                })
                .sum::<Result<f64>>()?,
        };
        Ok(Reading::Power(micro_watts * 1e-6))
    }
}
