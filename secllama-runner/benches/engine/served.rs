//! The same work through the sandboxed runner over the encrypted channel, requests from the
//! host's threads as a server would send them.

use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use secllama_runner::{
    CompletionRequest, DEFAULT_MODEL_SHA256, EmbedRequest, GenerationParams, Metrics, Runner,
    RunnerConfig, SandboxMode, StreamEvent, Strictness,
};

use crate::workload::{EmbedRun, PromptEval, Sizes, Streams, cpu_time};

/// A strict-sandboxed, encrypted runner with `slots` slots of `sizes.context` tokens.
pub(crate) fn spawn(model: &Path, sizes: Sizes, slots: u32) -> Runner {
    let config = RunnerConfig::new(model)
        .unwrap()
        .with_runner_path(env!("CARGO_BIN_EXE_secllama-runner"))
        .with_sha256(DEFAULT_MODEL_SHA256)
        .with_context_length(sizes.context)
        .with_slots(slots)
        .with_threads(sizes.threads)
        .with_encryption(true)
        .with_sandbox(SandboxMode::Enabled(Strictness::Strict));
    Runner::spawn(config).unwrap()
}

pub(crate) fn pid(runner: &Runner) -> String {
    runner.pid().expect("the runner's pid").to_string()
}

/// One greedy request to the end; its metrics, time to first piece, start and end.
fn run_one(runner: &Runner, prompt: &str, tokens: u32) -> (Metrics, Duration, Instant, Instant) {
    let start = Instant::now();
    let request = CompletionRequest::new(prompt).with_params(GenerationParams::greedy(tokens));
    let mut stream = runner.complete(request).unwrap();
    let mut done = None;
    for event in stream.by_ref() {
        if let StreamEvent::Done(d) = event.unwrap() {
            done = Some(d);
        }
    }
    let ttft = stream.time_to_first_piece().unwrap_or_default();
    (done.unwrap().metrics, ttft, start, Instant::now())
}

/// `first` (cold), then `second`, which shares its prefix; one token generated each.
pub(crate) fn prefix(runner: &Runner, first: &str, second: &str) -> (PromptEval, PromptEval) {
    let eval = |prompt: &str| {
        let (m, ..) = run_one(runner, prompt, 1);
        PromptEval {
            evaluated: m.prompt_eval_count,
            time: Duration::from_nanos(m.prompt_eval_duration),
        }
    };
    let cold = eval(first);
    (cold, eval(second))
}

/// One request per prompt, all sent at once from a thread each.
pub(crate) fn streams(runner: &Runner, prompts: &[String], tokens: u32) -> Streams {
    let pid = pid(runner);
    let cpu_before = cpu_time(&pid);
    let barrier = Barrier::new(prompts.len());
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    run_one(runner, p, tokens)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let cpu = cpu_time(&pid).saturating_sub(cpu_before);
    let start = results.iter().map(|r| r.2).min().unwrap();
    let end = results.iter().map(|r| r.3).max().unwrap();
    Streams {
        generated: results.iter().map(|r| r.0.eval_count).sum(),
        wall: end.duration_since(start),
        per_stream_tps: results
            .iter()
            .map(|r| r.0.eval_tokens_per_second())
            .collect(),
        ttft: results.iter().map(|r| r.1).collect(),
        cpu,
    }
}

/// One embed request for all `texts` (the runner batches them by 8).
pub(crate) fn embed(runner: &Runner, texts: &[String]) -> EmbedRun {
    let started = Instant::now();
    let answer = runner.embed(EmbedRequest::new(texts.to_vec())).unwrap();
    let time = started.elapsed();
    assert_eq!(answer.vectors.len(), texts.len());
    EmbedRun {
        texts: texts.len(),
        tokens: answer.prompt_eval_count,
        time,
    }
}
