//! x86-64 kernels. Callers dispatch here only after `Isa::Avx2.is_available()`.

mod avx2;

pub(crate) use avx2::{
    add, add_u4, depthwise_conv2d, depthwise_u4, gather_small, gemm_row, gemm_tile, gemm_tile_i4,
    gemm_tile_u4_i8,
};
