//! The bad-input campaign at the C boundary: NULL pointers with lengths, truncated and
//! oversized buffers, wrong versions, invalid UTF-8 in C strings, each with the exact status a
//! C caller gets. Nothing may panic (a caught panic would be `SECLLAMA_STATUS_PANIC`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]
#![allow(unsafe_code, reason = "calling the C ABI as C does")]

use std::ffi::{CStr, c_char};
use std::ptr;

use secllama_ffi::*;

type Status = secllama_status;

fn empty() -> secllama_buf {
    secllama_buf {
        ptr: ptr::null_mut(),
        len: 0,
    }
}

fn take(mut buf: secllama_buf) -> Vec<u8> {
    let v = if buf.len == 0 {
        Vec::new()
    } else {
        // SAFETY: the library hands out `len` readable bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
    };
    // SAFETY: a buffer the library handed out, freed once.
    unsafe { secllama_buf_free(&mut buf) };
    v
}

fn generate() -> *mut secllama_keyset {
    let mut ks = ptr::null_mut();
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { secllama_keyset_generate(&mut ks) }, Status::Ok);
    ks
}

fn keyset_bytes(ks: *const secllama_keyset) -> Vec<u8> {
    let mut out = empty();
    // SAFETY: live keyset, valid out pointer.
    let st = unsafe { secllama_keyset_to_bytes(ks, &mut out) };
    assert_eq!(st, Status::Ok);
    take(out)
}

fn from_bytes(b: &[u8]) -> Status {
    let mut ks = ptr::null_mut();
    // SAFETY: valid buffer and out pointer.
    let st = unsafe { secllama_keyset_from_bytes(b.as_ptr(), b.len(), &mut ks) };
    if st != Status::Ok {
        assert!(ks.is_null(), "an error left a handle behind");
    }
    // SAFETY: NULL or a keyset made above.
    unsafe { secllama_keyset_free(ks) };
    st
}

fn open(ks: *const secllama_keyset, env: &[u8]) -> Status {
    let mut out = empty();
    // SAFETY: live keyset, valid buffers.
    let st = unsafe { secllama_keyset_open(ks, env.as_ptr(), env.len(), ptr::null(), 0, &mut out) };
    let pt = take(out);
    if st != Status::Ok {
        assert!(pt.is_empty(), "an error handed out plaintext");
    }
    st
}

fn password_open(pw: &[u8], env: &[u8]) -> Status {
    let mut out = empty();
    // SAFETY: valid buffers.
    let st = unsafe {
        secllama_password_open(
            pw.as_ptr(),
            pw.len(),
            env.as_ptr(),
            env.len(),
            ptr::null(),
            0,
            &mut out,
        )
    };
    assert!(take(out).is_empty() || st == Status::Ok);
    st
}

fn last_error() -> String {
    let mut len = 0;
    // SAFETY: NULL with length 0 asks for the length.
    let _ = unsafe { secllama_last_error(ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u8; len + 1];
    // SAFETY: `len + 1` writable bytes.
    let st = unsafe { secllama_last_error(buf.as_mut_ptr().cast::<c_char>(), buf.len(), &mut len) };
    assert_eq!(st, Status::Ok);
    CStr::from_bytes_until_nul(&buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn every_truncation_of_a_keyset_is_malformed_and_oversized_counts_are_refused() {
    let ks = generate();
    let good = keyset_bytes(ks);
    // SAFETY: the keyset made above, freed once.
    unsafe { secllama_keyset_free(ks) };
    for len in 0..good.len() {
        assert_eq!(from_bytes(&good[..len]), Status::Malformed, "length {len}");
    }
    assert_eq!(from_bytes(&good), Status::Ok);
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(from_bytes(&trailing), Status::Malformed);
    let mut version = good.clone();
    version[4] = 9;
    assert_eq!(from_bytes(&version), Status::UnsupportedVersion);
    // A count field claiming 65,535 keys with nothing behind it.
    let mut count = good[..11].to_vec();
    count[9..11].copy_from_slice(&u16::MAX.to_be_bytes());
    assert_eq!(from_bytes(&count), Status::KeyTooMany);
    assert_eq!(from_bytes(&vec![0u8; 16 << 20]), Status::InputTooLarge);
}

#[test]
fn every_truncation_of_an_envelope_gets_the_exact_status() {
    let ks = generate();
    let mut env = empty();
    // SAFETY: live keyset, valid buffers.
    let st = unsafe { secllama_keyset_seal(ks, b"hello".as_ptr(), 5, ptr::null(), 0, &mut env) };
    assert_eq!(st, Status::Ok);
    let env = take(env);
    for len in 0..env.len() {
        let want = if len < 33 {
            Status::Malformed
        } else {
            Status::AuthenticationFailed
        };
        assert_eq!(open(ks, &env[..len]), want, "length {len}");
    }
    assert_eq!(open(ks, &env), Status::Ok);
    let mut other_id = env.clone();
    other_id[1] ^= 0xff;
    assert_eq!(open(ks, &other_id), Status::KeyUnknown);
    let mut version = env.clone();
    version[0] = 0x7f;
    assert_eq!(open(ks, &version), Status::UnsupportedVersion);
    // SAFETY: the keyset made above, freed once.
    unsafe { secllama_keyset_free(ks) };
}

#[test]
fn password_envelopes_are_refused_before_any_key_derivation() {
    let header = |version: u8, iterations: u32| {
        let mut e = vec![version];
        e.extend_from_slice(&iterations.to_be_bytes());
        e.extend_from_slice(&[0; 28 + 16]);
        e
    };
    let cases: Vec<(&str, &[u8], Vec<u8>, Status)> = vec![
        ("empty envelope", b"pw", vec![], Status::Malformed),
        (
            "empty password",
            b"",
            header(2, 600_000),
            Status::EmptyPassword,
        ),
        (
            "version 9",
            b"pw",
            header(9, 600_000),
            Status::UnsupportedVersion,
        ),
        (
            "a keyset envelope",
            b"pw",
            header(1, 600_000),
            Status::Malformed,
        ),
        (
            "u32::MAX iterations",
            b"pw",
            header(2, u32::MAX),
            Status::InvalidIterations,
        ),
        (
            "1 iteration",
            b"pw",
            header(2, 1),
            Status::InvalidIterations,
        ),
        (
            "truncated header",
            b"pw",
            header(2, 600_000)[..40].to_vec(),
            Status::Malformed,
        ),
    ];
    for (what, pw, env, want) in cases {
        assert_eq!(password_open(pw, &env), want, "{what}");
        assert!(!last_error().is_empty(), "{what}: no message");
    }
    let mut out = empty();
    // SAFETY: valid buffers.
    let st = unsafe {
        secllama_password_seal(
            b"pw".as_ptr(),
            2,
            1,
            ptr::null(),
            0,
            ptr::null(),
            0,
            &mut out,
        )
    };
    assert_eq!(st, Status::InvalidIterations);
    assert!(take(out).is_empty());
}

#[test]
fn null_data_with_a_length_is_a_null_parameter_never_a_read() {
    let ks = generate();
    let mut out = empty();
    // SAFETY: NULL pointers are documented inputs the library must check.
    unsafe {
        assert_eq!(
            secllama_keyset_open(ks, ptr::null(), 40, ptr::null(), 0, &mut out),
            Status::NullParameter
        );
        assert_eq!(
            secllama_keyset_seal(ks, b"x".as_ptr(), 1, ptr::null(), 1, &mut out),
            Status::NullParameter
        );
        assert_eq!(
            secllama_keyset_seal(ptr::null(), b"x".as_ptr(), 1, ptr::null(), 0, &mut out),
            Status::NullParameter
        );
        assert_eq!(
            secllama_keyset_seal(ks, b"x".as_ptr(), 1, ptr::null(), 0, ptr::null_mut()),
            Status::NullParameter
        );
        let mut h = ptr::null_mut();
        assert_eq!(
            secllama_keyset_from_bytes(ptr::null(), usize::MAX, &mut h),
            Status::NullParameter
        );
        secllama_keyset_free(ks);
        // Every free accepts NULL.
        secllama_keyset_free(ptr::null_mut());
        secllama_buf_free(ptr::null_mut());
        secllama_runner_config_free(ptr::null_mut());
        secllama_keystore_free(ptr::null_mut());
    }
    assert_eq!(take(out).len(), 0);
}

#[test]
fn c_strings_with_invalid_utf8_or_bad_names_get_the_exact_status() {
    let mut cfg = ptr::null_mut();
    // SAFETY: NUL-terminated strings and valid out pointers throughout.
    unsafe {
        assert_eq!(
            secllama_runner_config_new(c"/m/\xff.gguf".as_ptr(), &mut cfg),
            Status::InvalidUtf8
        );
        assert!(cfg.is_null());
        assert_eq!(
            secllama_runner_config_new(c"".as_ptr(), &mut cfg),
            Status::RunnerConfig
        );
        assert_eq!(
            secllama_runner_config_new(ptr::null(), &mut cfg),
            Status::NullParameter
        );

        let mut store = ptr::null_mut();
        let cases: Vec<(&CStr, Option<&CStr>, Status)> = vec![
            (c"a/b", None, Status::KeystoreInvalidService),
            (c"", None, Status::KeystoreInvalidService),
            (c"..", None, Status::KeystoreInvalidService),
            (c"caf\xc3\xa9", None, Status::KeystoreInvalidService),
            (c"\xff", None, Status::InvalidUtf8),
            (c"ok", Some(c"file"), Status::KeystoreUnknownBackend),
            (c"ok", Some(c"keyutils\xff"), Status::InvalidUtf8),
        ];
        for (service, backend, want) in cases {
            let b = backend.map_or(ptr::null(), CStr::as_ptr);
            assert_eq!(
                secllama_keystore_open(service.as_ptr(), b, &mut store),
                want,
                "{service:?} {backend:?}"
            );
            assert!(store.is_null());
        }
    }
}

#[test]
fn a_too_small_error_buffer_gets_the_length_and_nothing_else() {
    assert_eq!(from_bytes(b"nope"), Status::Malformed);
    let mut len = 0;
    let mut small = [0x55u8; 4];
    // SAFETY: 4 writable bytes.
    let st = unsafe { secllama_last_error(small.as_mut_ptr().cast::<c_char>(), 4, &mut len) };
    assert_eq!(st, Status::BufferTooSmall);
    assert!(len > 4);
    assert_eq!(small, [0x55; 4], "nothing written into a too-small buffer");
    let msg = last_error();
    assert!(msg.starts_with("malformed input"), "{msg}");
    // SAFETY: NULL with a non-zero length is refused.
    let st = unsafe { secllama_last_error(ptr::null_mut(), 8, &mut len) };
    assert_eq!(st, Status::NullParameter);
}

/// Spawns with `model` (and a runner path that is a regular file, so the model checks decide);
/// a spawn that has not returned after 60 s is a hang and fails the test.
fn spawn_status(model: &std::ffi::CString) -> (Status, String) {
    let model = model.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut cfg = ptr::null_mut();
        let mut runner = ptr::null_mut();
        // SAFETY: NUL-terminated strings, valid out pointers, handles freed once.
        let got = unsafe {
            assert_eq!(
                secllama_runner_config_new(model.as_ptr(), &mut cfg),
                Status::Ok
            );
            assert_eq!(
                secllama_runner_config_set_runner_path(cfg, c"/bin/sh".as_ptr()),
                Status::Ok
            );
            let st = secllama_runner_spawn(cfg, None, ptr::null_mut(), &mut runner);
            assert!(runner.is_null(), "an error left a runner behind");
            secllama_runner_config_free(cfg);
            (st, last_error())
        };
        let _ = tx.send(got);
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("secllama_runner_spawn blocked for 60 s"))
}

#[test]
fn model_paths_that_are_missing_or_not_regular_files_get_the_exact_status_without_blocking() {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let tmp = std::env::temp_dir().join(format!("secllama-ffi-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let dir = std::fs::canonicalize(&tmp).unwrap();
    let fifo = dir.join("fifo.gguf");
    let _ = std::fs::remove_file(&fifo);
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let to_fifo = dir.join("to-fifo.gguf");
    let dangling = dir.join("dangling.gguf");
    for (link, target) in [(&to_fifo, fifo.clone()), (&dangling, dir.join("nowhere"))] {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(target, link).unwrap();
    }
    let c = |p: &std::path::Path| CString::new(p.as_os_str().as_bytes()).unwrap();
    let cases: Vec<(CString, Status, String)> = vec![
        (
            c(&dir.join("missing.gguf")),
            Status::RunnerModelNotFound,
            format!("model file {} cannot be read: No such file or directory (os error 2)", dir.join("missing.gguf").display()),
        ),
        (
            c"relative/missing.gguf".to_owned(),
            Status::RunnerModelNotFound,
            "model file relative/missing.gguf cannot be read: No such file or directory (os error 2)".to_owned(),
        ),
        (
            c(&dangling),
            Status::RunnerModelNotFound,
            format!("model file {} cannot be read: No such file or directory (os error 2)", dangling.display()),
        ),
        (
            c(&dir),
            Status::RunnerInvalidModel,
            format!("not a loadable GGUF model: {} is not a regular file", dir.display()),
        ),
        (
            c(&fifo),
            Status::RunnerInvalidModel,
            format!("not a loadable GGUF model: {} is not a regular file", fifo.display()),
        ),
        (
            c(&to_fifo),
            Status::RunnerInvalidModel,
            format!("not a loadable GGUF model: {} is not a regular file", fifo.display()),
        ),
        (
            c"/dev/zero".to_owned(),
            Status::RunnerInvalidModel,
            "not a loadable GGUF model: /dev/zero is not a regular file".to_owned(),
        ),
    ];
    for (model, want, message) in cases {
        let (st, msg) = spawn_status(&model);
        assert_eq!(st, want, "{model:?}: {msg}");
        assert_eq!(msg, message, "{model:?}");
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
