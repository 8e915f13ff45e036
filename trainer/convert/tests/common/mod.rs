//! Shared test helpers: paths to the bundled MLPerf Tiny data and the two command-line tools.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `examples/data/mlperf-tiny` in this repository.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/mlperf-tiny")
}

/// The bundled models and their golden folders: `(golden dir, model file)`.
pub const MODELS: &[(&str, &str)] = &[
    ("ic", "pretrainedResnet_quant.tflite"),
    ("kws", "kws_ref_model.tflite"),
    ("vww", "vww_96_int8.tflite"),
    ("ad", "ad01_int8.tflite"),
    ("ad_float_io", "model_ToyCar_quant_fullint_micro.tflite"),
];

/// The `edgeq-convert` binary of this package.
pub fn edgeq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgeq-convert"))
}

/// The `edgeq-bench` binary, built next to `edgeq-convert` with the same profile (once per
/// test process: a binary left from an older build would test old code).
pub fn edgeq_bench() -> Command {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let edgeq = Path::new(env!("CARGO_BIN_EXE_edgeq-convert"));
    let dir = edgeq.parent().expect("binary directory");
    BUILT.call_once(|| {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "edgeq-bench", "--profile", profile])
            .status()
            .expect("running cargo to build edgeq-bench");
        assert!(status.success(), "building edgeq-bench failed");
    });
    Command::new(dir.join(format!("edgeq-bench{}", std::env::consts::EXE_SUFFIX)))
}

/// Runs a command; panics with its stderr if it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawning command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Imports a bundled model with the library (no CLI), returning `.eqm` bytes.
pub fn import_bundled(model: &str) -> Vec<u8> {
    let path = data_dir().join("models").join(model);
    edgeq_convert::import::import_file(&path).expect("import")
}

/// The raw element bytes of a .npy file, with its shape and dtype description.
pub fn npy(path: &std::path::Path) -> (Vec<u64>, String, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = npyz::NpyFile::new(&bytes[..]).expect("npy header");
    let shape = file.shape().to_vec();
    let descr = file.dtype().descr();
    let data = match descr.as_str() {
        "'|i1'" => file
            .into_vec::<i8>()
            .unwrap()
            .iter()
            .map(|&v| v as u8)
            .collect(),
        "'<f4'" => file
            .into_vec::<f32>()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .collect(),
        "'<i2'" => file
            .into_vec::<i16>()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        "'<i4'" => file
            .into_vec::<i32>()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        other => panic!("unexpected dtype {other}"),
    };
    (shape, descr, data)
}
