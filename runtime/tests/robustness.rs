//! Bad input is safe: truncated and corrupted `.eqm` files always give `Err` with a message or
//! a model that runs without panicking; never a panic or an out-of-bounds read.

use std::path::Path;

use edgeq_runtime::{Interpreter, Model, ModelBytes};

/// `native` cases natively; under miri (CI runs this file there) a spread-out few.
fn cases(native: usize) -> usize {
    if cfg!(miri) {
        native.min(12)
    } else {
        native
    }
}

/// A bundled `.eqm`: the MLPerf Tiny imports (`examples/data/mlperf-tiny/eqm`), or one of
/// `tests/data`: the W4A4 synthetic models (`edgeq-convert synth --bits w4a4 --seed 7`) and
/// `ops_chain.eqm`, `ops_chain2.eqm` and `lstm.eqm` (imports of the converter's
/// `tests/data/tflite_ops/ops_chain.tflite`, `ops_chain2.tflite` and
/// `lstm_batches_clip.tflite`). The converter's
/// tests check all are what it writes today.
fn bundled(name: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let local = root.join("tests/data").join(name);
    let path = if local.exists() {
        local
    } else {
        root.join("../examples/data/mlperf-tiny/eqm").join(name)
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Loads `bytes`; if they load, runs one inference on arbitrary input. Returns whether the
/// model loaded. Any panic fails the test.
fn load_and_maybe_run(bytes: &[u8], seed: u64) -> bool {
    let aligned = ModelBytes::copy_from(bytes);
    match Model::from_bytes(aligned.bytes()) {
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
        Ok(model) => {
            // Arenas of corrupted models can claim up to 4 GiB; skip running those (loading
            // was still fully exercised).
            if model.arena_size() > 64 << 20 {
                return true;
            }
            let mut arena = vec![0u8; model.arena_size()];
            let mut interp = Interpreter::new(&model, &mut arena).expect("arena is large enough");
            if cfg!(miri) {
                // Under miri models load, validate and bind but do not run: one inference
                // takes minutes there. tests/scalar_kernels.rs runs the reference kernels.
                return true;
            }
            let mut rng = fastrand::Rng::with_seed(seed);
            for i in 0..model.input_count() {
                rng.fill(interp.input_bytes_mut(i).expect("input"));
            }
            let _ = interp.invoke();
            true
        }
    }
}

#[test]
fn every_truncation_is_rejected_with_a_message() {
    for model in ["kws.eqm", "ad.eqm"] {
        let bytes = bundled(model);
        // Every length natively; evenly spaced ones under miri.
        let step = bytes.len() / cases(bytes.len());
        for len in (0..bytes.len()).step_by(step) {
            let aligned = ModelBytes::copy_from(&bytes[..len]);
            let err =
                Model::from_bytes(aligned.bytes()).expect_err("a truncated model must not load");
            assert!(!err.to_string().is_empty());
        }
        assert!(load_and_maybe_run(&bytes, 0), "the intact model loads");
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0xED6E_0001);
    let mut loaded = 0;
    let mut rejected = 0;
    let models = [
        bundled("kws.eqm"),
        bundled("ad.eqm"),
        bundled("ad_float_io.eqm"),
        // 4-bit tensors: packed int4 weights, uint4 activations, row-window scratch.
        bundled("ds-cnn_w4a4.eqm"),
        bundled("resnet8_w4a4.eqm"),
        // Broadcasting, padding and a multi-input op.
        bundled("ops_chain.eqm"),
        // An LSTM: state kept in its scratch, int16 gates, two batches.
        bundled("lstm.eqm"),
        // RESIZE_BILINEAR, TRANSPOSE_CONV, PRELU, GATHER, a RESHAPE view, BATCH_MATMUL.
        bundled("ops_chain2.eqm"),
    ];
    for bytes in models {
        // Structure (header, tables, ops, names) sits before the constants; aim half of the
        // flips there, where they matter most.
        let structure_end = (bytes.len() / 8).max(512).min(bytes.len());
        for trial in 0..cases(1500) {
            let mut corrupted = bytes.clone();
            for _ in 0..rng.usize(1..=4) {
                let at = if trial % 2 == 0 {
                    rng.usize(..structure_end)
                } else {
                    rng.usize(..corrupted.len())
                };
                corrupted[at] ^= 1 << rng.u8(0..8);
            }
            if load_and_maybe_run(&corrupted, trial as u64) {
                loaded += 1;
            } else {
                rejected += 1;
            }
        }
    }
    // Both paths must have been exercised for the test to mean anything.
    let enough = if cfg!(miri) { 2 } else { 100 };
    assert!(
        loaded > enough && rejected > enough,
        "loaded {loaded}, rejected {rejected}"
    );
}

#[test]
fn misaligned_bytes_and_small_arenas_are_errors() {
    let bytes = bundled("ad.eqm");
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let aligned = ModelBytes::copy_from(&shifted);
    let err = Model::from_bytes(&aligned.bytes()[1..]).unwrap_err();
    assert!(err.to_string().contains("aligned"), "{err}");

    let aligned = ModelBytes::copy_from(&bytes);
    let model = Model::from_bytes(aligned.bytes()).unwrap();
    let mut arena = vec![0u8; model.arena_size() - 1];
    let err = Interpreter::new(&model, &mut arena)
        .err()
        .expect("too small");
    assert!(err.to_string().contains("arena too small"), "{err}");
}
