//! The API with real sandboxed runners and the real default model: generate, chat, streams,
//! OpenAI endpoints, metadata, keep_alive, queueing, disconnect cancellation, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod server_support;

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use serde_json::{Value, json};
use server_support::{TestServer, model, require_model};

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn greedy(n: u32) -> Value {
    json!({"temperature": 0, "num_predict": n, "seed": 7, "repeat_penalty": 1.0})
}

fn ndjson(body: &[u8]) -> Vec<Value> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn generate_chat_and_openai_answers_have_ollama_and_openai_shapes() {
    require_model();
    let server = TestServer::start(|_| {});
    let m = model();

    // streamed generate: NDJSON pieces then one done line with Ollama's metrics
    let r = server.post("/api/generate", &json!({"model": m, "prompt": "The capital of France is", "raw": true, "options": greedy(6)}));
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_type(), Some("application/x-ndjson"));
    let lines = ndjson(r.body());
    let (last, pieces) = lines.split_last().unwrap();
    assert!(!pieces.is_empty());
    assert!(
        pieces
            .iter()
            .all(|p| p["done"] == false && p["model"] == m.as_str() && p["response"].is_string())
    );
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "length");
    assert_eq!(last["eval_count"], 6);
    for k in [
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(last[k].as_u64().unwrap() > 0, "{k}: {last}");
    }
    assert!(last["created_at"].as_str().unwrap().ends_with('Z'));
    let streamed: String = pieces
        .iter()
        .map(|p| p["response"].as_str().unwrap())
        .collect();

    // the same request unstreamed: one object, the same greedy text
    let r = server.post("/api/generate", &json!({"model": m, "prompt": "The capital of France is", "raw": true, "stream": false, "options": greedy(6)}));
    let v = json_of(r.body());
    assert_eq!(v["response"].as_str().unwrap(), streamed);
    assert_eq!(
        (
            v["done"].clone(),
            v["eval_count"].clone(),
            v["load_duration"].clone()
        ),
        (json!(true), json!(6), json!(0))
    );

    // chat, unstreamed
    let r = server.post("/api/chat", &json!({"model": m, "stream": false, "options": greedy(4),
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}));
    assert_eq!(r.status(), 200, "{}", r.text_lossy());
    let v = json_of(r.body());
    assert_eq!(v["message"]["role"], "assistant");
    assert!(v["message"]["content"].is_string());
    assert_eq!(v["done"], true);

    // OpenAI chat, streamed: SSE chunks, a finish_reason, usage, [DONE]
    let r = server.post(
        "/v1/chat/completions",
        &json!({"model": m, "stream": true, "max_tokens": 3,
        "temperature": 0, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Say hello"}]}),
    );
    assert_eq!(r.content_type(), Some("text/event-stream"));
    let text = r.text_lossy();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"
        && c["id"].as_str().unwrap().starts_with("chatcmpl-")));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 3);
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "length"
    );

    // OpenAI completions, unstreamed
    let r = server.post("/v1/completions", &json!({"model": m, "prompt": "The capital of France is", "max_tokens": 6, "temperature": 0, "seed": 7}));
    let v = json_of(r.body());
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["usage"]["completion_tokens"], 6);
    assert!(v["choices"][0]["text"].is_string());

    // metadata: tags, show, ps, models
    let tags = json_of(server.get("/api/tags").body());
    let entry = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == m.as_str())
        .unwrap();
    assert_eq!(entry["digest"], secllama_runner::DEFAULT_MODEL_SHA256);
    assert_eq!(entry["size"], secllama_runner::DEFAULT_MODEL_SIZE);
    assert_eq!(entry["details"]["format"], "gguf");
    assert!(!entry["details"]["family"].as_str().unwrap().is_empty());
    assert!(
        !entry["details"]["quantization_level"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let show = json_of(server.post("/api/show", &json!({"model": m})).body());
    assert!(
        show["model_info"]["general.architecture"].is_string(),
        "{show}"
    );
    assert!(
        show["model_info"]["general.parameter_count"]
            .as_u64()
            .unwrap()
            > 1_000_000
    );
    // the GGUF's own chat template (empty when the file has none)
    assert!(show["template"].is_string());
    assert_eq!(
        show["details"]["family"],
        show["model_info"]["general.architecture"]
    );
    let ps = json_of(server.get("/api/ps").body());
    let loaded = &ps["models"][0];
    assert_eq!(loaded["name"], m.as_str());
    assert_eq!(loaded["secllama"]["encrypted"], true);
    assert!(loaded["secllama"]["pid"].as_u64().is_some());
    assert!(loaded["secllama"]["rss_bytes"].as_u64().unwrap() > 10_000_000);
    // where the model runs, as the CPU-built runner reports it
    assert_eq!(loaded["secllama"]["backend"], "CPU");
    assert_eq!(loaded["secllama"]["device"], "CPU");
    assert_eq!(loaded["secllama"]["gpu_layers"], 0);
    let models = json_of(server.get("/v1/models").body());
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == m.as_str())
    );
    // OpenAI's "retrieve model": the same object as in the list
    let one = json_of(server.get(&format!("/v1/models/{m}")).body());
    let listed = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == m.as_str())
        .unwrap();
    assert_eq!(&one, listed);
    assert_eq!(one["object"], "model");

    // metrics count what happened
    assert!(server.metric("secllama_generated_tokens_total") >= 25.0);
    assert_eq!(server.metric("secllama_loaded_runners"), 1.0);
    assert_eq!(
        server.metric("secllama_requests_total{endpoint=\"/api/generate\",status=\"200\"}"),
        2.0
    );

    // keep_alive 0 with no prompt unloads now
    let v = json_of(
        server
            .post("/api/generate", &json!({"model": m, "keep_alive": 0}))
            .body(),
    );
    assert_eq!(v["done_reason"], "unload");
    let pid = loaded["secllama"]["pid"].as_u64().unwrap();
    wait_until(|| {
        json_of(server.get("/api/ps").body())["models"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    wait_until(|| !std::path::Path::new(&format!("/proc/{pid}")).exists());
}

fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("condition not met within 60 s");
}

#[test]
fn clients_that_disconnect_cancel_their_generations_and_past_the_slots_a_full_queue_is_503() {
    require_model();
    // Two requests at once on the runner, one more may wait.
    let server = TestServer::start(|c| {
        c.queue_limit = 1;
        c.parallel = 2;
    });
    let m = model();
    // Two long generations, streamed, both running at once: read each one's first piece.
    let long = |prompt: &str| {
        let r = server
            .client()
            .post_stream(
                &server.url("/api/generate"),
                "application/json",
                json!({"model": m, "prompt": prompt, "options": greedy(400)})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
        let mut reader = BufReader::new(r);
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        assert_eq!(json_of(first.as_bytes())["done"], false);
        reader
    };
    let one = long("Count from one to one thousand:");
    let two = long("List every country in the world:");
    let ps = json_of(server.get("/api/ps").body());
    assert_eq!(
        (
            ps["models"][0]["secllama"]["running"].clone(),
            ps["models"][0]["secllama"]["queued"].clone()
        ),
        (json!(2), json!(0)),
        "{ps}"
    );

    // Both slots are taken: one request waits in the queue (limit 1); the next is 503.
    let waiting = {
        let url = server.url("/api/generate");
        let client = server.client();
        let body =
            json!({"model": m, "prompt": "Hi", "stream": false, "options": greedy(2)}).to_string();
        std::thread::spawn(move || {
            client
                .post(&url, "application/json", body.as_bytes())
                .unwrap()
        })
    };
    wait_until(|| server.metric("secllama_queue_depth") == 1.0);
    let r = server.post(
        "/api/generate",
        &json!({"model": m, "prompt": "Hi", "options": greedy(2)}),
    );
    assert_eq!(r.status(), 503);
    assert!(
        json_of(r.body())["error"]
            .as_str()
            .unwrap()
            .contains("requests waiting")
    );
    assert_eq!(server.metric("secllama_queue_full_total"), 1.0);

    // Disconnect: both generations stop (cancelled, far short of 400 tokens each) and the
    // queued request runs.
    drop(one);
    drop(two);
    let r = waiting.join().unwrap();
    assert_eq!(r.status(), 200, "{}", r.text_lossy());
    assert_eq!(json_of(r.body())["eval_count"], 2);
    wait_until(|| server.metric("secllama_cancelled_total") == 2.0);
    assert!(server.metric("secllama_generated_tokens_total") < 400.0);
    let lines = server.audit_lines();
    let abandoned = lines
        .iter()
        .filter(|l| l["endpoint"] == "/api/generate" && l["completed"] == false)
        .count();
    assert_eq!(abandoned, 2);
}

#[test]
fn shutdown_lets_a_stream_finish_then_stops_the_runners() {
    require_model();
    let mut server = TestServer::start(|_| {});
    let m = model();
    let stream = server
        .client()
        .post_stream(
            &server.url("/api/generate"),
            "application/json",
            json!({"model": m, "prompt": "Once upon a time", "raw": true, "options": greedy(8)})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    let pid = json_of(server.get("/api/ps").body())["models"][0]["secllama"]["pid"]
        .as_u64()
        .unwrap();
    server.signal_stop();
    // the open stream still ends properly
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let last: Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["done"].clone(), last["eval_count"].clone()),
        (json!(true), json!(8))
    );
    server.join().unwrap();
    // no new connections, and the runner process is gone
    assert!(std::net::TcpStream::connect(server.addr).is_err());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn gpu_layers_on_a_cpu_runner_fail_with_its_reason_unless_the_cpu_may_stand_in() {
    require_model();
    let server = TestServer::start(|c| c.gpu_layers = 99);
    let request = json!({"model": model(), "prompt": "Hi", "raw": true, "stream": false,
        "options": greedy(1)});
    let refused = server.post("/api/generate", &request);
    assert_eq!(refused.status(), 500);
    assert_eq!(
        json_of(refused.body())["error"],
        "the runner failed: 99 GPU layers were asked for, but this secllama-runner was built \
         without a GPU backend (build it with --features vulkan, cuda or metal, or ask for 0 GPU \
         layers)"
    );
    assert_eq!(
        json_of(server.get("/api/ps").body()),
        json!({"models": []}),
        "a runner that failed to load is not listed"
    );

    let server = TestServer::start(|c| {
        c.gpu_layers = 99;
        c.cpu_fallback = true;
    });
    let answered = server.post("/api/generate", &request);
    assert_eq!(answered.status(), 200);
    let loaded = &json_of(server.get("/api/ps").body())["models"][0]["secllama"];
    assert_eq!(loaded["backend"], "CPU");
    assert_eq!(loaded["gpu_layers"], 0);
}

#[test]
fn a_num_ctx_the_runner_would_refuse_is_a_400_before_any_runner_starts() {
    require_model();
    let server = TestServer::start(|c| c.parallel = 16);
    for (num_ctx, most) in [(8, 65_536), (65_537, 65_536)] {
        let r = server.post(
            "/api/generate",
            &json!({"model": model(), "prompt": "Hi", "stream": false,
                "options": {"num_ctx": num_ctx}}),
        );
        assert_eq!(
            (r.status(), json_of(r.body())),
            (
                400,
                json!({"error": format!(
                    "num_ctx must be between 16 and {most} (with 16 requests at once per model)"
                )})
            )
        );
    }
    assert_eq!(
        json_of(server.get("/api/ps").body()),
        json!({"models": []}),
        "no runner was started"
    );
}
