//! x86-64 kernels: `avx2`, and `vnni` (AVX-512 VNNI) for the GEMM. Callers dispatch here only
//! after the tier's `Isa::is_available()`.

mod avx2;
mod vnni;

pub(crate) use avx2::{
    add, add_u4, depthwise_conv2d, depthwise_u4, gather_small, gemm_row, gemm_tile, gemm_tile_i4,
    gemm_tile_u4_i8,
};
pub(crate) use vnni::gemm_rows as gemm_rows_vnni;
