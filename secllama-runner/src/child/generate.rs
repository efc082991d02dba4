//! Serving requests: several sequences batched in one llama.cpp context. Each step reads what
//! the host sent (new requests, cancels), gives queued requests free slots, builds one batch
//! (the pending token of every generating slot, then prompt tokens up to the batch size),
//! decodes it once, and samples every slot whose logits it produced.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::model::fail;
use super::sampler::{Candidates, build_sampler};
use super::session::{Fatal, Inbound, channel_failed, send_error};
use super::slots::{Active, Phase, Slot, choose_slot, commit, plan_step, reusable, truncate_front};
use super::template::render_chat;
use super::text::TextStream;
use crate::api::{ChatMessage, Done, GenerationParams, Metrics, StopReason};
use crate::api::{validate_messages, validate_prompt};
use crate::grammar::grammar;
use crate::wire::{HostMessage, LoadRequest, RunnerMessage, SharedWriter, WireErrorKind};

/// Requests waiting for a free slot, at most (more are refused as invalid).
pub(super) const MAX_QUEUED: usize = 64;

pub(super) fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub(super) fn send(writer: &SharedWriter, msg: &RunnerMessage) -> Result<(), Fatal> {
    writer.send(msg).map_err(|_| Fatal::Other)
}

enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

/// A checked, tokenized request waiting for a slot.
struct Queued {
    id: u64,
    tokens: Vec<LlamaToken>,
    params: GenerationParams,
    /// The output-format grammar sampler, if the request has a format.
    grammar: Option<LlamaSampler>,
    received: Instant,
}

pub(super) struct Scheduler<'a, 'm> {
    pub(super) model: &'m LlamaModel,
    pub(super) ctx: &'a mut LlamaContext<'m>,
    pub(super) backend: &'a LlamaBackend,
    pub(super) threads: u32,
    /// The embeddings context, made on the first embed request.
    pub(super) embed_ctx: Option<LlamaContext<'m>>,
    pub(super) writer: &'a SharedWriter,
    pub(super) rx: &'a Receiver<Inbound>,
    pub(super) load_duration: u64,
    /// Tokens of context each sequence has.
    pub(super) seq_context: usize,
    pub(super) slots: Vec<Slot>,
    /// The one batch, refilled each step, and its capacity.
    batch: LlamaBatch<'static>,
    batch_cap: usize,
    /// The candidates every slot's sampler picks from.
    candidates: Candidates,
    queue: VecDeque<Queued>,
    shutdown: bool,
}

impl<'a, 'm> Scheduler<'a, 'm> {
    pub(super) fn new(
        model: &'m LlamaModel,
        ctx: &'a mut LlamaContext<'m>,
        backend: &'a LlamaBackend,
        writer: &'a SharedWriter,
        rx: &'a Receiver<Inbound>,
        load: &LoadRequest,
        load_duration: u64,
    ) -> Self {
        let (batch_size, slots) = (load.batch_size, load.slots);
        let n_slots = usize::try_from(slots.max(1)).unwrap_or(1);
        let seq_context = usize::try_from(ctx.n_ctx()).unwrap_or(0) / n_slots;
        // llama.cpp may clamp the batch to the context: use what the context really has.
        let batch_cap = usize::try_from(ctx.n_batch().min(batch_size).max(1)).unwrap_or(512);
        Scheduler {
            model,
            ctx,
            backend,
            threads: load.threads,
            embed_ctx: None,
            writer,
            rx,
            load_duration,
            seq_context,
            slots: (0..slots.max(1))
                .map(|s| Slot::new(i32::try_from(s).unwrap_or(0)))
                .collect(),
            batch: LlamaBatch::new(batch_cap, 1),
            batch_cap,
            candidates: Candidates::new(),
            queue: VecDeque::new(),
            shutdown: false,
        }
    }

    /// Serves until the host shuts the session down (`Ok`) or the channel fails.
    pub(super) fn run(&mut self) -> Result<(), Fatal> {
        loop {
            let idle = self.queue.is_empty() && self.slots.iter().all(|s| s.active.is_none());
            self.read_inbound(idle)?;
            if self.shutdown {
                self.cancel_all()?;
                return Ok(());
            }
            self.assign_slots()?;
            self.step()?;
        }
    }

    /// Handles what the host sent: blocks for the next message when idle, otherwise takes
    /// whatever is already there.
    fn read_inbound(&mut self, block: bool) -> Result<(), Fatal> {
        let mut first = block;
        loop {
            let inbound = if first {
                first = false;
                self.rx.recv().map_err(|_| Fatal::Other)?
            } else {
                match self.rx.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => return Err(Fatal::Other),
                }
            };
            let msg = match inbound {
                Inbound::Message(m) => m,
                Inbound::Failed(e) => return Err(channel_failed(self.writer, &e)),
            };
            match msg {
                HostMessage::Shutdown => {
                    self.shutdown = true;
                    return Ok(());
                }
                HostMessage::Cancel { id } => self.cancel(id)?,
                HostMessage::Load(_) => {
                    return Err(fail(
                        self.writer,
                        WireErrorKind::Protocol,
                        "the model is already loaded",
                    ));
                }
                HostMessage::Complete { id, request } => {
                    let grammar = request.format.as_ref().map(grammar).transpose();
                    let prompt = validate_prompt(&request.prompt)
                        .and_then(|()| request.params.validate())
                        .and(grammar)
                        .map(|g| (Prompt::Text(request.prompt), g, request.num_keep));
                    self.enqueue(id, prompt, request.params);
                }
                HostMessage::Chat { id, request } => {
                    let grammar = request.format.as_ref().map(grammar).transpose();
                    let prompt = validate_messages(&request.messages)
                        .and_then(|()| request.params.validate())
                        .and(grammar)
                        .map(|g| (Prompt::Chat(request.messages), g, request.num_keep));
                    self.enqueue(id, prompt, request.params);
                }
                HostMessage::Embed { id, request } => self.embed(id, &request)?,
                HostMessage::Tokenize {
                    id,
                    text,
                    add_special,
                    parse_special,
                } => self.tokenize_text(id, &text, add_special, parse_special)?,
                HostMessage::Detokenize { id, tokens } => self.detokenize(id, &tokens)?,
            }
        }
    }

    /// Checks and tokenizes a request and queues it; a bad one is answered at once with its
    /// error and never takes a slot.
    fn enqueue(
        &mut self,
        id: u64,
        prompt: Result<(Prompt, Option<String>, Option<u32>), String>,
        params: GenerationParams,
    ) {
        let received = Instant::now();
        let in_flight = self.queue.iter().any(|q| q.id == id)
            || self
                .slots
                .iter()
                .any(|s| s.active.as_ref().is_some_and(|a| a.id == id));
        let checked = if in_flight {
            Err((
                WireErrorKind::InvalidRequest,
                format!("request id {id} is already in flight"),
                None,
            ))
        } else if self.queue.len() >= MAX_QUEUED {
            Err((
                WireErrorKind::InvalidRequest,
                format!("more than {MAX_QUEUED} requests are waiting for a slot"),
                None,
            ))
        } else {
            prompt
                .map_err(|m| (WireErrorKind::InvalidRequest, m, None))
                .and_then(|(p, gbnf, num_keep)| {
                    let grammar = gbnf
                        .map(|g| {
                            LlamaSampler::grammar(self.model, &g, "root").map_err(|e| {
                                let m = format!("llama.cpp refused the output grammar: {e}");
                                (WireErrorKind::InvalidRequest, m, None)
                            })
                        })
                        .transpose()?;
                    Ok((self.tokenize(p, num_keep, params.max_tokens)?, grammar))
                })
        };
        match checked {
            Ok((tokens, grammar)) => self.queue.push_back(Queued {
                id,
                tokens,
                params,
                grammar,
                received,
            }),
            Err((kind, message, detail)) => {
                send_error(self.writer, Some(id), kind, message, detail);
            }
        }
    }

    #[allow(clippy::type_complexity)]
    /// The prompt's tokens; one that does not fit the context is cut from the front keeping
    /// its first `num_keep` tokens (Ollama's truncation), or refused without `num_keep`.
    fn tokenize(
        &self,
        prompt: Prompt,
        num_keep: Option<u32>,
        max_tokens: u32,
    ) -> Result<Vec<LlamaToken>, (WireErrorKind, String, Option<(u64, u64)>)> {
        let vocab = self.model.vocab();
        let tokens = match prompt {
            // User text: special-token spellings stay text.
            Prompt::Text(text) => vocab.tokenize(text.as_bytes(), true, false),
            Prompt::Chat(messages) => {
                let text = render_chat(self.model, &messages)
                    .map_err(|m| (WireErrorKind::InvalidRequest, m, None))?;
                // The template's own markers (like <start_of_turn>) are special tokens.
                vocab.tokenize(text.as_bytes(), true, true)
            }
        };
        if tokens.is_empty() {
            return Err((
                WireErrorKind::InvalidRequest,
                "the prompt is empty".into(),
                None,
            ));
        }
        if tokens.len() >= self.seq_context
            && let Some(keep) = num_keep
        {
            let keep = usize::try_from(keep).unwrap_or(usize::MAX);
            let room = usize::try_from(max_tokens).unwrap_or(usize::MAX);
            return Ok(truncate_front(tokens, self.seq_context, keep, room));
        }
        if tokens.len() >= self.seq_context {
            return Err((
                WireErrorKind::PromptTooLong,
                "prompt too long".into(),
                Some((tokens.len() as u64, self.seq_context as u64)),
            ));
        }
        Ok(tokens)
    }

    /// Cancels request `id`, running or queued; a finished or unknown id is ignored (a late
    /// cancel).
    fn cancel(&mut self, id: u64) -> Result<(), Fatal> {
        if let Some(at) = self.queue.iter().position(|q| q.id == id) {
            if let Some(q) = self.queue.remove(at) {
                let metrics = Metrics {
                    load_duration: self.load_duration,
                    total_duration: nanos(q.received.elapsed()),
                    ..Metrics::default()
                };
                send(
                    self.writer,
                    &RunnerMessage::Done {
                        id,
                        done: Done {
                            reason: StopReason::Cancelled,
                            metrics,
                        },
                    },
                )?;
            }
            return Ok(());
        }
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.active.as_ref().is_some_and(|a| a.id == id))
        {
            self.finish(i, StopReason::Cancelled)?;
        }
        Ok(())
    }

    fn cancel_all(&mut self) -> Result<(), Fatal> {
        while let Some(q) = self.queue.front() {
            let id = q.id;
            self.cancel(id)?;
        }
        for i in 0..self.slots.len() {
            if self.slots[i].active.is_some() {
                self.finish(i, StopReason::Cancelled)?;
            }
        }
        Ok(())
    }

    /// Gives queued requests (oldest first) the free slot that shares the longest prefix with
    /// them, dropping the rest of that slot's cache.
    fn assign_slots(&mut self) -> Result<(), Fatal> {
        while let Some(q) = self.queue.front() {
            let Some(i) = choose_slot(&self.slots, &q.tokens) else {
                return Ok(());
            };
            let Some(q) = self.queue.pop_front() else {
                return Ok(());
            };
            let slot = &mut self.slots[i];
            let mut keep = reusable(&slot.cached, &q.tokens);
            let from = u32::try_from(keep).unwrap_or(0);
            if self
                .ctx
                .kv_cache_seq_rm(slot.seq, Some(from), None)
                .is_err()
            {
                // Some caches cannot drop part of a sequence: start it over.
                let _ = self.ctx.kv_cache_seq_rm(slot.seq, None, None);
                keep = 0;
            }
            slot.cached.truncate(keep);
            slot.active = Some(Active {
                id: q.id,
                phase: Phase::Prompt { next: keep },
                sampler: build_sampler(self.model, &q.params, q.grammar),
                text: TextStream::new(q.params.stop.clone()),
                max_tokens: u64::from(q.params.max_tokens),
                generated: 0,
                prompt_evaluated: 0,
                started: q.received,
                prompt_time: std::time::Duration::ZERO,
                eval_started: None,
                logits_at: None,
                prompt: q.tokens,
            });
        }
        Ok(())
    }

    /// One batch over every active slot: decode, then sample.
    fn step(&mut self) -> Result<(), Fatal> {
        let plan = plan_step(&self.slots, self.batch_cap, self.seq_context);
        for &i in &plan.full {
            self.finish(i, StopReason::ContextFull)?;
        }
        if plan.tokens.is_empty() {
            return Ok(());
        }
        for slot in &mut self.slots {
            if let Some(active) = slot.active.as_mut() {
                active.logits_at = None;
            }
        }
        // The batch is allocated once (`batch_cap` tokens: llama_batch_init allocates per
        // token) and refilled each step.
        self.batch.clear();
        for p in &plan.tokens {
            let slot = &mut self.slots[p.slot];
            let pos = i32::try_from(p.pos).unwrap_or(i32::MAX);
            if self.batch.add(p.token, pos, &[slot.seq], p.logits).is_err() {
                return self.fail_batch("the batch is larger than planned");
            }
            if p.logits
                && let Some(active) = slot.active.as_mut()
            {
                active.logits_at = Some(self.batch.n_tokens() - 1);
            }
        }
        let t_decode = Instant::now();
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            return self.fail_batch(&format!("decode: {e}"));
        }
        let spent = t_decode.elapsed();
        for i in commit(&mut self.slots, &plan) {
            if let Some(a) = self.slots[i].active.as_mut() {
                a.prompt_time += spent;
            }
        }
        self.sample_all()
    }

    /// Samples every slot whose logits the last decode produced.
    fn sample_all(&mut self) -> Result<(), Fatal> {
        for i in 0..self.slots.len() {
            let Some(active) = self.slots[i].active.as_mut() else {
                continue;
            };
            let Some(at) = active.logits_at.take() else {
                continue;
            };
            if active.eval_started.is_none() {
                active.eval_started = Some(Instant::now());
            }
            let Some(token) = self.candidates.pick(&mut active.sampler, self.ctx, at) else {
                self.fail_request(i, "the sampler selected no token");
                continue;
            };
            let vocab = self.model.vocab();
            if vocab.is_eog(token) {
                self.finish(i, StopReason::EndOfText)?;
                continue;
            }
            active.generated += 1;
            let bytes = vocab.token_to_piece(token, false, None);
            let pushed = active.text.push(&bytes);
            let id = active.id;
            active.phase = Phase::Generate { pending: token };
            let done_max = active.generated >= active.max_tokens;
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
                self.finish(i, StopReason::StopString)?;
            } else if done_max {
                self.finish(i, StopReason::MaxTokens)?;
            }
        }
        Ok(())
    }

    /// Request `i` cannot go on: it gets the error, and its sequence is dropped from the cache.
    fn fail_request(&mut self, i: usize, message: &str) {
        let slot = &mut self.slots[i];
        let Some(active) = slot.active.take() else {
            return;
        };
        let _ = self.ctx.kv_cache_seq_rm(slot.seq, None, None);
        slot.cached.clear();
        send_error(
            self.writer,
            Some(active.id),
            WireErrorKind::Generation,
            message,
            None,
        );
    }

    /// A decode failed: every request in the batch gets the error, and their sequences are
    /// dropped from the cache (their state is unknown).
    fn fail_batch(&mut self, message: &str) -> Result<(), Fatal> {
        for i in 0..self.slots.len() {
            self.fail_request(i, message);
        }
        Ok(())
    }

    /// Ends the request in slot `i`: the text held back, then `Done`. The slot keeps its cache.
    fn finish(&mut self, i: usize, reason: StopReason) -> Result<(), Fatal> {
        let Some(mut active) = self.slots[i].active.take() else {
            return Ok(());
        };
        let rest = active.text.finish();
        if !rest.is_empty() && reason != StopReason::StopString {
            send(
                self.writer,
                &RunnerMessage::Token {
                    id: active.id,
                    text: rest,
                },
            )?;
        }
        let eval_duration = active.eval_started.map_or(0, |t| nanos(t.elapsed()));
        send(
            self.writer,
            &RunnerMessage::Done {
                id: active.id,
                done: Done {
                    reason,
                    metrics: Metrics {
                        prompt_eval_count: active.prompt_evaluated,
                        prompt_eval_duration: nanos(active.prompt_time),
                        eval_count: active.generated,
                        eval_duration,
                        load_duration: self.load_duration,
                        total_duration: nanos(active.started.elapsed()),
                    },
                },
            },
        )
    }
}
