//! The MLPerf Tiny models converted to ONNX (QDQ) by tf2onnx import to `.eqm` files that
//! compute exactly what the TFLite imports compute: on every golden pair (TFLite's reference
//! kernels' outputs) and on random inputs.

mod common;

use common::*;
use edgeq_runtime::{Interpreter, Model, ModelBytes};

/// `(golden dir, file stem)`: `models/STEM.tflite` and `onnx/STEM.onnx`.
const PAIRS: &[(&str, &str)] = &[
    ("ic", "pretrainedResnet_quant"),
    ("kws", "kws_ref_model"),
    ("vww", "vww_96_int8"),
    ("ad", "ad01_int8"),
    ("ad_float_io", "model_ToyCar_quant_fullint_micro"),
];

fn import(path: &std::path::Path) -> Vec<u8> {
    edgeq_convert::import::import_file(path)
        .unwrap_or_else(|e| panic!("importing {}: {e:#}", path.display()))
}

/// Runs `eqm` on raw input bytes, returning the raw output bytes.
fn infer(eqm: &[u8], input: &[u8]) -> Vec<u8> {
    let bytes = ModelBytes::copy_from(eqm);
    let model = Model::from_bytes(bytes.bytes()).expect("model loads");
    let mut arena = vec![0u8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena).expect("interpreter");
    let slot = interp.input_bytes_mut(0).unwrap();
    assert_eq!(slot.len(), input.len(), "input size");
    slot.copy_from_slice(input);
    interp.invoke().expect("invoke");
    interp.output_bytes(0).unwrap().to_vec()
}

#[test]
fn onnx_imports_match_tflite_imports_and_goldens() {
    let data = data_dir();
    let mut goldens = 0;
    for &(golden, stem) in PAIRS {
        let tflite = import(&data.join(format!("models/{stem}.tflite")));
        let onnx = import(&data.join(format!("onnx/{stem}.onnx")));
        let dir = data.join("golden").join(golden);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(case) = name.strip_prefix("input_") else {
                continue;
            };
            let (_, _, input) = npy(&dir.join(&name));
            let (_, _, want) = npy(&dir.join(format!("output_{case}")));
            let (from_onnx, from_tflite) = (infer(&onnx, &input), infer(&tflite, &input));
            assert_eq!(
                from_onnx, from_tflite,
                "{stem} {name}: ONNX vs TFLite import"
            );
            assert_eq!(from_onnx, want, "{stem} {name}: ONNX import vs golden");
            goldens += 1;
        }
        // Random inputs exercise more of the value range than the few golden cases.
        let len = infer_len(&tflite);
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..16 {
            let input: Vec<u8> = if golden == "ad_float_io" {
                (0..len / 4)
                    .flat_map(|_| (rng.f32() * 60.0 - 30.0).to_le_bytes())
                    .collect()
            } else {
                (0..len).map(|_| rng.u8(..)).collect()
            };
            assert_eq!(
                infer(&onnx, &input),
                infer(&tflite, &input),
                "{stem}: random input {i}"
            );
        }
    }
    assert_eq!(goldens, 8 + 9 + 8 + 11 + 4, "every golden pair checked");
}

fn infer_len(eqm: &[u8]) -> usize {
    let bytes = ModelBytes::copy_from(eqm);
    let model = Model::from_bytes(bytes.bytes()).unwrap();
    model.input(0).unwrap().size
}

/// Truncated or corrupted ONNX files are import errors, never panics.
#[test]
fn corrupted_onnx_files_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let sources = [
        data_dir().join("onnx/kws_ref_model.onnx"),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx/bn_net.onnx"),
    ];
    let mut rng = fastrand::Rng::with_seed(3);
    let (mut cases, mut errors) = (0, 0);
    for source in &sources {
        let original = std::fs::read(source).unwrap();
        // The graph structure (node list, attributes) sits before or between the weights;
        // aim most flips at the first 4 KiB.
        for i in 0..150 {
            let mut bytes = original.clone();
            match i % 3 {
                0 => bytes.truncate(rng.usize(..bytes.len())),
                1 => {
                    for _ in 0..4 {
                        let at = rng.usize(..bytes.len().min(4096));
                        bytes[at] = rng.u8(..);
                    }
                }
                _ => {
                    let at = rng.usize(..bytes.len());
                    bytes[at] ^= 1 << rng.u8(..8);
                }
            }
            let path = tmp.path().join("corrupt.onnx");
            std::fs::write(&path, &bytes).unwrap();
            let result = std::panic::catch_unwind(|| edgeq_convert::import::import_file(&path));
            let Ok(result) = result else {
                panic!("{}: case {i} panicked", source.display());
            };
            cases += 1;
            errors += usize::from(result.is_err());
        }
    }
    eprintln!("{cases} corrupted files, {errors} rejected, the rest imported");
    assert!(
        errors > cases / 3,
        "most corruptions should be caught ({errors}/{cases})"
    );
}
