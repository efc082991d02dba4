//! The bad-input campaign: hostile settings values, hostile paths in a policy (relative,
//! missing, empty, NUL bytes, non-UTF-8, FIFOs, devices, symlinks), hostile runner ids and
//! Windows paths for the AppContainer's grants, each with the exact outcome. Nothing may panic or block.
//! Unix only (non-UTF-8 paths as bytes, FIFOs, symlinks); on Windows the AppContainer's own
//! unit tests cover its names and grants.
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

use secllama_sandbox::internal::{SeatbeltProfile, container_name, file_grants};
use secllama_sandbox::{SandboxError, SandboxPolicy, SandboxSettings, SeatbeltIpc, Strictness};

/// Runs `f` on a thread and fails the test if it does not return within 20 s.
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what}: blocked for 20 s"))
}

#[test]
fn settings_accept_only_documented_boolean_words() {
    let name = "SECLLAMA_ENABLE_SANDBOX";
    let cases: Vec<(&str, Option<bool>)> = vec![
        ("", Some(true)),
        (" TRUE ", Some(true)),
        ("On", Some(true)),
        ("0", Some(false)),
        ("No", Some(false)),
        ("off\n", Some(false)),
        ("2", None),
        ("truee", None),
        ("true\0", None),
        ("fals", None),
        ("\u{fffd}", None),
        ("n", None),
        ("disabled", None),
    ];
    for (value, want) in cases {
        let got = SandboxSettings::from_lookup(|n| (n == name).then(|| value.to_owned()));
        match (got, want) {
            (Ok(s), Some(enabled)) => assert_eq!(s.enabled, enabled, "{value:?}"),
            (Err(SandboxError::InvalidSetting { name: n, value: v }), None) => {
                assert_eq!((n, v.as_str()), (name, value));
            }
            (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
        }
    }
}

fn path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[test]
fn seatbelt_refuses_unrepresentable_paths_with_the_reason() {
    const NOT_ABSOLUTE: &str = "Seatbelt rules need absolute paths";
    const NUL: &str = "a path with a NUL byte cannot be passed to sandbox-exec";
    const NOT_UTF8: &str = "a Seatbelt profile parameter must be valid UTF-8";
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        ("empty", PathBuf::new(), NOT_ABSOLUTE),
        ("relative", "models/m.gguf".into(), NOT_ABSOLUTE),
        ("dot-relative", "./m.gguf".into(), NOT_ABSOLUTE),
        ("NUL byte", path(b"/models/a\0b"), NUL),
        ("invalid UTF-8", path(b"/models/\xff\xfe"), NOT_UTF8),
    ];
    let good = Path::new("/opt/runner");
    for (what, bad, reason) in cases {
        let builds: Vec<(&str, Result<SeatbeltProfile, SandboxError>)> = vec![
            (
                "program",
                SeatbeltProfile::build(
                    &SandboxPolicy::new(),
                    &bad,
                    &SeatbeltIpc::InheritedFd,
                    false,
                ),
            ),
            (
                "read-only",
                SeatbeltProfile::build(
                    &SandboxPolicy::new().read_only(&bad),
                    good,
                    &SeatbeltIpc::InheritedFd,
                    false,
                ),
            ),
            (
                "read-write",
                SeatbeltProfile::build(
                    &SandboxPolicy::new().read_write(&bad),
                    good,
                    &SeatbeltIpc::InheritedFd,
                    true,
                ),
            ),
            (
                "device",
                SeatbeltProfile::build(
                    &SandboxPolicy::new().device(&bad),
                    good,
                    &SeatbeltIpc::InheritedFd,
                    true,
                ),
            ),
            (
                "socket",
                SeatbeltProfile::build(
                    &SandboxPolicy::new(),
                    good,
                    &SeatbeltIpc::UnixSocket(bad.clone()),
                    false,
                ),
            ),
        ];
        for (slot, got) in builds {
            match got {
                Err(SandboxError::UnrepresentablePath { path: p, reason: r }) => {
                    assert_eq!((p, r), (bad.clone(), reason), "{what} as {slot}");
                }
                other => panic!("{what} as {slot}: {other:?}"),
            }
        }
    }
}

#[test]
fn seatbelt_paths_with_sbpl_syntax_are_only_parameters() {
    // Quotes, parentheses, newlines and comment characters in a path cannot change the
    // profile: the text equals the one built for a plain path.
    let hostile = [
        "/m\") (allow default) (\"",
        "/m\n(allow network*)\n",
        "/m;; comment",
        "/m#|block comment",
        "/m\\\"",
    ];
    let plain = SeatbeltProfile::build(
        &SandboxPolicy::new()
            .read_only("/p")
            .read_write("/p")
            .device("/p"),
        Path::new("/p"),
        &SeatbeltIpc::UnixSocket("/p".into()),
        true,
    )
    .unwrap();
    for h in hostile {
        let p = SeatbeltProfile::build(
            &SandboxPolicy::new().read_only(h).read_write(h).device(h),
            Path::new(h),
            &SeatbeltIpc::UnixSocket(h.into()),
            true,
        )
        .unwrap();
        assert_eq!(p.text(), plain.text(), "{h:?}");
        assert!(!p.text().contains(h), "{h:?}");
        assert_eq!(p.params().len(), 5);
        assert!(p.params().iter().all(|(_, v)| v == h));
    }
}

#[test]
fn the_appcontainer_refuses_hostile_runner_ids_and_paths_with_the_reason() {
    let long_id = "a".repeat(49);
    for id in [
        "",
        "a b",
        "a\"b",
        "a=b",
        "a\0b",
        "é",
        "a\nb",
        "../x",
        "a\\b",
        long_id.as_str(),
    ] {
        match container_name(id) {
            Err(SandboxError::InvalidRunnerId { id: shown }) => {
                assert_eq!(shown, id.chars().take(72).collect::<String>(), "{id:?}");
            }
            other => panic!("{id:?}: {other:?}"),
        }
    }
    assert_eq!(
        container_name(&"a".repeat(48)).unwrap(),
        format!("SecLlama.Runner.{}", "a".repeat(48))
    );
    let runner = Path::new("C:\\SecLlama\\secllama-runner.exe");
    let cases: Vec<(&str, PathBuf)> = vec![
        ("relative", "m.gguf".into()),
        ("UNC", "\\\\server\\share\\m.gguf".into()),
        ("verbatim UNC", "\\\\?\\UNC\\server\\share\\m.gguf".into()),
        ("empty", PathBuf::new()),
        ("unix", "/models/m.gguf".into()),
        ("non-UTF-8", path(b"\xff:\\m.gguf")),
    ];
    for (what, p) in cases {
        let policy = SandboxPolicy::new().read_only(p.clone());
        match file_grants(&policy, runner) {
            Err(SandboxError::UnrepresentablePath { path: got, reason }) => {
                assert_eq!(
                    (got, reason),
                    (p.clone(), "not an absolute Windows path (X:\\...)"),
                    "{what}"
                );
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

/// `apply_to` with one read-only path, best effort so the outcome depends only on the path.
fn apply_read_only(p: PathBuf) -> Result<(), SandboxError> {
    let policy = SandboxPolicy::new()
        .strictness(Strictness::BestEffort)
        .read_only(p);
    within_deadline("apply_to", move || {
        policy.apply_to(&mut Command::new("/bin/true")).map(drop)
    })
}

fn path_error(p: &Path) -> (PathBuf, String) {
    match apply_read_only(p.to_path_buf()) {
        Err(SandboxError::Path { path, error }) => (path, error.to_string()),
        other => panic!("{p:?}: expected a path error, got {other:?}"),
    }
}

#[test]
fn apply_to_names_a_missing_or_unopenable_path_and_never_blocks_on_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    assert_eq!(
        path_error(&missing),
        (
            missing.clone(),
            "No such file or directory (os error 2)".into()
        )
    );
    let relative_missing = PathBuf::from("no-such-relative-path");
    assert_eq!(
        path_error(&relative_missing),
        (
            relative_missing.clone(),
            "No such file or directory (os error 2)".into()
        )
    );
    assert_eq!(
        path_error(Path::new("")),
        (
            PathBuf::new(),
            "No such file or directory (os error 2)".into()
        )
    );
    let nul = path(b"/tmp/a\0b");
    assert_eq!(
        path_error(&nul),
        (
            nul.clone(),
            "file name contained an unexpected NUL byte".into()
        )
    );
    let dangling = tmp.path().join("dangling");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
    assert_eq!(
        path_error(&dangling),
        (
            dangling.clone(),
            "No such file or directory (os error 2)".into()
        )
    );

    // A FIFO and a never-ending device are granted like files (the sandbox opens them with
    // O_PATH, never for reading), and preparing the sandbox does not block on either.
    let fifo = tmp.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    assert!(apply_read_only(fifo).is_ok());
    assert!(apply_read_only("/dev/zero".into()).is_ok());
}
