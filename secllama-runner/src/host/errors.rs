//! Turning what the runner reports (error frames, exit statuses) into `RunnerError`s.

use std::path::Path;
use std::process::ExitStatus;

use super::launch::Process;
use std::time::{Duration, Instant};

use super::SHUTDOWN_GRACE;
use crate::RunnerError;
use crate::wire::{MAX_ERROR_TEXT_BYTES, RunnerMessage, WireErrorKind, exit, printable};

pub(super) fn map_exit(status: ExitStatus) -> RunnerError {
    match status.code().and_then(|c| u8::try_from(c).ok()) {
        Some(exit::ENCRYPTION_MISMATCH) => RunnerError::EncryptionMismatch,
        Some(exit::FRAME_REJECTED) => RunnerError::PeerRejectedFrame,
        Some(exit::USAGE) => RunnerError::Protocol("the runner rejected its command line".into()),
        Some(exit::BAD_KEY) => {
            RunnerError::Protocol("the runner rejected the session key message".into())
        }
        _ => RunnerError::Crashed { status },
    }
}

pub(super) fn map_wire_error(
    kind: WireErrorKind,
    message: String,
    detail: Option<(u64, u64)>,
    model: &Path,
    expected_sha: Option<&str>,
) -> RunnerError {
    // The runner's words may quote the model file: bounded and printable, like its name.
    let message = printable(&message, MAX_ERROR_TEXT_BYTES);
    match kind {
        WireErrorKind::FrameRejected => RunnerError::PeerRejectedFrame,
        WireErrorKind::ModelNotFound => RunnerError::ModelNotFound {
            path: model.to_path_buf(),
            cause: std::io::Error::other(message),
        },
        WireErrorKind::ChecksumMismatch => RunnerError::ChecksumMismatch {
            expected: expected_sha.unwrap_or_default().to_string(),
            actual: message,
        },
        WireErrorKind::InvalidModel => RunnerError::InvalidModel(message),
        WireErrorKind::ModelLoad => RunnerError::ModelLoad(message),
        WireErrorKind::UnsupportedCpu => RunnerError::UnsupportedCpu(message),
        WireErrorKind::GpuUnavailable => RunnerError::GpuUnavailable(message),
        WireErrorKind::InvalidRequest => RunnerError::InvalidRequest(message),
        WireErrorKind::PromptTooLong => {
            let (prompt_tokens, context_length) = detail.unwrap_or_default();
            RunnerError::PromptTooLong {
                prompt_tokens,
                context_length,
            }
        }
        WireErrorKind::Generation => RunnerError::Generation(message),
        WireErrorKind::Protocol => RunnerError::Protocol(message),
    }
}

/// Waits briefly for a child whose channel broke and maps its exit status; kills it if it
/// lingers.
pub(super) fn reap_error(child: &mut Process) -> RunnerError {
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let err = map_exit(status);
                if matches!(err, RunnerError::Crashed { .. }) {
                    tracing::warn!(
                        target: "secllama::audit",
                        event = "runner-crashed",
                        status = %status,
                        "the runner process died"
                    );
                }
                return err;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                return match child.wait() {
                    Ok(status) => RunnerError::Crashed { status },
                    Err(e) => RunnerError::Io(e),
                };
            }
        }
    }
}

pub(super) fn message_name(msg: &RunnerMessage) -> &'static str {
    match msg {
        RunnerMessage::Progress(_) => "progress",
        RunnerMessage::Ready(_) => "ready",
        RunnerMessage::Token { .. } => "token",
        RunnerMessage::Done { .. } => "done",
        RunnerMessage::Error { .. } => "error",
        RunnerMessage::Embedding { .. } => "embedding",
        RunnerMessage::Tokens { .. } => "tokens",
        RunnerMessage::Text { .. } => "text",
    }
}
