//! The calling thread's last error message, and the mapping of each crate's errors to status
//! codes.

use std::cell::RefCell;
use std::ffi::c_char;
use std::fmt;

use ::secllama_keystore::KeystoreError;
use ::secllama_runner::RunnerError;
use secllama_crypto::CryptoError;
use secllama_sandbox::SandboxError;

use crate::status::secllama_status;

/// The longest message kept (longer ones are cut at a character boundary).
const MAX_MESSAGE_LEN: usize = 4096;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `message` as this thread's last error and returns `status`.
///
/// Messages come from the crates' error types, which never carry key material, passwords,
/// prompts or generated text.
pub(crate) fn fail(status: secllama_status, message: impl fmt::Display) -> secllama_status {
    let mut text = message.to_string();
    if text.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    // A message with a NUL would be cut short in C; none of ours has one, but be sure.
    let text = text.replace('\0', "?");
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
    status
}

/// Records a crate error as the last error and returns its status.
pub(crate) fn fail_with<E: ToStatus + std::error::Error>(err: E) -> secllama_status {
    fail(err.to_status(), chain(&err))
}

/// The one line `secllama_last_error` gives for `err`: its message, then each cause that the
/// message does not already print, each once.
///
/// The crates follow one rule (a cause is printed in the message, `"…: {0}"`, and is then not
/// also a `source()`), so today this is the message itself; walking the sources keeps a cause
/// from being lost, and the containment check keeps it from being printed twice, should a
/// variant ever follow the other rule (`#[source]` with a message that does not print it).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !line.is_empty() && !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// An error that maps to one status code.
pub(crate) trait ToStatus {
    /// The status for this error.
    fn to_status(&self) -> secllama_status;
}

impl ToStatus for CryptoError {
    fn to_status(&self) -> secllama_status {
        use secllama_status as S;
        match self {
            CryptoError::Malformed(_) => S::Malformed,
            CryptoError::UnsupportedVersion(_) => S::UnsupportedVersion,
            CryptoError::UnknownKey(_) => S::KeyUnknown,
            CryptoError::KeyDisabled(_) => S::KeyDisabled,
            CryptoError::KeyDestroyed(_) => S::KeyDestroyed,
            CryptoError::AuthenticationFailed => S::AuthenticationFailed,
            CryptoError::KeyExhausted(_) => S::KeyExhausted,
            CryptoError::InvalidIterations { .. } => S::InvalidIterations,
            CryptoError::InvalidKeyLength { .. } => S::KeyInvalidLength,
            CryptoError::EmptyPassword => S::EmptyPassword,
            CryptoError::PrimaryKey(_) => S::KeyIsPrimary,
            CryptoError::TooManyKeys { .. } => S::KeyTooMany,
            CryptoError::TooLarge { .. } => S::InputTooLarge,
            CryptoError::InvalidKeyset(_) => S::KeysetInvalid,
            CryptoError::Random(_) => S::RandomFailed,
            _ => S::CryptoOther,
        }
    }
}

impl ToStatus for KeystoreError {
    fn to_status(&self) -> secllama_status {
        use secllama_status as S;
        match self {
            KeystoreError::NoBackend { .. } => S::KeystoreNoBackend,
            KeystoreError::UnknownBackend { .. } => S::KeystoreUnknownBackend,
            KeystoreError::InvalidService { .. } => S::KeystoreInvalidService,
            KeystoreError::Locked { .. } => S::KeystoreLocked,
            KeystoreError::NotInitialized { .. } => S::KeystoreNotInitialized,
            KeystoreError::AlreadyInitialized { .. } => S::KeystoreAlreadyInitialized,
            KeystoreError::Corrupt { .. } => S::KeystoreCorrupt,
            KeystoreError::TooManyKeys { .. } => S::KeystoreTooManyKeys,
            KeystoreError::Crypto(e) => e.to_status(),
            KeystoreError::LockFile { .. } => S::KeystoreLockFile,
            KeystoreError::Backend { .. } => S::KeystoreBackend,
            KeystoreError::RecentlyPrimary { .. } => S::KeystoreRecentlyPrimary,
            _ => S::KeystoreOther,
        }
    }
}

impl ToStatus for SandboxError {
    fn to_status(&self) -> secllama_status {
        use secllama_status as S;
        match self {
            SandboxError::NetworkIsolationUnavailable { .. } => {
                S::SandboxNetworkIsolationUnavailable
            }
            SandboxError::FilesystemIsolationUnavailable { .. } => {
                S::SandboxFilesystemIsolationUnavailable
            }
            SandboxError::Path { .. } | SandboxError::UnrepresentablePath { .. } => S::SandboxPath,
            SandboxError::Landlock(_) => S::SandboxLandlock,
            SandboxError::Seccomp(_) => S::SandboxSeccomp,
            SandboxError::Os { .. } => S::SandboxOs,
            SandboxError::InvalidSetting { .. } => S::SandboxInvalidSetting,
            SandboxError::Unsupported { .. } => S::SandboxUnsupported,
            _ => S::SandboxOther,
        }
    }
}

impl ToStatus for RunnerError {
    fn to_status(&self) -> secllama_status {
        use secllama_status as S;
        match self {
            RunnerError::RunnerNotFound { .. } => S::RunnerNotFound,
            RunnerError::ModelNotFound { .. } => S::RunnerModelNotFound,
            RunnerError::Config(_) => S::RunnerConfig,
            RunnerError::Sandbox(e) => e.to_status(),
            RunnerError::Spawn(_) => S::RunnerSpawn,
            RunnerError::Io(_) => S::RunnerIo,
            RunnerError::FrameRejected { .. } => S::RunnerFrameRejected,
            RunnerError::PeerRejectedFrame => S::RunnerPeerRejectedFrame,
            RunnerError::EncryptionMismatch => S::RunnerEncryptionMismatch,
            RunnerError::ChecksumMismatch { .. } => S::RunnerChecksumMismatch,
            RunnerError::InvalidModel(_) => S::RunnerInvalidModel,
            RunnerError::ModelLoad(_) => S::RunnerModelLoad,
            RunnerError::UnsupportedCpu(_) => S::RunnerUnsupportedCpu,
            RunnerError::InvalidRequest(_) => S::RunnerInvalidRequest,
            RunnerError::PromptTooLong { .. } => S::RunnerPromptTooLong,
            RunnerError::Generation(_) => S::RunnerGeneration,
            RunnerError::Protocol(_) => S::RunnerProtocol,
            RunnerError::Crashed { .. } => S::RunnerCrashed,
            RunnerError::Closed => S::RunnerClosed,
            RunnerError::GpuUnavailable(_) => S::RunnerGpuUnavailable,
            _ => S::RunnerOther,
        }
    }
}

/// Copies the calling thread's last error message into `buf` as a NUL-terminated UTF-8 string
/// and writes its length (without the NUL) to `*out_len`.
///
/// The message belongs to the most recent call on this thread, other than this function, that
/// returned a status other than `SECLLAMA_STATUS_OK`; it is empty (length 0) if there was none.
/// Calls that succeed do not clear it, and this function never changes it (not even when it
/// fails itself). It is one line: what failed, then why, each cause once (e.g. `model file
/// /m.gguf cannot be read: No such file or directory (os error 2)`). Messages never contain
/// key material, passwords, prompts or generated text.
///
/// If `len` is smaller than the message length + 1, nothing but `*out_len` is written and
/// `SECLLAMA_STATUS_BUFFER_TOO_SMALL` is returned: allocate `*out_len + 1` bytes and call again.
/// `buf` may be NULL only when `len` is 0 (to ask for the length). The caller owns `buf`.
///
/// # Safety
/// `buf` must be NULL or valid for writing `len` bytes; `out_len` must be NULL or valid for
/// writing a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_last_error(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> secllama_status {
    crate::panic::ffi_boundary!({
        // Misuse is reported by the status alone: recording it would overwrite the message
        // the caller asks for.
        if out_len.is_null() || (buf.is_null() && len != 0) {
            return Err(secllama_status::NullParameter);
        }
        LAST_ERROR.with(|e| {
            let msg = e.borrow();
            // SAFETY: out_len is non-NULL (checked above) and the caller guarantees it is
            // valid for writing a size_t.
            unsafe { out_len.write(msg.len()) };
            if len < msg.len() + 1 {
                // Not recorded as the last error: that would overwrite the message asked for.
                return Err(secllama_status::BufferTooSmall);
            }
            // SAFETY: buf is non-NULL here (len >= 1) and the caller guarantees it is valid for
            // `len` >= msg.len() + 1 bytes; the source is our own string, so they do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), msg.len());
                buf.add(msg.len()).write(0);
            }
            Ok(())
        })
    })
}

#[cfg(test)]
mod every_variant;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_LEN);
        fail(secllama_status::Malformed, &long);
        LAST_ERROR.with(|e| {
            let m = e.borrow();
            assert!(m.len() <= MAX_MESSAGE_LEN && m.len() >= MAX_MESSAGE_LEN - 1);
            assert!(m.chars().all(|c| c == 'é'));
        });
    }

    #[test]
    fn a_missing_gpu_has_its_own_runner_status() {
        let e = RunnerError::GpuUnavailable("99 GPU layers were asked for".into());
        assert_eq!(e.to_status(), secllama_status::RunnerGpuUnavailable);
        assert_eq!(secllama_status::RunnerGpuUnavailable as u32, 519);
    }

    #[test]
    fn every_crypto_error_maps_into_the_crypto_band_or_a_general_code() {
        let errors = [
            CryptoError::Malformed("x"),
            CryptoError::UnsupportedVersion(9),
            CryptoError::UnknownKey(1),
            CryptoError::KeyDisabled(1),
            CryptoError::KeyDestroyed(1),
            CryptoError::AuthenticationFailed,
            CryptoError::KeyExhausted(1),
            CryptoError::EmptyPassword,
            CryptoError::PrimaryKey(1),
            CryptoError::TooManyKeys { max: 1 },
            CryptoError::InvalidKeyset("x"),
            CryptoError::Random("x".into()),
        ];
        for e in errors {
            let code = e.to_status() as u32;
            assert!((200..300).contains(&code), "{e:?} -> {code}");
        }
        assert_eq!(
            CryptoError::TooLarge { len: 2, max: 1 }.to_status(),
            secllama_status::InputTooLarge
        );
    }
}
