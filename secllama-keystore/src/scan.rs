//! Reading a service: list its entries, parse every record, and derive what is true.
//!
//! Nothing here trusts the index: the keys are the key records the listing finds. The index
//! only adds tombstones (destroyed keys) and lets [`View::findings`] notice what a crash or
//! another tool changed.

use std::collections::{BTreeMap, BTreeSet};

use keyring_core::Entry;
use secllama_crypto::{KeyEntry, KeyId, KeyStatus, Keyset};
use zeroize::Zeroizing;

use crate::backend::Store;
use crate::error::KeystoreError;
use crate::records::{
    self, IndexRecord, KeyRecord, Listed, ParseError, PrimaryRecord, Record, Stored, is_our_user,
    key_id_of_user,
};

/// A key record and every entry that holds a copy of it.
pub(crate) struct StoredKey {
    pub(crate) rec: KeyRecord,
    pub(crate) copies: Vec<Entry>,
    /// Read from a format-1 entry (bare base64).
    pub(crate) v1: bool,
}

/// An entry whose secret does not parse.
pub(crate) struct CorruptEntry {
    pub(crate) user: String,
    pub(crate) reason: String,
    pub(crate) entry: Entry,
}

/// Everything the listing found for one service.
#[derive(Default)]
pub(crate) struct Scan {
    pub(crate) keys: BTreeMap<KeyId, StoredKey>,
    /// Ids with copies holding different key material: left alone, reported.
    pub(crate) conflicts: BTreeSet<KeyId>,
    pub(crate) primary: Option<PrimaryRecord>,
    pub(crate) primary_copies: Vec<Entry>,
    pub(crate) index: Option<IndexRecord>,
    pub(crate) index_copies: Vec<Entry>,
    pub(crate) corrupt: Vec<CorruptEntry>,
}

/// Lists and reads every entry of `service`.
pub(crate) fn scan(store: &Store, service: &str) -> Result<Scan, KeystoreError> {
    let mut scan = Scan::default();
    let mut v1_keys = Vec::new();
    for found in store.list(service)? {
        let secret = match found.entry.get_secret() {
            Ok(bytes) => Zeroizing::new(bytes),
            // Deleted between the listing and the read.
            Err(keyring_core::Error::NoEntry) => continue,
            Err(e) => return Err(KeystoreError::from_keyring(store.backend, e)),
        };
        let user = || {
            found
                .user
                .clone()
                .or_else(|| store.user_of(&found.entry, service))
        };
        match records::parse(&secret, service) {
            Ok(Record::Key(rec)) => add_key(&mut scan, rec, found.entry, false),
            Ok(Record::Primary(p)) => {
                scan.primary = Some(match scan.primary {
                    Some(q) if (q.since, q.primary) > (p.since, p.primary) => q,
                    _ => p,
                });
                scan.primary_copies.push(found.entry);
            }
            Ok(Record::Index(i)) => {
                scan.index = Some(match scan.index.take() {
                    Some(old) => merge_index(old, i),
                    None => i,
                });
                scan.index_copies.push(found.entry);
            }
            Ok(Record::KeyV1(key)) => match user().as_deref().and_then(key_id_of_user) {
                Some(id) => v1_keys.push((id, key, found.entry)),
                None => {
                    if let Some(user) = user().filter(|u| is_our_user(u)) {
                        scan.corrupt.push(CorruptEntry {
                            user,
                            reason: "bare key bytes under a name that is not a key's".into(),
                            entry: found.entry,
                        });
                    }
                }
            },
            Err(ParseError::OtherService) => {}
            Err(ParseError::Bad(reason)) => {
                if let Some(user) = user().filter(|u| is_our_user(u)) {
                    scan.corrupt.push(CorruptEntry {
                        user,
                        reason,
                        entry: found.entry,
                    });
                }
            }
        }
    }
    // Format-1 keys take their status and creation time from a format-1 index.
    for (id, key, entry) in v1_keys {
        let listed = scan
            .index
            .as_ref()
            .and_then(|i| i.keys.iter().find(|k| k.0 == id).copied());
        let (status, created) = match listed {
            Some((_, Listed::Live(s), c)) => (s, c),
            // Listed destroyed but still there: a format-1 destroy that was interrupted.
            Some((_, Listed::Destroyed, c)) => (Stored::Destroying, c),
            None => (Stored::Enabled, 0),
        };
        let rec = KeyRecord {
            id,
            created,
            status,
            changed: created,
            seals: 0,
            key,
        };
        add_key(&mut scan, rec, entry, true);
    }
    Ok(scan)
}

fn add_key(scan: &mut Scan, rec: KeyRecord, entry: Entry, v1: bool) {
    let id = rec.id;
    match scan.keys.get_mut(&id) {
        None => {
            scan.keys.insert(
                id,
                StoredKey {
                    rec,
                    copies: vec![entry],
                    v1,
                },
            );
        }
        Some(have) => {
            if have.rec.key.expose_secret() != rec.key.expose_secret() {
                scan.conflicts.insert(id);
            }
            // Copies of one key: the most restrictive status and the highest seal count win,
            // so merging never re-enables a key or reuses seals.
            have.rec.status = have.rec.status.max(rec.status);
            have.rec.seals = have.rec.seals.max(rec.seals);
            have.rec.changed = have.rec.changed.max(rec.changed);
            have.rec.created = have.rec.created.min(rec.created);
            have.v1 &= v1;
            have.copies.push(entry);
        }
    }
}

fn merge_index(mut a: IndexRecord, b: IndexRecord) -> IndexRecord {
    for k in b.keys {
        if !a.keys.iter().any(|x| x.0 == k.0) {
            a.keys.push(k);
        }
    }
    a.v1_primary = a.v1_primary.or(b.v1_primary);
    a
}

/// What a scan means: the live keys, the primary, the tombstones, and what needs repair.
pub(crate) struct View<'a> {
    pub(crate) scan: &'a Scan,
    /// The key that seals: the primary record's if it names an enabled key, else the newest
    /// enabled key.
    pub(crate) primary: Option<KeyId>,
    /// When the newest primary took over, as far as the records tell (see `was_recently_primary`).
    pub(crate) last_rotation: u64,
}

impl<'a> View<'a> {
    pub(crate) fn new(scan: &'a Scan) -> View<'a> {
        let enabled = |id: KeyId| {
            scan.keys
                .get(&id)
                .is_some_and(|k| k.rec.status == Stored::Enabled && !scan.conflicts.contains(&id))
        };
        let named = scan
            .primary
            .map(|p| p.primary)
            .or_else(|| scan.index.as_ref().and_then(|i| i.v1_primary))
            .filter(|id| enabled(*id));
        let newest = scan
            .keys
            .values()
            .filter(|k| enabled(k.rec.id))
            .max_by_key(|k| (k.rec.created, k.rec.id))
            .map(|k| k.rec.id);
        let last_rotation = scan
            .keys
            .values()
            .map(|k| k.rec.created)
            .chain(scan.primary.map(|p| p.since))
            .max()
            .unwrap_or(0);
        View {
            scan,
            primary: named.or(newest),
            last_rotation,
        }
    }

    /// Keys with usable material: enabled or disabled, without conflicting copies.
    pub(crate) fn live(&self) -> impl Iterator<Item = &'a StoredKey> + 'a {
        let conflicts = &self.scan.conflicts;
        self.scan
            .keys
            .values()
            .filter(move |k| k.rec.status != Stored::Destroying && !conflicts.contains(&k.rec.id))
    }

    /// Destroyed keys (tombstones in the index, and keys whose destroy is under way), oldest
    /// first, excluding any key that is live again.
    pub(crate) fn tombstones(&self) -> Vec<(KeyId, u64)> {
        let mut out: Vec<(KeyId, u64)> = Vec::new();
        if let Some(index) = &self.scan.index {
            for &(id, listed, created) in &index.keys {
                let destroyed =
                    matches!(listed, Listed::Destroyed | Listed::Live(Stored::Destroying));
                if destroyed && !self.scan.keys.contains_key(&id) {
                    out.push((id, created));
                }
            }
        }
        for k in self.scan.keys.values() {
            if k.rec.status == Stored::Destroying && !out.iter().any(|t| t.0 == k.rec.id) {
                out.push((k.rec.id, k.rec.created));
            }
        }
        out
    }

    /// Keys the index lists as live that no entry holds: their data cannot be opened.
    pub(crate) fn missing(&self) -> Vec<KeyId> {
        let Some(index) = &self.scan.index else {
            return Vec::new();
        };
        index
            .keys
            .iter()
            .filter(|k| matches!(k.1, Listed::Live(Stored::Enabled | Stored::Disabled)))
            .filter(|k| !self.scan.keys.contains_key(&k.0) && !self.scan.conflicts.contains(&k.0))
            .map(|k| k.0)
            .collect()
    }

    /// Whether the service has any entry at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.scan.keys.is_empty()
            && self.scan.primary.is_none()
            && self.scan.index.is_none()
            && self.scan.corrupt.is_empty()
            && self.scan.conflicts.is_empty()
    }

    /// Whether key `id` may have been the primary within `grace` seconds before `now`: every
    /// key created before the last rotation might have been primary until then.
    pub(crate) fn was_recently_primary(&self, id: KeyId, now: u64, grace: u64) -> Option<u64> {
        let created = self.scan.keys.get(&id)?.rec.created;
        // Keys made in a burst are dated up to a few seconds ahead; never past "now".
        let last = self.last_rotation.min(now);
        let until = last.saturating_add(grace);
        (created <= self.last_rotation && now < until).then_some(until)
    }

    /// The index these keys call for: every live key, and the tombstones.
    pub(crate) fn wanted_index(&self) -> IndexRecord {
        let mut keys: Vec<(KeyId, Listed, u64)> = self
            .live()
            .map(|k| (k.rec.id, Listed::Live(k.rec.status), k.rec.created))
            .collect();
        for id in self.missing() {
            if let Some(k) = self
                .scan
                .index
                .as_ref()
                .and_then(|i| i.keys.iter().find(|k| k.0 == id))
            {
                keys.push(*k);
            }
        }
        for id in &self.scan.conflicts {
            keys.push((
                *id,
                Listed::Live(Stored::Disabled),
                self.scan.keys.get(id).map_or(0, |k| k.rec.created),
            ));
        }
        keys.extend(
            self.tombstones()
                .into_iter()
                .map(|(id, c)| (id, Listed::Destroyed, c)),
        );
        keys.sort_by_key(|k| (k.2, k.0));
        IndexRecord {
            keys,
            v1_primary: None,
        }
    }

    /// Everything `repair` would change or cannot fix, one line each.
    pub(crate) fn findings(&self) -> Vec<String> {
        let s = self.scan;
        let mut out = Vec::new();
        for k in s.keys.values() {
            if k.copies.len() > 1 && !s.conflicts.contains(&k.rec.id) {
                out.push(format!(
                    "key {} is stored {} times",
                    k.rec.id,
                    k.copies.len()
                ));
            }
            if k.rec.status == Stored::Destroying {
                out.push(format!(
                    "key {} was being destroyed: its entry is still there",
                    k.rec.id
                ));
            }
            if k.v1 {
                out.push(format!("key {} is in the format-1 layout", k.rec.id));
            }
        }
        for id in &s.conflicts {
            out.push(format!(
                "key {id} has entries with different key material: not used; keep the right one \
                 with the keychain's own tool (cannot be repaired automatically)"
            ));
        }
        for id in self.missing() {
            out.push(format!(
                "key {id} is listed in the index but its entry is missing: data sealed under it \
                 cannot be opened until the entry is restored (`secllama key purge {id}` forgets it)"
            ));
        }
        for c in &s.corrupt {
            out.push(format!("entry {:?} is corrupt: {}", c.user, c.reason));
        }
        match (s.primary, self.primary) {
            (_, None) if !s.keys.is_empty() || s.index.is_some() => {
                out.push("no enabled key is left to seal with".into());
            }
            (None, Some(_)) if !self.is_empty() => out.push("the primary record is missing".into()),
            (Some(p), Some(q)) if p.primary != q => out.push(format!(
                "the primary record names key {}, which is not an enabled key",
                p.primary
            )),
            _ => {}
        }
        if s.primary_copies.len() > 1 {
            out.push(format!(
                "the primary record is stored {} times",
                s.primary_copies.len()
            ));
        }
        if s.index_copies.len() > 1 {
            out.push(format!(
                "the index is stored {} times",
                s.index_copies.len()
            ));
        }
        if !self.is_empty() {
            match &s.index {
                None => out.push("the index is missing".into()),
                Some(i) if i.v1_primary.is_some() => {
                    out.push("the index is in the format-1 layout".into())
                }
                Some(i) => {
                    let mut have = i.keys.clone();
                    let mut want = self.wanted_index().keys;
                    have.sort_unstable_by_key(|k| k.0);
                    want.sort_unstable_by_key(|k| k.0);
                    if have != want {
                        out.push("the index does not match the key entries".into());
                    }
                }
            }
        }
        out
    }

    /// The keyset: live keys with their material, tombstones without.
    pub(crate) fn keyset(&self) -> Result<Keyset, KeystoreError> {
        let primary = self.primary.ok_or_else(|| {
            KeystoreError::corrupt("no enabled key is left to seal with: run `secllama key repair`")
        })?;
        let mut entries: Vec<KeyEntry> = self
            .live()
            .map(|k| KeyEntry {
                id: k.rec.id,
                status: match k.rec.status {
                    Stored::Enabled => KeyStatus::Enabled,
                    _ => KeyStatus::Disabled,
                },
                created: k.rec.created,
                key: Some(k.rec.key.clone()),
            })
            .collect();
        entries.extend(self.tombstones().into_iter().map(|(id, created)| KeyEntry {
            id,
            status: KeyStatus::Destroyed,
            created,
            key: None,
        }));
        entries.sort_by_key(|e| (e.created, e.id));
        Keyset::from_entries(entries, primary)
            .map_err(|e| KeystoreError::corrupt(format!("the keys do not make a keyset: {e}")))
    }
}
