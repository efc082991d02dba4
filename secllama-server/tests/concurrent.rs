//! Requests for one model run at once on its runner (batched in one context), each giving
//! the text it gives alone; real sandboxed runner, real default model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod server_support;

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use server_support::{TestServer, model, require_model};

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn request(prompt: &str, n: u32, stream: bool) -> Value {
    json!({"model": model(), "prompt": prompt, "raw": true, "stream": stream,
        "options": {"temperature": 0, "num_predict": n, "repeat_penalty": 1.0, "seed": 1}})
}

const LONG: &str = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,";
const SHORT: &str = "The capital of France is";

#[test]
fn two_greedy_generations_run_at_once_and_each_gives_its_alone_text() {
    require_model();
    let server = TestServer::start(|_| {});

    // Alone, one after the other.
    let alone_long = json_of(
        server
            .post("/api/generate", &request(LONG, 48, false))
            .body(),
    );
    let alone_short = json_of(
        server
            .post("/api/generate", &request(SHORT, 6, false))
            .body(),
    );
    assert_eq!(alone_long["eval_count"], 48, "{alone_long}");
    assert_eq!(alone_short["eval_count"], 6, "{alone_short}");

    // Together: the long one streams on a thread; once it has produced its first piece, the
    // short one is sent and must finish while the long one is still generating. Queued
    // behind it, the short one could only finish after the long one's end.
    let order = Arc::new(AtomicU64::new(0));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let long = {
        let (client, url, order) = (server.client(), server.url("/api/generate"), order.clone());
        let body = request(LONG, 48, true).to_string();
        std::thread::spawn(move || {
            let r = client
                .post_stream(&url, "application/json", body.as_bytes())
                .unwrap();
            let mut text = String::new();
            let mut first = true;
            for line in BufReader::new(r).lines() {
                let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
                if v["done"] == true {
                    return (text, v, order.fetch_add(1, Ordering::SeqCst));
                }
                text.push_str(v["response"].as_str().unwrap());
                if first {
                    first = false;
                    started_tx.send(()).unwrap();
                }
            }
            panic!("the stream ended without done");
        })
    };
    started_rx.recv().unwrap();
    let short = json_of(
        server
            .post("/api/generate", &request(SHORT, 6, false))
            .body(),
    );
    let short_done = order.fetch_add(1, Ordering::SeqCst);
    let ps = json_of(server.get("/api/ps").body());
    let (long_text, long_done, long_done_at) = long.join().unwrap();

    assert_eq!(long_done["eval_count"], 48, "{long_done}");
    assert!(
        short_done < long_done_at,
        "the short request finished after the long one: it was queued, not run at once"
    );
    assert_eq!(short["response"], alone_short["response"]);
    assert_eq!(long_text, alone_long["response"].as_str().unwrap());
    println!(
        "while the long one ran, /api/ps said {}",
        ps["models"][0]["secllama"]
    );
}
