//! The one place AES-256-GCM is called. Keyset envelopes, password envelopes and the
//! known-answer tests (through `internal`) all go through these functions.

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit, Tag};
use zeroize::Zeroizing;

use crate::{CryptoError, KEY_LEN};

/// AES-GCM nonce length used everywhere (96 bits, NIST SP 800-38D §8.2.2 random IVs).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length (128 bits, never truncated).
pub(crate) const TAG_LEN: usize = 16;

/// An AES-256-GCM instance with its key schedule; zeroized on drop (aes-gcm `zeroize` feature).
pub(crate) type Cipher = Aes256Gcm;

/// Expands a key into a boxed cipher (boxed so the key schedule is never copied by a move).
pub(crate) fn cipher(key: &[u8; KEY_LEN]) -> Box<Cipher> {
    Box::new(Aes256Gcm::new(key.into()))
}

/// GCM's associated data is `header || caller_aad`. Every header has a length fixed by its
/// leading format byte, so the split point is unambiguous without a length prefix. Short
/// concatenations are built on the stack (no allocation per seal/open).
fn with_header<R>(header: &[u8], aad: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    const STACK: usize = 256;
    let len = header.len() + aad.len();
    if aad.is_empty() {
        f(header)
    } else if len <= STACK {
        let mut buf = [0u8; STACK];
        buf[..header.len()].copy_from_slice(header);
        buf[header.len()..len].copy_from_slice(aad);
        f(&buf[..len])
    } else {
        f(&[header, aad].concat())
    }
}

/// Appends `plaintext` to `out` (which already holds `header`), encrypts it in place and
/// appends the tag. AAD = `header || aad`.
pub(crate) fn seal_into(
    cipher: &Cipher,
    nonce: &[u8; NONCE_LEN],
    header: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = with_header(header, aad, |ad| {
        cipher.encrypt_inout_detached(nonce.into(), ad, out[start..].as_mut().into())
    })
    .map_err(|_| too_large(plaintext.len()))?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Verifies and decrypts `ct_and_tag` (ciphertext followed by a 16-byte tag). Nothing is
/// returned unless the tag verifies; the copy is wiped if it does not.
pub(crate) fn open(
    cipher: &Cipher,
    nonce: &[u8; NONCE_LEN],
    header: &[u8],
    aad: &[u8],
    ct_and_tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let ct_len = ct_and_tag
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(CryptoError::Malformed("shorter than an authentication tag"))?;
    let (ct, tag) = ct_and_tag.split_at(ct_len);
    let tag = Tag::<aes_gcm::aead::consts::U16>::try_from(tag)
        .map_err(|_| CryptoError::Malformed("tag length"))?;
    let mut out = Zeroizing::new(Vec::from(ct));
    with_header(header, aad, |ad| {
        cipher.decrypt_inout_detached(nonce.into(), ad, out.as_mut_slice().into(), &tag)
    })
    .map_err(|_| CryptoError::AuthenticationFailed)?;
    Ok(out)
}

/// Verifies and decrypts `ct_and_tag` in place; returns the plaintext part (the tag bytes are
/// left as they were). On failure the buffer is unchanged: the tag is checked before any byte
/// is decrypted.
pub(crate) fn open_in_place<'b>(
    cipher: &Cipher,
    nonce: &[u8; NONCE_LEN],
    header: &[u8],
    aad: &[u8],
    ct_and_tag: &'b mut [u8],
) -> Result<&'b [u8], CryptoError> {
    let ct_len = ct_and_tag
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(CryptoError::Malformed("shorter than an authentication tag"))?;
    let (ct, tag) = ct_and_tag.split_at_mut(ct_len);
    let tag = Tag::<aes_gcm::aead::consts::U16>::try_from(&*tag)
        .map_err(|_| CryptoError::Malformed("tag length"))?;
    with_header(header, aad, |ad| {
        cipher.decrypt_inout_detached(nonce.into(), ad, (&mut *ct).into(), &tag)
    })
    .map_err(|_| CryptoError::AuthenticationFailed)?;
    Ok(ct)
}

/// Largest plaintext one envelope may carry (GCM's limit, `2^36 - 32` bytes).
pub(crate) const MAX_PLAINTEXT: u64 = aes_gcm::P_MAX;

fn too_large(len: usize) -> CryptoError {
    CryptoError::TooLarge {
        len: len as u64,
        max: MAX_PLAINTEXT,
    }
}
