//! A key stops sealing at MAX_SEALS_PER_KEY, and the count survives serialisation.
#![allow(clippy::unwrap_used, reason = "test helpers state their expectations")]

use secllama_crypto::{CryptoError, KeyStatus, Keyset, MAX_SEALS_PER_KEY};

#[test]
fn a_key_refuses_to_seal_after_its_limit_and_rotation_recovers() {
    let mut ks = Keyset::generate();
    let id = ks.primary_id();
    assert_eq!(ks.seal_count(id), Some(0));
    ks.seal(b"1", b"").unwrap();
    assert_eq!(ks.seal_count(id), Some(1));
    ks.record_seals(id, MAX_SEALS_PER_KEY - 1).unwrap();
    let last = ks.seal(b"last", b"").unwrap();
    assert_eq!(ks.seal_count(id), Some(MAX_SEALS_PER_KEY));
    assert_eq!(
        ks.seal(b"one too many", b"").unwrap_err(),
        CryptoError::KeyExhausted(id)
    );
    assert_eq!(
        ks.seal_count(id),
        Some(MAX_SEALS_PER_KEY),
        "a refused seal is not counted"
    );
    // Opening is unaffected.
    assert_eq!(ks.open(&last, b"").unwrap().as_slice(), b"last");
    let new = ks.rotate().unwrap();
    assert_eq!(
        ks.open(&ks.seal(b"fresh", b"").unwrap(), b"")
            .unwrap()
            .as_slice(),
        b"fresh"
    );
    assert_eq!(ks.seal_count(new), Some(1));
    assert_eq!(
        ks.keys().iter().find(|k| k.id == id).unwrap().status,
        KeyStatus::Enabled
    );
}

#[test]
fn record_seals_never_lowers_a_count() {
    let mut ks = Keyset::generate();
    let id = ks.primary_id();
    ks.record_seals(id, 100).unwrap();
    ks.record_seals(id, 5).unwrap();
    assert_eq!(ks.seal_count(id), Some(100));
    assert_eq!(
        ks.record_seals(id ^ 1, 5).unwrap_err(),
        CryptoError::UnknownKey(id ^ 1)
    );
}

#[test]
fn seal_counts_survive_to_bytes_and_from_bytes() {
    let mut ks = Keyset::generate();
    let id = ks.primary_id();
    for _ in 0..3 {
        ks.seal(b"x", b"").unwrap();
    }
    let back = Keyset::from_bytes(&ks.to_bytes()).unwrap();
    assert_eq!(back.seal_count(id), Some(3));
    ks.record_seals(id, MAX_SEALS_PER_KEY).unwrap();
    let back = Keyset::from_bytes(&ks.to_bytes()).unwrap();
    assert_eq!(
        back.seal(b"x", b"").unwrap_err(),
        CryptoError::KeyExhausted(id)
    );
}

#[test]
fn from_entries_starts_counts_at_zero_until_recorded() {
    let mut ks = Keyset::generate();
    let id = ks.primary_id();
    ks.record_seals(id, MAX_SEALS_PER_KEY).unwrap();
    let mut back = Keyset::from_entries(ks.entries(), id).unwrap();
    assert_eq!(back.seal_count(id), Some(0));
    back.record_seals(id, ks.seal_count(id).unwrap()).unwrap();
    assert_eq!(
        back.seal(b"x", b"").unwrap_err(),
        CryptoError::KeyExhausted(id)
    );
}

/// Blocks of `size` seals from a shared counter, as a store would record them; `stop` makes the
/// next reservation fail with the given error.
struct Blocks {
    next: std::sync::Mutex<u64>,
    size: u64,
    stop: std::sync::Mutex<Option<CryptoError>>,
}

impl secllama_crypto::SealReserver for Blocks {
    fn reserve(&self, _id: secllama_crypto::KeyId) -> Result<std::ops::Range<u64>, CryptoError> {
        if let Some(e) = self.stop.lock().unwrap().clone() {
            return Err(e);
        }
        let mut next = self.next.lock().unwrap();
        if *next >= MAX_SEALS_PER_KEY {
            return Err(CryptoError::KeyExhausted(_id));
        }
        let block = *next..(*next + self.size).min(MAX_SEALS_PER_KEY);
        *next = block.end;
        Ok(block)
    }
}

fn blocks(size: u64, start: u64) -> std::sync::Arc<Blocks> {
    std::sync::Arc::new(Blocks {
        next: std::sync::Mutex::new(start),
        size,
        stop: std::sync::Mutex::new(None),
    })
}

#[test]
fn two_keysets_sharing_a_reserver_never_use_the_same_seal_numbers() {
    let mut a = Keyset::generate();
    let id = a.primary_id();
    let mut b = Keyset::from_bytes(&a.to_bytes()).unwrap();
    let shared = blocks(4, 0);
    a.set_seal_reserver(shared.clone());
    b.set_seal_reserver(shared.clone());
    a.seal(b"1", b"").unwrap(); // a holds 0..4
    b.seal(b"2", b"").unwrap(); // b holds 4..8
    assert_eq!(a.seal_count(id), Some(1));
    assert_eq!(b.seal_count(id), Some(5));
    for _ in 0..3 {
        a.seal(b"x", b"").unwrap();
    }
    a.seal(b"x", b"").unwrap(); // a's block is used up: a takes 8..12
    assert_eq!(a.seal_count(id), Some(9));
    assert_eq!(*shared.next.lock().unwrap(), 12);
}

#[test]
fn a_reserver_that_is_out_of_seals_or_says_destroyed_stops_sealing() {
    let mut ks = Keyset::generate();
    let id = ks.primary_id();
    let r = blocks(2, MAX_SEALS_PER_KEY - 3);
    ks.set_seal_reserver(r.clone());
    for _ in 0..3 {
        ks.seal(b"x", b"").unwrap();
    }
    assert_eq!(
        ks.seal(b"x", b"").unwrap_err(),
        CryptoError::KeyExhausted(id)
    );

    let mut other = Keyset::generate();
    let oid = other.primary_id();
    let r = blocks(1, 0);
    other.set_seal_reserver(r.clone());
    other.seal(b"x", b"").unwrap();
    *r.stop.lock().unwrap() = Some(CryptoError::KeyDestroyed(oid));
    assert_eq!(
        other.seal(b"x", b"").unwrap_err(),
        CryptoError::KeyDestroyed(oid)
    );
    *r.stop.lock().unwrap() = Some(CryptoError::Reservation("keychain locked".into()));
    assert_eq!(
        other.seal(b"x", b"").unwrap_err(),
        CryptoError::Reservation("keychain locked".into())
    );
}

#[test]
fn a_key_added_by_rotation_also_takes_its_seals_from_the_reserver() {
    let mut ks = Keyset::generate();
    let r = blocks(10, 100);
    ks.set_seal_reserver(r.clone());
    let new = ks.rotate().unwrap();
    ks.seal(b"x", b"").unwrap();
    assert_eq!(ks.seal_count(new), Some(101));
}
