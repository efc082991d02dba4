//! Requests with one answer (embeddings, tokenizer), sent and awaited like a generation but
//! collected into one value.

use std::sync::mpsc::Receiver;

use super::Runner;
use super::router::Routed;
use crate::RunnerError;
use crate::api::{
    EmbedRequest, Embeddings, MAX_DETOKENIZE_BYTES, validate_detokenize, validate_tokenize,
};
use crate::wire::HostMessage;

/// The next routed frame of a request, or the session's failure.
fn next(runner: &Runner, events: &Receiver<Routed>) -> Result<Routed, RunnerError> {
    match events.recv() {
        Ok(Routed::Error(e)) => Err(e),
        Ok(other) => Ok(other),
        Err(_) => Err(runner.router.failure()),
    }
}

fn unexpected(what: &str) -> RunnerError {
    RunnerError::Protocol(format!("unexpected frame in the answer to {what}"))
}

impl Runner {
    /// Embeds each input text (pooled, L2-normalised, like Ollama's `/api/embed`), in batches
    /// in a context of its own; other requests in flight wait while a batch is evaluated.
    ///
    /// ```no_run
    /// use secllama_runner::{EmbedRequest, Runner, RunnerConfig};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let runner = Runner::spawn(RunnerConfig::default_model()?)?;
    /// let out = runner.embed(EmbedRequest::new(["a cat sat", "a dog ran"]))?;
    /// let cosine: f32 = out.vectors[0].iter().zip(&out.vectors[1]).map(|(a, b)| a * b).sum();
    /// println!("{} dimensions, cosine {cosine:.3}", out.vectors[0].len());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`RunnerError::InvalidRequest`] for a request over the limits
    /// ([`MAX_EMBED_INPUTS`](crate::MAX_EMBED_INPUTS) inputs, none empty);
    /// [`RunnerError::PromptTooLong`] for a text over the context with `truncate == false`;
    /// a closed or broken session.
    pub fn embed(&self, request: EmbedRequest) -> Result<Embeddings, RunnerError> {
        request.validate().map_err(RunnerError::InvalidRequest)?;
        let n = request.inputs.len();
        let (id, events) = self.open_request(|id| HostMessage::Embed { id, request })?;
        let result = collect_embeddings(self, &events, n);
        self.router.forget(id);
        result
    }

    /// The model's tokens for `text`: `add_special` adds what the model puts at the start of
    /// a sequence (BOS), `parse_special` reads special-token spellings (like `<|im_start|>`)
    /// as those tokens. A completion prompt is tokenized with `(true, false)`, a formatted
    /// chat with `(true, true)`; [`ModelInfo::context_length`](crate::ModelInfo) is the budget.
    ///
    /// # Errors
    /// [`RunnerError::InvalidRequest`] for a text over
    /// [`MAX_TOKENIZE_BYTES`](crate::MAX_TOKENIZE_BYTES) or with NUL; a broken session.
    pub fn tokenize(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<i32>, RunnerError> {
        validate_tokenize(text).map_err(RunnerError::InvalidRequest)?;
        let (id, events) = self.open_request(|id| HostMessage::Tokenize {
            id,
            text: text.to_owned(),
            add_special,
            parse_special,
        })?;
        let result = match next(self, &events) {
            Ok(Routed::Tokens(tokens)) => Ok(tokens),
            Ok(_) => Err(unexpected("tokenize")),
            Err(e) => Err(e),
        };
        self.router.forget(id);
        result
    }

    /// The text of `tokens` (special tokens written out; bytes that are not UTF-8 become
    /// U+FFFD).
    ///
    /// # Errors
    /// [`RunnerError::InvalidRequest`] for more than
    /// [`MAX_DETOKENIZE_TOKENS`](crate::MAX_DETOKENIZE_TOKENS) tokens, a token outside the
    /// vocabulary, or a text over [`MAX_DETOKENIZE_BYTES`]; a broken session.
    pub fn detokenize(&self, tokens: &[i32]) -> Result<String, RunnerError> {
        validate_detokenize(tokens).map_err(RunnerError::InvalidRequest)?;
        let (id, events) = self.open_request(|id| HostMessage::Detokenize {
            id,
            tokens: tokens.to_vec(),
        })?;
        let result = match next(self, &events) {
            Ok(Routed::Text(text)) if text.len() <= MAX_DETOKENIZE_BYTES => Ok(text),
            Ok(_) => Err(unexpected("detokenize")),
            Err(e) => Err(e),
        };
        self.router.forget(id);
        result
    }
}

/// Collects the `n` vectors of an embed request, in input order, up to its `Done`.
fn collect_embeddings(
    runner: &Runner,
    events: &Receiver<Routed>,
    n: usize,
) -> Result<Embeddings, RunnerError> {
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; n];
    loop {
        match next(runner, events)? {
            Routed::Embedding(index, vector) => {
                let slot = usize::try_from(index)
                    .ok()
                    .and_then(|i| vectors.get_mut(i))
                    .ok_or_else(|| unexpected("embed"))?;
                *slot = Some(vector);
            }
            Routed::Done(done) => {
                let vectors = vectors
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| unexpected("embed"))?;
                return Ok(Embeddings {
                    vectors,
                    prompt_eval_count: done.metrics.prompt_eval_count,
                    total_duration: done.metrics.total_duration,
                    load_duration: done.metrics.load_duration,
                });
            }
            _ => return Err(unexpected("embed")),
        }
    }
}
