//! Keysets, envelopes and password sealing (`secllama-crypto`).

use secllama_crypto::{Keyset, password};

use crate::buf::secllama_buf;
use crate::error::{fail, fail_with};
use crate::handle::{Handle, into_raw, try_bytes, try_free, try_mut, try_out, try_ref};
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

/// Bytes an envelope adds to its plaintext: `0x01 | key id (4) | nonce (12)` + 16-byte tag.
pub const SECLLAMA_ENVELOPE_OVERHEAD: usize = 33;
/// Bytes a password envelope adds: `0x02 | iterations (4) | salt (16) | nonce (12)` + tag.
pub const SECLLAMA_PASSWORD_OVERHEAD: usize = 49;
/// PBKDF2 iterations used when `secllama_password_seal` is given 0.
pub const SECLLAMA_PASSWORD_DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewest PBKDF2 iterations accepted when sealing and opening.
pub const SECLLAMA_PASSWORD_MIN_ITERATIONS: u32 = 100_000;
/// Most PBKDF2 iterations accepted when sealing and opening.
pub const SECLLAMA_PASSWORD_MAX_ITERATIONS: u32 = 10_000_000;

/// A keyset: AES-256-GCM keys with ids and statuses, one of them primary (Tink-style).
///
/// Made by `secllama_keyset_generate`, `secllama_keyset_from_bytes` or
/// `secllama_keystore_load`; released with `secllama_keyset_free`, which wipes the keys.
/// `seal`, `open`, `to_bytes`, `primary_id` and `keys_json` only read the keyset and may run on
/// several threads at once; `rotate`, `enable`, `disable` and `destroy` need it exclusively.
pub struct secllama_keyset {
    _private: [u8; 0],
}

impl Handle for secllama_keyset {
    type Rust = Keyset;
    const NAME: &'static str = "keyset";
}

/// Generates a keyset with one fresh key (primary) from the OS random number generator.
///
/// On success `*out_keyset` is a new keyset owned by the caller: release it with
/// `secllama_keyset_free`. On error it is set to NULL.
///
/// # Safety
/// `out_keyset` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_generate(
    out_keyset: *mut *mut secllama_keyset,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_keyset);
        out.write(std::ptr::null_mut());
        let ks = Keyset::try_generate().map_err(fail_with)?;
        out.write(into_raw(ks));
        Ok(())
    })
}

/// Parses a keyset serialized by `secllama_keyset_to_bytes`.
///
/// On success `*out_keyset` is a new keyset owned by the caller (release it with
/// `secllama_keyset_free`); on error it is NULL and the status says what is wrong
/// (`SECLLAMA_STATUS_MALFORMED`, `..._UNSUPPORTED_VERSION`, `..._KEYSET_INVALID`, ...). The
/// caller keeps ownership of `bytes`.
///
/// # Safety
/// `bytes` is NULL (only with `len` 0) or valid for reading `len` bytes; `out_keyset` is NULL
/// or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_from_bytes(
    bytes: *const u8,
    len: usize,
    out_keyset: *mut *mut secllama_keyset,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_keyset);
        out.write(std::ptr::null_mut());
        let bytes = try_bytes!(bytes, len);
        let ks = Keyset::from_bytes(bytes).map_err(fail_with)?;
        out.write(into_raw(ks));
        Ok(())
    })
}

/// Serializes the keyset, key material included (a secret: store it only sealed, e.g. in the
/// keychain).
///
/// On success `*out_buf` holds the bytes, owned by the caller: release them with
/// `secllama_buf_free`, which wipes them.
///
/// # Safety
/// `keyset` is NULL or a live keyset; `out_buf` is NULL or valid for writing a `secllama_buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_to_bytes(
    keyset: *const secllama_keyset,
    out_buf: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_buf);
        out.write(secllama_buf::EMPTY);
        let ks = try_ref!(keyset);
        out.write(secllama_buf::from_secret(ks.to_bytes()));
        Ok(())
    })
}

/// Adds a fresh key and makes it primary; older keys stay enabled for opening. Writes the new
/// key's id to `*out_key_id`.
///
/// # Safety
/// `keyset` is NULL or a live keyset not used by another thread during the call; `out_key_id`
/// is NULL or valid for writing a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_rotate(
    keyset: *mut secllama_keyset,
    out_key_id: *mut u32,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_key_id);
        out.write(0);
        let mut ks = try_mut!(keyset);
        let id = ks.rotate().map_err(fail_with)?;
        out.write(id);
        Ok(())
    })
}

/// Writes the id of the primary (sealing) key to `*out_key_id`.
///
/// # Safety
/// `keyset` is NULL or a live keyset; `out_key_id` is NULL or valid for writing a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_primary_id(
    keyset: *const secllama_keyset,
    out_key_id: *mut u32,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_key_id);
        out.write(0);
        let ks = try_ref!(keyset);
        out.write(ks.primary_id());
        Ok(())
    })
}

/// Re-enables a disabled key.
///
/// # Safety
/// `keyset` is NULL or a live keyset not used by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_enable(
    keyset: *mut secllama_keyset,
    key_id: u32,
) -> secllama_status {
    ffi_boundary!({ try_mut!(keyset).enable(key_id).map_err(fail_with) })
}

/// Disables a key (not the primary): it opens nothing until enabled again.
///
/// # Safety
/// `keyset` is NULL or a live keyset not used by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_disable(
    keyset: *mut secllama_keyset,
    key_id: u32,
) -> secllama_status {
    ffi_boundary!({ try_mut!(keyset).disable(key_id).map_err(fail_with) })
}

/// Destroys a key (not the primary): its material is wiped, a tombstone stays so envelopes
/// under it report `SECLLAMA_STATUS_KEY_DESTROYED`.
///
/// # Safety
/// `keyset` is NULL or a live keyset not used by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_destroy(
    keyset: *mut secllama_keyset,
    key_id: u32,
) -> secllama_status {
    ffi_boundary!({ try_mut!(keyset).destroy(key_id).map_err(fail_with) })
}

/// Describes the keys as JSON (never their bytes):
/// `[{"id":1234,"status":"enabled","primary":true,"created":1763770000}, ...]`.
///
/// On success `*out_json` holds UTF-8 JSON (not NUL-terminated), owned by the caller: release
/// it with `secllama_buf_free`.
///
/// # Safety
/// `keyset` is NULL or a live keyset; `out_json` is NULL or valid for writing a `secllama_buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_keys_json(
    keyset: *const secllama_keyset,
    out_json: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_json);
        out.write(secllama_buf::EMPTY);
        let ks = try_ref!(keyset);
        let json =
            serde_json::to_vec(&ks.keys()).map_err(|e| fail(secllama_status::CryptoOther, e))?;
        out.write(secllama_buf::from_vec(json));
        Ok(())
    })
}

/// Seals `plaintext` with the primary key into an envelope
/// (`plaintext_len + SECLLAMA_ENVELOPE_OVERHEAD` bytes). `aad` (associated data, e.g. a record
/// id) is authenticated but not stored: `secllama_keyset_open` needs the same `aad`.
///
/// On success `*out_envelope` holds the envelope, owned by the caller: release it with
/// `secllama_buf_free`. `(NULL, 0)` is a valid empty plaintext or `aad`. The caller keeps
/// ownership of the inputs.
///
/// # Safety
/// `keyset` is NULL or a live keyset; each data pointer is NULL (only with length 0) or valid
/// for reading its length; `out_envelope` is NULL or valid for writing a `secllama_buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_seal(
    keyset: *const secllama_keyset,
    plaintext: *const u8,
    plaintext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out_envelope: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_envelope);
        out.write(secllama_buf::EMPTY);
        let ks = try_ref!(keyset);
        let plaintext = try_bytes!(plaintext, plaintext_len);
        let aad = try_bytes!(aad, aad_len);
        let envelope = ks.seal(plaintext, aad).map_err(fail_with)?;
        out.write(secllama_buf::from_vec(envelope));
        Ok(())
    })
}

/// Opens an envelope made by `secllama_keyset_seal` with the same `aad`.
///
/// On success `*out_plaintext` holds the plaintext, owned by the caller: release it with
/// `secllama_buf_free`, which wipes it. Each of these means the envelope does not open, with
/// no plaintext written: `SECLLAMA_STATUS_AUTHENTICATION_FAILED` (modified envelope, another
/// keyset or another `aad`), `SECLLAMA_STATUS_KEY_UNKNOWN` (its key id is not in this keyset:
/// a foreign keyset, or a modified key id), `SECLLAMA_STATUS_UNSUPPORTED_VERSION` (a version
/// byte this library does not know: a newer writer, or a modified byte),
/// `SECLLAMA_STATUS_MALFORMED` (too short to be an envelope), and `..._KEY_DISABLED` /
/// `..._KEY_DESTROYED` for a key that is not usable. Treat them all as "does not open".
///
/// # Safety
/// As `secllama_keyset_seal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_open(
    keyset: *const secllama_keyset,
    envelope: *const u8,
    envelope_len: usize,
    aad: *const u8,
    aad_len: usize,
    out_plaintext: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_plaintext);
        out.write(secllama_buf::EMPTY);
        let ks = try_ref!(keyset);
        let envelope = try_bytes!(envelope, envelope_len);
        let aad = try_bytes!(aad, aad_len);
        let plaintext = ks.open(envelope, aad).map_err(fail_with)?;
        out.write(secllama_buf::from_secret(plaintext));
        Ok(())
    })
}

/// Frees a keyset, wiping its keys. Accepts NULL.
///
/// Returns `SECLLAMA_STATUS_BUSY`, freeing nothing, while a call on the handle is running
/// (a free from one of its callbacks or from another thread): free it after that call returns.
///
/// # Safety
/// `keyset` is NULL or a live keyset that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keyset_free(keyset: *mut secllama_keyset) -> secllama_status {
    ffi_boundary!({ try_free!(keyset) })
}

/// Seals `plaintext` under a password: PBKDF2-HMAC-SHA256 with a random salt derives the
/// AES-256-GCM key. `iterations` 0 means `SECLLAMA_PASSWORD_DEFAULT_ITERATIONS`; otherwise it
/// must be within `SECLLAMA_PASSWORD_MIN_ITERATIONS..=SECLLAMA_PASSWORD_MAX_ITERATIONS`
/// (`SECLLAMA_STATUS_INVALID_ITERATIONS`). The count is stored in the envelope.
///
/// On success `*out_envelope` holds the envelope (`plaintext_len +
/// SECLLAMA_PASSWORD_OVERHEAD` bytes), owned by the caller: release it with
/// `secllama_buf_free`. An empty password gives `SECLLAMA_STATUS_EMPTY_PASSWORD`.
///
/// # Safety
/// Each data pointer is NULL (only with length 0) or valid for reading its length;
/// `out_envelope` is NULL or valid for writing a `secllama_buf`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn secllama_password_seal(
    password: *const u8,
    password_len: usize,
    iterations: u32,
    plaintext: *const u8,
    plaintext_len: usize,
    aad: *const u8,
    aad_len: usize,
    out_envelope: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_envelope);
        out.write(secllama_buf::EMPTY);
        let password = try_bytes!(password, password_len);
        let plaintext = try_bytes!(plaintext, plaintext_len);
        let aad = try_bytes!(aad, aad_len);
        let iterations = if iterations == 0 {
            password::DEFAULT_ITERATIONS
        } else {
            iterations
        };
        let envelope = password::seal_with_iterations(password, iterations, plaintext, aad)
            .map_err(fail_with)?;
        out.write(secllama_buf::from_vec(envelope));
        Ok(())
    })
}

/// Opens a password envelope with the same password and `aad`.
///
/// On success `*out_plaintext` holds the plaintext, owned by the caller: release it with
/// `secllama_buf_free`, which wipes it. Each of these means the envelope does not open, with
/// no plaintext written: `SECLLAMA_STATUS_AUTHENTICATION_FAILED` (a wrong password or `aad`, or
/// a modified envelope), `SECLLAMA_STATUS_UNSUPPORTED_VERSION` (an unknown version byte),
/// `SECLLAMA_STATUS_MALFORMED` (too short), and `SECLLAMA_STATUS_INVALID_ITERATIONS` (an
/// iteration count outside the accepted range, refused before any work is done).
///
/// # Safety
/// As `secllama_password_seal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_password_open(
    password: *const u8,
    password_len: usize,
    envelope: *const u8,
    envelope_len: usize,
    aad: *const u8,
    aad_len: usize,
    out_plaintext: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_plaintext);
        out.write(secllama_buf::EMPTY);
        let password = try_bytes!(password, password_len);
        let envelope = try_bytes!(envelope, envelope_len);
        let aad = try_bytes!(aad, aad_len);
        let plaintext = password::open(password, envelope, aad).map_err(fail_with)?;
        out.write(secllama_buf::from_secret(plaintext));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_constants_equal_the_crypto_crate_constants() {
        assert_eq!(
            SECLLAMA_ENVELOPE_OVERHEAD,
            secllama_crypto::ENVELOPE_OVERHEAD
        );
        assert_eq!(SECLLAMA_PASSWORD_OVERHEAD, password::PASSWORD_OVERHEAD);
        assert_eq!(
            SECLLAMA_PASSWORD_DEFAULT_ITERATIONS,
            password::DEFAULT_ITERATIONS
        );
        assert_eq!(SECLLAMA_PASSWORD_MIN_ITERATIONS, password::MIN_ITERATIONS);
        assert_eq!(SECLLAMA_PASSWORD_MAX_ITERATIONS, password::MAX_ITERATIONS);
    }
}
