//! Layer 4: Landlock, handling every access right of the best ABI the kernel offers.
//!
//! The ruleset is created and filled in the parent with the `landlock` crate (which allocates
//! and opens every path): read-only paths get `Execute | ReadFile | ReadDir`, read-write paths
//! every file system right except `IoctlDev`, device nodes `ReadFile | WriteFile | IoctlDev`.
//! No network rule is added, so with ABI ≥ 4 every TCP `bind` and `connect` is denied; with
//! ABI ≥ 6 abstract unix sockets and signals are scoped to the sandbox's own domain.
//!
//! The child then needs two things only it can do, both raw system calls on memory prepared
//! before `fork`: add a read-only rule for its own `/proc/<pid>` (its pid does not exist before
//! `fork`; `open("/proc/self", O_PATH)` + `landlock_add_rule`), and
//! `landlock_restrict_self(ruleset_fd, 0)`. The crate's `restrict_self()` is not used in the
//! child because it allocates. The ruleset fd is created `O_CLOEXEC` by the kernel, so the
//! sandboxed program never sees it.
//!
//! Granted paths under `/proc` (e.g. `/proc/driver/nvidia`) get their rules in the child too,
//! at the same moment: a sandbox v2 child has a `/proc` of its own, whose inodes are not the
//! host's, so a rule on the host's `/proc/...` would grant nothing inside.
//!
//! The child's `/proc/<pid>` rule is added to the ruleset object shared with the parent, so a
//! `Command` spawned twice carries the first child's (dead) `/proc/<pid>` into the second;
//! that directory belongs to a process that no longer exists and grants nothing.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};

use crate::error::SandboxError;
use crate::report::{Layer, LayerState};

use super::sys;

const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;

/// `struct landlock_path_beneath_attr` (packed, 12 bytes).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// A created, filled ruleset, ready for `landlock_restrict_self` in the child.
pub(super) struct Prepared {
    ruleset: OwnedFd,
    proc_access: u64,
    /// Granted paths under `/proc`, with their access bits, for the child's own `/proc`.
    proc_grants: Vec<(CString, u64)>,
}

/// The kernel's Landlock ABI version, `None` when Landlock is unavailable.
pub(super) fn kernel_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a NULL attr, size 0 and the VERSION flag the call only returns a number.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(v).ok().filter(|v| *v > 0)
}

/// How each Landlock layer will be reported for `abi`.
pub(super) fn states(abi: Option<u32>) -> [(Layer, LayerState); 3] {
    let Some(abi) = abi else {
        let why = || {
            LayerState::Unavailable(
                "the kernel has no Landlock (needs Linux 5.13 with landlock in the LSM list)"
                    .into(),
            )
        };
        return [
            (Layer::LandlockFilesystem, why()),
            (Layer::LandlockNetwork, why()),
            (Layer::LandlockScopes, why()),
        ];
    };
    let fs = match abi {
        1 => LayerState::Degraded(format!(
            "landlock ABI {abi}: renaming/linking across directories, truncate and device ioctls are not restricted"
        )),
        2 => LayerState::Degraded(format!(
            "landlock ABI {abi}: truncate and device ioctls are not restricted"
        )),
        3 | 4 => LayerState::Degraded(format!(
            "landlock ABI {abi}: device ioctls are not restricted"
        )),
        _ => LayerState::Enforced,
    };
    let net = if abi >= 4 {
        LayerState::Enforced
    } else {
        LayerState::Unavailable(format!("landlock ABI {abi} < 4 has no TCP rules"))
    };
    let scopes = if abi >= 6 {
        LayerState::Enforced
    } else {
        LayerState::Unavailable(format!(
            "landlock ABI {abi} < 6 cannot scope abstract unix sockets and signals"
        ))
    };
    [
        (Layer::LandlockFilesystem, fs),
        (Layer::LandlockNetwork, net),
        (Layer::LandlockScopes, scopes),
    ]
}

fn err(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Landlock(e.to_string())
}

fn file_rights(abi: ABI) -> BitFlags<AccessFs> {
    AccessFs::from_all(abi)
        & (AccessFs::ReadFile
            | AccessFs::WriteFile
            | AccessFs::Execute
            | AccessFs::Truncate
            | AccessFs::IoctlDev)
}

fn rule(
    path: &Path,
    access: BitFlags<AccessFs>,
    abi: ABI,
    proc_grants: &mut Vec<(CString, u64)>,
) -> Result<PathBeneath<PathFd>, SandboxError> {
    let meta = std::fs::metadata(path).map_err(|error| SandboxError::Path {
        path: path.to_path_buf(),
        error,
    })?;
    let access = if meta.is_dir() {
        access
    } else {
        access & file_rights(abi)
    };
    if path.starts_with("/proc")
        && let Ok(c) = CString::new(path.as_os_str().as_bytes())
    {
        proc_grants.push((c, access.bits()));
    }
    let fd = PathFd::new(path).map_err(|e| SandboxError::Path {
        path: path.to_path_buf(),
        error: io::Error::other(e.to_string()),
    })?;
    Ok(PathBeneath::new(fd, access))
}

/// Builds the ruleset in the calling (parent) process.
pub(super) fn prepare(
    read_only: &[PathBuf],
    read_write: &[PathBuf],
    devices: &[PathBuf],
    abi_version: u32,
) -> Result<Prepared, SandboxError> {
    let abi = ABI::from(i32::try_from(abi_version).unwrap_or(i32::MAX));
    let all_fs = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let write = AccessFs::from_write(abi) & !AccessFs::IoctlDev;
    let device = all_fs & (AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev);

    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(all_fs)
        .map_err(err)?;
    if abi_version >= 4 {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(err)?;
    }
    if abi_version >= 6 {
        ruleset = ruleset.scope(Scope::from_all(abi)).map_err(err)?;
    }
    let mut created: RulesetCreated = ruleset.create().map_err(err)?;
    let mut proc_grants = Vec::new();
    for p in read_only {
        created = created
            .add_rule(rule(p, read, abi, &mut proc_grants)?)
            .map_err(err)?;
    }
    for p in read_write {
        created = created
            .add_rule(rule(p, read | write, abi, &mut proc_grants)?)
            .map_err(err)?;
    }
    for p in devices {
        created = created
            .add_rule(rule(p, device, abi, &mut proc_grants)?)
            .map_err(err)?;
    }
    let fd: Option<OwnedFd> = created.into();
    let ruleset = fd.ok_or_else(|| err("the kernel returned no ruleset"))?;
    Ok(Prepared {
        ruleset,
        proc_access: (all_fs & (AccessFs::ReadFile | AccessFs::ReadDir)).bits(),
        proc_grants,
    })
}

impl Prepared {
    /// Grants read access to the calling process's own `/proc/<pid>`, and the policy's
    /// granted `/proc` paths in the calling process's `/proc` (a granted path missing there is
    /// skipped). Async-signal-safe: raw `open`, `landlock_add_rule`, `close` on prepared data;
    /// the attribute lives on the stack.
    pub(super) fn allow_own_proc(&self) -> io::Result<()> {
        self.add_rule(c"/proc/self", libc::O_DIRECTORY, self.proc_access)?;
        for (path, access) in &self.proc_grants {
            match self.add_rule(path, 0, *access) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                r => r?,
            }
        }
        Ok(())
    }

    fn add_rule(&self, path: &std::ffi::CStr, flags: libc::c_int, access: u64) -> io::Result<()> {
        // SAFETY: valid NUL-terminated path.
        let fd = sys::check(unsafe {
            libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC | flags)
        })?;
        let attr = PathBeneathAttr {
            allowed_access: access,
            parent_fd: fd,
        };
        // SAFETY: attr is a valid packed landlock_path_beneath_attr; the ruleset fd is open.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.ruleset.as_raw_fd(),
                LANDLOCK_RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0u32,
            )
        };
        let result = sys::check_long(rc).map(drop);
        // SAFETY: closing the fd opened above, exactly once.
        unsafe { libc::close(fd) };
        result
    }

    /// Enforces the ruleset on the calling thread (and everything it later starts). Needs
    /// `no_new_privs` set first. Async-signal-safe: one raw system call.
    pub(super) fn restrict_self(&self) -> io::Result<()> {
        // SAFETY: the ruleset fd is open; flags 0.
        sys::check_long(unsafe {
            libc::syscall(
                libc::SYS_landlock_restrict_self,
                self.ruleset.as_raw_fd(),
                0u32,
            )
        })
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_abis_report_exactly_what_they_cannot_restrict() {
        let s = states(Some(3));
        assert_eq!(
            s[0].1,
            LayerState::Degraded("landlock ABI 3: device ioctls are not restricted".into())
        );
        assert_eq!(
            s[1].1,
            LayerState::Unavailable("landlock ABI 3 < 4 has no TCP rules".into())
        );
        assert!(matches!(states(Some(7))[2].1, LayerState::Enforced));
        assert!(matches!(states(None)[0].1, LayerState::Unavailable(_)));
    }
}
