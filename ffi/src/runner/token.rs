//! `secllama_request_token`: cancels one request, from any thread, without touching the other
//! requests in flight on the same runner.

use std::sync::{Mutex, MutexGuard, PoisonError};

use ::secllama_runner::CancelHandle;

use crate::error::{fail, fail_with};
use crate::handle::{Handle, into_raw, try_free, try_out, try_ref};
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

/// Cancels the one request it is given to (`secllama_generation_params.cancel`), from any
/// thread, whether that request is queued, evaluating its prompt or generating; the other
/// requests on the runner go on.
///
/// Made by `secllama_request_token_new`, released with `secllama_request_token_free`. A token
/// serves one request at a time (a second request given it while the first runs gets
/// `SECLLAMA_STATUS_BUSY`); it may be reused for a later request, but once cancelled it stays
/// cancelled: a request given a cancelled token ends at once with
/// `SECLLAMA_STOP_REASON_CANCELLED`.
pub struct secllama_request_token {
    _private: [u8; 0],
}

impl Handle for secllama_request_token {
    type Rust = RequestToken;
    const NAME: &'static str = "request token";
}

/// The Rust side of a request token: whether it was cancelled, and the request it serves.
#[derive(Default)]
pub(crate) struct RequestToken {
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    cancelled: bool,
    request: Option<CancelHandle>,
}

impl RequestToken {
    fn lock(&self) -> MutexGuard<'_, TokenState> {
        // The state is two plain fields, valid whatever panicked while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the token cancelled and cancels the request it serves, if any.
    fn cancel(&self) -> Result<(), ::secllama_runner::RunnerError> {
        let mut state = self.lock();
        state.cancelled = true;
        match &state.request {
            Some(handle) => handle.cancel(),
            None => Ok(()),
        }
    }

    /// Gives the token to the request `handle` cancels until the binding is dropped; a token
    /// cancelled before cancels the request at once.
    pub(crate) fn bind(&self, handle: CancelHandle) -> Result<Binding<'_>, secllama_status> {
        let mut state = self.lock();
        if state.request.is_some() {
            return Err(fail(
                secllama_status::Busy,
                "the request token is already given to a request that has not returned; \
                 use one token per request",
            ));
        }
        if state.cancelled {
            handle.cancel().map_err(fail_with)?;
        }
        state.request = Some(handle);
        Ok(Binding { token: self })
    }
}

/// A token's tie to the request it serves, undone when the request returns.
pub(crate) struct Binding<'a> {
    token: &'a RequestToken,
}

impl Drop for Binding<'_> {
    fn drop(&mut self) {
        self.token.lock().request = None;
    }
}

/// A new, not cancelled request token.
///
/// On success `*out_token` is owned by the caller: release it with
/// `secllama_request_token_free`.
///
/// # Safety
/// `out_token` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_request_token_new(
    out_token: *mut *mut secllama_request_token,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_token);
        out.write(into_raw::<secllama_request_token>(RequestToken::default()));
        Ok(())
    })
}

/// Cancels the request the token is given to (it ends within one token with
/// `SECLLAMA_STOP_REASON_CANCELLED`, a queued one before it starts), and every later request
/// given this token. From any thread, also while another thread is inside
/// `secllama_runner_complete` / `_chat` with it; other requests on the runner are not touched.
/// `SECLLAMA_STATUS_RUNNER_IO` if the runner is gone.
///
/// # Safety
/// `token` is NULL or a live request token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_request_token_cancel(
    token: *const secllama_request_token,
) -> secllama_status {
    ffi_boundary!({ try_ref!(token).cancel().map_err(fail_with) })
}

/// Frees a request token. Accepts NULL.
///
/// Returns `SECLLAMA_STATUS_BUSY`, freeing nothing, while a call uses the token (the request it
/// serves has not returned, or a cancel runs): free it after that call returns.
///
/// # Safety
/// `token` is NULL or a live request token that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_request_token_free(
    token: *mut secllama_request_token,
) -> secllama_status {
    ffi_boundary!({ try_free!(token) })
}
