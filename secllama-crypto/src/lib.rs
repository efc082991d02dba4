#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod aead;
mod envelope;
mod error;
mod key;
mod keyset;
pub mod message;
pub mod password;
mod rng;
mod seals;

pub use error::CryptoError;
pub use key::{KEY_LEN, Key};
pub use keyset::{
    ENVELOPE_OVERHEAD, KeyEntry, KeyId, KeyInfo, KeyStatus, Keyset, MAX_KEYS, MAX_KEYSET_LEN,
    MAX_SEALS_PER_KEY,
};
pub use seals::SealReserver;
/// The wrapper `open` returns: the plaintext is wiped when it is dropped.
pub use zeroize::Zeroizing;

/// Entry points for fuzz targets and known-answer tests. Not a stable API: nothing here is
/// needed to use the crate, and the chosen-nonce functions are unsafe to use for real data
/// (a repeated nonce under one key breaks AES-GCM).
#[doc(hidden)]
pub mod internal {
    use zeroize::Zeroizing;

    pub use crate::envelope::{EnvelopeHeader, parse as parse_envelope};
    pub use crate::password::{PasswordHeader, parse as parse_password_envelope};
    use crate::{CryptoError, KEY_LEN, aead};

    /// Raw AES-256-GCM through the crate's own AEAD path: returns `ciphertext || tag`.
    pub fn aes256gcm_seal(
        key: &[u8; KEY_LEN],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::new();
        aead::seal_into(&aead::cipher(key), nonce, &[], aad, plaintext, &mut out)?;
        Ok(out)
    }

    /// Raw AES-256-GCM opening of `ciphertext || tag` through the crate's own AEAD path.
    pub fn aes256gcm_open(
        key: &[u8; KEY_LEN],
        nonce: &[u8; 12],
        aad: &[u8],
        ct_and_tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        aead::open(&aead::cipher(key), nonce, &[], aad, ct_and_tag)
    }

    /// PBKDF2-HMAC-SHA256 of any output length, the function password sealing uses.
    pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        crate::password::pbkdf2_sha256(password, salt, iterations, out);
    }

    /// Envelope v1 with a chosen nonce (for the worked example in `FORMAT.md`).
    pub fn seal_envelope_with_nonce(
        key: &crate::Key,
        header: EnvelopeHeader,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let cipher = aead::cipher(key.expose_secret());
        crate::keyset::seal_envelope(&cipher, header, plaintext, aad)
    }

    /// Password envelope with a chosen salt and nonce (for the worked example in `FORMAT.md`).
    pub fn password_seal_with_header(
        password: &[u8],
        header: PasswordHeader,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        crate::password::seal_with_header(password, header, plaintext, aad)
    }
}
