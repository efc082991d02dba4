//! `SandboxPolicy`: what a sandboxed process may touch, as plain data.
//!
//! The policy holds no OS handles and does no I/O until [`SandboxPolicy::apply_to`] or
//! [`SandboxPolicy::enforce_current_process`] is called, so the per-OS generators (Landlock on
//! Linux, Seatbelt on macOS, the AppContainer and job object on Windows) all read the same
//! value through its accessors.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::SandboxError;
use crate::mode::Strictness;
use crate::report::{Layer, SandboxReport};

/// Read-only (read + execute) paths every Linux policy starts with: exactly what a dynamically
/// linked program needs to start. Paths that do not exist on this machine are skipped.
///
/// Deliberately absent: the rest of `/etc` (`/etc/passwd`, `/etc/resolv.conf`, `/etc/shadow`,
/// `/etc/ssl`), `/home`, `/root`, `/tmp`, `/run` (D-Bus, the keyring and agent sockets), `/sys`,
/// `/proc` other than the sandboxed process's own `/proc/<pid>` (granted read-only at spawn time).
pub const BASELINE_READ_ONLY: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
];

/// Read-write paths every Linux policy starts with: `/dev/null` (without device ioctls).
pub const BASELINE_READ_WRITE: &[&str] = &["/dev/null"];

/// Environment variables every policy keeps; everything else is removed from the child's
/// environment.
pub const BASELINE_ENV: &[&str] = &["PATH", "LANG", "LC_ALL"];

/// Resource limits for the sandboxed process. `None` keeps the inherited limit. Core dumps are
/// always disabled (`RLIMIT_CORE = 0`), whatever this says: a core file would hold the session
/// key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResourceLimits {
    /// Address space in bytes (`RLIMIT_AS`): allocations beyond it fail with `ENOMEM`.
    pub address_space: Option<u64>,
    /// CPU time in seconds (`RLIMIT_CPU`): the process gets `SIGXCPU`, then `SIGKILL`.
    pub cpu_seconds: Option<u64>,
    /// Highest file descriptor number + 1 (`RLIMIT_NOFILE`).
    pub open_files: Option<u64>,
    /// Processes and threads of the sandboxed user (`RLIMIT_NPROC`), counted inside the
    /// sandbox's own user namespace. Not enforced for uid 0: see the crate documentation.
    pub processes: Option<u64>,
}

/// A sandbox policy: paths, devices, limits, environment and strictness. Plain data; see the
/// crate documentation for what each OS makes of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxPolicy {
    read_only: Vec<PathBuf>,
    read_write: Vec<PathBuf>,
    devices: Vec<PathBuf>,
    fds: Vec<i32>,
    limits: ResourceLimits,
    env: Vec<String>,
    strictness: Strictness,
    baseline: bool,
    simulate_unavailable: Vec<Layer>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl SandboxPolicy {
    /// A policy granting only the baseline a dynamically linked program needs to start
    /// ([`BASELINE_READ_ONLY`], [`BASELINE_READ_WRITE`], [`BASELINE_ENV`]), no network, default
    /// limits, [`Strictness::Strict`].
    pub fn new() -> Self {
        SandboxPolicy {
            read_only: Vec::new(),
            read_write: Vec::new(),
            devices: Vec::new(),
            fds: Vec::new(),
            limits: ResourceLimits::default(),
            env: BASELINE_ENV.iter().map(|s| (*s).to_owned()).collect(),
            strictness: Strictness::Strict,
            baseline: true,
            simulate_unavailable: Vec::new(),
        }
    }

    /// Grants read and execute access to `path` (a file or a whole directory tree).
    pub fn read_only(mut self, path: impl Into<PathBuf>) -> Self {
        self.read_only.push(path.into());
        self
    }

    /// Grants read, write, create and delete access to `path` (a file or a directory tree).
    pub fn read_write(mut self, path: impl Into<PathBuf>) -> Self {
        self.read_write.push(path.into());
        self
    }

    /// Grants read, write and device-specific `ioctl`s on a device node, e.g.
    /// `/dev/dri/renderD128` for a GPU.
    pub fn device(mut self, path: impl Into<PathBuf>) -> Self {
        self.devices.push(path.into());
        self
    }

    /// Passes the open descriptor `fd` (a number above 2, e.g. a socketpair end) to the
    /// sandboxed program under the same number. On Linux every other descriptor above 2 is
    /// closed at `exec`, whatever the host left inheritable; stdin, stdout and stderr are what
    /// the `Command` sets. Other systems pass what the `Command` makes inheritable.
    pub fn pass_fd(mut self, fd: i32) -> Self {
        if !self.fds.contains(&fd) {
            self.fds.push(fd);
        }
        self
    }

    /// Sets the resource limits.
    pub fn limits(mut self, limits: ResourceLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Keeps the environment variable `name` (from the `Command` if it sets it, otherwise from
    /// the calling process); every variable not on the allow-list is removed.
    pub fn allow_env(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.env.contains(&name) {
            self.env.push(name);
        }
        self
    }

    /// Sets the strictness (see [`Strictness`]).
    pub fn strictness(mut self, strictness: Strictness) -> Self {
        self.strictness = strictness;
        self
    }

    /// Drops the baseline paths, so that only the paths added explicitly are reachable. For
    /// static programs and for testing.
    pub fn without_baseline(mut self) -> Self {
        self.baseline = false;
        self
    }

    /// Test-only switch: behave as if the kernel could not provide `layer`. The strictness
    /// tests use it to prove both modes without a machine that really lacks the feature.
    #[doc(hidden)]
    pub fn simulate_unavailable(mut self, layer: Layer) -> Self {
        if !self.simulate_unavailable.contains(&layer) {
            self.simulate_unavailable.push(layer);
        }
        self
    }

    /// The explicitly granted read-only paths (without the baseline).
    pub fn read_only_paths(&self) -> &[PathBuf] {
        &self.read_only
    }

    /// The explicitly granted read-write paths (without the baseline).
    pub fn read_write_paths(&self) -> &[PathBuf] {
        &self.read_write
    }

    /// The allowed device nodes.
    pub fn devices(&self) -> &[PathBuf] {
        &self.devices
    }

    /// The descriptors passed with [`pass_fd`](Self::pass_fd).
    pub fn passed_fds(&self) -> &[i32] {
        &self.fds
    }

    /// The resource limits.
    pub fn resource_limits(&self) -> ResourceLimits {
        self.limits
    }

    /// The environment allow-list (baseline names included).
    pub fn env_allow_list(&self) -> &[String] {
        &self.env
    }

    /// The strictness.
    pub fn strictness_level(&self) -> Strictness {
        self.strictness
    }

    /// Whether the baseline paths are granted (true unless
    /// [`without_baseline`](Self::without_baseline) was called).
    pub fn uses_baseline(&self) -> bool {
        self.baseline
    }

    /// Layers the test-only switch marked unavailable.
    #[doc(hidden)]
    pub fn simulated_unavailable(&self) -> &[Layer] {
        &self.simulate_unavailable
    }

    /// Whether the test-only switch marked `layer` unavailable.
    #[cfg(target_os = "linux")]
    pub(crate) fn is_simulated_unavailable(&self, layer: Layer) -> bool {
        self.simulate_unavailable.contains(&layer)
    }

    /// Every read-only path: the baseline ones that exist, then the explicit ones.
    pub fn effective_read_only_paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        if self.baseline {
            out.extend(
                BASELINE_READ_ONLY
                    .iter()
                    .map(Path::new)
                    .filter(|p| p.exists())
                    .map(Path::to_path_buf),
            );
        }
        out.extend(self.read_only.iter().cloned());
        out
    }

    /// Every read-write path: the baseline ones that exist, then the explicit ones.
    pub fn effective_read_write_paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        if self.baseline {
            out.extend(
                BASELINE_READ_WRITE
                    .iter()
                    .map(Path::new)
                    .filter(|p| p.exists())
                    .map(Path::to_path_buf),
            );
        }
        out.extend(self.read_write.iter().cloned());
        out
    }

    /// Configures `cmd` so that the process it spawns runs inside the sandbox from its first
    /// instruction, and reports layer by layer what will be enforced.
    ///
    /// Everything that allocates happens here, before `fork`; the child only makes raw
    /// system calls (see the crate documentation). File descriptors the caller made
    /// inheritable stay open and usable in the child; the environment is reduced to the
    /// allow-list. In [`Strictness::Strict`] mode this fails with
    /// [`SandboxError::NetworkIsolationUnavailable`] instead of configuring a weaker sandbox.
    pub fn apply_to(&self, cmd: &mut Command) -> Result<SandboxReport, SandboxError> {
        crate::platform::backend::apply_to(self, cmd)
    }

    /// Locks down the calling process with the same layers. Call it first thing in `main`,
    /// before any thread starts: a user namespace cannot be entered by a multi-threaded
    /// process, and Landlock and capability changes apply to the calling thread only (the
    /// report says `Degraded` or `Unavailable` for those layers when other threads exist).
    pub fn enforce_current_process(&self) -> Result<SandboxReport, SandboxError> {
        crate::platform::backend::enforce_current_process(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_records_paths_env_and_limits_in_order() {
        let limits = ResourceLimits {
            address_space: Some(1 << 30),
            ..ResourceLimits::default()
        };
        let p = SandboxPolicy::new()
            .read_only("/models")
            .read_write("/tmp/x")
            .device("/dev/dri/renderD128")
            .allow_env("RUST_LOG")
            .allow_env("PATH")
            .limits(limits)
            .strictness(Strictness::BestEffort);
        assert_eq!(p.read_only_paths(), [PathBuf::from("/models")]);
        assert_eq!(p.read_write_paths(), [PathBuf::from("/tmp/x")]);
        assert_eq!(p.devices(), [PathBuf::from("/dev/dri/renderD128")]);
        assert_eq!(p.env_allow_list(), ["PATH", "LANG", "LC_ALL", "RUST_LOG"]);
        assert_eq!(p.resource_limits(), limits);
        assert_eq!(p.strictness_level(), Strictness::BestEffort);
    }

    #[test]
    fn baseline_never_contains_home_root_etc_or_run() {
        for p in BASELINE_READ_ONLY.iter().chain(BASELINE_READ_WRITE) {
            for forbidden in ["/home", "/root", "/run", "/tmp", "/sys", "/proc"] {
                assert!(!p.starts_with(forbidden), "{p} is under {forbidden}");
            }
            assert_ne!(*p, "/etc");
            assert_ne!(*p, "/dev");
        }
    }
}
