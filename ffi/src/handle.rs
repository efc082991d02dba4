//! Opaque handles and argument checks.
//!
//! Each C handle type (`secllama_keyset`, ...) is an opaque struct (`_private: [u8; 0]`, so C
//! can only hold pointers to it) tied to its Rust type by [`Handle`]. Every handle is a
//! `Box<H::Rust>` made by [`into_raw`] and released by the type's `*_free` through [`free`].
//!
//! The helpers return `Err(status)` after recording the last error, so exported bodies use
//! `?`; the `try_*!` macros wrap them with the one `SAFETY` argument every exported function
//! shares: its `# Safety` section makes the caller guarantee that each pointer is NULL or valid
//! as documented.

use std::ffi::{CStr, c_char};
use std::mem::MaybeUninit;

use crate::error::fail;
use crate::status::secllama_status;

/// Ties an opaque C type to the Rust value its pointers own (always through a `Box`).
pub(crate) trait Handle: Sized {
    /// The Rust value behind the handle.
    type Rust;
}

/// Moves `value` to the heap and returns it as a handle owned by the caller.
pub(crate) fn into_raw<H: Handle>(value: H::Rust) -> *mut H {
    Box::into_raw(Box::new(value)).cast::<H>()
}

/// Borrows the value behind a handle.
///
/// # Safety
/// `p` is NULL or came from [`into_raw`] for the same `H` and has not been freed, and no
/// `&mut` to the value exists for `'a`.
pub(crate) unsafe fn as_ref<'a, H: Handle>(
    p: *const H,
    name: &str,
) -> Result<&'a H::Rust, secllama_status> {
    // SAFETY: per this function's contract, a non-NULL `p` points to a live, aligned `H::Rust`.
    match unsafe { p.cast::<H::Rust>().as_ref() } {
        Some(r) => Ok(r),
        None => Err(null(name)),
    }
}

/// Borrows the value behind a handle mutably.
///
/// # Safety
/// As [`as_ref`], and no other reference to the value exists for `'a`.
pub(crate) unsafe fn as_mut<'a, H: Handle>(
    p: *mut H,
    name: &str,
) -> Result<&'a mut H::Rust, secllama_status> {
    // SAFETY: per this function's contract, a non-NULL `p` points to a live, aligned,
    // unaliased `H::Rust`.
    match unsafe { p.cast::<H::Rust>().as_mut() } {
        Some(r) => Ok(r),
        None => Err(null(name)),
    }
}

/// Drops the value behind a handle; NULL is ignored.
///
/// # Safety
/// `p` is NULL or came from [`into_raw`] for the same `H` and has not been freed; it is not
/// used afterwards.
pub(crate) unsafe fn free<H: Handle>(p: *mut H) {
    if !p.is_null() {
        // SAFETY: per this function's contract, `p` is the pointer of a live `Box<H::Rust>`.
        drop(unsafe { Box::from_raw(p.cast::<H::Rust>()) });
    }
}

/// An out-parameter, as uninitialized memory the function writes its result to.
///
/// # Safety
/// `p` is NULL or valid for writing a `T` (and properly aligned) for `'a`.
pub(crate) unsafe fn out<'a, T>(
    p: *mut T,
    name: &str,
) -> Result<&'a mut MaybeUninit<T>, secllama_status> {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout; per the contract a non-NULL `p` is writable.
    match unsafe { p.cast::<MaybeUninit<T>>().as_mut() } {
        Some(r) => Ok(r),
        None => Err(null(name)),
    }
}

/// A byte range given as pointer and length. `(NULL, 0)` is the empty range; NULL with a
/// non-zero length is refused.
///
/// # Safety
/// When `len > 0` and `p` is not NULL, `p` is valid for reading `len` bytes that are not
/// written during `'a`.
pub(crate) unsafe fn bytes<'a>(
    p: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], secllama_status> {
    // SAFETY: forwarded contract.
    unsafe { slice(p, len, name) }
}

/// An array given as pointer and element count. `(NULL, 0)` is the empty array; NULL with a
/// non-zero count is refused.
///
/// # Safety
/// When `len > 0` and `p` is not NULL, `p` is valid and aligned for reading `len` elements
/// that are not written during `'a`.
pub(crate) unsafe fn slice<'a, T>(
    p: *const T,
    len: usize,
    name: &str,
) -> Result<&'a [T], secllama_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(fail(
            secllama_status::NullParameter,
            format_args!("{name} is NULL but its length is {len}"),
        ));
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(fail(
            secllama_status::InputTooLarge,
            format_args!("{name}: length {len} exceeds the address space"),
        ));
    }
    // SAFETY: non-NULL, total size checked against isize::MAX, readable per the contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that is not written during `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, secllama_status> {
    // SAFETY: forwarded contract.
    match unsafe { opt_c_str(p, name) }? {
        Some(s) => Ok(s),
        None => Err(null(name)),
    }
}

/// A NUL-terminated UTF-8 string argument that may be NULL.
///
/// # Safety
/// As [`c_str`].
pub(crate) unsafe fn opt_c_str<'a>(
    p: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, secllama_status> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    let c = unsafe { CStr::from_ptr(p) };
    match c.to_str() {
        Ok(s) => Ok(Some(s)),
        Err(e) => Err(fail(
            secllama_status::InvalidUtf8,
            format_args!(
                "{name} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )),
    }
}

/// Records and returns `SECLLAMA_STATUS_NULL_PARAMETER` for argument `name`.
pub(crate) fn null(name: &str) -> secllama_status {
    fail(
        secllama_status::NullParameter,
        format_args!("{name} is NULL"),
    )
}

/// Borrows a handle argument: `try_ref!(p)` is `&H::Rust` or returns NULL_PARAMETER.
macro_rules! try_ref {
    ($p:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // this handle is NULL or live and not used mutably elsewhere during the call.
        unsafe { $crate::handle::as_ref($p, stringify!($p)) }?
    };
}
pub(crate) use try_ref;

/// Borrows a handle argument mutably.
macro_rules! try_mut {
    ($p:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // this handle is NULL or live and not used by another thread during the call.
        unsafe { $crate::handle::as_mut($p, stringify!($p)) }?
    };
}
pub(crate) use try_mut;

/// An out-parameter: `&mut MaybeUninit<T>` or returns NULL_PARAMETER.
macro_rules! try_out {
    ($p:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // this out-parameter is NULL or valid for writing.
        unsafe { $crate::handle::out($p, stringify!($p)) }?
    };
}
pub(crate) use try_out;

/// A `(pointer, length)` byte argument.
macro_rules! try_bytes {
    ($p:ident, $len:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // a non-NULL pointer is valid for reading `len` bytes during the call.
        unsafe { $crate::handle::bytes($p, $len, stringify!($p)) }?
    };
}
pub(crate) use try_bytes;

/// A NUL-terminated UTF-8 string argument.
macro_rules! try_str {
    ($p:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // a non-NULL string pointer is NUL-terminated and readable during the call.
        unsafe { $crate::handle::c_str($p, stringify!($p)) }?
    };
}
pub(crate) use try_str;

/// A NUL-terminated UTF-8 string argument that may be NULL.
macro_rules! try_opt_str {
    ($p:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // a non-NULL string pointer is NUL-terminated and readable during the call.
        unsafe { $crate::handle::opt_c_str($p, stringify!($p)) }?
    };
}
pub(crate) use try_opt_str;
