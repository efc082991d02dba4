//! The operations that change a service: rotate, enable, disable, destroy, purge, delete.
//!
//! Each writes the records it must in an order that keeps every key findable if the process
//! dies between two keychain calls, then settles (see `repair.rs`): it finishes interrupted
//! destroys and brings the index cache up to date.

use secllama_crypto::{CryptoError, KeyId, Keyset};

use crate::crashpoint::reached;
use crate::error::KeystoreError;
use crate::keystore::{AUDIT, Keystore, delete_existing, now};
use crate::records::{KeyRecord, Listed, MAX_KEYS, PrimaryRecord, Stored};
use crate::scan::View;

impl Keystore {
    /// Adds a fresh key and makes it primary; older keys stay enabled for opening. Returns the
    /// new key's id.
    ///
    /// The key entry is written first, then the primary record: a crash in between leaves an
    /// enabled key that is not primary yet (found by every listing, adopted by `repair`). Two
    /// processes rotating at once both add their key; the later primary record wins.
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`], [`KeystoreError::TooManyKeys`], backend errors.
    pub fn rotate(&self) -> Result<KeyId, KeystoreError> {
        let _lock = self.lock()?;
        let scan = self.scan()?;
        let view = View::new(&scan);
        if view.is_empty() {
            return Err(self.not_initialized());
        }
        let known = view.wanted_index().keys;
        if known.len() >= MAX_KEYS {
            return Err(self.too_many());
        }
        // A fresh one-key keyset gives a random non-zero id and a random key.
        let (id, key) = loop {
            let fresh = Keyset::try_generate()?;
            let id = fresh.primary_id();
            if !known.iter().any(|k| k.0 == id)
                && !scan.keys.contains_key(&id)
                && let Some(key) = fresh.key(id)
            {
                break (id, key.clone());
            }
        };
        // Creation times order the keys (and pick the primary when its record is lost): a key
        // made within the same second as the newest one is dated one second later.
        let newest = scan.keys.values().map(|k| k.rec.created).max().unwrap_or(0);
        let created = now().max(newest.saturating_add(1));
        let rec = KeyRecord {
            id,
            created,
            status: Stored::Enabled,
            changed: created,
            seals: 0,
            key,
        };
        self.write_key(None, &rec)?;
        reached("rotate.key-written");
        self.write_primary(
            scan.primary_copies.first(),
            PrimaryRecord {
                primary: id,
                since: created,
            },
        )?;
        reached("rotate.primary-written");
        tracing::info!(target: AUDIT, event = "key.rotated", service = %self.service,
            backend = %self.store.backend, key_id = id, "key rotated: new primary");
        self.settle()?;
        Ok(id)
    }

    /// Re-enables a disabled key.
    ///
    /// # Errors
    /// [`KeystoreError::Crypto`] for an unknown or destroyed key; backend errors.
    pub fn enable(&self, id: KeyId) -> Result<(), KeystoreError> {
        self.set_status(id, Stored::Enabled)?;
        tracing::info!(target: AUDIT, event = "key.enabled", service = %self.service,
            backend = %self.store.backend, key_id = id, "key enabled");
        Ok(())
    }

    /// Disables a key: it stays stored but opens and seals nothing until enabled again. The
    /// primary key cannot be disabled (rotate first).
    ///
    /// # Errors
    /// [`KeystoreError::Crypto`] for the primary, an unknown or a destroyed key; backend errors.
    pub fn disable(&self, id: KeyId) -> Result<(), KeystoreError> {
        self.set_status(id, Stored::Disabled)?;
        tracing::info!(target: AUDIT, event = "key.disabled", service = %self.service,
            backend = %self.store.backend, key_id = id, "key disabled");
        Ok(())
    }

    fn set_status(&self, id: KeyId, status: Stored) -> Result<(), KeystoreError> {
        let _lock = self.lock()?;
        let scan = self.scan()?;
        let view = View::new(&scan);
        if view.is_empty() {
            return Err(self.not_initialized());
        }
        if status != Stored::Enabled && view.primary == Some(id) {
            return Err(CryptoError::PrimaryKey(id).into());
        }
        let Some(k) = scan.keys.get(&id).filter(|_| !scan.conflicts.contains(&id)) else {
            return Err(self.unknown_or_destroyed(&view, id));
        };
        if k.rec.status == Stored::Destroying {
            return Err(CryptoError::KeyDestroyed(id).into());
        }
        let mut rec = k.rec_copy();
        rec.status = status;
        rec.changed = now();
        self.write_key(k.copies.first(), &rec)?;
        self.settle()
    }

    fn unknown_or_destroyed(&self, view: &View<'_>, id: KeyId) -> KeystoreError {
        if view.tombstones().iter().any(|t| t.0 == id) {
            CryptoError::KeyDestroyed(id).into()
        } else {
            CryptoError::UnknownKey(id).into()
        }
    }

    /// Destroys a key: data sealed under it can never be opened again, and opening it reports
    /// "key destroyed". The primary key cannot be destroyed (rotate first), and neither can a
    /// key that may have been primary within the grace period
    /// ([`KeystoreConfig::grace_period`](crate::KeystoreConfig::grace_period), 24 h by default),
    /// because a long-running process may still be sealing under it: that is
    /// [`KeystoreError::RecentlyPrimary`], and [`destroy_forced`](Keystore::destroy_forced)
    /// overrides it. Destroying a destroyed key finishes an interrupted destroy.
    ///
    /// Two phases: the key entry is first marked `destroying` (it opens and seals nothing
    /// from then on), the index gets the tombstone, then the entry is deleted; a crash leaves
    /// a marked entry that the next write or `repair` deletes.
    ///
    /// # Errors
    /// [`KeystoreError::Crypto`] for the primary or an unknown key;
    /// [`KeystoreError::RecentlyPrimary`]; backend errors.
    pub fn destroy(&self, id: KeyId) -> Result<(), KeystoreError> {
        self.destroy_with(id, false)
    }

    /// [`destroy`](Keystore::destroy) without the grace period: data a long-running process
    /// is still sealing under this key will be unreadable (`secllama key destroy --force`).
    ///
    /// ```no_run
    /// use secllama_keystore::{Keystore, KeystoreConfig, KeystoreError};
    ///
    /// let store = Keystore::open(KeystoreConfig::new("my-app")?)?;
    /// let old = store.load()?.primary_id();
    /// store.rotate()?;
    /// match store.destroy(old) {
    ///     // Primary until a moment ago: only when every process sealing under it has
    ///     // reloaded (or was stopped) may it go before the grace period ends.
    ///     Err(KeystoreError::RecentlyPrimary { .. }) => store.destroy_forced(old)?,
    ///     other => other?,
    /// }
    /// # Ok::<(), KeystoreError>(())
    /// ```
    ///
    /// # Errors
    /// As [`destroy`](Keystore::destroy), without [`KeystoreError::RecentlyPrimary`].
    pub fn destroy_forced(&self, id: KeyId) -> Result<(), KeystoreError> {
        self.destroy_with(id, true)
    }

    fn destroy_with(&self, id: KeyId, force: bool) -> Result<(), KeystoreError> {
        let _lock = self.lock()?;
        let scan = self.scan()?;
        let view = View::new(&scan);
        if view.is_empty() {
            return Err(self.not_initialized());
        }
        if view.primary == Some(id) {
            return Err(CryptoError::PrimaryKey(id).into());
        }
        let Some(k) = scan.keys.get(&id) else {
            if view.tombstones().iter().any(|t| t.0 == id) {
                return self.settle();
            }
            return Err(CryptoError::UnknownKey(id).into());
        };
        if !force
            && k.rec.status != Stored::Destroying
            && let Some(until) = view.was_recently_primary(id, now(), self.grace_secs)
        {
            return Err(KeystoreError::RecentlyPrimary { id, until });
        }
        let mut marked = k.rec_copy();
        marked.status = Stored::Destroying;
        marked.changed = now();
        for copy in &k.copies {
            self.write_key(Some(copy), &marked)?;
        }
        reached("destroy.disabled");
        let mut index = view.wanted_index();
        for e in &mut index.keys {
            if e.0 == id {
                e.1 = Listed::Destroyed;
            }
        }
        self.write_index(scan.index_copies.first(), &index)?;
        reached("destroy.tombstoned");
        for copy in &k.copies {
            delete_existing(copy).map_err(|e| self.backend_err(e))?;
        }
        reached("destroy.deleted");
        tracing::warn!(target: AUDIT, event = "key.destroyed", service = %self.service,
            backend = %self.store.backend, key_id = id, forced = force, "key destroyed");
        self.settle()
    }

    /// Forgets a destroyed (or missing) key's tombstone, making room in the index; envelopes
    /// under it then report "unknown key".
    ///
    /// # Errors
    /// [`KeystoreError::Crypto`] unless `id` is a destroyed or missing key; backend errors.
    pub fn purge(&self, id: KeyId) -> Result<(), KeystoreError> {
        let _lock = self.lock()?;
        let scan = self.scan()?;
        let view = View::new(&scan);
        if scan.keys.contains_key(&id) {
            return Err(CryptoError::InvalidKeyset("only a destroyed key can be purged").into());
        }
        let mut index = view.wanted_index();
        let before = index.keys.len();
        index.keys.retain(|k| k.0 != id);
        if index.keys.len() == before {
            return Err(CryptoError::UnknownKey(id).into());
        }
        self.write_index(scan.index_copies.first(), &index)?;
        tracing::info!(target: AUDIT, event = "key.purged", service = %self.service,
            backend = %self.store.backend, key_id = id, "destroyed key's tombstone purged");
        Ok(())
    }

    /// Removes every entry of the service the keychain lists: every key entry (orphans, marked
    /// and format-1 ones included), the primary record and the index, even when they are
    /// corrupt. Everything sealed under these keys becomes unreadable. Returns how many
    /// entries were removed.
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`] if the service has no entries; backend errors.
    pub fn delete(&self) -> Result<usize, KeystoreError> {
        let _lock = self.lock()?;
        let scan = self.scan()?;
        let mut entries: Vec<&keyring_core::Entry> = Vec::new();
        for k in scan.keys.values() {
            entries.extend(&k.copies);
        }
        entries.extend(&scan.primary_copies);
        entries.extend(&scan.index_copies);
        entries.extend(scan.corrupt.iter().map(|c| &c.entry));
        let mut removed = 0usize;
        for entry in entries {
            if delete_existing(entry).map_err(|e| self.backend_err(e))? {
                removed += 1;
            }
        }
        if removed == 0 {
            return Err(self.not_initialized());
        }
        tracing::warn!(target: AUDIT, event = "keystore.deleted", service = %self.service,
            backend = %self.store.backend, entries = removed,
            "every key of the service deleted");
        Ok(removed)
    }
}

impl crate::scan::StoredKey {
    /// The record's fields with a copy of its key.
    pub(crate) fn rec_copy(&self) -> KeyRecord {
        KeyRecord {
            id: self.rec.id,
            created: self.rec.created,
            status: self.rec.status,
            changed: self.rec.changed,
            seals: self.rec.seals,
            key: self.rec.key.clone(),
        }
    }
}
