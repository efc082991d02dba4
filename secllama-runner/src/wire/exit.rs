//! Exit codes of the runner process for failures before the channel exists (or after it
//! broke). The host maps them to errors.

/// Bad command line.
pub(crate) const USAGE: u8 = 64;
/// The key pipe held malformed key material.
pub(crate) const BAD_KEY: u8 = 65;
/// The host's encryption setting differs from the runner's.
pub(crate) const ENCRYPTION_MISMATCH: u8 = 66;
/// A frame from the host failed to open; the session was closed.
pub(crate) const FRAME_REJECTED: u8 = 67;
/// Another fatal error after the channel existed (reported in an error frame first).
pub(crate) const FATAL: u8 = 70;
