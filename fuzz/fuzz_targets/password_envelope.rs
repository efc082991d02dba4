//! Password envelope header parsing (no PBKDF2 is run, so the fuzzer is never stuck in key
//! derivation): arbitrary bytes never panic, a parsed header round-trips byte-exactly, and an
//! iteration count outside the accepted range is always refused before any derivation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secllama_crypto::CryptoError;
use secllama_crypto::internal::{PasswordHeader, parse_password_envelope};
use secllama_crypto::password::{MAX_ITERATIONS, MIN_ITERATIONS, PASSWORD_HEADER_LEN, PASSWORD_OVERHEAD};

fuzz_target!(|data: &[u8]| {
    match parse_password_envelope(data) {
        Ok((h, body)) => {
            assert!(data.len() >= PASSWORD_OVERHEAD);
            assert_eq!(data[0], 0x02);
            assert!((MIN_ITERATIONS..=MAX_ITERATIONS).contains(&h.iterations));
            assert_eq!(&h.to_bytes()[..], &data[..PASSWORD_HEADER_LEN]);
            assert_eq!(body, &data[PASSWORD_HEADER_LEN..]);
        }
        Err(e) => match data.first() {
            None => assert_eq!(e, CryptoError::Malformed("empty envelope")),
            Some(0x01) => assert!(matches!(e, CryptoError::Malformed(_)), "{e:?}"),
            Some(&v) if v != 0x02 => assert_eq!(e, CryptoError::UnsupportedVersion(v)),
            Some(_) if data.len() < PASSWORD_OVERHEAD => {
                assert!(matches!(e, CryptoError::Malformed(_)), "{e:?}")
            }
            Some(_) => {
                let it = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
                assert_eq!(
                    e,
                    CryptoError::InvalidIterations { iterations: it, min: MIN_ITERATIONS, max: MAX_ITERATIONS }
                );
            }
        },
    }

    // A header built from the input's bytes: to_bytes -> parse gives it back exactly when the
    // count is in range, and a too-large count is refused (never derived).
    if data.len() >= PASSWORD_HEADER_LEN {
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&data[5..21]);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&data[21..33]);
        let h = PasswordHeader {
            iterations: u32::from_be_bytes([data[1], data[2], data[3], data[4]]),
            salt,
            nonce,
        };
        let mut env = h.to_bytes().to_vec();
        env.extend_from_slice(&data[PASSWORD_HEADER_LEN..]);
        env.extend_from_slice(&[0u8; 16]);
        match parse_password_envelope(&env) {
            Ok((back, _)) => assert_eq!(back, h),
            Err(e) => assert!(matches!(e, CryptoError::InvalidIterations { .. }), "{e:?}"),
        }
        // `open` must refuse an out-of-range count before deriving anything; a count in range
        // is not opened here (it would run >= 100,000 PBKDF2 rounds per input).
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&h.iterations) {
            assert!(matches!(
                secllama_crypto::password::open(b"pw", &env, b""),
                Err(CryptoError::InvalidIterations { .. })
            ));
        }
    }
});
