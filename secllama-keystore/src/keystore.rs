//! `Keystore`: the keyset of one service, kept in a keychain entry per key plus an index entry.

use std::path::PathBuf;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use secllama_crypto::{KeyEntry, KeyId, KeyInfo, KeyStatus, Keyset};
use zeroize::Zeroizing;

use crate::backend::{self, Store};
use crate::config::{Backend, KeystoreConfig, validate_service};
use crate::error::KeystoreError;
use crate::index::{INDEX_USER, Index, IndexKey, MAX_KEYS, decode_key, encode_key, key_user};
use crate::lock::{self, LockGuard, LockKind};

const AUDIT: &str = "secllama::audit";

/// What [`Keystore::status`] reports: everything about the keys except their bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeystoreStatus {
    /// The backend holding the keys.
    pub backend: Backend,
    /// The service name.
    pub service: String,
    /// The id of the key that seals.
    pub primary: KeyId,
    /// Every key, oldest first, destroyed ones included.
    pub keys: Vec<KeyInfo>,
}

/// What [`Keystore::init_or_reuse`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitOutcome {
    /// A new keyset was generated and stored.
    Created,
    /// The service already had a keyset; it was left as it was.
    Reused,
}

/// The keyset of one service in an OS keychain.
///
/// Every method is one short transaction: it takes the service's advisory lock (shared to read,
/// exclusive to change), reads the index and the key entries, and for changes writes new key
/// entries before the index that names them, so a crash never leaves an index naming a key that
/// was not stored. Several `Keystore`s (in one process or many) can work on one service at once.
#[derive(Debug)]
pub struct Keystore {
    store: Store,
    service: String,
    create_if_missing: bool,
    lock_path: PathBuf,
}

impl Keystore {
    /// Opens the keychain the configuration names (see
    /// [`KeystoreConfig::resolve_backend`]) and checks that it answers.
    ///
    /// # Errors
    /// [`KeystoreError::NoBackend`] with what to start or set when the keychain cannot be
    /// reached (e.g. no Secret Service on the session bus); [`KeystoreError::UnknownBackend`].
    pub fn open(config: KeystoreConfig) -> Result<Keystore, KeystoreError> {
        let backend = config.resolve_backend()?;
        let store = backend::open(backend)?;
        Keystore::with_store(config, store)
    }

    /// Opens a keystore on a keyring-core store built by the caller, reported as `backend`:
    /// for tests (keyring-core's mock store) and for stores this crate does not know.
    ///
    /// # Errors
    /// [`KeystoreError::InvalidService`], [`KeystoreError::LockFile`] when no lock directory
    /// can be found or it is a relative path.
    pub fn open_with_store(
        config: KeystoreConfig,
        backend: Backend,
        store: Arc<CredentialStore>,
    ) -> Result<Keystore, KeystoreError> {
        Keystore::with_store(config, Store::custom(backend, store))
    }

    fn with_store(config: KeystoreConfig, store: Store) -> Result<Keystore, KeystoreError> {
        validate_service(&config.service)?;
        let dir = match config.lock_dir {
            Some(d) => d,
            None => lock::default_lock_dir()?,
        };
        // A relative directory (a relative `lock_dir` or `TMPDIR`) would resolve against each
        // process's working directory: two processes could lock different files.
        if !dir.is_absolute() {
            return Err(KeystoreError::LockFile {
                path: dir,
                source: std::io::Error::other("the lock directory must be an absolute path"),
            });
        }
        Ok(Keystore {
            store,
            lock_path: lock::lock_path(&dir, &config.service),
            service: config.service,
            create_if_missing: config.create_if_missing,
        })
    }

    /// The backend holding the keys.
    pub fn backend(&self) -> Backend {
        self.store.backend
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Creates the service's keyset: one fresh key, primary.
    ///
    /// # Errors
    /// [`KeystoreError::AlreadyInitialized`] if the service has keys (use
    /// [`init_or_reuse`](Keystore::init_or_reuse) to accept them); backend errors.
    pub fn init(&self) -> Result<KeystoreStatus, KeystoreError> {
        let _lock = self.lock(LockKind::Exclusive)?;
        if self.read_index()?.is_some() {
            return Err(KeystoreError::AlreadyInitialized {
                service: self.service.clone(),
            });
        }
        let keyset = self.create_locked()?;
        Ok(self.status_of(&keyset))
    }

    /// Creates the service's keyset unless it has one already.
    ///
    /// # Errors
    /// Backend errors; [`KeystoreError::Corrupt`] if the existing index does not parse.
    pub fn init_or_reuse(&self) -> Result<InitOutcome, KeystoreError> {
        let _lock = self.lock(LockKind::Exclusive)?;
        if self.read_index()?.is_some() {
            return Ok(InitOutcome::Reused);
        }
        self.create_locked()?;
        Ok(InitOutcome::Created)
    }

    /// Reads the keyset from the keychain.
    ///
    /// When the service has none and the configuration allows it (the default), a keyset is
    /// created first ("automatic key generation on first run").
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`] when the service has no keys and creation is off;
    /// [`KeystoreError::Corrupt`] when an entry is missing or malformed (including a key the
    /// index names but the keychain lacks); [`KeystoreError::Locked`]; backend errors.
    pub fn load(&self) -> Result<Keyset, KeystoreError> {
        {
            let _lock = self.lock(LockKind::Shared)?;
            if let Some(index) = self.read_index()? {
                return self.read_keyset(&index);
            }
            if !self.create_if_missing {
                return Err(self.not_initialized());
            }
        }
        let _lock = self.lock(LockKind::Exclusive)?;
        match self.read_index()? {
            // Another process created it between our two locks.
            Some(index) => self.read_keyset(&index),
            None => self.create_locked(),
        }
    }

    /// Ids, statuses, primary and creation times of the service's keys, read from the index
    /// alone: never key bytes.
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`], [`KeystoreError::Corrupt`], backend errors.
    pub fn status(&self) -> Result<KeystoreStatus, KeystoreError> {
        let _lock = self.lock(LockKind::Shared)?;
        let index = self.read_index()?.ok_or_else(|| self.not_initialized())?;
        Ok(KeystoreStatus {
            backend: self.store.backend,
            service: self.service.clone(),
            primary: index.primary,
            keys: index
                .keys
                .iter()
                .map(|k| KeyInfo {
                    id: k.id,
                    status: k.status,
                    primary: k.id == index.primary,
                    created: k.created,
                })
                .collect(),
        })
    }

    /// Adds a fresh key and makes it primary; older keys stay enabled for opening. Returns the
    /// new key's id.
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`], [`KeystoreError::TooManyKeys`], backend errors.
    pub fn rotate(&self) -> Result<KeyId, KeystoreError> {
        let (id, _) = self.modify("rotated", |ks| Ok(ks.rotate()?))?;
        tracing::info!(target: AUDIT, event = "key.rotated", service = %self.service,
            backend = %self.store.backend, key_id = id, "key rotated: new primary");
        Ok(id)
    }

    /// Re-enables a disabled key.
    ///
    /// # Errors
    /// [`KeystoreError::Crypto`] for an unknown or destroyed key; backend errors.
    pub fn enable(&self, id: KeyId) -> Result<(), KeystoreError> {
        self.modify("enabled", |ks| Ok(ks.enable(id)?))?;
        tracing::info!(target: AUDIT, event = "key.enabled", service = %self.service,
            backend = %self.store.backend, key_id = id, "key enabled");
        Ok(())
    }

    /// Disables a key: it stays stored but opens nothing until enabled again. The primary key
    /// cannot be disabled (rotate first).
    ///
    /// # Errors
    /// [`KeystoreError::Crypto`] for the primary, an unknown or a destroyed key; backend errors.
    pub fn disable(&self, id: KeyId) -> Result<(), KeystoreError> {
        self.modify("disabled", |ks| Ok(ks.disable(id)?))?;
        tracing::info!(target: AUDIT, event = "key.disabled", service = %self.service,
            backend = %self.store.backend, key_id = id, "key disabled");
        Ok(())
    }

    /// Destroys a key: its keychain entry is deleted and the index keeps a tombstone, so data
    /// sealed under it reports "key destroyed" and can never be opened again. The primary key
    /// cannot be destroyed (rotate first).
    ///
    /// # Errors
    /// [`KeystoreError::Crypto`] for the primary or an unknown key; backend errors.
    pub fn destroy(&self, id: KeyId) -> Result<(), KeystoreError> {
        self.modify("destroyed", |ks| Ok(ks.destroy(id)?))?;
        tracing::warn!(target: AUDIT, event = "key.destroyed", service = %self.service,
            backend = %self.store.backend, key_id = id, "key destroyed");
        Ok(())
    }

    /// Forgets a destroyed key's tombstone, making room in the index (envelopes under it then
    /// report "unknown key").
    ///
    /// # Errors
    /// [`KeystoreError::Crypto`] unless `id` is a destroyed key; backend errors.
    pub fn purge(&self, id: KeyId) -> Result<(), KeystoreError> {
        self.modify("purged", |ks| Ok(ks.purge(id)?))?;
        tracing::info!(target: AUDIT, event = "key.purged", service = %self.service,
            backend = %self.store.backend, key_id = id, "destroyed key's tombstone purged");
        Ok(())
    }

    /// Removes every entry of the service: each key the index names, the index, and any other
    /// `key-<id>` entry of the service the backend can find by searching (left by a crash).
    /// Everything sealed under these keys becomes unreadable. Works on a corrupt index too.
    /// Returns how many entries were removed.
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`] if the service has no entries; backend errors.
    pub fn delete(&self) -> Result<usize, KeystoreError> {
        let _lock = self.lock(LockKind::Exclusive)?;
        let mut users: Vec<String> = Vec::new();
        match self.read_index() {
            Ok(Some(index)) => users.extend(index.keys.iter().map(|k| key_user(k.id))),
            Ok(None) | Err(KeystoreError::Corrupt { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut removed = 0usize;
        for user in &users {
            if self.delete_entry(user)? {
                removed += 1;
            }
        }
        if let Some(found) = self.store.search_service(&self.service, is_key_user) {
            for entry in found {
                if delete_existing(&entry).map_err(|e| self.backend_err(e))? {
                    removed += 1;
                }
            }
        }
        if self.delete_entry(INDEX_USER)? {
            removed += 1;
        }
        if removed == 0 {
            return Err(self.not_initialized());
        }
        tracing::warn!(target: AUDIT, event = "keystore.deleted", service = %self.service,
            backend = %self.store.backend, entries = removed,
            "every key of the service deleted");
        Ok(removed)
    }

    // ---- internals -------------------------------------------------------------------------

    fn lock(&self, kind: LockKind) -> Result<LockGuard, KeystoreError> {
        lock::acquire(&self.lock_path, kind)
    }

    fn not_initialized(&self) -> KeystoreError {
        KeystoreError::NotInitialized {
            service: self.service.clone(),
        }
    }

    fn backend_err(&self, e: keyring_core::Error) -> KeystoreError {
        KeystoreError::from_keyring(self.store.backend, e)
    }

    fn entry(&self, user: &str) -> Result<Entry, KeystoreError> {
        self.store.entry(&self.service, user)
    }

    /// Reads an entry's secret, wrapped in `Zeroizing` at once; `None` if it does not exist.
    fn read_secret(&self, user: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeystoreError> {
        match self.entry(user)?.get_secret() {
            Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.backend_err(e)),
        }
    }

    fn read_index(&self) -> Result<Option<Index>, KeystoreError> {
        let Some(bytes) = self.read_secret(INDEX_USER)? else {
            return Ok(None);
        };
        Index::parse(&bytes).map(Some).map_err(|reason| {
            KeystoreError::corrupt(format!(
                "the index entry of service {:?} in the {} keychain: {reason}",
                self.service, self.store.backend
            ))
        })
    }

    fn read_keyset(&self, index: &Index) -> Result<Keyset, KeystoreError> {
        let mut entries = Vec::with_capacity(index.keys.len());
        for k in &index.keys {
            let key = if k.status == KeyStatus::Destroyed {
                None
            } else {
                let secret = self.read_secret(&key_user(k.id))?.ok_or_else(|| {
                    KeystoreError::corrupt(format!(
                        "key {} is named by the index of service {:?} but missing from the {} \
                         keychain",
                        k.id, self.service, self.store.backend
                    ))
                })?;
                Some(decode_key(&secret).map_err(|reason| {
                    KeystoreError::corrupt(format!(
                        "the entry of key {} of service {:?}: {reason}",
                        k.id, self.service
                    ))
                })?)
            };
            entries.push(KeyEntry {
                id: k.id,
                status: k.status,
                created: k.created,
                key,
            });
        }
        Keyset::from_entries(entries, index.primary).map_err(|e| {
            KeystoreError::corrupt(format!(
                "the index of service {:?} does not make a keyset: {e}",
                self.service
            ))
        })
    }

    fn write_index(&self, index: &Index) -> Result<(), KeystoreError> {
        let text = index.encode().map_err(|_| KeystoreError::TooManyKeys {
            service: self.service.clone(),
            max: MAX_KEYS,
        })?;
        self.entry(INDEX_USER)?
            .set_secret(text.as_bytes())
            .map_err(|e| self.backend_err(e))
    }

    fn write_key(&self, id: KeyId, key: &secllama_crypto::Key) -> Result<(), KeystoreError> {
        let text = encode_key(key);
        self.entry(&key_user(id))?
            .set_secret(text.as_bytes())
            .map_err(|e| self.backend_err(e))
    }

    /// Deletes entry `user`; `false` if it did not exist.
    fn delete_entry(&self, user: &str) -> Result<bool, KeystoreError> {
        delete_existing(&self.entry(user)?).map_err(|e| self.backend_err(e))
    }

    /// Generates and stores a keyset; the exclusive lock must be held and no index exist.
    fn create_locked(&self) -> Result<Keyset, KeystoreError> {
        let keyset = Keyset::try_generate()?;
        let index = index_of(&keyset);
        for e in keyset.entries() {
            if let Some(key) = &e.key {
                self.write_key(e.id, key)?;
            }
        }
        self.write_index(&index)?;
        tracing::info!(target: AUDIT, event = "keystore.initialized", service = %self.service,
            backend = %self.store.backend, key_id = keyset.primary_id(),
            survives_reboot = self.store.backend.survives_reboot(), "keyset created");
        Ok(keyset)
    }

    /// Read-modify-write under the exclusive lock: new keys are stored before the index that
    /// names them, entries of newly destroyed keys are deleted after it.
    fn modify<T>(
        &self,
        what: &str,
        change: impl FnOnce(&mut Keyset) -> Result<T, KeystoreError>,
    ) -> Result<(T, Keyset), KeystoreError> {
        let _lock = self.lock(LockKind::Exclusive)?;
        let old = self.read_index()?.ok_or_else(|| self.not_initialized())?;
        let mut keyset = self.read_keyset(&old)?;
        let out = change(&mut keyset)?;
        let new = index_of(&keyset);
        if new.encode().is_err() {
            return Err(KeystoreError::TooManyKeys {
                service: self.service.clone(),
                max: MAX_KEYS,
            });
        }
        for e in keyset.entries() {
            if let Some(key) = &e.key
                && !old.keys.iter().any(|k| k.id == e.id)
            {
                self.write_key(e.id, key)?;
            }
        }
        self.write_index(&new)?;
        for k in &old.keys {
            let gone = new
                .keys
                .iter()
                .find(|n| n.id == k.id)
                .is_none_or(|n| n.status == KeyStatus::Destroyed);
            if k.status != KeyStatus::Destroyed && gone {
                self.delete_entry(&key_user(k.id))?;
            }
        }
        tracing::debug!(service = %self.service, what, "keyset updated");
        Ok((out, keyset))
    }

    fn status_of(&self, keyset: &Keyset) -> KeystoreStatus {
        KeystoreStatus {
            backend: self.store.backend,
            service: self.service.clone(),
            primary: keyset.primary_id(),
            keys: keyset.keys(),
        }
    }
}

fn index_of(keyset: &Keyset) -> Index {
    Index {
        primary: keyset.primary_id(),
        keys: keyset
            .keys()
            .into_iter()
            .map(|k| IndexKey {
                id: k.id,
                status: k.status,
                created: k.created,
            })
            .collect(),
    }
}

/// Whether `user` names one of our entries: `index` or `key-<decimal id>`.
fn is_key_user(user: &str) -> bool {
    user == INDEX_USER
        || user.strip_prefix("key-").is_some_and(|d| {
            !d.is_empty() && d.len() <= 10 && d.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Deletes an entry; `false` if it did not exist.
fn delete_existing(entry: &Entry) -> Result<bool, keyring_core::Error> {
    match entry.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring_core::Error::NoEntry) => Ok(false),
        Err(e) => Err(e),
    }
}
