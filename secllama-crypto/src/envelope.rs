//! Envelope v1 header parsing (see `FORMAT.md`).

use crate::aead::{NONCE_LEN, TAG_LEN};
use crate::{CryptoError, KeyId};

/// Format byte of a keyset envelope v1.
pub(crate) const ENVELOPE_V1: u8 = 0x01;
/// Format byte of a password envelope v1 (see `password`).
pub(crate) const PASSWORD_V1: u8 = 0x02;
/// `0x01 | key_id u32 BE | nonce[12]`.
pub(crate) const ENVELOPE_HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// The parsed header of a keyset envelope v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// Id of the key that sealed the envelope.
    pub key_id: KeyId,
    /// The 96-bit GCM nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl EnvelopeHeader {
    /// The 17 header bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; ENVELOPE_HEADER_LEN] {
        let mut h = [0u8; ENVELOPE_HEADER_LEN];
        h[0] = ENVELOPE_V1;
        h[1..5].copy_from_slice(&self.key_id.to_be_bytes());
        h[5..].copy_from_slice(&self.nonce);
        h
    }
}

/// Splits an envelope into its header and `ciphertext || tag`, checking the version byte and
/// the minimum length. Never panics.
pub fn parse(envelope: &[u8]) -> Result<(EnvelopeHeader, &[u8]), CryptoError> {
    let Some(&version) = envelope.first() else {
        return Err(CryptoError::Malformed("empty envelope"));
    };
    match version {
        ENVELOPE_V1 => {}
        PASSWORD_V1 => {
            return Err(CryptoError::Malformed(
                "a password-sealed envelope; open it with a password, not a keyset",
            ));
        }
        v => return Err(CryptoError::UnsupportedVersion(v)),
    }
    if envelope.len() < ENVELOPE_HEADER_LEN + TAG_LEN {
        return Err(CryptoError::Malformed(
            "envelope shorter than its 33-byte overhead",
        ));
    }
    let (h, body) = envelope.split_at(ENVELOPE_HEADER_LEN);
    let mut id = [0u8; 4];
    id.copy_from_slice(&h[1..5]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&h[5..]);
    Ok((
        EnvelopeHeader {
            key_id: u32::from_be_bytes(id),
            nonce,
        },
        body,
    ))
}
