//! Wycheproof PBKDF2-HMAC-SHA256 vectors through the function password sealing uses.
mod common;

#[test]
fn pbkdf2_hmac_sha256_matches_every_wycheproof_vector() {
    let vectors = common::wycheproof_pbkdf2_sha256();
    assert!(vectors.len() >= 60, "only {} vectors", vectors.len());
    for v in vectors {
        let mut out = vec![0u8; v.derived.len()];
        secllama_crypto::internal::pbkdf2_hmac_sha256(&v.password, &v.salt, v.iterations, &mut out);
        assert_eq!(
            common::to_hex(&out),
            common::to_hex(&v.derived),
            "{}",
            v.name
        );
    }
}
