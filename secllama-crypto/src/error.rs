//! The crate's single error type.

use crate::KeyId;

/// Everything that can go wrong in `secllama-crypto`.
///
/// Messages say what happened and what to do; they never carry key bytes, passwords or
/// plaintext (not even fragments of a JSON document that failed to parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The bytes are not a well-formed envelope or keyset; the reason says which rule failed.
    #[error("malformed input: {0}; it was corrupted or is not SecLlama data")]
    Malformed(&'static str),
    /// The leading format byte names a format this version does not know.
    #[error("unsupported format version {0:#04x}; upgrade secllama or check the input")]
    UnsupportedVersion(u8),
    /// No key with this id exists in the keyset.
    #[error("unknown key id {0}; the data was sealed with a different keyset")]
    UnknownKey(KeyId),
    /// The key exists but is disabled.
    #[error("key {0} is disabled; enable it to use it again")]
    KeyDisabled(KeyId),
    /// The key was destroyed; data sealed with it can no longer be opened.
    #[error("key {0} was destroyed; data sealed with it cannot be recovered")]
    KeyDestroyed(KeyId),
    /// The tag did not verify: wrong key, wrong password, wrong associated data, or tampering.
    #[error(
        "authentication failed: wrong key, password or associated data, or the data was modified"
    )]
    AuthenticationFailed,
    /// The key has sealed as many messages as random nonces safely allow.
    #[error("key {0} reached its limit of sealed messages; rotate the keyset to get a fresh key")]
    KeyExhausted(KeyId),
    /// The store that hands out blocks of seals (see `SealReserver`) could not reserve more.
    #[error("cannot reserve seals in the key store: {0}")]
    Reservation(String),
    /// A PBKDF2 iteration count outside the accepted range.
    #[error("pbkdf2 iteration count {iterations} is outside the accepted range {min}..={max}")]
    InvalidIterations {
        /// The count that was asked for or found in a header.
        iterations: u32,
        /// Smallest accepted count.
        min: u32,
        /// Largest accepted count.
        max: u32,
    },
    /// Key material of the wrong length.
    #[error("a key must be exactly {expected} bytes, got {actual}")]
    InvalidKeyLength {
        /// Required length.
        expected: usize,
        /// Length that was given.
        actual: usize,
    },
    /// The password is empty.
    #[error("the password is empty; use a non-empty password")]
    EmptyPassword,
    /// The primary key cannot be disabled or destroyed.
    #[error("key {0} is the primary key; rotate first, then disable or destroy the old key")]
    PrimaryKey(KeyId),
    /// A keyset would hold more keys than allowed.
    #[error("a keyset holds at most {max} keys; destroy and purge old keys first")]
    TooManyKeys {
        /// The limit.
        max: usize,
    },
    /// Input larger than the format allows.
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Length that was given.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A keyset built from entries is inconsistent (duplicate id, missing material, ...).
    #[error("invalid keyset: {0}")]
    InvalidKeyset(&'static str),
    /// The operating system's random number generator failed.
    #[error("the operating system random number generator failed: {0}")]
    Random(String),
    /// A value could not be converted to or from JSON (only the position is reported).
    #[error(
        "json {category} error at line {line} column {column}; the sealed value has another shape"
    )]
    Json {
        /// `syntax`, `data`, `eof` or `io`.
        category: &'static str,
        /// 1-based line, 0 if unknown.
        line: usize,
        /// 1-based column, 0 if unknown.
        column: usize,
    },
}

impl CryptoError {
    pub(crate) fn json(e: &serde_json::Error) -> Self {
        let category = match e.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        };
        CryptoError::Json {
            category,
            line: e.line(),
            column: e.column(),
        }
    }
}
