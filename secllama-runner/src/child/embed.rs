//! Embeddings and tokenizer requests in the runner. Embeddings run in a context of their own
//! (made on the first request: pooled output, `context_length` tokens of cache shared by up
//! to `EMBED_SEQS` inputs per batch), between two generation steps, so requests in flight
//! wait for one embed batch at most.

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::generate::{Scheduler, nanos, send};
use super::session::{Fatal, send_error};
use crate::api::{
    Done, EmbedRequest, MAX_DETOKENIZE_BYTES, Metrics, StopReason, normalize_embedding,
    validate_detokenize, validate_tokenize,
};
use crate::wire::{RunnerMessage, WireErrorKind};

/// Inputs evaluated together in one embed batch, at most.
const EMBED_SEQS: u32 = 8;

/// The GGUF's own pooling when it declares one (embedding models), else mean pooling: a
/// generative model (like the default one) declares none, and Ollama embeds with it anyway.
fn pooling(model: &LlamaModel) -> LlamaPoolingType {
    let declared = model
        .meta_val_str("general.architecture")
        .ok()
        .and_then(|arch| model.meta_val_str(&format!("{arch}.pooling_type")).ok())
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(0);
    if declared > 0 {
        LlamaPoolingType::Unspecified
    } else {
        LlamaPoolingType::Mean
    }
}

type Refusal = (WireErrorKind, String, Option<(u64, u64)>);

impl<'m> Scheduler<'_, 'm> {
    fn embed_context(&mut self) -> Result<&mut LlamaContext<'m>, String> {
        if self.embed_ctx.is_none() {
            let n = u32::try_from(self.seq_context).unwrap_or(u32::MAX);
            let threads = i32::try_from(self.threads).unwrap_or(1);
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(n))
                .with_n_batch(n)
                .with_n_ubatch(n)
                .with_n_seq_max(EMBED_SEQS)
                .with_kv_unified(true)
                .with_embeddings(true)
                .with_pooling_type(pooling(self.model))
                .with_n_threads(threads)
                .with_n_threads_batch(threads);
            let ctx = self
                .model
                .new_context(self.backend, params)
                .map_err(|e| format!("creating the embeddings context failed: {e}"))?;
            self.embed_ctx = Some(ctx);
        }
        self.embed_ctx
            .as_mut()
            .ok_or_else(|| "no embeddings context".to_string())
    }

    /// Tokenizes every input first, so a refusal comes before any vector.
    fn embed_tokens(&self, request: &EmbedRequest) -> Result<Vec<Vec<LlamaToken>>, Refusal> {
        request
            .validate()
            .map_err(|m| (WireErrorKind::InvalidRequest, m, None))?;
        let vocab = self.model.vocab();
        let limit = self.seq_context;
        request
            .inputs
            .iter()
            .map(|text| {
                let mut tokens = vocab.tokenize(text.as_bytes(), true, false);
                if tokens.is_empty() {
                    return Err((
                        WireErrorKind::InvalidRequest,
                        "an embed input has no tokens".into(),
                        None,
                    ));
                }
                if tokens.len() > limit {
                    if !request.truncate {
                        return Err((
                            WireErrorKind::PromptTooLong,
                            "embed input too long".into(),
                            Some((tokens.len() as u64, limit as u64)),
                        ));
                    }
                    tokens.truncate(limit);
                }
                Ok(tokens)
            })
            .collect()
    }

    /// Answers an embed request: one `Embedding` per input, then `Done`.
    pub(super) fn embed(&mut self, id: u64, request: &EmbedRequest) -> Result<(), Fatal> {
        let started = Instant::now();
        let inputs = match self.embed_tokens(request) {
            Ok(t) => t,
            Err((kind, message, detail)) => {
                send_error(self.writer, Some(id), kind, message, detail);
                return Ok(());
            }
        };
        let writer = self.writer;
        let limit = self.seq_context;
        let ctx = match self.embed_context() {
            Ok(ctx) => ctx,
            Err(message) => {
                send_error(writer, Some(id), WireErrorKind::Generation, message, None);
                return Ok(());
            }
        };
        let mut evaluated = 0u64;
        let mut at = 0;
        while at < inputs.len() {
            // Pack inputs until the batch (the context) or the sequences are used up.
            let mut batch = LlamaBatch::new(limit, 1);
            let mut packed = 0usize;
            let mut end = at;
            while end < inputs.len()
                && end - at < EMBED_SEQS as usize
                && packed + inputs[end].len() <= limit
            {
                let seq = i32::try_from(end - at).unwrap_or(0);
                if batch.add_sequence(&inputs[end], seq, false).is_err() {
                    break;
                }
                packed += inputs[end].len();
                end += 1;
            }
            ctx.clear_kv_cache();
            if end == at || ctx.decode(&mut batch).is_err() {
                ctx.clear_kv_cache();
                send_error(
                    writer,
                    Some(id),
                    WireErrorKind::Generation,
                    "evaluating the embed batch failed",
                    None,
                );
                return Ok(());
            }
            for i in at..end {
                let seq = i32::try_from(i - at).unwrap_or(0);
                let Ok(pooled) = ctx.embeddings_seq_ith(seq) else {
                    ctx.clear_kv_cache();
                    send_error(
                        writer,
                        Some(id),
                        WireErrorKind::Generation,
                        "the model gave no pooled embedding",
                        None,
                    );
                    return Ok(());
                };
                let mut vector = pooled.to_vec();
                normalize_embedding(&mut vector);
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                send(writer, &RunnerMessage::Embedding { id, index, vector })?;
            }
            evaluated += packed as u64;
            at = end;
        }
        ctx.clear_kv_cache();
        let metrics = Metrics {
            prompt_eval_count: evaluated,
            prompt_eval_duration: nanos(started.elapsed()),
            load_duration: self.load_duration,
            total_duration: nanos(started.elapsed()),
            ..Metrics::default()
        };
        let done = Done {
            reason: StopReason::EndOfText,
            metrics,
        };
        send(self.writer, &RunnerMessage::Done { id, done })
    }

    pub(super) fn tokenize_text(
        &mut self,
        id: u64,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<(), Fatal> {
        if let Err(message) = validate_tokenize(text) {
            send_error(
                self.writer,
                Some(id),
                WireErrorKind::InvalidRequest,
                message,
                None,
            );
            return Ok(());
        }
        let tokens = self
            .model
            .vocab()
            .tokenize(text.as_bytes(), add_special, parse_special)
            .into_iter()
            .map(|t| t.0)
            .collect();
        send(self.writer, &RunnerMessage::Tokens { id, tokens })
    }

    pub(super) fn detokenize(&mut self, id: u64, tokens: &[i32]) -> Result<(), Fatal> {
        let n_vocab = self.model.n_vocab();
        let refusal = validate_detokenize(tokens).err().or_else(|| {
            tokens
                .iter()
                .find(|&&t| t < 0 || t >= n_vocab)
                .map(|t| format!("token {t} is not in the vocabulary (0 to {n_vocab})"))
        });
        if let Some(message) = refusal {
            send_error(
                self.writer,
                Some(id),
                WireErrorKind::InvalidRequest,
                message,
                None,
            );
            return Ok(());
        }
        let tokens: Vec<LlamaToken> = tokens.iter().map(|&t| LlamaToken::new(t)).collect();
        let bytes = self.model.vocab().detokenize(&tokens, false, true);
        if bytes.len() > MAX_DETOKENIZE_BYTES {
            send_error(
                self.writer,
                Some(id),
                WireErrorKind::InvalidRequest,
                format!("the text of these tokens exceeds {MAX_DETOKENIZE_BYTES} bytes"),
                None,
            );
            return Ok(());
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        send(self.writer, &RunnerMessage::Text { id, text })
    }
}
