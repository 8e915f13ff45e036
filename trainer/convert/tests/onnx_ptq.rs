//! ONNX models from other tools: ONNX Runtime's quantized models (QDQ with uint8
//! activations, QOperator with QLinearConv/QLinearMatMul and its com.microsoft operators)
//! agree with ONNX Runtime, and post-training quantization of float models (batch norm
//! folded, calibrated on the bundled digits) tracks the float model. Fixtures: `tests/data/onnx` (see `make_fixtures.py`).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use edgeq_runtime::{DType, Interpreter, Model, ModelBytes};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/onnx")
        .join(name)
}

/// ONNX Runtime's float outputs `[32, 10]` for the first 32 bundled test digits.
fn expected(name: &str) -> Vec<f32> {
    let bytes = std::fs::read(fixture(&format!("expected_{name}.npy"))).unwrap();
    npyz::NpyFile::new(&bytes[..])
        .unwrap()
        .into_vec::<f32>()
        .unwrap()
}

/// The model's outputs for the first 32 test digits, dequantized when the output is int8,
/// and the output's scale (0 for a float output).
fn outputs(eqm: &[u8]) -> (Vec<f32>, f32) {
    let data = edgeq_convert::data::load_splits(&edgeq_convert::data::bundled_mnist_dir()).unwrap();
    let bytes = ModelBytes::copy_from(eqm);
    let model = Model::from_bytes(bytes.bytes()).unwrap();
    let (input, output) = (model.input(0).unwrap(), model.output(0).unwrap());
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena).unwrap();
    let mut out = vec![];
    for i in 0..32 {
        let image = data.test.image(i);
        let buf = interp.input_bytes_mut(0).unwrap();
        match input.dtype {
            DType::F32 => buf
                .chunks_exact_mut(4)
                .zip(image)
                .for_each(|(b, v)| b.copy_from_slice(&v.to_le_bytes())),
            _ => edgeq_convert::evaluate::quantize_image(
                image,
                data.test.shape,
                (input.scale, input.zero_point),
                buf,
            ),
        }
        interp.invoke().unwrap();
        let raw = interp.output_bytes(0).unwrap();
        match output.dtype {
            DType::F32 => out.extend(
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
            _ => out.extend(
                raw.iter()
                    .map(|&q| (i32::from(q as i8) - output.zero_point) as f32 * output.scale),
            ),
        }
    }
    (out, output.scale)
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// (max |a − b|, rows with the same top class).
fn compare(a: &[f32], b: &[f32]) -> (f32, usize) {
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let same = a
        .chunks(10)
        .zip(b.chunks(10))
        .filter(|(x, y)| argmax(x) == argmax(y))
        .count();
    (max, same)
}

/// The scale of the model's last DequantizeLinear: one step of its float output.
fn output_step(path: &Path) -> f32 {
    let g = edgeq_convert::import::onnx::load(path).unwrap();
    let dq = g
        .nodes
        .iter()
        .rev()
        .find(|n| n.op == "DequantizeLinear")
        .expect("a DequantizeLinear at the output");
    g.const_f32(dq.input(1).unwrap()).unwrap()[0]
}

#[test]
fn onnx_runtime_quantized_models_agree_with_onnx_runtime() {
    for name in ["cnn_ort_qdq_u8", "cnn_ort_qop_s8", "mlp_qop"] {
        let path = fixture(&format!("{name}.onnx"));
        let eqm =
            edgeq_convert::import::import_file(&path).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let (got, _) = outputs(&eqm);
        let (max, same) = compare(&got, &expected(name));
        let step = output_step(&path);
        eprintln!(
            "{name}: max |edgeq - onnxruntime| {max} (output step {step}), same class {same}/32"
        );
        // ONNX Runtime requantizes in float, edgeq in fixed point as TFLite does, so single
        // outputs may differ by one step.
        assert!(
            max <= step * 1.001,
            "{name}: outputs differ by {max} (> 1 step {step})"
        );
        assert_eq!(same, 32, "{name}: top classes differ");
    }
}

/// Runs `edgeq import` with PTQ options, returning the model and the JSON report.
fn ptq(model: &Path, bits: &str, method: &str, dir: &Path) -> (Vec<u8>, serde_json::Value) {
    let (eqm, json) = (
        dir.join(format!("{bits}-{method}.eqm")),
        dir.join(format!("{bits}-{method}.json")),
    );
    let text = run(edgeq()
        .arg("import")
        .arg(model)
        .args([
            "--calibrate",
            "bundled",
            "--bits",
            bits,
            "--calibration",
            method,
        ])
        .args(["--calibration-images", "256", "-o"])
        .arg(&eqm)
        .arg("--json")
        .arg(&json));
    assert!(text.contains("drop"), "{text}");
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (std::fs::read(&eqm).unwrap(), report)
}

#[test]
fn ptq_folds_batch_norm_and_tracks_the_float_model() {
    let tmp = tempfile::tempdir().unwrap();
    let want = expected("bn_net");
    let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (bits, method) in [("w8a8", "minmax"), ("w8a8", "mse"), ("w4a8", "percentile")] {
        let (eqm, report) = ptq(&fixture("bn_net.onnx"), bits, method, tmp.path());
        assert_eq!(report["calibration"]["folded_batch_norms"], 1, "{report}");
        let (got, scale) = outputs(&eqm);
        let (max, same) = compare(&got, &want);
        eprintln!("bn_net {bits} {method}: max error {max} (output scale {scale}, |max| {range}), same class {same}/32");
        let bound = if bits == "w8a8" { 0.025 } else { 0.08 };
        assert!(
            max <= bound * range,
            "{bits} {method}: error {max} vs range {range}"
        );
    }
}

#[test]
fn ptq_of_a_trained_network_keeps_its_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("cnn_float.onnx");
    let (w8, r8) = ptq(&model, "w8a8", "percentile", tmp.path());
    let (w4, r4) = ptq(&model, "w4a8", "percentile", tmp.path());
    let acc = |r: &serde_json::Value, k: &str| r["accuracy"][k].as_f64().unwrap();
    eprintln!(
        "float {:.4}, w8a8 {:.4}, w4a8 {:.4}",
        acc(&r8, "float"),
        acc(&r8, "quantized"),
        acc(&r4, "quantized")
    );
    assert!(acc(&r8, "float") > 0.85, "{r8}");
    assert!(acc(&r8, "float") - acc(&r8, "quantized") < 0.01, "{r8}");
    assert!(acc(&r4, "float") - acc(&r4, "quantized") < 0.05, "{r4}");
    // The first and last layers stay 8-bit; the inner two take 4-bit weights.
    let bits: Vec<u64> = r4["calibration"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l[1].as_u64().unwrap())
        .collect();
    assert_eq!(bits, [8, 4, 4, 8], "{r4}");
    assert!(w4.len() < w8.len() * 7 / 10, "{} vs {}", w4.len(), w8.len());
}

/// Runs `edgeq import MODEL ARGS -o OUT`, which must fail without writing OUT; its stderr.
fn failed_import(model: &str, args: &[&str], out: &Path) -> String {
    let o = edgeq()
        .arg("import")
        .arg(fixture(model))
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{model} {args:?} succeeded");
    assert!(!out.exists(), "no model written on error");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn import_errors_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let err = failed_import("cnn_float.onnx", &[], &tmp.path().join("x.eqm"));
    assert!(err.contains("--calibrate"), "{err}");
    let err = failed_import(
        "cnn_ort_qdq_u8.onnx",
        &["--calibrate", "bundled"],
        &tmp.path().join("y.eqm"),
    );
    assert!(err.contains("already quantized"), "{err}");
}
