//! Engine v2 end to end (real runner, sandbox, llama.cpp, default model): prompt-prefix reuse
//! per slot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, greedy, model};
use secllama_runner::Runner;

/// A shared preamble long enough that reusing it matters (~150 tokens).
const PREAMBLE: &str = "You are a careful assistant. The following notes describe a small \
    town by a river. The town has a bakery, a library, a school, two bridges, a market on \
    Saturdays, a railway station with trains to the city every hour, a museum of local \
    history, a park with old oak trees, a football field, a hospital, a fire station, and a \
    harbour where fishing boats land their catch each morning. The mayor is elected every four \
    years. The river floods in spring. Tourists come in summer for the boat festival. ";

#[test]
fn a_prompt_sharing_a_prefix_evaluates_only_the_new_tokens_and_answers_as_a_cold_one() {
    let Some(model) = model() else { return };
    let first = format!("{PREAMBLE}Question: how often do trains leave? Answer:");
    let second = format!("{PREAMBLE}Question: when does the river flood? Answer:");
    let mut runner = Runner::spawn(config(&model).with_slots(1)).unwrap();

    let (cold_text, cold) = runner
        .complete(greedy(&second, 16))
        .unwrap()
        .collect_text()
        .unwrap();
    runner
        .complete(greedy(&first, 4))
        .unwrap()
        .collect_text()
        .unwrap();
    let (warm_text, warm) = runner
        .complete(greedy(&second, 16))
        .unwrap()
        .collect_text()
        .unwrap();

    assert_eq!(
        warm_text, cold_text,
        "prefix reuse changed the greedy output"
    );
    assert_eq!(warm.reason, cold.reason);
    assert!(cold.metrics.prompt_eval_count > 100, "{:?}", cold.metrics);
    // Only the question differs: a handful of tokens, not the preamble.
    assert!(
        warm.metrics.prompt_eval_count > 0 && warm.metrics.prompt_eval_count < 20,
        "warm evaluated {} of {} prompt tokens",
        warm.metrics.prompt_eval_count,
        cold.metrics.prompt_eval_count
    );

    // The same prompt again: everything but the last token comes from the cache.
    let (again, repeat) = runner
        .complete(greedy(&second, 16))
        .unwrap()
        .collect_text()
        .unwrap();
    assert_eq!(again, cold_text);
    assert_eq!(repeat.metrics.prompt_eval_count, 1);
}
