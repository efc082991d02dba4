//! Layer 1: a new user namespace and a new network namespace.
//!
//! The child maps exactly one uid and one gid: its own, to the same number inside. Files keep
//! their owners, so whatever the caller could read through ordinary permissions (and Landlock
//! allows) stays readable — which matters as root, whose model files are often `0600` under
//! `/root`. Inside, the process holds every capability *of the new namespace* until layer 3
//! drops them; it never holds one in the parent namespace.
//!
//! The network namespace has only `lo`, and we leave it **down**: the runner talks to its host
//! over an inherited socketpair, so nothing inside needs an address; with `lo` down even a hole
//! in the other layers leaves nothing to route to (`ENETUNREACH`). Abstract unix sockets are
//! per network namespace, so the host's abstract sockets are out of reach as well.
//!
//! Root and unprivileged callers take the same path (unprivileged user namespaces are what make
//! it work without root). Root additionally drops its supplementary groups first, which only
//! root may do.

use std::ffi::CStr;
use std::io;

use super::sys;

/// Maps written to `/proc/self/{uid,gid}_map`, formatted before `fork`.
pub(super) struct Prepared {
    user: bool,
    drop_groups: bool,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl Prepared {
    /// `user`: create a user namespace (always, unless the caller is root and the kernel
    /// refuses user namespaces, in which case only the network namespace is created).
    pub(super) fn new(user: bool) -> Self {
        // SAFETY: getuid/getgid/geteuid cannot fail and touch no memory.
        let (uid, gid, euid) = unsafe { (libc::getuid(), libc::getgid(), libc::geteuid()) };
        Prepared {
            user,
            drop_groups: euid == 0,
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
        }
    }

    /// Enters the namespaces. Async-signal-safe: raw `setgroups`, `unshare`, `open`, `write`,
    /// `close` on buffers and paths prepared before `fork`; nothing allocates or locks.
    pub(super) fn apply(&self) -> io::Result<()> {
        if self.drop_groups {
            // Root only; failure (no CAP_SETGID) leaves the groups, which Landlock and the
            // uid mapping still confine. SAFETY: setgroups(0, NULL) reads no memory.
            let _ =
                unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) };
        }
        let mut flags = libc::CLONE_NEWNET;
        if self.user {
            flags |= libc::CLONE_NEWUSER;
        }
        // SAFETY: unshare takes only flags.
        sys::check(unsafe { libc::unshare(flags) })?;
        if self.user {
            write_id_maps(&self.uid_map, &self.gid_map)?;
        }
        Ok(())
    }
}

/// Writes `setgroups` = `deny` (without `CAP_SETGID` in the parent namespace, `gid_map` may
/// only be written after it, user_namespaces(7)) and the two maps of the process's new user
/// namespace. A non-dumpable process's `/proc/self` files belong to root, and the fork of a
/// host that called [`harden_current_process`](crate::harden_current_process) is
/// non-dumpable: the process is made dumpable for these three writes only, then restored.
/// Async-signal-safe.
pub(crate) fn write_id_maps(uid_map: &[u8], gid_map: &[u8]) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    let was = sys::check(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) })?;
    if was != 1 {
        // SAFETY: as above.
        sys::check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) })?;
    }
    let written = write_proc(c"/proc/self/setgroups", b"deny")
        .and_then(|()| write_proc(c"/proc/self/uid_map", uid_map))
        .and_then(|()| write_proc(c"/proc/self/gid_map", gid_map));
    if was != 1 {
        // SAFETY: as above.
        sys::check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, was, 0, 0, 0) })?;
    }
    written
}

/// `open` + one `write` + `close`; async-signal-safe.
pub(crate) fn write_proc(path: &CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: path is a valid NUL-terminated string.
    let fd = sys::check(unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
    // SAFETY: data is a valid buffer of data.len() bytes; fd was just opened.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    let result = if n < 0 {
        Err(io::Error::last_os_error())
    } else if n.unsigned_abs() != data.len() {
        Err(io::Error::from_raw_os_error(libc::EIO))
    } else {
        Ok(())
    };
    // SAFETY: closing the fd opened above, exactly once.
    unsafe { libc::close(fd) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_map_the_callers_own_ids_to_the_same_number() {
        let p = Prepared::new(true);
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!(p.uid_map, format!("{uid} {uid} 1\n").as_bytes());
        assert_eq!(p.gid_map, format!("{gid} {gid} 1\n").as_bytes());
    }
}
