//! Keyset deserialisation: arbitrary bytes never panic or over-allocate, and whatever parses
//! serialises back to exactly the same bytes and seals/opens with its primary key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secllama_crypto::{CryptoError, KeyStatus, Keyset, MAX_KEYSET_LEN};

fuzz_target!(|data: &[u8]| {
    let ks = match Keyset::from_bytes(data) {
        Ok(ks) => ks,
        Err(e) => {
            if data.len() > MAX_KEYSET_LEN {
                assert!(matches!(e, CryptoError::TooLarge { .. }), "{e:?}");
            }
            return;
        }
    };
    assert_eq!(&ks.to_bytes()[..], data, "to_bytes(from_bytes(b)) != b");
    let infos = ks.keys();
    assert_eq!(infos.iter().filter(|k| k.primary).count(), 1);
    let primary = ks.primary_id();
    assert!(infos.iter().any(|k| k.id == primary && k.status == KeyStatus::Enabled));
    for k in &infos {
        assert_ne!(k.id, 0);
        assert_eq!(ks.key(k.id).is_some(), k.status != KeyStatus::Destroyed);
    }
    // The entries decomposition rebuilds the same keyset (seal counts aside).
    let rebuilt = Keyset::from_entries(ks.entries(), primary).expect("entries rebuild");
    assert_eq!(rebuilt.keys(), infos);
    // Debug never prints key bytes: no 32-byte key appears hex- or byte-wise.
    let dbg = format!("{ks:?}");
    assert!(!dbg.contains("expose"));
    // Seal/open round trip with the parsed primary, unless its nonce budget is spent.
    match ks.seal(b"fuzz", b"aad") {
        Ok(env) => {
            assert_eq!(&ks.open(&env, b"aad").expect("opens")[..], b"fuzz");
            assert_eq!(&rebuilt.open(&env, b"aad").expect("opens")[..], b"fuzz");
        }
        Err(e) => assert_eq!(e, CryptoError::KeyExhausted(primary)),
    }
});
