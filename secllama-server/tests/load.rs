//! A bounded load test: 300 requests, 8 at a time, on 127.0.0.1 against a real sandboxed
//! runner with the default model. Every answer must be a designed one, and memory must stay
//! flat. No timing is asserted; the run is bounded by its request count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod server_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use secllama_server::RateLimit;
use secllama_server::client::LocalhostClient;
use serde_json::{Value, json};
use server_support::{TestServer, model, require_model};

/// `SECLLAMA_LOAD_REQUESTS` may lower it for a quick run on a busy machine.
const REQUESTS: u32 = 300;
const CONCURRENCY: usize = 8;
/// Growth of the server's resident memory allowed between the warm-up and the end: a leak of
/// 100 KiB per request would exceed it; allocator noise does not.
const RSS_GROWTH_LIMIT: u64 = 24 * 1024 * 1024;

fn rss_self() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap()
}

/// The runner's RSS as /api/ps reports it.
fn runner_rss(server: &TestServer) -> u64 {
    let ps: Value = serde_json::from_slice(server.get("/api/ps").body()).unwrap();
    ps["models"][0]["secllama"]["rss_bytes"].as_u64().unwrap()
}

/// Request `i` of the mix: Ollama generate and chat, streamed and not, OpenAI chat, and every
/// tenth a stream abandoned after its first line (as Llama Coder does on each keystroke).
fn one_request(client: &LocalhostClient, base: &str, m: &str, i: u32) -> (u16, &'static str) {
    let opts = json!({"temperature": 0, "num_predict": 2, "seed": 1});
    let post = |path: &str, body: Value| {
        client
            .post(
                &format!("{base}{path}"),
                "application/json",
                body.to_string().as_bytes(),
            )
            .unwrap()
    };
    match i % 10 {
        0 => {
            let long = json!({"model": m, "prompt": "Count from one to one hundred:",
                "options": {"num_predict": 200}});
            let stream = client
                .post_stream(
                    &format!("{base}/api/generate"),
                    "application/json",
                    long.to_string().as_bytes(),
                )
                .unwrap();
            let status = stream.status();
            if status == 200 {
                let mut first = String::new();
                BufReader::new(stream).read_line(&mut first).unwrap();
                let v: Value = serde_json::from_str(&first).unwrap();
                assert_eq!(v["done"], false, "{v}");
            }
            (status, "abandoned stream")
        }
        1 | 4 | 7 => {
            let r = post(
                "/api/generate",
                json!({"model": m, "prompt": "Hi", "raw": true, "stream": false, "options": opts}),
            );
            if r.status() == 200 {
                let v: Value = serde_json::from_slice(r.body()).unwrap();
                assert_eq!(
                    (v["done"].clone(), v["eval_count"].clone()),
                    (json!(true), json!(2))
                );
            }
            (r.status(), "generate")
        }
        2 | 5 | 8 => {
            let r = post(
                "/api/generate",
                json!({"model": m, "prompt": "Hello", "raw": true, "options": opts}),
            );
            if r.status() == 200 {
                let last: Value = serde_json::from_slice(
                    r.body()
                        .split(|b| *b == b'\n')
                        .rfind(|l| !l.is_empty())
                        .unwrap(),
                )
                .unwrap();
                assert_eq!(last["done"], true, "{last}");
            }
            (r.status(), "generate streamed")
        }
        3 | 6 => {
            let r = post(
                "/api/chat",
                json!({"model": m, "stream": false, "options": opts,
                    "messages": [{"role": "user", "content": "Hi"}]}),
            );
            if r.status() == 200 {
                let v: Value = serde_json::from_slice(r.body()).unwrap();
                assert_eq!(v["message"]["role"], "assistant", "{v}");
            }
            (r.status(), "chat")
        }
        _ => {
            let r = post(
                "/v1/chat/completions",
                json!({"model": m, "max_tokens": 2, "temperature": 0,
                    "messages": [{"role": "user", "content": "Hi"}]}),
            );
            if r.status() == 200 {
                let v: Value = serde_json::from_slice(r.body()).unwrap();
                assert_eq!(v["object"], "chat.completion", "{v}");
            }
            (r.status(), "openai chat")
        }
    }
}

type Tally = Arc<Mutex<BTreeMap<(u16, &'static str), u32>>>;

/// Sends requests `from..to`, `CONCURRENCY` at a time.
fn run_batch(server: &TestServer, from: u32, to: u32, tally: &Tally) {
    let next = Arc::new(AtomicU32::new(from));
    let base = server.url("");
    let m = model();
    std::thread::scope(|s| {
        for _ in 0..CONCURRENCY {
            let (next, tally, base, m) = (next.clone(), tally.clone(), base.clone(), m.clone());
            let client = server.client();
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= to {
                        return;
                    }
                    let key = one_request(&client, &base, &m, i);
                    *tally.lock().unwrap().entry(key).or_default() += 1;
                }
            });
        }
    });
}

#[test]
fn three_hundred_requests_eight_at_a_time_get_designed_answers_and_memory_stays_flat() {
    require_model();
    let server = TestServer::start(|c| {
        // The limits are not what is tested here: nothing should be refused.
        c.rate_limit = RateLimit {
            per_second: 1000.0,
            burst: 1000,
        };
        c.queue_limit = 16;
    });
    let requests: u32 =
        std::env::var("SECLLAMA_LOAD_REQUESTS").map_or(REQUESTS, |n| n.parse().unwrap());
    let warm_up = requests / 7;
    let tally: Tally = Arc::default();
    run_batch(&server, 0, warm_up, &tally);
    let (server_warm, runner_warm) = (rss_self(), runner_rss(&server));
    run_batch(&server, warm_up, requests, &tally);
    let (server_end, runner_end) = (rss_self(), runner_rss(&server));

    let tally = tally.lock().unwrap().clone();
    let mib = |b: u64| b as f64 / 1048576.0;
    eprintln!(
        "load: {tally:?}\nserver (test process) RSS after warm-up {:.1} MiB, at the end {:.1} \
         MiB; runner RSS {:.1} -> {:.1} MiB",
        mib(server_warm),
        mib(server_end),
        mib(runner_warm),
        mib(runner_end)
    );
    // 8 clients never fill a queue of 16 nor a 1000/s bucket: every answer is 200.
    let unexpected: Vec<_> = tally.iter().filter(|((s, _), _)| *s != 200).collect();
    assert!(unexpected.is_empty(), "{tally:?}");
    assert_eq!(tally.values().sum::<u32>(), requests);
    assert!(
        server_end <= server_warm + RSS_GROWTH_LIMIT,
        "server RSS grew from {server_warm} to {server_end} bytes"
    );
    assert!(
        runner_end <= runner_warm + RSS_GROWTH_LIMIT,
        "runner RSS grew from {runner_warm} to {runner_end} bytes"
    );

    // The server counted them, and nothing is left queued or running.
    let generate: u32 = tally
        .iter()
        .filter(|((_, kind), _)| kind.contains("generate") || kind.contains("stream"))
        .map(|(_, n)| *n)
        .sum();
    let counted =
        server.metric("secllama_requests_total{endpoint=\"/api/generate\",status=\"200\"}");
    assert_eq!(counted, f64::from(generate));
    assert_eq!(server.metric("secllama_queue_depth"), 0.0);
    // the abandoned streams (one in ten) were cancelled: each stopped before half of its 200
    // tokens
    assert!(server.metric("secllama_cancelled_total") >= 1.0);
    let bound = f64::from(requests) * 2.0 + f64::from(requests / 10 + 1) * 100.0;
    let generated = server.metric("secllama_generated_tokens_total");
    assert!(generated < bound, "{generated} tokens");
    // every request has its audit line (abandoned streams too)
    let lines = server.audit_lines();
    let api = lines
        .iter()
        .filter(|l| l["endpoint"] != "/metrics" && l["endpoint"] != "/api/ps")
        .count();
    assert_eq!(api, usize::try_from(requests).unwrap());
}
