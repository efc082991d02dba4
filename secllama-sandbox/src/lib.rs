#![doc = include_str!("../README.md")]

mod error;
#[cfg(target_os = "linux")]
mod linux;
mod policy;
mod probe;
mod report;

pub use error::SandboxError;
pub use policy::{
    BASELINE_ENV, BASELINE_READ_ONLY, BASELINE_READ_WRITE, ResourceLimits, SandboxPolicy,
    SandboxSettings, Strictness,
};
pub use probe::{Capabilities, probe};
pub use report::{Layer, LayerReport, LayerState, SandboxReport};

/// Internals exposed for tests and tooling; not a stable API.
#[doc(hidden)]
pub mod internal {
    #[cfg(target_os = "linux")]
    pub use crate::linux::seccomp;
}
