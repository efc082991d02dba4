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
//! # Layout and design
//! Every entry is a self-describing record (kind, service, format) far below Windows' 2,560-byte
//! limit, UTF-8 because KDE Wallet stores nothing else: one entry per key (user `key-<id>`: id,
//! creation time, status, seal reservations, the 32 bytes in base64), a `primary` record naming
//! the sealing key, and an `index` entry. Keys are found by **listing** the service's entries
//! (Secret Service and macOS Keychain search by service, Windows by target name, the kernel
//! keyring by reading the session and persistent keyrings), never through the index, which is
//! only a cache plus the tombstones of destroyed keys. So no lock is needed to keep keys:
//! concurrent rotations each add their key (the last primary record wins, harmlessly), and a
//! crash between two keychain calls leaves at worst an entry that [`Keystore::repair`] adopts
//! or finishes deleting. Byte formats, the crash analysis of each operation and figures: the
//! crate README.
//!
//! # Destroying keys and noticing rotations
//! [`Keystore::destroy`] first marks the key's entry `destroying` (it seals and opens nothing
//! from then on), records the tombstone, then deletes the entry. It refuses
//! ([`KeystoreError::RecentlyPrimary`]) a key that may have been primary within the grace
//! period (24 h, [`KeystoreConfig::grace_period`]) unless forced, so a long-running process has
//! time to notice a rotation: compare [`Keystore::primary`] with
//! [`Keyset::primary_id`](secllama_crypto::Keyset::primary_id) and load again. A keyset whose
//! key was disabled or destroyed elsewhere stops sealing at its next seal reservation.
//!
//! # Seal limit
//! A loaded keyset reserves seal numbers in blocks ([`KeystoreConfig::seal_block`]) recorded in
//! the key's entry before use, so `secllama_crypto::MAX_SEALS_PER_KEY` holds across processes
//! and restarts; a crash wastes the rest of a block, never reuses one.
//!
//! # What it does not do
//! It does not protect keys from processes running as the same user, which may ask an unlocked
//! keychain for them like for any other secret.
//!
//! Audit events (tracing target `secllama::audit`, never key bytes): keyset created, key
//! rotated, enabled, disabled, destroyed, purged, service deleted, service repaired.
#![deny(unsafe_code)]

mod backend;
mod config;
mod crashpoint;
mod error;
mod keystore;
#[cfg(target_os = "linux")]
mod keyutils;
mod lock;
mod ops;
mod records;
mod repair;
mod reserve;
mod scan;

#[cfg(test)]
mod tests;

pub use crate::backend::KEYUTILS_PREFIX;
pub use crate::config::{
    Backend, DEFAULT_GRACE_PERIOD, DEFAULT_SEAL_BLOCK, DEFAULT_SERVICE, KEYSTORE_ENV,
    KeystoreConfig, MAX_SERVICE_LEN,
};
pub use crate::error::KeystoreError;
pub use crate::keystore::{InitOutcome, Keystore, KeystoreStatus};
pub use crate::records::{KEY_ENTRY_LEN, MAX_KEYS, MAX_RECORD_LEN, RECORD_FORMAT};
pub use crate::repair::RepairReport;
/// The keyring-core version this crate builds on, for [`Keystore::open_with_store`].
pub use keyring_core;

/// Entry points for fuzzing the record parser and for the crash tests (not a stable API).
#[doc(hidden)]
pub mod internal {
    pub use crate::crashpoint::STEPS as CRASH_STEPS;

    /// The lock directory a keystore opened without
    /// [`KeystoreConfig::lock_dir`](crate::KeystoreConfig::lock_dir) uses in this process now.
    ///
    /// # Errors
    /// [`KeystoreError::LockFile`](crate::KeystoreError::LockFile) where the system has none.
    pub fn default_lock_dir() -> Result<std::path::PathBuf, crate::KeystoreError> {
        crate::lock::default_lock_dir()
    }

    /// The environment variable that pauses a debug build at one of [`CRASH_STEPS`].
    pub const PAUSE_ENV: &str = crate::crashpoint::PAUSE_ENV;

    /// Parses an entry's secret as [`Keystore`](crate::Keystore) does for `service`: the
    /// record's kind (`key`, `primary`, `index`, `key-v1`, `other-service`), or the reason.
    ///
    /// # Errors
    /// A reason string (never containing the entry) when the entry is malformed.
    pub fn parse_record(bytes: &[u8], service: &str) -> Result<&'static str, String> {
        use crate::records::{ParseError, Record};
        match crate::records::parse(bytes, service) {
            Ok(Record::Key(_)) => Ok("key"),
            Ok(Record::Primary(_)) => Ok("primary"),
            Ok(Record::Index(_)) => Ok("index"),
            Ok(Record::KeyV1(_)) => Ok("key-v1"),
            Err(ParseError::OtherService) => Ok("other-service"),
            Err(ParseError::Bad(reason)) => Err(reason),
        }
    }

    /// Re-encodes a parsed primary or format-2 index record, for round-trip checks.
    pub fn reencode_record(bytes: &[u8], service: &str) -> Option<String> {
        use crate::records::{self, Record};
        match records::parse(bytes, service).ok()? {
            Record::Primary(p) => Some(records::encode_primary(service, p)),
            Record::Index(i) if i.v1_primary.is_none() => records::encode_index(service, &i).ok(),
            _ => None,
        }
    }
}
