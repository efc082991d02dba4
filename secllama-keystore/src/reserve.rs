//! Seal reservations: the keystore side of `secllama_crypto::SealReserver`.
//!
//! A key's entry records `seals`, the end of the highest block of seal numbers ever handed
//! out. Reserving reads the entry, checks the key may still seal, writes `seals + block` and
//! only then lets the keyset use `[seals, seals + block)`. A crash after the write wastes the
//! rest of the block; nothing is ever handed out twice by one writer. Writers that take the
//! (uid-keyed) lock get exact counts; two writers that somehow do not share it can each get a
//! block from the same starting point, so the count can then fall short by one block per such
//! writer, which the 4× margin of `MAX_SEALS_PER_KEY` under the 2^32 bound absorbs.

use std::ops::Range;

use secllama_crypto::{CryptoError, KeyId, MAX_SEALS_PER_KEY, SealReserver};

use crate::keystore::Keystore;
use crate::records::{self, Record, Stored, key_user};

/// Reserves blocks for one loaded keyset.
pub(crate) struct Reserver {
    store: Keystore,
}

impl Reserver {
    pub(crate) fn new(store: Keystore) -> Reserver {
        Reserver { store }
    }
}

impl SealReserver for Reserver {
    fn reserve(&self, id: KeyId) -> Result<Range<u64>, CryptoError> {
        let ks = &self.store;
        let fail = |e: crate::KeystoreError| CryptoError::Reservation(e.to_string());
        let _lock = ks.lock().map_err(fail)?;
        let entry = ks.entry(&key_user(id)).map_err(fail)?;
        let mut rec = None;
        for attempt in 0..2 {
            let secret = match entry.get_secret() {
                Ok(b) => zeroize::Zeroizing::new(b),
                // The entry is gone: another process destroyed the key.
                Err(keyring_core::Error::NoEntry) => return Err(CryptoError::KeyDestroyed(id)),
                Err(e) => return Err(fail(ks.backend_err(e))),
            };
            match records::parse(&secret, &ks.service) {
                Ok(Record::Key(r)) if r.id == id => {
                    rec = Some(r);
                    break;
                }
                // A format-1 entry: migrate the service (which keeps the key's creation time
                // and status from the old index), then read it again.
                Ok(Record::KeyV1(_)) if attempt == 0 => ks.settle().map_err(fail)?,
                _ => break,
            }
        }
        let Some(mut rec) = rec else {
            return Err(CryptoError::Reservation(format!(
                "the entry of key {id} is corrupt: run `secllama key repair`"
            )));
        };
        match rec.status {
            Stored::Enabled => {}
            Stored::Disabled => return Err(CryptoError::KeyDisabled(id)),
            Stored::Destroying => return Err(CryptoError::KeyDestroyed(id)),
        }
        if rec.seals >= MAX_SEALS_PER_KEY {
            return Err(CryptoError::KeyExhausted(id));
        }
        let start = rec.seals;
        let end = start.saturating_add(ks.seal_block).min(MAX_SEALS_PER_KEY);
        rec.seals = end;
        ks.write_key(Some(&entry), &rec).map_err(fail)?;
        Ok(start..end)
    }
}
