//! Errors are values that say what is wrong and where, without allocating.

use core::fmt;

/// Everything that can go wrong loading or running a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The buffer ends before a structure that must be there.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The model bytes do not start at a 16-byte aligned address.
    Misaligned,
    /// Not an `.eqm` file.
    BadMagic,
    /// An `.eqm` file of a format version this runtime does not read.
    UnsupportedVersion(u32),
    /// A structural problem in the file: `what` names the rule broken.
    Invalid {
        /// The rule that is broken.
        what: &'static str,
        /// Index of the offending item (section, tensor, or operator), if any.
        index: u32,
    },
    /// An operator whose parameters or tensors break its contract.
    InvalidOp {
        /// Operator index in execution order.
        op: u32,
        /// Operator name.
        kind: &'static str,
        /// The rule that is broken.
        what: &'static str,
    },
    /// The requested kernel ISA does not run on this CPU (or was not compiled in).
    IsaUnavailable(&'static str),
    /// The caller's arena is smaller than `Model::arena_size`.
    ArenaTooSmall {
        /// Bytes the model needs.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// An input/output index past the model's count.
    NoSuchTensor {
        /// The index asked for.
        index: usize,
        /// How many there are.
        count: usize,
    },
    /// An operator index past the model's count.
    NoSuchOp {
        /// The index asked for.
        index: usize,
        /// How many there are.
        count: usize,
    },
    /// Typed access with the wrong element type.
    DTypeMismatch {
        /// The type asked for.
        expected: &'static str,
        /// The tensor's type.
        actual: &'static str,
    },
    /// A buffer handed in has the wrong length.
    LengthMismatch {
        /// Bytes (or elements) expected.
        expected: usize,
        /// Bytes (or elements) given.
        actual: usize,
    },
}

/// `Result` with edgeq's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { what, need, have } => write!(
                f,
                "model truncated: {what} needs {need} bytes, only {have} available"
            ),
            Error::Misaligned => write!(
                f,
                "model bytes must start at a 16-byte aligned address (use edgeq_runtime::AlignedBytes \
                 or load_model_file)"
            ),
            Error::BadMagic => write!(f, "not an edgeq model (.eqm): bad magic bytes"),
            Error::UnsupportedVersion(v) => write!(
                f,
                "unsupported .eqm format version {v} (this runtime reads version {})",
                crate::format::FORMAT_VERSION
            ),
            Error::Invalid { what, index } => write!(f, "invalid model: {what} (item {index})"),
            Error::InvalidOp { op, kind, what } => {
                write!(f, "invalid model: operator {op} ({kind}): {what}")
            }
            Error::IsaUnavailable(isa) => {
                write!(f, "this CPU (or this build) cannot run the {isa} kernels")
            }
            Error::ArenaTooSmall { need, have } => {
                write!(f, "arena too small: model needs {need} bytes, got {have}")
            }
            Error::NoSuchOp { index, count } => {
                write!(f, "no operator {index}: the model has {count}")
            }
            Error::NoSuchTensor { index, count } => {
                write!(f, "no tensor {index}: the model has {count}")
            }
            Error::DTypeMismatch { expected, actual } => {
                write!(f, "tensor is {actual}, not {expected}")
            }
            Error::LengthMismatch { expected, actual } => {
                write!(f, "length mismatch: expected {expected}, got {actual}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
