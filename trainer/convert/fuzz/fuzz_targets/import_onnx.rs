//! Any bytes given to the ONNX importer: an `.eqm` the runtime loads, or an error with a
//! message; never a panic, never a hang (libFuzzer's `-timeout` catches those).
#![no_main]

use edgeq_convert::import::{import_bytes, Format, ImportOptions};
use edgeq_runtime::{Model, ModelBytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // tract-onnx asserts on some malformed graphs; the importer catches those panics and
    // returns an error (`import::onnx::graph::tract`). libFuzzer's panic hook would abort on
    // them even so, so it is replaced by the default one: a panic that escapes the importer
    // still aborts the run (libfuzzer-sys turns it into a crash).
    static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    match import_bytes(Format::Onnx, data, ImportOptions::default()) {
        Ok(eqm) => {
            // What the importer writes, the runtime accepts.
            let aligned = ModelBytes::copy_from(&eqm);
            if let Err(e) = Model::from_bytes(aligned.bytes()) {
                panic!("the runtime rejects an imported model: {e}");
            }
        }
        Err(e) => assert!(!format!("{e:#}").is_empty()),
    }
});
