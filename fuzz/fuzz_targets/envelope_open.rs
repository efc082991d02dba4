//! Envelope v1: arbitrary bytes opened against a fixed keyset must never panic, must fail with
//! the error the header explains, and whatever is sealed must open to the same bytes (and stop
//! opening after any single bit flip or with other associated data).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secllama_crypto::internal::parse_envelope;
use secllama_crypto::{CryptoError, ENVELOPE_OVERHEAD};
use secllama_fuzz::{DESTROYED_ID, DISABLED_ID, PRIMARY_ID, fixed_keyset, pick, split_prefixed};

fuzz_target!(|data: &[u8]| {
    let ks = fixed_keyset();
    let (aad, env) = split_prefixed(data);

    // 1. Arbitrary bytes as an envelope.
    let parsed = parse_envelope(env);
    match (ks.open(env, aad), parsed) {
        (Ok(pt), Ok((h, body))) => {
            assert_eq!(h.key_id, PRIMARY_ID, "only the enabled key can open");
            assert_eq!(pt.len() + ENVELOPE_OVERHEAD, env.len());
            assert_eq!(body.len(), pt.len() + 16);
        }
        (Ok(_), Err(e)) => panic!("opened although the header does not parse: {e}"),
        (Err(e), Err(pe)) => assert_eq!(e, pe, "open and parse disagree"),
        (Err(e), Ok((h, _))) => {
            let want = match h.key_id {
                PRIMARY_ID => CryptoError::AuthenticationFailed,
                DISABLED_ID => CryptoError::KeyDisabled(DISABLED_ID),
                DESTROYED_ID => CryptoError::KeyDestroyed(DESTROYED_ID),
                other => CryptoError::UnknownKey(other),
            };
            assert_eq!(e, want);
        }
    }

    // 2. Round trip: the input as plaintext.
    let mut sealed = ks.seal(env, aad).expect("sealing with the primary works");
    assert_eq!(sealed.len(), env.len() + ENVELOPE_OVERHEAD);
    assert_eq!(&ks.open(&sealed, aad).expect("own envelope opens")[..], env);
    let (h, _) = parse_envelope(&sealed).expect("own envelope parses");
    assert_eq!(h.key_id, PRIMARY_ID);

    // 3. Other associated data never opens it.
    let mut other_aad = aad.to_vec();
    other_aad.push(0);
    assert_eq!(ks.open(&sealed, &other_aad), Err(CryptoError::AuthenticationFailed));

    // 4. Any single bit flip is detected, with the error the flipped field explains.
    let at = pick(data, sealed.len());
    let bit = 1u8 << (pick(env, 8));
    sealed[at] ^= bit;
    let err = ks.open(&sealed, aad).expect_err("a flipped bit must not open");
    match at {
        0 => assert!(
            matches!(err, CryptoError::UnsupportedVersion(_) | CryptoError::Malformed(_)),
            "{err:?}"
        ),
        1..=4 => {
            let id = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
            let want = match id {
                DISABLED_ID => CryptoError::KeyDisabled(id),
                DESTROYED_ID => CryptoError::KeyDestroyed(id),
                _ => CryptoError::UnknownKey(id),
            };
            assert_eq!(err, want);
        }
        _ => assert_eq!(err, CryptoError::AuthenticationFailed),
    }
});
