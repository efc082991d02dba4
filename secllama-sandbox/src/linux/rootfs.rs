//! Layer 1b: a minimal root file system in the child's own mount namespace.
//!
//! The child sees a read-only tmpfs holding only what the policy grants, each at its own
//! path: the baseline and the policy's read-only paths as read-only bind mounts, read-write
//! paths as writable ones, all `nosuid,nodev`; a `/dev` tmpfs with only the granted device
//! nodes (bound from the host, so they keep working); and a `/proc` of the child's own PID
//! namespace. Nothing else exists: no `/home`, `/tmp`, `/run`, `/sys` unless granted, and
//! `/proc/self/mountinfo` lists only these mounts. The host's root is detached at the end
//! (`pivot_root` + `umount2(MNT_DETACH)`), so no path leads back to it.
//!
//! How, in the child (bubblewrap's order): make every mount private; mount a staging tmpfs on
//! `/tmp` and `pivot_root` into it with the host root under `/oldroot`; build the new root
//! under `/newroot` by binding `/oldroot/<path>` to `/newroot/<path>`; mount `/proc` (while the
//! host's `/proc` is still visible, as the kernel requires in a user namespace); remount the
//! new root read-only; `pivot_root` into it and detach everything else.
//!
//! Every path, every directory to create and every flag is computed in the parent
//! ([`Prepared::new`]); [`Prepared::apply`] only makes raw system calls on that data.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::sys;

/// What one granted path becomes in the new root.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A bind mount of a directory.
    Dir,
    /// A bind mount of a file (or a device node).
    File,
    /// A symbolic link with this target (the host's `/bin -> usr/bin` and the like).
    Symlink(CString),
}

/// One granted path.
#[derive(Debug)]
struct Entry {
    /// The path (absolute), the same inside and outside.
    path: PathBuf,
    kind: Kind,
    writable: bool,
    /// A device node: keeps `dev` (everything else is `nodev`).
    device: bool,
    /// `/oldroot<path>`.
    source: CString,
    /// `/newroot<path>`.
    target: CString,
    /// Under another entry's bind mount: exists there already, nothing is created.
    nested: bool,
}

/// The prepared root file system.
pub(super) struct Prepared {
    entries: Vec<Entry>,
    /// Directories to create under `/newroot` (parents first).
    dirs: Vec<CString>,
    /// The working directory to enter in the new root (falls back to `/`).
    cwd: Option<CString>,
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn prefixed(prefix: &str, path: &Path) -> io::Result<CString> {
    let mut v = prefix.as_bytes().to_vec();
    v.extend_from_slice(path.as_os_str().as_bytes());
    cstring(&v)
}

impl Prepared {
    /// Plans the root from the granted paths. Paths that do not exist are skipped (the
    /// Landlock layer already refuses explicit grants that cannot be opened). `cwd` is the
    /// working directory the child should keep if it exists inside.
    pub(super) fn new(
        read_only: &[PathBuf],
        read_write: &[PathBuf],
        devices: &[PathBuf],
        cwd: Option<&Path>,
    ) -> io::Result<Self> {
        // (path, writable, device grant). Later grants of the same path widen earlier ones.
        let mut wanted: Vec<(PathBuf, bool)> = Vec::new();
        let mut add = |p: &Path, writable: bool| {
            if !p.is_absolute() {
                return;
            }
            // A symlinked grant: the link itself, and what it points to.
            if let Ok(meta) = std::fs::symlink_metadata(p)
                && meta.file_type().is_symlink()
                && let Ok(real) = p.canonicalize()
            {
                wanted.push((p.to_path_buf(), writable));
                wanted.push((real, writable));
                return;
            }
            wanted.push((p.to_path_buf(), writable));
        };
        for p in read_only {
            add(p, false);
        }
        for p in read_write.iter().chain(devices) {
            add(p, true);
        }
        wanted.sort();
        let mut merged: Vec<(PathBuf, bool)> = Vec::new();
        for (p, w) in wanted {
            match merged.last_mut() {
                Some((last, lw)) if *last == p => *lw |= w,
                _ => merged.push((p, w)),
            }
        }

        let mut entries: Vec<Entry> = Vec::new();
        let mut dirs: Vec<PathBuf> = vec![PathBuf::from("/dev"), PathBuf::from("/proc")];
        for (path, writable) in merged {
            let Ok(lmeta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let kind = if lmeta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)?;
                Kind::Symlink(cstring(target.as_os_str().as_bytes())?)
            } else if lmeta.is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            let ft = lmeta.file_type();
            let device = ft.is_char_device() || ft.is_block_device();
            let under = |k: fn(&Kind) -> bool| {
                entries
                    .iter()
                    .any(|e| k(&e.kind) && path.starts_with(&e.path) && path != e.path)
            };
            // The child gets its own /proc, so host /proc paths are never bound; a path
            // under a granted symlink is reached through it.
            if path.starts_with("/proc") || under(|k| matches!(k, Kind::Symlink(_))) {
                continue;
            }
            let nested = under(|k| *k == Kind::Dir);
            if !nested {
                let mut parent = path.parent();
                while let Some(p) = parent {
                    if p != Path::new("/") {
                        dirs.push(p.to_path_buf());
                    }
                    parent = p.parent();
                }
            }
            entries.push(Entry {
                source: prefixed("/oldroot", &path)?,
                target: prefixed("/newroot", &path)?,
                path,
                kind,
                writable,
                device,
                nested,
            });
        }
        dirs.sort();
        dirs.dedup();
        let dirs = dirs
            .iter()
            .map(|d| prefixed("/newroot", d))
            .collect::<io::Result<Vec<_>>>()?;
        let cwd = cwd
            .filter(|c| c.is_absolute())
            .map(|c| cstring(c.as_os_str().as_bytes()))
            .transpose()?;
        Ok(Prepared { entries, dirs, cwd })
    }

    /// The granted paths that become mounts (for the unit tests and the report).
    #[cfg(test)]
    fn plan(&self) -> Vec<(String, &'static str, bool)> {
        self.entries
            .iter()
            .map(|e| {
                let kind = match e.kind {
                    Kind::Dir => "dir",
                    Kind::File => "file",
                    Kind::Symlink(_) => "symlink",
                };
                (e.path.display().to_string(), kind, e.writable)
            })
            .collect()
    }

    /// Builds the new root and enters it. Must run in a fresh mount namespace (and, for its
    /// `/proc`, in the new PID namespace). Async-signal-safe: `mount`, `mkdir`, `open`,
    /// `close`, `symlink`, `statfs`, `chdir`, `pivot_root`, `umount2` on prepared strings.
    pub(super) fn apply(&self) -> io::Result<()> {
        mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
        let fs_flags = libc::MS_NOSUID | libc::MS_NODEV;
        mount(
            Some(c"tmpfs"),
            c"/tmp",
            Some(c"tmpfs"),
            fs_flags,
            Some(c"mode=0755"),
        )?;
        mkdir(c"/tmp/oldroot")?;
        mkdir(c"/tmp/newroot")?;
        mount(
            Some(c"tmpfs"),
            c"/tmp/newroot",
            Some(c"tmpfs"),
            fs_flags,
            Some(c"mode=0755"),
        )?;
        chdir(c"/tmp")?;
        pivot_root(c".", c"oldroot")?;
        chdir(c"/")?;

        // /dev: a tmpfs of its own (the binds of the device nodes keep `dev`).
        mkdir(c"/newroot/dev")?;
        mount(
            Some(c"tmpfs"),
            c"/newroot/dev",
            Some(c"tmpfs"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(c"mode=0755"),
        )?;
        for d in &self.dirs {
            mkdir(d)?;
        }
        for e in &self.entries {
            self.bind(e)?;
        }
        for (link, target) in [
            (c"/newroot/dev/fd", c"/proc/self/fd"),
            (c"/newroot/dev/stdin", c"/proc/self/fd/0"),
            (c"/newroot/dev/stdout", c"/proc/self/fd/1"),
            (c"/newroot/dev/stderr", c"/proc/self/fd/2"),
        ] {
            symlink(target, link)?;
        }
        mount(
            Some(c"proc"),
            c"/newroot/proc",
            Some(c"proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )?;
        let ro = libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID;
        mount(None, c"/newroot/dev", None, ro | libc::MS_NOEXEC, None)?;
        mount(None, c"/newroot", None, ro | libc::MS_NODEV, None)?;

        chdir(c"/newroot")?;
        pivot_root(c".", c".")?;
        // SAFETY: umount2 with a static path and a flag.
        sys::check(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) })?;
        chdir(c"/")?;
        if let Some(cwd) = &self.cwd {
            // Stay in the working directory when it exists inside; otherwise `/`.
            let _ = chdir(cwd);
        }
        Ok(())
    }

    fn bind(&self, e: &Entry) -> io::Result<()> {
        match &e.kind {
            Kind::Symlink(target) => {
                if !e.nested {
                    symlink(target, &e.target)?;
                }
                return Ok(());
            }
            Kind::Dir if !e.nested => mkdir(&e.target)?,
            Kind::File if !e.nested => {
                // SAFETY: a prepared NUL-terminated path; the fd is closed at once.
                let fd = sys::check(unsafe {
                    libc::open(
                        e.target.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                        0o644,
                    )
                })?;
                // SAFETY: closing the fd opened above.
                unsafe { libc::close(fd) };
            }
            _ => {}
        }
        mount(Some(&e.source), &e.target, None, libc::MS_BIND, None)?;
        // Remount with our flags, keeping the ones the kernel locks in a user namespace
        // (a remount may add restrictions, never drop them).
        // (glibc's statvfs is one statfs call on kernels that report mount flags, 2.6.36+.)
        let mut st: libc::statvfs = zeroed_statvfs();
        // SAFETY: a prepared path and a valid out pointer.
        sys::check(unsafe { libc::statvfs(e.target.as_ptr(), &mut st) })?;
        // The ST_* bits below equal their MS_* namesakes.
        let kept = st.f_flag
            & (libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV
                | libc::MS_NOEXEC
                | libc::MS_NOATIME
                | libc::MS_NODIRATIME
                | libc::MS_RELATIME);
        let mut flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_NOSUID | kept;
        if !e.device {
            flags |= libc::MS_NODEV;
        }
        if !e.writable {
            flags |= libc::MS_RDONLY;
        }
        mount(None, &e.target, None, flags, None)
    }
}

fn zeroed_statvfs() -> libc::statvfs {
    // SAFETY: statvfs is plain integers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |c: Option<&CStr>| c.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives the call.
    sys::check(unsafe { libc::mount(p(source), target.as_ptr(), p(fstype), flags, p(data).cast()) })
        .map(drop)
}

fn mkdir(path: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated path.
    match sys::check(unsafe { libc::mkdir(path.as_ptr(), 0o755) }) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        r => r.map(drop),
    }
}

fn symlink(target: &CStr, link: &CStr) -> io::Result<()> {
    // SAFETY: two NUL-terminated strings.
    sys::check(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) }).map(drop)
}

fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated path.
    sys::check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: two NUL-terminated paths.
    sys::check_long(unsafe {
        libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr())
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_binds_each_grant_once_at_its_own_path_with_the_widest_access() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::create_dir(d.join("models")).unwrap();
        std::fs::write(d.join("models/m.gguf"), b"x").unwrap();
        std::fs::create_dir(d.join("out")).unwrap();
        std::os::unix::fs::symlink("models", d.join("link")).unwrap();
        let p = Prepared::new(
            &[
                d.join("models"),
                d.join("models/m.gguf"),
                d.join("out"),
                d.join("link"),
            ],
            &[d.join("out"), d.join("missing")],
            &[PathBuf::from("/dev/null"), PathBuf::from("/proc/self")],
            Some(&d),
        )
        .unwrap();
        let s = |x: &str| d.join(x).display().to_string();
        assert_eq!(
            p.plan(),
            vec![
                ("/dev/null".to_owned(), "file", true),
                (s("link"), "symlink", false),
                (s("models"), "dir", false),
                (s("models/m.gguf"), "file", false),
                (s("out"), "dir", true),
            ]
        );
        // The nested file lives inside the models bind: nothing is created for it.
        assert!(p.entries[3].nested && !p.entries[2].nested);
        assert!(p.entries[0].device);
        assert_eq!(
            p.entries[2].source.as_bytes(),
            format!("/oldroot{}", s("models")).as_bytes()
        );
        assert_eq!(
            p.entries[2].target.as_bytes(),
            format!("/newroot{}", s("models")).as_bytes()
        );
        let dirs: Vec<&[u8]> = p.dirs.iter().map(|c| c.as_bytes()).collect();
        assert!(dirs.contains(&b"/newroot/dev".as_slice()));
        assert!(dirs.contains(&b"/newroot/proc".as_slice()));
        assert!(dirs.contains(&format!("/newroot{}", d.display()).as_bytes()));
        assert!(!dirs.contains(&b"/newroot/".as_slice()));
    }
}
