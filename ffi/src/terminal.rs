//! `secllama_terminal_text`: model output made safe to print on a terminal
//! (`secllama_runner::TerminalText`).

use secllama_runner::TerminalText;

use crate::buf::secllama_buf;
use crate::handle::{Handle, into_raw, try_bytes, try_free, try_mut, try_out};
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

/// A filter for printing untrusted model text on a terminal. Recommended whenever a program
/// prints runner output to a terminal: the runner may be hostile, and a terminal obeys escape
/// sequences (OSC 52 writes the clipboard, CSI moves the cursor, ...).
///
/// It keeps printable text, `\n` and `\t`, and replaces every other control visibly: C0
/// controls and DEL as control pictures (ESC as U+241B), C1 controls (U+0080..U+009F) and
/// bidi controls as `<U+009B>`, bytes that are not UTF-8 as U+FFFD. It is stateful: push the
/// pieces in order, then call `secllama_terminal_text_finish`. Made by
/// `secllama_terminal_text_new`, released by `secllama_terminal_text_free`; one thread at a
/// time.
pub struct secllama_terminal_text {
    _private: [u8; 0],
}

impl Handle for secllama_terminal_text {
    type Rust = TerminalText;
    const NAME: &'static str = "terminal text filter";
}

/// Makes a filter with nothing pending.
///
/// On success `*out_filter` is a new filter owned by the caller: release it with
/// `secllama_terminal_text_free`. On error it is set to NULL.
///
/// # Safety
/// `out_filter` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_terminal_text_new(
    out_filter: *mut *mut secllama_terminal_text,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_filter);
        out.write(std::ptr::null_mut());
        out.write(into_raw(TerminalText::new()));
        Ok(())
    })
}

/// Filters one piece (any bytes; an incomplete UTF-8 character at its end waits for the next
/// piece). On success `*out_text` holds UTF-8 text safe to print, owned by the caller: release
/// it with `secllama_buf_free`. It may be empty; it is not NUL-terminated.
///
/// # Safety
/// `filter` is NULL or a live filter not used by another thread during the call; `piece` is
/// NULL (only with `piece_len` 0) or valid for reading `piece_len` bytes; `out_text` is NULL
/// or valid for writing a `secllama_buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_terminal_text_push(
    filter: *mut secllama_terminal_text,
    piece: *const u8,
    piece_len: usize,
    out_text: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_text);
        out.write(secllama_buf::EMPTY);
        let mut f = try_mut!(filter);
        let piece = try_bytes!(piece, piece_len);
        out.write(secllama_buf::from_vec(f.push(piece).into_bytes()));
        Ok(())
    })
}

/// Ends the text: `*out_text` gets U+FFFD if an incomplete character was left pending, else
/// nothing. The filter can then start a new text. Release `*out_text` with
/// `secllama_buf_free`.
///
/// # Safety
/// As `secllama_terminal_text_push`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_terminal_text_finish(
    filter: *mut secllama_terminal_text,
    out_text: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_text);
        out.write(secllama_buf::EMPTY);
        let mut f = try_mut!(filter);
        out.write(secllama_buf::from_vec(f.finish().into_bytes()));
        Ok(())
    })
}

/// Frees a filter. Accepts NULL.
///
/// Returns `SECLLAMA_STATUS_BUSY`, freeing nothing, while a call on the handle is running
/// (another thread): free it after that call returns.
///
/// # Safety
/// `filter` is NULL or a live filter that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_terminal_text_free(
    filter: *mut secllama_terminal_text,
) -> secllama_status {
    ffi_boundary!({ try_free!(filter) })
}
