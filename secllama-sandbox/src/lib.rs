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
// Backends: Linux (namespaces, Landlock, seccomp); macOS (Seatbelt); Windows (firewall, job
// object). The macOS and Windows builders are pure and compiled and tested on every OS.
#[cfg(target_os = "linux")]
mod linux;
mod macos;
mod windows;
// Hardening of the host process itself.
mod harden;
// Shared helpers.
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
// macOS: Seatbelt with options beyond `apply_to`'s defaults.
#[cfg(target_os = "macos")]
pub use macos::apply_seatbelt;
pub use macos::{SeatbeltIpc, SeatbeltOptions};
// Windows: the guard that owns a runner's firewall rules and job object.
#[cfg(windows)]
pub use windows::{WindowsSandbox, cleanup_rules};

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
    #[cfg(windows)]
    pub use crate::windows::firewall_check;
    pub use crate::windows::{
        AddrRange, Direction, FirewallRule, JobLimits, MAX_PROGRAM_PATH_LEN, MAX_RUNNER_ID_LEN,
        RULE_PREFIX, check_program_path, cleanup_plan, delete_args, list_args, netsh_path,
        new_runner_id, non_loopback_ranges, parse_rule_names, rule_name, runner_id_from_rule_name,
        runner_rules,
    };
}
