//! `secllama_terminal_text_*` through the C ABI, as C calls it: pieces cut inside an escape
//! sequence and inside a UTF-8 character, invalid UTF-8, and NULL arguments.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]
#![allow(unsafe_code, reason = "calling the C ABI as C does")]

use std::ptr;

use secllama_ffi::*;

type Status = secllama_status;

fn empty() -> secllama_buf {
    secllama_buf {
        ptr: ptr::null_mut(),
        len: 0,
    }
}

fn take(mut buf: secllama_buf) -> String {
    let v = if buf.len == 0 {
        Vec::new()
    } else {
        // SAFETY: the library hands out `len` readable bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
    };
    // SAFETY: a buffer the library handed out, freed once.
    unsafe { secllama_buf_free(&mut buf) };
    String::from_utf8(v).unwrap()
}

#[test]
fn pieces_come_out_neutralised_whatever_the_cuts() {
    let mut f = ptr::null_mut();
    // SAFETY: a valid out pointer.
    let status = unsafe { secllama_terminal_text_new(&mut f) };
    assert_eq!(status, Status::Ok);
    let pieces: [&[u8]; 4] = [
        b"osc \x1b]52;c;aGk=",
        b"\x07 c1 \xc2",
        b"\x9b2J \xf0\x9f\xa6",
        b"\x99 bad \xff",
    ];
    let mut shown = String::new();
    for p in pieces {
        let mut out = empty();
        // SAFETY: a live filter, `p` readable for its length, a valid out buffer.
        let status = unsafe { secllama_terminal_text_push(f, p.as_ptr(), p.len(), &mut out) };
        assert_eq!(status, Status::Ok);
        shown += &take(out);
    }
    let mut out = empty();
    // SAFETY: a live filter and a valid out buffer.
    let status = unsafe { secllama_terminal_text_finish(f, &mut out) };
    assert_eq!(status, Status::Ok);
    shown += &take(out);
    assert_eq!(shown, "osc ␛]52;c;aGk=␇ c1 <U+009B>2J 🦙 bad \u{fffd}");
    // SAFETY: the filter is live and not used afterwards.
    unsafe { secllama_terminal_text_free(f) };
}

#[test]
fn null_arguments_are_refused_and_free_accepts_null() {
    let mut out = empty();
    // SAFETY: NULL filter, valid out buffer.
    let status =
        unsafe { secllama_terminal_text_push(ptr::null_mut(), b"x".as_ptr(), 1, &mut out) };
    assert_eq!(status, Status::NullParameter);
    assert!(out.ptr.is_null() && out.len == 0);
    // SAFETY: NULL out pointer.
    let status = unsafe { secllama_terminal_text_new(ptr::null_mut()) };
    assert_eq!(status, Status::NullParameter);
    let mut f = ptr::null_mut();
    // SAFETY: a valid out pointer.
    let status = unsafe { secllama_terminal_text_new(&mut f) };
    assert_eq!(status, Status::Ok);
    // SAFETY: a live filter; NULL with a non-zero length.
    let status = unsafe { secllama_terminal_text_push(f, ptr::null(), 3, &mut out) };
    assert_eq!(status, Status::NullParameter);
    // SAFETY: a live filter, (NULL, 0) is the empty piece.
    let status = unsafe { secllama_terminal_text_push(f, ptr::null(), 0, &mut out) };
    assert_eq!(status, Status::Ok);
    assert_eq!(take(out), "");
    // SAFETY: frees the live filter, then NULL (accepted).
    unsafe {
        secllama_terminal_text_free(f);
        secllama_terminal_text_free(ptr::null_mut());
    }
}
