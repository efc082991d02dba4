//! `secllama run` and `chat` against a runner that is hostile on purpose
//! (`secllama-replay-runner`): it speaks the real sealed channel and sends pieces that try to
//! drive the terminal. On a terminal the user must see them neutralised and visible; with
//! `--raw`, through a pipe, or as JSON they arrive exactly as sent.
//!
//! Needs the `replay-runner` feature:
//! `cargo nextest run -p secllama-examples --features replay-runner --test hostile_runner`.

#![cfg(feature = "replay-runner")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::pty::Pty;

const T: Duration = Duration::from_secs(60);

/// What the replay runner sends for the prompt "hostile", joined.
const HOSTILE: &str = "osc52:\u{1b}]52;c;SGVsbG8=\u{7}|csi:\u{1b}[2J\u{1b}[31mred\u{1b}[0m|\
                       c1:\u{9b}6n|dcs:\u{1b}P1$r\u{1b}\\|apc:\u{1b}_x\u{1b}\\|split:\u{1b}]0;\
                       title\u{7}|bidi:a\u{202e}b|cr:\r|tab:\t|end";

/// The same text as a terminal user sees it through the filter.
const SHOWN: &str = "osc52:␛]52;c;SGVsbG8=␇|csi:␛[2J␛[31mred␛[0m|c1:<U+009B>6n|dcs:␛P1$r␛\\|\
                     apc:␛_x␛\\|split:␛]0;title␇|bidi:a<U+202E>b|cr:␍|tab:\t|end";

/// `secllama <args>` with the replay runner and a dummy model (it is never read).
fn secllama(model_dir: &tempfile::TempDir, args: &[&str]) -> Command {
    let model = model_dir.path().join("dummy.gguf");
    std::fs::write(&model, b"GGUF not really").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secllama"));
    cmd.args(args)
        .arg("--model")
        .arg(&model)
        .env(
            "SECLLAMA_RUNNER_PATH",
            env!("CARGO_BIN_EXE_secllama-replay-runner"),
        )
        .env_remove("SECLLAMA_ENABLE_ENCRYPTION")
        .env_remove("SECLLAMA_ENABLE_SANDBOX")
        .env_remove("NO_COLOR");
    cmd
}

/// True if `out` holds a byte a terminal would act on: a C0 control other than \n and \t,
/// DEL, or a C1 control (U+0080..U+009F as UTF-8).
fn has_terminal_controls(out: &str) -> bool {
    out.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
}

fn on_terminal(args: &[&str], stdin: Option<&str>) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut pty = Pty::spawn(secllama(&dir, args));
    if let Some(text) = stdin {
        pty.expect(">>> ", T);
        pty.send(text);
    }
    let (status, out) = pty.finish(T);
    (status, String::from_utf8(out).unwrap())
}

#[test]
fn run_on_a_terminal_shows_every_hostile_sequence_neutralised() {
    let (status, out) = on_terminal(&["run", "--prompt", "hostile"], None);
    assert!(status.success(), "{out:?}");
    // stdout and stderr share the terminal: the answer is one line of it.
    assert!(out.contains(&format!("{SHOWN}\n")), "{out:?}");
    assert!(!has_terminal_controls(&out), "{out:?}");
}

#[test]
fn run_with_raw_on_a_terminal_prints_the_bytes_as_sent() {
    let (status, out) = on_terminal(&["run", "--raw", "--prompt", "hostile"], None);
    assert!(status.success(), "{out:?}");
    assert!(out.contains(HOSTILE), "{out:?}");
}

#[test]
fn chat_on_a_terminal_shows_every_hostile_sequence_neutralised() {
    let (status, out) = on_terminal(&["chat"], Some("hostile\n/exit\n"));
    assert!(status.success(), "{out:?}");
    assert!(out.contains(&format!("{SHOWN}\n")), "{out:?}");
    // The only escape sequences are none at all: no colour either (NO_COLOR unset but
    // nothing is coloured except warnings, and there are none).
    assert!(!has_terminal_controls(&out), "{out:?}");
}

#[test]
fn through_a_pipe_the_text_is_raw_and_json_stays_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = secllama(&dir, &["run", "--prompt", "hostile"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{HOSTILE}\n")
    );

    let out = secllama(&dir, &["run", "--json", "--prompt", "hostile"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text: String = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "token")
        .map(|v| v["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, HOSTILE);
}

#[test]
fn invalid_utf8_from_the_runner_ends_the_session_visibly_with_status_7() {
    let (status, out) = on_terminal(&["run", "--prompt", "invalid-utf8"], None);
    assert_eq!(status.code(), Some(7), "{out:?}");
    assert!(out.contains("before|"), "{out:?}");
    // The host refuses the frame (its JSON is not UTF-8): nothing of it reaches the terminal.
    assert!(
        out.contains(
            "\nsecllama: a frame from the runner was rejected (frame holds no valid message); \
             the session is closed and the runner stopped\n"
        ),
        "{out:?}"
    );
    assert!(!has_terminal_controls(&out), "{out:?}");
}

#[test]
fn quiet_on_a_terminal_leaves_only_the_answer() {
    let (status, out) = on_terminal(&["run", "--quiet", "--prompt", "hostile"], None);
    assert!(status.success(), "{out:?}");
    assert_eq!(out, format!("{SHOWN}\n"));
}

#[test]
fn status_goes_to_stderr_only_on_a_terminal_or_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let out = secllama(&dir, &["run", "--prompt", "hi"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");

    let out = secllama(&dir, &["run", "--verbose", "--prompt", "hi"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("model: replay ("), "{stderr}");
    assert!(stderr.contains("\nsandbox:\n"), "{stderr}");
    assert!(
        stderr.contains("\nstop reason:          end_of_text\n"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");

    let (status, out) = on_terminal(&["run", "--prompt", "hi"], None);
    assert!(status.success(), "{out:?}");
    assert!(out.starts_with("model: replay ("), "{out:?}");
    assert!(out.contains("\nsandbox:\n"), "{out:?}");
}

#[test]
fn warnings_are_bold_on_a_terminal_unless_no_color_is_set() {
    const PLAIN: &str = "secllama: WARNING: the model runs WITHOUT a sandbox";
    const BOLD: &str = "secllama: \u{1b}[1;33mWARNING\u{1b}[0m: the model runs WITHOUT a sandbox";
    let dir = tempfile::tempdir().unwrap();
    let mut pty = Pty::spawn(secllama(
        &dir,
        &["run", "-q", "--no-sandbox", "--prompt", "hi"],
    ));
    pty.expect("hi\n", T);
    let out = String::from_utf8(pty.finish(T).1).unwrap();
    assert!(out.starts_with(BOLD), "{out:?}");

    let mut cmd = secllama(&dir, &["run", "-q", "--no-sandbox", "--prompt", "hi"]);
    cmd.env("NO_COLOR", "1");
    let out = String::from_utf8(Pty::spawn(cmd).finish(T).1).unwrap();
    assert!(out.starts_with(PLAIN), "{out:?}");
    assert!(!out.contains('\u{1b}'), "{out:?}");

    // Not a terminal: never colour.
    let out = secllama(&dir, &["run", "-q", "--no-sandbox", "--prompt", "hi"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(PLAIN));
}

#[test]
fn the_runners_allow_list_refuses_calls_outside_it_and_the_request_still_completes() {
    let dir = tempfile::tempdir().unwrap();
    // The host starts the (replay) runner with `--syscalls cpu`, as it starts a real one; the
    // runner installs the list before it reads its key, then tries calls inside and outside.
    let out = secllama(&dir, &["run", "--verbose", "--prompt", "syscalls"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "uname:EPERM mmap-exec:EPERM fork:EPERM thread:ok getrandom:ok\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("seccomp allow-list") && l.ends_with("enforced")),
        "{stderr}"
    );
    // Without the sandbox there is no allow-list: the same calls work.
    let out = secllama(&dir, &["run", "-q", "--no-sandbox", "--prompt", "syscalls"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "uname:ok mmap-exec:ok fork:ok thread:ok getrandom:ok\n"
    );
}

#[test]
fn a_panic_and_an_abort_under_the_allow_list_end_the_runner_as_they_should() {
    // The failure paths need calls of their own (the panic message on stderr, unwinding,
    // thread teardown; abort's signal mask, getpid and tgkill): if the list lacked one, the
    // runner would end otherwise (a different status) or not at all.
    let dir = tempfile::tempdir().unwrap();
    for (prompt, shown) in [
        (
            "panic",
            "secllama: the runner process died (exit status: 101)\n",
        ),
        (
            "abort",
            "secllama: the runner process died (signal: 6 (SIGABRT))\n",
        ),
    ] {
        let out = secllama(&dir, &["run", "-q", "--prompt", prompt])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.ends_with(shown), "{prompt}: {stderr}");
    }
}
