//! `secllama run` end to end: the real binary, the real runner next to it, the real model.
//! The runner executable must be built too (`cargo nextest run --workspace` and
//! `cargo build -p secllama-runner` put it next to `secllama`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use assert_cmd::Command;

fn model() -> Option<PathBuf> {
    let path = std::env::var_os("SECLLAMA_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            cache.join("secllama/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI: the default model is missing at {}", path.display());
    }
    eprintln!(
        "SKIPPED: no model at {} (run examples/fetch-model.sh)",
        path.display()
    );
    None
}

fn secllama() -> Command {
    let cmd = Command::cargo_bin("secllama").unwrap();
    let runner = PathBuf::from(cmd.get_program()).with_file_name("secllama-runner");
    assert!(
        runner.is_file(),
        "{} is missing: build it with cargo build -p secllama-runner",
        runner.display()
    );
    cmd
}

const SHA: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// `secllama <subcommand>` on `model`: greedy, 2 threads, a 256-token context, the pinned hash,
/// with the sandbox and encryption at their defaults.
fn greedy_on(subcommand: &str, model: &std::path::Path) -> Command {
    let mut cmd = secllama();
    // --verbose: the status report and metrics, although stderr is not a terminal here.
    cmd.arg(subcommand)
        .args([
            "--verbose",
            "--temperature",
            "0",
            "--threads",
            "2",
            "--context-length",
            "256",
        ])
        .args(["--sha256", SHA])
        .arg("--model")
        .arg(model)
        .env_remove("SECLLAMA_ENABLE_SANDBOX")
        .env_remove("SECLLAMA_ENABLE_ENCRYPTION");
    cmd
}

#[test]
fn run_streams_a_greedy_completion_with_metrics_and_the_sandbox_report_on_stderr() {
    let Some(model) = model() else { return };
    let args = [
        "--prompt",
        "The three primary colors are",
        "--max-tokens",
        "8",
    ];
    let out = greedy_on("run", &model).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.trim().is_empty(), "no completion on stdout");
    assert!(
        stderr.contains("generation:") && stderr.contains("tokens/s"),
        "{stderr}"
    );
    assert!(stderr.contains("AES-256-GCM"), "{stderr}");
    assert!(
        stderr.contains("sandbox:") && !stderr.contains("DISABLED"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stop reason:          max_tokens"),
        "{stderr}"
    );

    // Same greedy run, --json: one object per event, and the same text.
    let out = greedy_on("run", &model)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"ready") && kinds.last() == Some(&"done"),
        "{kinds:?}"
    );
    let text: String = events
        .iter()
        .filter(|e| e["event"] == "token")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, stdout.trim_end_matches('\n'));
    let done = events.last().unwrap();
    assert_eq!(done["metrics"]["eval_count"], 8);
    assert_eq!(done["reason"], "max_tokens");
}

#[test]
fn run_reads_the_prompt_from_stdin() {
    let Some(model) = model() else { return };
    let out = secllama()
        .args([
            "run",
            "--verbose",
            "--max-tokens",
            "2",
            "--temperature",
            "0",
            "--threads",
            "2",
        ])
        .args(["--context-length", "128", "--no-sandbox"])
        .arg("--model")
        .arg(&model)
        .write_stdin("Once upon a time")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("WITHOUT a sandbox"), "no warning: {stderr}");
    assert!(stderr.contains("sandbox: DISABLED"), "{stderr}");
}

#[test]
fn run_without_the_default_model_says_how_to_fetch_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = secllama()
        .args(["run", "--prompt", "hi"])
        .env("XDG_CACHE_HOME", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "model status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("secllama: default model not found at "),
        "{stderr}"
    );
    assert!(stderr.contains("examples/fetch-model.sh"), "{stderr}");
}

#[test]
fn run_refuses_a_model_with_the_wrong_pinned_hash() {
    let Some(model) = model() else { return };
    let out = secllama()
        .args([
            "run",
            "--prompt",
            "hi",
            "--threads",
            "2",
            "--context-length",
            "128",
        ])
        .args(["--sha256", &"ab".repeat(32)])
        .arg("--model")
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8), "model status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("model sha-256 is {SHA}, expected the pinned")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn chat_refuses_bad_lines_one_by_one_and_keeps_answering() {
    let Some(model) = model() else { return };
    let long_words = "one two three four five six seven eight nine ten ".repeat(40);
    let mut input = Vec::new();
    input.extend_from_slice(b"What is the capital of France?\n");
    input.extend_from_slice(b"a\0b\n");
    input.extend_from_slice(b"\xff\xfe not UTF-8\n");
    input.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024 + 1));
    input.push(b'\n');
    input.extend_from_slice(long_words.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(b"And of Italy?\n");
    let out = greedy_on("chat", &model)
        .args(["--max-tokens", "8"])
        .write_stdin(input)
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Some lines were not answered: a script learns it from the exit status.
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    let refusals: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("secllama: line "))
        .collect();
    assert_eq!(refusals.len(), 4, "{stderr}");
    assert_eq!(
        refusals[..3],
        [
            "secllama: line 2: invalid request: chat roles must be non-empty and no message may \
             contain NUL; not sent",
            "secllama: line 3: the message is not valid UTF-8 (byte 1 of the line); not sent",
            "secllama: line 4: a message is limited to 2097152 bytes; not sent",
        ]
    );
    // Line 5 does not fit even after the first exchange is forgotten.
    assert!(
        stderr
            .contains("(the conversation no longer fits the context: forgot the oldest exchange)"),
        "{stderr}"
    );
    let (head, tail) = refusals[3].split_once(": the prompt is ").unwrap();
    assert_eq!(head, "secllama: line 5");
    assert!(
        tail.ends_with(
            " tokens but the context holds 256: shorten it or raise the context length; not sent"
        ),
        "{tail}"
    );
    // Two answers, one line each, for the two lines that were sent.
    let stdout = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<&str> = stdout.lines().collect();
    assert_eq!(answers.len(), 2, "{stdout:?}");
    // The default model is instruction-tuned: greedily it answers the first line correctly
    // ("The capital of France is Paris."). The second was sent after the first exchange was
    // forgotten, so only its presence is checked.
    assert!(answers[0].contains("Paris"), "{stdout:?}");
    assert!(!answers[1].trim().is_empty(), "{stdout:?}");
}
