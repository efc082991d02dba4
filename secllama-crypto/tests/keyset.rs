//! Keyset behaviour: seal/open, rotation, statuses, serialisation, Debug hygiene.

use secllama_crypto::{
    CryptoError, ENVELOPE_OVERHEAD, KEY_LEN, Key, KeyEntry, KeyStatus, Keyset, MAX_KEYS,
};

#[test]
fn sealed_plaintext_opens_with_the_same_aad() {
    let ks = Keyset::generate();
    let env = ks.seal(b"hello model", b"chat:1").unwrap();
    assert_eq!(env.len(), b"hello model".len() + ENVELOPE_OVERHEAD);
    assert_eq!(env[0], 0x01);
    assert_eq!(&env[1..5], &ks.primary_id().to_be_bytes());
    assert_eq!(ks.open(&env, b"chat:1").unwrap().as_slice(), b"hello model");
}

#[test]
fn empty_plaintext_seals_to_exactly_the_overhead() {
    let ks = Keyset::generate();
    let env = ks.seal(b"", b"").unwrap();
    assert_eq!(env.len(), ENVELOPE_OVERHEAD);
    assert_eq!(ks.open(&env, b"").unwrap().as_slice(), b"");
}

#[test]
fn two_seals_of_the_same_plaintext_differ() {
    let ks = Keyset::generate();
    assert_ne!(
        ks.seal(b"same", b"").unwrap(),
        ks.seal(b"same", b"").unwrap()
    );
}

#[test]
fn wrong_aad_fails_authentication() {
    let ks = Keyset::generate();
    let env = ks.seal(b"x", b"aad-1").unwrap();
    assert_eq!(
        ks.open(&env, b"aad-2").unwrap_err(),
        CryptoError::AuthenticationFailed
    );
    assert_eq!(
        ks.open(&env, b"").unwrap_err(),
        CryptoError::AuthenticationFailed
    );
}

#[test]
fn rotation_makes_a_new_primary_and_old_envelopes_still_open() {
    let mut ks = Keyset::generate();
    let first = ks.primary_id();
    let old = ks.seal(b"old", b"").unwrap();
    let second = ks.rotate().unwrap();
    assert_ne!(first, second);
    assert_eq!(ks.primary_id(), second);
    let new = ks.seal(b"new", b"").unwrap();
    assert_eq!(&new[1..5], &second.to_be_bytes());
    assert_eq!(ks.open(&old, b"").unwrap().as_slice(), b"old");
    assert_eq!(ks.open(&new, b"").unwrap().as_slice(), b"new");
    let infos = ks.keys();
    assert_eq!(infos.len(), 2);
    assert_eq!(
        (infos[0].id, infos[0].primary, infos[0].status),
        (first, false, KeyStatus::Enabled)
    );
    assert_eq!(
        (infos[1].id, infos[1].primary, infos[1].status),
        (second, true, KeyStatus::Enabled)
    );
}

#[test]
fn disabled_key_refuses_to_open_until_enabled_again() {
    let mut ks = Keyset::generate();
    let first = ks.primary_id();
    let env = ks.seal(b"x", b"").unwrap();
    ks.rotate().unwrap();
    ks.disable(first).unwrap();
    assert_eq!(
        ks.open(&env, b"").unwrap_err(),
        CryptoError::KeyDisabled(first)
    );
    ks.enable(first).unwrap();
    assert_eq!(ks.open(&env, b"").unwrap().as_slice(), b"x");
}

#[test]
fn destroyed_key_reports_destroyed_and_its_material_is_gone() {
    let mut ks = Keyset::generate();
    let first = ks.primary_id();
    let env = ks.seal(b"x", b"").unwrap();
    ks.rotate().unwrap();
    ks.destroy(first).unwrap();
    assert_eq!(
        ks.open(&env, b"").unwrap_err(),
        CryptoError::KeyDestroyed(first)
    );
    assert!(ks.key(first).is_none());
    assert_eq!(
        ks.enable(first).unwrap_err(),
        CryptoError::KeyDestroyed(first)
    );
    assert_eq!(
        ks.disable(first).unwrap_err(),
        CryptoError::KeyDestroyed(first)
    );
    let entry = ks.entries().into_iter().find(|e| e.id == first).unwrap();
    assert_eq!(entry.status, KeyStatus::Destroyed);
    assert!(entry.key.is_none());
    ks.purge(first).unwrap();
    assert_eq!(
        ks.open(&env, b"").unwrap_err(),
        CryptoError::UnknownKey(first)
    );
}

#[test]
fn primary_key_cannot_be_disabled_or_destroyed() {
    let mut ks = Keyset::generate();
    let p = ks.primary_id();
    assert_eq!(ks.disable(p).unwrap_err(), CryptoError::PrimaryKey(p));
    assert_eq!(ks.destroy(p).unwrap_err(), CryptoError::PrimaryKey(p));
    assert_eq!(ks.keys()[0].status, KeyStatus::Enabled);
}

#[test]
fn unknown_ids_are_reported_by_every_operation() {
    let mut ks = Keyset::generate();
    let other = ks.primary_id().wrapping_add(1).max(1);
    assert_eq!(
        ks.enable(other).unwrap_err(),
        CryptoError::UnknownKey(other)
    );
    assert_eq!(
        ks.disable(other).unwrap_err(),
        CryptoError::UnknownKey(other)
    );
    assert_eq!(
        ks.destroy(other).unwrap_err(),
        CryptoError::UnknownKey(other)
    );
    assert!(ks.key(other).is_none());
}

#[test]
fn envelope_from_another_keyset_is_an_unknown_key() {
    let a = Keyset::generate();
    let b = Keyset::generate();
    let env = a.seal(b"for a", b"").unwrap();
    assert_eq!(
        b.open(&env, b"").unwrap_err(),
        CryptoError::UnknownKey(a.primary_id())
    );
}

#[test]
fn envelope_relabelled_with_another_keysets_id_fails_authentication() {
    let a = Keyset::generate();
    let b = Keyset::generate();
    let mut env = a.seal(b"for a", b"").unwrap();
    env[1..5].copy_from_slice(&b.primary_id().to_be_bytes());
    assert_eq!(
        b.open(&env, b"").unwrap_err(),
        CryptoError::AuthenticationFailed
    );
}

#[test]
fn serialisation_round_trip_keeps_ids_statuses_material_and_primary() {
    let mut ks = Keyset::generate();
    let first = ks.primary_id();
    let env = ks.seal(b"before", b"a").unwrap();
    let second = ks.rotate().unwrap();
    let third = ks.rotate().unwrap();
    ks.disable(second).unwrap();
    ks.destroy(first).unwrap();
    let bytes = ks.to_bytes();
    let back = Keyset::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes().as_slice(), bytes.as_slice());
    assert_eq!(back.keys(), ks.keys());
    assert_eq!(back.primary_id(), third);
    assert_eq!(back.key(third).unwrap(), ks.key(third).unwrap());
    assert_eq!(
        back.open(&env, b"a").unwrap_err(),
        CryptoError::KeyDestroyed(first)
    );
    let env2 = back.seal(b"after", b"").unwrap();
    assert_eq!(ks.open(&env2, b"").unwrap().as_slice(), b"after");
}

#[test]
fn entries_round_trip_through_from_entries() {
    let mut ks = Keyset::generate();
    let first = ks.primary_id();
    let second = ks.rotate().unwrap();
    ks.destroy(first).unwrap();
    let env = ks.seal(b"x", b"").unwrap();
    let back = Keyset::from_entries(ks.entries(), second).unwrap();
    assert_eq!(back.keys(), ks.keys());
    assert_eq!(back.open(&env, b"").unwrap().as_slice(), b"x");
}

#[test]
fn from_entries_rejects_inconsistent_sets_with_the_reason() {
    let k = || Some(Key::generate());
    let e = |id, status, key| KeyEntry {
        id,
        status,
        created: 0,
        key,
    };
    let cases: Vec<(Vec<KeyEntry>, u32, CryptoError)> = vec![
        (vec![], 1, CryptoError::InvalidKeyset("no keys")),
        (
            vec![e(0, KeyStatus::Enabled, k())],
            0,
            CryptoError::InvalidKeyset("key id 0 is reserved"),
        ),
        (
            vec![e(1, KeyStatus::Enabled, k()), e(1, KeyStatus::Enabled, k())],
            1,
            CryptoError::InvalidKeyset("duplicate key id"),
        ),
        (
            vec![
                e(1, KeyStatus::Enabled, k()),
                e(2, KeyStatus::Destroyed, k()),
            ],
            1,
            CryptoError::InvalidKeyset("a destroyed key still has material"),
        ),
        (
            vec![e(1, KeyStatus::Enabled, None)],
            1,
            CryptoError::InvalidKeyset("a live key has no material"),
        ),
        (
            vec![e(1, KeyStatus::Enabled, k())],
            2,
            CryptoError::InvalidKeyset("the primary id names no key"),
        ),
        (
            vec![
                e(1, KeyStatus::Enabled, k()),
                e(2, KeyStatus::Disabled, k()),
            ],
            2,
            CryptoError::InvalidKeyset("the primary key is not enabled"),
        ),
    ];
    for (entries, primary, want) in cases {
        assert_eq!(Keyset::from_entries(entries, primary).unwrap_err(), want);
    }
    let too_many = (1..=u32::try_from(MAX_KEYS).unwrap() + 1)
        .map(|i| e(i, KeyStatus::Enabled, k()))
        .collect();
    assert_eq!(
        Keyset::from_entries(too_many, 1).unwrap_err(),
        CryptoError::TooManyKeys { max: MAX_KEYS }
    );
}

#[test]
fn debug_output_shows_ids_and_statuses_but_no_key_bytes() {
    let mut ks = Keyset::generate();
    let first = ks.primary_id();
    ks.rotate().unwrap();
    let dbg = format!("{ks:?}");
    assert!(dbg.contains(&first.to_string()), "{dbg}");
    assert!(dbg.contains("Enabled"), "{dbg}");
    for id in [first, ks.primary_id()] {
        let key = ks.key(id).unwrap();
        assert_eq!(format!("{key:?}"), "Key(..)");
        let secret = key.expose_secret();
        // Neither a decimal byte list, nor hex, nor the raw bytes may appear.
        assert!(!dbg.contains(&format!("{:?}", &secret[..])), "{dbg}");
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!dbg.contains(&hex), "{dbg}");
        let entries = format!("{:?}", ks.entries());
        assert!(
            !entries.contains(&format!("{:?}", &secret[..])),
            "{entries}"
        );
        assert!(entries.contains("Key(..)"), "{entries}");
    }
}

#[test]
fn key_from_bytes_demands_exactly_32_bytes() {
    assert_eq!(
        Key::from_bytes(&[0u8; 31]).unwrap_err(),
        CryptoError::InvalidKeyLength {
            expected: KEY_LEN,
            actual: 31
        }
    );
    assert_eq!(
        Key::from_bytes(&[0u8; 33]).unwrap_err(),
        CryptoError::InvalidKeyLength {
            expected: KEY_LEN,
            actual: 33
        }
    );
    let k = Key::from_bytes(&[7u8; 32]).unwrap();
    assert_eq!(k.expose_secret(), &[7u8; 32]);
}

#[test]
fn generated_key_ids_are_unique_and_non_zero() {
    let mut ks = Keyset::generate();
    for _ in 0..200 {
        ks.rotate().unwrap();
    }
    let mut ids: Vec<u32> = ks.keys().iter().map(|k| k.id).collect();
    assert!(ids.iter().all(|&id| id != 0));
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 201);
}

#[test]
fn a_keyset_refuses_to_grow_past_max_keys() {
    let mut ks = Keyset::generate();
    for _ in 1..MAX_KEYS {
        ks.rotate().unwrap();
    }
    assert_eq!(
        ks.rotate().unwrap_err(),
        CryptoError::TooManyKeys { max: MAX_KEYS }
    );
    let bytes = ks.to_bytes();
    assert_eq!(bytes.len(), secllama_crypto::MAX_KEYSET_LEN);
    assert_eq!(Keyset::from_bytes(&bytes).unwrap().keys().len(), MAX_KEYS);
}

#[test]
fn keyset_and_key_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Keyset>();
    assert_send_sync::<Key>();
    let ks = std::sync::Arc::new(Keyset::generate());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let ks = ks.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let env = ks.seal(&[i], b"").unwrap();
                    assert_eq!(ks.open(&env, b"").unwrap().as_slice(), &[i]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(ks.seal_count(ks.primary_id()), Some(400));
}

#[test]
fn long_and_short_aad_are_both_bound() {
    let ks = Keyset::generate();
    for len in [1usize, 238, 239, 240, 1000, 100_000] {
        let aad = vec![0xA5u8; len];
        let env = ks.seal(b"x", &aad).unwrap();
        assert_eq!(
            ks.open(&env, &aad).unwrap().as_slice(),
            b"x",
            "aad length {len}"
        );
        let mut other = aad.clone();
        other[len - 1] ^= 1;
        assert_eq!(
            ks.open(&env, &other).unwrap_err(),
            CryptoError::AuthenticationFailed
        );
        assert_eq!(
            ks.open(&env, &aad[..len - 1]).unwrap_err(),
            CryptoError::AuthenticationFailed
        );
    }
}
