//! Opaque handles and argument checks.
//!
//! Each C handle type (`secllama_keyset`, ...) is an opaque struct (`_private: [u8; 0]`, so C
//! can only hold pointers to it) tied to its Rust type by [`Handle`]. Every handle is a
//! `Box<Slot<H::Rust>>` made by [`into_raw`] and released by the type's `*_free` through
//! [`free`]; the [`Slot`] counts the calls using it, so re-entry from a callback and a free
//! while in use are refused with `SECLLAMA_STATUS_BUSY` instead of aliasing or freeing live
//! memory.
//!
//! The helpers return `Err(status)` after recording the last error, so exported bodies use
//! `?`; the `try_*!` macros wrap them with the one `SAFETY` argument every exported function
//! shares: its `# Safety` section makes the caller guarantee that each pointer is NULL or valid
//! as documented.

use std::cell::UnsafeCell;
use std::ffi::{CStr, c_char};
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::fail;
use crate::status::secllama_status;

/// Ties an opaque C type to the Rust value its pointers own (always through a `Box<Slot<_>>`).
pub(crate) trait Handle: Sized {
    /// The Rust value behind the handle.
    type Rust;
    /// The handle's C type name, for messages.
    const NAME: &'static str;
}

/// What a handle pointer points to: the value and a count of the calls using it.
///
/// The count makes misuse a status instead of undefined behaviour: a call that needs the value
/// exclusively (a mutation, a generation, `*_free`) while another call uses it (re-entry from a
/// callback, another thread) gets `SECLLAMA_STATUS_BUSY`, and so does any call while an
/// exclusive one runs. It is a try-lock: nothing ever waits.
pub(crate) struct Slot<T> {
    users: AtomicUsize,
    value: UnsafeCell<T>,
}

/// `users` while one call holds the value exclusively.
const EXCLUSIVE: usize = usize::MAX;

/// Shared use of a handle's value for the length of one call.
pub(crate) struct Shared<'a, T> {
    slot: &'a Slot<T>,
}

impl<T> Deref for Shared<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: while this guard lives `users` is neither 0 nor EXCLUSIVE, so no `&mut T`
        // exists and the slot is not freed.
        unsafe { &*self.slot.value.get() }
    }
}

impl<T> Drop for Shared<'_, T> {
    fn drop(&mut self) {
        self.slot.users.fetch_sub(1, Ordering::Release);
    }
}

/// Exclusive use of a handle's value for the length of one call.
pub(crate) struct Exclusive<'a, T> {
    slot: &'a Slot<T>,
}

impl<T> Deref for Exclusive<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: while this guard lives `users` is EXCLUSIVE and this guard is its only owner.
        unsafe { &*self.slot.value.get() }
    }
}

impl<T> DerefMut for Exclusive<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as `deref`: no other reference to the value exists while the guard lives.
        unsafe { &mut *self.slot.value.get() }
    }
}

impl<T> Drop for Exclusive<'_, T> {
    fn drop(&mut self) {
        self.slot.users.store(0, Ordering::Release);
    }
}

impl<T> Slot<T> {
    fn shared<H: Handle>(&self) -> Result<Shared<'_, T>, secllama_status> {
        let mut n = self.users.load(Ordering::Acquire);
        loop {
            if n >= EXCLUSIVE - 1 {
                return Err(busy::<H>());
            }
            match self
                .users
                .compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Ok(Shared { slot: self }),
                Err(now) => n = now,
            }
        }
    }

    fn exclusive<H: Handle>(&self) -> Result<Exclusive<'_, T>, secllama_status> {
        match self
            .users
            .compare_exchange(0, EXCLUSIVE, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) => Ok(Exclusive { slot: self }),
            Err(_) => Err(busy::<H>()),
        }
    }
}

/// Records and returns `SECLLAMA_STATUS_BUSY` for handle type `H`.
fn busy<H: Handle>() -> secllama_status {
    fail(
        secllama_status::Busy,
        format_args!(
            "the {} is in use by another call (a callback of that call, or another thread); \
             try again after that call returns",
            H::NAME
        ),
    )
}

/// Moves `value` to the heap and returns it as a handle owned by the caller.
pub(crate) fn into_raw<H: Handle>(value: H::Rust) -> *mut H {
    let slot = Slot {
        users: AtomicUsize::new(0),
        value: UnsafeCell::new(value),
    };
    Box::into_raw(Box::new(slot)).cast::<H>()
}

/// The slot behind a handle.
///
/// # Safety
/// `p` is NULL or came from [`into_raw`] for the same `H` and has not been freed.
unsafe fn slot<'a, H: Handle>(
    p: *const H,
    name: &str,
) -> Result<&'a Slot<H::Rust>, secllama_status> {
    // SAFETY: per this function's contract, a non-NULL `p` points to a live, aligned slot; its
    // value is only reached through the guards.
    match unsafe { p.cast::<Slot<H::Rust>>().as_ref() } {
        Some(r) => Ok(r),
        None => Err(null(name)),
    }
}

/// Uses the value behind a handle, shared with other calls that only read it.
///
/// # Safety
/// `p` is NULL or came from [`into_raw`] for the same `H` and is not freed during `'a`.
pub(crate) unsafe fn as_ref<'a, H: Handle>(
    p: *const H,
    name: &str,
) -> Result<Shared<'a, H::Rust>, secllama_status>
where
    H::Rust: Sync,
{
    // SAFETY: forwarded contract.
    unsafe { slot(p, name) }?.shared::<H>()
}

/// Uses the value behind a handle exclusively (`SECLLAMA_STATUS_BUSY` while another call uses
/// it).
///
/// # Safety
/// As [`as_ref`].
pub(crate) unsafe fn as_mut<'a, H: Handle>(
    p: *mut H,
    name: &str,
) -> Result<Exclusive<'a, H::Rust>, secllama_status>
where
    H::Rust: Send,
{
    // SAFETY: forwarded contract.
    unsafe { slot(p, name) }?.exclusive::<H>()
}

/// Drops the value behind a handle; NULL is ignored. A handle in use by another call (a
/// callback of that call freeing it, another thread) is left alone: `SECLLAMA_STATUS_BUSY`.
///
/// # Safety
/// `p` is NULL or came from [`into_raw`] for the same `H` and has not been freed; after
/// `SECLLAMA_STATUS_OK` it is not used again.
pub(crate) unsafe fn free<H: Handle>(p: *mut H) -> Result<(), secllama_status> {
    if p.is_null() {
        return Ok(());
    }
    // SAFETY: per this function's contract, `p` is a live slot.
    let guard = unsafe { slot(p, "handle") }?.exclusive::<H>()?;
    // The value stays exclusively ours: nothing else may start using it (the caller promises
    // not to use a handle it frees), and the running calls have all returned.
    std::mem::forget(guard);
    // SAFETY: per this function's contract, `p` is the pointer of a live `Box<Slot<_>>`, and
    // no guard on it remains.
    drop(unsafe { Box::from_raw(p.cast::<Slot<H::Rust>>()) });
    Ok(())
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

/// Uses a handle argument shared: `try_ref!(p)` derefs to `H::Rust`, or returns
/// NULL_PARAMETER or BUSY.
macro_rules! try_ref {
    ($p:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // this handle is NULL or live and not freed during the call.
        unsafe { $crate::handle::as_ref($p, stringify!($p)) }?
    };
}
pub(crate) use try_ref;

/// Uses a handle argument exclusively (BUSY while another call uses it).
macro_rules! try_mut {
    ($p:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // this handle is NULL or live and not freed during the call.
        unsafe { $crate::handle::as_mut($p, stringify!($p)) }?
    };
}
pub(crate) use try_mut;

/// The body of a `*_free` function: frees the handle argument unless it is in use.
macro_rules! try_free {
    ($p:ident) => {
        // SAFETY: the exported function's `# Safety` section makes its caller guarantee that
        // this handle is NULL or live and not used after a successful free.
        unsafe { $crate::handle::free($p) }
    };
}
pub(crate) use try_free;

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
