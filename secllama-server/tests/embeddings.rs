//! Embeddings through the real default model in a real sandboxed runner: Ollama's
//! `/api/embed` and `/api/embeddings`, OpenAI's `/v1/embeddings`; shapes, unit vectors, a
//! batch equal to its parts embedded alone, truncation, and the runner's refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    missing_docs
)]

mod server_support;

use base64::Engine;
use serde_json::{Value, json};
use server_support::{TestServer, model, require_model};

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    dot / (norm(a) * norm(b))
}

const CAT: &str = "A cat sat on the warm mat by the window.";
const MARKET: &str = "Stock markets fell sharply after the interest rate decision.";

#[test]
fn embeddings_have_ollama_and_openai_shapes_unit_length_and_batch_equals_alone() {
    require_model();
    let server = TestServer::start(|_| {});
    let m = model();

    // /api/embed, one string: Ollama's fields, one unit vector, the load counted once
    let r = server.post("/api/embed", &json!({"model": m, "input": CAT}));
    assert_eq!(r.status(), 200, "{}", r.text_lossy());
    let v = json_of(r.body());
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "embeddings",
            "load_duration",
            "model",
            "prompt_eval_count",
            "total_duration"
        ]
    );
    assert_eq!(v["model"], m.as_str());
    assert!(
        v["load_duration"].as_u64().unwrap() > 0,
        "{}",
        v["load_duration"]
    );
    assert!(v["total_duration"].as_u64().unwrap() > v["load_duration"].as_u64().unwrap());
    let solo_cat_tokens = v["prompt_eval_count"].as_u64().unwrap();
    assert!(solo_cat_tokens > 5, "{solo_cat_tokens}");
    let embeddings = v["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 1);
    let cat = floats(&embeddings[0]);
    let dims = cat.len();
    assert_eq!(dims, 576, "SmolLM2-135M's embedding size");
    assert!((norm(&cat) - 1.0).abs() < 1e-4, "{}", norm(&cat));

    let r = server.post("/api/embed", &json!({"model": m, "input": [MARKET]}));
    let market = floats(&json_of(r.body())["embeddings"][0]);

    // a batch: the same vectors as alone, in input order; token counts add up
    let r = server.post("/api/embed", &json!({"model": m, "input": [CAT, MARKET]}));
    assert_eq!(r.status(), 200);
    let v = json_of(r.body());
    assert_eq!(v["load_duration"], 0, "already loaded");
    let batch: Vec<Vec<f32>> = v["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    assert_eq!(batch.len(), 2);
    let (c0, c1) = (cosine(&batch[0], &cat), cosine(&batch[1], &market));
    println!(
        "batch vs alone: cosine {c0:.6} and {c1:.6}; cat vs market {:.4}",
        cosine(&cat, &market)
    );
    assert!(c0 > 0.999 && c1 > 0.999, "{c0} {c1}");
    assert!(cosine(&cat, &market) < 0.99, "different texts differ");
    assert!(v["prompt_eval_count"].as_u64().unwrap() > solo_cat_tokens);

    // dimensions: the first n values scaled back to unit length
    let r = server.post(
        "/api/embed",
        &json!({"model": m, "input": CAT, "dimensions": 64}),
    );
    let short = floats(&json_of(r.body())["embeddings"][0]);
    assert_eq!(short.len(), 64);
    assert!((norm(&short) - 1.0).abs() < 1e-4);
    assert!(cosine(&short, &cat[..64]) > 0.999);

    // legacy /api/embeddings: {"embedding": [...]} only
    let r = server.post("/api/embeddings", &json!({"model": m, "prompt": CAT}));
    assert_eq!(r.status(), 200);
    let v = json_of(r.body());
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    assert!(cosine(&floats(&v["embedding"]), &cat) > 0.999);

    // empty input: Ollama loads the model and embeds nothing
    let r = server.post("/api/embed", &json!({"model": m, "input": ""}));
    assert_eq!(r.status(), 200);
    let v = json_of(r.body());
    assert_eq!(
        (v["embeddings"].clone(), v["prompt_eval_count"].clone()),
        (json!([]), json!(0))
    );
    let r = server.post("/api/embeddings", &json!({"model": m, "prompt": ""}));
    assert_eq!(json_of(r.body()), json!({"embedding": []}));

    // OpenAI: list of embedding objects with their index, usage, floats or base64
    let r = server.post(
        "/v1/embeddings",
        &json!({"model": m, "input": [CAT, MARKET]}),
    );
    assert_eq!(r.status(), 200, "{}", r.text_lossy());
    let v = json_of(r.body());
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], m.as_str());
    let tokens = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(tokens > solo_cat_tokens);
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": tokens, "total_tokens": tokens})
    );
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, (d, alone)) in data.iter().zip([&cat, &market]).enumerate() {
        assert_eq!(
            (d["object"].clone(), d["index"].clone()),
            (json!("embedding"), json!(i))
        );
        assert!(cosine(&floats(&d["embedding"]), alone) > 0.999);
    }
    let r = server.post(
        "/v1/embeddings",
        &json!({"model": m, "input": CAT, "encoding_format": "base64", "dimensions": 8}),
    );
    let v = json_of(r.body());
    let b64 = v["data"][0]["embedding"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(bytes.len(), 8 * 4);
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert!((norm(&decoded) - 1.0).abs() < 1e-4);
    assert!(cosine(&decoded, &cat[..8]) > 0.999);

    // metrics count the embedded tokens as tokens in
    assert!(server.metric("secllama_prompt_tokens_total") >= (3 * solo_cat_tokens) as f64);
}

#[test]
fn texts_over_the_context_are_truncated_by_default_and_refused_with_truncate_false() {
    require_model();
    let server = TestServer::start(|c| c.context_length = 256);
    let m = model();
    let long = "the quick brown fox jumps over the lazy dog ".repeat(100);

    let r = server.post("/api/embed", &json!({"model": m, "input": long}));
    assert_eq!(r.status(), 200, "{}", r.text_lossy());
    let v = json_of(r.body());
    assert_eq!(v["prompt_eval_count"], 256, "cut to the context");
    let cut = floats(&v["embeddings"][0]);
    assert!((norm(&cut) - 1.0).abs() < 1e-4);

    let r = server.post(
        "/api/embed",
        &json!({"model": m, "input": long, "truncate": false}),
    );
    assert_eq!(r.status(), 400);
    let e = json_of(r.body())["error"].as_str().unwrap().to_owned();
    assert!(
        e.starts_with("the prompt is ") && e.contains("tokens but the context holds 256"),
        "{e}"
    );
    // the runner still serves after the refusal
    let r = server.post("/api/embed", &json!({"model": m, "input": "short"}));
    assert_eq!(r.status(), 200);
    // num_ctx restarts the runner with a larger context: the same text is cut later
    let r = server.post(
        "/api/embed",
        &json!({"model": m, "input": long, "options": {"num_ctx": 512}}),
    );
    assert_eq!(json_of(r.body())["prompt_eval_count"], 512);
}
