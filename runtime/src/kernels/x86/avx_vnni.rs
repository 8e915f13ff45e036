//! AVX-VNNI kernels: `vpdpbusd` in its VEX encoding, for CPUs that have it without AVX-512
//! (Alder Lake and later client cores, and the Gracemont and Crestmont E-cores of N100-class
//! boards). The GEMM tiles are the AVX-512 VNNI tier's dot products (`vnni::dot_blocks`,
//! `dot_i4`: the same packed layout and offset-weight corrections) on 256-bit registers,
//! with AVX2's requantization; every other kernel is AVX2's.

use core::arch::x86_64::*;

use super::avx2::{
    dense_in_place, finish_tile, narrow, put_channels, requant_row, Requant8, KERNELS as AVX2,
};
use super::vnni::{block_passes, dot_i4, Dpbusd};
use crate::kernels::gemm::{block_tables, whole_block, Block, TileOut, MR, NR};
use crate::kernels::table::{GemmKernels, Kernels, SummedI4, TileKernels};
use crate::kernels::Requant;

/// The AVX-VNNI tier: AVX2's table with the GEMM tiles on `vpdpbusd`.
pub(crate) static KERNELS: Kernels = Kernels {
    name: c"avx-vnni",
    peak_macs_per_cycle: 64,
    available: has_avx_vnni,
    gemm: GemmKernels {
        // Convolutions through the `vpdpbusd` tiles, not AVX2's `vpmaddwd` gather.
        in_place: Some(dense_in_place),
        // uint4 convolutions keep this tier's tiles (AVX2's `conv_u4` is not measured here).
        conv_u4: None,
        one: TileKernels {
            all_blocks: Some(gemm_rows::<1>),
            i4_summed: Some(SummedI4 {
                signed_rows: gemm_tile_i4::<1, true>,
                u4_rows: gemm_tile_i4::<1, false>,
            }),
            ..AVX2.gemm.one
        },
        mr: TileKernels {
            all_blocks: Some(gemm_rows::<MR>),
            i4_summed: Some(SummedI4 {
                signed_rows: gemm_tile_i4::<MR, true>,
                u4_rows: gemm_tile_i4::<MR, false>,
            }),
            ..AVX2.gemm.mr
        },
        ..AVX2.gemm
    },
    ..AVX2
};

/// Whether the CPU has AVX2 and AVX-VNNI (at compile time, or detected with `std`).
#[allow(unreachable_code)]
fn has_avx_vnni() -> bool {
    if !super::avx2::has_avx2() {
        return false;
    }
    #[cfg(target_feature = "avxvnni")]
    return true;
    #[cfg(feature = "std")]
    return std::arch::is_x86_feature_detected!("avxvnni");
    false
}

/// The VEX encoding of `vpdpbusd`.
struct Vex;

impl Dpbusd for Vex {
    #[inline(always)]
    unsafe fn dpbusd(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        // SAFETY: the caller's CPU has AVX-VNNI.
        unsafe { _mm256_dpbusd_avx_epi32(acc, u, s) }
    }
}

/// Blocks of 8 channels a 4-row tile computes per pass (8 accumulators), and a single row.
/// Without AVX-512 there are 16 vector registers: accumulators, weights, the broadcast row
/// values and the offset must fit in them.
const TILE_BLOCKS: usize = 2;
const ROW_BLOCKS: usize = 4;

/// `R` rows of `a` (each `kp = a[r].len()` values, a multiple of 4) by every block of the
/// packed int8 weights `w` (`[ceil(outputs/8), kp/4, 8, 4]`), requantized by `q` into `out`,
/// whose row `r` starts at `out[r * outputs]`. `rows_u4`: the rows hold uint4 values. Takes
/// every row (returns `true`).
fn gemm_rows<const R: usize>(
    a: [&[i8]; R],
    rows_u4: bool,
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) -> bool {
    // SAFETY: reached only through the AVX-VNNI table (see `Isa::kernels`).
    unsafe {
        match (R, rows_u4) {
            (1, false) => rows_avx_vnni::<R, ROW_BLOCKS, true>(a, w, outputs, q, out),
            (1, true) => rows_avx_vnni::<R, ROW_BLOCKS, false>(a, w, outputs, q, out),
            (_, false) => rows_avx_vnni::<R, TILE_BLOCKS, true>(a, w, outputs, q, out),
            (_, true) => rows_avx_vnni::<R, TILE_BLOCKS, false>(a, w, outputs, q, out),
        }
    }
    true
}

#[target_feature(enable = "avx2,avxvnni")]
fn rows_avx_vnni<const R: usize, const B: usize, const SIGNED_ROWS: bool>(
    a: [&[i8]; R],
    w: &[i8],
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) {
    if out.len() < R * outputs {
        return;
    }
    let store = |acc: &[[__m256i; R]], nb: usize, correction: &[__m256i; R]| {
        for (b, acc) in acc.iter().enumerate() {
            store_block::<R>(acc, correction, nb + b, outputs, q, out);
        }
    };
    // SAFETY: this function's target features include AVX2 and AVX-VNNI.
    unsafe { block_passes::<Vex, R, B, SIGNED_ROWS>(&a, w, outputs, store) };
}

/// Requantizes the `R` accumulators of block `nb` (corrected by `correction`) and writes
/// its `min(8, outputs - 8 nb)` channels of each row.
#[inline]
#[target_feature(enable = "avx2")]
fn store_block<const R: usize>(
    acc: &[__m256i; R],
    correction: &[__m256i; R],
    nb: usize,
    outputs: usize,
    q: &Requant<'_>,
    out: &mut [i8],
) {
    let n0 = nb * NR;
    let nr = NR.min(outputs - n0);
    let copies;
    let block = block_tables!(q, n0, nr, copies);
    if R == 1 {
        // A single row (fully connected layers) uses the single-row requantization.
        let values = narrow(requant_row(
            _mm256_add_epi32(acc[0], correction[0]),
            &block,
            q,
        ));
        put_channels(&mut out[n0..], &values, nr);
        return;
    }
    let requant = Requant8::new(&block, q);
    // A plain loop, not a `from_fn` closure, so that the epilogue inlines (see `avx2.rs`).
    for r in 0..R {
        let values = narrow(requant.apply(_mm256_add_epi32(acc[r], correction[r])));
        put_channels(&mut out[r * outputs + n0..], &values, nr);
    }
}

/// GEMM tile with int4 weights: the AVX-512 VNNI tier's (`vnni::gemm_tile_i4`) on VEX.
fn gemm_tile_i4<const R: usize, const SIGNED_ROWS: bool>(
    a: [&[i8]; R],
    w: &[u8],
    row_sums: &[i32; R],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    // SAFETY: reached only through the AVX-VNNI table (see `Isa::kernels`).
    unsafe { tile_i4_avx_vnni::<R, SIGNED_ROWS>(a, w, row_sums, block, q, pack) }
}

#[target_feature(enable = "avx2,avxvnni")]
fn tile_i4_avx_vnni<const R: usize, const SIGNED_ROWS: bool>(
    a: [&[i8]; R],
    w: &[u8],
    row_sums: &[i32; R],
    block: &Block<'_>,
    q: &Requant<'_>,
    pack: bool,
) -> TileOut<R> {
    // SAFETY: this function's target features include AVX2 and AVX-VNNI.
    let acc = unsafe { dot_i4::<Vex, R, SIGNED_ROWS>(&a, w) };
    finish_tile(acc, SIGNED_ROWS.then_some(row_sums), block, q, pack)
}
