//! The panic boundary: no Rust panic ever unwinds into C.
//!
//! Every exported function's body runs inside [`ffi_boundary!`] (or [`ffi_boundary_void!`] for
//! the `*_free` functions). The body is a closure returning `Result<(), secllama_status>`, so the
//! early-return macros of [`crate::handle`] can use `?`. A caught panic becomes
//! `SECLLAMA_STATUS_PANIC` with a last-error message saying it is a bug.

use std::any::Any;

use crate::status::secllama_status;

/// Runs an exported function's body, turning `Ok(())` into `SECLLAMA_STATUS_OK`, `Err(status)`
/// into `status`, and a panic into `SECLLAMA_STATUS_PANIC`.
macro_rules! ffi_boundary {
    ($body:block) => {{
        let result = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<(), $crate::status::secllama_status> { $body },
        ));
        match result {
            Ok(Ok(())) => $crate::status::secllama_status::Ok,
            Ok(Err(status)) => status,
            Err(payload) => $crate::panic::caught(payload),
        }
    }};
}
pub(crate) use ffi_boundary;

/// The boundary of a function returning nothing (the `*_free` functions): a panic is recorded
/// as the last error and swallowed.
macro_rules! ffi_boundary_void {
    ($body:block) => {{
        let result = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body));
        if let Err(payload) = result {
            let _ = $crate::panic::caught(payload);
        }
    }};
}
pub(crate) use ffi_boundary_void;

/// Records a caught panic as the last error.
pub(crate) fn caught(payload: Box<dyn Any + Send>) -> secllama_status {
    // The payload of our own panics is a message without secrets; it is still not copied into
    // the last error, only its presence is reported.
    drop(payload);
    crate::error::fail(
        secllama_status::Panic,
        "internal error: a panic was caught at the C boundary (a bug in secllama; please report \
         it); free the handle involved",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_the_boundary_becomes_the_panic_status() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        #[allow(clippy::panic)]
        let status = ffi_boundary!({
            if secllama_status::Ok as u32 == 0 {
                panic!("boom");
            }
            Ok(())
        });
        std::panic::set_hook(prev);
        assert_eq!(status, secllama_status::Panic);
    }

    #[test]
    fn an_error_inside_the_boundary_is_returned_as_is() {
        let status = ffi_boundary!({ Err(secllama_status::Malformed) });
        assert_eq!(status, secllama_status::Malformed);
    }
}
