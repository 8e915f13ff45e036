//! Arm kernels: aarch64 NEON and NEON+dotprod (intrinsics), armv7 NEON (inline assembly),
//! each file opening with its tiers' kernel tables. Reached only through those tables (see
//! `Isa::kernels`).

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(all(target_arch = "arm", feature = "armv7-neon"))]
mod neon_v7;

#[cfg(target_arch = "aarch64")]
pub(crate) use neon::{NEON, NEON_DOTPROD};
#[cfg(all(target_arch = "arm", feature = "armv7-neon"))]
pub(crate) use neon_v7::NEON;
