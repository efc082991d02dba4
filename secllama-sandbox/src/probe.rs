//! `probe()`: what this OS and kernel can enforce.

use std::fmt;

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
        writeln!(f)
    }
}

/// Reports what this OS and kernel can enforce. On Linux the namespace check forks a short
/// child that tries them; the result is cached for the life of the process.
pub fn probe() -> Capabilities {
    #[cfg(target_os = "linux")]
    {
        crate::linux::probe()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Capabilities {
            os: std::env::consts::OS,
            ..Capabilities::default()
        }
    }
}
