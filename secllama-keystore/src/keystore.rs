//! `Keystore`: the keyset of one service, kept as self-describing records in a keychain.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use keyring_core::{CredentialStore, Entry};
use secllama_crypto::{KeyId, KeyInfo, KeyStatus, Keyset};

use crate::backend::{self, Store};
use crate::config::{Backend, KeystoreConfig, validate_service};
use crate::error::KeystoreError;
use crate::lock::{self, LockGuard};
use crate::records::{
    self, INDEX_USER, IndexRecord, KeyRecord, PRIMARY_USER, PrimaryRecord, Stored, key_user,
};
use crate::reserve::Reserver;
use crate::scan::{self, Scan, View};

pub(crate) const AUDIT: &str = "secllama::audit";

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
    /// What [`Keystore::repair`] would fix or cannot fix, one line each; empty when the
    /// stored state is clean.
    pub needs_repair: Vec<String>,
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
/// Each key lives in its own self-describing keychain entry (id, creation time, status, seal
/// reservations, material), found by listing the service's entries; a `primary` record names
/// the sealing key (last writer wins); the `index` entry is a cache that also keeps the
/// tombstones of destroyed keys. No operation relies on a lock to keep keys: concurrent
/// writers, writers in different environments and a crash between any two keychain calls
/// leave every key whose data may exist findable, and [`repair`](Keystore::repair) tidies up
/// after them. Several `Keystore`s (in one process or many) can work on one service at once.
#[derive(Debug, Clone)]
pub struct Keystore {
    pub(crate) store: Store,
    pub(crate) service: String,
    pub(crate) create_if_missing: bool,
    /// The lock directory the configuration set; `None`: the per-user default, chosen at each
    /// lock (see `lock.rs`).
    pub(crate) lock_dir: Option<PathBuf>,
    pub(crate) grace_secs: u64,
    pub(crate) seal_block: u64,
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

    /// Opens a keystore on a keyring-core store built by the caller, reported as `backend` and
    /// listed the way that backend is: for tests (keyring-core's mock store) and for stores
    /// this crate does not know.
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
        let dir = match &config.lock_dir {
            Some(d) => d.clone(),
            // Checked now so that a system without one fails at open, not at the first write.
            None => lock::default_lock_dir()?,
        };
        if !dir.is_absolute() {
            return Err(KeystoreError::LockFile {
                path: dir,
                error: std::io::Error::other("the lock directory must be an absolute path"),
            });
        }
        Ok(Keystore {
            store,
            lock_dir: config.lock_dir,
            service: config.service,
            create_if_missing: config.create_if_missing,
            grace_secs: config.grace_period.as_secs(),
            seal_block: config.seal_block,
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
    /// [`KeystoreError::AlreadyInitialized`] if the service has entries (use
    /// [`init_or_reuse`](Keystore::init_or_reuse) to accept them); backend errors.
    pub fn init(&self) -> Result<KeystoreStatus, KeystoreError> {
        let _lock = self.lock()?;
        let scan = self.scan()?;
        if !View::new(&scan).is_empty() {
            return Err(KeystoreError::AlreadyInitialized {
                service: self.service.clone(),
            });
        }
        self.create()?;
        self.status()
    }

    /// Creates the service's keyset unless it has one already.
    ///
    /// # Errors
    /// Backend errors.
    pub fn init_or_reuse(&self) -> Result<InitOutcome, KeystoreError> {
        let _lock = self.lock()?;
        let scan = self.scan()?;
        if !View::new(&scan).is_empty() {
            return Ok(InitOutcome::Reused);
        }
        self.create()?;
        Ok(InitOutcome::Created)
    }

    /// Reads the keyset from the keychain, ready to seal and open.
    ///
    /// The keys are the key entries the keychain lists; a key whose entry is missing is simply
    /// absent (its envelopes report [`CryptoError::UnknownKey`](secllama_crypto::CryptoError)),
    /// destroyed keys come back as tombstones. Sealing takes seal numbers in blocks recorded
    /// in the key's entry (see [`KeystoreConfig::seal_block`]), so the per-key limit holds
    /// across processes and restarts, and a keyset whose primary another process disabled or
    /// destroyed stops sealing at its next block. To notice a rotation, compare
    /// [`Keystore::primary`] with [`Keyset::primary_id`] now and then and load again when they
    /// differ.
    ///
    /// When the service has no entries and the configuration allows it (the default), a
    /// keyset is created first ("automatic key generation on first run").
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`] when the service has no keys and creation is off;
    /// [`KeystoreError::Corrupt`] when no enabled key is left (run [`repair`](Keystore::repair));
    /// [`KeystoreError::Locked`]; backend errors.
    pub fn load(&self) -> Result<Keyset, KeystoreError> {
        let scan = self.scan()?;
        let view = View::new(&scan);
        let mut keyset = if view.is_empty() {
            if !self.create_if_missing {
                return Err(self.not_initialized());
            }
            let _lock = self.lock()?;
            let again = self.scan()?;
            let view = View::new(&again);
            if view.is_empty() {
                self.create()?
            } else {
                // Another process created it between our two looks.
                view.keyset()?
            }
        } else {
            view.keyset()?
        };
        keyset.set_seal_reserver(Arc::new(Reserver::new(self.clone())));
        Ok(keyset)
    }

    /// The id of the key that seals now: one keychain read when the primary record is intact.
    /// A long-lived program compares it with its keyset's
    /// [`primary_id`](Keyset::primary_id) and calls [`load`](Keystore::load) again when
    /// another process rotated.
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`]; backend errors.
    pub fn primary(&self) -> Result<KeyId, KeystoreError> {
        if let Some(bytes) = self.read_secret(PRIMARY_USER)?
            && let Ok(records::Record::Primary(p)) = records::parse(&bytes, &self.service)
            && let Some(Ok(records::Record::Key(k))) = self
                .read_secret(&key_user(p.primary))?
                .map(|b| records::parse(&b, &self.service))
            && k.status == Stored::Enabled
        {
            return Ok(p.primary);
        }
        let scan = self.scan()?;
        let view = View::new(&scan);
        if view.is_empty() {
            return Err(self.not_initialized());
        }
        view.primary.ok_or_else(|| {
            KeystoreError::corrupt("no enabled key is left to seal with: run `secllama key repair`")
        })
    }

    /// Ids, statuses, primary and creation times of the service's keys, and what needs
    /// repair: never key bytes.
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`], backend errors.
    pub fn status(&self) -> Result<KeystoreStatus, KeystoreError> {
        let scan = self.scan()?;
        let view = View::new(&scan);
        if view.is_empty() {
            return Err(self.not_initialized());
        }
        let primary = view.primary.unwrap_or(0);
        let mut keys: Vec<KeyInfo> = view
            .live()
            .map(|k| KeyInfo {
                id: k.rec.id,
                status: if k.rec.status == Stored::Enabled {
                    KeyStatus::Enabled
                } else {
                    KeyStatus::Disabled
                },
                primary: k.rec.id == primary,
                created: k.rec.created,
            })
            .collect();
        keys.extend(view.tombstones().into_iter().map(|(id, created)| KeyInfo {
            id,
            status: KeyStatus::Destroyed,
            primary: false,
            created,
        }));
        keys.sort_by_key(|k| (k.created, k.id));
        Ok(KeystoreStatus {
            backend: self.store.backend,
            service: self.service.clone(),
            primary,
            keys,
            needs_repair: view.findings(),
        })
    }

    // ---- internals shared by the operations --------------------------------------------------

    /// The advisory lock: an optimisation that keeps writers of one user from racing (exact
    /// seal counts, no lost status change); nothing depends on it for keeping keys.
    pub(crate) fn lock(&self) -> Result<LockGuard, KeystoreError> {
        let dir = match &self.lock_dir {
            Some(d) => d.clone(),
            None => lock::default_lock_dir()?,
        };
        lock::acquire(&lock::lock_path(&dir, &self.service))
    }

    pub(crate) fn scan(&self) -> Result<Scan, KeystoreError> {
        scan::scan(&self.store, &self.service)
    }

    pub(crate) fn not_initialized(&self) -> KeystoreError {
        KeystoreError::NotInitialized {
            service: self.service.clone(),
        }
    }

    pub(crate) fn backend_err(&self, e: keyring_core::Error) -> KeystoreError {
        KeystoreError::from_keyring(self.store.backend, e)
    }

    pub(crate) fn entry(&self, user: &str) -> Result<Entry, KeystoreError> {
        self.store.entry(&self.service, user)
    }

    /// Reads an entry's secret by name, wrapped in `Zeroizing` at once; `None` if missing.
    pub(crate) fn read_secret(
        &self,
        user: &str,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, KeystoreError> {
        match self.entry(user)?.get_secret() {
            Ok(bytes) => Ok(Some(zeroize::Zeroizing::new(bytes))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.backend_err(e)),
        }
    }

    /// Writes `secret` into `existing` (the first copy a listing found) or a new entry `user`.
    fn write(
        &self,
        existing: Option<&Entry>,
        user: &str,
        secret: &[u8],
    ) -> Result<(), KeystoreError> {
        match existing {
            Some(e) => e.set_secret(secret).map_err(|e| self.backend_err(e)),
            None => self
                .entry(user)?
                .set_secret(secret)
                .map_err(|e| self.backend_err(e)),
        }
    }

    pub(crate) fn write_key(
        &self,
        existing: Option<&Entry>,
        rec: &KeyRecord,
    ) -> Result<(), KeystoreError> {
        let text = records::encode_key_record(&self.service, rec);
        self.write(existing, &key_user(rec.id), text.as_bytes())
    }

    pub(crate) fn write_primary(
        &self,
        existing: Option<&Entry>,
        p: PrimaryRecord,
    ) -> Result<(), KeystoreError> {
        let text = records::encode_primary(&self.service, p);
        self.write(existing, PRIMARY_USER, text.as_bytes())
    }

    pub(crate) fn write_index(
        &self,
        existing: Option<&Entry>,
        index: &IndexRecord,
    ) -> Result<(), KeystoreError> {
        let text = records::encode_index(&self.service, index).map_err(|_| self.too_many())?;
        self.write(existing, INDEX_USER, text.as_bytes())
    }

    pub(crate) fn too_many(&self) -> KeystoreError {
        KeystoreError::TooManyKeys {
            service: self.service.clone(),
            max: records::MAX_KEYS,
        }
    }

    /// Stores a fresh keyset: key record, primary record, index (in that order, so a crash
    /// leaves a findable key).
    fn create(&self) -> Result<Keyset, KeystoreError> {
        let keyset = Keyset::try_generate()?;
        let id = keyset.primary_id();
        let key = keyset
            .key(id)
            .ok_or_else(|| KeystoreError::corrupt("a fresh keyset has no key"))?
            .clone();
        let created = keyset.keys().first().map_or_else(now, |k| k.created);
        let rec = KeyRecord {
            id,
            created,
            status: Stored::Enabled,
            changed: created,
            seals: 0,
            key,
        };
        self.write_key(None, &rec)?;
        self.write_primary(
            None,
            PrimaryRecord {
                primary: id,
                since: created,
            },
        )?;
        let scan = self.scan()?;
        let view = View::new(&scan);
        self.write_index(scan.index_copies.first(), &view.wanted_index())?;
        tracing::info!(target: AUDIT, event = "keystore.initialized", service = %self.service,
            backend = %self.store.backend, key_id = id,
            survives_reboot = self.store.backend.survives_reboot(), "keyset created");
        view.keyset()
    }
}

/// The current time in Unix seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Deletes an entry; `false` if it did not exist.
pub(crate) fn delete_existing(entry: &Entry) -> Result<bool, keyring_core::Error> {
    match entry.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring_core::Error::NoEntry) => Ok(false),
        Err(e) => Err(e),
    }
}
