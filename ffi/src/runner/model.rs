//! What a runner's model computes besides text: embeddings, its tokenizer, its context length.

use std::ffi::c_char;

use ::secllama_runner::EmbedRequest;
use zeroize::Zeroize;

use super::secllama_runner;
use crate::buf::{free_c, into_c, secllama_buf};
use crate::error::{fail, fail_with};
use crate::handle::{try_out, try_ref, try_str};
use crate::panic::{ffi_boundary, ffi_boundary_void};
use crate::status::secllama_status;

/// The most texts one `secllama_runner_embed` call takes (together at most 2 MiB).
pub const SECLLAMA_MAX_EMBED_INPUTS: usize = 256;
/// The longest text `secllama_runner_tokenize` takes, in bytes.
pub const SECLLAMA_MAX_TOKENIZE_BYTES: usize = 262_144;
/// The most tokens `secllama_runner_detokenize` takes.
pub const SECLLAMA_MAX_DETOKENIZE_TOKENS: usize = 65_536;
/// The longest text `secllama_runner_detokenize` returns, in bytes (a longer one is refused).
pub const SECLLAMA_MAX_DETOKENIZE_BYTES: usize = 524_288;

/// Embedding vectors: `count` vectors of `dimensions` floats each, one after the other in the
/// order of the inputs (vector `i` starts at `data[i * dimensions]`), each of unit length
/// (L2 norm 1; all zeros for a text without any token). Released with
/// `secllama_embeddings_free`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct secllama_embeddings {
    /// `count * dimensions` floats, or NULL when `count` is 0.
    pub data: *mut f32,
    /// The number of vectors (= inputs).
    pub count: usize,
    /// The floats per vector (the model's embedding size: 576 for the default model).
    pub dimensions: usize,
}

impl secllama_embeddings {
    const EMPTY: secllama_embeddings = secllama_embeddings {
        data: std::ptr::null_mut(),
        count: 0,
        dimensions: 0,
    };
}

/// Tokens of the model's vocabulary, released with `secllama_tokens_free`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug)]
pub struct secllama_tokens {
    /// `len` token ids, or NULL when `len` is 0.
    pub ptr: *mut i32,
    /// The number of tokens.
    pub len: usize,
}

impl secllama_tokens {
    const EMPTY: secllama_tokens = secllama_tokens {
        ptr: std::ptr::null_mut(),
        len: 0,
    };
}

/// Embeds `inputs_len` texts (NUL-terminated UTF-8, none empty): one unit-length vector per
/// text, pooled as the model declares (mean pooling otherwise), like Ollama's `/api/embed`. A
/// text longer than the context is cut to its first tokens when `truncate` is true, and refused
/// with `SECLLAMA_STATUS_RUNNER_PROMPT_TOO_LONG` otherwise. May run while other threads run
/// requests on the runner (they wait while a batch of texts is evaluated).
///
/// Limits: 1 to `SECLLAMA_MAX_EMBED_INPUTS` texts, together at most 2 MiB
/// (`SECLLAMA_STATUS_RUNNER_INVALID_REQUEST` otherwise, before anything is sent).
///
/// On success `*out_embeddings` is owned by the caller: release it with
/// `secllama_embeddings_free`. On error it is `{NULL, 0, 0}`.
///
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call; `inputs` is NULL (only with
/// `inputs_len` 0) or valid for reading `inputs_len` pointers, each NULL or NUL-terminated;
/// `out_embeddings` is NULL or valid for writing a `secllama_embeddings`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_embed(
    runner: *const secllama_runner,
    inputs: *const *const c_char,
    inputs_len: usize,
    truncate: bool,
    out_embeddings: *mut secllama_embeddings,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_embeddings);
        out.write(secllama_embeddings::EMPTY);
        let runner = try_ref!(runner);
        if inputs_len == 0 || inputs_len > SECLLAMA_MAX_EMBED_INPUTS {
            return Err(fail(
                secllama_status::RunnerInvalidRequest,
                format_args!(
                    "invalid request: an embed request needs 1 to {SECLLAMA_MAX_EMBED_INPUTS} \
                     inputs, not {inputs_len}"
                ),
            ));
        }
        // SAFETY: per the `# Safety` section.
        let ptrs = unsafe { crate::handle::slice(inputs, inputs_len, "inputs") }?;
        let mut texts = Vec::with_capacity(ptrs.len());
        for &p in ptrs {
            // SAFETY: per the `# Safety` section, each pointer is NULL or NUL-terminated.
            texts.push(unsafe { crate::handle::c_str(p, "inputs[i]") }?);
        }
        let request = EmbedRequest::new(texts).with_truncate(truncate);
        let embeddings = runner.embed(request).map_err(fail_with)?;
        let count = embeddings.vectors.len();
        let dimensions = embeddings.vectors.first().map_or(0, Vec::len);
        if embeddings.vectors.iter().any(|v| v.len() != dimensions) {
            return Err(fail(
                secllama_status::RunnerProtocol,
                "the runner answered vectors of different sizes",
            ));
        }
        let mut vectors = embeddings.vectors;
        let flat = vectors.concat();
        // The vectors say much about the texts: the copies are wiped like the data C gets.
        vectors.zeroize();
        let (data, _) = into_c(flat);
        out.write(secllama_embeddings {
            data,
            count,
            dimensions,
        });
        Ok(())
    })
}

/// Wipes and frees embedding vectors and sets `*embeddings` to `{NULL, 0, 0}`. Accepts NULL and
/// an already empty value (so calling it twice is harmless).
///
/// # Safety
/// `embeddings` is NULL or points to a `secllama_embeddings` this library filled in and the
/// caller has not changed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_embeddings_free(embeddings: *mut secllama_embeddings) {
    ffi_boundary_void!({
        // SAFETY: per the `# Safety` section.
        let Some(e) = (unsafe { embeddings.as_mut() }) else {
            return;
        };
        // SAFETY: per the `# Safety` section, `data` holds `count * dimensions` floats from
        // `into_c`.
        unsafe { free_c(e.data, e.count.saturating_mul(e.dimensions)) };
        *e = secllama_embeddings::EMPTY;
    });
}

/// The model's tokens for `text` (NUL-terminated UTF-8, at most
/// `SECLLAMA_MAX_TOKENIZE_BYTES` bytes, else `SECLLAMA_STATUS_RUNNER_INVALID_REQUEST`):
/// `add_special` adds what the model puts at the start of a sequence (BOS), `parse_special`
/// reads special-token spellings (like `<|im_start|>`) as those tokens. A completion prompt is
/// tokenized with `(true, false)`; the context length (`secllama_runner_context_length`) is
/// the budget.
///
/// On success `*out_tokens` is owned by the caller: release it with `secllama_tokens_free`.
///
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call; `text` is NULL or
/// NUL-terminated; `out_tokens` is NULL or valid for writing a `secllama_tokens`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_tokenize(
    runner: *const secllama_runner,
    text: *const c_char,
    add_special: bool,
    parse_special: bool,
    out_tokens: *mut secllama_tokens,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_tokens);
        out.write(secllama_tokens::EMPTY);
        let runner = try_ref!(runner);
        let text = try_str!(text);
        let tokens = runner
            .tokenize(text, add_special, parse_special)
            .map_err(fail_with)?;
        let (ptr, len) = into_c(tokens);
        out.write(secllama_tokens { ptr, len });
        Ok(())
    })
}

/// Frees tokens and sets `*tokens` to `{NULL, 0}`. Accepts NULL and an empty value.
///
/// # Safety
/// `tokens` is NULL or points to a `secllama_tokens` this library filled in and the caller has
/// not changed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_tokens_free(tokens: *mut secllama_tokens) {
    ffi_boundary_void!({
        // SAFETY: per the `# Safety` section.
        let Some(t) = (unsafe { tokens.as_mut() }) else {
            return;
        };
        // SAFETY: per the `# Safety` section, `ptr`/`len` came from `into_c`.
        unsafe { free_c(t.ptr, t.len) };
        *t = secllama_tokens::EMPTY;
    });
}

/// The text of `tokens_len` tokens (special tokens written out; bytes that are not UTF-8
/// become U+FFFD) as UTF-8 in `*out_text` (not NUL-terminated). Limits: at most
/// `SECLLAMA_MAX_DETOKENIZE_TOKENS` tokens, each in the vocabulary, and a text of at most
/// `SECLLAMA_MAX_DETOKENIZE_BYTES` bytes (`SECLLAMA_STATUS_RUNNER_INVALID_REQUEST` otherwise).
///
/// On success `*out_text` is owned by the caller: release it with `secllama_buf_free`.
///
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call; `tokens` is NULL (only with
/// `tokens_len` 0) or valid for reading `tokens_len` `int32_t`s; `out_text` is NULL or valid
/// for writing a `secllama_buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_detokenize(
    runner: *const secllama_runner,
    tokens: *const i32,
    tokens_len: usize,
    out_text: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_text);
        out.write(secllama_buf::EMPTY);
        let runner = try_ref!(runner);
        // SAFETY: per the `# Safety` section. (The runner refuses more than
        // SECLLAMA_MAX_DETOKENIZE_TOKENS before anything is sent.)
        let tokens = unsafe { crate::handle::slice(tokens, tokens_len, "tokens") }?;
        let text = runner.detokenize(tokens).map_err(fail_with)?;
        out.write(secllama_buf::from_vec(text.into_bytes()));
        Ok(())
    })
}

/// Writes the context length of the runner's model, in tokens per request (the size of one
/// slot's KV cache; a longer prompt gives `SECLLAMA_STATUS_RUNNER_PROMPT_TOO_LONG`), to
/// `*out_tokens`.
///
/// # Safety
/// `runner` is NULL or a live runner, not freed during the call; `out_tokens` is NULL or valid
/// for writing a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_runner_context_length(
    runner: *const secllama_runner,
    out_tokens: *mut u32,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_tokens);
        out.write(0);
        out.write(try_ref!(runner).model_info().context_length);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_limits_are_the_runner_crates() {
        assert_eq!(
            SECLLAMA_MAX_EMBED_INPUTS,
            ::secllama_runner::MAX_EMBED_INPUTS
        );
        assert_eq!(
            SECLLAMA_MAX_TOKENIZE_BYTES,
            ::secllama_runner::MAX_TOKENIZE_BYTES
        );
        assert_eq!(
            SECLLAMA_MAX_DETOKENIZE_TOKENS,
            ::secllama_runner::MAX_DETOKENIZE_TOKENS
        );
        assert_eq!(
            SECLLAMA_MAX_DETOKENIZE_BYTES,
            ::secllama_runner::MAX_DETOKENIZE_BYTES
        );
        // The 2 MiB the embed doc names.
        assert_eq!(::secllama_runner::MAX_PROMPT_BYTES, 2 * 1024 * 1024);
    }

    #[test]
    fn vectors_and_tokens_round_trip_through_their_free_functions() {
        let (data, n) = into_c(vec![0.5f32; 6]);
        let mut e = secllama_embeddings {
            data,
            count: 2,
            dimensions: 3,
        };
        assert_eq!(n, 6);
        // SAFETY: `e` was filled from `into_c`.
        unsafe { secllama_embeddings_free(&mut e) };
        assert!(e.data.is_null() && e.count == 0 && e.dimensions == 0);
        // SAFETY: empty and NULL are accepted.
        unsafe { secllama_embeddings_free(&mut e) };
        // SAFETY: as above.
        unsafe { secllama_embeddings_free(std::ptr::null_mut()) };
        let (ptr, len) = into_c(vec![1i32, 2, 3]);
        let mut t = secllama_tokens { ptr, len };
        // SAFETY: `t` was filled from `into_c`.
        unsafe { secllama_tokens_free(&mut t) };
        assert!(t.ptr.is_null() && t.len == 0);
        // SAFETY: NULL is accepted.
        unsafe { secllama_tokens_free(std::ptr::null_mut()) };
    }
}
