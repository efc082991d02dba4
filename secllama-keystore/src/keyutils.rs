//! Listing the kernel keyring: keyring-core's keyutils store cannot search, so the keys of a
//! service are found here by reading the session keyring and the user's persistent keyring
//! (where a key stays after its session ended) and describing every key in them.
//!
//! Each key found becomes an [`Entry`] bound to its kernel serial number, so reading, updating
//! and deleting act on exactly that key, even when it is linked only to the persistent keyring
//! (the orphans `delete` used to miss).

use std::collections::BTreeSet;
use std::sync::Arc;

use keyring_core::api::CredentialApi;
use keyring_core::{Credential, Entry, Error as KrError};

use crate::backend::KEYUTILS_PREFIX;
use crate::records::is_our_user;

const KEYCTL_UPDATE: libc::c_long = 2;
const KEYCTL_DESCRIBE: libc::c_long = 6;
const KEYCTL_READ: libc::c_long = 11;
const KEYCTL_INVALIDATE: libc::c_long = 21;
const KEYCTL_GET_PERSISTENT: libc::c_long = 22;
const KEY_SPEC_SESSION_KEYRING: i32 = -3;

/// The most bytes read from one key or keyring (a keyring of 16,384 links).
const MAX_READ: usize = 64 * 1024;

/// Every key of `service` in the session and persistent keyrings, with its user name.
pub(crate) fn list(service: &str) -> Result<Vec<(Entry, String)>, KrError> {
    let mut rings = vec![KEY_SPEC_SESSION_KEYRING];
    // The persistent keyring (linked into the session keyring by the keyutils store too);
    // kernels without it just do not have one.
    if let Ok(id) = sys::keyctl(
        KEYCTL_GET_PERSISTENT,
        -1,
        KEY_SPEC_SESSION_KEYRING.into(),
        0,
    ) {
        rings.push(i32::try_from(id).unwrap_or(KEY_SPEC_SESSION_KEYRING));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for ring in rings {
        let links = match sys::read(ring) {
            Ok(bytes) => bytes,
            Err(e) if e == libc::ENOKEY => continue,
            Err(e) => return Err(os_error(e)),
        };
        for chunk in links.chunks_exact(4) {
            let serial = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if !seen.insert(serial) {
                continue;
            }
            // A key that vanished or that we may not view is not ours to list.
            let Ok(desc) = sys::describe(serial) else {
                continue;
            };
            if let Some(user) = our_user(&desc, service) {
                let item = Item {
                    serial,
                    service: service.to_owned(),
                    user: user.clone(),
                };
                out.push((Entry::new_with_credential(Arc::new(item)), user));
            }
        }
    }
    Ok(out)
}

/// The user name in a `describe` answer (`type;uid;gid;perm;description`) when it is a `user`
/// key of `service`: `secllama:<user>@<service>`.
fn our_user(describe: &str, service: &str) -> Option<String> {
    let mut parts = describe.splitn(5, ';');
    if parts.next()? != "user" {
        return None;
    }
    let desc = parts.nth(3)?;
    let rest = desc.strip_prefix(KEYUTILS_PREFIX)?;
    let (user, svc) = rest.split_once('@')?;
    (svc == service && is_our_user(user)).then(|| user.to_owned())
}

fn os_error(errno: i32) -> KrError {
    match errno {
        libc::ENOKEY | libc::EKEYREVOKED | libc::EKEYEXPIRED => KrError::NoEntry,
        libc::EACCES => KrError::NoStorageAccess(std::io::Error::from_raw_os_error(errno).into()),
        _ => KrError::PlatformFailure(std::io::Error::from_raw_os_error(errno).into()),
    }
}

/// One key of the kernel keyring, by serial number.
#[derive(Debug)]
struct Item {
    serial: i32,
    service: String,
    user: String,
}

impl CredentialApi for Item {
    fn set_secret(&self, secret: &[u8]) -> keyring_core::Result<()> {
        sys::update(self.serial, secret).map_err(os_error)
    }

    fn get_secret(&self) -> keyring_core::Result<Vec<u8>> {
        sys::read(self.serial).map_err(os_error)
    }

    fn delete_credential(&self) -> keyring_core::Result<()> {
        sys::keyctl(KEYCTL_INVALIDATE, self.serial.into(), 0, 0)
            .map(drop)
            .map_err(os_error)
    }

    fn get_credential(&self) -> keyring_core::Result<Option<Arc<Credential>>> {
        Ok(None)
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        Some((self.service.clone(), self.user.clone()))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[allow(unsafe_code)]
mod sys {
    use zeroize::Zeroize as _;

    use super::MAX_READ;

    /// `keyctl(2)` with integer arguments; the errno on failure.
    pub(super) fn keyctl(
        op: libc::c_long,
        a: libc::c_long,
        b: libc::c_long,
        c: libc::c_long,
    ) -> Result<libc::c_long, i32> {
        // SAFETY: every operation passed here takes only integer arguments (serials, uids,
        // flags); no memory of ours is handed to the kernel.
        let rc = unsafe { libc::syscall(libc::SYS_keyctl, op, a, b, c, 0 as libc::c_long) };
        if rc < 0 {
            Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO))
        } else {
            Ok(rc)
        }
    }

    /// `KEYCTL_READ` or `KEYCTL_DESCRIBE` into a buffer of `guess` bytes, grown (bounded) when
    /// the kernel reports more: one system call for the common sizes instead of a sizing call
    /// first, since a listing describes every key of the session and persistent keyrings.
    fn read_op(op: libc::c_long, serial: i32, guess: usize) -> Result<Vec<u8>, i32> {
        let mut buf: Vec<u8> = vec![0; guess];
        for _ in 0..4 {
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which lives and is
            // not moved during the call; it returns the full size, which may exceed it.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_keyctl,
                    op,
                    libc::c_long::from(serial),
                    buf.as_mut_ptr(),
                    buf.len(),
                    0 as libc::c_long,
                )
            };
            if rc < 0 {
                buf.zeroize();
                return Err(std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO));
            }
            let got = usize::try_from(rc).unwrap_or(usize::MAX);
            if got <= buf.len() {
                buf.truncate(got);
                return Ok(buf);
            }
            // Too small (or it grew meanwhile): wipe what was copied, size again.
            buf.zeroize();
            if got > MAX_READ {
                return Err(libc::E2BIG);
            }
            buf = vec![0; got];
        }
        buf.zeroize();
        Err(libc::EAGAIN)
    }

    /// A key's payload (records are at most 2,048 bytes) or a keyring's serials (4 bytes each).
    pub(super) fn read(serial: i32) -> Result<Vec<u8>, i32> {
        read_op(super::KEYCTL_READ, serial, 4096)
    }

    pub(super) fn describe(serial: i32) -> Result<String, i32> {
        // `type;uid;gid;perm;description`: ours are well under 256 bytes.
        let mut bytes = read_op(super::KEYCTL_DESCRIBE, serial, 256)?;
        if bytes.last() == Some(&0) {
            bytes.pop();
        }
        String::from_utf8(bytes).map_err(|_| libc::EINVAL)
    }

    pub(super) fn update(serial: i32, payload: &[u8]) -> Result<(), i32> {
        // SAFETY: the kernel reads `payload.len()` bytes from `payload`, which is borrowed for
        // the whole call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                super::KEYCTL_UPDATE,
                libc::c_long::from(serial),
                payload.as_ptr(),
                payload.len(),
                0 as libc::c_long,
            )
        };
        if rc < 0 {
            Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::our_user;

    #[test]
    fn only_user_keys_of_the_service_with_our_names_are_listed() {
        let d = |s: &str| format!("user;0;0;3f010000;{s}");
        assert_eq!(
            our_user(&d("secllama:key-7@app"), "app"),
            Some("key-7".into())
        );
        assert_eq!(
            our_user(&d("secllama:primary@app"), "app"),
            Some("primary".into())
        );
        assert_eq!(our_user(&d("secllama:key-7@app2"), "app"), None);
        assert_eq!(our_user(&d("secllama:key-7@a"), "app"), None);
        assert_eq!(our_user(&d("secllama:other@app"), "app"), None);
        assert_eq!(our_user(&d("keyring:key-7@app"), "app"), None);
        assert_eq!(
            our_user("keyring;0;0;3f010000;secllama:key-7@app", "app"),
            None
        );
        assert_eq!(our_user("user;0;0;3f", "app"), None);
    }
}
