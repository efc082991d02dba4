//! Layer 5: the seccomp filter.
//!
//! Three BPF programs, all compiled before `fork`:
//! 1. the deny list (the plain data of [`table::deny_table`], compiled by [`filter::compile`]
//!    with `seccompiler`), answering `EPERM`;
//! 2. `clone3` answering `ENOSYS`: its flags live in memory a filter cannot read, so libc is
//!    told the call does not exist and falls back to `clone`, whose flags the deny list checks;
//! 3. a hand-written guard ([`arch::arch_guard`]), installed last so that it runs first,
//!    killing the process for a foreign architecture (e.g. `int 0x80` i386 calls on x86_64)
//!    or an x32 system call number.
//!
//! Everything not listed is allowed: the filter removes the kernel interfaces a compromised
//! model runtime could use to reach the network, other processes, the kernel keyring or the
//! kernel's attack surface, and leaves ordinary computation alone.

pub mod allow;
#[cfg(test)]
mod allow_tests;
pub mod arch;
pub mod filter;
pub mod table;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::{Arc, OnceLock};

use seccompiler::BpfProgram;

pub use allow::{AllowRule, Check, SyscallProfile, runner_cpu_table, runner_gpu_table};
pub use arch::{AUDIT_ARCH, X32_SYSCALL_BIT, arch_guard};
pub use filter::{compile, compile_allow};
pub use table::{CLONE_NAMESPACE_FLAGS, DenyRule, When, deny_table, enosys_table};

use crate::error::SandboxError;

/// The three compiled programs, in installation order.
pub(super) struct Prepared {
    programs: Arc<[BpfProgram; 3]>,
}

/// The programs depend on nothing but the architecture and whether the policy grants writes:
/// compiled once per process for each of the two.
static PROGRAMS: [OnceLock<Arc<[BpfProgram; 3]>>; 2] = [OnceLock::new(), OnceLock::new()];

impl Prepared {
    /// `grants_writes`: the policy grants a read-write path, so the metadata calls
    /// ([`table::metadata_calls`]) stay allowed.
    pub(super) fn new(grants_writes: bool) -> Result<Self, SandboxError> {
        let cache = &PROGRAMS[usize::from(grants_writes)];
        if let Some(programs) = cache.get() {
            return Ok(Prepared {
                programs: Arc::clone(programs),
            });
        }
        let programs = Arc::new([
            compile(&deny_table(grants_writes), libc::EPERM)?,
            compile(&enosys_table(), libc::ENOSYS)?,
            arch_guard(),
        ]);
        let _ = cache.set(Arc::clone(&programs));
        Ok(Prepared { programs })
    }

    /// Installs the programs. `all_threads` adds `SECCOMP_FILTER_FLAG_TSYNC` (for a running
    /// process). Async-signal-safe: the `sock_fprog` is built on the stack around vectors
    /// allocated before `fork`, then one raw `seccomp` call per program.
    pub(super) fn install(&self, all_threads: bool) -> io::Result<()> {
        let flags: libc::c_ulong = if all_threads {
            libc::SECCOMP_FILTER_FLAG_TSYNC
        } else {
            0
        };
        for p in self.programs.iter() {
            let len =
                u16::try_from(p.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
            let prog = libc::sock_fprog {
                len,
                filter: p.as_ptr().cast_mut().cast::<libc::sock_filter>(),
            };
            // SAFETY: prog points at a valid BPF program of `len` instructions (seccompiler's
            // sock_filter has libc's layout) that outlives the call; the kernel copies it.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    flags,
                    &prog as *const libc::sock_fprog,
                )
            };
            // With TSYNC a positive return is the id of a thread that could not be synced.
            if rc != 0 {
                return Err(if rc > 0 {
                    io::Error::from_raw_os_error(libc::EBUSY)
                } else {
                    io::Error::last_os_error()
                });
            }
        }
        Ok(())
    }
}

/// The runner's programs, in installation order: `clone3` answering `ENOSYS`, the
/// architecture guard, then the allow-list (`EPERM` for everything not listed). The
/// allow-list comes last because it refuses `seccomp` itself; it lets `clone3` through to the
/// first program, whose `ENOSYS` then stands (the most severe answer of all filters wins, and
/// libc falls back to `clone` only on `ENOSYS`, never on `EPERM`).
pub fn runner_programs(profile: SyscallProfile) -> Result<[BpfProgram; 3], SandboxError> {
    Ok([
        compile(&enosys_table(), libc::ENOSYS)?,
        arch_guard(),
        compile_allow(&profile.table(), libc::EPERM)?,
    ])
}

/// Installs the runner's system call allow-list on the calling process, every thread
/// (`SECCOMP_FILTER_FLAG_TSYNC`). Filters stack: the sandbox's deny list stays in force
/// below it, and nothing can remove either.
pub(crate) fn restrict_runner(profile: SyscallProfile) -> Result<(), SandboxError> {
    let programs = runner_programs(profile)?;
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) takes integers only. Needed to install a filter
    // without CAP_SYS_ADMIN; the sandbox has set it already, so this only repeats it.
    crate::linux::sys::check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
        .map_err(|error| SandboxError::Os {
            step: "set no_new_privs before the runner's allow-list",
            error,
        })?;
    Prepared {
        programs: Arc::new(programs),
    }
    .install(true)
    .map_err(|error| SandboxError::Os {
        step: "install the runner's system call allow-list",
        error,
    })
}

/// Whether the kernel accepts seccomp filters.
pub(super) fn available() -> bool {
    let ret_errno: u32 = 0x0005_0000;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from a valid pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &ret_errno as *const u32,
        )
    };
    rc == 0
}
