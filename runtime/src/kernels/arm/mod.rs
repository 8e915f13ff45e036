//! Arm kernels: aarch64 NEON and NEON+dotprod (intrinsics), armv7 NEON (inline assembly).
//! Callers dispatch here only after the ISA's `is_available()`.

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(all(target_arch = "arm", feature = "armv7-neon"))]
mod neon_v7;

#[cfg(target_arch = "aarch64")]
pub(crate) use neon::{
    add, add_u4, depthwise_conv2d, depthwise_u4, gemm_tile, gemm_tile_dotprod,
    gemm_tile_dotprod_i4, gemm_tile_i4,
};
#[cfg(all(target_arch = "arm", feature = "armv7-neon"))]
pub(crate) use neon_v7::gemm_tile;
