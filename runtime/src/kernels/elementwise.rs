//! Element-wise kernels' dispatch: the SIMD body, then the scalar kernel for the tail.

use super::{scalar, Isa};
use crate::format::AddParams;

/// int8 ADD of equal-length tensors on `isa` (TFLite's int8 ADD; see `scalar::add`).
pub fn add(isa: Isa, p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) {
    let done = match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if isa.is_available() => super::x86::add(p, a, b, output),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDotprod if isa.is_available() => super::arm::add(p, a, b, output),
        _ => 0,
    };
    let (a, b) = (a.get(done..).unwrap_or(&[]), b.get(done..).unwrap_or(&[]));
    let output = output.get_mut(done..).unwrap_or(&mut []);
    let len = a.len().min(b.len()).min(output.len());
    scalar::add(p, len, a, b, output);
}
