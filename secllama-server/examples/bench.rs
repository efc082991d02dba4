//! Benchmark and load test of the server against the `Runner` API directly, in one run.
//!
//! `cargo run -p secllama-server --example bench [ROUNDS] [REQUESTS]`: alternates ROUNDS
//! (default 10) greedy generations of 128 tokens through the `Runner` API and through a streamed
//! `/api/generate` on a loopback server, reporting time to first token and tokens/s of each as
//! the client sees them (first piece to the end) and their ratio; then sends REQUESTS (default
//! 300) one-token requests, 8 at a time, and reports the statuses and the server's and
//! runner's memory before and after. Loopback only. Needs the default model
//! (examples/fetch-model.sh) and the runner binary of the same profile
//! (cargo build --release -p secllama-runner --bins, named by SECLLAMA_RUNNER_PATH).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secllama_runner::{CompletionRequest, GenerationParams, Runner, RunnerConfig, StreamEvent};
use secllama_server::client::LocalhostClient;
use secllama_server::{ApiToken, App, Auth, RateLimit, ServerConfig};
use serde_json::{Value, json};

const TOKEN: &str = "benchmark-token-0123456789abcdef";
const PROMPT: &str = "The history of the printing press begins";
const TOKENS: u32 = 128;

fn rss_self() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Tokens per second as the client sees them: the tokens after the first over the time from
/// the first piece to the end (both sides measured the same way, not by the runner's clock).
fn client_rate(tokens: u64, first: Duration, end: Duration) -> f64 {
    tokens.saturating_sub(1) as f64 / (end - first).as_secs_f64().max(1e-9)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `value` as a number, or the bench stops with a line saying which setting was wrong.
fn number<T: std::str::FromStr>(value: &str, what: &str) -> T {
    value.parse().unwrap_or_else(|_| {
        eprintln!("bench: {what} must be a whole number, not {value:?}");
        std::process::exit(2)
    })
}

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(10, |s| number(&s, "ROUNDS"));
    let requests: u32 = std::env::args()
        .nth(2)
        .map_or(300, |s| number(&s, "REQUESTS"));
    // Inference threads of both runners (default: the runner's own default, one per core).
    let threads: Option<u32> = std::env::var("BENCH_THREADS")
        .ok()
        .map(|s| number(&s, "BENCH_THREADS"));
    let models = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(
        Auth::Token(ApiToken::new(TOKEN.into()).unwrap()),
        models.path().into(),
    );
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.context_length = 512;
    config.threads = threads;
    config.rate_limit = RateLimit {
        per_second: 1000.0,
        burst: 1000,
    };
    config.audit_log = Some(models.path().join("audit.jsonl"));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind(config.listen).await.unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            secllama_server::serve(App::new(config).unwrap(), Some(l), None, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    let url = format!("http://{addr}/api/generate");
    let client = LocalhostClient::builder()
        .bearer_token(TOKEN)
        .build()
        .unwrap();
    let model = secllama_server::default_model_name();
    let body = json!({"model": model, "prompt": PROMPT, "raw": true, "stream": true,
        "options": {"temperature": 0, "num_predict": TOKENS, "repeat_penalty": 1.0, "seed": 1}})
    .to_string();

    let mut runner_config = RunnerConfig::default_model()
        .unwrap()
        .with_context_length(512);
    if let Some(t) = threads {
        runner_config = runner_config.with_threads(t);
    }
    let runner = Runner::spawn(runner_config).unwrap();
    // warm both (the server loads its runner on first use)
    let _ = client
        .post(&url, "application/json", body.as_bytes())
        .unwrap();
    let _ = runner
        .complete(CompletionRequest::new(PROMPT).with_params(GenerationParams::greedy(TOKENS)))
        .unwrap()
        .collect_text()
        .unwrap();

    let (mut d_ttft, mut d_tps, mut s_ttft, mut s_tps) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        // direct
        let start = Instant::now();
        let mut first = None;
        let mut done = None;
        for ev in runner
            .complete(CompletionRequest::new(PROMPT).with_params(GenerationParams::greedy(TOKENS)))
            .unwrap()
        {
            match ev.unwrap() {
                StreamEvent::Piece(_) => {
                    first.get_or_insert_with(|| start.elapsed());
                }
                StreamEvent::Done(d) => done = Some((d, start.elapsed())),
            }
        }
        let first = first.unwrap();
        let (done, end) = done.unwrap();
        d_ttft.push(first.as_secs_f64() * 1e3);
        d_tps.push(client_rate(done.metrics.eval_count, first, end));
        // through the server
        let start = Instant::now();
        let stream = client
            .post_stream(&url, "application/json", body.as_bytes())
            .unwrap();
        let mut first = None;
        let mut last = (Value::Null, Duration::ZERO);
        for line in BufReader::new(stream).lines() {
            let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if v["done"] == false {
                first.get_or_insert_with(|| start.elapsed());
            } else {
                last = (v, start.elapsed());
            }
        }
        let first = first.unwrap();
        s_ttft.push(first.as_secs_f64() * 1e3);
        let n = last.0["eval_count"].as_u64().unwrap();
        s_tps.push(client_rate(n, first, last.1));
    }
    let (dt, st) = (median(&mut d_ttft), median(&mut s_ttft));
    let (dp, sp) = (median(&mut d_tps), median(&mut s_tps));
    println!("rounds: {rounds}, {TOKENS} tokens each, medians");
    println!(
        "time to first token: Runner {dt:.1} ms, /api/generate {st:.1} ms, added {:.1} ms \
         (target: at most 5 ms)",
        st - dt
    );
    println!(
        "tokens/s:            Runner {dp:.1}, /api/generate {sp:.1}, ratio {:.3} \
         (target: at least 0.98)",
        sp / dp
    );
    drop(runner);

    // load: one-token requests, 8 at a time
    let small = json!({"model": model, "prompt": "Hi", "raw": true, "stream": false,
        "options": {"num_predict": 1, "temperature": 0}})
    .to_string();
    let rss_before = rss_self();
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u32>::new()));
    let next = Arc::new(Mutex::new(0u32));
    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (statuses, next, url, small) =
                (statuses.clone(), next.clone(), url.clone(), small.clone());
            let client = LocalhostClient::builder()
                .bearer_token(TOKEN)
                .build()
                .unwrap();
            std::thread::spawn(move || {
                loop {
                    {
                        let mut n = next.lock().unwrap();
                        if *n == requests {
                            return;
                        }
                        *n += 1;
                    }
                    let r = client
                        .post(&url, "application/json", small.as_bytes())
                        .unwrap();
                    if r.status() == 200 {
                        let v: Value = serde_json::from_slice(r.body()).unwrap();
                        assert_eq!(v["done"], true, "{v}");
                    }
                    *statuses.lock().unwrap().entry(r.status()).or_default() += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let rss_after = rss_self();
    let ps: Value =
        serde_json::from_slice(client.get(&format!("http://{addr}/api/ps")).unwrap().body())
            .unwrap();
    println!(
        "load: {requests} requests, 8 at a time, {:.1} s ({:.1} req/s); statuses {:?}",
        elapsed.as_secs_f64(),
        f64::from(requests) / elapsed.as_secs_f64(),
        statuses.lock().unwrap()
    );
    println!(
        "server RSS before {:.1} MiB, after {:.1} MiB; runner RSS {:.1} MiB",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        ps["models"][0]["secllama"]["rss_bytes"]
            .as_f64()
            .unwrap_or(0.0)
            / 1048576.0
    );
    let unexpected: u32 = statuses
        .lock()
        .unwrap()
        .iter()
        .filter(|(s, _)| ![200, 429, 503].contains(*s))
        .map(|(_, n)| n)
        .sum();
    let _ = stop.send(());
    server.join().unwrap();
    assert_eq!(unexpected, 0, "statuses other than 200/429/503");
}
