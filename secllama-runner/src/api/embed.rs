//! Embeddings and tokenizer requests: what the host sends, what comes back, and their limits.

use serde::{Deserialize, Serialize};

use super::MAX_PROMPT_BYTES;

/// The most texts one [`EmbedRequest`] may carry.
pub const MAX_EMBED_INPUTS: usize = 256;
/// The largest text [`Runner::tokenize`](crate::Runner::tokenize) accepts, in bytes (its
/// answer, one number per token, must fit one frame).
pub const MAX_TOKENIZE_BYTES: usize = 256 * 1024;
/// The most tokens [`Runner::detokenize`](crate::Runner::detokenize) accepts.
pub const MAX_DETOKENIZE_TOKENS: usize = 64 * 1024;
/// The longest text a detokenize answer may have, in bytes.
pub const MAX_DETOKENIZE_BYTES: usize = 512 * 1024;

/// Texts to embed, like Ollama's `/api/embed` `input`.
///
/// Each text becomes one vector: the model's hidden states pooled over the text's tokens
/// (the pooling the GGUF declares, mean pooling when it declares none) and L2-normalised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    /// The texts, 1 to [`MAX_EMBED_INPUTS`] of them, together at most
    /// [`MAX_PROMPT_BYTES`](crate::MAX_PROMPT_BYTES).
    pub inputs: Vec<String>,
    /// A text longer than the context is cut to its first `context_length` tokens (Ollama's
    /// default); with `false` it is refused with
    /// [`RunnerError::PromptTooLong`](crate::RunnerError::PromptTooLong).
    pub truncate: bool,
}

impl EmbedRequest {
    /// A request for `inputs`, truncating over-long texts.
    pub fn new<S: Into<String>>(inputs: impl IntoIterator<Item = S>) -> Self {
        EmbedRequest {
            inputs: inputs.into_iter().map(Into::into).collect(),
            truncate: true,
        }
    }

    /// Sets whether over-long texts are truncated (`true`) or refused.
    pub fn with_truncate(mut self, truncate: bool) -> Self {
        self.truncate = truncate;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        check_embed_inputs(&self.inputs)
    }
}

/// Checks texts against the limits of one [`EmbedRequest`] (what [`Runner::embed`] refuses
/// with [`RunnerError::InvalidRequest`]), for servers that want to refuse them before a model
/// loads: 1 to [`MAX_EMBED_INPUTS`] texts, [`MAX_PROMPT_BYTES`] together, none empty, no NUL.
///
/// ```
/// use secllama_runner::check_embed_inputs;
/// assert!(check_embed_inputs(&["a".into(), "b".into()]).is_ok());
/// assert_eq!(
///     check_embed_inputs(&["a".into(), String::new()]).unwrap_err(),
///     "embed input 1 is empty"
/// );
/// ```
///
/// [`Runner::embed`]: crate::Runner::embed
/// [`RunnerError::InvalidRequest`]: crate::RunnerError::InvalidRequest
///
/// # Errors
/// The first limit the texts break, as a sentence naming it.
pub fn check_embed_inputs(inputs: &[String]) -> Result<(), String> {
    if inputs.is_empty() || inputs.len() > MAX_EMBED_INPUTS {
        return Err(format!(
            "an embed request needs 1 to {MAX_EMBED_INPUTS} inputs, not {}",
            inputs.len()
        ));
    }
    if inputs.iter().map(String::len).sum::<usize>() > MAX_PROMPT_BYTES {
        return Err(format!(
            "the embed inputs exceed {MAX_PROMPT_BYTES} bytes together"
        ));
    }
    if let Some(i) = inputs.iter().position(String::is_empty) {
        return Err(format!("embed input {i} is empty"));
    }
    if let Some(i) = inputs.iter().position(|s| s.contains('\0')) {
        return Err(format!("embed input {i} contains a NUL character"));
    }
    Ok(())
}

/// The answer to an [`EmbedRequest`]: one unit-length vector per input, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// One vector per input (L2 norm 1, or all zeros for a degenerate input).
    pub vectors: Vec<Vec<f32>>,
    /// Tokens evaluated, over all inputs.
    pub prompt_eval_count: u64,
    /// Time from the runner receiving the request to the last vector, in nanoseconds.
    pub total_duration: u64,
    /// Time the runner took to verify and load the model, in nanoseconds.
    pub load_duration: u64,
}

pub(crate) fn validate_tokenize(text: &str) -> Result<(), String> {
    if text.len() > MAX_TOKENIZE_BYTES {
        return Err(format!(
            "the text to tokenize exceeds {MAX_TOKENIZE_BYTES} bytes"
        ));
    }
    if text.contains('\0') {
        return Err("the text to tokenize contains a NUL character".into());
    }
    Ok(())
}

pub(crate) fn validate_detokenize(tokens: &[i32]) -> Result<(), String> {
    if tokens.len() > MAX_DETOKENIZE_TOKENS {
        return Err(format!(
            "at most {MAX_DETOKENIZE_TOKENS} tokens can be detokenized at once"
        ));
    }
    Ok(())
}

/// Scales `v` to unit L2 norm in place, as Ollama's `/api/embed` returns vectors (and as
/// [`Embeddings`] come from the runner); a zero or non-finite vector becomes all zeros.
///
/// Servers use it again after cutting vectors to fewer dimensions (OpenAI's `dimensions`).
///
/// ```
/// let mut v = vec![3.0_f32, 4.0];
/// secllama_runner::normalize_embedding(&mut v);
/// assert_eq!(v, [0.6, 0.8]);
/// ```
pub fn normalize_embedding(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm.is_finite() && norm > 0.0 {
        for x in v.iter_mut() {
            // Back to f32 on purpose: the vector's own precision.
            #[allow(clippy::cast_possible_truncation)]
            let scaled = (f64::from(*x) / norm) as f32;
            *x = scaled;
        }
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_scaled_to_unit_length_and_degenerate_ones_become_zeros() {
        let mut v = vec![3.0, 4.0];
        normalize_embedding(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut z = vec![0.0, 0.0];
        normalize_embedding(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
        let mut nan = vec![f32::NAN, 1.0];
        normalize_embedding(&mut nan);
        assert_eq!(nan, vec![0.0, 0.0]);
        let mut inf = vec![f32::INFINITY, 1.0];
        normalize_embedding(&mut inf);
        assert_eq!(inf, vec![0.0, 0.0]);
    }

    #[test]
    fn embed_and_tokenizer_requests_over_their_limits_are_refused() {
        assert_eq!(EmbedRequest::new(["a", "b"]).validate(), Ok(()));
        let none: [&str; 0] = [];
        assert!(
            EmbedRequest::new(none)
                .validate()
                .is_err_and(|e| e.contains("1 to 256"))
        );
        let many = vec!["x"; MAX_EMBED_INPUTS + 1];
        assert!(
            EmbedRequest::new(many)
                .validate()
                .is_err_and(|e| e.contains("not 257"))
        );
        assert!(
            EmbedRequest::new([""])
                .validate()
                .is_err_and(|e| e.contains("empty"))
        );
        assert!(
            EmbedRequest::new(["a\0"])
                .validate()
                .is_err_and(|e| e.contains("NUL"))
        );
        let big = "a".repeat(MAX_PROMPT_BYTES / 2 + 1);
        assert!(
            EmbedRequest::new([big.clone(), big])
                .validate()
                .is_err_and(|e| e.contains("exceed"))
        );
        assert_eq!(validate_tokenize("hello"), Ok(()));
        assert!(validate_tokenize(&"a".repeat(MAX_TOKENIZE_BYTES + 1)).is_err());
        assert!(validate_tokenize("a\0").is_err_and(|e| e.contains("NUL")));
        assert_eq!(validate_detokenize(&[1, 2, 3]), Ok(()));
        assert!(validate_detokenize(&vec![1; MAX_DETOKENIZE_TOKENS + 1]).is_err());
    }
}
