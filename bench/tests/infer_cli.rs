//! `edgeq-bench infer` from the command line: classification output and clear errors.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/mlperf-tiny")
}

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgeq-bench"))
}

/// Imports the bundled KWS model into `dir`.
fn kws_model(dir: &Path) -> PathBuf {
    let bytes =
        edgeq_convert::import::import_file(&data().join("models/kws_ref_model.tflite")).unwrap();
    let path = dir.join("kws.eqm");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn classifies_the_real_keyword_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bench()
        .arg("infer")
        .arg(kws_model(tmp.path()))
        .arg("--input")
        .arg(data().join("kws_sample0_int8.npy"))
        .args([
            "--labels",
            "down,go,left,no,off,on,right,stop,up,yes,silence,unknown",
            "--top",
            "2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("class: on"), "{text}");
    // Dequantized softmax of the 'on' score: (127 + 128) / 256.
    assert!(text.contains("on  0.9961"), "{text}");
}

#[test]
fn wrong_input_dtype_and_size_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let model = kws_model(tmp.path());
    // A float32 array where the model takes int8.
    let float_input = data().join("golden/ad_float_io/input_0.npy");
    let out = bench()
        .arg("infer")
        .arg(&model)
        .arg("-i")
        .arg(&float_input)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a float32 array, and input 0 of the model takes int8"),
        "{err}"
    );
    // An int8 array of the wrong size.
    let wrong_size = data().join("golden/ad/input_0.npy");
    let out = bench()
        .arg("infer")
        .arg(&model)
        .arg("-i")
        .arg(&wrong_size)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("640 elements") && err.contains("490"), "{err}");
}

#[test]
fn a_corrupt_model_is_rejected_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let model = kws_model(tmp.path());
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[8] = 9; // format version 9
    std::fs::write(&model, bytes).unwrap();
    let out = bench()
        .arg("infer")
        .arg(&model)
        .arg("-i")
        .arg(data().join("kws_sample0_int8.npy"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported .eqm format version 9"), "{err}");
}
