//! `secllama_runner_complete` and `secllama_runner_chat`: one streamed request, with its
//! deadline.

use std::cell::RefCell;
use std::ffi::{c_char, c_void};
use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use ::secllama_runner::{
    CancelHandle, ChatMessage, ChatRequest, CompletionRequest, Generation, GenerationParams,
    MAX_CHAT_MESSAGES, StopReason,
};
use zeroize::Zeroize;

use super::params::{
    secllama_chat_message, secllama_done, secllama_generation_params, secllama_piece_callback,
};
use super::secllama_runner;
use super::token::RequestToken;
use crate::error::{fail, fail_with};
use crate::handle::{Shared, try_out, try_ref, try_str};
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

/// Completes `prompt` (NUL-terminated UTF-8, continued as plain text) and streams the text:
/// `on_piece` (may be NULL) gets each piece with `user_data`; returning non-zero from it
/// cancels. Blocks until the generation ends, then writes why and the metrics to `*out_done`.
/// `params` NULL means `secllama_generation_params_default`.
///
/// A cancelled request returns `SECLLAMA_STATUS_OK` with reason
/// `SECLLAMA_STOP_REASON_CANCELLED`. Invalid parameters give
/// `SECLLAMA_STATUS_RUNNER_INVALID_REQUEST` before anything is sent. The caller keeps
/// ownership of every argument.
///
/// Several threads may each run a request on the same runner at once: each call blocks only
/// its own thread. The runner generates for as many requests together as it has slots (4)
/// and queues the others in arrival order (a queued request's deadline runs while it waits;
/// past 64 waiting, a request gets `SECLLAMA_STATUS_RUNNER_INVALID_REQUEST`). Only the
/// request's own piece callback, request token (`params.cancel`) and deadline
/// (`params.timeout_ms`) cancel it; `secllama_cancel_handle_cancel` cancels every request in
/// flight. `SECLLAMA_STATUS_BUSY` when started from inside a piece callback of a request on
/// the same runner (start it from another thread, or after that request returns), when
/// `params.cancel` is given to another request that has not returned, and while
/// `secllama_runner_free` runs on the runner.
///
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call; `prompt` is
/// NULL or NUL-terminated; `params` is NULL or a valid `secllama_generation_params` (with
/// `stop_len` readable stop strings and a `cancel` token that is NULL or live); `out_done` is NULL or valid for writing a
/// `secllama_done`; `on_piece`, if not NULL, is safe to call with `user_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_complete(
    runner: *const secllama_runner,
    prompt: *const c_char,
    params: *const secllama_generation_params,
    on_piece: secllama_piece_callback,
    user_data: *mut c_void,
    out_done: *mut secllama_done,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_done);
        out.write(secllama_done::NONE);
        let key = refuse_reentry(runner)?;
        let runner = try_ref!(runner);
        let prompt = try_str!(prompt);
        // SAFETY: per the `# Safety` section, `params` is NULL or valid.
        let (params, options) = unsafe { read_params(params) }?;
        let request = CompletionRequest::new(prompt).with_params(params);
        let generation = runner.complete(request).map_err(fail_with)?;
        // SAFETY: per the `# Safety` section, `on_piece` may be called with `user_data`.
        unsafe { stream(key, generation, options, on_piece, user_data, out) }
    })
}

/// Runs one chat turn: `messages_len` messages (formatted with the model's chat template),
/// streamed like `secllama_runner_complete`.
///
/// # Safety
/// As `secllama_runner_complete`; `messages` is NULL (only with `messages_len` 0) or valid for
/// reading `messages_len` `secllama_chat_message`s whose strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_chat(
    runner: *const secllama_runner,
    messages: *const secllama_chat_message,
    messages_len: usize,
    params: *const secllama_generation_params,
    on_piece: secllama_piece_callback,
    user_data: *mut c_void,
    out_done: *mut secllama_done,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_done);
        out.write(secllama_done::NONE);
        let key = refuse_reentry(runner)?;
        let runner = try_ref!(runner);
        if messages_len > MAX_CHAT_MESSAGES {
            return Err(fail(
                secllama_status::RunnerInvalidRequest,
                format_args!(
                    "invalid request: at most {MAX_CHAT_MESSAGES} chat messages are allowed"
                ),
            ));
        }
        // SAFETY: per the `# Safety` section.
        let raw = unsafe { crate::handle::slice(messages, messages_len, "messages") }?;
        let mut list = Vec::with_capacity(raw.len());
        for m in raw {
            // SAFETY: per the `# Safety` section, each string is NULL or NUL-terminated.
            let role = unsafe { crate::handle::c_str(m.role, "messages[i].role") }?;
            // SAFETY: as above.
            let content = unsafe { crate::handle::c_str(m.content, "messages[i].content") }?;
            list.push(ChatMessage::new(role, content));
        }
        // SAFETY: per the `# Safety` section, `params` is NULL or valid.
        let (params, options) = unsafe { read_params(params) }?;
        let request = ChatRequest::new(list).with_params(params);
        let generation = runner.chat(request).map_err(fail_with)?;
        // SAFETY: per the `# Safety` section, `on_piece` may be called with `user_data`.
        unsafe { stream(key, generation, options, on_piece, user_data, out) }
    })
}

/// What a request's parameters say beyond sampling: its deadline and its request token.
struct Options<'a> {
    timeout: Option<Duration>,
    token: Option<Shared<'a, RequestToken>>,
}

/// # Safety
/// `params` is NULL or valid, with readable stop strings and a `cancel` token that is NULL or
/// live for the call.
unsafe fn read_params<'a>(
    params: *const secllama_generation_params,
) -> Result<(GenerationParams, Options<'a>), secllama_status> {
    // SAFETY: forwarded contract.
    let Some(p) = (unsafe { params.as_ref() }) else {
        let none = Options {
            timeout: None,
            token: None,
        };
        return Ok((GenerationParams::default(), none));
    };
    let token = if p.cancel.is_null() {
        None
    } else {
        // SAFETY: forwarded contract: a non-NULL token is live for the call.
        Some(unsafe { crate::handle::as_ref(p.cancel, "params.cancel") }?)
    };
    // SAFETY: forwarded contract.
    let params = unsafe { (*p).into_params() }?;
    let options = Options {
        timeout: p.timeout(),
        token,
    };
    Ok((params, options))
}

thread_local! {
    /// The runners whose request is streaming on this thread (its piece callback may run).
    static STREAMING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Refuses a generation started from inside a piece callback of the same runner (it would
/// stall the outer request, whose callback waits for it): `SECLLAMA_STATUS_BUSY`. Returns the
/// runner's key for [`Streaming`].
fn refuse_reentry(runner: *const secllama_runner) -> Result<usize, secllama_status> {
    let key = runner as usize;
    if STREAMING.with(|s| s.borrow().contains(&key)) {
        return Err(fail(
            secllama_status::Busy,
            "a request was started on the runner from inside a piece callback of that runner's \
             own request; start it after that request returns, or from another thread",
        ));
    }
    Ok(key)
}

/// Marks this thread as streaming a request of runner `key` while it lives.
struct Streaming(usize);

impl Streaming {
    fn start(key: usize) -> Streaming {
        STREAMING.with(|s| s.borrow_mut().push(key));
        Streaming(key)
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        STREAMING.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(at) = s.iter().rposition(|k| *k == self.0) {
                s.remove(at);
            }
        });
    }
}

/// How long a runner gets to stop after its request's deadline cancelled it, before its
/// session is ended (the process is then killed within the runner crate's shutdown grace, and
/// every request in flight on it ends: a runner that ignores a cancel is stuck for all).
pub(crate) const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// The watchdog of one request's deadline: a thread that cancels the request when the
/// deadline passes, and ends the session when the runner ignores that for [`CANCEL_GRACE`].
struct Deadline {
    finished: mpsc::Sender<()>,
    fired: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Deadline {
    /// Starts the watchdog (none without a timeout).
    fn start(timeout: Duration, handle: CancelHandle) -> Result<Deadline, secllama_status> {
        let (finished, rx) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = std::thread::Builder::new()
            .name("secllama-deadline".into())
            .spawn(move || {
                if rx.recv_timeout(timeout) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                flag.store(true, Ordering::SeqCst);
                let _ = handle.cancel();
                if rx.recv_timeout(CANCEL_GRACE) == Err(RecvTimeoutError::Timeout) {
                    handle.terminate();
                }
            })
            .map_err(|e| {
                fail(
                    secllama_status::RunnerOther,
                    format_args!("cannot start the deadline thread: {e}"),
                )
            })?;
        Ok(Deadline {
            finished,
            fired,
            thread,
        })
    }

    /// Stops the watchdog; whether the deadline passed.
    fn stop(self) -> bool {
        drop(self.finished);
        let _ = self.thread.join();
        self.fired.load(Ordering::SeqCst)
    }
}

/// Streams a sent request's pieces to the callback under its deadline (if any), then writes the
/// result, or returns the status of what went wrong (`SECLLAMA_STATUS_RUNNER_TIMEOUT` when the
/// deadline ended it).
///
/// # Safety
/// `on_piece`, if not NULL, is safe to call with `user_data`.
unsafe fn stream(
    key: usize,
    generation: Generation<'_>,
    options: Options<'_>,
    on_piece: secllama_piece_callback,
    user_data: *mut c_void,
    out: &mut MaybeUninit<secllama_done>,
) -> Result<(), secllama_status> {
    // Both cancel this request only (its id), never another one in flight on the runner.
    let own = generation.cancel_handle();
    let _binding = match &options.token {
        Some(token) => Some(token.bind(own.clone())?),
        None => None,
    };
    let deadline = match options.timeout {
        Some(timeout) => Some(Deadline::start(timeout, own)?),
        None => None,
    };
    let _streaming = Streaming::start(key);
    // SAFETY: forwarded contract.
    let result =
        generation.for_each_piece(|piece| unsafe { call_piece(on_piece, user_data, piece) });
    let timed_out = deadline.is_some_and(Deadline::stop);
    match result {
        Ok(done) => {
            out.write(secllama_done::from_done(&done));
            if timed_out && done.reason == StopReason::Cancelled {
                return Err(fail(
                    secllama_status::RunnerTimeout,
                    "the request's deadline passed: it was cancelled and the runner is ready \
                     for the next one",
                ));
            }
            Ok(())
        }
        Err(_) if timed_out => Err(fail(
            secllama_status::RunnerTimeout,
            format_args!(
                "the request's deadline passed and the runner did not stop within {} ms of \
                 being cancelled: it was killed and this runner is closed",
                CANCEL_GRACE.as_millis()
            ),
        )),
        Err(e) => Err(fail_with(e)),
    }
}

/// Hands one piece to the C callback as a NUL-terminated copy, wiped afterwards.
///
/// # Safety
/// `cb`, if not NULL, is safe to call with `user_data`.
unsafe fn call_piece(
    cb: secllama_piece_callback,
    user_data: *mut c_void,
    piece: &str,
) -> ControlFlow<()> {
    let Some(cb) = cb else {
        return ControlFlow::Continue(());
    };
    let mut copy = Vec::with_capacity(piece.len() + 1);
    copy.extend_from_slice(piece.as_bytes());
    copy.push(0);
    // SAFETY: the caller guarantees the callback may be called with `user_data`; the copy
    // outlives the call.
    let rc = unsafe { cb(user_data, copy.as_ptr().cast(), piece.len()) };
    copy.zeroize();
    if rc == 0 {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    }
}
