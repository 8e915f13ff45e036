//! edgeq-runtime: a `no_std`, allocation-free integer inference runtime for `.eqm` models.
//!
//! ```no_run
//! # fn main() -> Result<(), edgeq_runtime::Error> {
//! # let bytes: &[u8] = &[];
//! use edgeq_runtime::{Interpreter, Model};
//! let model = Model::from_bytes(bytes)?; // zero-copy, fully validated
//! let mut arena = vec![0u8; model.arena_size()];
//! let mut interp = Interpreter::new(&model, &mut arena)?;
//! interp.input_i8_mut(0)?.fill(0);
//! interp.invoke()?;
//! let scores = interp.output_i8(0)?;
//! # Ok(()) }
//! ```
//!
//! Layout: [`format`] (the file's records), [`model`] (parse + validate), `plan` (arena
//! plan re-check), [`interp`] (the interpreter), `ops` (one file per operator),
//! [`kernels`] (scalar oracle, per-ISA kernels), [`quant`] (fixed-point math).
#![no_std]
#![warn(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!(
    "edgeq-runtime reads little-endian model files in place; big-endian targets are not supported"
);

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "capi")]
pub mod capi;
mod error;
pub mod format;
pub mod interp;
pub mod kernels;
pub mod model;
mod ops;
mod plan;
pub mod quant;
#[cfg(feature = "std")]
mod std_support;

pub use error::{Error, Result};
pub use format::DType;
pub use interp::Interpreter;
pub use model::{Model, TensorInfo};
#[cfg(feature = "std")]
pub use std_support::{load_model_file, ModelBytes};

/// A 16-byte aligned wrapper for model bytes embedded in a binary:
/// `static MODEL: &AlignedBytes<[u8]> = &AlignedBytes(*include_bytes!("model.eqm"));`
#[repr(C, align(16))]
pub struct AlignedBytes<T: ?Sized>(pub T);

impl<T: ?Sized + AsRef<[u8]>> AlignedBytes<T> {
    /// The bytes, starting at a 16-byte aligned address.
    pub fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }
}
