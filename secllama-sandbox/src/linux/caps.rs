//! Layer 3: no new privileges, every capability dropped and verified, not dumpable,
//! parent-death signal.
//!
//! Order matters. `PR_SET_NO_NEW_PRIVS` first: from then on `execve` can never grant anything
//! (set-user-ID bits and file capabilities are ignored). Then the securebits that stop uid 0
//! from getting capabilities at `execve` (`SECBIT_NOROOT`), locked; then the bounding set (which
//! also caps what a uid-0 `execve` could hand out), the ambient set, and finally effective,
//! permitted and inheritable via `capset`. Everything is then read back (`capget`,
//! `PR_CAPBSET_READ`, `PR_CAP_AMBIENT_IS_SET`) and any capability left is an error.
//!
//! Dropping the bounding set needs `CAP_SETPCAP`, which the sandboxed child has in its fresh
//! user namespace; a process locking itself down without one (unprivileged, multi-threaded) can
//! only report the bounding set as kept — `no_new_privs` still makes it useless at `execve`.
//!
//! `PR_SET_DUMPABLE 0` protects the process's memory from `ptrace` and core dumps by peers.
//! `execve` resets the flag to 1 for ordinary programs, so for a spawned child it matters only
//! until exec; `RLIMIT_CORE = 0` (layer 2) is what keeps cores away after it, and a runner that
//! wants the flag calls [`crate::SandboxPolicy::enforce_current_process`] itself.

use std::io;

use super::sys;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Highest capability number we look at; the kernel answers `EINVAL` above its own last one.
const CAP_SCAN_END: libc::c_ulong = 64;

const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// What `apply` found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Outcome {
    /// The bounding set is empty.
    pub(super) bounding_empty: bool,
}

/// Everything layer 3 needs, resolved before `fork`.
pub(super) struct Prepared {
    /// The pid the child expects as its parent (for the parent-death race check), or `None`
    /// when locking down the current process.
    parent: Option<libc::pid_t>,
}

impl Prepared {
    pub(super) fn for_child() -> Self {
        // SAFETY: getpid cannot fail.
        let pid = unsafe { libc::getpid() };
        Prepared { parent: Some(pid) }
    }

    pub(super) fn for_current_process() -> Self {
        Prepared { parent: None }
    }

    /// Applies and verifies the layer. Async-signal-safe: only raw `prctl`, `capget`, `capset`
    /// and `getppid` with arguments on the stack.
    pub(super) fn apply(&self) -> io::Result<Outcome> {
        // SAFETY: prctl with integer arguments only (for all prctl calls below).
        sys::check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
        let bits = SECBIT_NOROOT
            | SECBIT_NOROOT_LOCKED
            | SECBIT_NO_SETUID_FIXUP
            | SECBIT_NO_SETUID_FIXUP_LOCKED
            | SECBIT_KEEP_CAPS_LOCKED
            | SECBIT_NO_CAP_AMBIENT_RAISE
            | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        // Needs CAP_SETPCAP; without it the bits stay as they were (no capability to lose).
        // SAFETY: as above.
        let _ = unsafe { libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) };

        let mut bounding_empty = true;
        for cap in 0..CAP_SCAN_END {
            // SAFETY: as above.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
                match sys::errno() {
                    libc::EINVAL => break, // past the kernel's last capability
                    _ => {
                        bounding_empty = false;
                        break;
                    }
                }
            }
        }
        // SAFETY: as above. EINVAL on kernels before 4.3 (no ambient set): nothing to clear.
        if unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        } != 0
            && sys::errno() != libc::EINVAL
        {
            return Err(io::Error::last_os_error());
        }
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        // SAFETY: header and data are valid v3 structures (two CapData entries).
        sys::check_long(unsafe {
            libc::syscall(
                libc::SYS_capset,
                &mut header as *mut CapHeader,
                data.as_ptr(),
            )
        })?;

        // Verify: every set must read back empty.
        let mut read = [CapData {
            effective: u32::MAX,
            permitted: u32::MAX,
            inheritable: u32::MAX,
        }; 2];
        // SAFETY: as for capset; read has room for two entries.
        sys::check_long(unsafe {
            libc::syscall(
                libc::SYS_capget,
                &mut header as *mut CapHeader,
                read.as_mut_ptr(),
            )
        })?;
        if read
            .iter()
            .any(|d| d.effective != 0 || d.permitted != 0 || d.inheritable != 0)
        {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        for cap in 0..CAP_SCAN_END {
            // SAFETY: as above.
            let ambient = unsafe {
                libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_IS_SET, cap, 0, 0)
            };
            // SAFETY: as above.
            let bounding = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) };
            if bounding < 0 {
                break; // EINVAL: past the last capability
            }
            if ambient > 0 || (bounding_empty && bounding != 0) {
                return Err(io::Error::from_raw_os_error(libc::EPERM));
            }
        }

        // SAFETY: as above.
        sys::check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) })?;
        if let Some(parent) = self.parent {
            // SAFETY: as above.
            sys::check(unsafe {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                )
            })?;
            // If the parent died before the prctl, we were reparented and the signal will
            // never come: stop here rather than run orphaned. SAFETY: getppid cannot fail.
            if unsafe { libc::getppid() } != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(Outcome { bounding_empty })
    }
}
