//! `probe()`: what this OS and kernel can enforce.

use std::fmt;

use crate::error::SandboxError;
use crate::mode::Strictness;
use crate::report::{Layer, LayerState, SandboxReport};

/// What the running system can enforce. Fields for other operating systems are `false` /
/// `None` where they do not apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The operating system (`linux`, `macos`, `windows`, ...).
    pub os: &'static str,
    /// Kernel release (`uname -r`), when known.
    pub kernel: Option<String>,
    /// Whether the process runs as root (uid 0) / elevated.
    pub root: bool,
    /// Landlock ABI version, `None` when Landlock is not available.
    pub landlock_abi: Option<u32>,
    /// Whether seccomp filters (`SECCOMP_SET_MODE_FILTER`) are available.
    pub seccomp_filter: bool,
    /// Whether this process can create a user namespace and map its own uid in it.
    pub user_namespaces: bool,
    /// Whether this process can create a network namespace (inside a new user namespace
    /// unless it is root).
    pub network_namespaces: bool,
    /// Why namespaces are unavailable, when they are.
    pub namespace_error: Option<String>,
    /// Linux: why the v2 confinement of a spawned child (mount, PID, IPC, UTS, cgroup
    /// namespaces, minimal root with `pivot_root`) cannot be had here; `None` when it can.
    pub confine_error: Option<String>,
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = |b: bool| if b { "yes" } else { "no" };
        writeln!(f, "{:<22} {}", "os", self.os)?;
        if let Some(k) = &self.kernel {
            writeln!(f, "{:<22} {k}", "kernel")?;
        }
        writeln!(f, "{:<22} {}", "root", yes(self.root))?;
        match self.landlock_abi {
            Some(abi) => writeln!(f, "{:<22} ABI {abi}", "landlock")?,
            None => writeln!(f, "{:<22} no", "landlock")?,
        }
        writeln!(f, "{:<22} {}", "seccomp filter", yes(self.seccomp_filter))?;
        writeln!(f, "{:<22} {}", "user namespaces", yes(self.user_namespaces))?;
        write!(
            f,
            "{:<22} {}",
            "network namespaces",
            yes(self.network_namespaces)
        )?;
        if let Some(e) = &self.namespace_error {
            write!(f, " ({e})")?;
        }
        writeln!(f)?;
        if self.os == "linux" {
            // Sandbox v2: mount, PID, IPC, UTS and cgroup namespaces with a minimal root.
            match &self.confine_error {
                None => writeln!(f, "{:<22} yes", "mount/pid namespaces")?,
                Some(e) => writeln!(f, "{:<22} no ({e})", "mount/pid namespaces")?,
            }
        }
        Ok(())
    }
}

/// Reports what this OS and kernel can enforce. On Linux the namespace check forks a short
/// child that tries them; the result is cached for the life of the process.
pub fn probe() -> Capabilities {
    crate::platform::backend::probe()
}

/// What this OS's sandbox could enforce beyond [`probe`], layer by layer (`secllama sandbox
/// check`): macOS → Seatbelt (a generated profile runs `/usr/bin/true`); Windows → the
/// AppContainer (can one be created) and the job object; `None` on Linux, where
/// [`SandboxPolicy::apply_to`](crate::SandboxPolicy::apply_to) on a command that is never
/// spawned is the check.
///
/// With [`Strictness::Strict`], a missing network layer (Seatbelt, AppContainer) is the same
/// [`SandboxError::NetworkIsolationUnavailable`] a runner start would get.
///
/// ```
/// use secllama_sandbox::{Strictness, platform_sandbox_check};
/// if cfg!(target_os = "linux") {
///     assert!(platform_sandbox_check(Strictness::Strict).is_none());
/// }
/// ```
pub fn platform_sandbox_check(
    strictness: Strictness,
) -> Option<Result<SandboxReport, SandboxError>> {
    crate::platform::backend::check(strictness)
}

/// Fails in strict mode when `network_layer` is not enforced in `report`.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) fn strict_check(
    report: SandboxReport,
    network_layer: Layer,
    strictness: Strictness,
) -> Result<SandboxReport, SandboxError> {
    if strictness == Strictness::Strict {
        let reason = match report.state(network_layer) {
            Some(LayerState::Enforced) => return Ok(report),
            Some(LayerState::Degraded(r) | LayerState::Unavailable(r)) => r.clone(),
            None => "not reported".to_owned(),
        };
        return Err(SandboxError::NetworkIsolationUnavailable {
            layer: network_layer,
            reason,
        });
    }
    Ok(report)
}
