//! A key stops sealing at MAX_SEALS_PER_KEY, and the count survives serialisation.

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
