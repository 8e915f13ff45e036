//! The C API (feature `capi`) called as C would call it: every failure is a status code with
//! a sentence, never a crash, and a model run through it gives the Rust API's bytes.
//! `cargo test -p edgeq-runtime --features capi --test capi`
#![cfg(feature = "capi")]

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::path::Path;
use std::ptr;

use edgeq_runtime::capi::*;
use edgeq_runtime::{Interpreter, Model, ModelBytes};

use edgeq_status::*;

fn kws() -> ModelBytes {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/mlperf-tiny/eqm/kws.eqm");
    edgeq_runtime::load_model_file(path).expect("bundled kws.eqm")
}

/// The MFCC sample's int8 payload (a version 1 .npy header, then 490 bytes).
fn kws_sample() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/mlperf-tiny/kws_sample0_int8.npy");
    let bytes = std::fs::read(path).unwrap();
    let header = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[header..].to_vec()
}

fn zeroed_interpreter() -> edgeq_interpreter {
    // SAFETY: edgeq_interpreter is plain words; all-zero is a valid (uninitialised) value.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

fn last_error(it: &mut edgeq_interpreter) -> String {
    let mut buf = [0 as std::ffi::c_char; 256];
    // SAFETY: `it` is a live interpreter and `buf` has 256 writable bytes.
    unsafe { edgeq_last_error(it, buf.as_mut_ptr(), buf.len()) };
    // SAFETY: edgeq_last_error NUL-terminates within the buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn runs_kws_and_matches_the_rust_api() {
    let model = kws();
    let sample = kws_sample();
    let mut need = 0usize;
    // SAFETY: valid model bytes and a writable size.
    let s =
        unsafe { edgeq_model_arena_size(model.bytes().as_ptr(), model.bytes().len(), &mut need) };
    assert_eq!(s, EDGEQ_OK);
    let mut arena = vec![0u8; need];
    let mut it = zeroed_interpreter();
    // SAFETY: model and arena outlive `it` in this test.
    let s = unsafe {
        edgeq_init(
            &mut it,
            model.bytes().as_ptr(),
            model.bytes().len(),
            arena.as_mut_ptr(),
            need,
        )
    };
    assert_eq!(s, EDGEQ_OK, "{}", last_error(&mut it));
    assert_eq!(last_error(&mut it), "no error");
    // SAFETY: `it` is initialised; the info structs are writable.
    unsafe {
        assert_eq!(edgeq_input_count(&mut it), 1);
        assert_eq!(edgeq_output_count(&mut it), 1);
        let mut info = MaybeUninit::<edgeq_tensor_info>::uninit();
        assert_eq!(edgeq_input_info(&mut it, 0, info.as_mut_ptr()), EDGEQ_OK);
        let info = info.assume_init();
        assert_eq!(info.dtype, edgeq_dtype::EDGEQ_DTYPE_INT8);
        assert_eq!(&info.dims[..info.rank as usize], &[1, 49, 10, 1]);
        assert_eq!(info.bytes, sample.len());
        assert_eq!(
            edgeq_set_input(&mut it, 0, sample.as_ptr(), sample.len()),
            EDGEQ_OK
        );
        assert_eq!(edgeq_invoke(&mut it), EDGEQ_OK);
    }
    let mut c_scores = [0u8; 12];
    // SAFETY: 12 writable bytes.
    let s = unsafe { edgeq_get_output(&mut it, 0, c_scores.as_mut_ptr(), 12) };
    assert_eq!(s, EDGEQ_OK);

    let parsed = Model::from_bytes(model.bytes()).unwrap();
    let mut arena2 = vec![0u8; parsed.arena_size()];
    let mut rust = Interpreter::new(&parsed, &mut arena2).unwrap();
    rust.input_bytes_mut(0).unwrap().copy_from_slice(&sample);
    rust.invoke().unwrap();
    assert_eq!(rust.output_bytes(0).unwrap(), &c_scores);
    // The sample is the keyword "on" (class 5).
    let best = (0..12).max_by_key(|&k| c_scores[k] as i8).unwrap();
    assert_eq!(best, 5);

    // Filling the input in place through edgeq_input_buffer gives the same result.
    let (mut data, mut len) = (ptr::null_mut(), 0usize);
    // SAFETY: out-pointers are writable; the arena is alive.
    unsafe {
        assert_eq!(
            edgeq_input_buffer(&mut it, 0, &mut data, &mut len),
            EDGEQ_OK
        );
        assert_eq!(len, sample.len());
        ptr::copy_nonoverlapping(sample.as_ptr(), data, len);
        assert_eq!(edgeq_invoke(&mut it), EDGEQ_OK);
        let mut again = [0u8; 12];
        assert_eq!(
            edgeq_get_output(&mut it, 0, again.as_mut_ptr(), 12),
            EDGEQ_OK
        );
        assert_eq!(again, c_scores);
    }
}

#[test]
fn every_failure_is_a_status_with_a_sentence() {
    let model = kws();
    let bytes = model.bytes();
    let mut arena = vec![0u8; 16_000];
    let mut it = zeroed_interpreter();
    // SAFETY: every pointer passed below is NULL or valid for the length given with it.
    unsafe {
        // Not initialised yet.
        assert_eq!(edgeq_invoke(&mut it), EDGEQ_ERR_NOT_INITIALIZED);
        assert_eq!(edgeq_input_count(&mut it), 0);
        assert!(last_error(&mut it).contains("edgeq_init"));
        assert_eq!(edgeq_invoke(ptr::null_mut()), EDGEQ_ERR_NULL_POINTER);
        let mut need = 0usize;
        assert_eq!(
            edgeq_model_arena_size(ptr::null(), 0, &mut need),
            EDGEQ_ERR_NULL_POINTER
        );

        // Arena one byte short.
        let s = edgeq_init(
            &mut it,
            bytes.as_ptr(),
            bytes.len(),
            arena.as_mut_ptr(),
            15_999,
        );
        assert_eq!(s, EDGEQ_ERR_ARENA_TOO_SMALL);
        assert_eq!(
            last_error(&mut it),
            "arena too small: model needs 16000 bytes, got 15999"
        );
        assert_eq!(edgeq_invoke(&mut it), EDGEQ_ERR_NOT_INITIALIZED);

        // Not a model; truncated; misaligned.
        let junk = [0u8; 64];
        let s = edgeq_init(&mut it, junk.as_ptr(), 64, arena.as_mut_ptr(), arena.len());
        assert!(
            matches!(s, EDGEQ_ERR_BAD_MAGIC | EDGEQ_ERR_MISALIGNED),
            "{s:?}"
        );
        let s = edgeq_init(
            &mut it,
            bytes.as_ptr(),
            100,
            arena.as_mut_ptr(),
            arena.len(),
        );
        assert_eq!(s, EDGEQ_ERR_TRUNCATED, "{}", last_error(&mut it));
        let shifted = ModelBytes::copy_from(&[&[0u8][..], bytes].concat());
        let s = edgeq_init(
            &mut it,
            shifted.bytes()[1..].as_ptr(),
            bytes.len(),
            arena.as_mut_ptr(),
            arena.len(),
        );
        assert_eq!(s, EDGEQ_ERR_MISALIGNED);
        assert!(last_error(&mut it).contains("16-byte aligned"));

        // A good init, then misuse.
        let s = edgeq_init(
            &mut it,
            bytes.as_ptr(),
            bytes.len(),
            arena.as_mut_ptr(),
            arena.len(),
        );
        assert_eq!(s, EDGEQ_OK);
        let small = [0u8; 10];
        assert_eq!(
            edgeq_set_input(&mut it, 0, small.as_ptr(), 10),
            EDGEQ_ERR_LENGTH_MISMATCH
        );
        assert_eq!(last_error(&mut it), "length mismatch: expected 490, got 10");
        assert_eq!(
            edgeq_set_input(&mut it, 0, ptr::null(), 0),
            EDGEQ_ERR_NULL_POINTER
        );
        let mut info = MaybeUninit::<edgeq_tensor_info>::uninit();
        assert_eq!(
            edgeq_output_info(&mut it, 1, info.as_mut_ptr()),
            EDGEQ_ERR_NO_SUCH_TENSOR
        );
        assert_eq!(last_error(&mut it), "no tensor 1: the model has 1");
        let mut out = [0u8; 13];
        assert_eq!(
            edgeq_get_output(&mut it, 0, out.as_mut_ptr(), 13),
            EDGEQ_ERR_LENGTH_MISMATCH
        );
        assert_eq!(last_error(&mut it), "length mismatch: expected 12, got 13");
    }
}

#[test]
fn error_text_is_cut_to_the_buffer_and_terminated() {
    let mut it = zeroed_interpreter();
    let full = last_error(&mut it);
    let mut buf = [0x55 as std::ffi::c_char; 8];
    // SAFETY: 8 writable bytes.
    let n = unsafe { edgeq_last_error(&mut it, buf.as_mut_ptr(), buf.len()) };
    assert_eq!(n, full.len());
    // SAFETY: NUL-terminated by the call.
    let cut = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
    assert_eq!(cut, &full[..7]);
    // SAFETY: a NULL buffer is allowed and only measures.
    let measured = unsafe { edgeq_last_error(&mut it, ptr::null_mut(), 0) };
    assert_eq!(measured, full.len());
}

#[test]
fn status_names() {
    let name = |s: i32| {
        // SAFETY: edgeq_status_string returns a static NUL-terminated string for any int.
        unsafe { CStr::from_ptr(edgeq_status_string(s)) }
            .to_str()
            .unwrap()
    };
    assert_eq!(name(EDGEQ_OK as i32), "EDGEQ_OK");
    assert_eq!(
        name(EDGEQ_ERR_ARENA_TOO_SMALL as i32),
        "EDGEQ_ERR_ARENA_TOO_SMALL"
    );
    assert_eq!(
        name(EDGEQ_ERR_LENGTH_MISMATCH as i32),
        "EDGEQ_ERR_LENGTH_MISMATCH"
    );
    assert_eq!(name(99), "EDGEQ_UNKNOWN_STATUS");
    assert_eq!(name(-1), "EDGEQ_UNKNOWN_STATUS");
    assert_eq!(edgeq_abi_version(), EDGEQ_ABI_VERSION);
}
