//! Every error variant's message: lower-case, no trailing period, says what to do, no secrets.

use secllama_crypto::CryptoError;

#[test]
fn every_error_variant_prints_a_clear_one_line_message() {
    let all = [
        (
            CryptoError::Malformed("empty envelope"),
            "malformed input: empty envelope; it was corrupted or is not SecLlama data",
        ),
        (
            CryptoError::UnsupportedVersion(7),
            "unsupported format version 0x07; upgrade secllama or check the input",
        ),
        (
            CryptoError::UnknownKey(12),
            "unknown key id 12; the data was sealed with a different keyset",
        ),
        (
            CryptoError::KeyDisabled(12),
            "key 12 is disabled; enable it to use it again",
        ),
        (
            CryptoError::KeyDestroyed(12),
            "key 12 was destroyed; data sealed with it cannot be recovered",
        ),
        (
            CryptoError::AuthenticationFailed,
            "authentication failed: wrong key, password or associated data, or the data was modified",
        ),
        (
            CryptoError::KeyExhausted(12),
            "key 12 reached its limit of sealed messages; rotate the keyset to get a fresh key",
        ),
        (
            CryptoError::Reservation("the keychain is locked".into()),
            "cannot reserve seals in the key store: the keychain is locked",
        ),
        (
            CryptoError::InvalidIterations {
                iterations: 5,
                min: 100_000,
                max: 10_000_000,
            },
            "pbkdf2 iteration count 5 is outside the accepted range 100000..=10000000",
        ),
        (
            CryptoError::InvalidKeyLength {
                expected: 32,
                actual: 3,
            },
            "a key must be exactly 32 bytes, got 3",
        ),
        (
            CryptoError::EmptyPassword,
            "the password is empty; use a non-empty password",
        ),
        (
            CryptoError::PrimaryKey(12),
            "key 12 is the primary key; rotate first, then disable or destroy the old key",
        ),
        (
            CryptoError::TooManyKeys { max: 1024 },
            "a keyset holds at most 1024 keys; destroy and purge old keys first",
        ),
        (
            CryptoError::TooLarge { len: 10, max: 5 },
            "input of 10 bytes exceeds the limit of 5 bytes",
        ),
        (
            CryptoError::InvalidKeyset("duplicate key id"),
            "invalid keyset: duplicate key id",
        ),
        (
            CryptoError::Random("errno 38".into()),
            "the operating system random number generator failed: errno 38",
        ),
        (
            CryptoError::Json {
                category: "data",
                line: 1,
                column: 4,
            },
            "json data error at line 1 column 4; the sealed value has another shape",
        ),
    ];
    for (err, want) in &all {
        let msg = err.to_string();
        println!("{err:?}\n    {msg}");
        assert_eq!(&msg, want);
        assert!(!msg.ends_with('.'), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(
            msg.chars().next().unwrap().to_lowercase().next(),
            msg.chars().next(),
            "{msg}"
        );
    }
    // The list above covers every variant: this match stops compiling when one is added.
    for (err, _) in all {
        match err {
            CryptoError::Malformed(_)
            | CryptoError::UnsupportedVersion(_)
            | CryptoError::UnknownKey(_)
            | CryptoError::KeyDisabled(_)
            | CryptoError::KeyDestroyed(_)
            | CryptoError::AuthenticationFailed
            | CryptoError::KeyExhausted(_)
            | CryptoError::Reservation(_)
            | CryptoError::InvalidIterations { .. }
            | CryptoError::InvalidKeyLength { .. }
            | CryptoError::EmptyPassword
            | CryptoError::PrimaryKey(_)
            | CryptoError::TooManyKeys { .. }
            | CryptoError::TooLarge { .. }
            | CryptoError::InvalidKeyset(_)
            | CryptoError::Random(_)
            | CryptoError::Json { .. } => {}
            _ => unreachable!("a new variant needs a line in this test"),
        }
    }
}
