//! AES-256-GCM keysets, sealed envelopes and password sealing for SecLlama.
//!
//! - [`Keyset`]: Tink-style keys (random non-zero `u32` ids, `Enabled`/`Disabled`/`Destroyed`,
//!   one primary) sealing envelope v1: `0x01 | key_id u32 BE | nonce[12] | ciphertext |
//!   tag[16]` ([`ENVELOPE_OVERHEAD`] = 33 bytes). The header is authenticated together with the
//!   caller's associated data; the key is chosen by id, never by trial decryption.
//! - [`password`]: the same AEAD under a PBKDF2-HMAC-SHA256 key (600,000 iterations by default).
//! - [`message`]: any `serde` value sealed as JSON, e.g. a [`message::ChatMessage`] with images.
//!
//! Byte layouts are in `FORMAT.md`. Key material is zeroized on drop and never printed.
#![forbid(unsafe_code)]

mod aead;
mod envelope;
mod error;
mod key;
mod keyset;
pub mod message;
pub mod password;
mod rng;

pub use error::CryptoError;
pub use key::{KEY_LEN, Key};
pub use keyset::{
    ENVELOPE_OVERHEAD, KeyEntry, KeyId, KeyInfo, KeyStatus, Keyset, MAX_KEYS, MAX_KEYSET_LEN,
    MAX_SEALS_PER_KEY,
};

/// Entry points for fuzz targets and known-answer tests. Not a stable API.
#[doc(hidden)]
pub mod internal {
    pub use crate::envelope::{EnvelopeHeader, parse as parse_envelope};
    pub use crate::password::{PasswordHeader, parse as parse_password_envelope};
}
