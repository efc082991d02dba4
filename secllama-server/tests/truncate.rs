//! Prompts longer than the context are cut as Ollama cuts them (the first `num_keep` tokens,
//! default 4, then the prompt's end), on every generating endpoint; real runner and model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod server_support;

use serde_json::{Value, json};
use server_support::{TestServer, model, require_model};

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn options(n: u32) -> Value {
    json!({"temperature": 0, "num_predict": n, "repeat_penalty": 1.0})
}

#[test]
fn prompts_over_the_context_are_cut_keeping_num_keep_and_the_answer_has_room() {
    require_model();
    // 512 tokens of context; each prompt below is about three times that.
    let server = TestServer::start(|c| c.context_length = 512);
    let m = model();
    let long = |word: &str| format!("{word} ").repeat(1500);

    // raw generate: exactly context - num_predict prompt tokens evaluated
    let r = server.post(
        "/api/generate",
        &json!({"model": m, "prompt": long("apple"), "raw": true, "stream": false, "options": options(16)}),
    );
    assert_eq!(r.status(), 200, "{}", r.text_lossy());
    let v = json_of(r.body());
    assert_eq!(
        (v["prompt_eval_count"].clone(), v["eval_count"].clone()),
        (json!(496), json!(16)),
        "{v}"
    );

    // an explicit num_keep is honoured the same way (and a wrong type is 400)
    let mut o = options(16);
    o["num_keep"] = json!(200);
    let r = server.post(
        "/api/generate",
        &json!({"model": m, "prompt": long("pear"), "raw": true, "stream": false, "options": o}),
    );
    assert_eq!(json_of(r.body())["prompt_eval_count"], 496);
    o["num_keep"] = json!("all");
    let r = server.post(
        "/api/generate",
        &json!({"model": m, "prompt": "x", "raw": true, "options": o}),
    );
    assert_eq!(r.status(), 400);

    // chat through the template, and OpenAI's chat: cut the same way (a request may reuse
    // the cached start of an earlier one's template, which is then not evaluated again: at
    // most the budget, and nearly all of it)
    let r = server.post(
        "/api/chat",
        &json!({"model": m, "stream": false, "options": options(16),
            "messages": [{"role": "system", "content": "Answer briefly."},
                         {"role": "user", "content": long("plum")}]}),
    );
    assert_eq!(r.status(), 200, "{}", r.text_lossy());
    assert_eq!(json_of(r.body())["prompt_eval_count"], 496);
    let r = server.post(
        "/v1/chat/completions",
        &json!({"model": m, "max_tokens": 16, "temperature": 0,
            "messages": [{"role": "user", "content": long("fig")}]}),
    );
    assert_eq!(r.status(), 200, "{}", r.text_lossy());
    let usage = json_of(r.body())["usage"].clone();
    let cut = |n: &Value| (480..=496).contains(&n.as_u64().unwrap());
    assert!(cut(&usage["prompt_tokens"]), "{usage}");
    let r = server.post(
        "/v1/completions",
        &json!({"model": m, "max_tokens": 16, "temperature": 0, "prompt": long("kiwi")}),
    );
    let usage = json_of(r.body())["usage"].clone();
    assert!(cut(&usage["prompt_tokens"]), "{usage}");
}

#[test]
fn num_keep_decides_which_front_of_a_cut_prompt_the_model_still_sees() {
    require_model();
    let server = TestServer::start(|c| c.context_length = 512);
    // A fact at the front, about 1,200 tokens of filler, and a question about the fact at the
    // end: cut to the context, the model can only answer it if the front was kept.
    let prompt = format!(
        "The secret code word is PINEAPPLE. Remember it: the secret code word is PINEAPPLE.\n{}\
         \nQuestion: what is the secret code word?\nAnswer: the secret code word is",
        "la ".repeat(1200)
    );
    let answer = |keep: Option<i64>| {
        let mut o = options(6);
        if let Some(k) = keep {
            o["num_keep"] = json!(k);
        }
        let r = server.post(
            "/api/generate",
            &json!({"model": model(), "prompt": prompt, "raw": true, "stream": false, "options": o}),
        );
        assert_eq!(r.status(), 200, "{}", r.text_lossy());
        let v = json_of(r.body());
        assert_eq!(v["eval_count"], 6, "{v}");
        v["response"].as_str().unwrap().to_owned()
    };
    let kept = answer(Some(32));
    let all = answer(Some(-1));
    let none = answer(Some(0));
    let four = answer(Some(4));
    let default = answer(None);
    println!("num_keep 32: {kept:?}, -1: {all:?}, 0: {none:?}, 4: {four:?}, unset: {default:?}");
    assert!(kept.contains("PINEAPPLE"), "{kept:?}");
    assert!(all.contains("PINEAPPLE"), "{all:?}");
    assert!(!none.contains("PINEAPPLE"), "{none:?}");
    assert!(!four.contains("PINEAPPLE"), "{four:?}");
    // unset is Ollama's 4: the same cut (and so the same greedy answer) as an explicit 4, and
    // not the same as keeping nothing
    assert_eq!(default, four);
    assert_ne!(four, none);
}
