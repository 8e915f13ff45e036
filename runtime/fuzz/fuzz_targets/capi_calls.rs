//! Random sequences of C API calls with random arguments, as a C program would make them:
//! every call returns a status (never panics, never touches memory outside the buffers it
//! was given), whatever the order — before `edgeq_init`, after a failed one, re-initialised
//! with another model or a smaller arena. Pointers are always valid for the lengths passed
//! (the API's documented contract) or NULL.
#![no_main]

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::ptr;

use edgeq_runtime::capi::*;
use edgeq_runtime::ModelBytes;
use libfuzzer_sys::fuzz_target;

/// The bundled models a sequence may start from (or the fuzzer's own bytes).
const MODELS: [&[u8]; 3] = [
    include_bytes!("../../../examples/data/mlperf-tiny/eqm/ad.eqm"),
    include_bytes!("../../../examples/data/mlperf-tiny/eqm/kws.eqm"),
    include_bytes!("../../tests/data/ds-cnn_w4a4.eqm"),
];

/// Reads the fuzz input front to back; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> usize {
        usize::from(self.u8()) | usize::from(self.u8()) << 8
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    // The model: a bundled one, optionally with a few bytes flipped, or the fuzzer's bytes.
    let choice = input.u8();
    let mut model = match choice % 4 {
        3 => {
            let n = input.u16();
            input.take(n).to_vec()
        }
        i => MODELS[usize::from(i)].to_vec(),
    };
    for _ in 0..(choice / 4) % 4 {
        let at = input.u16();
        if !model.is_empty() {
            let len = model.len();
            model[at % len] ^= input.u8();
        }
    }
    let model = ModelBytes::copy_from(&model);
    let model = model.bytes();

    let mut it = MaybeUninit::<edgeq_interpreter>::zeroed();
    let it = it.as_mut_ptr();
    let mut arena = vec![0u8; 0];
    let mut buf = vec![0u8; 1 << 16];
    let mut info = MaybeUninit::<edgeq_tensor_info>::zeroed();
    for _ in 0..64 {
        let index = usize::from(input.u8() % 4);
        let len = input.u16().min(buf.len());
        // SAFETY: `it` is zeroed or initialised storage of the right type; `model` and the
        // current `arena` outlive every use of it (re-initialised whenever `arena` changes);
        // every pointer is NULL or valid for the length passed.
        let status = unsafe {
            match input.u8() % 12 {
                0 | 1 => {
                    let mut need = 0usize;
                    let s = edgeq_model_arena_size(model.as_ptr(), model.len(), &mut need);
                    if s == edgeq_status::EDGEQ_OK && need <= 8 << 20 {
                        // Sometimes an arena one byte short.
                        let short = usize::from(input.u8() % 2);
                        arena = vec![0x5a; need.saturating_sub(short).max(1)];
                    }
                    edgeq_init(
                        it,
                        model.as_ptr(),
                        model.len(),
                        arena.as_mut_ptr(),
                        arena.len(),
                    )
                }
                2 => edgeq_invoke(it),
                3 => edgeq_set_input(it, index, buf.as_ptr(), len),
                4 => edgeq_get_output(it, index, buf.as_mut_ptr(), len),
                5 => {
                    let (mut p, mut n) = (ptr::null_mut(), 0usize);
                    let s = edgeq_input_buffer(it, index, &mut p, &mut n);
                    if s == edgeq_status::EDGEQ_OK {
                        // The C program writes its input where the API said it may.
                        std::slice::from_raw_parts_mut(p, n).fill(input.u8());
                    }
                    s
                }
                6 => edgeq_input_info(it, index, info.as_mut_ptr()),
                7 => edgeq_output_info(it, index, info.as_mut_ptr()),
                8 => {
                    let _ = (edgeq_input_count(it), edgeq_output_count(it));
                    assert!(!CStr::from_ptr(edgeq_isa_name(it)).is_empty());
                    edgeq_status::EDGEQ_OK
                }
                9 => {
                    // The sentence is cut to the buffer, NUL-terminated, and nothing past
                    // the buffer is written.
                    let n = len % 300;
                    buf[n] = 0xaa;
                    let full = edgeq_last_error(it, buf.as_mut_ptr().cast(), n);
                    assert_eq!(buf[n], 0xaa);
                    assert!(full > 0);
                    if n > 0 {
                        assert_eq!(buf[full.min(n - 1)], 0);
                    }
                    edgeq_status::EDGEQ_OK
                }
                10 => edgeq_set_input(it, index, ptr::null(), len),
                _ => edgeq_init(
                    ptr::null_mut(),
                    model.as_ptr(),
                    model.len(),
                    ptr::null_mut(),
                    0,
                ),
            }
        };
        // Every status has a message.
        assert!(!unsafe { CStr::from_ptr(edgeq_status_string(status as i32)) }.is_empty());
    }
});
