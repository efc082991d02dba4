//! Hardening of the host process itself (the one that holds keys): no core dump and, on
//! Linux, no `ptrace` or `/proc/<pid>/mem` access by the user's other processes.

use crate::error::SandboxError;

/// What [`harden_current_process`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostHardening {
    /// `PR_SET_DUMPABLE 0` was set (Linux): processes of the same user can no longer `ptrace`
    /// this one or read its memory through `/proc`, and it never dumps core.
    pub not_dumpable: bool,
    /// The soft and hard `RLIMIT_CORE` are 0 (Unix): no sibling can raise the soft limit back
    /// and make the process dump its memory (raising the hard limit needs
    /// `CAP_SYS_RESOURCE`).
    pub no_core_dumps: bool,
}

/// Hardens the calling process, which holds keys: `PR_SET_DUMPABLE 0` (Linux) and a hard core
/// limit of 0 (Unix). Inherited by children until they `exec`. Idempotent. Windows: nothing
/// to do here (no core files; other processes' access is governed by the process DACL), so
/// both fields are `false`.
///
/// The `secllama` CLI and server call it at startup; `secllama-runner` calls it when a
/// runner is spawned (unless `RunnerConfig::with_host_hardening(false)`).
///
/// ```
/// # fn main() -> Result<(), secllama_sandbox::SandboxError> {
/// let done = secllama_sandbox::harden_current_process()?;
/// if cfg!(target_os = "linux") {
///     assert!(done.not_dumpable && done.no_core_dumps);
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`SandboxError::Os`] naming the call that failed.
pub fn harden_current_process() -> Result<HostHardening, SandboxError> {
    imp::harden()
}

#[cfg(unix)]
mod imp {
    use super::HostHardening;
    use crate::error::SandboxError;

    pub(super) fn harden() -> Result<HostHardening, SandboxError> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
                return Err(SandboxError::Os {
                    step: "prctl(PR_SET_DUMPABLE, 0)",
                    error: std::io::Error::last_os_error(),
                });
            }
        }
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads one valid rlimit struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
            return Err(SandboxError::Os {
                step: "setrlimit(RLIMIT_CORE, 0)",
                error: std::io::Error::last_os_error(),
            });
        }
        Ok(HostHardening {
            not_dumpable: cfg!(target_os = "linux"),
            no_core_dumps: true,
        })
    }
}

#[cfg(not(unix))]
mod imp {
    use super::HostHardening;
    use crate::error::SandboxError;

    pub(super) fn harden() -> Result<HostHardening, SandboxError> {
        Ok(HostHardening {
            not_dumpable: false,
            no_core_dumps: false,
        })
    }
}
