//! Keyset serialisation: exact layout, and every malformed input refused with its reason.

use secllama_crypto::{CryptoError, Key, KeyEntry, KeyStatus, Keyset, MAX_KEYS, MAX_KEYSET_LEN};

#[allow(clippy::unwrap_used, reason = "test fixture")]
fn sample() -> Keyset {
    let entries = vec![
        KeyEntry {
            id: 0x0102_0304,
            status: KeyStatus::Destroyed,
            created: 1,
            key: None,
        },
        KeyEntry {
            id: 0x0A0B_0C0D,
            status: KeyStatus::Disabled,
            created: 2,
            key: Some(Key::from_bytes(&[0x11; 32]).unwrap()),
        },
        KeyEntry {
            id: 0xFFFF_FFFF,
            status: KeyStatus::Enabled,
            created: 1_763_769_600,
            key: Some(Key::from_bytes(&[0x22; 32]).unwrap()),
        },
    ];
    Keyset::from_entries(entries, 0xFFFF_FFFF).unwrap()
}

#[test]
fn keyset_bytes_follow_the_documented_layout() {
    let ks = sample();
    let b = ks.to_bytes();
    let mut want = b"SLKS".to_vec();
    want.push(1);
    want.extend_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
    want.extend_from_slice(&3u16.to_be_bytes());
    want.extend_from_slice(&[1, 2, 3, 4, 3]);
    want.extend_from_slice(&1u64.to_be_bytes());
    want.extend_from_slice(&0u64.to_be_bytes());
    want.extend_from_slice(&[0x0A, 0x0B, 0x0C, 0x0D, 2]);
    want.extend_from_slice(&2u64.to_be_bytes());
    want.extend_from_slice(&0u64.to_be_bytes());
    want.extend_from_slice(&[0x11; 32]);
    want.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 1]);
    want.extend_from_slice(&1_763_769_600u64.to_be_bytes());
    want.extend_from_slice(&0u64.to_be_bytes());
    want.extend_from_slice(&[0x22; 32]);
    assert_eq!(b.as_slice(), want.as_slice());
    assert_eq!(Keyset::from_bytes(&want).unwrap().keys(), ks.keys());
}

#[test]
fn every_truncation_of_a_keyset_is_refused() {
    let b = sample().to_bytes();
    for len in 0..b.len() {
        let err = Keyset::from_bytes(&b[..len]).unwrap_err();
        let want = CryptoError::Malformed("keyset is truncated");
        assert_eq!(err, want, "length {len}");
    }
}

#[test]
fn malformed_keysets_are_refused_with_the_reason() {
    let good = sample().to_bytes().to_vec();
    let with = |i: usize, v: u8| {
        let mut b = good.clone();
        b[i] = v;
        b
    };
    let cases: Vec<(Vec<u8>, CryptoError)> = vec![
        (
            with(0, b'X'),
            CryptoError::Malformed("not a keyset (bad magic)"),
        ),
        (with(4, 2), CryptoError::UnsupportedVersion(2)),
        (with(4, 0), CryptoError::UnsupportedVersion(0)),
        (
            [good.clone(), vec![0]].concat(),
            CryptoError::Malformed("trailing bytes after the last key"),
        ),
        // status byte of the first entry
        (with(15, 0), CryptoError::Malformed("unknown key status")),
        (with(15, 4), CryptoError::Malformed("unknown key status")),
        // count = 2: the primary (third) key is missing and 58 bytes trail
        (
            with(10, 2),
            CryptoError::Malformed("trailing bytes after the last key"),
        ),
        // primary id changed to one not in the set
        (
            with(5, 0),
            CryptoError::InvalidKeyset("the primary id names no key"),
        ),
        // primary = the disabled key
        (
            {
                let mut b = good.clone();
                b[5..9].copy_from_slice(&0x0A0B_0C0Du32.to_be_bytes());
                b
            },
            CryptoError::InvalidKeyset("the primary key is not enabled"),
        ),
        // first id set to zero
        (
            {
                let mut b = good.clone();
                b[11..15].copy_from_slice(&[0; 4]);
                b
            },
            CryptoError::InvalidKeyset("key id 0 is reserved"),
        ),
        // second id equal to the first
        (
            {
                let mut b = good.clone();
                b[32..36].copy_from_slice(&0x0102_0304u32.to_be_bytes());
                b
            },
            CryptoError::InvalidKeyset("duplicate key id"),
        ),
        // count over the limit is refused before anything is allocated
        (
            {
                let mut b = good.clone();
                b[9..11].copy_from_slice(&u16::MAX.to_be_bytes());
                b
            },
            CryptoError::TooManyKeys { max: MAX_KEYS },
        ),
        (
            vec![0; MAX_KEYSET_LEN + 1],
            CryptoError::TooLarge {
                len: MAX_KEYSET_LEN as u64 + 1,
                max: MAX_KEYSET_LEN as u64,
            },
        ),
    ];
    for (i, (bytes, want)) in cases.into_iter().enumerate() {
        assert_eq!(Keyset::from_bytes(&bytes).unwrap_err(), want, "case {i}");
    }
}

#[test]
fn a_destroyed_entry_turned_live_is_refused() {
    // Status of the destroyed entry changed to enabled: its 32 key bytes are then read from
    // the next entry, which shifts everything; the parser must still end with an error.
    let mut b = sample().to_bytes().to_vec();
    b[15] = 1;
    assert_eq!(
        Keyset::from_bytes(&b).unwrap_err(),
        CryptoError::Malformed("unknown key status")
    );
}
