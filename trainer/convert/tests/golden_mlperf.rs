//! Every golden pair of the bundled MLPerf Tiny models (outputs of TFLite's reference kernels)
//! is reproduced with 0 LSB difference through `edgeq import` + `edgeq-bench infer`.

mod common;

use common::*;

#[test]
fn golden_pairs_are_bit_exact_through_the_cli() {
    golden_pairs(&[]);
}

/// The reference kernels (plain TFLite weight layouts) reproduce the goldens too.
#[test]
fn golden_pairs_are_bit_exact_with_plain_weights() {
    golden_pairs(&["--plain-weights"]);
}

fn golden_pairs(import_flags: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir();
    let mut checked = 0;
    for &(golden, model) in MODELS {
        let eqm = tmp.path().join(format!("{golden}.eqm"));
        run(edgeq()
            .arg("import")
            .args(import_flags)
            .arg(data.join("models").join(model))
            .arg("-o")
            .arg(&eqm));
        let dir = data.join("golden").join(golden);
        let mut cases: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_prefix("input_")?
                    .strip_suffix(".npy")
                    .map(str::to_owned)
            })
            .collect();
        cases.sort();
        assert!(
            cases.len() >= 4,
            "{golden}: expected golden cases, found {}",
            cases.len()
        );
        for case in cases {
            let out = tmp.path().join(format!("{golden}_{case}.npy"));
            run(edgeq_bench()
                .arg("infer")
                .arg(&eqm)
                .arg("--input")
                .arg(dir.join(format!("input_{case}.npy")))
                .arg("--output")
                .arg(&out));
            let (shape, descr, got) = npy(&out);
            let (want_shape, want_descr, want) = npy(&dir.join(format!("output_{case}.npy")));
            assert_eq!(
                (shape, descr),
                (want_shape, want_descr),
                "{golden} case {case}: shape/dtype"
            );
            let differing = got.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(
                differing, 0,
                "{golden} case {case}: {differing} bytes differ from TFLite"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 8 + 9 + 8 + 11 + 4, "every golden pair checked");
}

#[test]
fn inspect_reports_arena_and_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let eqm = tmp.path().join("kws.eqm");
    run(edgeq()
        .arg("import")
        .arg(data_dir().join("models/kws_ref_model.tflite"))
        .arg("-o")
        .arg(&eqm));
    let text = run(edgeq().arg("inspect").arg(&eqm));
    assert!(text.contains("arena bytes"), "{text}");
    assert!(text.contains("DEPTHWISE_CONV_2D"), "{text}");
    assert!(text.contains("SOFTMAX"), "{text}");
    // DS-CNN weights: first conv 64x10x4, 4 pointwise 64x64, 4 depthwise 3x3x64, FC 12x64
    // packed as 16x64 (units padded to the 8-channel block): 22016 + 4 * 64.
    assert!(text.contains("weight bytes     22272"), "{text}");
    assert!(
        text.contains("filter 10x4 packed 8x4 [8, 10, 8, 4]"),
        "{text}"
    );
    assert!(
        text.contains("MACs             2656768 per inference"),
        "{text}"
    );
    // The kernels this machine would run, from the runtime's table.
    let isa = edgeq_runtime::kernels::Isa::detect();
    let kernels = format!(
        "kernels here     {} (nominally {} int8",
        isa.name(),
        isa.peak_macs_per_cycle()
    );
    assert!(text.contains(&kernels), "{text}");
}

/// The effective builtin code of an operator-code entry (old files use the deprecated field).
fn code_of(bytes: &[u8], entry: usize) -> Option<i32> {
    let model = tract_tflite::tflite::root_as_model(bytes).ok()?;
    let c = model.operator_codes()?.get(entry);
    Some(
        c.builtin_code()
            .0
            .max(i32::from(c.deprecated_builtin_code())),
    )
}

#[test]
fn unsupported_op_is_named_with_its_index() {
    const SOFTMAX: i32 = 25;
    // An operator edgeq has no plans for.
    const LOCAL_RESPONSE_NORMALIZATION: i32 = 13;
    let bytes = std::fs::read(data_dir().join("models/kws_ref_model.tflite")).unwrap();
    let n_codes = tract_tflite::tflite::root_as_model(&bytes)
        .unwrap()
        .operator_codes()
        .unwrap()
        .len();
    let entry = (0..n_codes)
        .find(|&i| code_of(&bytes, i) == Some(SOFTMAX))
        .expect("KWS has a SOFTMAX");
    // Turn that operator code into LOCAL_RESPONSE_NORMALIZATION by patching the byte that holds it.
    let patched = (0..bytes.len())
        .filter(|&i| i32::from(bytes[i]) == SOFTMAX)
        .map(|i| {
            let mut t = bytes.clone();
            t[i] = LOCAL_RESPONSE_NORMALIZATION as u8;
            t
        })
        .find(|t| code_of(t, entry) == Some(LOCAL_RESPONSE_NORMALIZATION))
        .expect("could not patch the opcode");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("kws_lrn.tflite");
    std::fs::write(&file, &patched).unwrap();
    let out = edgeq().arg("import").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("operator 12 (LOCAL_RESPONSE_NORMALIZATION)"),
        "{err}"
    );
    assert!(err.contains("not supported"), "{err}");
    assert!(
        !file.with_extension("eqm").exists(),
        "no model written on error"
    );
}

/// `examples/data/mlperf-tiny/eqm/*.eqm` (what the runtime's own golden test and the qemu
/// runs load) are byte for byte what `edgeq import` makes now, so they cannot go stale.
#[test]
fn bundled_eqm_files_are_fresh_imports() {
    for &(golden, model) in MODELS {
        let fresh = import_bundled(model);
        let path = data_dir().join(format!("eqm/{golden}.eqm"));
        let bundled = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            fresh == bundled,
            "{} is stale: re-run `edgeq import` on {model} (see examples/data/mlperf-tiny/README.md)",
            path.display()
        );
    }
}

/// A weight scale that is not positive and finite, or a zero point outside its type (only a
/// corrupted file has them), is refused with a message, not turned into a model the runtime
/// rejects. Both found by the `import_tflite` fuzz target.
#[test]
fn corrupted_quantization_is_refused() {
    use edgeq_convert::import::{import_bytes, Format, ImportOptions};
    let bytes = std::fs::read(data_dir().join("models/kws_ref_model.tflite")).unwrap();
    let model = tract_tflite::tflite::root_as_model(&bytes).unwrap();
    let graph = model.subgraphs().unwrap().get(0);
    let first_op = graph.operators().unwrap().get(0).inputs().unwrap();
    let quantization = |input: usize| {
        let tensor = graph.tensors().unwrap().get(first_op.get(input) as usize);
        tensor.quantization().expect("quantized")
    };
    // Where a vector sits in the file, and the import's error with `value` written there.
    let offset = |v: &[u8]| v.as_ptr() as usize - bytes.as_ptr() as usize;
    let import_with = |at: usize, value: &[u8]| {
        let mut patched = bytes.clone();
        patched[at..at + value.len()].copy_from_slice(value);
        let result = import_bytes(Format::Tflite, &patched, ImportOptions::default());
        format!(
            "{:#}",
            result.expect_err("corrupted quantization must be refused")
        )
    };
    // KWS starts with a CONV_2D: input 1 is its filter, input 0 its int8 input.
    let scales = offset(quantization(1).scale().expect("scales").bytes());
    for bad in [-0.5f32, 0.0, f32::NAN, f32::INFINITY] {
        let err = import_with(scales, &bad.to_le_bytes());
        assert!(err.contains("weight scale"), "{bad}: {err}");
    }
    let zero_points = offset(quantization(0).zero_point().expect("zero points").bytes());
    for bad in [128i64, -129, 1 << 40] {
        let err = import_with(zero_points, &bad.to_le_bytes());
        assert!(err.contains("zero point"), "{bad}: {err}");
    }
}
