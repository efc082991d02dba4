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
    pub(crate) fn from_vec(mut bytes: Vec<u8>) -> secllama_buf {
        if bytes.is_empty() {
            bytes.zeroize();
            return secllama_buf::EMPTY;
        }
        let boxed: Box<[u8]> = if bytes.len() == bytes.capacity() {
            bytes.into_boxed_slice()
        } else {
            let copy: Box<[u8]> = Box::from(&bytes[..]);
            // Wipes the whole capacity, not only `len` bytes.
            bytes.zeroize();
            copy
        };
        let len = boxed.len();
        secllama_buf {
            ptr: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }

    /// Hands secret bytes to the caller; the `Zeroizing` original is wiped.
    pub(crate) fn from_secret(bytes: zeroize::Zeroizing<Vec<u8>>) -> secllama_buf {
        let copy = bytes.to_vec();
        drop(bytes);
        secllama_buf::from_vec(copy)
    }
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
        if !b.ptr.is_null() {
            let slice = std::ptr::slice_from_raw_parts_mut(b.ptr, b.len);
            // SAFETY: `ptr`/`len` came from `Box::<[u8]>::into_raw` in `from_vec` and were not
            // changed (contract), so this rebuilds that box exactly once.
            let mut boxed = unsafe { Box::from_raw(slice) };
            boxed.zeroize();
            drop(boxed);
        }
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
