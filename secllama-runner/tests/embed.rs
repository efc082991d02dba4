//! Embeddings and the tokenizer end to end (real runner, strict sandbox, llama.cpp, default
//! model).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, greedy, model};
use secllama_runner::{EmbedRequest, Runner, RunnerError, StreamEvent};

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

const TEXTS: [&str; 3] = [
    "The cat sat on the mat.",
    "A cat was sitting on a mat.",
    "Quarterly revenue rose by four percent.",
];

#[test]
fn embeddings_are_unit_vectors_one_per_input_and_batching_does_not_change_them() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_threads(1)).unwrap();
    let out = runner.embed(EmbedRequest::new(TEXTS)).unwrap();
    assert_eq!(out.vectors.len(), 3);
    let dims = out.vectors[0].len();
    // SmolLM2-135M's hidden size.
    assert_eq!(dims, 576);
    for v in &out.vectors {
        assert_eq!(v.len(), dims);
        assert!((norm(v) - 1.0).abs() < 1e-4, "norm {}", norm(v));
        assert!(v.iter().all(|x| x.is_finite()));
    }
    // Every token of every input was evaluated, BOS included when the model adds one.
    let tokens: usize = TEXTS
        .iter()
        .map(|t| runner.tokenize(t, true, false).unwrap().len())
        .sum();
    assert_eq!(out.prompt_eval_count, tokens as u64);
    assert!(out.total_duration > 0);

    // Each input alone gives the same vector as in the batch of three.
    for (i, text) in TEXTS.iter().enumerate() {
        let alone = runner.embed(EmbedRequest::new([*text])).unwrap();
        let c = cosine(&alone.vectors[0], &out.vectors[i]);
        assert!(
            c > 0.9999,
            "input {i}: cosine {c} between alone and batched"
        );
    }
    // Not a semantic model, but the two cat sentences are still the closest pair.
    let (same, other) = (
        cosine(&out.vectors[0], &out.vectors[1]),
        cosine(&out.vectors[0], &out.vectors[2]),
    );
    eprintln!("cosine cat/cat {same:.4}, cat/revenue {other:.4}");
    assert!(same > other, "cat/cat {same} <= cat/revenue {other}");
}

#[test]
fn an_over_long_embed_input_is_truncated_to_the_context_or_refused_when_asked() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_context_length(64).with_threads(1)).unwrap();
    // llama.cpp may round the context up (here to 256 tokens): the runner reports its own.
    let context = u64::from(runner.model_info().context_length);
    assert!(context >= 64);
    let long = "one two three four five six seven eight nine ten ".repeat(60);
    assert!(runner.tokenize(&long, true, false).unwrap().len() as u64 > context);
    let cut = runner.embed(EmbedRequest::new([long.as_str()])).unwrap();
    assert_eq!(cut.prompt_eval_count, context);
    assert!((norm(&cut.vectors[0]) - 1.0).abs() < 1e-4);
    let err = runner
        .embed(EmbedRequest::new([long.as_str(), "short"]).with_truncate(false))
        .unwrap_err();
    match err {
        RunnerError::PromptTooLong {
            prompt_tokens,
            context_length,
        } => {
            assert!(prompt_tokens > context, "{prompt_tokens}");
            assert_eq!(context_length, context);
        }
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
    // Refused before any work: the runner still answers.
    assert_eq!(
        runner
            .embed(EmbedRequest::new(["short"]))
            .unwrap()
            .vectors
            .len(),
        1
    );
    let err = runner.embed(EmbedRequest::new([""])).unwrap_err();
    assert!(
        matches!(err, RunnerError::InvalidRequest(ref m) if m.contains("empty")),
        "{err:?}"
    );
}

#[test]
fn an_embed_request_between_the_tokens_of_a_generation_leaves_its_text_unchanged() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_threads(1)).unwrap();
    let prompt = "The capital of France is";
    let (solo, _) = runner
        .complete(greedy(prompt, 12))
        .unwrap()
        .collect_text()
        .unwrap();
    let mut stream = runner.complete(greedy(prompt, 12)).unwrap();
    let mut text = match stream.next().unwrap().unwrap() {
        StreamEvent::Piece(p) => p,
        other => panic!("{other:?}"),
    };
    let out = runner.embed(EmbedRequest::new(TEXTS)).unwrap();
    assert_eq!(out.vectors.len(), 3);
    let (rest, _) = stream.collect_text().unwrap();
    text.push_str(&rest);
    assert_eq!(text, solo);
}

#[test]
fn tokenize_and_detokenize_round_trip_and_special_tokens_parse_only_when_asked() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_threads(1)).unwrap();
    assert_eq!(runner.model_info().context_length, 512);
    let text = "Hello, world! Ça va? 東京";
    let tokens = runner.tokenize(text, false, false).unwrap();
    assert!(!tokens.is_empty() && tokens.len() < text.len());
    assert_eq!(runner.detokenize(&tokens).unwrap(), text);

    // ChatML's marker is one special token when parsed, plain text otherwise.
    let marker = "<|im_start|>";
    let special = runner.tokenize(marker, false, true).unwrap();
    assert_eq!(special.len(), 1, "{special:?}");
    let plain = runner.tokenize(marker, false, false).unwrap();
    assert!(plain.len() > 1, "{plain:?}");
    assert_eq!(runner.detokenize(&special).unwrap(), marker);

    // The tokens a completion evaluates: a repeated prompt is reported as its token count.
    let prompt = "The capital of France is";
    let (_, done) = runner
        .complete(greedy(prompt, 1))
        .unwrap()
        .collect_text()
        .unwrap();
    let n = runner.tokenize(prompt, true, false).unwrap().len();
    assert_eq!(done.metrics.prompt_eval_count, n as u64);

    let vocab = i32::try_from(runner.model_info().vocab_size).unwrap();
    for bad in [-1, vocab] {
        let err = runner.detokenize(&[1, bad]).unwrap_err();
        assert!(
            matches!(err, RunnerError::InvalidRequest(ref m) if m.contains("not in the vocabulary")),
            "{err:?}"
        );
    }
    let err = runner.tokenize("a\0b", false, false).unwrap_err();
    assert!(
        matches!(err, RunnerError::InvalidRequest(ref m) if m.contains("NUL")),
        "{err:?}"
    );
    assert_eq!(runner.detokenize(&[]).unwrap(), "");
}
