//! Serving requests: tokenizing, evaluating the prompt, the generation loop, cancellation.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::model::fail;
use super::sampler::build_sampler;
use super::session::{Fatal, Inbound, channel_failed, send_error};
use super::template::render_chat;
use super::text::TextStream;
use crate::api::{ChatMessage, Done, GenerationParams, Metrics, StopReason};
use crate::wire::{HostMessage, RunnerMessage, SharedWriter, WireErrorKind};

pub(super) fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn send(writer: &SharedWriter, msg: &RunnerMessage) -> Result<(), Fatal> {
    writer.send(msg).map_err(|_| Fatal::Other)
}

pub(super) enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

/// Why one request failed (reported, then the runner serves the next one).
enum RequestError {
    Report(WireErrorKind, String, Option<(u64, u64)>),
    Fatal(Fatal),
}

impl From<Fatal> for RequestError {
    fn from(f: Fatal) -> Self {
        RequestError::Fatal(f)
    }
}

pub(super) struct Session<'a, 'm> {
    pub(super) model: &'m LlamaModel,
    pub(super) ctx: &'a mut LlamaContext<'m>,
    pub(super) writer: &'a SharedWriter,
    pub(super) rx: &'a Receiver<Inbound>,
    pub(super) batch_size: u32,
    pub(super) load_duration: u64,
    pub(super) shutdown: bool,
}
impl Session<'_, '_> {
    pub(super) fn handle(
        &mut self,
        id: u64,
        prompt: Result<Prompt, String>,
        params: &GenerationParams,
    ) -> Result<(), Fatal> {
        let result = prompt
            .map_err(|m| RequestError::Report(WireErrorKind::InvalidRequest, m, None))
            .and_then(|p| self.generate(id, p, params));
        match result {
            Ok(done) => send(self.writer, &RunnerMessage::Done { id, done }),
            Err(RequestError::Report(kind, message, detail)) => {
                send_error(self.writer, Some(id), kind, message, detail);
                Ok(())
            }
            Err(RequestError::Fatal(f)) => Err(f),
        }
    }

    fn tokenize(&self, prompt: Prompt) -> Result<Vec<LlamaToken>, RequestError> {
        let vocab = self.model.vocab();
        match prompt {
            // User text: special-token spellings stay text.
            Prompt::Text(text) => Ok(vocab.tokenize(text.as_bytes(), true, false)),
            Prompt::Chat(messages) => {
                let text = render_chat(self.model, &messages)
                    .map_err(|m| RequestError::Report(WireErrorKind::InvalidRequest, m, None))?;
                // The template's own markers (like <start_of_turn>) are special tokens.
                Ok(vocab.tokenize(text.as_bytes(), true, true))
            }
        }
    }

    fn generate(
        &mut self,
        id: u64,
        prompt: Prompt,
        params: &GenerationParams,
    ) -> Result<Done, RequestError> {
        let t_start = Instant::now();
        let tokens = self.tokenize(prompt)?;
        let n_ctx = u64::from(self.ctx.n_ctx());
        let n_prompt = tokens.len() as u64;
        if n_prompt == 0 {
            return Err(RequestError::Report(
                WireErrorKind::InvalidRequest,
                "the prompt is empty".into(),
                None,
            ));
        }
        if n_prompt >= n_ctx {
            return Err(RequestError::Report(
                WireErrorKind::PromptTooLong,
                "prompt too long".into(),
                Some((n_prompt, n_ctx)),
            ));
        }
        let gen_err = |e: String| RequestError::Report(WireErrorKind::Generation, e, None);

        self.ctx.clear_kv_cache();
        // llama.cpp may clamp the batch to the context: use what the context really has.
        let batch_cap =
            usize::try_from(self.ctx.n_batch().min(self.batch_size).max(1)).unwrap_or(512);
        let mut batch = LlamaBatch::new(batch_cap, 1);
        let last = tokens.len() - 1;
        let t_prompt = Instant::now();
        for (chunk_no, chunk) in tokens.chunks(batch_cap).enumerate() {
            batch.clear();
            for (j, tok) in chunk.iter().enumerate() {
                let pos = chunk_no * batch_cap + j;
                let pos_i32 =
                    i32::try_from(pos).map_err(|_| gen_err("position overflow".into()))?;
                batch
                    .add(*tok, pos_i32, &[0], pos == last)
                    .map_err(|e| gen_err(e.to_string()))?;
            }
            self.ctx
                .decode(&mut batch)
                .map_err(|e| gen_err(format!("prompt decode: {e}")))?;
        }
        let prompt_eval_duration = nanos(t_prompt.elapsed());

        let model = self.model;
        let mut sampler = build_sampler(model, params);
        let vocab = model.vocab();
        let mut text = TextStream::new(params.stop.clone());
        let mut n_cur = tokens.len();
        let mut generated: u64 = 0;
        let t_eval = Instant::now();
        let reason = loop {
            if generated >= u64::from(params.max_tokens) {
                break StopReason::MaxTokens;
            }
            if n_cur as u64 >= n_ctx {
                break StopReason::ContextFull;
            }
            let token = sampler.sample(self.ctx, batch.n_tokens() - 1);
            if vocab.is_eog(token) {
                break StopReason::EndOfText;
            }
            generated += 1;
            let bytes = vocab.token_to_piece(token, false, None);
            let pushed = text.push(&bytes);
            if !pushed.text.is_empty() {
                send(
                    self.writer,
                    &RunnerMessage::Token {
                        id,
                        text: pushed.text,
                    },
                )?;
            }
            if pushed.stopped {
                break StopReason::StopString;
            }
            batch.clear();
            let pos = i32::try_from(n_cur).map_err(|_| gen_err("position overflow".into()))?;
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| gen_err(e.to_string()))?;
            n_cur += 1;
            self.ctx
                .decode(&mut batch)
                .map_err(|e| gen_err(format!("decode: {e}")))?;
            if self.cancelled(id)? {
                break StopReason::Cancelled;
            }
        };
        let rest = text.finish();
        if !rest.is_empty() && reason != StopReason::StopString {
            send(self.writer, &RunnerMessage::Token { id, text: rest })?;
        }
        let eval_duration = nanos(t_eval.elapsed());
        Ok(Done {
            reason,
            metrics: Metrics {
                prompt_eval_count: n_prompt,
                prompt_eval_duration,
                eval_count: generated,
                eval_duration,
                load_duration: self.load_duration,
                total_duration: nanos(t_start.elapsed()),
            },
        })
    }

    /// Checks, without blocking, whether the host cancelled request `id` (or asked to shut
    /// down, which cancels it too).
    fn cancelled(&mut self, id: u64) -> Result<bool, Fatal> {
        loop {
            match self.rx.try_recv() {
                Ok(Inbound::Message(HostMessage::Cancel { id: c })) if c == id => return Ok(true),
                Ok(Inbound::Message(HostMessage::Cancel { .. })) => {}
                Ok(Inbound::Message(HostMessage::Shutdown)) => {
                    self.shutdown = true;
                    return Ok(true);
                }
                Ok(Inbound::Message(_)) => {
                    return Err(fail(
                        self.writer,
                        WireErrorKind::Protocol,
                        "a request arrived while another was running",
                    ));
                }
                Ok(Inbound::Failed(e)) => return Err(channel_failed(self.writer, &e)),
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Disconnected) => return Err(Fatal::Other),
            }
        }
    }
}
