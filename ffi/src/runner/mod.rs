//! The sandboxed llama.cpp runner (`secllama-runner`): `config` (how to start it), `params`
//! (the plain data of a request), `request` (completions and chats), and here the runner and
//! cancel handles.

use std::ffi::c_void;

use ::secllama_runner::{CancelHandle, LoadProgress, LoadStage, Runner};

use crate::buf::secllama_buf;
use crate::error::{fail, fail_with};
use crate::handle::{Handle, into_raw, try_free, try_out, try_ref};
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

mod config;
mod model;
mod params;
mod request;
mod token;

pub use self::config::*;
pub use self::model::*;
pub use self::params::*;
pub use self::request::*;
pub use self::token::*;

/// A running, sandboxed runner process with its model loaded.
///
/// Made by `secllama_runner_spawn`, released with `secllama_runner_free` (which shuts the
/// process down). Every call may run on any thread, concurrently with the others: several
/// requests run at once, each blocking only its own thread (see `secllama_runner_complete` for
/// slots, queueing and when a request gets `SECLLAMA_STATUS_BUSY`). To stop one request from
/// another thread give it a `secllama_request_token`; a `secllama_cancel_handle` stops them all.
/// `secllama_runner_free` while calls run returns `SECLLAMA_STATUS_BUSY` and frees nothing.
pub struct secllama_runner {
    _private: [u8; 0],
}

impl Handle for secllama_runner {
    type Rust = Runner;
    const NAME: &'static str = "runner";
}

/// Cancels every request in flight on a runner, or ends its session, from any thread.
///
/// Made by `secllama_runner_cancel_handle`, released with `secllama_cancel_handle_free`; it
/// may outlive its runner (cancelling then does nothing useful and reports the closed channel).
pub struct secllama_cancel_handle {
    _private: [u8; 0],
}

impl Handle for secllama_cancel_handle {
    type Rust = CancelHandle;
    const NAME: &'static str = "cancel handle";
}

/// Starts a sandboxed runner process for `config` and waits until its model is loaded
/// (seconds for a small model). `on_progress` (may be NULL) is called with `user_data` while
/// the model is verified and loaded. The caller keeps ownership of `config`.
///
/// On success `*out_runner` is owned by the caller: release it with `secllama_runner_free`.
/// On error it is NULL; e.g. `SECLLAMA_STATUS_RUNNER_NOT_FOUND` (set `SECLLAMA_RUNNER_PATH`),
/// `..._RUNNER_MODEL_NOT_FOUND`, `..._RUNNER_CHECKSUM_MISMATCH`, a `SECLLAMA_STATUS_SANDBOX_*`
/// code when the sandbox cannot be enforced as configured.
///
/// # Safety
/// `config` is NULL or a live configuration; `out_runner` is NULL or valid for writing a
/// pointer; `on_progress`, if not NULL, is safe to call with `user_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_spawn(
    config: *const secllama_runner_config,
    on_progress: secllama_progress_callback,
    user_data: *mut c_void,
    out_runner: *mut *mut secllama_runner,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_runner);
        out.write(std::ptr::null_mut());
        // Held until the runner is up, so the progress callback cannot free or change it.
        let config = try_ref!(config);
        let runner = Runner::spawn_with_progress(config.clone(), |p: LoadProgress| {
            if let Some(cb) = on_progress {
                let stage = match p.stage {
                    LoadStage::Verifying => secllama_load_stage::Verifying,
                    LoadStage::Loading => secllama_load_stage::Loading,
                };
                // SAFETY: the caller guarantees the callback may be called with `user_data`.
                unsafe { cb(user_data, stage, p.fraction) };
            }
        })
        .map_err(fail_with)?;
        out.write(into_raw(runner));
        Ok(())
    })
}

/// Describes the loaded model as JSON, one object with these members:
/// `{"name":"<string>","parameters":<integer>,"size_bytes":<integer>,"context_length":<integer>,
/// "training_context_length":<integer>,"chat_template":"model","vocab_size":<integer>,
/// "threads":<integer>,"gpu_layers":<integer>,"backend":"CPU","device":"CPU",
/// "backends":["CPU"]}`. `chat_template` says how chats are formatted: `model` (the GGUF's own
/// template), `builtin:<name>` (llama.cpp's template for the architecture) or `plain`.
/// `gpu_layers` is how many layers llama.cpp offloaded, `backend` and `device` where the model
/// was loaded (`CPU`, or e.g. `Vulkan` and the driver's device name), `backends` what the
/// runner binary was built with (`CPU` first, then `CUDA`, `Vulkan`, `Metal`).
///
/// On success `*out_json` holds UTF-8 JSON (not NUL-terminated), owned by the caller: release
/// it with `secllama_buf_free`.
///
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call;
/// `out_json` is NULL or valid for writing a `secllama_buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_model_info_json(
    runner: *const secllama_runner,
    out_json: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_json);
        out.write(secllama_buf::EMPTY);
        let runner = try_ref!(runner);
        let json = serde_json::to_vec(runner.model_info())
            .map_err(|e| fail(secllama_status::RunnerOther, e))?;
        out.write(secllama_buf::from_vec(json));
        Ok(())
    })
}

/// Describes what the runner's sandbox enforces, layer by layer, as JSON, or `null` when the
/// sandbox is disabled:
/// `{"layers":[{"layer":"seccomp","state":{"state":"enforced"}},{"layer":"landlock-network",
/// "state":{"state":"unavailable","reason":"<string>"}}, ...]}`. A layer's `state` is
/// `enforced`, `degraded` or `unavailable`; the last two carry a `reason`.
///
/// On success `*out_json` holds UTF-8 JSON (not NUL-terminated), owned by the caller: release
/// it with `secllama_buf_free`.
///
/// # Safety
/// As `secllama_runner_model_info_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_sandbox_report_json(
    runner: *const secllama_runner,
    out_json: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_json);
        out.write(secllama_buf::EMPTY);
        let runner = try_ref!(runner);
        let json = serde_json::to_vec(&runner.sandbox_report())
            .map_err(|e| fail(secllama_status::RunnerOther, e))?;
        out.write(secllama_buf::from_vec(json));
        Ok(())
    })
}

/// Writes the runner process's id to `*out_pid` (0 once the process has been reaped), for
/// monitoring; signal it only to stop it, and prefer `secllama_cancel_handle_terminate`.
///
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call; `out_pid` is NULL or valid
/// for writing a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_pid(
    runner: *const secllama_runner,
    out_pid: *mut u32,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_pid);
        out.write(0);
        out.write(try_ref!(runner).pid().unwrap_or(0));
        Ok(())
    })
}

/// A handle that cancels the requests in flight on the runner from any thread (each then ends
/// within one token with `SECLLAMA_STOP_REASON_CANCELLED`) and can end the runner's session.
/// To cancel one request of several, use a `secllama_request_token` instead.
///
/// On success `*out_handle` is owned by the caller: release it with
/// `secllama_cancel_handle_free`.
///
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call; `out_handle`
/// is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_cancel_handle(
    runner: *const secllama_runner,
    out_handle: *mut *mut secllama_cancel_handle,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_handle);
        out.write(std::ptr::null_mut());
        let runner = try_ref!(runner);
        out.write(into_raw(runner.cancel_handle()));
        Ok(())
    })
}

/// Asks the runner to stop every request in flight (running or queued); does nothing when
/// none is. Safe to call from any thread, also while other threads are inside
/// `secllama_runner_complete`.
/// `SECLLAMA_STATUS_RUNNER_IO` if the runner is gone.
///
/// # Safety
/// `handle` is NULL or a live cancel handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_cancel_handle_cancel(
    handle: *const secllama_cancel_handle,
) -> secllama_status {
    ffi_boundary!({ try_ref!(handle).cancel().map_err(fail_with) })
}

/// Ends the runner's session at once, from any thread, for a runner that does not answer
/// `secllama_cancel_handle_cancel` (stopped, stuck): every request in progress returns
/// (`SECLLAMA_STATUS_RUNNER_IO` or `..._RUNNER_CRASHED`) and the process is killed if it has not
/// exited within 2 s; the runner is closed afterwards (`SECLLAMA_STATUS_RUNNER_CLOSED`), free it.
/// To close a runner other threads are using: cancel, give them a moment, terminate, then free
/// it once their calls have returned (`secllama_runner_free` gives `SECLLAMA_STATUS_BUSY`
/// before).
///
/// # Safety
/// `handle` is NULL or a live cancel handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_cancel_handle_terminate(
    handle: *const secllama_cancel_handle,
) -> secllama_status {
    ffi_boundary!({
        try_ref!(handle).terminate();
        Ok(())
    })
}

/// Frees a cancel handle. Accepts NULL.
///
/// Returns `SECLLAMA_STATUS_BUSY`, freeing nothing, while a call on the handle is running
/// (a free from one of its callbacks or from another thread): free it after that call returns.
///
/// # Safety
/// `handle` is NULL or a live cancel handle that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_cancel_handle_free(
    handle: *mut secllama_cancel_handle,
) -> secllama_status {
    ffi_boundary!({ try_free!(handle) })
}

/// Shuts the runner process down (gracefully, killed after a 2 s grace period) and frees the
/// handle. Accepts NULL.
///
/// Returns `SECLLAMA_STATUS_BUSY`, freeing nothing, while a call on the handle is running
/// (a free from one of its callbacks or from another thread): free it after that call returns.
///
/// # Safety
/// `runner` is NULL or a live runner that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_free(runner: *mut secllama_runner) -> secllama_status {
    ffi_boundary!({ try_free!(runner) })
}
