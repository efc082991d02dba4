//! Structured output end to end (real runner, strict sandbox, llama.cpp's grammar sampler,
//! default model): the output parses as JSON matching the schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, model};
use secllama_runner::{
    ChatMessage, ChatRequest, GenerationParams, OutputFormat, Runner, RunnerError, StopReason,
};
use serde_json::{Value, json};

fn ask(runner: &Runner, question: &str, format: OutputFormat) -> (String, StopReason) {
    let request = ChatRequest::new(vec![ChatMessage::user(question)])
        .with_params(GenerationParams::greedy(160))
        .with_format(format);
    let (text, done) = runner.chat(request).unwrap().collect_text().unwrap();
    (text, done.reason)
}

#[test]
fn a_json_schema_format_gives_json_matching_the_schema() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_threads(1)).unwrap();
    let schema = json!({
        "type": "object",
        "properties": {
            "animal": {"type": "string", "maxLength": 16},
            "legs": {"type": "integer"},
            "can_fly": {"type": "boolean"},
            "color": {"enum": ["black", "white", "orange", "grey"]},
            "foods": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3}
        },
        "required": ["animal", "legs", "can_fly", "color", "foods"]
    });
    let (text, reason) = ask(
        &runner,
        "Describe a cat as JSON.",
        OutputFormat::JsonSchema(schema),
    );
    eprintln!("{text}");
    assert_eq!(reason, StopReason::EndOfText, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let obj = v.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{text}");
    assert!(
        obj["animal"]
            .as_str()
            .is_some_and(|s| s.chars().count() <= 16)
    );
    assert!(obj["legs"].is_i64() || obj["legs"].is_u64(), "{text}");
    assert!(obj["can_fly"].is_boolean(), "{text}");
    assert!(
        ["black", "white", "orange", "grey"].contains(&obj["color"].as_str().unwrap()),
        "{text}"
    );
    let foods = obj["foods"].as_array().unwrap();
    assert!(
        foods.len() <= 3
            && foods
                .iter()
                .all(|f| f.as_str().is_some_and(|s| s.chars().count() <= 12))
    );
}

#[test]
fn format_json_gives_a_json_object() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_threads(1)).unwrap();
    let (text, reason) = ask(
        &runner,
        "Give the name and age of a person as JSON.",
        OutputFormat::Json,
    );
    eprintln!("{text}");
    assert_eq!(reason, StopReason::EndOfText, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(v.is_object(), "{text}");
}

#[test]
fn an_unsupported_schema_is_an_invalid_request_naming_the_keyword() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_threads(1)).unwrap();
    let schema = json!({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}});
    let request = ChatRequest::new(vec![ChatMessage::user("hi")])
        .with_format(OutputFormat::JsonSchema(schema));
    match runner.chat(request).unwrap_err() {
        RunnerError::InvalidRequest(m) => assert!(m.contains("`anyOf`"), "{m}"),
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
    // The runner was never asked; it still answers.
    let (text, _) = runner
        .chat(
            ChatRequest::new(vec![ChatMessage::user("hi")])
                .with_params(GenerationParams::greedy(2)),
        )
        .unwrap()
        .collect_text()
        .unwrap();
    assert!(!text.is_empty());
}
