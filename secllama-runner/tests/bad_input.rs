//! The bad-input campaign: hostile configuration values and hostile model and runner paths
//! (missing, relative, empty, NUL bytes, non-UTF-8, directories, dangling symlinks, FIFOs,
//! devices that never end, files that are not GGUF), each with the exact error. Nothing may
//! panic or block: every spawn runs under a deadline and a hang fails the test. Unix only
//! (non-UTF-8 paths as bytes, FIFOs, symlinks).
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use secllama_runner::{Runner, RunnerConfig, RunnerError, SandboxMode};

const RUNNER: &str = env!("CARGO_BIN_EXE_secllama-runner");

/// Spawns a runner for `config` on a thread; a spawn that has not returned after 60 s is a
/// hang and fails the test.
fn spawn(config: RunnerConfig) -> Result<(), RunnerError> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Runner::spawn(config).map(drop));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("Runner::spawn blocked for 60 s"))
}

fn config(model: impl Into<PathBuf>) -> RunnerConfig {
    RunnerConfig::new(model)
        .unwrap()
        .with_runner_path(RUNNER)
        .with_sandbox(SandboxMode::Disabled)
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

fn config_error(got: Result<(), RunnerError>) -> String {
    match got {
        Err(RunnerError::Config(why)) => why,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn out_of_range_sizes_and_malformed_hashes_are_configuration_errors() {
    const CONTEXT: &str = "context_length must be between 16 and 1048576 tokens";
    const BATCH: &str = "batch_size must be between 1 and 65536";
    const THREADS: &str = "threads must be between 1 and 512";
    const HASH: &str = "a pinned sha-256 must be 64 hexadecimal digits";
    let model = "/nonexistent/model.gguf";
    let cases: Vec<(&str, RunnerConfig, &str)> = vec![
        ("context 0", config(model).with_context_length(0), CONTEXT),
        ("context 15", config(model).with_context_length(15), CONTEXT),
        (
            "context 2^20 + 1",
            config(model).with_context_length(1_048_577),
            CONTEXT,
        ),
        (
            "context u32::MAX",
            config(model).with_context_length(u32::MAX),
            CONTEXT,
        ),
        ("threads 0", config(model).with_threads(0), THREADS),
        ("threads 513", config(model).with_threads(513), THREADS),
        ("empty hash", config(model).with_sha256(""), HASH),
        ("63 digits", config(model).with_sha256("a".repeat(63)), HASH),
        ("65 digits", config(model).with_sha256("a".repeat(65)), HASH),
        ("not hex", config(model).with_sha256("g".repeat(64)), HASH),
        (
            "a NUL byte",
            config(model).with_sha256(format!("{}\0", "a".repeat(63))),
            HASH,
        ),
        (
            "32 two-byte characters",
            config(model).with_sha256("é".repeat(32)),
            HASH,
        ),
    ];
    for (what, cfg, want) in cases {
        assert_eq!(config_error(spawn(cfg)), want, "{what}");
    }
    let mut batch = config(model);
    batch.batch_size = 0;
    assert_eq!(config_error(spawn(batch)), BATCH);
}

#[test]
fn a_runner_path_that_is_not_a_regular_file_is_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    mkfifo(&fifo);
    let cases: Vec<PathBuf> = vec![
        tmp.path().join("missing"),
        tmp.path().to_path_buf(),
        fifo,
        "/dev/zero".into(),
        PathBuf::new(),
    ];
    for p in cases {
        let cfg = config("/nonexistent/model.gguf").with_runner_path(&p);
        match spawn(cfg) {
            Err(RunnerError::RunnerNotFound { path }) => assert_eq!(path, p),
            other => panic!("{p:?}: {other:?}"),
        }
    }
}

#[test]
fn model_paths_that_are_missing_or_not_regular_files_are_refused_before_spawning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let fifo = dir.join("fifo.gguf");
    mkfifo(&fifo);
    let to_fifo = dir.join("to-fifo.gguf");
    std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
    let dangling = dir.join("dangling.gguf");
    std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();

    // Missing in every spelling: the error names the path as configured.
    let missing: Vec<(PathBuf, &str)> = vec![
        (
            dir.join("missing.gguf"),
            "No such file or directory (os error 2)",
        ),
        (
            "relative/missing.gguf".into(),
            "No such file or directory (os error 2)",
        ),
        (PathBuf::new(), "No such file or directory (os error 2)"),
        (dangling.clone(), "No such file or directory (os error 2)"),
        (
            PathBuf::from(OsStr::from_bytes(b"/tmp/a\0b.gguf")),
            "file name contained an unexpected NUL byte",
        ),
    ];
    for (p, why) in missing {
        match spawn(config(&p)) {
            Err(RunnerError::ModelNotFound { path, cause }) => {
                assert_eq!((path, cause.to_string()), (p.clone(), why.to_owned()));
            }
            other => panic!("{p:?}: {other:?}"),
        }
    }

    // Not a regular file: refused by what it is, after resolving symlinks, without opening it
    // (opening a FIFO for reading would block until a writer comes; /dev/zero never ends).
    let not_files: Vec<(PathBuf, PathBuf)> = vec![
        (dir.clone(), dir.clone()),
        (fifo.clone(), fifo.clone()),
        (to_fifo, fifo.clone()),
        ("/dev/zero".into(), "/dev/zero".into()),
        ("/dev/null".into(), "/dev/null".into()),
    ];
    for (p, resolved) in not_files {
        match spawn(config(&p)) {
            Err(RunnerError::InvalidModel(why)) => {
                assert_eq!(why, format!("{} is not a regular file", resolved.display()));
            }
            other => panic!("{p:?}: {other:?}"),
        }
    }
}

#[test]
fn a_model_path_that_is_not_utf8_is_a_configuration_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join(OsStr::from_bytes(b"model-\xff.gguf"));
    std::fs::write(&p, b"GGUF").unwrap();
    assert_eq!(
        config_error(spawn(config(&p))),
        "the model path is not valid UTF-8"
    );
}

#[test]
fn files_that_are_not_gguf_are_refused_by_the_runner_as_invalid_models() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, &[u8])> = vec![
        ("empty", b""),
        ("the magic alone", b"GGUF"),
        ("text", b"this is not a model, just forty-odd bytes of text"),
        ("zeros", &[0u8; 4096]),
        (
            "magic, then a header cut short",
            b"GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff",
        ),
    ];
    for (what, bytes) in cases {
        let p = tmp.path().join(format!("{}.gguf", what.replace(' ', "-")));
        std::fs::write(&p, bytes).unwrap();
        match spawn(config(&p)) {
            Err(RunnerError::InvalidModel(why)) => assert_eq!(
                why, "the file does not start with the GGUF magic (not a GGUF model)",
                "{what}"
            ),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn a_relative_runner_path_runs_the_file_that_was_checked() {
    // `with_runner_path("name")` is checked as ./name but executed through a PATH search by
    // Command::new("name"): the program that runs is not the one that was checked.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(RUNNER, tmp.path().join("renamed-runner")).unwrap();
    let model = tmp.path().join("model.gguf");
    std::fs::write(&model, b"not a model").unwrap();
    std::env::set_current_dir(tmp.path()).unwrap();
    let cfg = config(&model).with_runner_path("renamed-runner");
    match spawn(cfg) {
        // The checked file ran (and refused the model) ...
        Err(RunnerError::InvalidModel(_)) => {}
        // ... or a relative path is refused outright.
        Err(RunnerError::RunnerNotFound { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stop_string_completed_by_trailing_invalid_bytes_does_not_leak() {
    // Found by fuzz/text_assembly: at the end of generation, incomplete trailing bytes become
    // U+FFFD without a stop-string check, so a stop string ending in U+FFFD leaks.
    let out = secllama_runner::internal::assemble_text(vec!["a\u{fffd}".into()], &[b"a\xe2"]);
    assert_eq!(out, "");
}
