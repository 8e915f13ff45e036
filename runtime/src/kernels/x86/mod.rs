//! x86-64 kernels: `avx2`, `vnni` (AVX-512 VNNI: the GEMM and 512-bit requantization),
//! `igemm` (AVX-512 VNNI: GEMM rows and convolution taps read in place), `conv_narrow`
//! (AVX-512 VNNI: convolutions with few input channels) and `depthwise` (int8, both tiers). Callers dispatch here only after the tier's
//! `Isa::is_available()`.

mod avx2;
mod conv_narrow;
mod depthwise;
mod igemm;
mod vnni;

pub(crate) use avx2::{
    add, add_u4, depthwise_u4, gather_small, gemm_row, gemm_tile, gemm_tile_i4, gemm_tile_u4_i8,
};
pub(crate) use conv_narrow::conv_narrow;
pub(crate) use depthwise::depthwise_conv2d;
pub(crate) use igemm::{igemm, RowSource};
pub(crate) use vnni::{
    add as add_vnni, gemm_rows as gemm_rows_vnni, gemm_tile_i4 as gemm_tile_i4_vnni,
};
