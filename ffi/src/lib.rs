//! The C ABI of SecLlama: keysets and envelopes, password sealing, the OS keychain, the
//! sandbox probe and the sandboxed llama.cpp runner, for C, Go, Python and anything else that
//! can call C.
//!
//! The header is `ffi/include/secllama.h`, generated from this crate by cbindgen (the doc
//! comments below become its comments); `cargo test -p secllama-ffi --test header` fails when
//! it is stale and `SECLLAMA_BLESS=1 cargo test -p secllama-ffi --test header` rewrites it.
//! Bindings with their own tests: `ffi/c`, `ffi/go` (cgo), `ffi/python` (ctypes).
//!
//! # Conventions (the rustls-ffi model)
//! - **Status codes.** Every function returns a `secllama_status` (`SECLLAMA_STATUS_OK` = 0),
//!   except the `*_free` functions, which return nothing. Codes are stable, in bands: 1xx
//!   arguments, 2xx cryptography, 3xx keychain, 4xx sandbox, 5xx runner.
//!   `secllama_status_name` spells a code; `secllama_last_error` gives the calling thread's
//!   message for its last failed call. Messages never carry keys, passwords, prompts or
//!   generated text.
//! - **Out-parameters.** Results are written through pointers; each out-parameter is set to
//!   an empty value (NULL, `{NULL, 0}`, 0) before any check that can fail, so it can always be
//!   freed.
//! - **NULL.** Every pointer is checked: NULL gives `SECLLAMA_STATUS_NULL_PARAMETER`, except
//!   where a function documents NULL as meaning a default. A `(pointer, length)` pair may be
//!   `(NULL, 0)`, the empty input. Strings are NUL-terminated UTF-8
//!   (`SECLLAMA_STATUS_INVALID_UTF8` otherwise).
//! - **Ownership.** Handles (`secllama_keyset`, `secllama_keystore`,
//!   `secllama_runner_config`, `secllama_runner`, `secllama_cancel_handle`,
//!   `secllama_request_token`, `secllama_terminal_text`) are opaque and owned by the caller once returned; each has a
//!   `*_free` that accepts NULL (and returns `SECLLAMA_STATUS_BUSY`, freeing nothing, while a
//!   call on it runs). Bytes handed to
//!   the caller are a `secllama_buf { ptr, len }` released by `secllama_buf_free`, which wipes
//!   them first. Inputs are borrowed for the duration of the call only.
//! - **Panics** never cross the boundary: one would be a bug, reported as
//!   `SECLLAMA_STATUS_PANIC`.
//! - **In use.** A call that needs a handle exclusively (a mutation, `*_free`) while another
//!   call uses it (from a callback, another thread) returns `SECLLAMA_STATUS_BUSY` and does
//!   nothing; nothing ever waits. Only a handle that was successfully freed dangles.
//! - **Threads.** Each handle's doc says what may run concurrently; the last error is per
//!   thread. A runner serves several requests at once, one per calling thread (see
//!   `secllama_runner_complete` for slots, queueing, per-request cancellation and the cases
//!   that are `SECLLAMA_STATUS_BUSY`).
//! - **Streaming.** `secllama_runner_complete` and `secllama_runner_chat` call a
//!   `secllama_piece_callback` with a `void *user_data` for each piece of text; returning
//!   non-zero cancels the request.
//!
//! ```c
//! secllama_keyset *ks = NULL;
//! secllama_buf env = {0}, pt = {0};
//! if (secllama_keyset_generate(&ks) == SECLLAMA_STATUS_OK &&
//!     secllama_keyset_seal(ks, (const uint8_t *)"hi", 2, NULL, 0, &env) == SECLLAMA_STATUS_OK &&
//!     secllama_keyset_open(ks, env.ptr, env.len, NULL, 0, &pt) == SECLLAMA_STATUS_OK) {
//!     /* pt.ptr[0..pt.len] == "hi" */
//! }
//! secllama_buf_free(&pt);
//! secllama_buf_free(&env);
//! secllama_keyset_free(ks);
//! ```
//!
//! # Calling it from Rust (tests, fuzzing)
//! The crate is also an `rlib`: every exported function is a `pub unsafe extern "C" fn`
//! re-exported below, so a Rust fuzz target calls exactly what C calls, e.g.
//! `secllama_ffi::secllama_keyset_from_bytes(data.as_ptr(), data.len(), &mut ks)`. The surface
//! meant for arbitrary bytes (pointers valid for the lengths given, out-parameters pointing to
//! locals): `secllama_keyset_from_bytes`, `secllama_keyset_open` and `secllama_password_open`
//! (envelope and `aad` arbitrary), `secllama_keyset_seal`, `secllama_password_seal` (any
//! iteration count: out-of-range ones must give `SECLLAMA_STATUS_INVALID_ITERATIONS`, never
//! run), `secllama_status_name` (any `u32`), `secllama_last_error` (any length), and the
//! string arguments of `secllama_keystore_open` (service and backend names must be refused
//! before a keychain is touched when invalid) and `secllama_runner_config_new`. Free every
//! `secllama_buf` and handle the calls return so leak checkers stay quiet. There is no
//! separate `internal` module: the C ABI is the surface.
//!
//! # What it does not do
//! It cannot protect a caller that passes dangling or too-short pointers: like any C API it
//! trusts the lengths it is given. It does not wipe memory the caller owns (inputs, copies the
//! caller makes of returned buffers).

// The C names (`secllama_keyset`, ...) are the API: cbindgen copies them into the header.
#![allow(non_camel_case_types)]

mod buf;
mod crypto;
mod error;
mod handle;
mod info;
mod keystore;
mod panic;
mod runner;
mod sandbox;
mod status;
mod terminal;

pub use crate::buf::{secllama_buf, secllama_buf_free};
pub use crate::crypto::{
    SECLLAMA_ENVELOPE_OVERHEAD, SECLLAMA_PASSWORD_DEFAULT_ITERATIONS,
    SECLLAMA_PASSWORD_MAX_ITERATIONS, SECLLAMA_PASSWORD_MIN_ITERATIONS, SECLLAMA_PASSWORD_OVERHEAD,
    secllama_keyset, secllama_keyset_destroy, secllama_keyset_disable, secllama_keyset_enable,
    secllama_keyset_free, secllama_keyset_from_bytes, secllama_keyset_generate,
    secllama_keyset_keys_json, secllama_keyset_open, secllama_keyset_primary_id,
    secllama_keyset_rotate, secllama_keyset_seal, secllama_keyset_to_bytes, secllama_password_open,
    secllama_password_seal,
};
pub use crate::error::secllama_last_error;
pub use crate::info::{
    SECLLAMA_FEATURE_CREDENTIAL_MANAGER, SECLLAMA_FEATURE_CUDA, SECLLAMA_FEATURE_KEYCHAIN,
    SECLLAMA_FEATURE_KEYUTILS, SECLLAMA_FEATURE_METAL, SECLLAMA_FEATURE_RUNNER,
    SECLLAMA_FEATURE_SANDBOX_LINUX, SECLLAMA_FEATURE_SANDBOX_MACOS,
    SECLLAMA_FEATURE_SANDBOX_WINDOWS, SECLLAMA_FEATURE_SECRET_SERVICE, SECLLAMA_FEATURE_VULKAN,
    secllama_features, secllama_version,
};
pub use crate::keystore::{
    secllama_keystore, secllama_keystore_backend, secllama_keystore_delete,
    secllama_keystore_destroy, secllama_keystore_destroy_forced, secllama_keystore_disable,
    secllama_keystore_enable, secllama_keystore_free, secllama_keystore_init,
    secllama_keystore_init_or_reuse, secllama_keystore_load, secllama_keystore_open,
    secllama_keystore_rotate, secllama_keystore_status_json,
};
pub use crate::runner::{
    SECLLAMA_MAX_DETOKENIZE_BYTES, SECLLAMA_MAX_DETOKENIZE_TOKENS, SECLLAMA_MAX_EMBED_INPUTS,
    SECLLAMA_MAX_TOKENIZE_BYTES, secllama_cancel_handle, secllama_cancel_handle_cancel,
    secllama_cancel_handle_free, secllama_cancel_handle_terminate, secllama_chat_message,
    secllama_done, secllama_embeddings, secllama_embeddings_free, secllama_generation_params,
    secllama_generation_params_default, secllama_generation_params_greedy, secllama_load_stage,
    secllama_metrics, secllama_piece_callback, secllama_progress_callback, secllama_request_token,
    secllama_request_token_cancel, secllama_request_token_free, secllama_request_token_new,
    secllama_runner, secllama_runner_cancel_handle, secllama_runner_chat, secllama_runner_complete,
    secllama_runner_config, secllama_runner_config_default_model, secllama_runner_config_free,
    secllama_runner_config_new, secllama_runner_config_set_context_length,
    secllama_runner_config_set_gpu_layers, secllama_runner_config_set_runner_path,
    secllama_runner_config_set_sandbox, secllama_runner_config_set_sha256,
    secllama_runner_config_set_threads, secllama_runner_context_length, secllama_runner_detokenize,
    secllama_runner_embed, secllama_runner_free, secllama_runner_model_info_json,
    secllama_runner_pid, secllama_runner_sandbox_report_json, secllama_runner_spawn,
    secllama_runner_tokenize, secllama_stop_reason, secllama_tokens, secllama_tokens_free,
};
pub use crate::sandbox::secllama_sandbox_probe_json;
pub use crate::status::{secllama_status, secllama_status_name};
pub use crate::terminal::{
    secllama_terminal_text, secllama_terminal_text_finish, secllama_terminal_text_free,
    secllama_terminal_text_new, secllama_terminal_text_push,
};
