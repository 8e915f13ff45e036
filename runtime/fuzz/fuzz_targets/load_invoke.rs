//! Any bytes: `Model::from_bytes` returns Ok or Err (never panics, never reads out of bounds);
//! a model that loads runs one inference without panicking.
#![no_main]

use edgeq_runtime::{Interpreter, Model, ModelBytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let aligned = ModelBytes::copy_from(data);
    let Ok(model) = Model::from_bytes(aligned.bytes()) else {
        return;
    };
    if model.arena_size() > 16 << 20 {
        return; // valid but huge: loading was exercised, skip the allocation
    }
    let mut arena = vec![0x5au8; model.arena_size()];
    let mut interp = Interpreter::new(&model, &mut arena).expect("arena is large enough");
    let _ = interp.invoke();
});
