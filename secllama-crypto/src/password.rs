//! Password sealing: PBKDF2-HMAC-SHA256 derives an AES-256-GCM key from a password and a random
//! salt; the iteration count and salt travel in the header so the count can be raised later.
//!
//! Envelope (see `FORMAT.md`): `0x02 | iterations u32 BE | salt[16] | nonce[12] | ciphertext |
//! tag[16]`; GCM's associated data is the 33-byte header followed by the caller's `aad`.

use zeroize::Zeroizing;

use crate::aead::{self, NONCE_LEN, TAG_LEN};
use crate::envelope::{ENVELOPE_V1, PASSWORD_V1};
use crate::{CryptoError, KEY_LEN, rng};

/// Iterations used by [`seal`]: OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewest iterations [`seal_with_iterations`] and [`open`] accept.
pub const MIN_ITERATIONS: u32 = 100_000;
/// Most iterations [`seal_with_iterations`] and [`open`] accept (about 4 s of work on a 2025
/// laptop core), so a hostile header cannot make [`open`] spin for hours.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
/// `0x02 | iterations u32 | salt[16] | nonce[12]`.
pub const PASSWORD_HEADER_LEN: usize = 1 + 4 + SALT_LEN + NONCE_LEN;
/// Bytes a password envelope adds to its plaintext: 33-byte header + 16-byte tag.
pub const PASSWORD_OVERHEAD: usize = PASSWORD_HEADER_LEN + TAG_LEN;

/// Seals `plaintext` under `password` with [`DEFAULT_ITERATIONS`].
pub fn seal(password: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    seal_with_iterations(password, DEFAULT_ITERATIONS, plaintext, aad)
}

/// Seals `plaintext` under `password` with `iterations` PBKDF2 rounds
/// (in `MIN_ITERATIONS..=MAX_ITERATIONS`).
pub fn seal_with_iterations(
    password: &[u8],
    iterations: u32,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    check_password(password)?;
    check_iterations(iterations)?;
    if plaintext.len() as u64 > aead::MAX_PLAINTEXT {
        return Err(CryptoError::TooLarge {
            len: plaintext.len() as u64,
            max: aead::MAX_PLAINTEXT,
        });
    }
    let mut salt = [0u8; SALT_LEN];
    rng::fill(&mut salt)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng::fill(&mut nonce)?;
    seal_with_header(
        password,
        PasswordHeader {
            iterations,
            salt,
            nonce,
        },
        plaintext,
        aad,
    )
}

/// Writes a password envelope for `header` (iterations, salt and nonce already chosen).
pub(crate) fn seal_with_header(
    password: &[u8],
    header: PasswordHeader,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let head = header.to_bytes();
    let key = derive_key(password, &header.salt, header.iterations);
    let cipher = aead::cipher(&key);
    let mut out = Vec::with_capacity(plaintext.len() + PASSWORD_OVERHEAD);
    out.extend_from_slice(&head);
    aead::seal_into(&cipher, &header.nonce, &head, aad, plaintext, &mut out)?;
    Ok(out)
}

/// Opens a password envelope. The iteration count is checked against
/// `MIN_ITERATIONS..=MAX_ITERATIONS` before any key derivation.
pub fn open(
    password: &[u8],
    envelope: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_password(password)?;
    let (header, body) = parse(envelope)?;
    let key = derive_key(password, &header.salt, header.iterations);
    let cipher = aead::cipher(&key);
    aead::open(
        &cipher,
        &header.nonce,
        &envelope[..PASSWORD_HEADER_LEN],
        aad,
        body,
    )
}

/// PBKDF2-HMAC-SHA256(password, salt, iterations) → 32-byte key, wiped on drop.
pub(crate) fn derive_key(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    pbkdf2_sha256(password, salt, iterations, &mut key[..]);
    key
}

/// RFC 8018 §5.2 PBKDF2 with HMAC-SHA256 as the PRF.
pub(crate) fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out);
}

fn check_password(password: &[u8]) -> Result<(), CryptoError> {
    if password.is_empty() {
        Err(CryptoError::EmptyPassword)
    } else {
        Ok(())
    }
}

fn check_iterations(iterations: u32) -> Result<(), CryptoError> {
    if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        Ok(())
    } else {
        Err(CryptoError::InvalidIterations {
            iterations,
            min: MIN_ITERATIONS,
            max: MAX_ITERATIONS,
        })
    }
}

/// The parsed header of a password envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHeader {
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// PBKDF2 salt.
    pub salt: [u8; SALT_LEN],
    /// GCM nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl PasswordHeader {
    /// The 33 header bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; PASSWORD_HEADER_LEN] {
        let mut h = [0u8; PASSWORD_HEADER_LEN];
        h[0] = PASSWORD_V1;
        h[1..5].copy_from_slice(&self.iterations.to_be_bytes());
        h[5..5 + SALT_LEN].copy_from_slice(&self.salt);
        h[5 + SALT_LEN..].copy_from_slice(&self.nonce);
        h
    }
}

/// Splits a password envelope into header and `ciphertext || tag`; checks the format byte, the
/// length and the iteration range. Never panics.
pub fn parse(envelope: &[u8]) -> Result<(PasswordHeader, &[u8]), CryptoError> {
    let Some(&version) = envelope.first() else {
        return Err(CryptoError::Malformed("empty envelope"));
    };
    match version {
        PASSWORD_V1 => {}
        ENVELOPE_V1 => {
            return Err(CryptoError::Malformed(
                "a keyset-sealed envelope; open it with its keyset, not a password",
            ));
        }
        v => return Err(CryptoError::UnsupportedVersion(v)),
    }
    if envelope.len() < PASSWORD_OVERHEAD {
        return Err(CryptoError::Malformed(
            "envelope shorter than its 49-byte overhead",
        ));
    }
    let (h, body) = envelope.split_at(PASSWORD_HEADER_LEN);
    let mut it = [0u8; 4];
    it.copy_from_slice(&h[1..5]);
    let iterations = u32::from_be_bytes(it);
    check_iterations(iterations)?;
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&h[5..5 + SALT_LEN]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&h[5 + SALT_LEN..]);
    Ok((
        PasswordHeader {
            iterations,
            salt,
            nonce,
        },
        body,
    ))
}
