//! The C API (feature `capi`): `include/edgeq.h` declares exactly these items (cbindgen
//! generates it; a test fails when the header and this file disagree).
//!
//! Nothing allocates. The caller owns three pieces of memory and keeps them alive while the
//! interpreter is used: the model bytes (16-byte aligned, unchanged), the arena
//! (`edgeq_model_arena_size` bytes) and an `edgeq_interpreter`, an opaque block the library
//! writes its state into. Every function checks its pointers and returns an `edgeq_status`;
//! `edgeq_last_error` turns the last failure into a sentence.
#![allow(non_camel_case_types)]

use core::ffi::c_char;
use core::fmt::Write;
use core::{mem, ptr, slice};

use crate::error::Error;
use crate::format::{DType, MAX_RANK};
use crate::kernels::Isa;
use crate::model::{Model, TensorInfo};
use crate::Interpreter;

/// Version of this API; a change that breaks C callers increments it.
pub const EDGEQ_ABI_VERSION: u32 = 1;

/// Size of `edgeq_interpreter` in 8-byte words (room for 32- and 64-bit targets).
pub const EDGEQ_INTERPRETER_WORDS: usize = 32;

/// Most dimensions a tensor has.
pub const EDGEQ_MAX_RANK: usize = 4;

/// Caller-owned storage for one interpreter: declare it (stack, static or heap) and pass it
/// to `edgeq_init`. Its contents are private to the library.
#[repr(C)]
pub struct edgeq_interpreter {
    opaque: [u64; EDGEQ_INTERPRETER_WORDS],
}

/// What a call did. `EDGEQ_OK` is 0; everything else is a failure that
/// `edgeq_status_string` names and `edgeq_last_error` explains.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum edgeq_status {
    /// Success.
    EDGEQ_OK = 0,
    /// A required pointer was NULL.
    EDGEQ_ERR_NULL_POINTER = 1,
    /// The interpreter was not set up by a successful `edgeq_init`.
    EDGEQ_ERR_NOT_INITIALIZED = 2,
    /// The model bytes end too early.
    EDGEQ_ERR_TRUNCATED = 3,
    /// The model bytes do not start at a 16-byte aligned address.
    EDGEQ_ERR_MISALIGNED = 4,
    /// Not an `.eqm` file.
    EDGEQ_ERR_BAD_MAGIC = 5,
    /// An `.eqm` format version this library does not read.
    EDGEQ_ERR_UNSUPPORTED_VERSION = 6,
    /// The model breaks a structural rule.
    EDGEQ_ERR_INVALID_MODEL = 7,
    /// An operator breaks its contract.
    EDGEQ_ERR_INVALID_OP = 8,
    /// The chosen kernels do not run on this CPU.
    EDGEQ_ERR_ISA_UNAVAILABLE = 9,
    /// The arena is smaller than `edgeq_model_arena_size`.
    EDGEQ_ERR_ARENA_TOO_SMALL = 10,
    /// An input/output index past the model's count.
    EDGEQ_ERR_NO_SUCH_TENSOR = 11,
    /// Wrong element type for the call.
    EDGEQ_ERR_DTYPE_MISMATCH = 12,
    /// A buffer of the wrong length.
    EDGEQ_ERR_LENGTH_MISMATCH = 13,
}

/// Element types (the values of the `.eqm` format).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum edgeq_dtype {
    /// Signed 8-bit integer.
    EDGEQ_DTYPE_INT8 = 1,
    /// Unsigned 8-bit integer.
    EDGEQ_DTYPE_UINT8 = 2,
    /// Signed 32-bit integer.
    EDGEQ_DTYPE_INT32 = 3,
    /// IEEE 754 single precision.
    EDGEQ_DTYPE_FLOAT32 = 4,
    /// Signed 4-bit, two per byte (element `i` in byte `i / 2`, low nibble first).
    EDGEQ_DTYPE_INT4 = 5,
    /// Unsigned 4-bit, two per byte, as `EDGEQ_DTYPE_INT4`.
    EDGEQ_DTYPE_UINT4 = 6,
    /// Signed 16-bit, little-endian.
    EDGEQ_DTYPE_INT16 = 7,
}

/// Shape, type and quantization of a model input or output.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct edgeq_tensor_info {
    /// Element type.
    pub dtype: edgeq_dtype,
    /// Number of dimensions used in `dims`.
    pub rank: u32,
    /// Dimensions; entries past `rank` are 1.
    pub dims: [u32; EDGEQ_MAX_RANK],
    /// Quantization scale: real = scale * (q - zero_point); 0 for float tensors.
    pub scale: f32,
    /// Quantization zero point.
    pub zero_point: i32,
    /// Number of elements.
    pub elements: usize,
    /// Size in bytes.
    pub bytes: usize,
}

const MAGIC: u32 = 0x4551_4331; // "EQC1"

/// What `edgeq_interpreter` holds. The model is re-bound to the arena on each call
/// (`Interpreter` borrows both, which a C struct cannot express), which costs one length check.
#[repr(C)]
struct State {
    magic: u32,
    last_error: Option<Error>,
    /// The validated model; `None` after a failed `edgeq_init`.
    model: Option<Model<'static>>,
    arena: *mut u8,
    arena_len: usize,
    isa: Isa,
}

const _: () = {
    assert!(EDGEQ_MAX_RANK == MAX_RANK);
    assert!(mem::size_of::<State>() <= mem::size_of::<edgeq_interpreter>());
    assert!(mem::align_of::<State>() <= mem::align_of::<edgeq_interpreter>());
};

fn status_of(e: &Error) -> edgeq_status {
    use edgeq_status::*;
    match e {
        Error::Truncated { .. } => EDGEQ_ERR_TRUNCATED,
        Error::Misaligned => EDGEQ_ERR_MISALIGNED,
        Error::BadMagic => EDGEQ_ERR_BAD_MAGIC,
        Error::UnsupportedVersion(_) => EDGEQ_ERR_UNSUPPORTED_VERSION,
        Error::Invalid { .. } => EDGEQ_ERR_INVALID_MODEL,
        Error::InvalidOp { .. } => EDGEQ_ERR_INVALID_OP,
        Error::IsaUnavailable(_) => EDGEQ_ERR_ISA_UNAVAILABLE,
        Error::ArenaTooSmall { .. } => EDGEQ_ERR_ARENA_TOO_SMALL,
        Error::NoSuchTensor { .. } | Error::NoSuchOp { .. } => EDGEQ_ERR_NO_SUCH_TENSOR,
        Error::DTypeMismatch { .. } => EDGEQ_ERR_DTYPE_MISMATCH,
        Error::LengthMismatch { .. } => EDGEQ_ERR_LENGTH_MISMATCH,
    }
}

/// The initialised state behind `it`, or the status to return.
///
/// # Safety
/// `it` is NULL or points to an `edgeq_interpreter` the caller owns.
unsafe fn state<'s>(it: *mut edgeq_interpreter) -> Result<&'s mut State, edgeq_status> {
    if it.is_null() {
        return Err(edgeq_status::EDGEQ_ERR_NULL_POINTER);
    }
    let state = it.cast::<State>();
    // SAFETY: `it` is non-null and points to caller storage at least as large and as aligned
    // as `State` (checked at compile time); reading the leading u32 is valid for any bytes.
    let magic = unsafe { ptr::addr_of!((*state).magic).read() };
    if magic != MAGIC {
        return Err(edgeq_status::EDGEQ_ERR_NOT_INITIALIZED);
    }
    // SAFETY: the magic word is only written by `edgeq_init` together with a valid `State`.
    Ok(unsafe { &mut *state })
}

/// Runs `f` with an interpreter bound to the state's model and arena; records failures.
///
/// # Safety
/// As `state`; the arena and model given to `edgeq_init` are still alive.
unsafe fn with_interpreter<T>(
    it: *mut edgeq_interpreter,
    f: impl FnOnce(&mut Interpreter<'_, '_>) -> Result<T, Error>,
) -> Result<T, edgeq_status> {
    // SAFETY: forwarded from the caller.
    let state = unsafe { state(it) }?;
    let Some(model) = state.model.as_ref() else {
        return Err(edgeq_status::EDGEQ_ERR_NOT_INITIALIZED);
    };
    // SAFETY: `edgeq_init` checked that `arena` points to `arena_len` writable bytes, and the
    // caller keeps them alive and unshared while using the interpreter (the documented contract).
    let arena = unsafe { slice::from_raw_parts_mut(state.arena, state.arena_len) };
    let result = Interpreter::with_isa(model, arena, state.isa).and_then(|mut i| f(&mut i));
    result.map_err(|e| {
        state.last_error = Some(e);
        status_of(&e)
    })
}

fn status(r: Result<(), edgeq_status>) -> edgeq_status {
    r.err().unwrap_or(edgeq_status::EDGEQ_OK)
}

/// # Safety
/// `bytes` is NULL or points to `len` readable bytes that outlive the returned model.
unsafe fn model_from<'m>(bytes: *const u8, len: usize) -> Result<Model<'m>, Error> {
    if bytes.is_null() {
        return Err(Error::Truncated {
            what: "model",
            need: 1,
            have: 0,
        });
    }
    // SAFETY: non-null, and the caller promises `len` readable bytes.
    Model::from_bytes(unsafe { slice::from_raw_parts(bytes, len) })
}

/// The API version this library implements (`EDGEQ_ABI_VERSION`).
#[no_mangle]
pub extern "C" fn edgeq_abi_version() -> u32 {
    EDGEQ_ABI_VERSION
}

/// Validates a model and writes the arena size it needs to `*arena_size`, so the caller can
/// size the arena before `edgeq_init`.
///
/// # Safety
/// `model` points to `model_len` readable bytes; `arena_size` is writable.
#[no_mangle]
pub unsafe extern "C" fn edgeq_model_arena_size(
    model: *const u8,
    model_len: usize,
    arena_size: *mut usize,
) -> edgeq_status {
    if model.is_null() || arena_size.is_null() {
        return edgeq_status::EDGEQ_ERR_NULL_POINTER;
    }
    // SAFETY: the caller promises `model_len` readable bytes.
    match unsafe { model_from(model, model_len) } {
        Ok(m) => {
            // SAFETY: non-null and writable per the contract.
            unsafe { arena_size.write(m.arena_size()) };
            edgeq_status::EDGEQ_OK
        }
        Err(e) => status_of(&e),
    }
}

/// Validates `model` (16-byte aligned `.eqm` bytes) and binds it to `arena` in `*it`, with
/// the fastest kernels this CPU runs. `model` and `arena` must stay alive, and the model
/// unchanged, while `it` is used. On failure `edgeq_last_error(it, ...)` explains why.
///
/// # Safety
/// `it` is writable storage; `model` points to `model_len` readable bytes and `arena` to
/// `arena_len` writable bytes, neither used by anything else while `it` is in use.
#[no_mangle]
pub unsafe extern "C" fn edgeq_init(
    it: *mut edgeq_interpreter,
    model: *const u8,
    model_len: usize,
    arena: *mut u8,
    arena_len: usize,
) -> edgeq_status {
    if it.is_null() || model.is_null() || arena.is_null() {
        return edgeq_status::EDGEQ_ERR_NULL_POINTER;
    }
    let isa = Isa::detect();
    // SAFETY: the caller promises the model bytes outlive every use of `it`.
    let parsed = unsafe { model_from(model, model_len) }.and_then(|m| {
        if arena_len < m.arena_size() {
            Err(Error::ArenaTooSmall {
                need: m.arena_size(),
                have: arena_len,
            })
        } else {
            Ok(m)
        }
    });
    let state = State {
        magic: MAGIC,
        last_error: parsed.err(),
        model: parsed.ok(),
        arena,
        arena_len,
        isa,
    };
    // SAFETY: `it` is non-null, writable, and large and aligned enough (compile-time check).
    unsafe { it.cast::<State>().write(state) };
    match parsed {
        Ok(_) => edgeq_status::EDGEQ_OK,
        Err(e) => status_of(&e),
    }
}

/// Number of model inputs (0 if `it` is not initialised).
///
/// # Safety
/// `it` is NULL or points to an `edgeq_interpreter`.
#[no_mangle]
pub unsafe extern "C" fn edgeq_input_count(it: *mut edgeq_interpreter) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { with_interpreter(it, |i| Ok(i.model().input_count())) }.unwrap_or(0)
}

/// Number of model outputs (0 if `it` is not initialised).
///
/// # Safety
/// `it` is NULL or points to an `edgeq_interpreter`.
#[no_mangle]
pub unsafe extern "C" fn edgeq_output_count(it: *mut edgeq_interpreter) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { with_interpreter(it, |i| Ok(i.model().output_count())) }.unwrap_or(0)
}

fn c_info(t: &TensorInfo) -> edgeq_tensor_info {
    let mut dims = [1u32; EDGEQ_MAX_RANK];
    for (d, &s) in dims.iter_mut().zip(t.shape()) {
        *d = s as u32; // the format stores dimensions as u32
    }
    edgeq_tensor_info {
        dtype: match t.dtype {
            DType::I8 => edgeq_dtype::EDGEQ_DTYPE_INT8,
            DType::U8 => edgeq_dtype::EDGEQ_DTYPE_UINT8,
            DType::I32 => edgeq_dtype::EDGEQ_DTYPE_INT32,
            DType::F32 => edgeq_dtype::EDGEQ_DTYPE_FLOAT32,
            DType::I4 => edgeq_dtype::EDGEQ_DTYPE_INT4,
            DType::U4 => edgeq_dtype::EDGEQ_DTYPE_UINT4,
            DType::I16 => edgeq_dtype::EDGEQ_DTYPE_INT16,
        },
        rank: t.rank as u32,
        dims,
        scale: t.scale,
        zero_point: t.zero_point,
        elements: t.len(),
        bytes: t.size,
    }
}

/// # Safety
/// `it` as for `with_interpreter`; `out` is NULL or writable.
unsafe fn write_info(
    it: *mut edgeq_interpreter,
    out: *mut edgeq_tensor_info,
    get: impl FnOnce(&Model<'_>) -> Result<TensorInfo, Error>,
) -> edgeq_status {
    if out.is_null() {
        return edgeq_status::EDGEQ_ERR_NULL_POINTER;
    }
    // SAFETY: forwarded from the caller.
    status(
        unsafe { with_interpreter(it, |i| get(i.model())) }.map(|t| {
            // SAFETY: `out` is non-null and writable per the contract.
            unsafe { out.write(c_info(&t)) }
        }),
    )
}

/// Writes the description of input `index` to `*info`.
///
/// # Safety
/// `it` points to an `edgeq_interpreter`; `info` is writable.
#[no_mangle]
pub unsafe extern "C" fn edgeq_input_info(
    it: *mut edgeq_interpreter,
    index: usize,
    info: *mut edgeq_tensor_info,
) -> edgeq_status {
    // SAFETY: forwarded from the caller.
    unsafe { write_info(it, info, |m| m.input(index)) }
}

/// Writes the description of output `index` to `*info`.
///
/// # Safety
/// `it` points to an `edgeq_interpreter`; `info` is writable.
#[no_mangle]
pub unsafe extern "C" fn edgeq_output_info(
    it: *mut edgeq_interpreter,
    index: usize,
    info: *mut edgeq_tensor_info,
) -> edgeq_status {
    // SAFETY: forwarded from the caller.
    unsafe { write_info(it, info, |m| m.output(index)) }
}

/// Points `*data` at input `index` inside the arena (`*len` bytes, little-endian elements),
/// to fill it in place without a copy. Fill it before each `edgeq_invoke`, which may reuse
/// these bytes.
///
/// # Safety
/// `it` points to an `edgeq_interpreter`; `data` and `len` are writable.
#[no_mangle]
pub unsafe extern "C" fn edgeq_input_buffer(
    it: *mut edgeq_interpreter,
    index: usize,
    data: *mut *mut u8,
    len: *mut usize,
) -> edgeq_status {
    if data.is_null() || len.is_null() {
        return edgeq_status::EDGEQ_ERR_NULL_POINTER;
    }
    // SAFETY: forwarded from the caller.
    let r = unsafe {
        with_interpreter(it, |i| {
            let b = i.input_bytes_mut(index)?;
            Ok((b.as_mut_ptr(), b.len()))
        })
    };
    status(r.map(|(p, n)| {
        // SAFETY: both out-pointers are non-null and writable per the contract.
        unsafe {
            data.write(p);
            len.write(n);
        }
    }))
}

/// Copies `len` bytes (exactly the input's size) into input `index`.
///
/// # Safety
/// `it` points to an `edgeq_interpreter`; `data` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeq_set_input(
    it: *mut edgeq_interpreter,
    index: usize,
    data: *const u8,
    len: usize,
) -> edgeq_status {
    if data.is_null() {
        return edgeq_status::EDGEQ_ERR_NULL_POINTER;
    }
    // SAFETY: non-null, and the caller promises `len` readable bytes.
    let src = unsafe { slice::from_raw_parts(data, len) };
    // SAFETY: forwarded from the caller.
    status(unsafe {
        with_interpreter(it, |i| {
            let dst = i.input_bytes_mut(index)?;
            let tensor_len = dst.len();
            copy_exact(src, dst, tensor_len)
        })
    })
}

/// Runs the model once on the current inputs. Write the inputs before every call: the
/// arena reuses their bytes once no operator needs them, so afterwards they may hold other data.
///
/// # Safety
/// `it` points to an `edgeq_interpreter`.
#[no_mangle]
pub unsafe extern "C" fn edgeq_invoke(it: *mut edgeq_interpreter) -> edgeq_status {
    // SAFETY: forwarded from the caller.
    status(unsafe { with_interpreter(it, |i| i.invoke()) })
}

/// Starts every recurrent operator (LSTM) on a new sequence. Their state otherwise carries
/// from one `edgeq_invoke` to the next (a streaming model takes one frame per call); a new
/// interpreter starts reset.
///
/// # Safety
/// `it` points to an `edgeq_interpreter`.
#[no_mangle]
pub unsafe extern "C" fn edgeq_reset_state(it: *mut edgeq_interpreter) -> edgeq_status {
    // SAFETY: forwarded from the caller.
    status(unsafe { with_interpreter(it, |i| i.reset_state()) })
}

/// Copies output `index` (exactly its size, `len` bytes) to `data`.
///
/// # Safety
/// `it` points to an `edgeq_interpreter`; `data` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeq_get_output(
    it: *mut edgeq_interpreter,
    index: usize,
    data: *mut u8,
    len: usize,
) -> edgeq_status {
    if data.is_null() {
        return edgeq_status::EDGEQ_ERR_NULL_POINTER;
    }
    // SAFETY: non-null, and the caller promises `len` writable bytes not aliased elsewhere.
    let dst = unsafe { slice::from_raw_parts_mut(data, len) };
    // SAFETY: forwarded from the caller.
    status(unsafe {
        with_interpreter(it, |i| {
            let src = i.output_bytes(index)?;
            copy_exact(src, dst, src.len())
        })
    })
}

/// Copies between a tensor of `tensor_len` bytes and a caller buffer of the same length.
fn copy_exact(src: &[u8], dst: &mut [u8], tensor_len: usize) -> Result<(), Error> {
    if src.len() != dst.len() {
        return Err(Error::LengthMismatch {
            expected: tensor_len,
            actual: src.len() + dst.len() - tensor_len,
        });
    }
    dst.copy_from_slice(src);
    Ok(())
}

/// Name of the kernels in use ("scalar", "avx2", "avx-vnni", "avx512-vnni", "neon",
/// "neon-dotprod"), a static string.
///
/// # Safety
/// `it` is NULL or points to an `edgeq_interpreter`.
#[no_mangle]
pub unsafe extern "C" fn edgeq_isa_name(it: *mut edgeq_interpreter) -> *const c_char {
    // SAFETY: forwarded from the caller.
    match unsafe { state(it) } {
        Ok(s) if s.model.is_some() => s.isa.c_name(),
        _ => c"none",
    }
    .as_ptr()
}

/// Nominal int8 multiply-accumulates per cycle of one core at the best instruction of the
/// kernels in use, 0 without a loaded model. Cores differ (a Sapphire Rapids core issues
/// twice the 512-bit multiply-adds of a Zen 4 core); `edgeq-bench` measures the core's own.
///
/// # Safety
/// `it` is NULL or points to an `edgeq_interpreter`.
#[no_mangle]
pub unsafe extern "C" fn edgeq_isa_peak_macs_per_cycle(it: *mut edgeq_interpreter) -> u32 {
    // SAFETY: forwarded from the caller.
    match unsafe { state(it) } {
        Ok(s) if s.model.is_some() => s.isa.peak_macs_per_cycle(),
        _ => 0,
    }
}

/// A short static name for a status code ("EDGEQ_OK", "EDGEQ_ERR_ARENA_TOO_SMALL", ...;
/// "EDGEQ_UNKNOWN_STATUS" for a value that is not an `edgeq_status`). Takes an int so any
/// value C passes is defined behaviour.
#[no_mangle]
pub extern "C" fn edgeq_status_string(status: i32) -> *const c_char {
    use edgeq_status::*;
    const ALL: [edgeq_status; 14] = [
        EDGEQ_OK,
        EDGEQ_ERR_NULL_POINTER,
        EDGEQ_ERR_NOT_INITIALIZED,
        EDGEQ_ERR_TRUNCATED,
        EDGEQ_ERR_MISALIGNED,
        EDGEQ_ERR_BAD_MAGIC,
        EDGEQ_ERR_UNSUPPORTED_VERSION,
        EDGEQ_ERR_INVALID_MODEL,
        EDGEQ_ERR_INVALID_OP,
        EDGEQ_ERR_ISA_UNAVAILABLE,
        EDGEQ_ERR_ARENA_TOO_SMALL,
        EDGEQ_ERR_NO_SUCH_TENSOR,
        EDGEQ_ERR_DTYPE_MISMATCH,
        EDGEQ_ERR_LENGTH_MISMATCH,
    ];
    let Some(&s) = ALL.iter().find(|&&s| s as i32 == status) else {
        return c"EDGEQ_UNKNOWN_STATUS".as_ptr();
    };
    match s {
        EDGEQ_OK => c"EDGEQ_OK",
        EDGEQ_ERR_NULL_POINTER => c"EDGEQ_ERR_NULL_POINTER",
        EDGEQ_ERR_NOT_INITIALIZED => c"EDGEQ_ERR_NOT_INITIALIZED",
        EDGEQ_ERR_TRUNCATED => c"EDGEQ_ERR_TRUNCATED",
        EDGEQ_ERR_MISALIGNED => c"EDGEQ_ERR_MISALIGNED",
        EDGEQ_ERR_BAD_MAGIC => c"EDGEQ_ERR_BAD_MAGIC",
        EDGEQ_ERR_UNSUPPORTED_VERSION => c"EDGEQ_ERR_UNSUPPORTED_VERSION",
        EDGEQ_ERR_INVALID_MODEL => c"EDGEQ_ERR_INVALID_MODEL",
        EDGEQ_ERR_INVALID_OP => c"EDGEQ_ERR_INVALID_OP",
        EDGEQ_ERR_ISA_UNAVAILABLE => c"EDGEQ_ERR_ISA_UNAVAILABLE",
        EDGEQ_ERR_ARENA_TOO_SMALL => c"EDGEQ_ERR_ARENA_TOO_SMALL",
        EDGEQ_ERR_NO_SUCH_TENSOR => c"EDGEQ_ERR_NO_SUCH_TENSOR",
        EDGEQ_ERR_DTYPE_MISMATCH => c"EDGEQ_ERR_DTYPE_MISMATCH",
        EDGEQ_ERR_LENGTH_MISMATCH => c"EDGEQ_ERR_LENGTH_MISMATCH",
    }
    .as_ptr()
}

/// Writes a sentence explaining the last failure on `it` into `buf` (NUL-terminated, cut
/// to `buf_len - 1` bytes) and returns the sentence's full length. Without a failure the
/// sentence is "no error".
///
/// # Safety
/// `it` is NULL or points to an `edgeq_interpreter`; `buf` is NULL or `buf_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn edgeq_last_error(
    it: *mut edgeq_interpreter,
    buf: *mut c_char,
    buf_len: usize,
) -> usize {
    let mut out = CBuf {
        buf: if buf.is_null() || buf_len == 0 {
            &mut []
        } else {
            // SAFETY: non-null, and the caller promises `buf_len` writable bytes.
            unsafe { slice::from_raw_parts_mut(buf.cast::<u8>(), buf_len) }
        },
        written: 0,
        total: 0,
    };
    // SAFETY: forwarded from the caller.
    let _ = match unsafe { state(it) } {
        Ok(State {
            last_error: Some(e),
            ..
        }) => write!(out, "{e}"),
        Ok(_) => write!(out, "no error"),
        Err(edgeq_status::EDGEQ_ERR_NULL_POINTER) => write!(out, "interpreter is NULL"),
        Err(_) => write!(out, "interpreter not initialised: call edgeq_init first"),
    };
    if let Some(last) = out.buf.len().checked_sub(1) {
        out.buf[out.written.min(last)] = 0;
    }
    out.total
}

/// A `fmt::Write` into a fixed C buffer, keeping one byte for the terminating NUL.
struct CBuf<'b> {
    buf: &'b mut [u8],
    written: usize,
    total: usize,
}

impl Write for CBuf<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self
            .buf
            .len()
            .saturating_sub(1)
            .saturating_sub(self.written);
        let n = room.min(s.len());
        self.buf[self.written..self.written + n].copy_from_slice(&s.as_bytes()[..n]);
        self.written += n;
        self.total += s.len();
        Ok(())
    }
}

/// The runtime does not panic (every input is validated; see the fuzz target), but a
/// `no_std` static library must name a panic handler. Only built for C on bare metal.
#[cfg(all(not(feature = "std"), not(test), target_os = "none"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
