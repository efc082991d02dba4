//! Generation benchmark: the same greedy 128-token run on the same model and threads,
//! (a) llama-cpp-2 in this process without any SecLlama code, (b) the sandboxed runner over
//! the encrypted channel; measured alternately in one run, best of `ROUNDS`.
//!
//!     cargo bench -p secllama-runner --bench generation
//!
//! Environment: `SECLLAMA_TEST_MODEL` (default: the cached default model), `BENCH_THREADS`
//! (default 2), `BENCH_ROUNDS` (default 3), `BENCH_SMOKE=1` (8 tokens, one round: only checks
//! that it runs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use secllama_runner::{
    CompletionRequest, DEFAULT_MODEL_SHA256, GenerationParams, Runner, RunnerConfig, SandboxMode,
    StreamEvent, Strictness, default_model_path,
};

const PROMPT: &str = "Write a long story about a dragon who learns to paint. Once upon a time,";
const TOKENS: u32 = 128;
const SMOKE_TOKENS: u32 = 8;

fn smoke() -> bool {
    std::env::var("BENCH_SMOKE").is_ok_and(|v| v == "1")
}

/// Tokens generated per run.
fn to_generate() -> u32 {
    if smoke() { SMOKE_TOKENS } else { TOKENS }
}
const CONTEXT: u32 = 1024;

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    prompt_tps: f64,
    gen_tps: f64,
    ttft: Duration,
    eval_count: u64,
}

fn best(samples: &[Sample]) -> Sample {
    let mut s = samples[0];
    for x in samples {
        s.prompt_tps = s.prompt_tps.max(x.prompt_tps);
        s.gen_tps = s.gen_tps.max(x.gen_tps);
        s.ttft = s.ttft.min(x.ttft);
        s.eval_count = x.eval_count;
    }
    s
}

/// The prompt of round `round`: the runner keeps each slot's evaluated prefix (engine v2), so
/// every round starts with its own tag and both sides evaluate the whole prompt cold.
fn prompt(round: usize) -> String {
    format!("Run {round}. {PROMPT}")
}

fn in_process(backend: &LlamaBackend, model: &LlamaModel, threads: i32, prompt: &str) -> Sample {
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(CONTEXT))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = model.new_context(backend, params).unwrap();
    let start = Instant::now();
    let vocab = model.vocab();
    let tokens = vocab.tokenize(prompt.as_bytes(), true, false);
    let mut batch = LlamaBatch::new(512, 1);
    let last = tokens.len() - 1;
    for (i, t) in tokens.iter().enumerate() {
        batch
            .add(*t, i32::try_from(i).unwrap(), &[0], i == last)
            .unwrap();
    }
    let t_prompt = Instant::now();
    ctx.decode(&mut batch).unwrap();
    let prompt_time = t_prompt.elapsed();
    let mut sampler = LlamaSampler::chain_simple([LlamaSampler::greedy()]);
    let mut n_cur = tokens.len();
    let mut generated = 0u64;
    let mut ttft = None;
    let mut text = Vec::new();
    let t_gen = Instant::now();
    while generated < u64::from(to_generate()) {
        let token = sampler.sample(&ctx, batch.n_tokens() - 1);
        if vocab.is_eog(token) {
            break;
        }
        text.extend(vocab.token_to_piece(token, false, None));
        ttft.get_or_insert_with(|| start.elapsed());
        generated += 1;
        batch.clear();
        batch
            .add(token, i32::try_from(n_cur).unwrap(), &[0], true)
            .unwrap();
        n_cur += 1;
        ctx.decode(&mut batch).unwrap();
    }
    let gen_time = t_gen.elapsed();
    #[allow(clippy::cast_precision_loss)]
    Sample {
        prompt_tps: tokens.len() as f64 / prompt_time.as_secs_f64(),
        gen_tps: generated as f64 / gen_time.as_secs_f64(),
        ttft: ttft.unwrap_or_default(),
        eval_count: generated,
    }
}

fn through_runner(runner: &mut Runner, prompt: &str) -> Sample {
    let request =
        CompletionRequest::new(prompt).with_params(GenerationParams::greedy(to_generate()));
    let mut stream = runner.complete(request).unwrap();
    let mut done = None;
    for event in stream.by_ref() {
        if let StreamEvent::Done(d) = event.unwrap() {
            done = Some(d);
        }
    }
    let ttft = stream.time_to_first_piece().unwrap_or_default();
    drop(stream);
    let m = done.unwrap().metrics;
    Sample {
        prompt_tps: m.prompt_tokens_per_second(),
        gen_tps: m.eval_tokens_per_second(),
        ttft,
        eval_count: m.eval_count,
    }
}

fn vm_hwm_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: only run
    // the (slow) measurement under cargo bench.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "generation bench: run it with cargo bench -p secllama-runner --bench generation"
        );
        return;
    }
    let model_path: PathBuf = std::env::var_os("SECLLAMA_TEST_MODEL")
        .map(PathBuf::from)
        .or_else(default_model_path)
        .expect("no model path");
    assert!(
        model_path.is_file(),
        "no model at {}: run examples/fetch-model.sh",
        model_path.display()
    );
    let threads: u32 = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke() { 1 } else { 3 });

    // (a) in-process baseline, same load parameters as the runner (weights read, not mapped).
    let mut backend = LlamaBackend::init().unwrap();
    backend.void_logs();
    let model = LlamaModel::load_from_file(
        &backend,
        &model_path,
        &LlamaModelParams::default().with_use_mmap(false),
    )
    .unwrap();

    // (b) the sandboxed runner, encrypted channel; spawn overhead = spawn time - model load.
    let config = RunnerConfig::new(&model_path)
        .unwrap()
        .with_runner_path(env!("CARGO_BIN_EXE_secllama-runner"))
        .with_sha256(DEFAULT_MODEL_SHA256)
        .with_context_length(CONTEXT)
        .with_threads(threads)
        .with_encryption(true)
        .with_sandbox(SandboxMode::Enabled(Strictness::Strict));
    let mut overheads_ms = Vec::new();
    let mut spawn_ms = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let r = Runner::spawn(config.clone()).unwrap();
        let total = t.elapsed();
        let request = CompletionRequest::new("Hi").with_params(GenerationParams::greedy(1));
        let load_ns = r
            .complete(request)
            .unwrap()
            .collect_text()
            .unwrap()
            .1
            .metrics
            .load_duration;
        #[allow(clippy::cast_precision_loss)]
        overheads_ms.push(total.as_secs_f64() * 1e3 - load_ns as f64 / 1e6);
        spawn_ms.push(total.as_secs_f64() * 1e3);
    }
    let mut runner = Runner::spawn(config).unwrap();
    let pid = runner.pid().unwrap().to_string();

    let mut a = Vec::new();
    let mut b = Vec::new();
    let threads_i32 = i32::try_from(threads).unwrap();
    for round in 1..=rounds {
        let prompt = prompt(round);
        a.push(in_process(&backend, &model, threads_i32, &prompt));
        b.push(through_runner(&mut runner, &prompt));
    }
    let child_rss = vm_hwm_kib(&pid);
    let self_rss = vm_hwm_kib("self");
    let (a, b) = (best(&a), best(&b));

    let overhead_ms = overheads_ms.iter().copied().fold(f64::INFINITY, f64::min);
    let spawn_min = spawn_ms.iter().copied().fold(f64::INFINITY, f64::min);

    println!(
        "model: {}  threads: {threads}  tokens: {}  greedy  best of {rounds}",
        model_path.display(),
        to_generate()
    );
    println!("| metric | (a) llama-cpp-2 in-process | (b) sandboxed runner, encrypted | b/a |");
    println!("|---|---|---|---|");
    println!(
        "| prompt tokens/s | {:.1} | {:.1} | {:.3} |",
        a.prompt_tps,
        b.prompt_tps,
        b.prompt_tps / a.prompt_tps
    );
    println!(
        "| generation tokens/s | {:.2} | {:.2} | {:.3} |",
        a.gen_tps,
        b.gen_tps,
        b.gen_tps / a.gen_tps
    );
    println!(
        "| time to first token (ms) | {:.1} | {:.1} | +{:.1} ms |",
        a.ttft.as_secs_f64() * 1e3,
        b.ttft.as_secs_f64() * 1e3,
        (b.ttft.as_secs_f64() - a.ttft.as_secs_f64()) * 1e3
    );
    println!(
        "| tokens generated | {} | {} | |",
        a.eval_count, b.eval_count
    );
    println!(
        "| peak RSS (MiB) | {:.0} (bench process, includes (a)'s model) | {:.0} (runner child) | |",
        self_rss as f64 / 1024.0,
        child_rss as f64 / 1024.0
    );
    println!("| spawn + sandbox + handshake, excluding model load (ms) | | {overhead_ms:.1} | |");
    println!(
        "spawn to ready, total (best): {spawn_min:.1} ms (includes hashing and loading the model)"
    );
}
