//! The crate's one error type.
//!
//! One rule for causes: a variant that wraps another error prints it in its own message
//! (`"…: {0}"`) and does not expose it as `source()`, so a report that walks the chain never
//! prints a cause twice, and a plain `to_string()` (the C ABI, the CLI) still says why.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can go wrong starting, talking to, or stopping a runner.
///
/// Messages never carry key material, prompt text or generated text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// The runner executable was not found where it was looked for.
    #[error(
        "runner executable not found at {path}: build it (cargo build -p secllama-runner, next \
         to your program) or set SECLLAMA_RUNNER_PATH"
    )]
    RunnerNotFound {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The model file does not exist or cannot be read by this process.
    #[error("model file {path} cannot be read: {cause}")]
    ModelNotFound {
        /// The configured path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A configuration value is invalid (an environment variable, a pinned hash, a size).
    #[error("invalid runner configuration: {0}")]
    Config(String),
    /// The sandbox could not be set up as configured; nothing was started.
    #[error("sandbox refused to start the runner: {0}")]
    Sandbox(secllama_sandbox::SandboxError),
    /// Starting the runner process failed.
    #[error("could not start the runner process: {0}")]
    Spawn(std::io::Error),
    /// Reading or writing the channel to the runner failed.
    #[error("runner channel i/o failed: {0}")]
    Io(std::io::Error),
    /// A frame from the runner failed authentication or decoding; the runner was stopped.
    #[error(
        "a frame from the runner was rejected ({reason}); the session is closed and the runner \
         stopped"
    )]
    FrameRejected {
        /// What was wrong with it (no contents).
        reason: String,
    },
    /// The runner rejected a frame from this side as forged, replayed or corrupt and closed
    /// the session.
    #[error(
        "the runner rejected a frame from this host as forged, replayed or corrupt; the session \
         is closed"
    )]
    PeerRejectedFrame,
    /// Host and runner disagree about `SECLLAMA_ENABLE_ENCRYPTION`.
    #[error(
        "host and runner disagree on SECLLAMA_ENABLE_ENCRYPTION: the channel is encrypted unless \
         both sides set it to false"
    )]
    EncryptionMismatch,
    /// The model file's SHA-256 differs from the pinned one; the model was not loaded.
    #[error("model sha-256 is {actual}, expected the pinned {expected}: refusing to load it")]
    ChecksumMismatch {
        /// The pinned hash (hex).
        expected: String,
        /// The file's hash (hex).
        actual: String,
    },
    /// The file is not a model llama.cpp can load (not GGUF, truncated, unsupported).
    #[error("not a loadable GGUF model: {0}")]
    InvalidModel(String),
    /// llama.cpp failed to load the model or create its context.
    #[error("loading the model failed: {0}")]
    ModelLoad(String),
    /// This CPU lacks SIMD instructions the bundled llama.cpp was built for.
    #[error("{0}")]
    UnsupportedCpu(String),
    /// GPU layers were asked for, but the runner binary has no GPU backend or found no usable
    /// device inside its sandbox; nothing was loaded (see `RunnerConfig::with_cpu_fallback`).
    #[error("{0}")]
    GpuUnavailable(String),
    /// The request is invalid (the message names the field).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The prompt does not fit the context window; nothing was decoded.
    #[error(
        "the prompt is {prompt_tokens} tokens but the context holds {context_length}: shorten \
         it or raise the context length"
    )]
    PromptTooLong {
        /// Tokens in the prompt.
        prompt_tokens: u64,
        /// The context length.
        context_length: u64,
    },
    /// llama.cpp failed while generating.
    #[error("generation failed: {0}")]
    Generation(String),
    /// The runner broke the protocol (an unexpected message).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The runner process died.
    #[error("the runner process died ({status})")]
    Crashed {
        /// How it ended.
        status: ExitStatus,
    },
    /// The runner was shut down or the session closed after an earlier error.
    #[error("the runner session is closed")]
    Closed,
}

impl From<secllama_sandbox::SandboxError> for RunnerError {
    fn from(e: secllama_sandbox::SandboxError) -> Self {
        RunnerError::Sandbox(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::process::ExitStatusExt;
    #[cfg(windows)]
    use std::os::windows::process::ExitStatusExt;

    #[test]
    fn every_variant_prints_once_lower_case_with_its_cause_and_no_source() {
        let errors = vec![
            RunnerError::RunnerNotFound {
                path: "/x/secllama-runner".into(),
            },
            RunnerError::ModelNotFound {
                path: "/m.gguf".into(),
                cause: std::io::ErrorKind::NotFound.into(),
            },
            RunnerError::Config("x".into()),
            RunnerError::Sandbox(secllama_sandbox::SandboxError::Landlock(
                "no landlock".into(),
            )),
            RunnerError::Spawn(std::io::ErrorKind::PermissionDenied.into()),
            RunnerError::Io(std::io::ErrorKind::BrokenPipe.into()),
            RunnerError::FrameRejected {
                reason: "forged".into(),
            },
            RunnerError::PeerRejectedFrame,
            RunnerError::EncryptionMismatch,
            RunnerError::ChecksumMismatch {
                expected: "aa".into(),
                actual: "bb".into(),
            },
            RunnerError::InvalidModel("bad magic".into()),
            RunnerError::ModelLoad("x".into()),
            RunnerError::UnsupportedCpu("this cpu lacks avx2".into()),
            RunnerError::InvalidRequest("max_tokens".into()),
            RunnerError::PromptTooLong {
                prompt_tokens: 10,
                context_length: 5,
            },
            RunnerError::Generation("x".into()),
            RunnerError::Protocol("x".into()),
            RunnerError::Crashed {
                status: ExitStatus::from_raw(9),
            },
            RunnerError::Closed,
        ];
        let causes = [
            ("model file", "entity not found"),
            ("could not start", "permission denied"),
            ("channel i/o", "broken pipe"),
            ("sandbox refused", "no landlock"),
        ];
        for e in errors {
            let msg = e.to_string();
            println!("{msg}");
            assert!(msg.chars().next().unwrap().is_lowercase(), "{msg}");
            assert!(!msg.ends_with('.'), "{msg}");
            assert!(
                std::error::Error::source(&e).is_none(),
                "{msg}: the cause is in the message, so it must not be a source too"
            );
            for (prefix, cause) in causes {
                if msg.contains(prefix) {
                    assert!(msg.contains(cause), "{msg} should say {cause}");
                }
            }
        }
    }
}
