//! Keysets in the OS keychain (`secllama-keystore`).

use std::ffi::c_char;

use ::secllama_keystore::{Backend, InitOutcome, Keystore, KeystoreConfig, KeystoreStatus};

use crate::buf::secllama_buf;
use crate::crypto::secllama_keyset;
use crate::error::{fail, fail_with};
use crate::handle::{Handle, into_raw, try_free, try_opt_str, try_out, try_ref, try_str};
use crate::panic::ffi_boundary;
use crate::status::secllama_status;

/// The keyset of one service in an OS keychain (Secret Service, kernel keyring, macOS
/// Keychain, Windows Credential Manager).
///
/// Made by `secllama_keystore_open`, released with `secllama_keystore_free`. Every call is one
/// short transaction under an advisory lock shared by all processes, so several handles (in
/// one process or many) may work on one service at once; a single handle may be used from
/// several threads.
pub struct secllama_keystore {
    _private: [u8; 0],
}

impl Handle for secllama_keystore {
    type Rust = Keystore;
    const NAME: &'static str = "keystore";
}

/// Opens the keychain for `service` (1 to 64 characters from `A-Z a-z 0-9 . _ -`, e.g. your
/// application's name) and checks that it answers.
///
/// `backend` names the keychain: `"secret-service"`, `"keyutils"` (kernel keyring; lost on
/// reboot), `"keychain"` or `"credential-manager"`; NULL means the `SECLLAMA_KEYSTORE`
/// environment variable, else the OS default. There is no file fallback: with no usable
/// keychain this fails with `SECLLAMA_STATUS_KEYSTORE_NO_BACKEND` and a message saying what to
/// start or set.
///
/// On success `*out_keystore` is a new handle owned by the caller: release it with
/// `secllama_keystore_free`. On error it is NULL.
///
/// # Safety
/// `service` is NULL or a NUL-terminated string; `backend` likewise; `out_keystore` is NULL or
/// valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_open(
    service: *const c_char,
    backend: *const c_char,
    out_keystore: *mut *mut secllama_keystore,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_keystore);
        out.write(std::ptr::null_mut());
        let service = try_str!(service);
        let backend = try_opt_str!(backend);
        let mut config = KeystoreConfig::new(service).map_err(fail_with)?;
        if let Some(name) = backend {
            let b: Backend = name.parse().map_err(fail_with)?;
            config = config.backend(b);
        }
        let ks = Keystore::open(config).map_err(fail_with)?;
        out.write(into_raw(ks));
        Ok(())
    })
}

/// Writes the backend's name (e.g. `"secret-service"`) to `*out_name`: a static NUL-terminated
/// string owned by the library, never freed.
///
/// # Safety
/// `keystore` is NULL or a live keystore; `out_name` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_backend(
    keystore: *const secllama_keystore,
    out_name: *mut *const c_char,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_name);
        out.write(std::ptr::null());
        let ks = try_ref!(keystore);
        out.write(backend_c_name(ks.backend()).as_ptr().cast());
        Ok(())
    })
}

fn backend_c_name(b: Backend) -> &'static str {
    match b {
        Backend::SecretService => "secret-service\0",
        Backend::Keyutils => "keyutils\0",
        Backend::Keychain => "keychain\0",
        Backend::CredentialManager => "credential-manager\0",
        _ => "unknown\0",
    }
}

/// Creates the service's keyset: one fresh key, primary. Fails with
/// `SECLLAMA_STATUS_KEYSTORE_ALREADY_INITIALIZED` if the service has keys (see
/// `secllama_keystore_init_or_reuse`).
///
/// # Safety
/// `keystore` is NULL or a live keystore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_init(
    keystore: *const secllama_keystore,
) -> secllama_status {
    ffi_boundary!({
        try_ref!(keystore).init().map_err(fail_with)?;
        Ok(())
    })
}

/// Creates the service's keyset unless it has one; `*out_created` says whether it did.
///
/// # Safety
/// `keystore` is NULL or a live keystore; `out_created` is NULL or valid for writing a `bool`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_init_or_reuse(
    keystore: *const secllama_keystore,
    out_created: *mut bool,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_created);
        out.write(false);
        let outcome = try_ref!(keystore).init_or_reuse().map_err(fail_with)?;
        out.write(matches!(outcome, InitOutcome::Created));
        Ok(())
    })
}

/// Loads the service's keyset (creating it on first use).
///
/// On success `*out_keyset` is a new keyset owned by the caller: release it with
/// `secllama_keyset_free`. Changes to it are not written back: use the keystore's own
/// `rotate`/`disable`/`destroy`.
///
/// # Safety
/// `keystore` is NULL or a live keystore; `out_keyset` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_load(
    keystore: *const secllama_keystore,
    out_keyset: *mut *mut secllama_keyset,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_keyset);
        out.write(std::ptr::null_mut());
        let ks = try_ref!(keystore).load().map_err(fail_with)?;
        out.write(into_raw::<secllama_keyset>(ks));
        Ok(())
    })
}

/// Describes the service's keys as JSON, never their bytes:
/// `{"backend":"secret-service","service":"my-app","survives_reboot":true,"primary":1234,
/// "keys":[{"id":1234,"status":"enabled","primary":true,"created":1763770000}]}`
/// (keys oldest first, destroyed ones included). `SECLLAMA_STATUS_KEYSTORE_NOT_INITIALIZED`
/// if the service has no keys.
///
/// On success `*out_json` holds UTF-8 JSON (not NUL-terminated), owned by the caller: release
/// it with `secllama_buf_free`.
///
/// # Safety
/// `keystore` is NULL or a live keystore; `out_json` is NULL or valid for writing a
/// `secllama_buf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_status_json(
    keystore: *const secllama_keystore,
    out_json: *mut secllama_buf,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_json);
        out.write(secllama_buf::EMPTY);
        let status = try_ref!(keystore).status().map_err(fail_with)?;
        let json = status_json(&status)?;
        out.write(secllama_buf::from_vec(json));
        Ok(())
    })
}

/// The status as JSON, fields in the documented order.
#[derive(serde::Serialize)]
struct StatusJson<'a> {
    backend: &'a str,
    service: &'a str,
    survives_reboot: bool,
    primary: u32,
    keys: &'a [secllama_crypto::KeyInfo],
}

fn status_json(s: &KeystoreStatus) -> Result<Vec<u8>, secllama_status> {
    let value = StatusJson {
        backend: s.backend.name(),
        service: &s.service,
        survives_reboot: s.backend.survives_reboot(),
        primary: s.primary,
        keys: &s.keys,
    };
    serde_json::to_vec(&value).map_err(|e| fail(secllama_status::KeystoreOther, e))
}

/// Adds a fresh key to the stored keyset and makes it primary; writes its id to
/// `*out_key_id`. Older keys stay for opening.
///
/// # Safety
/// `keystore` is NULL or a live keystore; `out_key_id` is NULL or valid for writing a
/// `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_rotate(
    keystore: *const secllama_keystore,
    out_key_id: *mut u32,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_key_id);
        out.write(0);
        let id = try_ref!(keystore).rotate().map_err(fail_with)?;
        out.write(id);
        Ok(())
    })
}

/// Re-enables a disabled stored key.
///
/// # Safety
/// `keystore` is NULL or a live keystore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_enable(
    keystore: *const secllama_keystore,
    key_id: u32,
) -> secllama_status {
    ffi_boundary!({ try_ref!(keystore).enable(key_id).map_err(fail_with) })
}

/// Disables a stored key (not the primary).
///
/// # Safety
/// `keystore` is NULL or a live keystore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_disable(
    keystore: *const secllama_keystore,
    key_id: u32,
) -> secllama_status {
    ffi_boundary!({ try_ref!(keystore).disable(key_id).map_err(fail_with) })
}

/// Destroys a stored key (not the primary): its keychain entry is deleted, a tombstone stays,
/// and everything sealed under it can no longer be opened.
///
/// A key that was primary less than the grace period (24 h) ago is refused with
/// `SECLLAMA_STATUS_KEYSTORE_RECENTLY_PRIMARY` (the message says until when): a process that
/// loaded the keyset before the rotation may still be sealing with it. When you know none is,
/// use `secllama_keystore_destroy_forced`. `SECLLAMA_STATUS_KEY_IS_PRIMARY` for the primary
/// key, `SECLLAMA_STATUS_KEY_UNKNOWN` for an id the service does not have.
///
/// # Safety
/// `keystore` is NULL or a live keystore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_destroy(
    keystore: *const secllama_keystore,
    key_id: u32,
) -> secllama_status {
    ffi_boundary!({ try_ref!(keystore).destroy(key_id).map_err(fail_with) })
}

/// As `secllama_keystore_destroy`, without the grace period: destroys a key that was primary
/// until a recent rotation. Data a still-running process seals with it afterwards cannot be
/// opened, so call it only when no process can still hold the old keyset. The primary key is
/// still refused (`SECLLAMA_STATUS_KEY_IS_PRIMARY`).
///
/// # Safety
/// `keystore` is NULL or a live keystore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_destroy_forced(
    keystore: *const secllama_keystore,
    key_id: u32,
) -> secllama_status {
    ffi_boundary!({ try_ref!(keystore).destroy_forced(key_id).map_err(fail_with) })
}

/// Removes every keychain entry of the service; everything sealed under its keys becomes
/// unreadable. Writes how many entries were removed to `*out_removed`.
/// `SECLLAMA_STATUS_KEYSTORE_NOT_INITIALIZED` if the service has none.
///
/// # Safety
/// `keystore` is NULL or a live keystore; `out_removed` is NULL or valid for writing a
/// `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_delete(
    keystore: *const secllama_keystore,
    out_removed: *mut usize,
) -> secllama_status {
    ffi_boundary!({
        let out = try_out!(out_removed);
        out.write(0);
        let n = try_ref!(keystore).delete().map_err(fail_with)?;
        out.write(n);
        Ok(())
    })
}

/// Frees a keystore handle (the stored keys stay in the keychain). Accepts NULL.
///
/// Returns `SECLLAMA_STATUS_BUSY`, freeing nothing, while a call on the handle is running
/// (a free from one of its callbacks or from another thread): free it after that call returns.
///
/// # Safety
/// `keystore` is NULL or a live keystore that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secllama_keystore_free(
    keystore: *mut secllama_keystore,
) -> secllama_status {
    ffi_boundary!({ try_free!(keystore) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystore_handles_may_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Keystore>();
    }

    #[test]
    fn every_backend_has_a_nul_terminated_name_matching_the_crate() {
        for b in Backend::ALL {
            let c = backend_c_name(b);
            assert_eq!(c.strip_suffix('\0'), Some(b.name()));
        }
    }
}
