#![doc = include_str!("../README.md")]

mod error;
#[cfg(feature = "http")]
mod http;
#[cfg(target_os = "linux")]
mod linux;
mod macos;
mod policy;
mod probe;
mod report;
mod windows;

pub use error::SandboxError;
pub use policy::{
    BASELINE_ENV, BASELINE_READ_ONLY, BASELINE_READ_WRITE, ResourceLimits, SandboxPolicy,
    SandboxSettings, Strictness,
};
pub use probe::{Capabilities, probe};
pub use report::{Layer, LayerReport, LayerState, SandboxReport};
// macOS (Seatbelt) and Windows (firewall, job object): pure builders on every OS, the launch
// glue only on its own OS.
#[cfg(target_os = "macos")]
pub use macos::apply_seatbelt;
pub use macos::{
    MACOS_BASELINE_READ_ONLY, MACOS_BASELINE_READ_WRITE, METAL_IOKIT_CLIENTS, METAL_MACH_SERVICES,
    METAL_READ_ONLY, SANDBOX_EXEC, SYSCTL_NAMES, SYSCTL_PREFIXES, SeatbeltIpc, SeatbeltOptions,
    SeatbeltProfile, platform_sandbox_check, seatbelt_check,
};
pub use windows::{
    AddrRange, Direction, FirewallRule, JobLimits, MAX_PROGRAM_PATH_LEN, MAX_RUNNER_ID_LEN,
    RULE_PREFIX, check_program_path, cleanup_plan, delete_args, list_args, netsh_path,
    new_runner_id, non_loopback_ranges, parse_rule_names, rule_name, runner_id_from_rule_name,
    runner_rules,
};
#[cfg(windows)]
pub use windows::{WindowsSandbox, cleanup_rules, firewall_check};
// The loopback-only HTTP client.
#[cfg(feature = "http")]
pub use http::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT, HostResolver, HttpError, HttpResponse, HttpStream, LocalhostClient,
    LocalhostClientBuilder, MAX_REDIRECTS_LIMIT, is_loopback,
};

/// Internals exposed for tests and tooling; not a stable API.
#[doc(hidden)]
pub mod internal {
    #[cfg(target_os = "linux")]
    pub use crate::linux::seccomp;
}
