//! `Key`: 256 bits of AES key material that wipes itself.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, rng};

/// Length of a key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// A 256-bit AES-GCM key.
///
/// The bytes live in one heap allocation that is never copied by moves and is zeroized on drop.
/// `Debug` prints `Key(..)` only.
pub struct Key {
    bytes: Box<[u8; KEY_LEN]>,
}

impl Key {
    /// A fresh random key from the operating system's random number generator.
    ///
    /// # Panics
    ///
    /// Only if the operating system cannot provide random bytes (no `getrandom(2)`), in which
    /// case no key can be made safely; use [`Key::try_generate`] to get an error instead.
    #[must_use]
    pub fn generate() -> Key {
        match Key::try_generate() {
            Ok(k) => k,
            #[allow(
                clippy::panic,
                reason = "documented: no safe key exists without an OS RNG"
            )]
            Err(e) => panic!("{e}"),
        }
    }

    /// A fresh random key, or [`CryptoError::Random`] if the OS generator fails.
    pub fn try_generate() -> Result<Key, CryptoError> {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        rng::fill(&mut bytes[..])?;
        Ok(Key { bytes })
    }

    /// A key from exactly [`KEY_LEN`] bytes (the caller still owns and should wipe `b`).
    pub fn from_bytes(b: &[u8]) -> Result<Key, CryptoError> {
        if b.len() != KEY_LEN {
            return Err(CryptoError::InvalidKeyLength {
                expected: KEY_LEN,
                actual: b.len(),
            });
        }
        let mut bytes = Box::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(b);
        Ok(Key { bytes })
    }

    /// The raw key bytes, for storing the key (e.g. in an OS keychain). Do not log them.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl Clone for Key {
    fn clone(&self) -> Self {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&self.bytes[..]);
        Key { bytes }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Constant-time comparison of the key bytes.
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.bytes[..].ct_eq(&other.bytes[..]).into()
    }
}

impl Eq for Key {}
