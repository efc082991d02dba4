//! Every variant of every error the C ABI reports, printed through `secllama_last_error`: one
//! line, its status in the right band, and each cause exactly once.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use ::secllama_keystore::{Backend, KeystoreError};
use ::secllama_runner::RunnerError;
use secllama_crypto::CryptoError;
use secllama_sandbox::{Layer, SandboxError};

use super::*;

/// A cause text no message template contains, so counting it counts the cause.
const CAUSE: &str = "cause-7f3a";

fn io_cause() -> io::Error {
    io::Error::other(CAUSE)
}

/// What `secllama_last_error` gives right now, read the way C reads it.
fn last_error_text() -> String {
    let mut need = 0usize;
    // SAFETY: a NULL buffer with length 0 asks for the length; `need` is a valid usize.
    let status = unsafe { secllama_last_error(std::ptr::null_mut(), 0, &mut need) };
    assert_eq!(status, secllama_status::BufferTooSmall);
    let mut buf = vec![0u8; need + 1];
    let mut got = 0usize;
    // SAFETY: `buf` is valid for `buf.len()` bytes and `got` for a usize.
    let status = unsafe { secllama_last_error(buf.as_mut_ptr().cast(), buf.len(), &mut got) };
    assert_eq!(status, secllama_status::Ok);
    assert_eq!(got, need);
    assert_eq!(buf[got], 0, "NUL-terminated");
    buf.truncate(got);
    String::from_utf8(buf).expect("the message is UTF-8")
}

/// Records `err` as the C ABI does, reads it back, and checks the rules; returns the line.
fn reported<E: ToStatus + std::error::Error>(err: E, band: u32, with_cause: bool) -> String {
    let display = err.to_string();
    let status = fail_with(err);
    let code = status as u32;
    assert!(
        code / 100 == band || (100..200).contains(&code),
        "{display}: status {code} is outside band {band}xx"
    );
    let text = last_error_text();
    println!("{code:>3} {text}");
    assert_eq!(
        text, display,
        "the one rule: the message already holds every cause"
    );
    assert!(!text.contains('\n'), "{text}");
    assert!(!text.ends_with('.'), "{text}");
    // Lower case, unless it starts with a variable's name.
    assert!(
        text.starts_with("SECLLAMA_") || text.chars().next().is_some_and(|c| !c.is_uppercase()),
        "{text}"
    );
    let times = text.matches(CAUSE).count();
    assert_eq!(
        times,
        usize::from(with_cause),
        "{text}: cause printed {times} times"
    );
    text
}

#[test]
fn every_crypto_error_prints_each_cause_once_through_last_error() {
    let no_cause = [
        CryptoError::Malformed("x"),
        CryptoError::UnsupportedVersion(9),
        CryptoError::UnknownKey(1),
        CryptoError::KeyDisabled(1),
        CryptoError::KeyDestroyed(1),
        CryptoError::AuthenticationFailed,
        CryptoError::KeyExhausted(1),
        CryptoError::InvalidIterations {
            iterations: 1,
            min: 2,
            max: 3,
        },
        CryptoError::InvalidKeyLength {
            expected: 32,
            actual: 1,
        },
        CryptoError::EmptyPassword,
        CryptoError::PrimaryKey(1),
        CryptoError::TooManyKeys { max: 1 },
        CryptoError::TooLarge { len: 2, max: 1 },
        CryptoError::InvalidKeyset("x"),
        CryptoError::Json {
            category: "syntax",
            line: 1,
            column: 2,
        },
    ];
    for e in no_cause {
        reported(e, 2, false);
    }
    reported(CryptoError::Reservation(CAUSE.into()), 2, true);
    reported(CryptoError::Random(CAUSE.into()), 2, true);
}

#[test]
fn every_keystore_error_prints_each_cause_once_through_last_error() {
    let cases = vec![
        (
            KeystoreError::NoBackend {
                tried: vec![format!("secret-service: {CAUSE}")],
                hint: "start it".into(),
            },
            true,
        ),
        (
            KeystoreError::UnknownBackend {
                name: "file".into(),
            },
            false,
        ),
        (KeystoreError::InvalidService { name: "a/b".into() }, false),
        (
            KeystoreError::Locked {
                backend: Backend::SecretService,
                detail: CAUSE.into(),
                hint: "unlock it",
            },
            true,
        ),
        (
            KeystoreError::NotInitialized {
                service: "s".into(),
            },
            false,
        ),
        (
            KeystoreError::AlreadyInitialized {
                service: "s".into(),
            },
            false,
        ),
        (KeystoreError::Corrupt { what: CAUSE.into() }, true),
        (
            KeystoreError::TooManyKeys {
                service: "s".into(),
                max: 40,
            },
            false,
        ),
        (
            KeystoreError::Crypto(CryptoError::Random(CAUSE.into())),
            true,
        ),
        (
            KeystoreError::LockFile {
                path: "/run/x.lock".into(),
                error: io_cause(),
            },
            true,
        ),
        (
            KeystoreError::RecentlyPrimary {
                id: 7,
                until: 1_765_000_000,
            },
            false,
        ),
        (
            KeystoreError::Backend {
                backend: Backend::Keyutils,
                detail: CAUSE.into(),
            },
            true,
        ),
    ];
    for (e, with_cause) in cases {
        // A crypto error inside the keystore keeps its crypto status.
        let band = if matches!(e, KeystoreError::Crypto(_)) {
            2
        } else {
            3
        };
        reported(e, band, with_cause);
    }
    assert_eq!(
        KeystoreError::RecentlyPrimary { id: 1, until: 0 }.to_status(),
        secllama_status::KeystoreRecentlyPrimary
    );
}

fn sandbox_errors() -> Vec<(SandboxError, bool)> {
    vec![
        (
            SandboxError::NetworkIsolationUnavailable {
                layer: Layer::NetworkNamespace,
                reason: CAUSE.into(),
            },
            true,
        ),
        (
            SandboxError::FilesystemIsolationUnavailable {
                layer: Layer::LandlockFilesystem,
                reason: CAUSE.into(),
            },
            true,
        ),
        (
            SandboxError::Path {
                path: "/nope".into(),
                error: io_cause(),
            },
            true,
        ),
        (SandboxError::Landlock(CAUSE.into()), true),
        (SandboxError::Seccomp(CAUSE.into()), true),
        (
            SandboxError::Os {
                step: "unshare",
                error: io_cause(),
            },
            true,
        ),
        (
            SandboxError::InvalidSetting {
                name: "SECLLAMA_ENABLE_SANDBOX",
                value: "x".into(),
            },
            false,
        ),
        (
            SandboxError::UnrepresentablePath {
                path: "/a".into(),
                reason: "contains a line break",
            },
            false,
        ),
        (SandboxError::InvalidRunnerId { id: "x y".into() }, false),
        (SandboxError::Unsupported { what: "x" }, false),
    ]
}

#[test]
fn every_sandbox_error_prints_each_cause_once_through_last_error() {
    for (e, with_cause) in sandbox_errors() {
        reported(e, 4, with_cause);
    }
    assert_eq!(
        SandboxError::FilesystemIsolationUnavailable {
            layer: Layer::LandlockFilesystem,
            reason: String::new(),
        }
        .to_status(),
        secllama_status::SandboxFilesystemIsolationUnavailable
    );
}

#[test]
fn every_runner_error_prints_each_cause_once_through_last_error() {
    let cases = vec![
        (
            RunnerError::RunnerNotFound {
                path: "/x/secllama-runner".into(),
            },
            false,
        ),
        (
            RunnerError::ModelNotFound {
                path: "/m.gguf".into(),
                cause: io_cause(),
            },
            true,
        ),
        (RunnerError::Config(CAUSE.into()), true),
        (RunnerError::Spawn(io_cause()), true),
        (RunnerError::Io(io_cause()), true),
        (
            RunnerError::FrameRejected {
                reason: CAUSE.into(),
            },
            true,
        ),
        (RunnerError::PeerRejectedFrame, false),
        (RunnerError::EncryptionMismatch, false),
        (
            RunnerError::ChecksumMismatch {
                expected: "aa".into(),
                actual: "bb".into(),
            },
            false,
        ),
        (RunnerError::InvalidModel(CAUSE.into()), true),
        (RunnerError::ModelLoad(CAUSE.into()), true),
        (RunnerError::UnsupportedCpu(CAUSE.into()), true),
        (RunnerError::InvalidRequest(CAUSE.into()), true),
        (
            RunnerError::PromptTooLong {
                prompt_tokens: 10,
                context_length: 5,
            },
            false,
        ),
        (RunnerError::Generation(CAUSE.into()), true),
        (RunnerError::Protocol(CAUSE.into()), true),
        (
            RunnerError::Crashed {
                status: ExitStatus::from_raw(9),
            },
            false,
        ),
        (RunnerError::Closed, false),
        (RunnerError::GpuUnavailable(CAUSE.into()), true),
    ];
    for (e, with_cause) in cases {
        reported(e, 5, with_cause);
    }
    // A sandbox error inside the runner's keeps its sandbox status and its cause, once.
    for (e, with_cause) in sandbox_errors() {
        let text = reported(RunnerError::Sandbox(e), 4, with_cause);
        assert!(
            text.starts_with("sandbox refused to start the runner: "),
            "{text}"
        );
    }
}

/// An error that follows the other rule: the cause is a `source()`, not in the message.
#[derive(Debug)]
struct SourceOnly(io::Error);

impl fmt::Display for SourceOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reading the thing failed")
    }
}

impl std::error::Error for SourceOnly {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An error that breaks both rules at once: the cause in the message and as `source()`.
#[derive(Debug)]
struct Both(io::Error);

impl fmt::Display for Both {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading the thing failed: {}", self.0)
    }
}

impl std::error::Error for Both {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn a_cause_given_only_as_a_source_is_printed_once_and_never_twice() {
    assert_eq!(
        chain(&SourceOnly(io_cause())),
        format!("reading the thing failed: {CAUSE}")
    );
    assert_eq!(
        chain(&Both(io_cause())),
        format!("reading the thing failed: {CAUSE}")
    );
}
