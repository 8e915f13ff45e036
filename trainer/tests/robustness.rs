//! Bad input is safe: truncated and corrupted `.eqm` files always give `Err` with a message or
//! a model that runs without panicking; never a panic or an out-of-bounds read.

mod common;

use edgeq_runtime::{Interpreter, Model, ModelBytes};

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
    for model in ["kws_ref_model.tflite", "ad01_int8.tflite"] {
        let bytes = common::import_bundled(model);
        for len in 0..bytes.len() {
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
    let w4a4 = |arch| {
        let bits = edgeq_trainer::synth::Bits::parse("w4a4").unwrap();
        edgeq_trainer::synth::model(arch, bits, 7).unwrap()
    };
    let models = [
        common::import_bundled("kws_ref_model.tflite"),
        common::import_bundled("ad01_int8.tflite"),
        common::import_bundled("model_ToyCar_quant_fullint_micro.tflite"),
        // 4-bit tensors: packed int4 weights, uint4 activations, row-window scratch.
        w4a4(edgeq_trainer::synth::Arch::DsCnn),
        w4a4(edgeq_trainer::synth::Arch::ResNet8),
    ];
    for bytes in models {
        // Structure (header, tables, ops, names) sits before the constants; aim half of the
        // flips there, where they matter most.
        let structure_end = (bytes.len() / 8).max(512).min(bytes.len());
        for trial in 0..1500 {
            let mut corrupted = bytes.clone();
            for _ in 0..rng.usize(1..=4) {
                let at = if trial % 2 == 0 {
                    rng.usize(..structure_end)
                } else {
                    rng.usize(..corrupted.len())
                };
                corrupted[at] ^= 1 << rng.u8(0..8);
            }
            if load_and_maybe_run(&corrupted, trial) {
                loaded += 1;
            } else {
                rejected += 1;
            }
        }
    }
    // Both paths must have been exercised for the test to mean anything.
    assert!(
        loaded > 100 && rejected > 100,
        "loaded {loaded}, rejected {rejected}"
    );
}

#[test]
fn misaligned_bytes_and_small_arenas_are_errors() {
    let bytes = common::import_bundled("ad01_int8.tflite");
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
