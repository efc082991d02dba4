//! The C ABI fed arbitrary buffers, called from Rust exactly as C would call it: keyset
//! parsing, envelope open/seal, password envelope open (header-checked first so no input runs
//! PBKDF2), runner configuration strings. No call may panic (a caught panic returns
//! `SECLLAMA_STATUS_PANIC`, which is a failure here); every status maps to the Rust error;
//! every buffer handed out is freed with the library's own free function (ASan checks it).
#![no_main]

use std::ffi::{CString, c_char};
use std::ptr;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use secllama_crypto::Keyset;
use secllama_crypto::internal::parse_password_envelope;
use secllama_ffi::*;
use secllama_fuzz::{fixed_keyset, fixed_keyset_bytes};

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    KeysetBytes(&'a [u8]),
    Open { envelope: &'a [u8], aad: &'a [u8] },
    SealOpen { plaintext: &'a [u8], aad: &'a [u8] },
    PasswordOpen { password: &'a [u8], envelope: &'a [u8] },
    ConfigStrings { model: &'a [u8], sha256: &'a [u8], runner: &'a [u8] },
    NullsWithLengths { len: usize },
}

struct Handle(*mut secllama_keyset);
// SAFETY: the keyset handle is only read through the thread-safe C API (seal/open take a
// const pointer; Keyset is Sync).
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

fn keyset() -> *const secllama_keyset {
    static KS: OnceLock<Handle> = OnceLock::new();
    KS.get_or_init(|| {
        let b = fixed_keyset_bytes();
        let mut out = ptr::null_mut();
        // SAFETY: valid buffer and out pointer.
        let st = unsafe { secllama_keyset_from_bytes(b.as_ptr(), b.len(), &mut out) };
        assert_eq!(st, secllama_status::Ok);
        Handle(out)
    })
    .0
}

fn take(buf: &mut secllama_buf) -> Vec<u8> {
    let v = if buf.len == 0 {
        assert!(buf.ptr.is_null());
        Vec::new()
    } else {
        // SAFETY: the library hands out `len` readable bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
    };
    // SAFETY: a buffer the library handed out, freed once.
    unsafe { secllama_buf_free(buf) };
    v
}

fn last_error() -> String {
    let mut len = 0usize;
    // SAFETY: NULL buffer with length 0 asks for the length.
    let _ = unsafe { secllama_last_error(ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u8; len + 1];
    // SAFETY: `buf` has `len + 1` writable bytes.
    let st = unsafe { secllama_last_error(buf.as_mut_ptr().cast::<c_char>(), buf.len(), &mut len) };
    assert_eq!(st, secllama_status::Ok);
    assert_eq!(buf[len], 0);
    String::from_utf8(buf[..len].to_vec()).expect("messages are UTF-8")
}

/// A NUL-terminated copy of `b` cut at its first NUL (what a C caller can pass).
fn c_string(b: &[u8]) -> CString {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    CString::new(&b[..end]).expect("no interior NUL")
}

fuzz_target!(|input: Input<'_>| {
    match input {
        Input::KeysetBytes(b) => {
            let mut ks = ptr::null_mut();
            // SAFETY: valid buffer and out pointer.
            let st = unsafe { secllama_keyset_from_bytes(b.as_ptr(), b.len(), &mut ks) };
            assert_ne!(st, secllama_status::Panic);
            assert_eq!(st == secllama_status::Ok, Keyset::from_bytes(b).is_ok());
            if st == secllama_status::Ok {
                let mut out = secllama_buf { ptr: ptr::null_mut(), len: 0 };
                // SAFETY: live keyset, valid out pointer.
                assert_eq!(unsafe { secllama_keyset_to_bytes(ks, &mut out) }, secllama_status::Ok);
                assert_eq!(take(&mut out), b);
            } else {
                assert!(ks.is_null());
                assert!(!last_error().is_empty());
            }
            // SAFETY: NULL or the keyset made above, freed once.
            unsafe { secllama_keyset_free(ks) };
        }
        Input::Open { envelope, aad } => {
            let mut out = secllama_buf { ptr: ptr::null_mut(), len: 0 };
            // SAFETY: live keyset, valid buffers.
            let st = unsafe {
                secllama_keyset_open(keyset(), envelope.as_ptr(), envelope.len(), aad.as_ptr(), aad.len(), &mut out)
            };
            assert_ne!(st, secllama_status::Panic);
            let rust = fixed_keyset().open(envelope, aad);
            assert_eq!(st == secllama_status::Ok, rust.is_ok());
            let got = take(&mut out);
            if let Ok(pt) = rust {
                assert_eq!(got, &pt[..]);
            } else {
                assert!(got.is_empty());
            }
        }
        Input::SealOpen { plaintext, aad } => {
            let mut env = secllama_buf { ptr: ptr::null_mut(), len: 0 };
            // SAFETY: live keyset, valid buffers.
            let st = unsafe {
                secllama_keyset_seal(keyset(), plaintext.as_ptr(), plaintext.len(), aad.as_ptr(), aad.len(), &mut env)
            };
            assert_eq!(st, secllama_status::Ok);
            let env = take(&mut env);
            let mut pt = secllama_buf { ptr: ptr::null_mut(), len: 0 };
            // SAFETY: as above.
            let st = unsafe {
                secllama_keyset_open(keyset(), env.as_ptr(), env.len(), aad.as_ptr(), aad.len(), &mut pt)
            };
            assert_eq!(st, secllama_status::Ok);
            assert_eq!(take(&mut pt), plaintext);
        }
        Input::PasswordOpen { password, envelope } => {
            // Only inputs the header parser refuses (or an empty password) reach the C call:
            // an accepted header would run >= 100,000 PBKDF2 rounds.
            if !password.is_empty() && parse_password_envelope(envelope).is_ok() {
                return;
            }
            let mut out = secllama_buf { ptr: ptr::null_mut(), len: 0 };
            // SAFETY: valid buffers.
            let st = unsafe {
                secllama_password_open(
                    password.as_ptr(), password.len(), envelope.as_ptr(), envelope.len(),
                    ptr::null(), 0, &mut out,
                )
            };
            assert_ne!(st, secllama_status::Ok);
            assert_ne!(st, secllama_status::Panic);
            assert!(take(&mut out).is_empty());
        }
        Input::ConfigStrings { model, sha256, runner } => {
            let (m, s, r) = (c_string(model), c_string(sha256), c_string(runner));
            let mut cfg = ptr::null_mut();
            // SAFETY: NUL-terminated strings, valid out pointer.
            let st = unsafe { secllama_runner_config_new(m.as_ptr(), &mut cfg) };
            assert_ne!(st, secllama_status::Panic);
            let utf8 = std::str::from_utf8(m.as_bytes()).is_ok();
            if !utf8 {
                assert_eq!(st, secllama_status::InvalidUtf8);
            }
            if st == secllama_status::Ok {
                // SAFETY: live config, NUL-terminated strings.
                let st = unsafe { secllama_runner_config_set_sha256(cfg, s.as_ptr()) };
                assert_ne!(st, secllama_status::Panic);
                // SAFETY: as above.
                let st = unsafe { secllama_runner_config_set_runner_path(cfg, r.as_ptr()) };
                assert_ne!(st, secllama_status::Panic);
            } else {
                assert!(cfg.is_null());
            }
            // SAFETY: NULL or the config made above, freed once.
            unsafe { secllama_runner_config_free(cfg) };
        }
        Input::NullsWithLengths { len } => {
            // NULL data with a non-zero length is refused, never dereferenced.
            let mut out = secllama_buf { ptr: ptr::null_mut(), len: 0 };
            let len = len.max(1);
            // SAFETY: NULL pointers are documented inputs; the library must check them.
            let st = unsafe { secllama_keyset_open(keyset(), ptr::null(), len, ptr::null(), 0, &mut out) };
            assert_eq!(st, secllama_status::NullParameter);
            let mut ks = ptr::null_mut();
            // SAFETY: as above.
            let st = unsafe { secllama_keyset_from_bytes(ptr::null(), len, &mut ks) };
            assert_eq!(st, secllama_status::NullParameter);
            assert!(ks.is_null());
            // SAFETY: as above.
            let st = unsafe { secllama_keyset_seal(keyset(), ptr::null(), 0, ptr::null(), 0, ptr::null_mut()) };
            assert_eq!(st, secllama_status::NullParameter);
        }
    }
});
