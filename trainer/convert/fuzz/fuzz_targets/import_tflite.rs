//! Any bytes given to the TFLite importer: an `.eqm` the runtime loads, or an error with a
//! message; never a panic, never a hang (libFuzzer's `-timeout` catches those).
#![no_main]

use edgeq_convert::import::{import_bytes, Format, ImportOptions};
use edgeq_runtime::{Model, ModelBytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match import_bytes(Format::Tflite, data, ImportOptions::default()) {
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
