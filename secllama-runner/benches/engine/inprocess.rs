//! The baseline: llama-cpp-2 in the bench process, no SecLlama code, doing what the runner
//! does with the same context parameters — one context with a sequence per slot, the prompt
//! in batches of 512, one batched decode per step over every stream, a separate pooled
//! context for embeddings (up to 8 texts per batch).

use std::num::NonZeroU32;
use std::path::Path;
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::workload::{EmbedRun, PromptEval, Sizes, Streams, cpu_time};

/// The runner's batch size (`RunnerConfig`'s default).
const BATCH: u32 = 512;
/// Texts per embed batch, as in the runner.
const EMBED_SEQS: u32 = 8;

pub(crate) struct InProcess {
    backend: LlamaBackend,
    model: LlamaModel,
    sizes: Sizes,
}

impl InProcess {
    /// Loads the model as the runner does (weights read, not mapped).
    pub(crate) fn load(path: &Path, sizes: Sizes) -> Self {
        let mut backend = LlamaBackend::init().unwrap();
        backend.void_logs();
        let params = LlamaModelParams::default().with_use_mmap(false);
        let model = LlamaModel::load_from_file(&backend, path, &params).unwrap();
        InProcess {
            backend,
            model,
            sizes,
        }
    }

    pub(crate) fn count_tokens(&self, text: &str) -> usize {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), true, false)
            .len()
    }

    /// KV cache bytes per token of context: K and V, f16, every layer.
    pub(crate) fn kv_bytes_per_token(&self) -> u64 {
        let head_dim = u64::from(u32::try_from(self.model.n_embd()).unwrap_or(0))
            / u64::from(self.model.n_head().max(1));
        u64::from(self.model.n_layer()) * u64::from(self.model.n_head_kv()) * head_dim * 2 * 2
    }

    fn threads(&self) -> i32 {
        i32::try_from(self.sizes.threads).unwrap_or(1)
    }

    /// The runner's generation context: `context` tokens per slot, one sequence per slot.
    fn generation_context(&self) -> LlamaContext<'_> {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(self.sizes.context * self.sizes.slots))
            .with_n_seq_max(self.sizes.slots)
            .with_n_batch(BATCH)
            .with_n_ubatch(BATCH)
            .with_n_threads(self.threads())
            .with_n_threads_batch(self.threads());
        self.model.new_context(&self.backend, params).unwrap()
    }

    /// Evaluates `tokens[from..]` in sequence 0 in batches of `BATCH`, logits for the last
    /// token, and samples one token; returns the evaluation time.
    fn evaluate(ctx: &mut LlamaContext<'_>, tokens: &[LlamaToken], from: usize) -> Duration {
        let mut batch = LlamaBatch::new(BATCH as usize, 1);
        let started = Instant::now();
        for chunk_start in (from..tokens.len()).step_by(BATCH as usize) {
            batch.clear();
            let end = (chunk_start + BATCH as usize).min(tokens.len());
            for (j, token) in tokens.iter().enumerate().take(end).skip(chunk_start) {
                let pos = i32::try_from(j).unwrap();
                batch.add(*token, pos, &[0], j + 1 == tokens.len()).unwrap();
            }
            ctx.decode(&mut batch).unwrap();
        }
        let time = started.elapsed();
        let mut sampler = LlamaSampler::chain_simple([LlamaSampler::greedy()]);
        std::hint::black_box(sampler.sample(ctx, batch.n_tokens() - 1));
        time
    }

    /// A cold evaluation of `first`, then `second` reusing the prefix it shares with `first`
    /// (at least one token evaluated, as in the runner).
    pub(crate) fn prefix(&self, first: &str, second: &str) -> (PromptEval, PromptEval) {
        let mut ctx = self.generation_context();
        let vocab = self.model.vocab();
        let a = vocab.tokenize(first.as_bytes(), true, false);
        let b = vocab.tokenize(second.as_bytes(), true, false);
        let cold = PromptEval {
            evaluated: a.len() as u64,
            time: Self::evaluate(&mut ctx, &a, 0),
        };
        let keep = a
            .iter()
            .zip(&b)
            .take_while(|(x, y)| x == y)
            .count()
            .min(b.len() - 1);
        ctx.kv_cache_seq_rm(0, Some(u32::try_from(keep).unwrap()), None)
            .unwrap();
        let warm = PromptEval {
            evaluated: (b.len() - keep) as u64,
            time: Self::evaluate(&mut ctx, &b, keep),
        };
        (cold, warm)
    }

    /// Greedy streams, one sequence each, batched: one decode per step over every stream.
    pub(crate) fn streams(&self, prompts: &[String]) -> Streams {
        let mut ctx = self.generation_context();
        let vocab = self.model.vocab();
        let n = prompts.len();
        let max = u64::from(self.sizes.tokens);
        let cpu_before = cpu_time("self");
        let start = Instant::now();
        let mut batch = LlamaBatch::new(BATCH as usize, 1);
        let mut logits_at = vec![None; n];
        let mut pos = vec![0i32; n];
        for (s, prompt) in prompts.iter().enumerate() {
            let tokens = vocab.tokenize(prompt.as_bytes(), true, false);
            let seq = i32::try_from(s).unwrap();
            for (j, token) in tokens.iter().enumerate() {
                let p = i32::try_from(j).unwrap();
                batch.add(*token, p, &[seq], j + 1 == tokens.len()).unwrap();
            }
            logits_at[s] = Some(batch.n_tokens() - 1);
            pos[s] = i32::try_from(tokens.len()).unwrap();
        }
        ctx.decode(&mut batch).unwrap();
        let mut samplers: Vec<LlamaSampler> = (0..n)
            .map(|_| LlamaSampler::chain_simple([LlamaSampler::greedy()]))
            .collect();
        let mut generated = vec![0u64; n];
        let mut first: Vec<Option<Instant>> = vec![None; n];
        let mut ended: Vec<Option<Instant>> = vec![None; n];
        let mut text: Vec<Vec<u8>> = vec![Vec::new(); n];
        loop {
            batch.clear();
            for s in 0..n {
                let Some(at) = logits_at[s].take() else {
                    continue;
                };
                first[s].get_or_insert_with(Instant::now);
                let token = samplers[s].sample(&ctx, at);
                if vocab.is_eog(token) {
                    ended[s] = Some(Instant::now());
                    continue;
                }
                generated[s] += 1;
                text[s].extend(vocab.token_to_piece(token, false, None));
                if generated[s] >= max {
                    ended[s] = Some(Instant::now());
                    continue;
                }
                let seq = i32::try_from(s).unwrap();
                batch.add(token, pos[s], &[seq], true).unwrap();
                logits_at[s] = Some(batch.n_tokens() - 1);
                pos[s] += 1;
            }
            if batch.n_tokens() == 0 {
                break;
            }
            ctx.decode(&mut batch).unwrap();
        }
        let wall = start.elapsed();
        std::hint::black_box(&text);
        let cpu = cpu_time("self").saturating_sub(cpu_before);
        #[allow(clippy::cast_precision_loss)]
        let per_stream_tps = (0..n)
            .map(|s| {
                let span = ended[s].unwrap().duration_since(first[s].unwrap());
                generated[s] as f64 / span.as_secs_f64().max(1e-9)
            })
            .collect();
        Streams {
            generated: generated.iter().sum(),
            wall,
            per_stream_tps,
            // The first sample comes right after the prompt's decode, as in the runner.
            ttft: first
                .iter()
                .map(|f| f.unwrap().duration_since(start))
                .collect(),
            cpu,
        }
    }

    /// The runner's embeddings context: `context` tokens, 8 sequences, mean pooling.
    pub(crate) fn embed_context(&self) -> LlamaContext<'_> {
        let n = self.sizes.context;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n))
            .with_n_batch(n)
            .with_n_ubatch(n)
            .with_n_seq_max(EMBED_SEQS)
            .with_kv_unified(true)
            .with_embeddings(true)
            .with_pooling_type(LlamaPoolingType::Mean)
            .with_n_threads(self.threads())
            .with_n_threads_batch(self.threads());
        self.model.new_context(&self.backend, params).unwrap()
    }

    /// Embeds `texts` in batches of up to 8, pooled and L2-normalised.
    pub(crate) fn embed(&self, ctx: &mut LlamaContext<'_>, texts: &[String]) -> EmbedRun {
        let vocab = self.model.vocab();
        let started = Instant::now();
        let inputs: Vec<Vec<LlamaToken>> = texts
            .iter()
            .map(|t| vocab.tokenize(t.as_bytes(), true, false))
            .collect();
        let limit = self.sizes.context as usize;
        let mut tokens = 0u64;
        let mut batch = LlamaBatch::new(limit, 1);
        for group in inputs.chunks(EMBED_SEQS as usize) {
            batch.clear();
            for (seq, input) in group.iter().enumerate() {
                batch
                    .add_sequence(input, i32::try_from(seq).unwrap(), false)
                    .unwrap();
                tokens += input.len() as u64;
            }
            ctx.clear_kv_cache();
            ctx.decode(&mut batch).unwrap();
            for seq in 0..group.len() {
                let mut v = ctx
                    .embeddings_seq_ith(i32::try_from(seq).unwrap())
                    .unwrap()
                    .to_vec();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                std::hint::black_box(&v);
            }
        }
        ctx.clear_kv_cache();
        EmbedRun {
            texts: texts.len(),
            tokens,
            time: started.elapsed(),
        }
    }
}
