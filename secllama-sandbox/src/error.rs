//! The crate's one error type.
//!
//! **Chain rule.** Every message is one complete, lower-case line that already names its
//! cause, so a caller printing `{err}` shows everything. A cause printed in the message is
//! therefore never also returned by [`std::error::Error::source`] (a chain printer would show
//! it twice): OS errors are fields named `error`, not `source`. The only variant with a
//! `source()` is the `transparent` HTTP one, which prints nothing of its own. Paths are
//! printed quoted and escaped (`{path:?}`), so a line break in a path cannot split the line.

use std::path::PathBuf;

use crate::report::Layer;

/// Why a sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// Strict mode: a layer that network isolation depends on cannot be enforced here.
    #[error(
        "strict network isolation refused: the {layer} layer cannot be enforced ({reason}); \
         fix the kernel configuration or set SECLLAMA_STRICT_NETWORK_ISOLATION=false to run \
         with less isolation"
    )]
    NetworkIsolationUnavailable {
        /// The missing layer.
        layer: Layer,
        /// Why it is missing.
        reason: String,
    },
    /// Strict mode: the file system layer cannot be enforced here, so the sandboxed process
    /// could read every file its user can.
    #[error(
        "strict sandbox refused: the {layer} layer cannot be enforced ({reason}); without it the \
         sandboxed process can read every file you can; use a kernel with Landlock or set \
         SECLLAMA_STRICT_NETWORK_ISOLATION=false to run with less isolation"
    )]
    FilesystemIsolationUnavailable {
        /// The missing layer.
        layer: Layer,
        /// Why it is missing.
        reason: String,
    },
    /// Strict mode: a confinement layer (the mount and PID namespaces of sandbox v2) cannot be
    /// set up here; the reason names the cause and the fix.
    #[error(
        "strict sandbox refused: the {layer} layer cannot be enforced: {reason}; or set \
         SECLLAMA_STRICT_NETWORK_ISOLATION=false to run with less isolation"
    )]
    LayerUnavailable {
        /// The missing layer.
        layer: Layer,
        /// Why it is missing, and the fix.
        reason: String,
    },
    /// A path named in the policy cannot be opened to build a rule for it.
    #[error(
        "sandbox path {path:?} cannot be opened: {error}; create it or remove it from the policy"
    )]
    Path {
        /// The path.
        path: PathBuf,
        /// The OS error (printed in the message).
        error: std::io::Error,
    },
    /// The Landlock ruleset could not be built.
    #[error("landlock ruleset could not be built: {0}")]
    Landlock(String),
    /// The seccomp filter could not be compiled.
    #[error("seccomp filter could not be compiled: {0}")]
    Seccomp(String),
    /// A system call that sets up a layer failed.
    #[error("sandbox step '{step}' failed: {error}")]
    Os {
        /// The step, e.g. `unshare(CLONE_NEWUSER|CLONE_NEWNET)`.
        step: &'static str,
        /// The OS error (printed in the message).
        error: std::io::Error,
    },
    /// An environment setting has a value that is not a boolean.
    #[error("{name} has invalid value {value:?}: use true or false")]
    InvalidSetting {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A path cannot be expressed safely for this OS's sandbox mechanism (Seatbelt parameters
    /// must be UTF-8; Windows grants need an absolute drive path): refused, never approximated.
    #[error("sandbox path {path:?} cannot be used: {reason}")]
    UnrepresentablePath {
        /// The path.
        path: PathBuf,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// A runner id cannot name a Windows AppContainer.
    #[error("invalid runner id {id:?}: use 1 to 48 ascii letters, digits, '-' or '.'")]
    InvalidRunnerId {
        /// The id given (truncated).
        id: String,
    },
    /// This operating system has no implementation of the requested operation.
    #[error("not supported: {what}")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// One value of every variant (a new variant without a line here fails to compile in
    /// `every_variant_is_listed`).
    fn all() -> Vec<SandboxError> {
        vec![
            SandboxError::NetworkIsolationUnavailable {
                layer: Layer::NetworkNamespace,
                reason: "simulated".into(),
            },
            SandboxError::FilesystemIsolationUnavailable {
                layer: Layer::LandlockFilesystem,
                reason: "simulated".into(),
            },
            SandboxError::LayerUnavailable {
                layer: Layer::MountNamespace,
                reason: "simulated".into(),
            },
            SandboxError::Path {
                path: "/nope".into(),
                error: std::io::Error::from_raw_os_error(2),
            },
            SandboxError::Landlock("x".into()),
            SandboxError::Seccomp("x".into()),
            SandboxError::Os {
                step: "unshare",
                error: std::io::Error::from_raw_os_error(1),
            },
            SandboxError::InvalidSetting {
                name: "SECLLAMA_ENABLE_SANDBOX",
                value: "x".into(),
            },
            SandboxError::UnrepresentablePath {
                path: "/a\nb".into(),
                reason: "contains a line break",
            },
            SandboxError::InvalidRunnerId { id: "x y".into() },
            SandboxError::Unsupported { what: "x" },
        ]
    }

    #[test]
    fn every_variant_is_listed() {
        for e in all() {
            match e {
                SandboxError::NetworkIsolationUnavailable { .. }
                | SandboxError::FilesystemIsolationUnavailable { .. }
                | SandboxError::LayerUnavailable { .. }
                | SandboxError::Path { .. }
                | SandboxError::Landlock(_)
                | SandboxError::Seccomp(_)
                | SandboxError::Os { .. }
                | SandboxError::InvalidSetting { .. }
                | SandboxError::UnrepresentablePath { .. }
                | SandboxError::InvalidRunnerId { .. }
                | SandboxError::Unsupported { .. } => {}
            }
        }
    }

    #[test]
    fn every_variant_prints_one_lower_case_line_naming_its_cause_once() {
        for e in all() {
            let s = e.to_string();
            println!("{s}");
            assert!(!s.contains('\n'), "{s}");
            assert!(!s.ends_with('.'), "{s}");
            let first = s.chars().next().unwrap();
            assert!(!first.is_uppercase() || s.starts_with("SECLLAMA_"), "{s}");
            // The chain rule: the cause is in the message and not repeated by source().
            assert!(e.source().is_none(), "{s}: {:?}", e.source());
        }
        let os = SandboxError::Os {
            step: "unshare",
            error: std::io::Error::from_raw_os_error(1),
        };
        assert_eq!(
            os.to_string(),
            format!(
                "sandbox step 'unshare' failed: {}",
                std::io::Error::from_raw_os_error(1)
            )
        );
    }
}
