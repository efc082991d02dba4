//! The one place that picks the platform backend. Every backend offers the same shape:
//!
//! - `apply_to(policy, cmd)`: configure a `Command` so its child runs sandboxed;
//! - `enforce_current_process(policy)`: lock down the calling process;
//! - `check(strictness)`: what `secllama sandbox check` reports beyond [`probe`](crate::probe)
//!   (`None` where `apply_to` itself is the check, as on Linux);
//! - `probe()`: what the OS and kernel can enforce.
//!
//! The pure builders of every backend (Seatbelt profiles, AppContainer grants, job and
//! process-creation plans) are compiled and
//! unit-tested on every OS; only this seam is `cfg`'d.

#[cfg(target_os = "linux")]
pub(crate) use crate::linux as backend;
#[cfg(target_os = "macos")]
pub(crate) use crate::macos as backend;
#[cfg(windows)]
pub(crate) use crate::windows as backend;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub(crate) use unsupported as backend;

/// Operating systems without a sandbox: every operation says so.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod unsupported {
    use std::process::Command;

    use crate::{Capabilities, SandboxError, SandboxPolicy, SandboxReport, Strictness};

    pub(crate) fn apply_to(
        _policy: &SandboxPolicy,
        _cmd: &mut Command,
    ) -> Result<SandboxReport, SandboxError> {
        Err(SandboxError::Unsupported {
            what: "apply_to on this operating system",
        })
    }

    pub(crate) fn enforce_current_process(
        _policy: &SandboxPolicy,
    ) -> Result<SandboxReport, SandboxError> {
        Err(SandboxError::Unsupported {
            what: "enforce_current_process on this operating system",
        })
    }

    pub(crate) fn check(_strictness: Strictness) -> Option<Result<SandboxReport, SandboxError>> {
        None
    }

    pub(crate) fn probe() -> Capabilities {
        Capabilities {
            os: std::env::consts::OS,
            ..Capabilities::default()
        }
    }
}
