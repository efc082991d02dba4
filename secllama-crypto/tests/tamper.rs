//! Every modification of a sealed envelope is caught, and reported as the right error.

use secllama_crypto::{CryptoError, ENVELOPE_OVERHEAD, Keyset, password};

const PLAINTEXT: &[u8] = b"the model must not read this";
const AAD: &[u8] = b"chat 7, message 3";

/// What opening an envelope with one bit flipped must report, by where the bit is.
#[allow(clippy::unwrap_used, reason = "test helper")]
fn expected_for_flip(ks: &Keyset, env: &[u8], byte: usize, flipped: &[u8]) -> CryptoError {
    match byte {
        0 => match flipped[0] {
            0x02 => CryptoError::Malformed(
                "a password-sealed envelope; open it with a password, not a keyset",
            ),
            v => CryptoError::UnsupportedVersion(v),
        },
        1..=4 => {
            let id = u32::from_be_bytes(flipped[1..5].try_into().unwrap());
            assert_ne!(&flipped[1..5], &env[1..5]);
            assert!(ks.keys().iter().all(|k| k.id != id));
            CryptoError::UnknownKey(id)
        }
        _ => CryptoError::AuthenticationFailed,
    }
}

#[test]
fn every_single_bit_flip_of_an_envelope_is_rejected_with_the_right_error() {
    let ks = Keyset::generate();
    let env = ks.seal(PLAINTEXT, AAD).unwrap();
    assert_eq!(env.len(), PLAINTEXT.len() + ENVELOPE_OVERHEAD);
    let mut checked = 0;
    for byte in 0..env.len() {
        for bit in 0..8 {
            let mut bad = env.clone();
            bad[byte] ^= 1 << bit;
            let want = expected_for_flip(&ks, &env, byte, &bad);
            assert_eq!(
                ks.open(&bad, AAD).unwrap_err(),
                want,
                "byte {byte} bit {bit}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, env.len() * 8);
    // The untouched envelope still opens: the loop above tested a working envelope.
    assert_eq!(ks.open(&env, AAD).unwrap().as_slice(), PLAINTEXT);
}

#[test]
fn every_truncation_of_an_envelope_is_rejected_with_the_right_error() {
    let ks = Keyset::generate();
    let env = ks.seal(PLAINTEXT, AAD).unwrap();
    for len in 0..env.len() {
        let got = ks.open(&env[..len], AAD).unwrap_err();
        let want = match len {
            0 => CryptoError::Malformed("empty envelope"),
            1..ENVELOPE_OVERHEAD => {
                CryptoError::Malformed("envelope shorter than its 33-byte overhead")
            }
            _ => CryptoError::AuthenticationFailed,
        };
        assert_eq!(got, want, "length {len}");
    }
}

#[test]
fn appended_bytes_are_rejected() {
    let ks = Keyset::generate();
    let mut env = ks.seal(PLAINTEXT, AAD).unwrap();
    env.push(0);
    assert_eq!(
        ks.open(&env, AAD).unwrap_err(),
        CryptoError::AuthenticationFailed
    );
}

#[test]
fn every_single_bit_flip_of_the_aad_is_rejected() {
    let ks = Keyset::generate();
    let env = ks.seal(PLAINTEXT, AAD).unwrap();
    for byte in 0..AAD.len() {
        for bit in 0..8 {
            let mut aad = AAD.to_vec();
            aad[byte] ^= 1 << bit;
            assert_eq!(
                ks.open(&env, &aad).unwrap_err(),
                CryptoError::AuthenticationFailed
            );
        }
    }
}

#[test]
fn moving_bytes_between_header_aad_and_caller_aad_is_rejected() {
    // The header is a fixed 17 bytes, so `header || aad` cannot be re-split: an envelope
    // sealed with AAD "ab" must not open with AAD "b" after "a" is smuggled elsewhere.
    let ks = Keyset::generate();
    let env = ks.seal(b"x", b"ab").unwrap();
    assert_eq!(
        ks.open(&env, b"b").unwrap_err(),
        CryptoError::AuthenticationFailed
    );
    assert_eq!(
        ks.open(&env, b"abx").unwrap_err(),
        CryptoError::AuthenticationFailed
    );
}

#[test]
fn envelopes_swapped_between_keysets_never_open() {
    let a = Keyset::generate();
    let b = Keyset::generate();
    let ea = a.seal(b"for a", AAD).unwrap();
    let eb = b.seal(b"for b", AAD).unwrap();
    assert_eq!(
        b.open(&ea, AAD).unwrap_err(),
        CryptoError::UnknownKey(a.primary_id())
    );
    assert_eq!(
        a.open(&eb, AAD).unwrap_err(),
        CryptoError::UnknownKey(b.primary_id())
    );
    // Even when the other keyset happens to use the same id, the tag does not verify.
    let mut relabelled = ea.clone();
    relabelled[1..5].copy_from_slice(&b.primary_id().to_be_bytes());
    assert_eq!(
        b.open(&relabelled, AAD).unwrap_err(),
        CryptoError::AuthenticationFailed
    );
}

#[test]
fn every_single_bit_flip_of_a_password_envelope_is_rejected() {
    let pw = b"correct horse battery staple";
    let it = password::MIN_ITERATIONS;
    let env = password::seal_with_iterations(pw, it, b"abc", AAD).unwrap();
    assert_eq!(env.len(), 3 + password::PASSWORD_OVERHEAD);
    for byte in 0..env.len() {
        for bit in 0..8 {
            let mut bad = env.clone();
            bad[byte] ^= 1 << bit;
            let got = password::open(pw, &bad, AAD).unwrap_err();
            let want = match byte {
                0 if bad[0] == 0x01 => CryptoError::Malformed(
                    "a keyset-sealed envelope; open it with its keyset, not a password",
                ),
                0 => CryptoError::UnsupportedVersion(bad[0]),
                1..=4 => {
                    let n = u32::from_be_bytes(bad[1..5].try_into().unwrap());
                    if (password::MIN_ITERATIONS..=password::MAX_ITERATIONS).contains(&n) {
                        CryptoError::AuthenticationFailed
                    } else {
                        CryptoError::InvalidIterations {
                            iterations: n,
                            min: password::MIN_ITERATIONS,
                            max: password::MAX_ITERATIONS,
                        }
                    }
                }
                _ => CryptoError::AuthenticationFailed,
            };
            assert_eq!(got, want, "byte {byte} bit {bit}");
        }
    }
    assert_eq!(password::open(pw, &env, AAD).unwrap().as_slice(), b"abc");
}

#[test]
fn every_truncation_of_a_password_envelope_is_rejected() {
    let pw = b"pw";
    let env = password::seal_with_iterations(pw, password::MIN_ITERATIONS, b"abc", b"").unwrap();
    for len in 0..env.len() {
        let want = match len {
            0 => CryptoError::Malformed("empty envelope"),
            1..password::PASSWORD_OVERHEAD => {
                CryptoError::Malformed("envelope shorter than its 49-byte overhead")
            }
            _ => CryptoError::AuthenticationFailed,
        };
        assert_eq!(
            password::open(pw, &env[..len], b"").unwrap_err(),
            want,
            "length {len}"
        );
    }
}

#[test]
fn open_in_place_agrees_with_open_and_leaves_a_rejected_buffer_unchanged() {
    let ks = Keyset::generate();
    let env = ks.seal(PLAINTEXT, AAD).unwrap();
    let mut buf = env.clone();
    assert_eq!(ks.open_in_place(&mut buf, AAD).unwrap(), PLAINTEXT);
    for byte in 0..env.len() {
        for bit in 0..8 {
            let mut bad = env.clone();
            bad[byte] ^= 1 << bit;
            let before = bad.clone();
            let want = ks.open(&bad, AAD).unwrap_err();
            assert_eq!(
                ks.open_in_place(&mut bad, AAD).unwrap_err(),
                want,
                "byte {byte}"
            );
            assert_eq!(bad, before, "byte {byte} bit {bit}: buffer changed");
        }
    }
    for len in 0..env.len() {
        let mut cut = env[..len].to_vec();
        let want = ks.open(&cut, AAD).unwrap_err();
        assert_eq!(
            ks.open_in_place(&mut cut, AAD).unwrap_err(),
            want,
            "length {len}"
        );
        assert_eq!(cut, env[..len]);
    }
    let mut wrong_aad = env.clone();
    assert_eq!(
        ks.open_in_place(&mut wrong_aad, b"other").unwrap_err(),
        CryptoError::AuthenticationFailed
    );
    assert_eq!(wrong_aad, env);
}
