//! Engine v2 end to end (real runner, sandbox, llama.cpp, default model): prompt-prefix reuse
//! per slot, concurrent batched requests, cancelling one of them, slots freed by dropped streams.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

// One thread per runner: on a loaded machine ggml's two-thread barriers spin against each
// other and the other tests' runners; these tests check outputs, not speed.

use common::{config, greedy, model};
use secllama_runner::{Runner, StopReason, StreamEvent, internal};

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
    let runner = Runner::spawn(config(&model).with_slots(1).with_threads(1)).unwrap();

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

const PROMPTS: [&str; 4] = [
    "The three primary colors are",
    "The capital of France is",
    "Water boils at a temperature of",
    "A week has seven days: Monday,",
];

fn solo_outputs(runner: &Runner, n: u32) -> Vec<String> {
    PROMPTS
        .iter()
        .map(|p| {
            runner
                .complete(greedy(p, n))
                .unwrap()
                .collect_text()
                .unwrap()
                .0
        })
        .collect()
}

#[test]
fn four_interleaved_concurrent_greedy_requests_each_give_their_solo_text() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_slots(4).with_threads(1)).unwrap();
    let solo = solo_outputs(&runner, 8);
    assert!(solo.iter().all(|s| !s.is_empty()), "{solo:?}");

    // All four in flight at once, read in turn one event at a time.
    let mut streams: Vec<_> = PROMPTS
        .iter()
        .map(|p| runner.complete(greedy(p, 8)).unwrap())
        .collect();
    let mut texts = vec![String::new(); 4];
    let mut done = [false; 4];
    while done.iter().any(|d| !d) {
        for (i, stream) in streams.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            match stream.next().unwrap().unwrap() {
                StreamEvent::Piece(p) => texts[i].push_str(&p),
                StreamEvent::Done(_) => done[i] = true,
            }
        }
    }
    assert_eq!(
        texts, solo,
        "batched greedy output differs from solo output"
    );

    // And from four threads at once.
    let threaded: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = PROMPTS
            .iter()
            .map(|p| {
                let runner = &runner;
                s.spawn(move || {
                    runner
                        .complete(greedy(p, 8))
                        .unwrap()
                        .collect_text()
                        .unwrap()
                        .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(threaded, solo);
}

#[test]
fn cancelling_one_of_four_concurrent_requests_leaves_the_other_three_untouched() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_slots(4).with_threads(1)).unwrap();
    let solo = solo_outputs(&runner, 16);

    let mut streams: Vec<_> = PROMPTS
        .iter()
        .map(|p| runner.complete(greedy(p, 16)).unwrap())
        .collect();
    let first = streams[1].next().unwrap().unwrap();
    assert!(matches!(first, StreamEvent::Piece(_)), "{first:?}");
    streams[1].cancel().unwrap();
    let mut results = Vec::new();
    for stream in streams {
        results.push(stream.collect_text().unwrap());
    }
    assert_eq!(results[1].1.reason, StopReason::Cancelled);
    assert!(results[1].1.metrics.eval_count < 16, "{:?}", results[1].1);
    for i in [0, 2, 3] {
        assert_eq!(
            results[i].0, solo[i],
            "request {i} was disturbed by the cancel"
        );
        assert_ne!(results[i].1.reason, StopReason::Cancelled);
    }
}

#[test]
fn a_stream_dropped_by_a_vanished_client_frees_its_slot_for_the_next_request() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_slots(1).with_threads(1)).unwrap();
    let solo = solo_outputs(&runner, 6);
    for _ in 0..3 {
        let mut stream = runner.complete(greedy(PROMPTS[0], 400)).unwrap();
        assert!(matches!(stream.next(), Some(Ok(StreamEvent::Piece(_)))));
        drop(stream); // the client went away mid-answer
    }
    // One slot: each request above had to give it back for this one to run.
    let (text, done) = runner
        .complete(greedy(PROMPTS[1], 6))
        .unwrap()
        .collect_text()
        .unwrap();
    assert_eq!(text, solo[1]);
    assert_ne!(done.reason, StopReason::Cancelled);
    assert!(done.metrics.prompt_eval_count > 0);
    // The runner ended each abandoned request (cancelled, long before its 400 tokens) before
    // it answered the next one: frames arrive in order, so their Done came first.
    let abandoned = internal::abandoned_requests(&runner);
    assert_eq!(abandoned.len(), 3, "{abandoned:?}");
    for (id, done) in abandoned {
        let done = done.unwrap_or_else(|| panic!("request {id} was never ended"));
        assert_eq!(done.reason, StopReason::Cancelled);
        assert!(done.metrics.eval_count < 400, "{done:?}");
    }
}
