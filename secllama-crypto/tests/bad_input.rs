//! The bad-input campaign: every public entry point that takes bytes from outside, fed hostile
//! inputs (empty, truncated at every length, oversized length fields, wrong versions, wrong
//! types, invalid UTF-8), each with the exact error it must produce. Nothing may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use secllama_crypto::message::{self, ChatMessage};
use secllama_crypto::password::{self, MAX_ITERATIONS, MIN_ITERATIONS};
use secllama_crypto::{
    CryptoError, ENVELOPE_OVERHEAD, KEY_LEN, Key, KeyEntry, KeyStatus, Keyset, MAX_KEYS,
    MAX_KEYSET_LEN,
};

const AAD: &[u8] = b"bad-input";

fn malformed(why: &'static str) -> CryptoError {
    CryptoError::Malformed(why)
}

fn invalid_iterations(iterations: u32) -> CryptoError {
    CryptoError::InvalidIterations {
        iterations,
        min: MIN_ITERATIONS,
        max: MAX_ITERATIONS,
    }
}

/// `0x01 | id | nonce | body` with an all-zero nonce.
fn envelope(id: u32, body: &[u8]) -> Vec<u8> {
    let mut e = vec![0x01];
    e.extend_from_slice(&id.to_be_bytes());
    e.extend_from_slice(&[0; 12]);
    e.extend_from_slice(body);
    e
}

/// `0x02 | iterations | salt | nonce | body`.
fn password_envelope(iterations: u32, body: &[u8]) -> Vec<u8> {
    let mut e = vec![0x02];
    e.extend_from_slice(&iterations.to_be_bytes());
    e.extend_from_slice(&[0; 28]);
    e.extend_from_slice(body);
    e
}

#[test]
fn keyset_open_refuses_each_hostile_envelope_with_the_exact_error() {
    let ks = Keyset::generate();
    let p = ks.primary_id();
    let other = if p == 1 { 2 } else { 1 };
    let cases: Vec<(&str, Vec<u8>, CryptoError)> = vec![
        ("empty", vec![], malformed("empty envelope")),
        (
            "version 0",
            vec![0x00; 40],
            CryptoError::UnsupportedVersion(0),
        ),
        (
            "version 3",
            vec![0x03; 40],
            CryptoError::UnsupportedVersion(3),
        ),
        (
            "version 0xff",
            vec![0xff; 40],
            CryptoError::UnsupportedVersion(0xff),
        ),
        (
            "a password envelope",
            password_envelope(600_000, &[0; 16]),
            malformed("a password-sealed envelope; open it with a password, not a keyset"),
        ),
        (
            "header only",
            envelope(p, &[]),
            malformed("envelope shorter than its 33-byte overhead"),
        ),
        (
            "one byte short of a tag",
            envelope(p, &[0; 15]),
            malformed("envelope shorter than its 33-byte overhead"),
        ),
        (
            "zero tag",
            envelope(p, &[0; 16]),
            CryptoError::AuthenticationFailed,
        ),
        (
            "unknown id",
            envelope(other, &[0; 16]),
            CryptoError::UnknownKey(other),
        ),
        ("id 0", envelope(0, &[0; 16]), CryptoError::UnknownKey(0)),
        (
            "UTF-8 text instead of an envelope",
            "\u{1}é — this is not an envelope at all, only some text"
                .as_bytes()
                .to_vec(),
            CryptoError::UnknownKey(u32::from_be_bytes([0xc3, 0xa9, 0x20, 0xe2])),
        ),
        (
            "invalid UTF-8 bytes",
            envelope(
                p,
                b"\xff\xfe\xfd\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80",
            ),
            CryptoError::AuthenticationFailed,
        ),
    ];
    for (what, bytes, want) in cases {
        assert_eq!(ks.open(&bytes, AAD).unwrap_err(), want, "{what}");
    }
}

#[test]
fn every_truncation_of_a_sealed_envelope_is_refused_with_the_exact_error() {
    let ks = Keyset::generate();
    let sealed = ks.seal(b"twelve bytes", AAD).unwrap();
    assert_eq!(sealed.len(), 12 + ENVELOPE_OVERHEAD);
    for len in 0..sealed.len() {
        let want = match len {
            0 => malformed("empty envelope"),
            1..ENVELOPE_OVERHEAD => malformed("envelope shorter than its 33-byte overhead"),
            _ => CryptoError::AuthenticationFailed,
        };
        assert_eq!(
            ks.open(&sealed[..len], AAD).unwrap_err(),
            want,
            "length {len}"
        );
    }
    // Extended by one byte: the tag is now in the wrong place.
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(
        ks.open(&longer, AAD).unwrap_err(),
        CryptoError::AuthenticationFailed
    );
}

#[test]
fn password_open_refuses_each_hostile_envelope_before_deriving_a_key() {
    // Every case here fails before PBKDF2 runs (so this test takes microseconds).
    let cases: Vec<(&str, &[u8], Vec<u8>, CryptoError)> = vec![
        ("empty", b"pw", vec![], malformed("empty envelope")),
        (
            "empty password",
            b"",
            password_envelope(600_000, &[0; 16]),
            CryptoError::EmptyPassword,
        ),
        (
            "version 0",
            b"pw",
            vec![0; 60],
            CryptoError::UnsupportedVersion(0),
        ),
        (
            "version 0x7f",
            b"pw",
            vec![0x7f; 60],
            CryptoError::UnsupportedVersion(0x7f),
        ),
        (
            "a keyset envelope",
            b"pw",
            envelope(1, &[0; 40]),
            malformed("a keyset-sealed envelope; open it with its keyset, not a password"),
        ),
        (
            "header only",
            b"pw",
            password_envelope(600_000, &[]),
            malformed("envelope shorter than its 49-byte overhead"),
        ),
        (
            "a header claiming u32::MAX iterations",
            b"pw",
            password_envelope(u32::MAX, &[0; 16]),
            invalid_iterations(u32::MAX),
        ),
        (
            "one iteration above the maximum",
            b"pw",
            password_envelope(MAX_ITERATIONS + 1, &[0; 16]),
            invalid_iterations(MAX_ITERATIONS + 1),
        ),
        (
            "one iteration below the minimum",
            b"pw",
            password_envelope(MIN_ITERATIONS - 1, &[0; 16]),
            invalid_iterations(MIN_ITERATIONS - 1),
        ),
        (
            "zero iterations",
            b"pw",
            password_envelope(0, &[0; 16]),
            invalid_iterations(0),
        ),
    ];
    for (what, pw, bytes, want) in cases {
        assert_eq!(password::open(pw, &bytes, AAD).unwrap_err(), want, "{what}");
    }
}

#[test]
fn every_truncation_of_a_password_envelope_is_refused_with_the_exact_error() {
    let sealed = password::seal_with_iterations(b"pw", MIN_ITERATIONS, b"abc", AAD).unwrap();
    let overhead = password::PASSWORD_OVERHEAD;
    assert_eq!(sealed.len(), 3 + overhead);
    for len in 0..sealed.len() {
        let want = match len {
            0 => malformed("empty envelope"),
            l if l < overhead => malformed("envelope shorter than its 49-byte overhead"),
            _ => CryptoError::AuthenticationFailed,
        };
        assert_eq!(
            password::open(b"pw", &sealed[..len], AAD).unwrap_err(),
            want,
            "length {len}"
        );
    }
}

#[test]
fn password_sealing_refuses_bad_parameters() {
    let cases: Vec<(&str, &[u8], u32, CryptoError)> = vec![
        ("empty password", b"", 600_000, CryptoError::EmptyPassword),
        ("0 iterations", b"pw", 0, invalid_iterations(0)),
        (
            "u32::MAX iterations",
            b"pw",
            u32::MAX,
            invalid_iterations(u32::MAX),
        ),
        // A password may hold any bytes, NUL and invalid UTF-8 included: only the range errors.
        ("NUL in the password", b"a\0b", 1, invalid_iterations(1)),
    ];
    for (what, pw, it, want) in cases {
        assert_eq!(
            password::seal_with_iterations(pw, it, b"x", AAD).unwrap_err(),
            want,
            "{what}"
        );
    }
}

/// A keyset's serialised header with `count` entries announced.
fn keyset_header(version: u8, primary: u32, count: u16) -> Vec<u8> {
    let mut b = b"SLKS".to_vec();
    b.push(version);
    b.extend_from_slice(&primary.to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b
}

fn entry(id: u32, status: u8, key: Option<[u8; 32]>) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.push(status);
    b.extend_from_slice(&7u64.to_be_bytes());
    b.extend_from_slice(&0u64.to_be_bytes());
    if let Some(k) = key {
        b.extend_from_slice(&k);
    }
    b
}

#[test]
fn keyset_from_bytes_refuses_each_hostile_input_with_the_exact_error() {
    let one = |primary: u32, e: Vec<u8>| [keyset_header(1, primary, 1), e].concat();
    let cases: Vec<(&str, Vec<u8>, CryptoError)> = vec![
        ("empty", vec![], malformed("keyset is truncated")),
        (
            "magic only",
            b"SLKS".to_vec(),
            malformed("keyset is truncated"),
        ),
        (
            "wrong magic",
            b"SLKX\x01".to_vec(),
            malformed("not a keyset (bad magic)"),
        ),
        (
            "an envelope",
            envelope(1, &[0; 16]),
            malformed("not a keyset (bad magic)"),
        ),
        (
            "JSON",
            br#"{"keys":[]}"#.to_vec(),
            malformed("not a keyset (bad magic)"),
        ),
        (
            "version 0",
            keyset_header(0, 1, 1),
            CryptoError::UnsupportedVersion(0),
        ),
        (
            "version 2",
            keyset_header(2, 1, 1),
            CryptoError::UnsupportedVersion(2),
        ),
        (
            "a count of 65535 keys with no data",
            keyset_header(1, 1, u16::MAX),
            CryptoError::TooManyKeys { max: MAX_KEYS },
        ),
        (
            "one key more than allowed",
            keyset_header(1, 1, u16::try_from(MAX_KEYS + 1).unwrap()),
            CryptoError::TooManyKeys { max: MAX_KEYS },
        ),
        (
            "the maximum count with no data",
            keyset_header(1, 1, u16::try_from(MAX_KEYS).unwrap()),
            malformed("keyset is truncated"),
        ),
        (
            "zero keys",
            keyset_header(1, 1, 0),
            CryptoError::InvalidKeyset("no keys"),
        ),
        (
            "status 0",
            one(1, entry(1, 0, Some([1; 32]))),
            malformed("unknown key status"),
        ),
        (
            "status 0xff",
            one(1, entry(1, 0xff, Some([1; 32]))),
            malformed("unknown key status"),
        ),
        (
            "a key 31 bytes long",
            one(1, entry(1, 1, Some([1; 32]))[..21 + 31].to_vec()),
            malformed("keyset is truncated"),
        ),
        (
            "trailing NUL",
            [one(1, entry(1, 1, Some([1; 32]))), vec![0]].concat(),
            malformed("trailing bytes after the last key"),
        ),
        (
            "id 0",
            one(0, entry(0, 1, Some([1; 32]))),
            CryptoError::InvalidKeyset("key id 0 is reserved"),
        ),
        (
            "the only key destroyed",
            one(1, entry(1, 3, None)),
            CryptoError::InvalidKeyset("the primary key is not enabled"),
        ),
        (
            "the primary disabled",
            one(1, entry(1, 2, Some([1; 32]))),
            CryptoError::InvalidKeyset("the primary key is not enabled"),
        ),
        (
            "primary names no key",
            one(9, entry(1, 1, Some([1; 32]))),
            CryptoError::InvalidKeyset("the primary id names no key"),
        ),
        (
            "duplicate ids",
            [
                keyset_header(1, 1, 2),
                entry(1, 1, Some([1; 32])),
                entry(1, 1, Some([2; 32])),
            ]
            .concat(),
            CryptoError::InvalidKeyset("duplicate key id"),
        ),
        (
            "larger than any keyset",
            vec![0; MAX_KEYSET_LEN + 1],
            CryptoError::TooLarge {
                len: (MAX_KEYSET_LEN + 1) as u64,
                max: MAX_KEYSET_LEN as u64,
            },
        ),
    ];
    for (what, bytes, want) in cases {
        assert_eq!(Keyset::from_bytes(&bytes).unwrap_err(), want, "{what}");
    }
    // A well-formed one-key set from the same helpers parses, so the cases above fail for the
    // reason they name and not for a broken fixture.
    let good = one(1, entry(1, 1, Some([1; 32])));
    assert_eq!(Keyset::from_bytes(&good).unwrap().primary_id(), 1);
}

#[test]
fn a_16_megabyte_keyset_is_refused_by_its_length_alone() {
    let huge = vec![0u8; 16 << 20];
    assert_eq!(
        Keyset::from_bytes(&huge).unwrap_err(),
        CryptoError::TooLarge {
            len: 16 << 20,
            max: MAX_KEYSET_LEN as u64
        }
    );
}

#[test]
fn key_from_bytes_refuses_every_other_length() {
    for len in [0, 1, 16, KEY_LEN - 1, KEY_LEN + 1, 64, 4096] {
        assert_eq!(
            Key::from_bytes(&vec![7; len]).unwrap_err(),
            CryptoError::InvalidKeyLength {
                expected: KEY_LEN,
                actual: len
            },
            "length {len}"
        );
    }
}

#[test]
fn from_entries_refuses_inconsistent_entries() {
    let k = || Some(Key::from_bytes(&[3; 32]).unwrap());
    let e = |id, status, key| KeyEntry {
        id,
        status,
        created: 0,
        key,
    };
    let too_many: Vec<KeyEntry> = (1..=u32::try_from(MAX_KEYS + 1).unwrap())
        .map(|id| e(id, KeyStatus::Destroyed, None))
        .collect();
    let cases: Vec<(&str, Vec<KeyEntry>, u32, CryptoError)> = vec![
        (
            "no entries",
            vec![],
            1,
            CryptoError::InvalidKeyset("no keys"),
        ),
        (
            "more than MAX_KEYS",
            too_many,
            1,
            CryptoError::TooManyKeys { max: MAX_KEYS },
        ),
        (
            "destroyed with material",
            vec![e(1, KeyStatus::Destroyed, k())],
            1,
            CryptoError::InvalidKeyset("a destroyed key still has material"),
        ),
        (
            "enabled without material",
            vec![e(1, KeyStatus::Enabled, None)],
            1,
            CryptoError::InvalidKeyset("a live key has no material"),
        ),
    ];
    for (what, entries, primary, want) in cases {
        assert_eq!(
            Keyset::from_entries(entries, primary).unwrap_err(),
            want,
            "{what}"
        );
    }
}

#[test]
fn open_json_reports_wrong_types_and_bad_text_by_category_only() {
    let ks = Keyset::generate();
    let seal = |json: &[u8]| ks.seal(json, AAD).unwrap();
    let json_err = |category, line, column| CryptoError::Json {
        category,
        line,
        column,
    };
    let cases: Vec<(&str, Vec<u8>, CryptoError)> = vec![
        ("empty JSON", seal(b""), json_err("eof", 1, 0)),
        (
            "truncated object",
            seal(br#"{"role":"us"#),
            json_err("eof", 1, 11),
        ),
        (
            "a number for the role",
            seal(br#"{"role":1,"content":"x"}"#),
            json_err("data", 1, 9),
        ),
        (
            "an array one field short",
            seal(br#"["user"]"#),
            json_err("data", 1, 8),
        ),
        (
            "missing content",
            seal(br#"{"role":"user"}"#),
            json_err("data", 1, 15),
        ),
        (
            "images not a list",
            seal(br#"{"role":"u","content":"x","images":"aGk="}"#),
            json_err("data", 1, 41),
        ),
        (
            "an image that is not base64",
            seal(br#"{"role":"u","content":"x","images":["@@@"]}"#),
            json_err("data", 1, 43),
        ),
        (
            "invalid UTF-8 inside a string",
            seal(b"{\"role\":\"\xff\xfe\",\"content\":\"x\"}"),
            json_err("syntax", 1, 10),
        ),
        ("a NUL byte", seal(b"\0"), json_err("syntax", 1, 1)),
        (
            "deep nesting",
            seal(
                &[
                    br#"{"role":"u","content":"x","x":"#.as_slice(),
                    &[b'['; 10_000],
                ]
                .concat(),
            ),
            json_err("eof", 1, 10030),
        ),
        (
            "trailing text",
            seal(br#"{"role":"u","content":"x"} x"#),
            json_err("syntax", 1, 28),
        ),
        (
            "not sealed at all",
            br#"{"role":"u","content":"x"}"#.to_vec(),
            CryptoError::UnsupportedVersion(b'{'),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, env, want) in cases {
        let got = message::open_json::<ChatMessage>(&ks, &env, AAD).map(|_| ());
        if got != Err(want.clone()) {
            wrong.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
