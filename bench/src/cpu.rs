//! The CPU's actual clock, measured: a chain of dependent register-register adds retires one
//! per cycle on every x86-64 and Arm core edgeq targets, so adds per second is cycles per
//! second. (The nominal or TSC frequency is not the clock a boosting core runs at.) Adds of
//! an immediate would not do: Golden Cove folds those at rename, several per cycle.

use std::time::Instant;

/// Adds per timed chain: long enough to dwarf the timer, short enough to stay in one
/// frequency state.
const CHAIN: u64 = 200_000_000;

/// Measured clock in GHz (best of 3), or `None` on architectures without the probe.
pub fn measure_ghz() -> Option<f64> {
    let mut best: Option<f64> = None;
    for _ in 0..3 {
        let start = Instant::now();
        dependent_adds(CHAIN)?;
        let ghz = CHAIN as f64 / start.elapsed().as_secs_f64() / 1e9;
        best = Some(best.map_or(ghz, |b: f64| b.max(ghz)));
    }
    best
}

#[cfg(target_arch = "x86_64")]
fn dependent_adds(n: u64) -> Option<u64> {
    let mut acc = 1u64;
    let mut left = n / 8;
    // SAFETY: register-only arithmetic and a counted loop; no memory is touched.
    unsafe {
        core::arch::asm!(
            "2:",
            "add {acc}, {acc}", "add {acc}, {acc}", "add {acc}, {acc}", "add {acc}, {acc}",
            "add {acc}, {acc}", "add {acc}, {acc}", "add {acc}, {acc}", "add {acc}, {acc}",
            "dec {left}",
            "jnz 2b",
            acc = inout(reg) acc,
            left = inout(reg) left,
            options(nomem, nostack),
        );
    }
    let _ = left;
    Some(acc)
}

#[cfg(target_arch = "aarch64")]
fn dependent_adds(n: u64) -> Option<u64> {
    let mut acc = 1u64;
    let mut left = n / 8;
    // SAFETY: register-only arithmetic and a counted loop; no memory is touched.
    unsafe {
        core::arch::asm!(
            "2:",
            "add {acc}, {acc}, {acc}", "add {acc}, {acc}, {acc}", "add {acc}, {acc}, {acc}",
            "add {acc}, {acc}, {acc}", "add {acc}, {acc}, {acc}", "add {acc}, {acc}, {acc}",
            "add {acc}, {acc}, {acc}", "add {acc}, {acc}, {acc}",
            "subs {left}, {left}, #1",
            "b.ne 2b",
            acc = inout(reg) acc,
            left = inout(reg) left,
            options(nomem, nostack),
        );
    }
    let _ = left;
    Some(acc)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn dependent_adds(_n: u64) -> Option<u64> {
    None
}
