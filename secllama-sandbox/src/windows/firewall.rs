//! Windows Firewall rules for a runner, as data, and the `netsh` argument vectors that apply
//! them. Pure code: compiled and tested on every OS.
//!
//! Windows does not filter its own loopback traffic, so "block everything but loopback" is
//! written as block rules whose remote addresses are every range *except* 127.0.0.0/8 and `::1`.
//! One outbound and one inbound rule per runner, both named `SecLlama-<runner-id>`, scoped to
//! the runner's program path.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::SandboxError;

/// Every rule this crate creates is named `SecLlama-<runner-id>`.
pub const RULE_PREFIX: &str = "SecLlama-";

/// Longest accepted runner id.
pub const MAX_RUNNER_ID_LEN: usize = 64;

/// Longest program path accepted for a rule (the classic `MAX_PATH`).
pub const MAX_PROGRAM_PATH_LEN: usize = 259;

/// An inclusive range of addresses of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrRange {
    /// First address.
    pub start: IpAddr,
    /// Last address (inclusive).
    pub end: IpAddr,
}

impl AddrRange {
    /// Whether `ip` lies in the range (same family only).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.start, self.end, ip) {
            (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(x)) => {
                (u32::from(s)..=u32::from(e)).contains(&u32::from(x))
            }
            (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(x)) => {
                (u128::from(s)..=u128::from(e)).contains(&u128::from(x))
            }
            _ => false,
        }
    }
}

impl fmt::Display for AddrRange {
    /// `netsh` syntax: a single address, or `first-last`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Every remote address except exactly 127.0.0.0/8 and `::1`, as four ranges:
/// `0.0.0.0-126.255.255.255`, `128.0.0.0-255.255.255.255`, `::`, `::2-ffff:…:ffff`.
pub fn non_loopback_ranges() -> Vec<AddrRange> {
    let v4 = |a: u32| IpAddr::V4(Ipv4Addr::from(a));
    let v6 = |a: u128| IpAddr::V6(Ipv6Addr::from(a));
    vec![
        AddrRange {
            start: v4(0),
            end: v4(u32::from(Ipv4Addr::new(126, 255, 255, 255))),
        },
        AddrRange {
            start: v4(u32::from(Ipv4Addr::new(128, 0, 0, 0))),
            end: v4(u32::MAX),
        },
        AddrRange {
            start: v6(0),
            end: v6(0),
        },
        AddrRange {
            start: v6(2),
            end: v6(u128::MAX),
        },
    ]
}

/// Traffic direction of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Connections the runner makes (`dir=out`).
    Outbound,
    /// Connections to the runner (`dir=in`).
    Inbound,
}

impl Direction {
    fn netsh(self) -> &'static str {
        match self {
            Direction::Outbound => "out",
            Direction::Inbound => "in",
        }
    }
}

/// One firewall block rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallRule {
    /// `SecLlama-<runner-id>`.
    pub name: String,
    /// The runner executable the rule applies to.
    pub program: PathBuf,
    /// Direction.
    pub direction: Direction,
    /// Blocked remote addresses ([`non_loopback_ranges`]).
    pub remote_ranges: Vec<AddrRange>,
}

/// The rule name for `runner_id`, after checking the id: 1 to [`MAX_RUNNER_ID_LEN`] ASCII
/// letters, digits, `-` or `_` (so the name needs no quoting anywhere).
///
/// # Errors
/// [`SandboxError::InvalidRunnerId`] otherwise.
pub fn rule_name(runner_id: &str) -> Result<String, SandboxError> {
    let ok = !runner_id.is_empty()
        && runner_id.len() <= MAX_RUNNER_ID_LEN
        && runner_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(SandboxError::InvalidRunnerId {
            id: runner_id.chars().take(MAX_RUNNER_ID_LEN + 8).collect(),
        });
    }
    Ok(format!("{RULE_PREFIX}{runner_id}"))
}

/// A fresh runner id: this process's id and the current time in nanoseconds, in hex
/// (`1a2b-17f3c...`): unique per runner start, valid for [`rule_name`].
pub fn new_runner_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{nanos:x}", std::process::id())
}

/// The runner id in a rule name created by this crate, or `None` for any other name.
pub fn runner_id_from_rule_name(name: &str) -> Option<&str> {
    let id = name.strip_prefix(RULE_PREFIX)?;
    rule_name(id).ok().map(|_| id)
}

/// Checks that `program` can be written into a `netsh` `program=` argument exactly.
///
/// Refused (documented): anything not of the form `X:\...` (relative, UNC, `\\?\` paths),
/// non-UTF-8, longer than [`MAX_PROGRAM_PATH_LEN`], or containing `"` (netsh and the Windows
/// command line would re-quote it), `%` (the firewall expands `%VAR%` in program paths), `=`
/// (netsh splits `name=value` items on it) or control characters.
///
/// # Errors
/// [`SandboxError::UnrepresentablePath`] naming the reason.
pub fn check_program_path(program: &Path) -> Result<&str, SandboxError> {
    let refuse = |reason: &'static str| SandboxError::UnrepresentablePath {
        path: program.to_path_buf(),
        reason,
    };
    let s = program
        .to_str()
        .ok_or_else(|| refuse("a firewall program path must be valid Unicode"))?;
    let b = s.as_bytes();
    let drive_absolute = b.len() > 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\';
    if !drive_absolute {
        return Err(refuse(
            "a firewall program path must be an absolute drive path like C:\\dir\\runner.exe",
        ));
    }
    if s.len() > MAX_PROGRAM_PATH_LEN {
        return Err(refuse("a firewall program path must be at most 259 bytes"));
    }
    if s.contains('"') {
        return Err(refuse("netsh cannot take a double quote in a program path"));
    }
    if s.contains('%') {
        return Err(refuse(
            "the firewall expands %VARIABLES% in program paths, so '%' is refused",
        ));
    }
    if s.contains('=') {
        return Err(refuse(
            "netsh splits arguments on '=', so it is refused in program paths",
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(refuse("control characters are refused in program paths"));
    }
    Ok(s)
}

/// The two rules (outbound, inbound) for runner `runner_id` running `program`.
///
/// # Errors
/// [`SandboxError::InvalidRunnerId`] or [`SandboxError::UnrepresentablePath`].
pub fn runner_rules(runner_id: &str, program: &Path) -> Result<Vec<FirewallRule>, SandboxError> {
    let name = rule_name(runner_id)?;
    check_program_path(program)?;
    Ok([Direction::Outbound, Direction::Inbound]
        .into_iter()
        .map(|direction| FirewallRule {
            name: name.clone(),
            program: program.to_path_buf(),
            direction,
            remote_ranges: non_loopback_ranges(),
        })
        .collect())
}

/// `netsh` as an absolute path under `system_root` (normally `%SystemRoot%`, `C:\Windows`).
pub fn netsh_path(system_root: &str) -> String {
    format!(
        "{}\\System32\\netsh.exe",
        system_root.trim_end_matches('\\')
    )
}

impl FirewallRule {
    /// The arguments (after the `netsh` program itself) that add this rule; each is one argv
    /// item, no shell involved.
    ///
    /// # Errors
    /// [`SandboxError::UnrepresentablePath`] if the program path cannot be passed safely.
    pub fn add_args(&self) -> Result<Vec<String>, SandboxError> {
        let program = check_program_path(&self.program)?;
        let remote: Vec<String> = self.remote_ranges.iter().map(ToString::to_string).collect();
        Ok(vec![
            "advfirewall".into(),
            "firewall".into(),
            "add".into(),
            "rule".into(),
            format!("name={}", self.name),
            format!("dir={}", self.direction.netsh()),
            "action=block".into(),
            format!("program={program}"),
            "enable=yes".into(),
            "profile=any".into(),
            "protocol=any".into(),
            format!("remoteip={}", remote.join(",")),
        ])
    }
}

/// Arguments that delete every rule named `SecLlama-<runner_id>` (both directions).
///
/// # Errors
/// [`SandboxError::InvalidRunnerId`].
pub fn delete_args(runner_id: &str) -> Result<Vec<String>, SandboxError> {
    Ok(vec![
        "advfirewall".into(),
        "firewall".into(),
        "delete".into(),
        "rule".into(),
        format!("name={}", rule_name(runner_id)?),
    ])
}

/// Arguments that list every firewall rule (parsed by [`parse_rule_names`]).
pub fn list_args() -> Vec<String> {
    ["advfirewall", "firewall", "show", "rule", "name=all"]
        .map(String::from)
        .to_vec()
}

/// The SecLlama rule names in `netsh advfirewall firewall show rule` output, deduplicated, in
/// order. Only the value after a `label:` is looked at, so localized labels ("Rule Name:",
/// "Regelname:") work; names that are not `SecLlama-<valid id>` are ignored.
pub fn parse_rule_names(output: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in output.lines() {
        let Some((_, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if runner_id_from_rule_name(value).is_some() && !out.iter().any(|n| n == value) {
            out.push(value.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_print_in_netsh_syntax() {
        let r: Vec<String> = non_loopback_ranges()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            r,
            [
                "0.0.0.0-126.255.255.255",
                "128.0.0.0-255.255.255.255",
                "::",
                "::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
            ]
        );
    }

    #[test]
    fn runner_ids_are_restricted_to_a_quoting_free_alphabet() {
        assert_eq!(rule_name("run-1_A").unwrap(), "SecLlama-run-1_A");
        for bad in ["", "a b", "a\"b", "x=y", "a,b", "ü", &"x".repeat(65)] {
            assert!(
                matches!(rule_name(bad), Err(SandboxError::InvalidRunnerId { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(runner_id_from_rule_name("SecLlama-abc"), Some("abc"));
        let fresh = new_runner_id();
        assert!(rule_name(&fresh).is_ok(), "{fresh}");
        assert_eq!(runner_id_from_rule_name("SecLlama-"), None);
        assert_eq!(runner_id_from_rule_name("Other-abc"), None);
        assert_eq!(runner_id_from_rule_name("SecLlama-a b"), None);
    }
}
