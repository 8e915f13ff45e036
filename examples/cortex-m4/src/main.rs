//! Keyword spotting on a bare-metal Cortex-M4F: the MLPerf Tiny DS-CNN model and one real
//! MFCC sample are compiled into the image, the arena is a static buffer, and the result is
//! printed over semihosting. `cargo run --release` runs it under qemu (mps2-an386).
//!
//! It also measures its own stack: the free stack is painted with a pattern before the model
//! runs, and the deepest overwritten word afterwards is the high-water mark.
#![no_std]
#![no_main]

use core::arch::asm;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use edgeq_runtime::{AlignedBytes, Interpreter, Model};
use panic_semihosting as _;

/// The model, 16-byte aligned as the runtime reads it in place (flash on a real part).
static MODEL: &AlignedBytes<[u8]> =
    &AlignedBytes(*include_bytes!("../../data/mlperf-tiny/eqm/kws.eqm"));

/// A real MFCC of the keyword "on", as a .npy file (int8, 49×10).
static SAMPLE_NPY: &[u8] = include_bytes!("../../data/mlperf-tiny/kws_sample0_int8.npy");

const LABELS: [&str; 12] = [
    "down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown",
];

/// The arena this model needs (`edgeq inspect` prints it; the runtime checks it).
const ARENA_BYTES: usize = 16_000;

const STACK_PAINT: u32 = 0xDEAD_C0DE;

extern "C" {
    /// Top of the stack (cortex-m-rt).
    static _stack_start: u32;
    /// End of .bss/.uninit: the stack may grow down to here (cortex-m-rt).
    static __sheap: u32;
}

#[entry]
fn main() -> ! {
    // cortex-m-rt turns `static mut` in `#[entry]` into a `&'static mut` owned by main.
    static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];

    // Paint, run the model (no printing in between), measure: the high-water mark is what
    // loading and running the model takes.
    paint_stack();
    let result = infer(ARENA);
    let stack = stack_used();
    let code = match result {
        Ok(r) => {
            hprintln!(
                "edgeq on Cortex-M4: model {} bytes in flash, arena {} bytes, kernels {}",
                MODEL.bytes().len(),
                r.arena_bytes,
                r.isa
            );
            hprintln!("scores (int8): {:?}", r.scores);
            hprintln!(
                "class: {} (index {}, score {})",
                LABELS[r.best],
                r.best,
                r.probability
            );
            debug::EXIT_SUCCESS
        }
        Err(e) => {
            hprintln!("error: {}", e);
            debug::EXIT_FAILURE
        }
    };
    hprintln!("stack high-water mark (load + invoke): {} bytes", stack);
    debug::exit(code);
    // Only reached without a debugger/qemu to end the program.
    loop {
        cortex_m::asm::wfi();
    }
}

/// What one inference found.
struct Outcome {
    arena_bytes: usize,
    isa: &'static str,
    scores: [i8; 12],
    best: usize,
    probability: f32,
}

fn infer(arena: &mut [u8]) -> Result<Outcome, edgeq_runtime::Error> {
    let model = Model::from_bytes(MODEL.bytes())?;
    let mut interp = Interpreter::new(&model, arena)?;
    let input = interp.input_bytes_mut(0)?;
    let sample = npy_payload(SAMPLE_NPY);
    if sample.len() != input.len() {
        return Err(edgeq_runtime::Error::LengthMismatch {
            expected: input.len(),
            actual: sample.len(),
        });
    }
    input.copy_from_slice(sample);
    interp.invoke()?;
    let out = interp.output_i8(0)?;
    let mut scores = [0i8; 12];
    if out.len() != scores.len() {
        return Err(edgeq_runtime::Error::LengthMismatch {
            expected: scores.len(),
            actual: out.len(),
        });
    }
    scores.copy_from_slice(out);
    let best = (0..scores.len()).max_by_key(|&k| scores[k]).unwrap_or(0);
    let info = model.output(0)?;
    Ok(Outcome {
        arena_bytes: model.arena_size(),
        isa: interp.isa().name(),
        scores,
        best,
        probability: info.scale * (i32::from(scores[best]) - info.zero_point) as f32,
    })
}

/// The data of a version 1 .npy file (magic, version, 2-byte header length, header).
fn npy_payload(npy: &[u8]) -> &[u8] {
    let header = 10 + usize::from(u16::from_le_bytes([npy[8], npy[9]]));
    &npy[header.min(npy.len())..]
}

fn stack_bounds() -> (usize, usize) {
    // Only the addresses of the linker symbols are taken, never their contents.
    (
        &raw const __sheap as usize,
        &raw const _stack_start as usize,
    )
}

fn current_sp() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register; no memory is touched.
    unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// Fills the unused stack (from the end of static data up to just below this frame).
#[inline(never)]
fn paint_stack() {
    let (bottom, _) = stack_bounds();
    let limit = current_sp() - 256; // leave this function's own frame alone
    let mut p = bottom.next_multiple_of(4);
    while p < limit {
        // SAFETY: [bottom, limit) is RAM between the end of .bss and the live stack, owned by
        // nobody yet; volatile so the writes are not elided.
        unsafe { (p as *mut u32).write_volatile(STACK_PAINT) };
        p += 4;
    }
}

/// Bytes between the stack top and the deepest word no longer holding the paint.
fn stack_used() -> usize {
    let (bottom, top) = stack_bounds();
    let mut p = bottom.next_multiple_of(4);
    // SAFETY: reads RAM between the end of .bss and the stack top.
    while p < top && unsafe { (p as *const u32).read_volatile() } == STACK_PAINT {
        p += 4;
    }
    top - p
}
