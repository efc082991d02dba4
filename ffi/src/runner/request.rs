//! `secllama_runner_complete` and `secllama_runner_chat`: one streamed request, with its
//! deadline.

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
use crate::error::{fail, fail_with};
use crate::handle::{try_mut, try_out, try_str};
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
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call; `prompt` is
/// NULL or NUL-terminated; `params` is NULL or a valid `secllama_generation_params` (with
/// `stop_len` readable stop strings); `out_done` is NULL or valid for writing a
/// `secllama_done`; `on_piece`, if not NULL, is safe to call with `user_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_complete(
    runner: *mut secllama_runner,
    prompt: *const c_char,
    params: *const secllama_generation_params,
    on_piece: secllama_piece_callback,
    user_data: *mut c_void,
    out_done: *mut secllama_done,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_done);
        out.write(secllama_done::NONE);
        let runner = try_mut!(runner);
        let prompt = try_str!(prompt);
        // SAFETY: per the `# Safety` section, `params` is NULL or valid.
        let (params, timeout) = unsafe { read_params(params) }?;
        let request = CompletionRequest::new(prompt).with_params(params);
        let watchdog = timeout.map(|t| (t, runner.cancel_handle()));
        let generation = runner.complete(request).map_err(fail_with)?;
        // SAFETY: per the `# Safety` section, `on_piece` may be called with `user_data`.
        unsafe { stream(generation, watchdog, on_piece, user_data, out) }
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
    runner: *mut secllama_runner,
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
        let runner = try_mut!(runner);
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
        let (params, timeout) = unsafe { read_params(params) }?;
        let request = ChatRequest::new(list).with_params(params);
        let watchdog = timeout.map(|t| (t, runner.cancel_handle()));
        let generation = runner.chat(request).map_err(fail_with)?;
        // SAFETY: per the `# Safety` section, `on_piece` may be called with `user_data`.
        unsafe { stream(generation, watchdog, on_piece, user_data, out) }
    })
}

/// # Safety
/// `params` is NULL or valid, with readable stop strings.
unsafe fn read_params(
    params: *const secllama_generation_params,
) -> Result<(GenerationParams, Option<Duration>), secllama_status> {
    // SAFETY: forwarded contract.
    match unsafe { params.as_ref() } {
        // SAFETY: forwarded contract.
        Some(p) => Ok((unsafe { (*p).into_params() }?, p.timeout())),
        None => Ok((GenerationParams::default(), None)),
    }
}

/// How long a runner gets to stop after its request's deadline cancelled it, before its
/// session is ended (the process is then killed within the runner crate's shutdown grace).
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
    generation: Generation<'_>,
    watchdog: Option<(Duration, CancelHandle)>,
    on_piece: secllama_piece_callback,
    user_data: *mut c_void,
    out: &mut MaybeUninit<secllama_done>,
) -> Result<(), secllama_status> {
    // Started only now that the request is sent: a cancel sent earlier would name the previous
    // request and be ignored.
    let deadline = match watchdog {
        Some((timeout, handle)) => Some(Deadline::start(timeout, handle)?),
        None => None,
    };
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
