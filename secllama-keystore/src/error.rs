//! The crate's one error type.

use std::path::PathBuf;

use secllama_crypto::CryptoError;
use zeroize::Zeroizing;

use crate::config::Backend;

/// Everything that can go wrong in the keystore.
///
/// Messages are lower-case, say what happened and what to do, and never carry key material: errors
/// coming from a keychain backend are turned into text here, and any secret bytes they hold are
/// zeroized on the way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// No keychain backend could be reached; `hint` says what to start or set.
    #[error("no usable keychain backend (tried {}): {hint}", tried.join("; "))]
    NoBackend {
        /// Each backend tried, with why it could not be used.
        tried: Vec<String>,
        /// What the user can do about it.
        hint: String,
    },
    /// `SECLLAMA_KEYSTORE` or the configuration names a backend that does not exist.
    #[error(
        "unknown keychain backend {name:?}: use one of secret-service, keyutils, keychain, \
         credential-manager"
    )]
    UnknownBackend {
        /// The name given.
        name: String,
    },
    /// The service name cannot be used as a keychain entry name.
    #[error(
        "invalid service name {name:?}: use 1 to {max} characters from A-Z a-z 0-9 . _ -",
        max = crate::config::MAX_SERVICE_LEN
    )]
    InvalidService {
        /// The name given (already checked to be printable when shown).
        name: String,
    },
    /// The keychain is locked, or refused access to its entries.
    #[error("the {backend} keychain is locked or refused access ({detail}): {hint}")]
    Locked {
        /// The backend that refused.
        backend: Backend,
        /// What the backend said.
        detail: String,
        /// What the user can do about it.
        hint: &'static str,
    },
    /// The service has no keyset yet.
    #[error("service {service:?} has no keys yet: run `secllama key init --service {service}`")]
    NotInitialized {
        /// The service name.
        service: String,
    },
    /// `init` was asked for a service that already has a keyset.
    #[error(
        "service {service:?} already has keys: `secllama key rotate` adds one, \
         `secllama key delete` removes them all"
    )]
    AlreadyInitialized {
        /// The service name.
        service: String,
    },
    /// An entry is missing or does not parse; `what` names it.
    #[error("keystore is corrupt: {what}")]
    Corrupt {
        /// Which entry, and what is wrong with it (never its contents).
        what: String,
    },
    /// The index entry can list no more keys.
    #[error(
        "service {service:?} already holds {max} keys, the most its index can list: \
         destroy old keys and purge them (`secllama key destroy ID`, `secllama key purge ID`)"
    )]
    TooManyKeys {
        /// The service name.
        service: String,
        /// The limit.
        max: usize,
    },
    /// The keyset refused the operation (unknown key id, disabling the primary, ...).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The advisory lock file could not be created or locked.
    #[error("lock file {}: {error}: check that the directory is yours and writable", path.display())]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// The I/O error (in the message, not a `source`: the cause is printed once).
        error: std::io::Error,
    },
    /// `destroy` refused a key that may have been primary within the grace period.
    #[error(
        "key {id} may still be sealing in a running process (it may have been primary until a \
         rotation less than the grace period ago): retry after unix time {until}, or force it \
         (`secllama key destroy --force {id}`)"
    )]
    RecentlyPrimary {
        /// The key.
        id: secllama_crypto::KeyId,
        /// When the grace period ends, Unix seconds.
        until: u64,
    },
    /// The keychain backend failed.
    #[error("the {backend} keychain failed: {detail}")]
    Backend {
        /// The backend.
        backend: Backend,
        /// What the backend said (never secret bytes).
        detail: String,
    },
}

impl KeystoreError {
    /// Turns a keyring-core error into ours, zeroizing any secret bytes it carries.
    pub(crate) fn from_keyring(backend: Backend, err: keyring_core::Error) -> Self {
        use keyring_core::Error as E;
        match err {
            E::NoStorageAccess(inner) => KeystoreError::Locked {
                backend,
                detail: inner.to_string(),
                hint: backend.unlock_hint(),
            },
            E::BadEncoding(bytes) => {
                drop(Zeroizing::new(bytes));
                KeystoreError::Backend {
                    backend,
                    detail: "an entry is not valid UTF-8".to_owned(),
                }
            }
            E::BadDataFormat(bytes, inner) => {
                drop(Zeroizing::new(bytes));
                KeystoreError::Backend {
                    backend,
                    detail: format!("an entry is malformed: {inner}"),
                }
            }
            E::Ambiguous(entries) => KeystoreError::Backend {
                backend,
                detail: format!(
                    "{} entries match one name: remove the duplicates with the keychain's own tool",
                    entries.len()
                ),
            },
            other => KeystoreError::Backend {
                backend,
                detail: other.to_string(),
            },
        }
    }

    /// Shorthand for [`KeystoreError::Corrupt`].
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        KeystoreError::Corrupt { what: what.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_prints_one_lower_case_line_without_trailing_period() {
        let all = vec![
            KeystoreError::NoBackend {
                tried: vec!["secret-service: no session bus".into(), "x: y".into()],
                hint: "start gnome-keyring-daemon or set SECLLAMA_KEYSTORE=keyutils".into(),
            },
            KeystoreError::UnknownBackend {
                name: "file".into(),
            },
            KeystoreError::InvalidService { name: "a/b".into() },
            KeystoreError::Locked {
                backend: Backend::SecretService,
                detail: "locked".into(),
                hint: Backend::SecretService.unlock_hint(),
            },
            KeystoreError::NotInitialized {
                service: "s".into(),
            },
            KeystoreError::AlreadyInitialized {
                service: "s".into(),
            },
            KeystoreError::Corrupt {
                what: "index entry".into(),
            },
            KeystoreError::TooManyKeys {
                service: "s".into(),
                max: 40,
            },
            KeystoreError::Crypto(CryptoError::UnknownKey(7)),
            KeystoreError::LockFile {
                path: "/run/x.lock".into(),
                error: std::io::Error::from_raw_os_error(13),
            },
            KeystoreError::RecentlyPrimary {
                id: 7,
                until: 1_765_000_000,
            },
            KeystoreError::Backend {
                backend: Backend::Keyutils,
                detail: "boom".into(),
            },
        ];
        for err in all {
            let msg = err.to_string();
            println!("{msg}");
            // A cause is printed once: either in the message or as a source, never both.
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                let inner = s.to_string();
                assert!(
                    !msg.contains(&inner) || inner.is_empty(),
                    "{msg} repeats {inner}"
                );
                source = s.source();
            }
            assert!(!msg.contains('\n'), "{msg}");
            assert!(!msg.ends_with('.'), "{msg}");
            let first = msg.chars().next().unwrap_or('x');
            assert!(!first.is_uppercase(), "{msg}");
        }
    }

    #[test]
    fn no_backend_message_names_what_was_tried_and_what_to_do() {
        let err = KeystoreError::NoBackend {
            tried: vec!["secret-service: no session bus".into()],
            hint: "start gnome-keyring-daemon or set SECLLAMA_KEYSTORE=keyutils".into(),
        };
        assert_eq!(
            err.to_string(),
            "no usable keychain backend (tried secret-service: no session bus): \
             start gnome-keyring-daemon or set SECLLAMA_KEYSTORE=keyutils"
        );
    }

    #[test]
    fn bad_encoding_from_a_backend_never_reaches_the_message() {
        let secret = b"c2VjcmV0IGtleSBieXRlcw==".to_vec();
        let err = KeystoreError::from_keyring(
            Backend::SecretService,
            keyring_core::Error::BadEncoding(secret),
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(matches!(err, KeystoreError::Backend { .. }));
    }
}
