//! The plain-data types of a request: generation parameters, chat messages, callbacks, and
//! what a generation reports when it ends.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use ::secllama_runner::{Done, GenerationParams, MAX_STOP_STRINGS, Metrics, StopReason};

use super::token::secllama_request_token;
use crate::error::fail;
use crate::handle::try_out;
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

/// Why a generation ended.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secllama_stop_reason {
    /// No generation finished (the call failed before `done`).
    None = 0,
    /// The model produced an end-of-generation token.
    EndOfText = 1,
    /// A stop string was produced (it is not part of the output).
    StopString = 2,
    /// `max_tokens` were generated.
    MaxTokens = 3,
    /// The context window is full.
    ContextFull = 4,
    /// The request was cancelled (by the piece callback, its request token, its deadline or a
    /// cancel handle).
    Cancelled = 5,
}

/// What the runner is doing while it starts (for the progress callback).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secllama_load_stage {
    /// Computing the model file's SHA-256 (only when a hash is pinned).
    Verifying = 1,
    /// llama.cpp is reading the weights.
    Loading = 2,
}

/// Token counts and timings of one generation (durations in nanoseconds, named like Ollama's).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct secllama_metrics {
    /// Tokens in the prompt (after the chat template).
    pub prompt_eval_count: u64,
    /// Time spent evaluating the prompt.
    pub prompt_eval_duration_ns: u64,
    /// Tokens generated.
    pub eval_count: u64,
    /// Time spent generating them.
    pub eval_duration_ns: u64,
    /// Time the runner took to verify and load the model.
    pub load_duration_ns: u64,
    /// Time from the runner receiving the request to the end of generation.
    pub total_duration_ns: u64,
    /// Prompt tokens evaluated per second.
    pub prompt_tokens_per_second: f64,
    /// Tokens generated per second.
    pub eval_tokens_per_second: f64,
}

/// The end of a generation: why it stopped and what it cost.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct secllama_done {
    /// Why generation stopped (`SECLLAMA_STOP_REASON_NONE` if the call failed).
    pub reason: secllama_stop_reason,
    /// Token counts and durations.
    pub metrics: secllama_metrics,
}

impl secllama_done {
    pub(crate) const NONE: secllama_done = secllama_done {
        reason: secllama_stop_reason::None,
        metrics: secllama_metrics {
            prompt_eval_count: 0,
            prompt_eval_duration_ns: 0,
            eval_count: 0,
            eval_duration_ns: 0,
            load_duration_ns: 0,
            total_duration_ns: 0,
            prompt_tokens_per_second: 0.0,
            eval_tokens_per_second: 0.0,
        },
    };

    pub(crate) fn from_done(d: &Done) -> secllama_done {
        let reason = match d.reason {
            StopReason::EndOfText => secllama_stop_reason::EndOfText,
            StopReason::StopString => secllama_stop_reason::StopString,
            StopReason::MaxTokens => secllama_stop_reason::MaxTokens,
            StopReason::ContextFull => secllama_stop_reason::ContextFull,
            StopReason::Cancelled => secllama_stop_reason::Cancelled,
        };
        let m: &Metrics = &d.metrics;
        secllama_done {
            reason,
            metrics: secllama_metrics {
                prompt_eval_count: m.prompt_eval_count,
                prompt_eval_duration_ns: m.prompt_eval_duration,
                eval_count: m.eval_count,
                eval_duration_ns: m.eval_duration,
                load_duration_ns: m.load_duration,
                total_duration_ns: m.total_duration,
                prompt_tokens_per_second: m.prompt_tokens_per_second(),
                eval_tokens_per_second: m.eval_tokens_per_second(),
            },
        }
    }
}

/// Sampling and length parameters of one request. Fill it with
/// `secllama_generation_params_default` or `secllama_generation_params_greedy`, then change
/// fields. `temperature` 0 is greedy decoding (deterministic).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct secllama_generation_params {
    /// The most tokens to generate (at least 1).
    pub max_tokens: u32,
    /// Sampling temperature, >= 0; 0 is greedy.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; 0 disables the filter.
    pub top_k: u32,
    /// Nucleus sampling threshold in (0, 1]; 1 disables it.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one, in [0, 1].
    pub min_p: f32,
    /// Seed of the sampler (same seed, same output).
    pub seed: u32,
    /// Penalty for repeating one of the last `repeat_last_n` tokens; 1 disables it.
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: u32,
    /// `stop_len` NUL-terminated UTF-8 stop strings (generation ends before the first one;
    /// at most 16, each 1 to 256 bytes), or NULL when `stop_len` is 0. Borrowed for the call.
    pub stop: *const *const c_char,
    /// The number of stop strings.
    pub stop_len: usize,
    /// The request's deadline in milliseconds from sending it (time waiting for a free slot
    /// included); 0 means none. When it passes this request (no other) is cancelled, and if
    /// the runner does not stop within a short grace (stopped, stuck) its process is killed,
    /// which ends every request on it; the call then returns `SECLLAMA_STATUS_RUNNER_TIMEOUT`.
    pub timeout_ms: u64,
    /// A request token (`secllama_request_token_new`) that cancels this request, and no other,
    /// from any thread; NULL for none. Borrowed for the call: it cannot be freed before the
    /// call returns (`SECLLAMA_STATUS_BUSY`).
    pub cancel: *const secllama_request_token,
}

impl secllama_generation_params {
    fn from_rust(p: &GenerationParams) -> secllama_generation_params {
        secllama_generation_params {
            max_tokens: p.max_tokens,
            temperature: p.temperature,
            top_k: p.top_k,
            top_p: p.top_p,
            min_p: p.min_p,
            seed: p.seed,
            repeat_penalty: p.repeat_penalty,
            repeat_last_n: p.repeat_last_n,
            stop: std::ptr::null(),
            stop_len: 0,
            timeout_ms: 0,
            cancel: std::ptr::null(),
        }
    }

    /// The deadline, if one is set.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        (self.timeout_ms != 0).then(|| Duration::from_millis(self.timeout_ms))
    }

    /// The Rust parameters (stop strings copied); range checks are the runner crate's.
    ///
    /// # Safety
    /// `stop` is NULL or valid for reading `stop_len` pointers to NUL-terminated strings.
    pub(crate) unsafe fn into_params(self) -> Result<GenerationParams, secllama_status> {
        if self.stop_len > MAX_STOP_STRINGS {
            return Err(fail(
                secllama_status::RunnerInvalidRequest,
                format_args!(
                    "invalid request: at most {MAX_STOP_STRINGS} stop strings are allowed"
                ),
            ));
        }
        // SAFETY: forwarded contract.
        let ptrs = unsafe { crate::handle::slice(self.stop, self.stop_len, "params.stop") }?;
        let mut stop = Vec::with_capacity(ptrs.len());
        for &p in ptrs {
            // SAFETY: forwarded contract: each pointer is NULL or a NUL-terminated string.
            let s = unsafe { crate::handle::c_str(p, "params.stop[i]") }?;
            stop.push(s.to_owned());
        }
        let params = GenerationParams {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            seed: self.seed,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            stop,
        };
        Ok(params)
    }
}

/// One chat message: `role` (`"system"`, `"user"` or `"assistant"`) and `content`, both
/// NUL-terminated UTF-8, borrowed for the call.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct secllama_chat_message {
    /// `"system"`, `"user"` or `"assistant"`.
    pub role: *const c_char,
    /// The message text.
    pub content: *const c_char,
}

/// Called with each piece of generated text: `piece_len` bytes of complete UTF-8 characters
/// at `piece` (followed by a NUL, which `piece_len` does not count). `piece` is only valid
/// during the call: copy what you keep. Return 0 to continue, non-zero to cancel the request
/// (the call then returns `SECLLAMA_STATUS_OK` with reason `SECLLAMA_STOP_REASON_CANCELLED`).
/// Runs on the thread that called `secllama_runner_complete` / `_chat`.
#[allow(non_camel_case_types)]
pub type secllama_piece_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, piece: *const c_char, piece_len: usize) -> i32,
>;

/// Called while the runner verifies and loads the model: `fraction` goes from 0 to 1 within
/// each stage. Runs on the thread that called `secllama_runner_spawn`.
#[allow(non_camel_case_types)]
pub type secllama_progress_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, stage: secllama_load_stage, fraction: f32)>;

/// Fills `*out_params` with the defaults: 256 tokens, temperature 0.8, top-k 40, top-p 0.9,
/// min-p 0.05, seed 0, repeat penalty 1.1 over the last 64 tokens, no stop strings.
///
/// # Safety
/// `out_params` is NULL or valid for writing a `secllama_generation_params`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_generation_params_default(
    out_params: *mut secllama_generation_params,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_params);
        out.write(secllama_generation_params::from_rust(
            &GenerationParams::default(),
        ));
        Ok(())
    })
}

/// Fills `*out_params` for greedy decoding of at most `max_tokens` tokens, without repeat
/// penalty: the same prompt always gives the same text.
///
/// # Safety
/// `out_params` is NULL or valid for writing a `secllama_generation_params`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_generation_params_greedy(
    max_tokens: u32,
    out_params: *mut secllama_generation_params,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_params);
        out.write(secllama_generation_params::from_rust(
            &GenerationParams::greedy(max_tokens),
        ));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_parameters_round_trip_through_the_c_struct() {
        let c = secllama_generation_params::from_rust(&GenerationParams::greedy(7));
        // SAFETY: `stop` is NULL with length 0.
        let back = unsafe { c.into_params() }.unwrap();
        assert_eq!(back, GenerationParams::greedy(7));
    }

    #[test]
    fn too_many_stop_strings_are_refused_before_reading_them() {
        let mut c = secllama_generation_params::from_rust(&GenerationParams::default());
        c.stop_len = MAX_STOP_STRINGS + 1;
        // SAFETY: `stop` is never read: the count is refused first.
        let err = unsafe { c.into_params() }.unwrap_err();
        assert_eq!(err, secllama_status::RunnerInvalidRequest);
    }
}
