//! `repair`: make the stored state clean again from the key entries, whatever happened.
//!
//! It works from a listing (never from the index), so it is safe to run at any time and by
//! any number of processes: it migrates format-1 entries, merges duplicate copies of a key
//! into one, deletes the entries of interrupted destroys, makes the primary record name an
//! enabled key (creating a key if none is left), and rewrites the index cache. What it cannot
//! decide (copies of one key id with different material, corrupt key entries, keys the index
//! lists but no entry holds) it reports and leaves alone, so nothing that may still open data
//! is ever deleted. Every change operation ends with the same pass ("settle").

use crate::crashpoint::reached;
use crate::error::KeystoreError;
use crate::keystore::{AUDIT, Keystore, delete_existing, now};
use crate::records::{PrimaryRecord, Stored};
use crate::scan::View;

/// What [`Keystore::repair`] did and what it could not do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// Each change made, one line each (empty: nothing needed repair).
    pub done: Vec<String>,
    /// What needs a person (e.g. a key entry that is corrupt or missing), one line each.
    pub unresolved: Vec<String>,
}

impl Keystore {
    /// Rebuilds the index from the key entries, adopts keys the index does not list, finishes
    /// interrupted destroys, merges duplicate entries, migrates format-1 entries and repoints
    /// a primary record that names no enabled key; reports what it did and what it could not.
    ///
    /// ```no_run
    /// # use secllama_keystore::{Keystore, KeystoreConfig};
    /// let store = Keystore::open(KeystoreConfig::new("my-app")?)?;
    /// if !store.status()?.needs_repair.is_empty() {
    ///     let report = store.repair()?;
    ///     for line in report.done { println!("repaired: {line}"); }
    ///     for line in report.unresolved { eprintln!("needs you: {line}"); }
    /// }
    /// # Ok::<(), secllama_keystore::KeystoreError>(())
    /// ```
    ///
    /// # Errors
    /// [`KeystoreError::NotInitialized`] when the service has no entries; backend errors.
    pub fn repair(&self) -> Result<RepairReport, KeystoreError> {
        let _lock = self.lock()?;
        let report = self.repair_pass(true)?;
        if !report.done.is_empty() {
            tracing::warn!(target: AUDIT, event = "keystore.repaired", service = %self.service,
                backend = %self.store.backend, changes = report.done.len(),
                unresolved = report.unresolved.len(), "keystore repaired");
        }
        Ok(report)
    }

    /// The tidy-up every change ends with (the caller holds the lock when there is one).
    pub(crate) fn settle(&self) -> Result<(), KeystoreError> {
        self.repair_pass(false).map(drop)
    }

    fn repair_pass(&self, create_primary: bool) -> Result<RepairReport, KeystoreError> {
        let mut report = RepairReport::default();
        let scan = self.scan()?;
        let view = View::new(&scan);
        if view.is_empty() {
            return Err(self.not_initialized());
        }
        let err = |e| self.backend_err(e);
        let mut finished = Vec::new();

        for k in scan.keys.values() {
            if scan.conflicts.contains(&k.rec.id) {
                continue;
            }
            let id = k.rec.id;
            if k.rec.status == Stored::Destroying {
                for copy in &k.copies {
                    delete_existing(copy).map_err(err)?;
                }
                report.done.push(format!("finished destroying key {id}"));
                finished.push((id, k.rec.created));
                continue;
            }
            if k.v1 || k.copies.len() > 1 {
                // One merged record in the first copy, then the others go.
                self.write_key(k.copies.first(), &k.rec_copy())?;
                for copy in k.copies.iter().skip(1) {
                    delete_existing(copy).map_err(err)?;
                }
                if k.copies.len() > 1 {
                    report
                        .done
                        .push(format!("merged {} copies of key {id}", k.copies.len()));
                }
                if k.v1 {
                    report.done.push(format!("rewrote key {id} in format 2"));
                }
            }
        }

        let mut primary = view.primary;
        if primary.is_none() && create_primary {
            // No enabled key is left: start a new one so the service can seal again. Nothing
            // is deleted; the keys that are there keep opening what they sealed.
            let id = self.add_key_for_repair()?;
            report.done.push(format!(
                "created key {id}: no enabled key was left to seal with"
            ));
            primary = Some(id);
        }
        if let Some(p) = primary {
            let intact =
                scan.primary.is_some_and(|r| r.primary == p) && scan.primary_copies.len() == 1;
            if !intact {
                let since = scan
                    .primary
                    .map_or(view.last_rotation, |r| r.since.max(view.last_rotation));
                self.write_primary(
                    scan.primary_copies.first(),
                    PrimaryRecord { primary: p, since },
                )?;
                for copy in scan.primary_copies.iter().skip(1) {
                    delete_existing(copy).map_err(err)?;
                }
                report.done.push(format!("primary record set to key {p}"));
            }
        }

        // The index last, from a fresh look (the steps above changed entries).
        let fresh = self.scan()?;
        let fresh_view = View::new(&fresh);
        let mut want = fresh_view.wanted_index();
        for (id, created) in finished {
            want.keys.retain(|k| k.0 != id);
            want.keys
                .push((id, crate::records::Listed::Destroyed, created));
        }
        let same = fresh.index.as_ref().is_some_and(|i| {
            let mut a = i.keys.clone();
            let mut b = want.keys.clone();
            a.sort_unstable_by_key(|k| k.0);
            b.sort_unstable_by_key(|k| k.0);
            a == b && i.v1_primary.is_none()
        }) && fresh.index_copies.len() == 1;
        if !same {
            self.write_index(fresh.index_copies.first(), &want)?;
            for copy in fresh.index_copies.iter().skip(1) {
                delete_existing(copy).map_err(err)?;
            }
            reached("settle.index-written");
            report.done.push(format!(
                "index rebuilt from {} key entries",
                fresh.keys.len()
            ));
        }
        for id in &fresh.conflicts {
            report.unresolved.push(format!(
                "key {id} has entries with different key material: keep the right one with the \
                 keychain's own tool"
            ));
        }
        for id in fresh_view.missing() {
            report.unresolved.push(format!(
                "key {id} is missing from the keychain: data sealed under it cannot be opened \
                 until its entry is restored (`secllama key purge {id}` forgets it)"
            ));
        }
        for c in &fresh.corrupt {
            report.unresolved.push(format!(
                "entry {:?} is corrupt ({}): left as it is",
                c.user, c.reason
            ));
        }
        Ok(report)
    }

    fn add_key_for_repair(&self) -> Result<secllama_crypto::KeyId, KeystoreError> {
        let fresh = secllama_crypto::Keyset::try_generate()?;
        let id = fresh.primary_id();
        let key = fresh
            .key(id)
            .ok_or_else(|| KeystoreError::corrupt("a fresh keyset has no key"))?
            .clone();
        let created = now();
        self.write_key(
            None,
            &crate::records::KeyRecord {
                id,
                created,
                status: Stored::Enabled,
                changed: created,
                seals: 0,
                key,
            },
        )?;
        Ok(id)
    }
}
