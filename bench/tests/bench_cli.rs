//! `edgeq-bench bench` and `compare` end to end: the plain "no power source" path, a power
//! monitor read from a fixture tree, an external meter's CSV log written while the benchmark
//! runs, the JSON/CSV/SVG outputs, and tract side by side.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn kws() -> PathBuf {
    root().join("../examples/data/mlperf-tiny/eqm/kws.eqm")
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

fn bench(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgeq-bench"));
    c.arg("bench")
        .arg(kws())
        .args(["--runs", "50", "--warmup", "5"])
        .args(args);
    c
}

fn run(mut c: Command) -> String {
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The number after `label` on the line that starts with it.
fn number_after(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("{text}"));
    line[label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn without_a_power_source_it_says_so_and_still_writes_every_output() {
    let tmp = tempfile::tempdir().unwrap();
    let (json, csv, svg) = (
        tmp.path().join("r.json"),
        tmp.path().join("r.csv"),
        tmp.path().join("r.svg"),
    );
    let mut c = bench(&["--vcgencmd", "/nonexistent/vcgencmd", "--sysfs-root"]);
    c.arg(fixtures().join("none"));
    for (flag, path) in [("--json", &json), ("--csv", &csv), ("--plot", &svg)] {
        c.arg(flag).arg(path);
    }
    let text = run(c);
    assert!(
        text.contains("energy           no power source on this machine"),
        "{text}"
    );
    assert!(!text.contains("mJ/inference"), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["energy"].is_null());
    assert_eq!(report["threads"], 1);
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv_text.starts_with("model,isa,threads,runs,min_us"),
        "{csv_text}"
    );
    assert!(
        csv_text.lines().nth(1).unwrap().contains(",none,"),
        "{csv_text}"
    );
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg") && svg_text.contains("latency of 50 inferences"));
}

#[test]
fn an_ina3221_monitor_gives_power_and_energy() {
    let mut c = bench(&[
        "--power",
        "hwmon",
        "--idle-secs",
        "0.3",
        "--power-secs",
        "0.5",
        "--sysfs-root",
    ]);
    c.arg(fixtures().join("hwmon-ina3221"));
    let text = run(c);
    // The fixture's readings do not change: the same power idle and running, 0 J added.
    assert!(text.contains("power source     hwmon: ina3221"), "{text}");
    assert_eq!(number_after(&text, "energy").abs(), 0.0, "{text}");
    assert!(
        (number_after(&text, "power") - 5.0447).abs() < 1e-3,
        "{text}"
    );
    // At least --power-secs of inferences were run.
    assert!(number_after(&text, "runs") > 50.0, "{text}");
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A stand-in for a USB meter's logger: while the benchmark runs, it appends a row every
/// 50 ms whose power is 1.5 W plus 2.5 W times the benchmark's CPU use. The energy edgeq-bench
/// then derives must be about 2.5 W x the inference time: the timestamps were aligned.
#[test]
fn an_external_meter_log_is_aligned_by_timestamps() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("meter.csv");
    std::fs::write(&log, "timestamp,voltage_V,current_mA\n").unwrap();
    let mut c = bench(&["--idle-secs", "1", "--power-secs", "2", "--power"]);
    c.arg(format!("csv:{}", log.display()));
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let (mut last_t, mut last_cpu) = (unix_now(), cpu_seconds(pid).unwrap_or(0.0));
    while let Some(cpu) = cpu_seconds(pid) {
        std::thread::sleep(Duration::from_millis(50));
        let (t, cpu_now) = (unix_now(), cpu_seconds(pid).unwrap_or(cpu));
        let share = ((cpu_now - last_cpu) / (t - last_t)).clamp(0.0, 1.0);
        let watts = 1.5 + 2.5 * share;
        writeln!(file, "{t:.3},5.0,{:.1}", watts / 5.0 * 1e3).unwrap();
        (last_t, last_cpu) = (t, cpu_now);
        if std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z")) {
            break; // exited, not yet reaped
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("power source     csv: external meter log"),
        "{text}"
    );
    let mj = number_after(&text, "energy");
    let mean_us: f64 = {
        let line = text.lines().find(|l| l.starts_with("latency us")).unwrap();
        line.split("mean ").nth(1).unwrap().trim().parse().unwrap()
    };
    let expected_mj = 2.5 * mean_us * 1e-3;
    assert!(
        mj > 0.4 * expected_mj && mj < 1.6 * expected_mj,
        "{mj} mJ/inference, expected about {expected_mj}: {text}"
    );
}

fn compare(model: &str, onnx: &str) -> String {
    let data = root().join("../examples/data/mlperf-tiny");
    let out = Command::new(env!("CARGO_BIN_EXE_edgeq-bench"))
        .arg("compare")
        .arg(data.join("eqm").join(model))
        .arg("--onnx")
        .arg(data.join("onnx").join(onnx))
        .args(["--runs", "10", "--warmup", "2", "--inputs", "5"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("tract / edgeq"), "{text}");
    text
}

#[test]
fn compare_finds_tract_bit_identical_on_the_autoencoder() {
    // No softmax in AD: tract's int8 arithmetic matches TFLite's, and so edgeq's.
    let text = compare("ad.eqm", "ad01_int8.onnx");
    assert!(
        text.contains(
            "agreement        5/5 inputs identical, 5/5 same top index, max |diff| 0.0000 (0 LSB)"
        ),
        "{text}"
    );
    assert!(!text.contains("the outputs differ"), "{text}");
}

#[test]
fn compare_reports_disagreement_instead_of_hiding_it() {
    // tract 0.23.9's quantized softmax is wrong on the QDQ KWS model: the report must say so.
    let text = compare("kws.eqm", "kws_ref_model.onnx");
    let line = text.lines().find(|l| l.starts_with("agreement")).unwrap();
    if !line.starts_with("agreement        5/5 inputs identical") {
        assert!(text.contains("the outputs differ"), "{text}");
    }
}
