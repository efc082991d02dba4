//! Exit statuses: one per kind of failure, so scripts can tell a wrong password from a missing
//! sandbox without parsing messages. The table is printed by `secllama --help` and listed in
//! the README; [`Status::ALL`] is the single source of both.

use std::error::Error;
use std::fmt;
use std::io;
use std::process::ExitCode;

use secllama_crypto::CryptoError;
use secllama_keystore::KeystoreError;
use secllama_runner::RunnerError;
use secllama_sandbox::SandboxError;

/// Why `secllama` failed, as its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Any failure not listed below.
    Failure = 1,
    /// The command line or an environment setting is wrong (clap's own errors use this status
    /// too).
    Usage = 2,
    /// An input or output file cannot be read or written, or its content is malformed or over
    /// a limit (including a password file and a prompt).
    Input = 3,
    /// Decryption did not authenticate: wrong password, key or associated data, or tampering.
    Authentication = 4,
    /// The keychain cannot be used: no backend, locked, no keys yet, key disabled or destroyed.
    Keychain = 5,
    /// The sandbox cannot be set up as required (strict mode refused, or a layer failed).
    Sandbox = 6,
    /// The runner process failed: not found, crashed, or broke the channel protocol.
    Runner = 7,
    /// The model cannot be used: missing, wrong SHA-256, not GGUF, or failed to load.
    Model = 8,
    /// No terminal to ask on (a password prompt or a confirmation without a terminal).
    NoTerminal = 9,
    /// Standard output was closed by its reader (`secllama key status | head -1`): nothing is
    /// printed, as for a Unix tool ended by SIGPIPE (128 + 13).
    BrokenPipe = 141,
}

impl Status {
    /// Every status with its meaning, in order (the `--help` table and the README).
    pub(crate) const ALL: [(Status, &'static str); 10] = [
        (Status::Failure, "other failure"),
        (
            Status::Usage,
            "usage: the command line or a SECLLAMA_* setting is wrong",
        ),
        (
            Status::Input,
            "input: a file or stream cannot be read or written, is malformed or over a limit",
        ),
        (
            Status::Authentication,
            "authentication failed: wrong password, key or --aad, or the data was modified",
        ),
        (
            Status::Keychain,
            "keychain unavailable, locked, not initialized, or the key is disabled/destroyed",
        ),
        (Status::Sandbox, "sandbox unavailable as required"),
        (
            Status::Runner,
            "runner failed: not found, crashed, or broke the protocol",
        ),
        (
            Status::Model,
            "model: missing, wrong SHA-256, not GGUF, or failed to load",
        ),
        (
            Status::NoTerminal,
            "no terminal to prompt on (give --password-file or --yes)",
        ),
        (
            Status::BrokenPipe,
            "standard output closed by its reader (quiet, like SIGPIPE)",
        ),
    ];

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The `--help` section listing every status.
    pub(crate) fn help_table() -> String {
        let mut s = String::from("Exit status:\n  0    success\n");
        for (status, what) in Self::ALL {
            s.push_str(&format!("  {:<4} {what}\n", status.code()));
        }
        s
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> Self {
        ExitCode::from(s.code())
    }
}

/// An error with the exit status it maps to; its message is printed as is.
#[derive(Debug)]
pub(crate) struct Failure {
    status: Status,
    message: String,
}

impl Failure {
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// An input/output failure (status 3).
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self::new(Status::Input, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Failure {}

/// The status of a crypto failure.
pub(crate) fn of_crypto(e: &CryptoError) -> Status {
    match e {
        CryptoError::AuthenticationFailed => Status::Authentication,
        CryptoError::UnknownKey(_) | CryptoError::KeyDisabled(_) | CryptoError::KeyDestroyed(_) => {
            Status::Keychain
        }
        CryptoError::InvalidIterations { .. } => Status::Usage,
        _ => Status::Input,
    }
}

fn of_runner(e: &RunnerError) -> Status {
    match e {
        RunnerError::ModelNotFound { .. }
        | RunnerError::ChecksumMismatch { .. }
        | RunnerError::InvalidModel(_)
        | RunnerError::ModelLoad(_)
        | RunnerError::UnsupportedCpu(_) => Status::Model,
        RunnerError::Sandbox(_) => Status::Sandbox,
        RunnerError::Config(_) => Status::Usage,
        RunnerError::InvalidRequest(_) | RunnerError::PromptTooLong { .. } => Status::Input,
        _ => Status::Runner,
    }
}

/// True for an `io::Error` meaning the reader of our standard output went away.
fn is_broken_pipe(e: &(dyn Error + 'static)) -> bool {
    if let Some(io) = e.downcast_ref::<io::Error>() {
        return io.kind() == io::ErrorKind::BrokenPipe;
    }
    e.downcast_ref::<serde_json::Error>()
        .and_then(serde_json::Error::io_error_kind)
        == Some(io::ErrorKind::BrokenPipe)
}

/// The status for an error reaching `main`. A bare `io::Error` there comes from writing our
/// own output (the runner's channel errors arrive wrapped in [`RunnerError`]).
pub(crate) fn status_of(e: &(dyn Error + 'static)) -> Status {
    if let Some(f) = e.downcast_ref::<Failure>() {
        return f.status;
    }
    if let Some(r) = e.downcast_ref::<RunnerError>() {
        return of_runner(r);
    }
    if let Some(s) = e.downcast_ref::<SandboxError>() {
        return match s {
            SandboxError::InvalidSetting { .. } => Status::Usage,
            _ => Status::Sandbox,
        };
    }
    if let Some(k) = e.downcast_ref::<KeystoreError>() {
        return match k {
            KeystoreError::UnknownBackend { .. } | KeystoreError::InvalidService { .. } => {
                Status::Usage
            }
            KeystoreError::Crypto(c) if of_crypto(c) != Status::Input => of_crypto(c),
            _ => Status::Keychain,
        };
    }
    if let Some(c) = e.downcast_ref::<CryptoError>() {
        return of_crypto(c);
    }
    if is_broken_pipe(e) {
        return Status::BrokenPipe;
    }
    Status::Failure
}

/// Prints `err` as one line on stderr (nothing for a broken pipe) and returns its status.
pub(crate) fn report(err: &(dyn Error + 'static)) -> ExitCode {
    let status = status_of(err);
    if status != Status::BrokenPipe {
        eprintln!("secllama: {err}");
    }
    status.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_distinct_and_listed_in_the_help_table() {
        let table = Status::help_table();
        let mut seen = std::collections::HashSet::new();
        for (s, what) in Status::ALL {
            assert!(seen.insert(s.code()), "status {} twice", s.code());
            assert!(
                table.contains(&format!("  {:<4} {what}\n", s.code())),
                "{table}"
            );
        }
    }

    #[test]
    fn errors_map_to_their_status() {
        let cases: Vec<(Box<dyn Error>, Status)> = vec![
            (Failure::input("x").into(), Status::Input),
            (
                CryptoError::AuthenticationFailed.into(),
                Status::Authentication,
            ),
            (
                KeystoreError::Crypto(CryptoError::AuthenticationFailed).into(),
                Status::Authentication,
            ),
            (
                KeystoreError::NotInitialized {
                    service: "s".into(),
                }
                .into(),
                Status::Keychain,
            ),
            (
                RunnerError::Crashed {
                    status: std::os::unix::process::ExitStatusExt::from_raw(9),
                }
                .into(),
                Status::Runner,
            ),
            (RunnerError::InvalidModel("x".into()).into(), Status::Model),
            (
                RunnerError::Sandbox(SandboxError::Landlock("x".into())).into(),
                Status::Sandbox,
            ),
            (SandboxError::Seccomp("x".into()).into(), Status::Sandbox),
            (
                io::Error::from(io::ErrorKind::BrokenPipe).into(),
                Status::BrokenPipe,
            ),
            (
                RunnerError::Io(io::Error::from(io::ErrorKind::BrokenPipe)).into(),
                Status::Runner,
            ),
            (
                io::Error::from(io::ErrorKind::PermissionDenied).into(),
                Status::Failure,
            ),
            ("plain".into(), Status::Failure),
        ];
        for (e, want) in cases {
            assert_eq!(status_of(&*e), want, "{e}");
        }
    }
}
