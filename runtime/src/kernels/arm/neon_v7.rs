//! armv7 NEON GEMM micro-kernel, in inline assembly: Rust's 32-bit Arm NEON intrinsics are
//! still unstable (`stdarch_arm_neon_intrinsics`), `asm!` is not. Built with the runtime's
//! `armv7-neon` feature (stable Rust cannot test for NEON on 32-bit Arm; every Raspberry Pi
//! from the 2 on has it). Depthwise and element-wise ops use the portable kernels on armv7.

use crate::kernels::gemm::{requantize_one, Block, KR, MR, NR};
use crate::kernels::table::{GemmKernels, Kernels, TileKernels, SCALAR};
use crate::kernels::Requant;

/// The armv7 NEON tier: the oracle's table with the NEON GEMM tile.
pub(crate) static NEON: Kernels = Kernels {
    name: c"neon",
    peak_macs_per_cycle: 8,
    available: || true,
    gemm: GemmKernels {
        one: TileKernels {
            i8: gemm_tile::<1>,
            ..SCALAR.gemm.one
        },
        mr: TileKernels {
            i8: gemm_tile::<MR>,
            ..SCALAR.gemm.mr
        },
        ..SCALAR.gemm
    },
    ..SCALAR
};

/// `R` rows (1 or 4) by one block of 8 channels. Per group of 4 reduction steps: `vld4.8`
/// de-interleaves the 32 weight bytes into one vector per step, widened to int16; each row's
/// 4 inputs are widened and `vmlal.s16` by scalar accumulates 8 channels per step. The
/// accumulators are requantized by the portable code.
fn gemm_tile<const R: usize>(
    a: [&[i8]; R],
    w: &[i8],
    block: &Block<'_>,
    q: &Requant<'_>,
) -> [[i8; NR]; R] {
    let groups = a
        .iter()
        .fold(w.len() / (NR * KR), |g, row| g.min(row.len() / KR));
    // A 1-row tile runs the 4-row loop on row 0 four times over and keeps row 0.
    let rows: [*const i8; 4] = core::array::from_fn(|r| a[r.min(R - 1)].as_ptr());
    let mut acc = [[0i32; NR]; 4];
    if groups > 0 {
        // SAFETY: the loop runs `groups` times, reading 32 bytes of `w` and 4 bytes of each
        // row per iteration, within their lengths (`groups` is bounded by both above); it
        // writes the 128 bytes of `acc`. The build declares a NEON CPU (`armv7-neon`). Every
        // NEON register it touches is declared clobbered.
        unsafe {
            core::arch::asm!(
                ".fpu neon",
                "vmov.i32 q8, #0",
                "vmov.i32 q9, #0",
                "vmov.i32 q10, #0",
                "vmov.i32 q11, #0",
                "vmov.i32 q12, #0",
                "vmov.i32 q13, #0",
                "vmov.i32 q14, #0",
                "vmov.i32 q15, #0",
                "2:",
                "vld4.8 {{d0, d1, d2, d3}}, [{w}]!",
                "vmovl.s8 q2, d0",
                "vmovl.s8 q3, d1",
                "vmovl.s8 q4, d2",
                "vmovl.s8 q5, d3",
                // Row 0 -> q8 (channels 0-3), q9 (4-7); the scalar must live in d0-d7.
                "vld1.32 {{d0[0]}}, [{a0}]!",
                "vmovl.s8 q0, d0",
                "vmlal.s16 q8, d4, d0[0]",
                "vmlal.s16 q9, d5, d0[0]",
                "vmlal.s16 q8, d6, d0[1]",
                "vmlal.s16 q9, d7, d0[1]",
                "vmlal.s16 q8, d8, d0[2]",
                "vmlal.s16 q9, d9, d0[2]",
                "vmlal.s16 q8, d10, d0[3]",
                "vmlal.s16 q9, d11, d0[3]",
                "vld1.32 {{d2[0]}}, [{a1}]!",
                "vmovl.s8 q1, d2",
                "vmlal.s16 q10, d4, d2[0]",
                "vmlal.s16 q11, d5, d2[0]",
                "vmlal.s16 q10, d6, d2[1]",
                "vmlal.s16 q11, d7, d2[1]",
                "vmlal.s16 q10, d8, d2[2]",
                "vmlal.s16 q11, d9, d2[2]",
                "vmlal.s16 q10, d10, d2[3]",
                "vmlal.s16 q11, d11, d2[3]",
                "vld1.32 {{d0[0]}}, [{a2}]!",
                "vmovl.s8 q0, d0",
                "vmlal.s16 q12, d4, d0[0]",
                "vmlal.s16 q13, d5, d0[0]",
                "vmlal.s16 q12, d6, d0[1]",
                "vmlal.s16 q13, d7, d0[1]",
                "vmlal.s16 q12, d8, d0[2]",
                "vmlal.s16 q13, d9, d0[2]",
                "vmlal.s16 q12, d10, d0[3]",
                "vmlal.s16 q13, d11, d0[3]",
                "vld1.32 {{d2[0]}}, [{a3}]!",
                "vmovl.s8 q1, d2",
                "vmlal.s16 q14, d4, d2[0]",
                "vmlal.s16 q15, d5, d2[0]",
                "vmlal.s16 q14, d6, d2[1]",
                "vmlal.s16 q15, d7, d2[1]",
                "vmlal.s16 q14, d8, d2[2]",
                "vmlal.s16 q15, d9, d2[2]",
                "vmlal.s16 q14, d10, d2[3]",
                "vmlal.s16 q15, d11, d2[3]",
                "subs {n}, {n}, #1",
                "bne 2b",
                "vst1.32 {{d16, d17, d18, d19}}, [{out}]!",
                "vst1.32 {{d20, d21, d22, d23}}, [{out}]!",
                "vst1.32 {{d24, d25, d26, d27}}, [{out}]!",
                "vst1.32 {{d28, d29, d30, d31}}, [{out}]!",
                w = inout(reg) w.as_ptr() => _,
                a0 = inout(reg) rows[0] => _,
                a1 = inout(reg) rows[1] => _,
                a2 = inout(reg) rows[2] => _,
                a3 = inout(reg) rows[3] => _,
                n = inout(reg) groups => _,
                out = inout(reg) acc.as_mut_ptr() => _,
                out("q0") _, out("q1") _, out("q2") _, out("q3") _,
                // q4 and q5 by their d halves: d8-d15 are callee-saved, and named as q
                // registers LLVM did not save them (the caller's f64 values came back wrong).
                out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("q8") _, out("q9") _, out("q10") _, out("q11") _,
                out("q12") _, out("q13") _, out("q14") _, out("q15") _,
                options(nostack),
            );
        }
    }
    core::array::from_fn(|r| core::array::from_fn(|c| requantize_one(acc[r][c], block, c, q)))
}
