//! Randomness: everything comes straight from the operating system's generator.

use rand::TryRng;
use rand::rngs::SysRng;

use crate::CryptoError;

/// Fills `dest` from the OS random number generator (`getrandom(2)` on Linux).
pub(crate) fn fill(dest: &mut [u8]) -> Result<(), CryptoError> {
    SysRng
        .try_fill_bytes(dest)
        .map_err(|e| CryptoError::Random(e.to_string()))
}

/// A random `u32` from the OS generator.
pub(crate) fn u32() -> Result<u32, CryptoError> {
    let mut b = [0u8; 4];
    fill(&mut b)?;
    Ok(u32::from_be_bytes(b))
}
