//! `secllama_status`: the result of every call, in stable numbered bands.

use std::ffi::c_char;

/// The result of a SecLlama call. `SECLLAMA_STATUS_OK` (0) is success; every other value names
/// what went wrong, and `secllama_last_error` gives the calling thread's message for it.
///
/// Numbers are stable and grouped in bands: 1xx arguments and the library itself, 2xx
/// cryptography, 3xx keychain, 4xx sandbox, 5xx runner. A retired number is never reused.
/// Each band has an `*_OTHER` code for errors added to the Rust crates after this header was
/// written; treat unknown codes inside a band like its `*_OTHER`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum secllama_status {
    /// Success.
    Ok = 0,

    /// A required pointer argument was NULL (or a NULL data pointer came with a non-zero length).
    NullParameter = 100,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 101,
    /// The caller's buffer is too small; the needed length was written to the length out-parameter.
    BufferTooSmall = 102,
    /// A bug: a Rust panic was caught at the boundary. The handle involved should be freed.
    Panic = 103,
    /// An argument is out of its documented range (an unknown status code, a bad enum value).
    InvalidArgument = 104,
    /// An input is larger than this API accepts.
    InputTooLarge = 105,
    /// The handle is in use by a call that has not returned (re-entry from one of its
    /// callbacks, or another thread); nothing was done. Try again after that call returns.
    Busy = 106,

    /// The bytes are not a well-formed envelope or keyset.
    Malformed = 200,
    /// The envelope or keyset has a format version this library does not know.
    UnsupportedVersion = 201,
    /// Authentication failed: wrong key, password or associated data, or the data was modified.
    AuthenticationFailed = 202,
    /// No key with the envelope's key id is in the keyset.
    KeyUnknown = 203,
    /// The key exists but is disabled.
    KeyDisabled = 204,
    /// The key was destroyed; data sealed with it cannot be recovered.
    KeyDestroyed = 205,
    /// The key has sealed as many messages as random nonces safely allow: rotate.
    KeyExhausted = 206,
    /// The operation is not allowed on the primary key (rotate first).
    KeyIsPrimary = 207,
    /// A keyset holds at most 1024 keys.
    KeyTooMany = 208,
    /// A key of the wrong length.
    KeyInvalidLength = 209,
    /// A keyset is inconsistent (duplicate id, missing material, ...).
    KeysetInvalid = 210,
    /// A PBKDF2 iteration count outside the accepted range.
    InvalidIterations = 211,
    /// The password is empty.
    EmptyPassword = 212,
    /// The operating system's random number generator failed.
    RandomFailed = 213,
    /// A cryptography error without a code of its own.
    CryptoOther = 299,

    /// No keychain backend could be reached; the message says what to start or set.
    KeystoreNoBackend = 300,
    /// The backend name is not one of secret-service, keyutils, keychain, credential-manager.
    KeystoreUnknownBackend = 301,
    /// The service name is not 1 to 64 characters from `A-Z a-z 0-9 . _ -`.
    KeystoreInvalidService = 302,
    /// The keychain is locked or refused access.
    KeystoreLocked = 303,
    /// The service has no keys yet.
    KeystoreNotInitialized = 304,
    /// The service already has keys.
    KeystoreAlreadyInitialized = 305,
    /// A keychain entry is missing or does not parse.
    KeystoreCorrupt = 306,
    /// The service's index can list no more keys.
    KeystoreTooManyKeys = 307,
    /// The advisory lock file could not be created or locked.
    KeystoreLockFile = 308,
    /// The keychain backend failed.
    KeystoreBackend = 309,
    /// `secllama_keystore_destroy` refused a key that was primary less than the grace period
    /// (24 h) ago, since a running process may still seal with it: retry later, or use
    /// `secllama_keystore_destroy_forced` once no process can still be using it.
    KeystoreRecentlyPrimary = 310,
    /// A keychain error without a code of its own.
    KeystoreOther = 399,

    /// Strict mode: network isolation cannot be fully enforced here.
    SandboxNetworkIsolationUnavailable = 400,
    /// A path in the sandbox policy cannot be used.
    SandboxPath = 401,
    /// The Landlock ruleset could not be built.
    SandboxLandlock = 402,
    /// The seccomp filter could not be compiled.
    SandboxSeccomp = 403,
    /// A system call setting up a sandbox layer failed.
    SandboxOs = 404,
    /// A `SECLLAMA_*` sandbox setting is not a boolean.
    SandboxInvalidSetting = 405,
    /// This operating system cannot do what was asked.
    SandboxUnsupported = 406,
    /// Strict mode: the file system layer (Landlock) cannot be enforced here.
    SandboxFilesystemIsolationUnavailable = 407,
    /// A sandbox error without a code of its own.
    SandboxOther = 499,

    /// The runner executable was not found (set `SECLLAMA_RUNNER_PATH`).
    RunnerNotFound = 500,
    /// The model file does not exist or cannot be read.
    RunnerModelNotFound = 501,
    /// A runner configuration value is invalid.
    RunnerConfig = 502,
    /// The runner process could not be started.
    RunnerSpawn = 503,
    /// Reading or writing the channel to the runner failed.
    RunnerIo = 504,
    /// A frame from the runner failed authentication; the runner was stopped.
    RunnerFrameRejected = 505,
    /// The runner rejected a frame from this side; the session is closed.
    RunnerPeerRejectedFrame = 506,
    /// Host and runner disagree about `SECLLAMA_ENABLE_ENCRYPTION`.
    RunnerEncryptionMismatch = 507,
    /// The model's SHA-256 differs from the pinned one; it was not loaded.
    RunnerChecksumMismatch = 508,
    /// The file is not a loadable GGUF model.
    RunnerInvalidModel = 509,
    /// llama.cpp failed to load the model.
    RunnerModelLoad = 510,
    /// This CPU lacks instructions llama.cpp was built for.
    RunnerUnsupportedCpu = 511,
    /// The request is invalid (the message names the field).
    RunnerInvalidRequest = 512,
    /// The prompt does not fit the context window.
    RunnerPromptTooLong = 513,
    /// llama.cpp failed while generating.
    RunnerGeneration = 514,
    /// The runner broke the protocol.
    RunnerProtocol = 515,
    /// The runner process died.
    RunnerCrashed = 516,
    /// The runner session is closed (after shutdown or an earlier error).
    RunnerClosed = 517,
    /// The request's deadline (`timeout_ms`) passed. If the runner stopped within a short
    /// grace after being cancelled it stays usable; otherwise it was killed and later calls
    /// give `SECLLAMA_STATUS_RUNNER_CLOSED`.
    RunnerTimeout = 518,
    /// GPU layers were asked for (`secllama_runner_config_set_gpu_layers`), but the runner
    /// binary has no GPU backend or found no usable device inside its sandbox; nothing was
    /// loaded. Set 0 GPU layers to run on the CPU.
    RunnerGpuUnavailable = 519,
    /// A runner error without a code of its own.
    RunnerOther = 599,
}

impl secllama_status {
    /// Every status, in numeric order.
    pub const ALL: [secllama_status; 65] = {
        use secllama_status as S;
        [
            S::Ok,
            S::NullParameter,
            S::InvalidUtf8,
            S::BufferTooSmall,
            S::Panic,
            S::InvalidArgument,
            S::InputTooLarge,
            S::Busy,
            S::Malformed,
            S::UnsupportedVersion,
            S::AuthenticationFailed,
            S::KeyUnknown,
            S::KeyDisabled,
            S::KeyDestroyed,
            S::KeyExhausted,
            S::KeyIsPrimary,
            S::KeyTooMany,
            S::KeyInvalidLength,
            S::KeysetInvalid,
            S::InvalidIterations,
            S::EmptyPassword,
            S::RandomFailed,
            S::CryptoOther,
            S::KeystoreNoBackend,
            S::KeystoreUnknownBackend,
            S::KeystoreInvalidService,
            S::KeystoreLocked,
            S::KeystoreNotInitialized,
            S::KeystoreAlreadyInitialized,
            S::KeystoreCorrupt,
            S::KeystoreTooManyKeys,
            S::KeystoreLockFile,
            S::KeystoreBackend,
            S::KeystoreRecentlyPrimary,
            S::KeystoreOther,
            S::SandboxNetworkIsolationUnavailable,
            S::SandboxPath,
            S::SandboxLandlock,
            S::SandboxSeccomp,
            S::SandboxOs,
            S::SandboxInvalidSetting,
            S::SandboxUnsupported,
            S::SandboxFilesystemIsolationUnavailable,
            S::SandboxOther,
            S::RunnerNotFound,
            S::RunnerModelNotFound,
            S::RunnerConfig,
            S::RunnerSpawn,
            S::RunnerIo,
            S::RunnerFrameRejected,
            S::RunnerPeerRejectedFrame,
            S::RunnerEncryptionMismatch,
            S::RunnerChecksumMismatch,
            S::RunnerInvalidModel,
            S::RunnerModelLoad,
            S::RunnerUnsupportedCpu,
            S::RunnerInvalidRequest,
            S::RunnerPromptTooLong,
            S::RunnerGeneration,
            S::RunnerProtocol,
            S::RunnerCrashed,
            S::RunnerClosed,
            S::RunnerTimeout,
            S::RunnerGpuUnavailable,
            S::RunnerOther,
        ]
    };

    /// The status for a number, if the number is one.
    pub fn from_u32(code: u32) -> Option<secllama_status> {
        Self::ALL.into_iter().find(|s| *s as u32 == code)
    }

    /// The name as spelled in the C header, e.g. `SECLLAMA_STATUS_NULL_PARAMETER`, as a
    /// NUL-terminated static string.
    pub fn name(self) -> &'static str {
        use secllama_status as S;
        match self {
            S::Ok => "SECLLAMA_STATUS_OK\0",
            S::NullParameter => "SECLLAMA_STATUS_NULL_PARAMETER\0",
            S::InvalidUtf8 => "SECLLAMA_STATUS_INVALID_UTF8\0",
            S::BufferTooSmall => "SECLLAMA_STATUS_BUFFER_TOO_SMALL\0",
            S::Panic => "SECLLAMA_STATUS_PANIC\0",
            S::InvalidArgument => "SECLLAMA_STATUS_INVALID_ARGUMENT\0",
            S::InputTooLarge => "SECLLAMA_STATUS_INPUT_TOO_LARGE\0",
            S::Busy => "SECLLAMA_STATUS_BUSY\0",
            S::Malformed => "SECLLAMA_STATUS_MALFORMED\0",
            S::UnsupportedVersion => "SECLLAMA_STATUS_UNSUPPORTED_VERSION\0",
            S::AuthenticationFailed => "SECLLAMA_STATUS_AUTHENTICATION_FAILED\0",
            S::KeyUnknown => "SECLLAMA_STATUS_KEY_UNKNOWN\0",
            S::KeyDisabled => "SECLLAMA_STATUS_KEY_DISABLED\0",
            S::KeyDestroyed => "SECLLAMA_STATUS_KEY_DESTROYED\0",
            S::KeyExhausted => "SECLLAMA_STATUS_KEY_EXHAUSTED\0",
            S::KeyIsPrimary => "SECLLAMA_STATUS_KEY_IS_PRIMARY\0",
            S::KeyTooMany => "SECLLAMA_STATUS_KEY_TOO_MANY\0",
            S::KeyInvalidLength => "SECLLAMA_STATUS_KEY_INVALID_LENGTH\0",
            S::KeysetInvalid => "SECLLAMA_STATUS_KEYSET_INVALID\0",
            S::InvalidIterations => "SECLLAMA_STATUS_INVALID_ITERATIONS\0",
            S::EmptyPassword => "SECLLAMA_STATUS_EMPTY_PASSWORD\0",
            S::RandomFailed => "SECLLAMA_STATUS_RANDOM_FAILED\0",
            S::CryptoOther => "SECLLAMA_STATUS_CRYPTO_OTHER\0",
            S::KeystoreNoBackend => "SECLLAMA_STATUS_KEYSTORE_NO_BACKEND\0",
            S::KeystoreUnknownBackend => "SECLLAMA_STATUS_KEYSTORE_UNKNOWN_BACKEND\0",
            S::KeystoreInvalidService => "SECLLAMA_STATUS_KEYSTORE_INVALID_SERVICE\0",
            S::KeystoreLocked => "SECLLAMA_STATUS_KEYSTORE_LOCKED\0",
            S::KeystoreNotInitialized => "SECLLAMA_STATUS_KEYSTORE_NOT_INITIALIZED\0",
            S::KeystoreAlreadyInitialized => "SECLLAMA_STATUS_KEYSTORE_ALREADY_INITIALIZED\0",
            S::KeystoreCorrupt => "SECLLAMA_STATUS_KEYSTORE_CORRUPT\0",
            S::KeystoreTooManyKeys => "SECLLAMA_STATUS_KEYSTORE_TOO_MANY_KEYS\0",
            S::KeystoreLockFile => "SECLLAMA_STATUS_KEYSTORE_LOCK_FILE\0",
            S::KeystoreBackend => "SECLLAMA_STATUS_KEYSTORE_BACKEND\0",
            S::KeystoreRecentlyPrimary => "SECLLAMA_STATUS_KEYSTORE_RECENTLY_PRIMARY\0",
            S::KeystoreOther => "SECLLAMA_STATUS_KEYSTORE_OTHER\0",
            S::SandboxNetworkIsolationUnavailable => {
                "SECLLAMA_STATUS_SANDBOX_NETWORK_ISOLATION_UNAVAILABLE\0"
            }
            S::SandboxPath => "SECLLAMA_STATUS_SANDBOX_PATH\0",
            S::SandboxLandlock => "SECLLAMA_STATUS_SANDBOX_LANDLOCK\0",
            S::SandboxSeccomp => "SECLLAMA_STATUS_SANDBOX_SECCOMP\0",
            S::SandboxOs => "SECLLAMA_STATUS_SANDBOX_OS\0",
            S::SandboxInvalidSetting => "SECLLAMA_STATUS_SANDBOX_INVALID_SETTING\0",
            S::SandboxUnsupported => "SECLLAMA_STATUS_SANDBOX_UNSUPPORTED\0",
            S::SandboxFilesystemIsolationUnavailable => {
                "SECLLAMA_STATUS_SANDBOX_FILESYSTEM_ISOLATION_UNAVAILABLE\0"
            }
            S::SandboxOther => "SECLLAMA_STATUS_SANDBOX_OTHER\0",
            S::RunnerNotFound => "SECLLAMA_STATUS_RUNNER_NOT_FOUND\0",
            S::RunnerModelNotFound => "SECLLAMA_STATUS_RUNNER_MODEL_NOT_FOUND\0",
            S::RunnerConfig => "SECLLAMA_STATUS_RUNNER_CONFIG\0",
            S::RunnerSpawn => "SECLLAMA_STATUS_RUNNER_SPAWN\0",
            S::RunnerIo => "SECLLAMA_STATUS_RUNNER_IO\0",
            S::RunnerFrameRejected => "SECLLAMA_STATUS_RUNNER_FRAME_REJECTED\0",
            S::RunnerPeerRejectedFrame => "SECLLAMA_STATUS_RUNNER_PEER_REJECTED_FRAME\0",
            S::RunnerEncryptionMismatch => "SECLLAMA_STATUS_RUNNER_ENCRYPTION_MISMATCH\0",
            S::RunnerChecksumMismatch => "SECLLAMA_STATUS_RUNNER_CHECKSUM_MISMATCH\0",
            S::RunnerInvalidModel => "SECLLAMA_STATUS_RUNNER_INVALID_MODEL\0",
            S::RunnerModelLoad => "SECLLAMA_STATUS_RUNNER_MODEL_LOAD\0",
            S::RunnerUnsupportedCpu => "SECLLAMA_STATUS_RUNNER_UNSUPPORTED_CPU\0",
            S::RunnerInvalidRequest => "SECLLAMA_STATUS_RUNNER_INVALID_REQUEST\0",
            S::RunnerPromptTooLong => "SECLLAMA_STATUS_RUNNER_PROMPT_TOO_LONG\0",
            S::RunnerGeneration => "SECLLAMA_STATUS_RUNNER_GENERATION\0",
            S::RunnerProtocol => "SECLLAMA_STATUS_RUNNER_PROTOCOL\0",
            S::RunnerCrashed => "SECLLAMA_STATUS_RUNNER_CRASHED\0",
            S::RunnerClosed => "SECLLAMA_STATUS_RUNNER_CLOSED\0",
            S::RunnerTimeout => "SECLLAMA_STATUS_RUNNER_TIMEOUT\0",
            S::RunnerGpuUnavailable => "SECLLAMA_STATUS_RUNNER_GPU_UNAVAILABLE\0",
            S::RunnerOther => "SECLLAMA_STATUS_RUNNER_OTHER\0",
        }
    }
}

/// Writes the header name of status `code` (e.g. `"SECLLAMA_STATUS_AUTHENTICATION_FAILED"`)
/// to `*out_name`: a static NUL-terminated string owned by the library, never freed.
///
/// Returns `SECLLAMA_STATUS_INVALID_ARGUMENT` for a number that is no status.
///
/// # Safety
/// `out_name` must be NULL or valid for writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_status_name(
    code: u32,
    out_name: *mut *const c_char,
) -> secllama_status {
    crate::panic::ffi_boundary!({
        let out = crate::handle::try_out!(out_name);
        out.write(std::ptr::null());
        match secllama_status::from_u32(code) {
            Some(s) => {
                out.write(s.name().as_ptr().cast());
                Ok(())
            }
            None => Err(crate::error::fail(
                secllama_status::InvalidArgument,
                format_args!("{code} is not a secllama_status"),
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_distinct_number_and_a_nul_terminated_upper_case_name() {
        let mut seen = std::collections::HashSet::new();
        for s in secllama_status::ALL {
            seen.insert(s as u32);
            let name = s.name();
            assert!(
                name.starts_with("SECLLAMA_STATUS_") && name.ends_with('\0'),
                "{name}"
            );
            assert_eq!(name.matches('\0').count(), 1);
            assert_eq!(secllama_status::from_u32(s as u32), Some(s));
        }
        assert_eq!(seen.len(), secllama_status::ALL.len());
        assert_eq!(secllama_status::from_u32(1), None);
    }
}
