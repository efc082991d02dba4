//! The runner's AppContainer as data: its name, and the file grants (ACEs) that are the only
//! way it reaches the user's files. Pure code: compiled and tested on every OS; the Win32 calls
//! that apply it are in `launch.rs` (`cfg(windows)`).
//!
//! An AppContainer with no capabilities has no network at all (not even loopback), cannot open
//! the user's files or other processes of the user unless an ACE names its SID (or the
//! `ALL APPLICATION PACKAGES` group, which Windows grants on the system's own files), and runs
//! at low integrity. One container per runner, named after a fresh runner id, deleted with its
//! grants when the runner ends.

use std::path::{Path, PathBuf};

use crate::{SandboxError, SandboxPolicy};

/// Every container this crate creates is named `SecLlama.Runner.<id>`.
pub const CONTAINER_PREFIX: &str = "SecLlama.Runner.";

/// Longest AppContainer name Windows accepts.
pub const MAX_CONTAINER_NAME_LEN: usize = 64;

/// `FILE_GENERIC_READ`: read data, attributes, extended attributes, the security descriptor;
/// synchronize.
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// `FILE_GENERIC_READ | FILE_GENERIC_EXECUTE`: what loading a program and its DLLs needs.
pub const FILE_GENERIC_READ_EXECUTE: u32 = 0x0012_00a9;

/// A fresh runner id (process id and time, hex): unique among the runners of this machine.
pub fn new_runner_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{nanos:x}", std::process::id())
}

/// The AppContainer name for a runner id: `SecLlama.Runner.<id>`.
///
/// # Errors
/// [`SandboxError::InvalidRunnerId`] when the name would not be a valid AppContainer name
/// (longer than [`MAX_CONTAINER_NAME_LEN`], or characters other than ASCII letters, digits,
/// `-` and `.`).
pub fn container_name(runner_id: &str) -> Result<String, SandboxError> {
    let name = format!("{CONTAINER_PREFIX}{runner_id}");
    let valid = !runner_id.is_empty()
        && name.len() <= MAX_CONTAINER_NAME_LEN
        && runner_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if valid {
        Ok(name)
    } else {
        Err(SandboxError::InvalidRunnerId {
            id: runner_id.chars().take(72).collect(),
        })
    }
}

/// What one ACE grants the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileGrant {
    /// The file or directory whose DACL gets the ACE.
    pub path: PathBuf,
    /// The access mask ([`FILE_GENERIC_READ`] or [`FILE_GENERIC_READ_EXECUTE`]).
    pub access: u32,
    /// Whether the ACE is inherited by the directory's files and subdirectories.
    pub inherit: bool,
}

impl FileGrant {
    /// The ACE in SDDL form for the container's SID (`S-1-15-2-…`): `(A;OICI;mask;;;sid)` with
    /// inheritance, `(A;;mask;;;sid)` without.
    pub fn sddl(&self, sid: &str) -> String {
        let flags = if self.inherit { "OICI" } else { "" };
        format!("(A;{flags};{:#x};;;{sid})", self.access)
    }
}

/// The grants of a runner's container: read and execute on the program's directory (its DLLs
/// live there), read on every other read-only path of the policy (the model). Nothing is
/// granted for read-write paths or devices, which a Windows runner does not get: they come
/// back as the second list, for the report.
///
/// # Errors
/// [`SandboxError::UnrepresentablePath`] for a relative path or a program without a directory.
pub fn file_grants(
    policy: &SandboxPolicy,
    program: &Path,
) -> Result<(Vec<FileGrant>, Vec<PathBuf>), SandboxError> {
    let absolute = |p: &Path| -> Result<(), SandboxError> {
        if is_absolute_windows(p) {
            Ok(())
        } else {
            Err(SandboxError::UnrepresentablePath {
                path: p.to_path_buf(),
                reason: "not an absolute Windows path (X:\\...)",
            })
        }
    };
    let program = strip_verbatim(program);
    let program = program.as_path();
    absolute(program)?;
    let dir = windows_parent(program).ok_or_else(|| SandboxError::UnrepresentablePath {
        path: program.to_path_buf(),
        reason: "the program has no directory",
    })?;
    let mut grants = vec![FileGrant {
        path: dir.clone(),
        access: FILE_GENERIC_READ_EXECUTE,
        inherit: true,
    }];
    for p in policy.read_only_paths() {
        absolute(&strip_verbatim(p))?;
        let p = strip_verbatim(p);
        if p == program || grants.iter().any(|g| g.path == p) {
            continue;
        }
        grants.push(FileGrant {
            path: p,
            access: FILE_GENERIC_READ,
            inherit: false,
        });
    }
    let refused = policy
        .read_write_paths()
        .iter()
        .chain(policy.devices())
        .cloned()
        .collect();
    Ok((grants, refused))
}

/// `\\?\C:\x` (what `canonicalize` gives on Windows) → `C:\x`; other paths unchanged.
pub fn strip_verbatim(p: &Path) -> PathBuf {
    match p.to_str().and_then(|s| s.strip_prefix(r"\\?\")) {
        Some(rest) if !rest.starts_with("UNC\\") => PathBuf::from(rest),
        _ => p.to_path_buf(),
    }
}

/// `X:\...` (what `canonicalize` gives once `\\?\` is stripped).
fn is_absolute_windows(p: &Path) -> bool {
    let s = p.to_string_lossy();
    let b = s.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\'
}

/// The directory part of a Windows path, on every OS (`Path::parent` splits on `\` only on
/// Windows).
fn windows_parent(p: &Path) -> Option<PathBuf> {
    let s = p.to_string_lossy();
    let cut = s.rfind('\\')?;
    // Keep the root's backslash: `C:\runner.exe` → `C:\`.
    let dir = if cut == 2 { &s[..3] } else { &s[..cut] };
    Some(PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_are_prefixed_bounded_and_plain() {
        let fresh = container_name(&new_runner_id()).unwrap();
        assert!(fresh.starts_with(CONTAINER_PREFIX) && fresh.len() <= MAX_CONTAINER_NAME_LEN);
        assert_eq!(
            container_name("1f2-3a4b").unwrap(),
            "SecLlama.Runner.1f2-3a4b"
        );
        for bad in ["", "a b", "a\\b", "x;y", &"a".repeat(49), "é"] {
            assert!(
                matches!(container_name(bad), Err(SandboxError::InvalidRunnerId { ref id }) if id == bad),
                "{bad:?}"
            );
        }
        assert_eq!(
            container_name(&"a".repeat(48)).unwrap().len(),
            MAX_CONTAINER_NAME_LEN
        );
    }

    #[test]
    fn the_container_may_read_the_model_and_run_its_directory_and_nothing_else() {
        let policy = SandboxPolicy::new()
            .read_only(r"C:\Program Files\SecLlama\secllama-runner.exe")
            .read_only(r"D:\models\gemma.gguf")
            .read_write(r"C:\Users\me\scratch");
        let (grants, refused) = file_grants(
            &policy,
            Path::new(r"C:\Program Files\SecLlama\secllama-runner.exe"),
        )
        .unwrap();
        assert_eq!(
            grants,
            vec![
                FileGrant {
                    path: PathBuf::from(r"C:\Program Files\SecLlama"),
                    access: FILE_GENERIC_READ_EXECUTE,
                    inherit: true,
                },
                FileGrant {
                    path: PathBuf::from(r"D:\models\gemma.gguf"),
                    access: FILE_GENERIC_READ,
                    inherit: false,
                },
            ]
        );
        assert_eq!(refused, vec![PathBuf::from(r"C:\Users\me\scratch")]);
        let sid = "S-1-15-2-1-2-3-4-5-6-7";
        assert_eq!(
            grants[0].sddl(sid),
            "(A;OICI;0x1200a9;;;S-1-15-2-1-2-3-4-5-6-7)"
        );
        assert_eq!(
            grants[1].sddl(sid),
            "(A;;0x120089;;;S-1-15-2-1-2-3-4-5-6-7)"
        );
        // Read-only: neither mask has a write, delete or ownership bit.
        for mask in [FILE_GENERIC_READ, FILE_GENERIC_READ_EXECUTE] {
            // FILE_WRITE_DATA 0x2, FILE_APPEND_DATA 0x4, FILE_WRITE_EA 0x10,
            // FILE_WRITE_ATTRIBUTES 0x100, DELETE 0x10000, WRITE_DAC 0x40000,
            // WRITE_OWNER 0x80000.
            assert_eq!(
                mask & (0x2 | 0x4 | 0x10 | 0x100 | 0x1_0000 | 0x4_0000 | 0x8_0000),
                0
            );
        }
    }

    #[test]
    fn relative_or_unix_paths_and_a_root_program_are_handled() {
        let unix = SandboxPolicy::new().read_only("/models/m.gguf");
        assert!(matches!(
            file_grants(&unix, Path::new(r"C:\r\runner.exe")),
            Err(SandboxError::UnrepresentablePath { .. })
        ));
        assert!(matches!(
            file_grants(&SandboxPolicy::new(), Path::new("runner.exe")),
            Err(SandboxError::UnrepresentablePath { .. })
        ));
        let (g, _) = file_grants(&SandboxPolicy::new(), Path::new(r"C:\runner.exe")).unwrap();
        assert_eq!(g[0].path, PathBuf::from(r"C:\"));
        // canonicalize's verbatim prefix is stripped; UNC paths stay (and are refused).
        let verbatim = SandboxPolicy::new().read_only(r"\\?\D:\m.gguf");
        let (g, _) = file_grants(&verbatim, Path::new(r"\\?\C:\r\runner.exe")).unwrap();
        assert_eq!(g[0].path, PathBuf::from(r"C:\r"));
        assert_eq!(g[1].path, PathBuf::from(r"D:\m.gguf"));
        assert_eq!(
            strip_verbatim(Path::new(r"\\?\UNC\host\share")),
            PathBuf::from(r"\\?\UNC\host\share")
        );
    }
}
