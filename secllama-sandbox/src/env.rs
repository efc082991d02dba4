//! The environment: boolean settings (`SECLLAMA_*`) and the allow-list every platform applies
//! to a sandboxed command.

use std::ffi::{OsStr, OsString};
use std::process::Command;

use crate::error::SandboxError;
use crate::mode::{SandboxMode, Strictness};

/// Parses a boolean setting: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` in any case,
/// surrounding blanks ignored; an empty value is `true` (the variable is set). Anything else is
/// `None`: callers report it instead of guessing.
///
/// ```
/// use secllama_sandbox::parse_bool;
/// assert_eq!(parse_bool(" Off "), Some(false));
/// assert_eq!(parse_bool("flase"), None);
/// ```
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A boolean setting from `value` (default `true` when unset).
fn bool_setting(name: &'static str, value: Option<String>) -> Result<bool, SandboxError> {
    match value {
        None => Ok(true),
        Some(v) => parse_bool(&v).ok_or(SandboxError::InvalidSetting { name, value: v }),
    }
}

/// The sandbox configuration read from the environment (`SECLLAMA_ENABLE_SANDBOX`,
/// `SECLLAMA_STRICT_NETWORK_ISOLATION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SandboxSettings {
    /// `SECLLAMA_ENABLE_SANDBOX` (default `true`). `false` runs the model unsandboxed and is
    /// for debugging only.
    pub enabled: bool,
    /// `SECLLAMA_STRICT_NETWORK_ISOLATION` (default `true`).
    pub strict: bool,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            enabled: true,
            strict: true,
        }
    }
}

impl SandboxSettings {
    /// Reads the settings from the process environment. Accepted values: see [`parse_bool`];
    /// anything else is an error rather than a guess. Disabling the sandbox emits a loud
    /// warning audit event.
    ///
    /// # Errors
    /// [`SandboxError::InvalidSetting`] for a value that is not a boolean.
    pub fn from_env() -> Result<Self, SandboxError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (for tests and
    /// for hosts with their own configuration source).
    ///
    /// ```
    /// use secllama_sandbox::{SandboxMode, SandboxSettings, Strictness};
    /// let s = SandboxSettings::from_lookup(|n| {
    ///     (n == "SECLLAMA_STRICT_NETWORK_ISOLATION").then(|| "false".to_owned())
    /// })?;
    /// assert_eq!(s.mode(), SandboxMode::Enabled(Strictness::BestEffort));
    /// # Ok::<(), secllama_sandbox::SandboxError>(())
    /// ```
    ///
    /// # Errors
    /// [`SandboxError::InvalidSetting`] for a value that is not a boolean.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SandboxError> {
        let enabled = bool_setting("SECLLAMA_ENABLE_SANDBOX", lookup("SECLLAMA_ENABLE_SANDBOX"))?;
        let strict = bool_setting(
            "SECLLAMA_STRICT_NETWORK_ISOLATION",
            lookup("SECLLAMA_STRICT_NETWORK_ISOLATION"),
        )?;
        let settings = SandboxSettings { enabled, strict };
        if !settings.enabled {
            tracing::warn!(
                target: "secllama::audit",
                event = "sandbox-disabled",
                "SECLLAMA_ENABLE_SANDBOX=false: the model runs WITHOUT any sandbox; \
                 a malicious model can read your files and reach the network"
            );
        } else if !settings.strict {
            tracing::warn!(
                target: "secllama::audit",
                event = "sandbox-best-effort",
                "SECLLAMA_STRICT_NETWORK_ISOLATION=false: the sandbox applies what this kernel \
                 supports and runs even without full network isolation"
            );
        }
        Ok(settings)
    }

    /// The [`Strictness`] these settings ask for.
    pub fn strictness(&self) -> Strictness {
        if self.strict {
            Strictness::Strict
        } else {
            Strictness::BestEffort
        }
    }

    /// The [`SandboxMode`] these settings ask for.
    pub fn mode(&self) -> SandboxMode {
        if self.enabled {
            SandboxMode::Enabled(self.strictness())
        } else {
            SandboxMode::Disabled
        }
    }
}

/// The environment a sandboxed command gets: each allowed name with its value from `cmd` if
/// the command sets (or removes) it, else from `lookup` (normally the current process).
/// Names compare case-insensitively on Windows, like its environment.
pub(crate) fn allowed_env(
    cmd: &Command,
    env_allow: &[String],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Vec<(String, OsString)> {
    let same = |a: &OsStr, b: &str| match a.to_str() {
        Some(a) if cfg!(windows) => a.eq_ignore_ascii_case(b),
        Some(a) => a == b,
        None => false,
    };
    let explicit: Vec<(&OsStr, Option<&OsStr>)> = cmd.get_envs().collect();
    env_allow
        .iter()
        .filter_map(|name| {
            let value = match explicit.iter().find(|(k, _)| same(k, name)) {
                Some((_, v)) => v.map(OsStr::to_owned),
                None => lookup(name),
            };
            value.map(|v| (name.clone(), v))
        })
        .collect()
}

/// Replaces `cmd`'s environment with [`allowed_env`] (values of the current process as the
/// fallback).
#[cfg(target_os = "linux")]
pub(crate) fn restrict_env(cmd: &mut Command, env_allow: &[String]) {
    let env = allowed_env(cmd, env_allow, |n| std::env::var_os(n));
    cmd.env_clear();
    cmd.envs(env);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_bool_accepts_the_documented_spellings_only() {
        for t in ["1", "true", "TRUE", " yes ", "On", ""] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "false", "No", "OFF"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("flase"), None);
        assert_eq!(parse_bool("2"), None);
    }

    #[test]
    fn settings_default_to_enabled_and_strict() {
        let s = SandboxSettings::from_lookup(|_| None).unwrap();
        assert_eq!(s, SandboxSettings::default());
        assert_eq!(s.strictness(), Strictness::Strict);
        assert_eq!(s.mode(), SandboxMode::Enabled(Strictness::Strict));
    }

    #[test]
    fn settings_parse_false_and_reject_garbage() {
        let s = SandboxSettings::from_lookup(|n| {
            (n == "SECLLAMA_STRICT_NETWORK_ISOLATION").then(|| "FALSE".to_owned())
        })
        .unwrap();
        assert_eq!(s.strictness(), Strictness::BestEffort);
        assert!(s.enabled);
        let off = SandboxSettings::from_lookup(|n| {
            (n == "SECLLAMA_ENABLE_SANDBOX").then(|| "0".to_owned())
        })
        .unwrap();
        assert_eq!(off.mode(), SandboxMode::Disabled);
        let err = SandboxSettings::from_lookup(|n| {
            (n == "SECLLAMA_ENABLE_SANDBOX").then(|| "maybe".to_owned())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SECLLAMA_ENABLE_SANDBOX has invalid value \"maybe\": use true or false"
        );
    }

    #[test]
    fn allowed_env_prefers_the_commands_own_values_and_removals() {
        let mut cmd = Command::new("/x");
        cmd.env("A", "from-cmd").env_remove("B").env("SECRET", "s");
        let lookup = |n: &str| Some(OsString::from(format!("from-process-{n}")));
        let allow = ["A".to_owned(), "B".to_owned(), "C".to_owned()];
        assert_eq!(
            allowed_env(&cmd, &allow, lookup),
            [
                ("A".to_owned(), OsString::from("from-cmd")),
                ("C".to_owned(), OsString::from("from-process-C")),
            ]
        );
    }
}
