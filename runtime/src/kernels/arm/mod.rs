//! aarch64 kernels. Callers dispatch here only after the ISA's `is_available()`.

mod neon;

pub(crate) use neon::{add, depthwise_conv2d, gemm_tile, gemm_tile_dotprod};
