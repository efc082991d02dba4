//! Prompts longer than the context (real runner, strict sandbox, default model): refused
//! without `num_keep`, cut from the front keeping the first `num_keep` tokens with it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, greedy, model};
use secllama_runner::{ChatMessage, ChatRequest, GenerationParams, Runner, RunnerError};

#[test]
fn a_prompt_over_the_context_is_cut_from_the_front_keeping_num_keep_tokens_or_refused() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_context_length(64).with_threads(1)).unwrap();
    let context = u64::from(runner.model_info().context_length);
    let head = "Remember the code word: PELICAN. ";
    let body = "The river flows past the old mill and the bridge. ".repeat(60);
    let prompt = format!("{head}{body}The code word is");
    let tokens = runner.tokenize(&prompt, true, false).unwrap();
    assert!(tokens.len() as u64 > 2 * context, "{} tokens", tokens.len());

    // Without num_keep: refused before anything is decoded, the runner stays usable.
    match runner.complete(greedy(&prompt, 8)).unwrap().next().unwrap() {
        Err(RunnerError::PromptTooLong {
            prompt_tokens,
            context_length,
        }) => {
            assert_eq!(prompt_tokens, tokens.len() as u64);
            assert_eq!(context_length, context);
        }
        other => panic!("expected PromptTooLong, got {other:?}"),
    }

    // With num_keep: the prompt takes context - max_tokens tokens, the answer fits.
    let (text, done) = runner
        .complete(greedy(&prompt, 8).with_num_keep(4))
        .unwrap()
        .collect_text()
        .unwrap();
    assert_eq!(done.metrics.prompt_eval_count, context - 8);
    assert!(done.metrics.eval_count > 0, "{done:?} {text:?}");

    // The same for a chat, and a num_keep larger than the prompt never fails.
    let chat = ChatRequest::new(vec![ChatMessage::user(prompt.as_str())])
        .with_params(GenerationParams::greedy(4))
        .with_num_keep(u32::MAX);
    let (_, done) = runner.chat(chat).unwrap().collect_text().unwrap();
    assert_eq!(done.metrics.prompt_eval_count, context - 4);
}
