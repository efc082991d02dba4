//! Layer 2: resource limits.
//!
//! Soft and hard limits are both set, so the sandboxed process cannot raise them again. A
//! requested limit above the current hard limit is clamped to it (raising a hard limit needs
//! `CAP_SYS_RESOURCE` in the initial namespace, which the sandbox never has). `RLIMIT_CORE` is
//! always 0: a core file would hold the session key.
//!
//! `RLIMIT_NPROC` is counted per user *per user namespace*, so inside the sandbox it counts the
//! sandbox's own processes and threads. The kernel does not apply it to uid 0 of the initial
//! namespace (`copy_process` exempts `INIT_USER`), and the sandbox keeps the caller's uid, so a
//! root caller gets a `Degraded` report for the process limit.

use std::io;

use crate::policy::ResourceLimits;

use super::sys;

const MAX: usize = 5;

/// The limits to set, resolved before `fork`.
pub(super) struct Prepared {
    entries: [(libc::c_int, u64); MAX],
    len: usize,
}

impl Prepared {
    pub(super) fn new(limits: ResourceLimits) -> Self {
        let wanted = [
            (libc::RLIMIT_CORE as libc::c_int, Some(0)),
            (libc::RLIMIT_AS as libc::c_int, limits.address_space),
            (libc::RLIMIT_CPU as libc::c_int, limits.cpu_seconds),
            (libc::RLIMIT_NOFILE as libc::c_int, limits.open_files),
            (libc::RLIMIT_NPROC as libc::c_int, limits.processes),
        ];
        let mut entries = [(0, 0); MAX];
        let mut len = 0;
        for (resource, value) in wanted {
            if let Some(v) = value {
                let hard = current_hard(resource).unwrap_or(u64::MAX);
                entries[len] = (resource, v.min(hard));
                len += 1;
            }
        }
        Prepared { entries, len }
    }

    /// The (resource, value) pairs that will be set.
    #[cfg(test)]
    pub(super) fn entries(&self) -> &[(libc::c_int, u64)] {
        &self.entries[..self.len]
    }

    /// Sets the limits. Async-signal-safe: raw `prlimit64` on values on the stack.
    pub(super) fn apply(&self) -> io::Result<()> {
        for &(resource, value) in &self.entries[..self.len] {
            let rl = libc::rlimit64 {
                rlim_cur: value,
                rlim_max: value,
            };
            // SAFETY: pid 0 = self; rl is a valid rlimit64; old limit pointer is NULL.
            sys::check_long(unsafe {
                libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    resource,
                    &rl as *const libc::rlimit64,
                    std::ptr::null_mut::<libc::rlimit64>(),
                )
            })?;
        }
        Ok(())
    }
}

fn current_hard(resource: libc::c_int) -> Option<u64> {
    let mut rl = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: pid 0 = self; no new limit; rl is a valid out pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            resource,
            std::ptr::null::<libc::rlimit64>(),
            &mut rl as *mut libc::rlimit64,
        )
    };
    (rc == 0).then_some(rl.rlim_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_dumps_are_always_disabled_and_unset_limits_are_left_alone() {
        let p = Prepared::new(ResourceLimits::default());
        assert_eq!(p.entries(), [(libc::RLIMIT_CORE as libc::c_int, 0)]);
    }

    #[test]
    fn every_requested_limit_is_set_in_order() {
        let p = Prepared::new(ResourceLimits {
            address_space: Some(1 << 30),
            cpu_seconds: Some(5),
            open_files: Some(64),
            processes: Some(8),
        });
        let resources: Vec<_> = p.entries().iter().map(|e| e.0).collect();
        assert_eq!(
            resources,
            [
                libc::RLIMIT_CORE as libc::c_int,
                libc::RLIMIT_AS as libc::c_int,
                libc::RLIMIT_CPU as libc::c_int,
                libc::RLIMIT_NOFILE as libc::c_int,
                libc::RLIMIT_NPROC as libc::c_int
            ]
        );
        assert_eq!(p.entries()[2].1, 5);
    }
}
