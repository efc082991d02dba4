//! End-to-end tests: the real runner executable, the real sandbox, real llama.cpp and the real
//! default model. The model comes from `SECLLAMA_TEST_MODEL` or the cache path
//! `examples/fetch-model.sh` fills; when it is missing the tests skip visibly, except under
//! `CI=true` where they fail (CI always fetches it). Unix only (signals, exit statuses).
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use secllama_runner::{
    ChatMessage, ChatRequest, CompletionRequest, DEFAULT_MODEL_SHA256, GenerationParams, LoadStage,
    Runner, RunnerError, SandboxMode, StopReason, StreamEvent, internal,
};

mod common;

use common::{config, greedy, model};

const PROMPT: &str = "The three primary colors are";
/// A completion the default model continues for hundreds of tokens (an instruction such as
/// "Write a long story" as raw text makes the instruction-tuned model end at once).
const STORY: &str = "Once upon a time, there was a dragon who";

#[test]
fn greedy_output_is_identical_across_runs_and_with_or_without_the_sandbox() {
    let Some(model) = model() else { return };
    let sandboxed = Runner::spawn(config(&model)).unwrap();
    assert!(sandboxed.sandbox_report().is_some());
    let (first, done) = sandboxed
        .complete(greedy(PROMPT, 12))
        .unwrap()
        .collect_text()
        .unwrap();
    let (second, _) = sandboxed
        .complete(greedy(PROMPT, 12))
        .unwrap()
        .collect_text()
        .unwrap();
    assert!(!first.trim().is_empty(), "no text generated");
    assert_eq!(first, second, "greedy output differs between two requests");
    assert_eq!(done.reason, StopReason::MaxTokens);
    assert_eq!(done.metrics.eval_count, 12);
    assert!(done.metrics.prompt_eval_count >= 5);
    assert!(done.metrics.load_duration > 0);
    drop(sandboxed);

    let open = Runner::spawn(config(&model).with_sandbox(SandboxMode::Disabled)).unwrap();
    assert!(open.sandbox_report().is_none());
    let (third, _) = open
        .complete(greedy(PROMPT, 12))
        .unwrap()
        .collect_text()
        .unwrap();
    assert_eq!(
        first, third,
        "sandboxed and unsandboxed greedy output differ"
    );
}

#[test]
fn the_runner_process_is_confined_by_seccomp_no_new_privs_and_its_own_network_namespace() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model)).unwrap();
    let pid = runner.pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l == "Seccomp:\t2"),
        "not in seccomp filter mode:\n{status}"
    );
    assert!(
        status.lines().any(|l| l == "NoNewPrivs:\t1"),
        "no_new_privs not set:\n{status}"
    );
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        theirs, ours,
        "the runner shares the host's network namespace"
    );
    // ... and the confined runner still does its job.
    let (text, _) = runner
        .complete(greedy(PROMPT, 4))
        .unwrap()
        .collect_text()
        .unwrap();
    assert!(!text.is_empty());
}

#[test]
fn a_model_whose_bytes_differ_from_the_pinned_hash_is_refused_before_loading() {
    let Some(model) = model() else { return };
    let wrong = "0".repeat(64);
    let mut stages = Vec::new();
    let err = Runner::spawn_with_progress(config(&model).with_sha256(wrong.clone()), |p| {
        stages.push(p.stage)
    })
    .unwrap_err();
    match err {
        RunnerError::ChecksumMismatch { expected, actual } => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, DEFAULT_MODEL_SHA256);
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    assert!(
        stages.contains(&LoadStage::Verifying),
        "the hash was not computed"
    );
    assert!(
        !stages.contains(&LoadStage::Loading),
        "llama.cpp started loading a rejected model"
    );
}

#[test]
fn a_file_that_is_not_gguf_or_is_truncated_gives_a_clear_error() {
    let Some(model) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "this is not a model, just text\n".repeat(8)).unwrap();
    let cfg = |p: &PathBuf| {
        let mut c = config(p);
        c.sha256 = None;
        c
    };
    match Runner::spawn(cfg(&text)).unwrap_err() {
        RunnerError::InvalidModel(msg) => assert!(msg.contains("GGUF magic"), "{msg}"),
        other => panic!("expected InvalidModel, got {other:?}"),
    }

    let truncated = dir.path().join("truncated.gguf");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&truncated, &bytes[..4 << 20]).unwrap();
    match Runner::spawn(cfg(&truncated)).unwrap_err() {
        RunnerError::InvalidModel(msg) => assert!(msg.contains("could not load"), "{msg}"),
        other => panic!("expected InvalidModel, got {other:?}"),
    }
}

#[test]
fn cancelling_stops_generation_within_one_token_and_the_runner_serves_the_next_request() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model)).unwrap();
    let mut stream = runner.complete(greedy(STORY, 300)).unwrap();
    let first = stream.next().unwrap().unwrap();
    assert!(matches!(first, StreamEvent::Piece(_)));
    stream.cancel().unwrap();
    let mut after = 0;
    let done = loop {
        match stream.next().unwrap().unwrap() {
            StreamEvent::Piece(_) => after += 1,
            StreamEvent::Done(d) => break d,
        }
    };
    assert_eq!(done.reason, StopReason::Cancelled);
    assert!(after <= 2, "{after} pieces arrived after the cancel");
    assert!(
        done.metrics.eval_count < 10,
        "eval_count {}",
        done.metrics.eval_count
    );
    drop(stream);
    let (text, done) = runner
        .complete(greedy(PROMPT, 3))
        .unwrap()
        .collect_text()
        .unwrap();
    assert_eq!(done.reason, StopReason::MaxTokens);
    assert!(!text.is_empty());
}

#[test]
fn killing_the_runner_mid_stream_gives_crashed_with_its_status() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model)).unwrap();
    let pid = i32::try_from(runner.pid().unwrap()).unwrap();
    let mut stream = runner.complete(greedy(STORY, 300)).unwrap();
    assert!(matches!(
        stream.next().unwrap().unwrap(),
        StreamEvent::Piece(_)
    ));
    // SAFETY: sending SIGKILL to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let err = loop {
        match stream.next().expect("the stream ended without an error") {
            Ok(StreamEvent::Piece(_)) => {}
            Ok(StreamEvent::Done(_)) => panic!("a killed runner finished its request"),
            Err(e) => break e,
        }
    };
    match err {
        RunnerError::Crashed { status } => assert_eq!(status.signal(), Some(libc::SIGKILL)),
        other => panic!("expected Crashed, got {other:?}"),
    }
    assert!(stream.next().is_none());
    drop(stream);
    assert!(matches!(
        runner.complete(greedy(PROMPT, 1)).unwrap_err(),
        RunnerError::Closed
    ));
}

/// The error a request meets after a bad frame was injected. The runner's rejection races the
/// request: it either ends the request's stream, or ended the session before the request was
/// made, which then only says `Closed`; the session's own failure says why in that case.
fn rejection(runner: &Runner, request: CompletionRequest) -> RunnerError {
    match runner.complete(request) {
        Err(RunnerError::Closed) => internal::session_failure(runner)
            .expect("a request found the session closed, so it has ended"),
        Err(e) => e,
        Ok(stream) => stream.collect_text().unwrap_err(),
    }
}

#[test]
fn a_forged_frame_injected_on_the_socket_is_rejected_and_closes_the_session() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model)).unwrap();
    let mut forged = 60u32.to_be_bytes().to_vec();
    forged.push(0x01); // looks like an envelope v1 header...
    forged.extend_from_slice(&[0x5a; 59]); // ...but no key can open it
    internal::inject_raw(&runner, &forged).unwrap();
    let err = rejection(&runner, greedy(PROMPT, 4));
    assert!(matches!(err, RunnerError::PeerRejectedFrame), "got {err:?}");
}

#[test]
fn a_replayed_frame_is_rejected_and_closes_the_session() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model)).unwrap();
    let (text, _) = runner
        .complete(greedy(PROMPT, 2))
        .unwrap()
        .collect_text()
        .unwrap();
    assert!(!text.is_empty(), "the genuine request works");
    let replay = internal::last_sent_frame(&runner);
    assert!(replay.len() > 40);
    internal::inject_raw(&runner, &replay).unwrap();
    let err = rejection(&runner, greedy(PROMPT, 2));
    assert!(matches!(err, RunnerError::PeerRejectedFrame), "got {err:?}");
}

#[test]
fn a_prompt_over_the_context_limit_fails_before_decoding_and_the_runner_stays_usable() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model).with_context_length(64)).unwrap();
    // llama.cpp may round the context up (to 256 here): the error names the real one.
    let context = u64::from(runner.model_info().context_length);
    let long = "one two three four five six seven eight nine ten ".repeat(80);
    let err = runner
        .complete(greedy(&long, 4))
        .unwrap()
        .collect_text()
        .unwrap_err();
    match err {
        RunnerError::PromptTooLong {
            prompt_tokens,
            context_length,
        } => {
            assert_eq!(context_length, context);
            assert!(prompt_tokens > context, "{prompt_tokens}");
        }
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
    let (text, _) = runner
        .complete(greedy(PROMPT, 2))
        .unwrap()
        .collect_text()
        .unwrap();
    assert!(!text.is_empty());
}

#[test]
fn chat_uses_the_models_own_template_and_answers_the_question() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model)).unwrap();
    // The default GGUF carries its tokenizer.chat_template, which llama.cpp recognises as ChatML.
    assert_eq!(runner.model_info().chat_template, "model");
    let question = "What is the capital of France?";
    let request = ChatRequest::new(vec![ChatMessage::user(question)])
        .with_params(GenerationParams::greedy(16));
    let (text, done) = runner.chat(request).unwrap().collect_text().unwrap();
    // Instruction-tuned and greedy: a real answer, ended by the model's end-of-turn token.
    assert_eq!(text, "The capital of France is Paris.");
    assert_eq!(done.reason, StopReason::EndOfText);
    // The same text as a plain completion is shorter by exactly ChatML's markers:
    // <|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n (9 tokens).
    let plain = runner
        .complete(greedy(question, 1))
        .unwrap()
        .collect_text()
        .unwrap()
        .1;
    let template = done.metrics.prompt_eval_count - plain.metrics.prompt_eval_count;
    assert_eq!(template, 9, "template tokens");
    assert!(!text.contains("<|im_start|>") && !text.contains("<|im_end|>"));
}

#[test]
fn pieces_are_whole_utf8_characters_that_reassemble_to_valid_text() {
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model)).unwrap();
    let request = ChatRequest::new(vec![ChatMessage::user(
        "Write three short sentences in Japanese about the sea, with emoji.",
    )])
    .with_params(GenerationParams::greedy(48));
    let mut pieces = Vec::new();
    let done = runner
        .chat(request)
        .unwrap()
        .for_each_piece(|p| {
            pieces.push(p.to_string());
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    let text = pieces.concat();
    assert!(done.metrics.eval_count > 0);
    assert!(!text.is_ascii(), "no multi-byte characters: {text:?}");
    assert!(
        !text.contains('\u{fffd}'),
        "a character was split: {text:?}"
    );
    // Every piece on its own is valid UTF-8 that starts on a character boundary.
    for p in &pieces {
        assert!(std::str::from_utf8(p.as_bytes()).is_ok());
    }
}

#[test]
fn a_host_without_encryption_is_refused_by_a_runner_that_expects_it() {
    let Some(model) = model() else { return };
    // This process's SECLLAMA_ENABLE_ENCRYPTION is unset (true), so the runner insists.
    assert!(std::env::var_os("SECLLAMA_ENABLE_ENCRYPTION").is_none());
    let err = Runner::spawn(config(&model).with_encryption(false)).unwrap_err();
    assert!(
        matches!(err, RunnerError::EncryptionMismatch),
        "got {err:?}"
    );
}

#[test]
fn invalid_requests_are_refused_with_the_exact_reason_and_the_session_stays_usable() {
    use secllama_runner::{
        MAX_CHAT_MESSAGES, MAX_FRAME_LEN, MAX_PROMPT_BYTES, MAX_STOP_STRING_BYTES, MAX_STOP_STRINGS,
    };
    let Some(model) = model() else { return };
    let runner = Runner::spawn(config(&model)).unwrap();
    let with = |f: &dyn Fn(&mut GenerationParams)| {
        let mut p = GenerationParams::greedy(2);
        f(&mut p);
        CompletionRequest::new(PROMPT).with_params(p)
    };
    let stops = |n: usize, s: &str| vec![s.to_owned(); n];
    let too_many_stops = format!("at most {MAX_STOP_STRINGS} stop strings are allowed");
    let stop_length = format!("stop strings must be 1 to {MAX_STOP_STRING_BYTES} bytes long");
    // A prompt under MAX_PROMPT_BYTES that JSON-escapes (\u0001, six bytes each) past the
    // frame limit: refused before anything is written, not a broken session.
    let escaped = "\u{1}".repeat(MAX_PROMPT_BYTES);
    let escaped_len = MAX_PROMPT_BYTES * 6;
    let completions: Vec<(&str, CompletionRequest, String)> = vec![
        (
            "NUL in the prompt",
            greedy("a\0b", 2),
            "the prompt contains a NUL character".into(),
        ),
        (
            "prompt one byte over",
            greedy(&"a".repeat(MAX_PROMPT_BYTES + 1), 2),
            format!("the prompt exceeds {MAX_PROMPT_BYTES} bytes"),
        ),
        (
            "max_tokens 0",
            with(&|p| p.max_tokens = 0),
            "max_tokens must be at least 1".into(),
        ),
        (
            "temperature NaN",
            with(&|p| p.temperature = f32::NAN),
            "temperature must be a finite number >= 0".into(),
        ),
        (
            "temperature -1",
            with(&|p| p.temperature = -1.0),
            "temperature must be a finite number >= 0".into(),
        ),
        (
            "top_p 0",
            with(&|p| p.top_p = 0.0),
            "top_p must be in (0, 1]".into(),
        ),
        (
            "top_p infinite",
            with(&|p| p.top_p = f32::INFINITY),
            "top_p must be in (0, 1]".into(),
        ),
        (
            "min_p 1.5",
            with(&|p| p.min_p = 1.5),
            "min_p must be in [0, 1]".into(),
        ),
        (
            "repeat_penalty 0",
            with(&|p| p.repeat_penalty = 0.0),
            "repeat_penalty must be a finite number > 0".into(),
        ),
        (
            "top_k u32::MAX",
            with(&|p| p.top_k = u32::MAX),
            "top_k and repeat_last_n must fit in a 32-bit signed integer".into(),
        ),
        (
            "too many stop strings",
            with(&|p| p.stop = stops(MAX_STOP_STRINGS + 1, "x")),
            too_many_stops,
        ),
        (
            "an empty stop string",
            with(&|p| p.stop = stops(1, "")),
            stop_length.clone(),
        ),
        (
            "a stop string one byte over",
            with(&|p| p.stop = stops(1, &"s".repeat(MAX_STOP_STRING_BYTES + 1))),
            stop_length,
        ),
    ];
    for (what, request, want) in completions {
        match runner.complete(request).map(drop) {
            Err(RunnerError::InvalidRequest(why)) => assert_eq!(why, want, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // The encoded size is the escaped prompt plus the JSON around it and the envelope.
    match runner.complete(greedy(&escaped, 2)).map(drop) {
        Err(RunnerError::InvalidRequest(why)) => {
            let len: usize = why
                .strip_prefix("the request is ")
                .and_then(|r| r.split_once(' '))
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or_else(|| panic!("{why}"));
            assert!((escaped_len..escaped_len + 512).contains(&len), "{why}");
            assert_eq!(
                why,
                format!(
                    "the request is {len} bytes once encoded, over the frame limit of \
                     {MAX_FRAME_LEN} bytes; shorten the prompt (JSON escapes each control \
                     character as six bytes)"
                )
            );
        }
        other => panic!("escaped prompt: {other:?}"),
    }
    let user = |s: &str| ChatMessage::user(s);
    let chats: Vec<(&str, Vec<ChatMessage>, String)> = vec![
        (
            "no messages",
            vec![],
            "a chat request needs at least one message".into(),
        ),
        (
            "too many messages",
            vec![user("hi"); MAX_CHAT_MESSAGES + 1],
            format!("at most {MAX_CHAT_MESSAGES} chat messages are allowed"),
        ),
        (
            "contents over the byte limit together",
            vec![user(&"a".repeat(MAX_PROMPT_BYTES / 2)); 3],
            format!("the chat messages exceed {MAX_PROMPT_BYTES} bytes"),
        ),
        (
            "an empty role",
            vec![ChatMessage::new("", "hi")],
            "chat roles must be non-empty and no message may contain NUL".into(),
        ),
        (
            "NUL in a role",
            vec![ChatMessage::new("us\0er", "hi")],
            "chat roles must be non-empty and no message may contain NUL".into(),
        ),
        (
            "NUL in a content",
            vec![user("a\0b")],
            "chat roles must be non-empty and no message may contain NUL".into(),
        ),
    ];
    for (what, messages, want) in chats {
        let request = ChatRequest::new(messages).with_params(GenerationParams::greedy(2));
        match runner.chat(request).map(drop) {
            Err(RunnerError::InvalidRequest(why)) => assert_eq!(why, want, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // The same session still completes, deterministically, after every refusal.
    let (text, done) = runner
        .complete(greedy(PROMPT, 4))
        .unwrap()
        .collect_text()
        .unwrap();
    assert!(!text.is_empty());
    assert_eq!(done.metrics.eval_count, 4);
}

#[test]
fn a_model_name_with_terminal_escapes_reaches_the_host_printable() {
    let Some(model) = model() else { return };
    // The default GGUF names itself "Smollm2 135M 8k Lc100K Mix1 Ep2" (31 bytes): a copy with
    // 31 other bytes there (ESC [2J clears a terminal, U+202E reverses what follows, BEL,
    // CR LF) is still a valid model, just not the pinned one.
    const NAME: &[u8] = b"\x1b[2J\xe2\x80\xaeab\x07\r\nhostile model name!";
    let mut bytes = std::fs::read(&model).unwrap();
    let key = b"general.name\x08\x00\x00\x00\x1f\x00\x00\x00\x00\x00\x00\x00Smollm2 135M 8k Lc100K Mix1 Ep2";
    let at = bytes[..1 << 20]
        .windows(key.len())
        .position(|w| w == key)
        .expect("the default model's general.name");
    let name_at = at + key.len() - NAME.len();
    bytes[name_at..name_at + NAME.len()].copy_from_slice(NAME);
    let tmp = tempfile::tempdir().unwrap();
    let hostile = tmp.path().join("hostile-name.gguf");
    std::fs::write(&hostile, &bytes).unwrap();
    drop(bytes);

    let mut cfg = config(&hostile);
    cfg.sha256 = None;
    let runner = Runner::spawn(cfg).unwrap();
    assert_eq!(
        runner.model_info().name,
        "\u{fffd}[2J\u{fffd}ab\u{fffd}  hostile model name!",
        "control and bidi characters replaced, line breaks made spaces"
    );
    // The model itself is untouched and works.
    let (text, _) = runner
        .complete(greedy(PROMPT, 2))
        .unwrap()
        .collect_text()
        .unwrap();
    assert!(!text.is_empty());
}
