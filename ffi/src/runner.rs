//! The sandboxed llama.cpp runner (`secllama-runner`).

use std::ffi::{c_char, c_void};
use std::ops::ControlFlow;
use std::path::PathBuf;

use ::secllama_runner::{
    CancelHandle, ChatMessage, ChatRequest, CompletionRequest, Done, GenerationParams,
    LoadProgress, LoadStage, MAX_CHAT_MESSAGES, MAX_STOP_STRINGS, Metrics, Runner, RunnerConfig,
    SandboxMode, StopReason, Strictness,
};
use zeroize::Zeroize;

use crate::buf::secllama_buf;
use crate::error::{fail, fail_with};
use crate::handle::{Handle, into_raw, try_mut, try_opt_str, try_out, try_ref, try_str};
use crate::panic::{ffi_boundary, ffi_boundary_void};
use crate::status::secllama_status;

/// How to start a runner: the model, its pinned SHA-256, threads, sandbox.
///
/// Made by `secllama_runner_config_new` or `secllama_runner_config_default_model`, changed by
/// the `secllama_runner_config_set_*` functions, released with `secllama_runner_config_free`.
/// Values are checked by `secllama_runner_spawn`.
pub struct secllama_runner_config {
    _private: [u8; 0],
}

impl Handle for secllama_runner_config {
    type Rust = RunnerConfig;
}

/// A running, sandboxed runner process with its model loaded.
///
/// Made by `secllama_runner_spawn`, released with `secllama_runner_free` (which shuts the
/// process down). Requests run one at a time: use a runner from one thread at a time; to stop a
/// request from another thread use a `secllama_cancel_handle`.
pub struct secllama_runner {
    _private: [u8; 0],
}

impl Handle for secllama_runner {
    type Rust = Runner;
}

/// Cancels the current request of a runner, from any thread.
///
/// Made by `secllama_runner_cancel_handle`, released with `secllama_cancel_handle_free`; it
/// may outlive its runner (cancelling then does nothing useful and reports the closed channel).
pub struct secllama_cancel_handle {
    _private: [u8; 0],
}

impl Handle for secllama_cancel_handle {
    type Rust = CancelHandle;
}

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
    /// The request was cancelled (by the piece callback or a cancel handle).
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
    const NONE: secllama_done = secllama_done {
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

    fn from_done(d: &Done) -> secllama_done {
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
        }
    }

    /// The Rust parameters (stop strings copied); range checks are the runner crate's.
    ///
    /// # Safety
    /// `stop` is NULL or valid for reading `stop_len` pointers to NUL-terminated strings.
    unsafe fn into_params(self) -> Result<GenerationParams, secllama_status> {
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

/// A runner configuration for the GGUF model at `model_path` (UTF-8), with defaults: no pinned
/// hash, context 4096, threads = cores (at most 8), CPU only, sandbox and channel encryption
/// as the `SECLLAMA_ENABLE_SANDBOX`, `SECLLAMA_STRICT_NETWORK_ISOLATION` and
/// `SECLLAMA_ENABLE_ENCRYPTION` environment variables say (all on by default).
///
/// On success `*out_config` is owned by the caller: release it with
/// `secllama_runner_config_free`.
///
/// # Safety
/// `model_path` is NULL or a NUL-terminated string; `out_config` is NULL or valid for writing
/// a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_new(
    model_path: *const c_char,
    out_config: *mut *mut secllama_runner_config,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_config);
        out.write(std::ptr::null_mut());
        let model = try_str!(model_path);
        if model.is_empty() {
            return Err(fail(
                secllama_status::RunnerConfig,
                "invalid runner configuration: the model path is empty",
            ));
        }
        let config = RunnerConfig::new(PathBuf::from(model)).map_err(fail_with)?;
        out.write(into_raw(config));
        Ok(())
    })
}

/// A runner configuration for the default model (SmolLM2-135M-Instruct Q4_1) at
/// `${XDG_CACHE_HOME:-~/.cache}/secllama/models/SmolLM2-135M-Instruct.Q4_1.gguf`, pinned to its
/// SHA-256; other values as `secllama_runner_config_new`.
///
/// On success `*out_config` is owned by the caller: release it with
/// `secllama_runner_config_free`.
///
/// # Safety
/// `out_config` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_default_model(
    out_config: *mut *mut secllama_runner_config,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_config);
        out.write(std::ptr::null_mut());
        let config = RunnerConfig::default_model().map_err(fail_with)?;
        out.write(into_raw(config));
        Ok(())
    })
}

/// Pins the model's SHA-256 (64 hex digits, checked by `secllama_runner_spawn`, which then
/// refuses a file that differs with `SECLLAMA_STATUS_RUNNER_CHECKSUM_MISMATCH`); NULL removes
/// the pin.
///
/// # Safety
/// `config` is NULL or a live configuration; `sha256_hex` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_set_sha256(
    config: *mut secllama_runner_config,
    sha256_hex: *const c_char,
) -> secllama_status {
    ffi_boundary!({
        let config = try_mut!(config);
        config.sha256 = try_opt_str!(sha256_hex).map(str::to_owned);
        Ok(())
    })
}

/// Sets the runner executable; NULL means `SECLLAMA_RUNNER_PATH`, else `secllama-runner` next
/// to the current executable.
///
/// # Safety
/// `config` is NULL or a live configuration; `runner_path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_set_runner_path(
    config: *mut secllama_runner_config,
    runner_path: *const c_char,
) -> secllama_status {
    ffi_boundary!({
        let config = try_mut!(config);
        config.runner_path = try_opt_str!(runner_path).map(PathBuf::from);
        Ok(())
    })
}

/// Sets the number of generation threads (1 to 512); 0 means the available cores, at most 8.
///
/// # Safety
/// `config` is NULL or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_set_threads(
    config: *mut secllama_runner_config,
    threads: u32,
) -> secllama_status {
    ffi_boundary!({
        try_mut!(config).threads = (threads != 0).then_some(threads);
        Ok(())
    })
}

/// Sets the context window in tokens (16 to 1048576).
///
/// # Safety
/// `config` is NULL or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_set_context_length(
    config: *mut secllama_runner_config,
    tokens: u32,
) -> secllama_status {
    ffi_boundary!({
        try_mut!(config).context_length = tokens;
        Ok(())
    })
}

/// Sets the number of layers offloaded to the GPU (needs a `cuda`, `vulkan` or `metal` build,
/// see `secllama_features`); 0 is CPU only.
///
/// # Safety
/// `config` is NULL or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_set_gpu_layers(
    config: *mut secllama_runner_config,
    layers: u32,
) -> secllama_status {
    ffi_boundary!({
        try_mut!(config).gpu_layers = layers;
        Ok(())
    })
}

/// Turns the runner's sandbox on or off. With `strict`, spawning fails
/// (`SECLLAMA_STATUS_SANDBOX_NETWORK_ISOLATION_UNAVAILABLE`) unless network isolation is fully
/// enforced; without it, missing layers are logged and skipped. `enabled = false` runs the
/// model with all of this process's rights: for debugging only.
///
/// # Safety
/// `config` is NULL or a live configuration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_set_sandbox(
    config: *mut secllama_runner_config,
    enabled: bool,
    strict: bool,
) -> secllama_status {
    ffi_boundary!({
        try_mut!(config).sandbox = if enabled {
            SandboxMode::Enabled(if strict {
                Strictness::Strict
            } else {
                Strictness::BestEffort
            })
        } else {
            SandboxMode::Disabled
        };
        Ok(())
    })
}

/// Frees a runner configuration. Accepts NULL.
///
/// # Safety
/// `config` is NULL or a live configuration that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_free(config: *mut secllama_runner_config) {
    ffi_boundary_void!({
        // SAFETY: per the `# Safety` section, `config` is NULL or a live, unaliased handle.
        unsafe { crate::handle::free(config) }
    });
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
        let config = try_ref!(config).clone();
        let runner = Runner::spawn_with_progress(config, |p: LoadProgress| {
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
/// `runner` is NULL or a live runner not used by another thread during the call; `prompt` is
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
        let params = unsafe { read_params(params) }?;
        let request = CompletionRequest::new(prompt).with_params(params);
        let generation = runner.complete(request).map_err(fail_with)?;
        let done = generation
            // SAFETY: per the `# Safety` section, `on_piece` may be called with `user_data`.
            .for_each_piece(|piece| unsafe { call_piece(on_piece, user_data, piece) })
            .map_err(fail_with)?;
        out.write(secllama_done::from_done(&done));
        Ok(())
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
        let params = unsafe { read_params(params) }?;
        let request = ChatRequest::new(list).with_params(params);
        let generation = runner.chat(request).map_err(fail_with)?;
        let done = generation
            // SAFETY: per the `# Safety` section, `on_piece` may be called with `user_data`.
            .for_each_piece(|piece| unsafe { call_piece(on_piece, user_data, piece) })
            .map_err(fail_with)?;
        out.write(secllama_done::from_done(&done));
        Ok(())
    })
}

/// # Safety
/// `params` is NULL or valid, with readable stop strings.
unsafe fn read_params(
    params: *const secllama_generation_params,
) -> Result<GenerationParams, secllama_status> {
    // SAFETY: forwarded contract.
    match unsafe { params.as_ref() } {
        // SAFETY: forwarded contract.
        Some(p) => unsafe { (*p).into_params() },
        None => Ok(GenerationParams::default()),
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

/// Describes the loaded model as JSON: `{"name":...,"parameters":...,"size_bytes":...,
/// "context_length":...,"training_context_length":...,"chat_template":true,"vocab_size":...,
/// "threads":...,"gpu_layers":0}`.
///
/// On success `*out_json` holds UTF-8 JSON (not NUL-terminated), owned by the caller: release
/// it with `secllama_buf_free`.
///
/// # Safety
/// `runner` is NULL or a live runner not used mutably by another thread during the call;
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

/// Describes what the runner's sandbox enforces, layer by layer, as JSON
/// (`{"layers":[{"layer":...,"state":...}, ...]}`), or `null` when the sandbox is disabled.
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

/// A handle that cancels the runner's current request from any thread (the request then ends
/// within one token with `SECLLAMA_STOP_REASON_CANCELLED`). Get it before starting the request
/// you may want to cancel.
///
/// On success `*out_handle` is owned by the caller: release it with
/// `secllama_cancel_handle_free`.
///
/// # Safety
/// `runner` is NULL or a live runner not used by another thread during the call; `out_handle`
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

/// Asks the runner to stop its current request; does nothing when no request runs. Safe to
/// call from any thread, also while another thread is inside `secllama_runner_complete`.
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

/// Frees a cancel handle. Accepts NULL.
///
/// # Safety
/// `handle` is NULL or a live cancel handle that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_cancel_handle_free(handle: *mut secllama_cancel_handle) {
    ffi_boundary_void!({
        // SAFETY: per the `# Safety` section, `handle` is NULL or a live, unaliased handle.
        unsafe { crate::handle::free(handle) }
    });
}

/// Shuts the runner process down (gracefully, killed after a 2 s grace period) and frees the
/// handle. Accepts NULL.
///
/// # Safety
/// `runner` is NULL or a live runner that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_free(runner: *mut secllama_runner) {
    ffi_boundary_void!({
        // SAFETY: per the `# Safety` section, `runner` is NULL or a live, unaliased handle.
        unsafe { crate::handle::free(runner) }
    });
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
