//! x86-64 kernels, three tiers. `avx2` (AVX2), `avx_vnni` (AVX-VNNI: GEMM tiles on VEX
//! `vpdpbusd`) and `vnni` (AVX-512 VNNI: GEMM rows and 512-bit requantization) each start
//! with their tier's kernel table. AVX2 runs int8 convolutions through `avx2_conv`
//! (receptive fields gathered straight into int16); the AVX-512 VNNI tier also runs
//! `igemm` (GEMM rows and convolution taps read in place), `conv_narrow` (convolutions with
//! few input channels) and, as AVX2 does, `depthwise`. Reached only through those tables
//! (see `Isa::kernels`).

mod avx2;
mod avx2_conv;
mod avx2_conv_u4;
mod avx_vnni;
mod conv_narrow;
mod depthwise;
mod igemm;
mod vnni;

pub(crate) use avx2::KERNELS as AVX2;
pub(crate) use avx_vnni::KERNELS as AVX_VNNI;
pub(crate) use vnni::KERNELS as AVX512_VNNI;
