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

/// Independent multiply-adds per timed loop of [`measure_peak_macs_per_cycle`].
const PEAK_LOOP: u64 = 5_000_000;

/// The int8 MACs per cycle the core actually sustains on the widest multiply-add of the
/// kernel tier `isa` (by name), at clock `ghz`: 14 independent instructions per iteration
/// (more than latency times ports on every core edgeq targets), best of 3, rounded to the
/// nearest power of two. `None` for tiers without a probe. Tables of peaks by tier cannot
/// know, for example, that a Sapphire Rapids core issues two 512-bit `vpdpbusd` per cycle
/// where a Zen 4 core issues one.
///
/// The caller runs it only for a tier the CPU has (the kernels' own detection chose it).
pub fn measure_peak_macs_per_cycle(isa: &str, ghz: f64) -> Option<f64> {
    let (probe, macs_per_instruction): (fn(u64), f64) = probe_for(isa)?;
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        probe(PEAK_LOOP);
        let per_ns = (14 * PEAK_LOOP) as f64 / start.elapsed().as_nanos() as f64;
        best = best.max(per_ns / ghz);
    }
    let macs = best * macs_per_instruction;
    Some(2f64.powf(macs.log2().round()))
}

#[cfg(target_arch = "x86_64")]
fn probe_for(isa: &str) -> Option<(fn(u64), f64)> {
    match isa {
        "avx512-vnni" => Some((dpbusd_zmm, 64.0)),
        "avx-vnni" => Some((dpbusd_ymm, 32.0)),
        "avx2" => Some((maddwd_ymm, 16.0)),
        _ => None,
    }
}

#[cfg(target_arch = "aarch64")]
fn probe_for(isa: &str) -> Option<(fn(u64), f64)> {
    match isa {
        "neon-dotprod" => Some((sdot_q, 16.0)),
        "neon" => Some((smlal_q, 8.0)),
        _ => None,
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn probe_for(_isa: &str) -> Option<(fn(u64), f64)> {
    None
}

/// Defines `$name(n)`: `n` iterations of 14 independent `$op` (`{acc}` an accumulator,
/// `{a}`, `{b}` the two sources), on registers 0..=15.
#[cfg(target_arch = "x86_64")]
macro_rules! throughput_probe {
    ($name:ident, $op:literal, $width:literal) => {
        fn $name(n: u64) {
            let mut left = n;
            // SAFETY: register-only arithmetic on clobbered vector registers and a counted
            // loop; called only for the kernel tier the CPU runs, which has the instruction.
            unsafe {
                core::arch::asm!(
                    "2:",
                    concat!($op, " ", $width, "0, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "1, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "2, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "3, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "4, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "5, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "6, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "7, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "8, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "9, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "10, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "11, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "12, ", $width, "14, ", $width, "15"),
                    concat!($op, " ", $width, "13, ", $width, "14, ", $width, "15"),
                    "dec {left}",
                    "jnz 2b",
                    left = inout(reg) left,
                    out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                    out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                    out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                    out("xmm12") _, out("xmm13") _,
                    options(nomem, nostack),
                );
            }
            let _ = left;
        }
    };
}

#[cfg(target_arch = "x86_64")]
throughput_probe!(dpbusd_zmm, "vpdpbusd", "zmm");
#[cfg(target_arch = "x86_64")]
throughput_probe!(dpbusd_ymm, "{{vex}} vpdpbusd", "ymm");
#[cfg(target_arch = "x86_64")]
throughput_probe!(maddwd_ymm, "vpmaddwd", "ymm");

/// Defines `$name(n)`: `n` iterations of 14 independent `$op` on `v0..v13` from `v30`,
/// `v31`.
#[cfg(target_arch = "aarch64")]
macro_rules! throughput_probe {
    ($name:ident, $op:literal, $acc:literal, $src:literal) => {
        fn $name(n: u64) {
            let mut left = n;
            // SAFETY: register-only arithmetic on clobbered vector registers and a counted
            // loop; called only for the kernel tier the CPU runs, which has the instruction.
            unsafe {
                core::arch::asm!(
                    "2:",
                    concat!($op, " v0", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v1", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v2", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v3", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v4", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v5", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v6", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v7", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v8", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v9", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v10", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v11", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v12", $acc, ", v30", $src, ", v31", $src),
                    concat!($op, " v13", $acc, ", v30", $src, ", v31", $src),
                    "subs {left}, {left}, #1",
                    "b.ne 2b",
                    left = inout(reg) left,
                    out("v0") _, out("v1") _, out("v2") _, out("v3") _,
                    out("v4") _, out("v5") _, out("v6") _, out("v7") _,
                    out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                    out("v12") _, out("v13") _,
                    options(nomem, nostack),
                );
            }
            let _ = left;
        }
    };
}

#[cfg(target_arch = "aarch64")]
throughput_probe!(sdot_q, ".arch_extension dotprod\n sdot", ".4s", ".16b");
#[cfg(target_arch = "aarch64")]
throughput_probe!(smlal_q, "smlal", ".8h", ".8b");
