//! x86-64 kernels, two tiers. `avx2` (AVX2) and `vnni` (AVX-512 VNNI: GEMM rows and
//! 512-bit requantization) each end in their tier's kernel table; the VNNI tier also runs
//! `igemm` (GEMM rows and convolution taps read in place), `conv_narrow` (convolutions with
//! few input channels) and, as AVX2 does, `depthwise`. Reached only through those tables
//! (see `Isa::kernels`).

mod avx2;
mod conv_narrow;
mod depthwise;
mod igemm;
mod vnni;

pub(crate) use avx2::KERNELS as AVX2;
pub(crate) use vnni::KERNELS as AVX512_VNNI;
