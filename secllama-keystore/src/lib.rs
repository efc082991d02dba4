//! SecLlama keysets stored in the OS keychain.
//!
//! A [`Keystore`] keeps the [`Keyset`](secllama_crypto::Keyset) of one *service* (an
//! application's name, `secllama` by default) in the operating system's keychain, so that the
//! keys protecting stored chats never sit in plain text on disk:
//!
//! | backend | name | where | persistence |
//! |---|---|---|---|
//! | Secret Service (Linux default) | `secret-service` | gnome-keyring, KeePassXC, KDE Wallet over D-Bus | the login keyring |
//! | kernel keyring (Linux, opt-in) | `keyutils` | the session and persistent keyrings | **lost on reboot** |
//! | macOS Keychain (macOS default) | `keychain` | the login keychain | permanent |
//! | Windows Credential Manager (Windows default) | `credential-manager` | the user's credentials | permanent |
//!
//! The backend is chosen by [`KeystoreConfig::backend`], else the `SECLLAMA_KEYSTORE`
//! environment variable, else the OS default. There is **no file fallback**: with no usable
//! keychain, [`Keystore::open`] fails with [`KeystoreError::NoBackend`] saying what to start or
//! set.
//!
//! ```no_run
//! use secllama_keystore::{Keystore, KeystoreConfig};
//!
//! let store = Keystore::open(KeystoreConfig::new("my-app")?)?;
//! let keyset = store.load()?; // created on first use
//! let envelope = keyset.seal(b"chat history", b"my-app/chat/1")?;
//! let new_primary = store.rotate()?; // old keys still open old envelopes
//! assert_eq!(store.load()?.open(&envelope, b"my-app/chat/1")?.as_slice(), b"chat history");
//! # let _ = new_primary;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! One keychain entry per key (user `key-<id>`, secret: the 32 bytes in base64) plus an index
//! entry (user `index`: ids, statuses, primary, creation times, format version), all under the
//! service name, each far below Windows' 2,560-byte limit (byte format: the crate README).
//! Secrets are base64 because KDE Wallet stores UTF-8 only. Several services coexist.
//!
//! # Concurrency
//! Changes (`init`, `rotate`, `disable`, `destroy`, `delete`) are read-modify-write under an
//! exclusive advisory lock file, reads under a shared one, so processes rotating at once never
//! lose a key. The lock file is empty (no secret), mode 0600, in `$XDG_RUNTIME_DIR/secllama/`,
//! else `$TMPDIR/secllama-<uid>/` (mode 0700, checked to be the user's own).
//!
//! # What it does not do
//! It does not protect keys from processes running as the same user, which may ask an unlocked
//! keychain for them like for any other secret. Seal counts (the crypto crate's nonce budget per
//! key) are not persisted per key: rotate keys regularly (e.g. yearly) rather than relying on
//! the limit.
//!
//! Audit events (tracing target `secllama::audit`, never key bytes): keyset created, key
//! rotated, enabled, disabled, destroyed, purged, service deleted.
#![deny(unsafe_code)]

mod backend;
mod config;
mod error;
mod index;
mod keystore;
mod lock;

#[cfg(test)]
mod tests;

pub use crate::backend::KEYUTILS_PREFIX;
pub use crate::config::{Backend, DEFAULT_SERVICE, KEYSTORE_ENV, KeystoreConfig, MAX_SERVICE_LEN};
pub use crate::error::KeystoreError;
pub use crate::index::{INDEX_FORMAT, KEY_ENTRY_LEN, MAX_INDEX_LEN, MAX_KEYS};
pub use crate::keystore::{InitOutcome, Keystore, KeystoreStatus};
/// The keyring-core version this crate builds on, for [`Keystore::open_with_store`].
pub use keyring_core;

/// Entry points for fuzzing the parsers of keychain entries (not a stable API).
///
/// The index entry is compact UTF-8 JSON, at most [`MAX_INDEX_LEN`] bytes:
///
/// ```text
/// {"format":1,"primary":2718281828,"keys":[[2718281828,"enabled",1763770000],[31415,"destroyed",1763700000]]}
/// ```
///
/// Each key is `[id, status, created]` (`created` in Unix seconds; status `enabled`, `disabled`
/// or `destroyed`), at most [`MAX_KEYS`] keys, ids unique, the primary listed and enabled. A key
/// entry is exactly [`KEY_ENTRY_LEN`] bytes: standard base64 (with padding) of the 32 key bytes.
#[doc(hidden)]
pub mod internal {
    use secllama_crypto::KeyInfo;

    /// Parses an index entry as [`Keystore`](crate::Keystore) does; the reason on error.
    ///
    /// # Errors
    /// A reason string when the entry is malformed.
    pub fn parse_index_entry(bytes: &[u8]) -> Result<Vec<KeyInfo>, String> {
        let index = crate::index::Index::parse(bytes)?;
        Ok(index
            .keys
            .iter()
            .map(|k| KeyInfo {
                id: k.id,
                status: k.status,
                primary: k.id == index.primary,
                created: k.created,
            })
            .collect())
    }

    /// Encodes the index of `keys` (primary as flagged) as [`Keystore`](crate::Keystore) does.
    ///
    /// # Errors
    /// A reason string when the keys do not fit in one index entry.
    pub fn encode_index_entry(keys: &[KeyInfo]) -> Result<String, String> {
        let primary = keys
            .iter()
            .find(|k| k.primary)
            .map(|k| k.id)
            .ok_or_else(|| "no primary key".to_owned())?;
        crate::index::Index {
            primary,
            keys: keys
                .iter()
                .map(|k| crate::index::IndexKey {
                    id: k.id,
                    status: k.status,
                    created: k.created,
                })
                .collect(),
        }
        .encode()
    }

    /// Decodes a key entry; the reason on error (never the bytes).
    ///
    /// # Errors
    /// A reason string when the entry is not base64 of exactly 32 bytes.
    pub fn parse_key_entry(bytes: &[u8]) -> Result<(), String> {
        crate::index::decode_key(bytes).map(drop)
    }
}
