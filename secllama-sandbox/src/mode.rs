//! How hard to insist on isolation: [`Strictness`] and [`SandboxMode`].

/// What to do when a layer this OS could provide is missing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strictness {
    /// Refuse (with [`SandboxError::NetworkIsolationUnavailable`] naming the layer) unless
    /// network isolation is fully enforced, and (with
    /// [`SandboxError::FilesystemIsolationUnavailable`]) when the OS cannot restrict file
    /// access at all. The default.
    ///
    /// [`SandboxError::NetworkIsolationUnavailable`]: crate::SandboxError::NetworkIsolationUnavailable
    /// [`SandboxError::FilesystemIsolationUnavailable`]: crate::SandboxError::FilesystemIsolationUnavailable
    #[default]
    Strict,
    /// Apply every layer that exists and emit a warning audit event for each one that does not.
    BestEffort,
}

/// Whether to sandbox a process at all, and how strictly. Read it from the environment with
/// [`SandboxSettings::mode`](crate::SandboxSettings::mode).
///
/// ```
/// use secllama_sandbox::{SandboxMode, Strictness};
/// assert_eq!(SandboxMode::default(), SandboxMode::Enabled(Strictness::Strict));
/// assert_eq!(SandboxMode::Disabled.strictness(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Sandbox the process; with [`Strictness::Strict`] refuse to start unless network
    /// isolation is fully enforced.
    Enabled(Strictness),
    /// No sandbox at all (debugging only; logged as a warning).
    Disabled,
}

impl Default for SandboxMode {
    fn default() -> Self {
        SandboxMode::Enabled(Strictness::Strict)
    }
}

impl SandboxMode {
    /// The strictness when enabled, `None` when disabled.
    pub fn strictness(self) -> Option<Strictness> {
        match self {
            SandboxMode::Enabled(s) => Some(s),
            SandboxMode::Disabled => None,
        }
    }
}
