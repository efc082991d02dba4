//! Property tests: seal/open round trips, any change is caught, parsers never panic.

use proptest::prelude::*;
use secllama_crypto::{CryptoError, ENVELOPE_OVERHEAD, Keyset, internal};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn seal_then_open_returns_the_plaintext(
        pt in proptest::collection::vec(any::<u8>(), 0..4096),
        aad in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let ks = Keyset::generate();
        let env = ks.seal(&pt, &aad).unwrap();
        prop_assert_eq!(env.len(), pt.len() + ENVELOPE_OVERHEAD);
        let opened = ks.open(&env, &aad).unwrap();
        prop_assert_eq!(opened.as_slice(), pt.as_slice());
    }

    #[test]
    fn any_single_byte_change_is_rejected(
        pt in proptest::collection::vec(any::<u8>(), 0..512),
        pos in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let ks = Keyset::generate();
        let mut env = ks.seal(&pt, b"ctx").unwrap();
        let i = pos.index(env.len());
        env[i] = env[i].wrapping_add(delta);
        let err = ks.open(&env, b"ctx").unwrap_err();
        let ok = match i {
            0 => matches!(err, CryptoError::UnsupportedVersion(_) | CryptoError::Malformed(_)),
            1..=4 => matches!(err, CryptoError::UnknownKey(_)),
            _ => err == CryptoError::AuthenticationFailed,
        };
        prop_assert!(ok, "byte {} gave {:?}", i, err);
    }

    #[test]
    fn a_different_aad_is_rejected(
        aad in proptest::collection::vec(any::<u8>(), 0..64),
        other in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assume!(aad != other);
        let ks = Keyset::generate();
        let env = ks.seal(b"payload", &aad).unwrap();
        prop_assert_eq!(ks.open(&env, &other).unwrap_err(), CryptoError::AuthenticationFailed);
    }

    #[test]
    fn opening_arbitrary_bytes_never_panics_and_never_succeeds(
        bytes in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let ks = Keyset::generate();
        prop_assert!(ks.open(&bytes, b"").is_err());
        let _ = internal::parse_envelope(&bytes);
        let _ = internal::parse_password_envelope(&bytes);
    }

    #[test]
    fn parsing_arbitrary_keyset_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = Keyset::from_bytes(&bytes);
        let mut b = b"SLKS\x01".to_vec();
        b.extend_from_slice(&bytes);
        let _ = Keyset::from_bytes(&b);
    }

    #[test]
    fn serialisation_round_trips_any_sequence_of_operations(ops in proptest::collection::vec(0u8..4, 0..20)) {
        let mut ks = Keyset::generate();
        for op in ops {
            let ids: Vec<u32> = ks.keys().iter().map(|k| k.id).collect();
            let victim = ids[0];
            let _ = match op {
                0 => ks.rotate().map(|_| ()),
                1 => ks.disable(victim),
                2 => ks.enable(victim),
                _ => ks.destroy(victim),
            };
            ks.seal(b"x", b"").unwrap();
        }
        let back = Keyset::from_bytes(&ks.to_bytes()).unwrap();
        prop_assert_eq!(back.keys(), ks.keys());
        let (a, b) = (back.to_bytes(), ks.to_bytes());
        prop_assert_eq!(a.as_slice(), b.as_slice());
    }
}
