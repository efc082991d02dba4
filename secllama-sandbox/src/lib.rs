#![doc = include_str!("../README.md")]

// What a sandbox may touch and how strictly, as plain data.
mod env;
mod mode;
mod policy;
// What it enforces, what the machine can enforce, and why it failed.
mod error;
mod probe;
mod report;
// The one cfg seam choosing the backend below.
mod platform;
// Backends: Linux (namespaces, Landlock, seccomp); macOS (Seatbelt); Windows (AppContainer,
// job object). The macOS and Windows builders are pure and compiled and tested on every OS.
#[cfg(target_os = "linux")]
mod linux;
mod macos;
mod windows;
// Hardening of the host process itself.
mod harden;
// The system call allow-list a runner installs on itself.
mod syscalls;
// Shared helpers.
mod stdio;
mod text;
// The loopback-only HTTP client (feature `http`).

pub use env::{SandboxSettings, parse_bool};
pub use error::SandboxError;
pub use harden::{HostHardening, harden_current_process};
pub use mode::{SandboxMode, Strictness};
pub use policy::{
    BASELINE_ENV, BASELINE_READ_ONLY, BASELINE_READ_WRITE, ResourceLimits, SandboxPolicy,
};
pub use probe::{Capabilities, platform_sandbox_check, probe};
pub use report::{Layer, LayerReport, LayerState, SandboxReport};
pub use syscalls::SyscallProfile;

/// Installs the runner's system call allow-list ([`SyscallProfile`]) on the calling process,
/// every thread: a runner calls it right after start, before it reads its first frame or
/// opens the model. Everything the list does not name answers `EPERM` (`clone3` `ENOSYS`, so
/// libc falls back to `clone`); a foreign architecture kills the process. It stacks on the
/// sandbox's own filter, and nothing removes it.
///
/// ```no_run
/// # fn main() -> Result<(), secllama_sandbox::SandboxError> {
/// secllama_sandbox::restrict_runner_syscalls(secllama_sandbox::SyscallProfile::Cpu)?;
/// // From here on, e.g. `uname` or a new socket fails with EPERM.
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`SandboxError::Unsupported`] off Linux, [`SandboxError::Seccomp`] if the table does not
/// compile, [`SandboxError::Os`] if the kernel refuses the filter.
pub fn restrict_runner_syscalls(profile: SyscallProfile) -> Result<(), SandboxError> {
    #[cfg(target_os = "linux")]
    {
        linux::seccomp::restrict_runner(profile)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = profile;
        Err(SandboxError::Unsupported {
            what: "a system call allow-list off Linux",
        })
    }
}
pub use stdio::ChildStdio;
// macOS: Seatbelt with options beyond `apply_to`'s defaults.
#[cfg(target_os = "macos")]
pub use macos::apply_seatbelt;
pub use macos::{SeatbeltIpc, SeatbeltOptions};
// Windows: the AppContainer launcher.
#[cfg(windows)]
pub use windows::{SandboxedProcess, WindowsLaunch, launch as windows_launch};

/// Platform internals for tests, fuzz targets and tooling; not a stable API. The pure
/// builders of every backend are here on every OS, so Linux CI tests and fuzzes them.
#[doc(hidden)]
pub mod internal {
    #[cfg(target_os = "linux")]
    pub use crate::linux::seccomp;
    pub use crate::macos::{
        FILTERLESS_OPERATIONS, KNOWN_OPERATIONS, MACOS_BASELINE_READ_ONLY,
        MACOS_BASELINE_READ_WRITE, METAL_IOKIT_CLIENTS, METAL_IOKIT_CONNECTIONS,
        METAL_IOKIT_PROPERTIES, METAL_MACH_SERVICES, METAL_READ_ONLY, METAL_SHADER_CACHE,
        SANDBOX_EXEC, SYSCTL_NAMES, SYSCTL_PREFIXES, SeatbeltProfile, lint_profile, seatbelt_check,
    };
    pub use crate::windows::{
        CONTAINER_PREFIX, CreationAttribute, FILE_GENERIC_READ, FILE_GENERIC_READ_EXECUTE,
        FileGrant, JobLimits, MAX_CONTAINER_NAME_LEN, UILIMIT_ALL, command_line, container_name,
        creation_attributes, creation_flags, environment_block, file_grants, new_runner_id,
        strip_verbatim,
    };
}
