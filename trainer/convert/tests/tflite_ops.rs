//! TFLite models imported and run through `edgeq import` + `edgeq-bench infer`, with 0 LSB
//! difference from the outputs of LiteRT's reference kernels (BUILTIN_REF) on the same
//! inputs: one-operator models (tests/data/tflite_ops, written by its make_goldens.py) and
//! public models nobody on the project wrote (tests/data/public, see its README).

mod common;

use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

use common::*;

fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tflite_ops")
}

/// Files of `dir` named `{prefix}*{suffix}`, sorted.
fn files(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    out.sort();
    out
}

/// Imports every model of `dir` and runs every case `MODEL.CASE.in*.npy` of it, comparing
/// with `MODEL.CASE.out.npy`. Returns the cases checked.
fn check_against_goldens(dir: &Path) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    for model in files(dir, "", ".tflite") {
        let name = model.file_stem().unwrap().to_str().unwrap().to_owned();
        let eqm = tmp.path().join(format!("{name}.eqm"));
        run(edgeq().arg("import").arg(&model).arg("-o").arg(&eqm));
        let expected = files(dir, &format!("{name}."), ".out.npy");
        assert!(!expected.is_empty(), "{name}: no golden outputs");
        for want_path in expected {
            let case = want_path.file_name().unwrap().to_str().unwrap();
            let case = case.strip_suffix(".out.npy").unwrap().to_owned();
            let inputs = files(dir, &format!("{case}.in"), ".npy");
            assert!(!inputs.is_empty(), "{case}: no inputs");
            // Outputs `CASE.out.npy`, then `CASE.out1.npy`... for models with several.
            let mut wants = vec![want_path.clone()];
            wants.extend((1..).map_while(|k| {
                let p = dir.join(format!("{case}.out{k}.npy"));
                p.exists().then_some(p)
            }));
            let mut infer = edgeq_bench();
            infer.arg("infer").arg(&eqm);
            for input in &inputs {
                infer.arg("--input").arg(input);
            }
            let gots: Vec<PathBuf> = (0..wants.len())
                .map(|k| tmp.path().join(format!("{case}.{k}.npy")))
                .collect();
            for got in &gots {
                infer.arg("--output").arg(got);
            }
            run(&mut infer);
            for (got_path, want_path) in gots.iter().zip(&wants) {
                let (shape, descr, got) = npy(got_path);
                let (want_shape, want_descr, want) = npy(want_path);
                let what = want_path.display();
                assert_eq!(
                    (shape, descr),
                    (want_shape, want_descr),
                    "{what}: shape/dtype"
                );
                let differing = got.iter().zip(&want).filter(|(a, b)| a != b).count();
                assert_eq!(differing, 0, "{what}: {differing} bytes differ from LiteRT");
            }
            checked.push(case);
        }
    }
    checked
}

#[test]
fn every_operator_matches_litert_reference_kernels() {
    let checked = check_against_goldens(&ops_dir());
    // Every operator the script writes, so that a lost file fails here.
    let ops = [
        "add_",
        "sub_",
        "maximum_",
        "minimum_",
        "mul_",
        "pad_",
        "padv2_",
        "concat_",
        "logistic",
        "tanh",
        "relu.",
        "relu6",
        "relu_n1_to_1",
        "leaky_relu",
        "hard_swish",
        "transpose_",
        "mean_",
        "slice",
        "strided_slice_",
        "split_",
        "resize_nearest_",
        "resize_bilinear_",
        "lstm_",
        "transpose_conv_",
        "gather_",
        "prelu_",
        "batch_matmul_",
        "svdf_",
        "quantize_int",
        "softmax_int16",
        "ops_chain",
    ];
    for op in ops {
        assert!(
            checked.iter().filter(|c| c.starts_with(op)).count() >= 3,
            "{op}: too few cases in {checked:?}"
        );
    }
}

#[test]
fn public_models_match_litert_reference_kernels() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/public");
    let checked = check_against_goldens(&dir);
    let models = [
        "mobilenet_v2_pytorch_224",
        "micro_speech",
        "hello_world",
        "mnist_lstm",
        "micro_speech_lstm",
        "dtln",
        "keyword_scrambled",
    ];
    for model in models {
        assert!(
            checked.iter().any(|c| c.starts_with(&format!("{model}."))),
            "{model} not checked: {checked:?}"
        );
    }
    // The real inputs shipped with the models (README.md there).
    for case in [
        "mobilenet_v2_pytorch_224.dog",
        "mnist_lstm.digit0",
        "micro_speech_lstm.yes",
        "micro_speech_lstm.no",
        "dtln.frame",
    ] {
        assert!(checked.iter().any(|c| c == case), "{case} not checked");
    }
}

#[test]
fn infer_asks_for_one_input_per_model_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ops_dir();
    let eqm = tmp.path().join("mul.eqm");
    run(edgeq()
        .arg("import")
        .arg(dir.join("mul_same.tflite"))
        .arg("-o")
        .arg(&eqm));
    let out = edgeq_bench()
        .arg("infer")
        .arg(&eqm)
        .arg("--input")
        .arg(dir.join("mul_same.1.in0.npy"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the model has 2 inputs; give one --input per input"),
        "{err}"
    );
}

/// The runtime's corruption-test fixtures `runtime/tests/data/{ops_chain,ops_chain2,lstm}.eqm`
/// are byte for byte today's imports of `ops_chain.tflite`, `ops_chain2.tflite` and
/// `lstm_batches_clip.tflite`.
#[test]
fn runtime_ops_fixtures_are_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    for (source, fixture) in [("ops_chain", "ops_chain"), ("lstm_batches_clip", "lstm")] {
        let fresh = tmp.path().join(format!("{fixture}.eqm"));
        run(edgeq()
            .arg("import")
            .arg(ops_dir().join(format!("{source}.tflite")))
            .arg("-o")
            .arg(&fresh));
        let bundled = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../runtime/tests/data/{fixture}.eqm"));
        assert!(
            std::fs::read(&fresh).unwrap() == std::fs::read(&bundled).unwrap(),
            "{} is stale: re-run `edgeq-convert import trainer/convert/tests/data/tflite_ops/{source}.tflite -o runtime/tests/data/{fixture}.eqm`",
            bundled.display()
        );
    }
}

/// A corrupted file whose CONCATENATION output claims a shape of more than 2^64 elements
/// (found by the importer's fuzz target, where the product overflowed) is refused.
#[test]
fn overflowing_shapes_are_refused() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/corrupt/concat_overflowing_shape.tflite");
    let tmp = tempfile::tempdir().unwrap();
    let out = edgeq()
        .arg("import")
        .arg(&file)
        .arg("-o")
        .arg(tmp.path().join("x.eqm"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than 2^28 elements"), "{err}");
}

/// `edgeq-bench infer --dump` writes every operator's output as LiteRT's reference
/// interpreter computes it (`layers/CHAIN.0/*.npy`, kept with
/// `experimental_preserve_all_tensors`), each named by its TFLite tensor in `tensors.tsv`,
/// and the model's inputs as given; for both operator chains.
#[test]
fn dump_matches_litert_layer_by_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ops_dir();
    for (chain, first, last) in [
        ("ops_chain", "PAD", "RESHAPE"),
        ("ops_chain2", "RESIZE_BILINEAR", "BATCH_MATMUL"),
    ] {
        let eqm = tmp.path().join(format!("{chain}.eqm"));
        run(edgeq()
            .arg("import")
            .arg(dir.join(format!("{chain}.tflite")))
            .arg("-o")
            .arg(&eqm));
        let dump = tmp.path().join(format!("{chain}.dump"));
        let inputs = files(&dir, &format!("{chain}.0.in"), ".npy");
        let mut infer = edgeq_bench();
        infer.arg("infer").arg(&eqm).arg("--dump").arg(&dump);
        for input in &inputs {
            infer.arg("--input").arg(input);
        }
        run(&mut infer);
        let table = std::fs::read_to_string(dump.join("tensors.tsv")).unwrap();
        let mut lines = table.lines();
        assert_eq!(
            lines.next(),
            Some("op\tkind\ttensor\tname\tdtype\tshape\tscale\tzero_point\tfile")
        );
        let layers = dir.join(format!("layers/{chain}.0"));
        let (mut ops, mut given) = (Vec::new(), Vec::new());
        for line in lines {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 9, "{line}");
            let (op, kind, name, file) = (cols[0], cols[1], cols[3], cols[8]);
            let got = npy(&dump.join(file));
            if op == "input" {
                given.push(got);
                continue;
            }
            let want = npy(&layers.join(format!("{name}.npy")));
            assert_eq!(got, want, "{chain}: operator {op} ({kind}), tensor {name}");
            ops.push(kind.to_owned());
        }
        let expected_inputs: Vec<_> = inputs.iter().map(|p| npy(p)).collect();
        assert_eq!(given, expected_inputs, "{chain}: dumped inputs");
        let reference = std::fs::read_dir(&layers).unwrap().count();
        assert_eq!(
            ops.len(),
            reference,
            "{chain}: one file per operator: {ops:?}"
        );
        assert_eq!(ops.first().map(String::as_str), Some(first));
        assert_eq!(ops.last().map(String::as_str), Some(last));
    }
}

/// Recurrent state carries from one `invoke` to the next as TFLite's variable tensors do:
/// each model fed consecutive inputs on one interpreter matches LiteRT's outputs of one
/// interpreter (`streams/`): DTLN's two LSTMs, an SVDF's memory (which shifts across filters
/// and batches), an LSTM with two batches. The state changes the later outputs (a fresh
/// interpreter gives another answer on input 1), and `reset_state` starts over.
#[test]
fn state_carries_across_invokes_until_reset() {
    use edgeq_runtime::{Interpreter, Model};
    let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/public");
    for (dir, name, frames) in [
        (public, "dtln", 4),
        (ops_dir(), "svdf_rank2_batches", 9),
        (ops_dir(), "lstm_batches_clip", 3),
    ] {
        let bytes =
            edgeq_convert::import::import_file(&dir.join(format!("{name}.tflite"))).unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let frame =
            |k: usize, what: &str| npy(&dir.join(format!("streams/{name}.{k}.{what}.npy"))).2;
        let run = |interp: &mut Interpreter, k: usize| -> Vec<u8> {
            interp
                .input_bytes_mut(0)
                .unwrap()
                .copy_from_slice(&frame(k, "in0"));
            interp.invoke().unwrap();
            interp.output_bytes(0).unwrap().to_vec()
        };
        let mut arena = vec![0u8; model.arena_size()];
        let mut interp = Interpreter::new(&model, &mut arena).unwrap();
        for k in 0..frames {
            assert_eq!(
                run(&mut interp, k),
                frame(k, "out"),
                "{name}: input {k} of the stream"
            );
        }
        interp.reset_state().unwrap();
        assert_eq!(
            run(&mut interp, 0),
            frame(0, "out"),
            "{name}: input 0 after reset_state"
        );

        let mut fresh_arena = vec![0u8; model.arena_size()];
        let mut fresh = Interpreter::new(&model, &mut fresh_arena).unwrap();
        assert_ne!(
            run(&mut fresh, 1),
            frame(1, "out"),
            "{name}: input 1 alone should differ from input 1 after input 0"
        );
    }
}

/// A run-time GATHER index outside the table is an error naming the operator, not a read
/// past the table.
#[test]
fn gather_index_outside_the_table_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let eqm = tmp.path().join("gather.eqm");
    run(edgeq()
        .arg("import")
        .arg(ops_dir().join("gather_embedding.tflite"))
        .arg("-o")
        .arg(&eqm));
    for bad in [10, -1] {
        let indices = tmp.path().join("indices.npy");
        let file = std::fs::File::create(&indices).unwrap();
        let mut writer = npyz::WriteOptions::<i32>::new()
            .default_dtype()
            .shape(&[1, 6])
            .writer(file)
            .begin_nd()
            .unwrap();
        writer.extend([0, 3, bad, 9, 1, 2]).unwrap();
        writer.finish().unwrap();
        let out = edgeq_bench()
            .arg("infer")
            .arg(&eqm)
            .arg("--input")
            .arg(&indices)
            .output()
            .unwrap();
        assert!(!out.status.success(), "index {bad} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("gather index outside"), "{err}");
    }
}
