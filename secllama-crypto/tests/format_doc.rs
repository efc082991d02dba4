//! The worked examples in FORMAT.md are produced by this crate and open with its public API.
// Test helpers outside #[test] functions: a missing or wrong line must fail loudly.
#![allow(clippy::unwrap_used, clippy::panic)]

use secllama_crypto::internal::{self, EnvelopeHeader, PasswordHeader};
use secllama_crypto::{Key, KeyEntry, KeyStatus, Keyset, password};

const FORMAT: &str = include_str!("../FORMAT.md");

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The hex of `value` must appear in FORMAT.md on the line labelled `label`.
fn assert_documented(label: &str, value: &[u8]) {
    let want = hex(value);
    eprintln!("{label} {want}");
    let mut lines = FORMAT
        .lines()
        .skip_while(|l| !l.trim_start().trim_start_matches("- ").starts_with(label));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("FORMAT.md has no line {label:?} ({want})"));
    let mut got: String = line[line.find(label).unwrap() + label.len()..]
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    // Continuation lines: indented, hex only.
    for more in lines.take_while(|l| {
        l.starts_with("  ")
            && l.trim().chars().all(|c| c.is_ascii_hexdigit())
            && !l.trim().is_empty()
    }) {
        got.push_str(more.trim());
    }
    assert_eq!(got, want, "FORMAT.md line {label:?}");
}

const KEY_ID: u32 = 0xC0FF_EE01;
const NONCE: [u8; 12] = [
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
];
const PLAINTEXT: &[u8] = b"hello, llama";
const AAD: &[u8] = b"chat:42";

fn example_key() -> [u8; 32] {
    std::array::from_fn(|i| u8::try_from(i).unwrap())
}

#[test]
fn the_keyset_envelope_example_in_format_md_is_exact_and_opens() {
    let key = Key::from_bytes(&example_key()).unwrap();
    let env = internal::seal_envelope_with_nonce(
        &key,
        EnvelopeHeader {
            key_id: KEY_ID,
            nonce: NONCE,
        },
        PLAINTEXT,
        AAD,
    )
    .unwrap();
    assert_documented("key:", &example_key());
    assert_documented("nonce:", &NONCE);
    assert_documented("gcm aad:", &[&env[..17], AAD].concat());
    assert_documented("envelope:", &env);
    // And the documented envelope opens with the public API.
    let ks = Keyset::from_entries(
        vec![KeyEntry {
            id: KEY_ID,
            status: KeyStatus::Enabled,
            created: 0,
            key: Some(key),
        }],
        KEY_ID,
    )
    .unwrap();
    assert_eq!(ks.open(&env, AAD).unwrap().as_slice(), PLAINTEXT);
}

const PASSWORD: &[u8] = b"correct horse battery staple";
const SALT: [u8; 16] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
];
const PNONCE: [u8; 12] = [
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb,
];

#[test]
fn the_password_envelope_example_in_format_md_is_exact_and_opens() {
    let iterations = password::MIN_ITERATIONS;
    let env = internal::password_seal_with_header(
        PASSWORD,
        PasswordHeader {
            iterations,
            salt: SALT,
            nonce: PNONCE,
        },
        PLAINTEXT,
        b"",
    )
    .unwrap();
    let mut derived = [0u8; 32];
    internal::pbkdf2_hmac_sha256(PASSWORD, &SALT, iterations, &mut derived);
    assert_documented("salt:", &SALT);
    assert_documented("derived key:", &derived);
    assert_documented("password nonce:", &PNONCE);
    assert_documented("password envelope:", &env);
    assert_eq!(
        password::open(PASSWORD, &env, b"").unwrap().as_slice(),
        PLAINTEXT
    );
}
