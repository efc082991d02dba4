//! Engine benchmark (runner v2), in one run on one model, the sandboxed runner over the
//! encrypted channel side by side with llama-cpp-2 in this process doing the same work with
//! the same context parameters (`inprocess.rs`):
//!
//! - prompt evaluation of a ~1,500-token document and a question, cold, then the same
//!   document with another question (the runner reuses the shared prefix's KV cache);
//! - 1, 2 and 4 concurrent greedy streams of 128 tokens: aggregate and per-stream tokens/s,
//!   time to first token, CPU time per token;
//! - embeddings per second (64 texts in one request, batched by 8);
//! - the runner child's peak RSS with 1 slot and 1 stream against 4 slots and 4 streams.
//!
//! ```sh
//! cargo bench -p secllama-runner --bench engine
//! BENCH_SMOKE=1 cargo bench -p secllama-runner --bench engine --profile dev   # tiny
//! ```
//!
//! Environment: `SECLLAMA_TEST_MODEL` (default: the cached default model), `BENCH_THREADS`
//! (default 2), `BENCH_ROUNDS` (best of, default 3), `BENCH_TOKENS` (per stream, default
//! 128), `BENCH_SMOKE=1` (tiny sizes that only check that everything runs: its figures mean
//! nothing).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod inprocess;
mod served;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use secllama_runner::default_model_path;

use inprocess::InProcess;
use workload::{EmbedRun, PromptEval, Sizes, Streams, TAILS, document, embed_texts};
use workload::{status_kib, story_prompts};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The round with the shortest time.
fn fastest(a: PromptEval, b: PromptEval) -> PromptEval {
    if b.time < a.time { b } else { a }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: only measure under bench.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("engine bench: run it with cargo bench -p secllama-runner --bench engine");
        return;
    }
    let sizes = Sizes::from_env();
    let model: PathBuf = std::env::var_os("SECLLAMA_TEST_MODEL")
        .map(PathBuf::from)
        .or_else(default_model_path)
        .expect("no model path");
    assert!(
        model.is_file(),
        "no model at {}: run examples/fetch-model.sh",
        model.display()
    );
    let local = InProcess::load(&model, sizes);
    let counts: Vec<usize> = [1usize, 2, 4]
        .into_iter()
        .filter(|&n| n <= sizes.slots as usize)
        .collect();

    // (d) first: a one-slot runner serving one stream, for the single-stream peak RSS.
    // Each runner's peak right after loading too: what the context itself costs.
    let single = served::spawn(&model, sizes, 1);
    let rss_single_loaded = status_kib(&served::pid(&single), "VmHWM:");
    served::streams(&single, &story_prompts(1, 0), sizes.tokens);
    let rss_single = status_kib(&served::pid(&single), "VmHWM:");
    drop(single);

    let runner = served::spawn(&model, sizes, sizes.slots);
    let pid = served::pid(&runner);
    let rss_loaded = status_kib(&pid, "VmHWM:");
    let mut rss_one_stream = None;
    let context = runner.model_info().context_length;

    // (b) streams, alternating in-process and runner, best aggregate of the rounds.
    let mut best: Vec<(Streams, Streams)> = vec![Default::default(); counts.len()];
    let mut run = 1;
    for _ in 0..sizes.rounds {
        for (k, &n) in counts.iter().enumerate() {
            // The same prompts on both sides, new ones each run (nothing cached).
            let prompts = story_prompts(n, run);
            let a = local.streams(&prompts);
            let b = served::streams(&runner, &prompts, sizes.tokens);
            if n == 1 && rss_one_stream.is_none() {
                rss_one_stream = Some(status_kib(&pid, "VmHWM:"));
            }
            run += 1;
            if a.aggregate_tps() > best[k].0.aggregate_tps() {
                best[k].0 = a;
            }
            if b.aggregate_tps() > best[k].1.aggregate_tps() {
                best[k].1 = b;
            }
        }
    }
    let rss_streams = status_kib(&pid, "VmHWM:");

    // (a) cold and warm prompt evaluation; a new document each round, so cold is cold.
    let mut prefix: Option<[PromptEval; 4]> = None;
    let mut doc_tokens = 0;
    for round in 0..sizes.rounds {
        let doc = document(round, sizes.prefix_tokens, |t| local.count_tokens(t));
        doc_tokens = local.count_tokens(&doc);
        let (first, second) = (format!("{doc}{}", TAILS[0]), format!("{doc}{}", TAILS[1]));
        let (a_cold, a_warm) = local.prefix(&first, &second);
        let (b_cold, b_warm) = served::prefix(&runner, &first, &second);
        let now = [a_cold, a_warm, b_cold, b_warm];
        prefix = Some(match prefix {
            None => now,
            Some(p) => [0, 1, 2, 3].map(|i| fastest(p[i], now[i])),
        });
    }
    let [a_cold, a_warm, b_cold, b_warm] = prefix.unwrap();
    // Not a timing: both sides evaluate exactly the tokens after the shared prefix. "Cold" may
    // differ by the few leading tokens every round's document shares (the chat template's start
    // and the logbook's title), which the runner finds in a slot an earlier round left behind.
    assert_eq!(
        b_warm.evaluated, a_warm.evaluated,
        "the runner evaluated other prompt tokens than llama.cpp in-process (warm)"
    );
    assert!(
        b_cold.evaluated <= a_cold.evaluated && a_cold.evaluated - b_cold.evaluated <= 16,
        "the runner evaluated other prompt tokens than llama.cpp in-process (cold): {} vs {}",
        b_cold.evaluated,
        a_cold.evaluated
    );

    // (c) embeddings; both contexts made before timing (the runner makes its own on the
    // first embed request).
    let texts = embed_texts(sizes.texts);
    served::embed(&runner, &texts[..1]);
    let mut ctx = local.embed_context();
    let (mut a_embed, mut b_embed) = (EmbedRun::default(), EmbedRun::default());
    for _ in 0..sizes.rounds {
        let a = local.embed(&mut ctx, &texts);
        let b = served::embed(&runner, &texts);
        if a_embed.time.is_zero() || a.time < a_embed.time {
            a_embed = a;
        }
        if b_embed.time.is_zero() || b.time < b_embed.time {
            b_embed = b;
        }
    }
    let rss_all = status_kib(&pid, "VmHWM:");

    println!(
        "model: {}  threads: {}  slots: {}  context per slot: {context}  best of {}{}",
        model.display(),
        sizes.threads,
        sizes.slots,
        sizes.rounds,
        if std::env::var("BENCH_SMOKE").is_ok_and(|v| v == "1") {
            "  (SMOKE SIZES: the figures mean nothing)"
        } else {
            ""
        }
    );
    println!();
    println!("(a) prompt evaluation, {doc_tokens}-token document + question, 1 token generated");
    println!();
    println!(
        "| prompt | (a) in-process: tokens evaluated | (a) ms | (b) runner: prompt_eval_count | (b) ms | b/a time |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, a, b) in [
        ("cold", a_cold, b_cold),
        ("warm: same document, other question", a_warm, b_warm),
    ] {
        println!(
            "| {name} | {} | {:.1} | {} | {:.1} | {:.3} |",
            a.evaluated,
            ms(a.time),
            b.evaluated,
            ms(b.time),
            b.time.as_secs_f64() / a.time.as_secs_f64()
        );
    }
    println!(
        "| **warm / cold** (goal ≤ 0.1) | | {:.3} | | **{:.3}** | |",
        a_warm.time.as_secs_f64() / a_cold.time.as_secs_f64(),
        b_warm.time.as_secs_f64() / b_cold.time.as_secs_f64()
    );
    println!();
    println!("(b) concurrent greedy streams of {} tokens", sizes.tokens);
    println!();
    println!(
        "| streams | aggregate tok/s (a) | (b) | b/a | × 1 stream (a) | (b) (goal at 4: ≥ 2.5) | per-stream tok/s (a) | (b) | TTFT ms mean / max (a) | (b) | CPU ms per token (a) | (b) | tokens (a) | (b) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let (one_a, one_b) = (best[0].0.aggregate_tps(), best[0].1.aggregate_tps());
    for (k, &n) in counts.iter().enumerate() {
        let (a, b) = &best[k];
        println!(
            "| {n} | {:.1} | {:.1} | {:.3} | {:.2} | **{:.2}** | {:.1} | {:.1} | {:.0} / {:.0} | {:.0} / {:.0} | {:.2} | {:.2} | {} | {} |",
            a.aggregate_tps(),
            b.aggregate_tps(),
            b.aggregate_tps() / a.aggregate_tps(),
            a.aggregate_tps() / one_a,
            b.aggregate_tps() / one_b,
            a.mean_stream_tps(),
            b.mean_stream_tps(),
            ms(a.mean_ttft()),
            ms(a.max_ttft()),
            ms(b.mean_ttft()),
            ms(b.max_ttft()),
            a.cpu_ms_per_token(),
            b.cpu_ms_per_token(),
            a.generated,
            b.generated,
        );
    }
    println!();
    println!(
        "(c) embeddings: {} texts ({} tokens) in one request, batches of 8",
        b_embed.texts, b_embed.tokens
    );
    println!();
    println!("| metric | (a) in-process | (b) runner | b/a |");
    println!("|---|---|---|---|");
    println!(
        "| texts per second | {:.1} | {:.1} | {:.3} |",
        a_embed.texts_per_second(),
        b_embed.texts_per_second(),
        b_embed.texts_per_second() / a_embed.texts_per_second()
    );
    println!();
    let extra_kv = u64::from(sizes.slots - 1) * u64::from(context) * local.kv_bytes_per_token();
    let bound = rss_single + extra_kv / 1024;
    println!("(d) runner child peak RSS (VmHWM)");
    println!();
    println!("| runner | MiB |");
    println!("|---|---|");
    println!(
        "| 1 slot, loaded (before any request) | {:.1} |",
        mib(rss_single_loaded)
    );
    println!("| 1 slot, after 1 stream | {:.1} |", mib(rss_single));
    println!(
        "| {} slots, loaded (before any request) | {:.1} |",
        sizes.slots,
        mib(rss_loaded)
    );
    println!(
        "| {} slots, after 1 stream | {:.1} |",
        sizes.slots,
        mib(rss_one_stream.unwrap_or(0))
    );
    println!(
        "| {} slots, after 1, 2 and {} streams | **{:.1}** |",
        sizes.slots,
        counts.last().unwrap(),
        mib(rss_streams)
    );
    println!(
        "| bound: 1-slot RSS after 1 stream + KV cache of {} more slots ({:.1} MiB) | {:.1} ({}) |",
        sizes.slots - 1,
        mib(extra_kv / 1024),
        mib(bound),
        if rss_streams <= bound {
            "within"
        } else {
            "EXCEEDED"
        }
    );
    println!(
        "| {} slots, after everything (also the long prompts and the embeddings context) | {:.1} |",
        sizes.slots,
        mib(rss_all)
    );
}
