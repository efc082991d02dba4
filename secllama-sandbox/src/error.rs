//! The crate's one error type.

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
    /// A path named in the policy cannot be opened to build a rule for it.
    #[error("sandbox path {} cannot be opened: {source}; create it or remove it from the policy", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Landlock ruleset could not be built.
    #[error("landlock ruleset could not be built: {0}")]
    Landlock(String),
    /// The seccomp filter could not be compiled.
    #[error("seccomp filter could not be compiled: {0}")]
    Seccomp(String),
    /// A system call that sets up a layer failed.
    #[error("sandbox step '{step}' failed: {source}")]
    Os {
        /// The step, e.g. `unshare(CLONE_NEWUSER|CLONE_NEWNET)`.
        step: &'static str,
        /// The OS error.
        source: std::io::Error,
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
    /// must be UTF-8; netsh cannot carry some characters): refused, never approximated.
    #[error("sandbox path {} cannot be used: {reason}", path.display())]
    UnrepresentablePath {
        /// The path.
        path: PathBuf,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// A runner id cannot name a Windows firewall rule.
    #[error("invalid runner id {id:?}: use 1 to 64 ascii letters, digits, '-' or '_'")]
    InvalidRunnerId {
        /// The id given (truncated).
        id: String,
    },
    /// A [`LocalhostClient`](crate::LocalhostClient) request failed or was refused.
    #[cfg(feature = "http")]
    #[error(transparent)]
    Http(#[from] crate::HttpError),
    /// This operating system has no implementation of the requested operation.
    #[error("not supported: {what}")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_prints_one_lower_case_line() {
        let all = [
            SandboxError::NetworkIsolationUnavailable {
                layer: Layer::NetworkNamespace,
                reason: "simulated".into(),
            },
            SandboxError::FilesystemIsolationUnavailable {
                layer: Layer::LandlockFilesystem,
                reason: "simulated".into(),
            },
            SandboxError::Path {
                path: "/nope".into(),
                source: std::io::Error::from_raw_os_error(2),
            },
            SandboxError::Landlock("x".into()),
            SandboxError::Seccomp("x".into()),
            SandboxError::Os {
                step: "unshare",
                source: std::io::Error::from_raw_os_error(1),
            },
            SandboxError::InvalidSetting {
                name: "SECLLAMA_ENABLE_SANDBOX",
                value: "x".into(),
            },
            SandboxError::Unsupported { what: "x" },
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
            assert!(!s.ends_with('.'), "{s}");
            let first = s.chars().next().unwrap();
            assert!(!first.is_uppercase() || s.starts_with("SECLLAMA_"), "{s}");
        }
    }
}
