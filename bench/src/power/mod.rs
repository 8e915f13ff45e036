//! Power and energy sources behind one trait, sampled beside the benchmark.
//!
//! A source either reads a cumulative energy counter (RAPL and its AMD equivalent) or an
//! instantaneous power (INA hwmon monitors, the Pi 5 PMIC). The [`sampler`] turns both into a
//! trace of power samples with wall-clock timestamps, and an external meter's CSV log is read
//! into the same form afterwards ([`csv_log`]), so one function computes the mean power over
//! the idle window and over the run window.
//!
//! Every sysfs path is read under a root directory (`/` by default) and `vcgencmd` is found by
//! a configurable path, so tests run on fixture trees that copy the real layouts.

pub mod csv_log;
pub mod hwmon;
pub mod pmic;
pub mod rapl;
pub mod sampler;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// One reading of a source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reading {
    /// Energy in joules since the source was opened (counter wrap-around already handled).
    Energy(f64),
    /// Instantaneous power in watts.
    Power(f64),
}

/// A live power or energy source.
pub trait PowerSource: Send {
    /// Short name: "rapl", "hwmon", "pi5-pmic".
    fn name(&self) -> &'static str;
    /// What exactly is measured (zones, devices, rails).
    fn detail(&self) -> String;
    /// Resolution and update rate, as the hardware or driver states them.
    fn resolution(&self) -> String;
    /// How often to sample it.
    fn interval(&self) -> Duration;
    /// Takes one reading.
    fn read(&mut self) -> Result<Reading>;
}

/// Where sysfs and `vcgencmd` are found (overridable for tests and containers).
#[derive(Clone, Debug)]
pub struct Roots {
    /// Prefix for `/sys/...` paths.
    pub sys: PathBuf,
    /// The `vcgencmd` program.
    pub vcgencmd: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            sys: PathBuf::from("/"),
            vcgencmd: PathBuf::from("vcgencmd"),
        }
    }
}

impl Roots {
    /// `path` (absolute, e.g. "/sys/class/hwmon") under the root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.sys.join(path.trim_start_matches('/'))
    }
}

/// What `--power` asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    /// The first source found: rapl, then hwmon, then pi5-pmic; none if nothing is found.
    Auto,
    /// Linux powercap energy counters (intel-rapl zones; AMD CPUs appear there too) or the
    /// `amd_energy` hwmon driver.
    Rapl,
    /// An INA219/INA226/INA3221-class power monitor through hwmon.
    Hwmon,
    /// The Raspberry Pi 5 PMIC through `vcgencmd pmic_read_adc`.
    Pi5Pmic,
    /// An external meter's CSV log, read after the run and aligned by timestamps.
    Csv(PathBuf),
    /// No power measurement.
    None,
}

impl std::str::FromStr for Selection {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "auto" => Selection::Auto,
            "rapl" => Selection::Rapl,
            "hwmon" => Selection::Hwmon,
            "pi5-pmic" => Selection::Pi5Pmic,
            "none" => Selection::None,
            _ => match s.strip_prefix("csv:") {
                Some(path) if !path.is_empty() => Selection::Csv(PathBuf::from(path)),
                _ => {
                    return Err(format!(
                        "unknown power source '{s}' (auto, rapl, hwmon, pi5-pmic, csv:FILE, none)"
                    ))
                }
            },
        })
    }
}

/// Opens the live source `sel` names. `Ok(None)` for `none`, for `csv:` (not live) and for
/// `auto` when nothing is found; an explicit choice that is not there is an error saying why.
pub fn open(sel: &Selection, roots: &Roots) -> Result<Option<Box<dyn PowerSource>>> {
    let explicit = |r: Result<Box<dyn PowerSource>>, what: &str| {
        r.map(Some).with_context(|| format!("--power {what}"))
    };
    match sel {
        Selection::None | Selection::Csv(_) => Ok(None),
        Selection::Rapl => explicit(rapl::open(roots), "rapl"),
        Selection::Hwmon => explicit(hwmon::open(roots), "hwmon"),
        Selection::Pi5Pmic => explicit(pmic::open(roots), "pi5-pmic"),
        Selection::Auto => {
            // Each failure here only means "not this one".
            if let Ok(s) = rapl::open(roots) {
                return Ok(Some(s));
            }
            if let Ok(s) = hwmon::open(roots) {
                return Ok(Some(s));
            }
            Ok(pmic::open(roots).ok())
        }
    }
}

/// A power sample: `watts` at wall-clock time `t` (Unix seconds), standing for `weight`
/// seconds (the time since the previous sample), so means are time-weighted.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Unix time in seconds.
    pub t: f64,
    /// Power in watts.
    pub watts: f64,
    /// Seconds this sample stands for.
    pub weight: f64,
}

/// Time-weighted mean power of the samples inside `[from, to]`, and how many there were.
pub fn mean_watts(samples: &[Sample], from: f64, to: f64) -> Option<(f64, usize)> {
    let inside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t >= from && s.t <= to)
        .collect();
    let total: f64 = inside.iter().map(|s| s.weight).sum();
    if inside.is_empty() || total <= 0.0 {
        return None;
    }
    let mean = inside.iter().map(|s| s.watts * s.weight).sum::<f64>() / total;
    Some((mean, inside.len()))
}

/// Energy figures of one benchmark run.
#[derive(Clone, Debug, Serialize)]
pub struct EnergyReport {
    /// Source name ("rapl", "csv", ...).
    pub source: String,
    /// What it measured.
    pub detail: String,
    /// Its resolution.
    pub resolution: String,
    /// Mean power before the run, at rest.
    pub idle_watts: f64,
    /// Mean power during the run.
    pub run_watts: f64,
    /// (run − idle) × run time / inferences: the energy the inferences added.
    pub joules_per_inference: f64,
    /// run × run time / inferences: including the idle floor.
    pub total_joules_per_inference: f64,
    /// Samples inside the idle and run windows.
    pub idle_samples: usize,
    /// Samples inside the run window.
    pub run_samples: usize,
}

/// Windows of one run (Unix seconds) and the number of inferences in the second.
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    /// Idle window start.
    pub idle_from: f64,
    /// Idle window end.
    pub idle_to: f64,
    /// Run window start.
    pub run_from: f64,
    /// Run window end.
    pub run_to: f64,
    /// Inferences in the run window.
    pub inferences: usize,
}

/// Energy per inference from a power trace; an error when a window holds too few samples
/// for a mean (the message says how to get more).
pub fn energy(
    samples: &[Sample],
    w: &Windows,
    source: &str,
    detail: String,
    resolution: String,
) -> Result<EnergyReport> {
    let need = |what: &str, from: f64, to: f64| -> Result<(f64, usize)> {
        match mean_watts(samples, from, to) {
            Some((m, n)) if n >= 2 => Ok((m, n)),
            found => bail!(
                "{source}: {} power sample(s) in the {:.2} s {what} window; need at least 2 \
                 (raise --power-secs / --idle-secs, or check the source's timestamps)",
                found.map_or(0, |f| f.1),
                to - from
            ),
        }
    };
    let (idle_watts, idle_samples) = need("idle", w.idle_from, w.idle_to)?;
    let (run_watts, run_samples) = need("run", w.run_from, w.run_to)?;
    let seconds = w.run_to - w.run_from;
    let n = w.inferences.max(1) as f64;
    Ok(EnergyReport {
        source: source.to_string(),
        detail,
        resolution,
        idle_watts,
        run_watts,
        joules_per_inference: (run_watts - idle_watts) * seconds / n,
        total_joules_per_inference: run_watts * seconds / n,
        idle_samples,
        run_samples,
    })
}

/// Reads a sysfs attribute as trimmed text.
pub fn read_text(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            anyhow::anyhow!(
                "{}: permission denied (energy counters are root-only on recent kernels: run \
                 with sudo, or `sudo chmod a+r` the file)",
                path.display()
            )
        } else {
            anyhow::anyhow!("{}: {e}", path.display())
        }
    })?;
    Ok(text.trim().to_string())
}

/// Reads a sysfs attribute holding one integer.
pub fn read_u64(path: &Path) -> Result<u64> {
    let text = read_text(path)?;
    text.parse()
        .with_context(|| format!("{}: not an integer: {text:?}", path.display()))
}

/// Sorted entries of `dir` whose names start with `prefix`.
pub fn entries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort_by_key(|p| natural_key(p));
    v
}

/// Orders hwmon2 before hwmon10.
fn natural_key(p: &Path) -> (String, u64) {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let number = digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    (
        name.trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string(),
        number,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_parses_every_form() {
        assert_eq!("auto".parse(), Ok(Selection::Auto));
        assert_eq!("pi5-pmic".parse(), Ok(Selection::Pi5Pmic));
        assert_eq!(
            "csv:meter.csv".parse(),
            Ok(Selection::Csv(PathBuf::from("meter.csv")))
        );
        assert!("csv:".parse::<Selection>().is_err());
        assert!("watts".parse::<Selection>().is_err());
    }

    #[test]
    fn energy_is_the_added_power_times_time_per_inference() {
        // 2 W idle for 1 s, then 5 W for 2 s over 1000 inferences: 3 W × 2 s / 1000 = 6 mJ.
        let mut samples = Vec::new();
        for i in 0..=10 {
            samples.push(Sample {
                t: 100.0 + i as f64 * 0.1,
                watts: 2.0,
                weight: 0.1,
            });
        }
        for i in 0..=20 {
            samples.push(Sample {
                t: 101.5 + i as f64 * 0.1,
                watts: 5.0,
                weight: 0.1,
            });
        }
        let w = Windows {
            idle_from: 100.0,
            idle_to: 101.0,
            run_from: 101.5,
            run_to: 103.5,
            inferences: 1000,
        };
        let e = energy(&samples, &w, "test", String::new(), String::new()).unwrap();
        assert!((e.idle_watts - 2.0).abs() < 1e-12 && (e.run_watts - 5.0).abs() < 1e-12);
        assert!(
            (e.joules_per_inference - 0.006).abs() < 1e-12,
            "{}",
            e.joules_per_inference
        );
        assert!((e.total_joules_per_inference - 0.010).abs() < 1e-12);
        // A window without samples is an error, not a number.
        let empty = Windows {
            run_from: 200.0,
            run_to: 201.0,
            ..w
        };
        assert!(energy(&samples, &empty, "test", String::new(), String::new()).is_err());
    }

    #[test]
    fn means_are_time_weighted() {
        let s = [
            Sample {
                t: 1.0,
                watts: 10.0,
                weight: 0.9,
            },
            Sample {
                t: 1.1,
                watts: 0.0,
                weight: 0.1,
            },
        ];
        assert_eq!(mean_watts(&s, 0.0, 2.0), Some((9.0, 2)));
    }
}

/// The sources on fixture trees that copy real sysfs layouts (tests/fixtures).
#[cfg(test)]
mod fixture_tests {
    use super::*;

    fn fixture(name: &str) -> Roots {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        Roots {
            sys: dir.join(name),
            vcgencmd: dir.join("vcgencmd"),
        }
    }

    fn watts(source: &mut dyn PowerSource) -> f64 {
        match source.read().unwrap() {
            Reading::Power(w) => w,
            Reading::Energy(_) => panic!("{} is a power source", source.name()),
        }
    }

    #[test]
    fn ina226_reports_the_drivers_power() {
        let mut s = hwmon::open(&fixture("hwmon-ina226")).unwrap();
        assert_eq!(s.name(), "hwmon");
        assert!((watts(s.as_mut()) - 2.1025).abs() < 1e-9);
        assert!(s.detail().starts_with("ina226 at"), "{}", s.detail());
        assert!(s.resolution().contains("every 2 ms"), "{}", s.resolution());
    }

    #[test]
    fn ina3221_multiplies_current_by_bus_voltage_over_its_three_channels() {
        let mut s = hwmon::open(&fixture("hwmon-ina3221")).unwrap();
        let expected = (812.0 * 5080.0 + 245.0 * 3312.0 + 60.0 * 1805.0) * 1e-6;
        assert!((watts(s.as_mut()) - expected).abs() < 1e-9);
        let d = s.detail();
        assert!(d.contains("VDD_IN + VDD_CPU_GPU_CV + VDD_SOC"), "{d}");
    }

    #[test]
    fn pi5_pmic_sums_the_rails_vcgencmd_prints() {
        let mut s = pmic::open(&fixture("none")).unwrap();
        let w = watts(s.as_mut());
        // 12 rails with current and voltage; EXT5V and BATT have only a voltage.
        assert!(s.detail().contains("12 output rails"), "{}", s.detail());
        assert!((w - 1.572_817_887_684_43).abs() < 1e-9, "{w}");
    }

    /// Copies a fixture tree to a temporary directory the test can change.
    fn writable(name: &str) -> (tempfile::TempDir, Roots) {
        let from = fixture(name);
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&from.sys, dir.path());
        let roots = Roots {
            sys: dir.path().to_path_buf(),
            vcgencmd: from.vcgencmd,
        };
        (dir, roots)
    }

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_tree(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn rapl_reads_the_package_zone_across_a_counter_wrap() {
        let (_dir, roots) = writable("rapl");
        let mut s = rapl::open(&roots).unwrap();
        assert_eq!(s.detail(), "powercap package-0");
        assert_eq!(s.read().unwrap(), Reading::Energy(0.0));
        let counter = roots.path("/sys/class/powercap/intel-rapl:0/energy_uj");
        std::fs::write(&counter, "262143000000\n").unwrap(); // +1,000,000 µJ
        assert_eq!(s.read().unwrap(), Reading::Energy(1.0));
        std::fs::write(&counter, "671150\n").unwrap(); // wraps at 262,143,328,850
        match s.read().unwrap() {
            Reading::Energy(j) => assert!((j - 2.0).abs() < 1e-9, "{j}"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn amd_energy_uses_the_socket_counter() {
        let (_dir, roots) = writable("amd-energy");
        let mut s = rapl::open(&roots).unwrap();
        assert_eq!(s.detail(), "amd_energy Esocket0");
        let counter = roots.path("/sys/class/hwmon/hwmon1/energy17_input");
        std::fs::write(&counter, "91842500000\n").unwrap();
        assert_eq!(s.read().unwrap(), Reading::Energy(2.5));
    }

    #[test]
    fn auto_finds_the_first_source_and_nothing_on_an_empty_machine() {
        let found = |name: &str| {
            open(&Selection::Auto, &fixture(name))
                .unwrap()
                .map(|s| s.name())
        };
        assert_eq!(found("rapl"), Some("rapl"));
        assert_eq!(found("hwmon-ina3221"), Some("hwmon"));
        let no_vcgencmd = Roots {
            vcgencmd: PathBuf::from("/nonexistent/vcgencmd"),
            ..fixture("none")
        };
        assert!(open(&Selection::Auto, &no_vcgencmd).unwrap().is_none());
        // An explicit choice that is not there is an error that says so.
        let e = open(&Selection::Rapl, &no_vcgencmd).err().unwrap();
        assert!(
            format!("{e:#}").contains("no RAPL energy counters"),
            "{e:#}"
        );
    }

    #[test]
    fn cpu_context_reads_clock_temperature_and_pi_flags() {
        let s = crate::context::read(&fixture("cpu-context"), Some(0));
        assert_eq!(s.mhz, Some(2400.0));
        assert_eq!(s.governor.as_deref(), Some("ondemand"));
        assert_eq!(s.celsius, Some(61.25));
        assert_eq!(s.sensor.as_deref(), Some("cpu-thermal"));
        assert_eq!(s.pi_throttled.as_deref(), Some("0x0"));
    }
}
