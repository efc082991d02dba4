//! `secllama_runner_config`: how to start a runner.

use std::ffi::c_char;
use std::path::PathBuf;

use ::secllama_runner::{RunnerConfig, SandboxMode, Strictness};

use crate::error::{fail, fail_with};
use crate::handle::{Handle, into_raw, try_free, try_mut, try_opt_str, try_out, try_str};
use crate::panic::ffi_boundary;
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
    const NAME: &'static str = "runner configuration";
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
        let mut config = try_mut!(config);
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
        let mut config = try_mut!(config);
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
/// Returns `SECLLAMA_STATUS_BUSY`, freeing nothing, while a call on the handle is running
/// (a free from one of its callbacks or from another thread): free it after that call returns.
///
/// # Safety
/// `config` is NULL or a live configuration that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_config_free(
    config: *mut secllama_runner_config,
) -> secllama_status {
    ffi_boundary!({ try_free!(config) })
}
