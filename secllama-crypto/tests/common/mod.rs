//! Test vectors and the macro that turns a vector list into encrypt / decrypt /
//! decrypt-modified tests, all run through the crate's own AEAD path (`internal`).
#![allow(dead_code, unreachable_pub)]
// Vector loading is test code: a malformed vector must stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// One AES-256-GCM known-answer vector (96-bit nonce, 128-bit tag: the only shape SecLlama uses).
#[derive(Debug, Clone)]
pub struct AeadVector {
    pub name: String,
    pub key: [u8; 32],
    pub nonce: [u8; 12],
    pub aad: Vec<u8>,
    pub plaintext: Vec<u8>,
    /// `ciphertext || tag`.
    pub sealed: Vec<u8>,
    /// `false` for vectors whose tag must be rejected.
    pub valid: bool,
}

/// One PBKDF2-HMAC-SHA256 known-answer vector.
#[derive(Debug, Clone)]
pub struct Pbkdf2Vector {
    pub name: String,
    pub password: Vec<u8>,
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub derived: Vec<u8>,
}

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Wycheproof `aes_gcm_test.json`, restricted to AES-256 with 96-bit nonces and 128-bit tags.
pub fn wycheproof_aes256gcm() -> Vec<AeadVector> {
    use wycheproof::aead::{TestName, TestSet};
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let mut out = Vec::new();
    for g in set.test_groups {
        if g.key_size != 256 || g.nonce_size != 96 || g.tag_size != 128 {
            continue;
        }
        for t in g.tests {
            let mut sealed = t.ct.to_vec();
            sealed.extend_from_slice(&t.tag);
            out.push(AeadVector {
                name: format!("wycheproof tcId {}", t.tc_id),
                key: t.key.as_slice().try_into().unwrap(),
                nonce: t.nonce.as_slice().try_into().unwrap(),
                aad: t.aad.to_vec(),
                plaintext: t.pt.to_vec(),
                sealed,
                valid: !t.result.must_fail(),
            });
        }
    }
    out
}

/// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13 to 16 (AES-256).
pub fn gcm_spec_aes256() -> Vec<AeadVector> {
    let k0 = [0u8; 32];
    let k1: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        .try_into()
        .unwrap();
    let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
    let p = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    let v = |name: &str, key, nonce, aad: &str, pt: &str, ct: &str, tag: &str| AeadVector {
        name: name.into(),
        key,
        nonce,
        aad: hex(aad),
        plaintext: hex(pt),
        sealed: [hex(ct), hex(tag)].concat(),
        valid: true,
    };
    vec![
        v(
            "gcm spec test case 13",
            k0,
            [0; 12],
            "",
            "",
            "",
            "530f8afbc74536b9a963b4f1c4cb738b",
        ),
        v(
            "gcm spec test case 14",
            k0,
            [0; 12],
            "",
            "00000000000000000000000000000000",
            "cea7403d4d606b6e074ec5d3baf39d18",
            "d0d1c8a799996bf0265b98b5d48ab919",
        ),
        v(
            "gcm spec test case 15",
            k1,
            iv,
            "",
            p,
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
            "b094dac5d93471bdec1a502270e3cc6c",
        ),
        v(
            "gcm spec test case 16",
            k1,
            iv,
            "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            &p[..120],
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ]
}

/// Wycheproof `pbkdf2_hmacsha256_test.json` (every vector).
pub fn wycheproof_pbkdf2_sha256() -> Vec<Pbkdf2Vector> {
    use wycheproof::pbkdf2::{TestName, TestSet};
    let set = TestSet::load(TestName::Pbkdf2HmacSha256).unwrap();
    let mut out = Vec::new();
    for g in set.test_groups {
        for t in g.tests {
            assert!(!t.result.must_fail(), "PBKDF2 vectors are all valid");
            out.push(Pbkdf2Vector {
                name: format!("wycheproof tcId {}", t.tc_id),
                password: t.password.to_vec(),
                salt: t.salt.to_vec(),
                iterations: u32::try_from(t.iteration_count).unwrap(),
                derived: t.dk.to_vec(),
            });
        }
    }
    out
}

/// Generates `encrypt`, `decrypt` and `decrypt_modified` tests for a list of AEAD vectors.
#[macro_export]
macro_rules! aead_kat_tests {
    ($name:ident, $vectors:expr) => {
        mod $name {
            use secllama_crypto::CryptoError;
            use secllama_crypto::internal::{aes256gcm_open, aes256gcm_seal};

            fn vectors() -> Vec<$crate::common::AeadVector> {
                let v = $vectors;
                assert!(!v.is_empty(), "no vectors loaded");
                v
            }

            #[test]
            fn encrypt_produces_the_expected_ciphertext_and_tag() {
                for v in vectors().iter().filter(|v| v.valid) {
                    let got = aes256gcm_seal(&v.key, &v.nonce, &v.aad, &v.plaintext).unwrap();
                    assert_eq!(got, v.sealed, "{}", v.name);
                }
            }

            #[test]
            fn decrypt_returns_the_plaintext_or_rejects_invalid_vectors() {
                let mut invalid = 0;
                for v in vectors() {
                    let got = aes256gcm_open(&v.key, &v.nonce, &v.aad, &v.sealed);
                    if v.valid {
                        assert_eq!(got.unwrap().as_slice(), v.plaintext, "{}", v.name);
                    } else {
                        invalid += 1;
                        assert_eq!(
                            got.unwrap_err(),
                            CryptoError::AuthenticationFailed,
                            "{}",
                            v.name
                        );
                    }
                }
                eprintln!("{} vectors, {invalid} of them invalid", vectors().len());
            }

            #[test]
            fn decrypt_rejects_every_vector_with_a_modified_tag_or_aad() {
                for v in vectors().iter().filter(|v| v.valid) {
                    let mut sealed = v.sealed.clone();
                    let last = sealed.len() - 1;
                    sealed[last] ^= 0x01;
                    let got = aes256gcm_open(&v.key, &v.nonce, &v.aad, &sealed);
                    assert_eq!(
                        got.unwrap_err(),
                        CryptoError::AuthenticationFailed,
                        "{}",
                        v.name
                    );
                    let mut aad = v.aad.clone();
                    aad.push(0);
                    let got = aes256gcm_open(&v.key, &v.nonce, &aad, &v.sealed);
                    assert_eq!(
                        got.unwrap_err(),
                        CryptoError::AuthenticationFailed,
                        "{}",
                        v.name
                    );
                }
            }
        }
    };
}
