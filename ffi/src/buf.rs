//! `secllama_buf`: bytes handed to the caller, freed and wiped by `secllama_buf_free`.

use zeroize::Zeroize;

/// Bytes the library hands to the caller: ciphertext, plaintext, serialized keysets, JSON.
///
/// The caller owns the bytes and must release them with `secllama_buf_free`, which overwrites
/// them with zeros first (plaintext and keysets are secrets). `ptr` is NULL when `len` is 0.
/// Functions that fill a `secllama_buf` out-parameter set it to `{NULL, 0}` first, so a buffer
/// can be freed whatever the call returned. JSON and other text is not NUL-terminated: use
/// `len`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct secllama_buf {
    /// The first byte, or NULL when `len` is 0.
    pub ptr: *mut u8,
    /// The number of bytes.
    pub len: usize,
}

impl secllama_buf {
    /// The empty buffer `{NULL, 0}`.
    pub(crate) const EMPTY: secllama_buf = secllama_buf {
        ptr: std::ptr::null_mut(),
        len: 0,
    };

    /// Hands `bytes` to the caller. The allocation given to C is exactly `len` bytes (so
    /// `secllama_buf_free` can rebuild it); if `bytes` had spare capacity, its contents are
    /// copied and the original allocation is wiped before it is released.
    pub(crate) fn from_vec(bytes: Vec<u8>) -> secllama_buf {
        let (ptr, len) = into_c(bytes);
        secllama_buf { ptr, len }
    }

    /// Hands secret bytes to the caller; the `Zeroizing` original is wiped.
    pub(crate) fn from_secret(bytes: zeroize::Zeroizing<Vec<u8>>) -> secllama_buf {
        let copy = bytes.to_vec();
        drop(bytes);
        secllama_buf::from_vec(copy)
    }
}

/// Hands `v` to C as a boxed slice of exactly `len` elements (NULL when empty), so [`free_c`]
/// can rebuild it. If `v` had spare capacity, its elements are copied and the original
/// allocation is wiped (the whole capacity) before it is released.
pub(crate) fn into_c<T: Copy + Zeroize>(mut v: Vec<T>) -> (*mut T, usize) {
    if v.is_empty() {
        v.zeroize();
        return (std::ptr::null_mut(), 0);
    }
    let boxed: Box<[T]> = if v.len() == v.capacity() {
        v.into_boxed_slice()
    } else {
        let copy: Box<[T]> = Box::from(&v[..]);
        v.zeroize();
        copy
    };
    let len = boxed.len();
    (Box::into_raw(boxed).cast::<T>(), len)
}

/// Rebuilds, wipes and frees what [`into_c`] handed out.
///
/// # Safety
/// `ptr`/`len` came from [`into_c`] unchanged and are freed once, or `ptr` is NULL.
pub(crate) unsafe fn free_c<T: Zeroize>(ptr: *mut T, len: usize) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: per the contract this is the boxed slice `into_c` leaked, rebuilt once.
    let mut boxed = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) };
    boxed.zeroize();
}

/// Overwrites the bytes of `*buf` with zeros, frees them, and sets `*buf` to `{NULL, 0}`.
///
/// Accepts NULL, and a buffer that is already `{NULL, 0}` (so calling it twice on the same
/// `secllama_buf` is harmless).
///
/// # Safety
/// `buf` is NULL or points to a `secllama_buf` that this library filled in and whose `ptr`
/// and `len` the caller has not changed (or that is `{NULL, 0}`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_buf_free(buf: *mut secllama_buf) {
    crate::panic::ffi_boundary_void!({
        // SAFETY: per the `# Safety` section, `buf` is NULL or a valid `secllama_buf`.
        let Some(b) = (unsafe { buf.as_mut() }) else {
            return;
        };
        // SAFETY: `ptr`/`len` came from `into_c` (through `from_vec`) and were not changed
        // (contract), or `ptr` is NULL.
        unsafe { free_c(b.ptr, b.len) };
        *b = secllama_buf::EMPTY;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_round_trips_through_free_and_is_reset_to_empty() {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"secret");
        let mut b = secllama_buf::from_vec(v);
        assert_eq!(b.len, 6);
        // SAFETY: b was just made by from_vec.
        let bytes = unsafe { std::slice::from_raw_parts(b.ptr, b.len) };
        assert_eq!(bytes, b"secret");
        // SAFETY: b was filled by this library.
        unsafe { secllama_buf_free(&mut b) };
        assert!(b.ptr.is_null());
        assert_eq!(b.len, 0);
        // Twice, and NULL, are harmless.
        // SAFETY: b is {NULL, 0}.
        unsafe { secllama_buf_free(&mut b) };
        // SAFETY: NULL is accepted.
        unsafe { secllama_buf_free(std::ptr::null_mut()) };
    }

    #[test]
    fn an_empty_vector_becomes_the_null_buffer() {
        let b = secllama_buf::from_vec(Vec::with_capacity(10));
        assert!(b.ptr.is_null());
        assert_eq!(b.len, 0);
    }
}
