//! The advisory lock that serializes read-modify-write of one service across processes.
//!
//! The lock file is empty (it never holds a secret), mode 0600, named `keystore-<service>.lock`
//! in a directory only the user can enter:
//!
//! 1. the directory set with [`KeystoreConfig::lock_dir`](crate::KeystoreConfig::lock_dir);
//! 2. else `$XDG_RUNTIME_DIR/secllama/` (a per-user tmpfs on systemd systems);
//! 3. else `<temp dir>/secllama-<uid>/` (`$TMPDIR` or `/tmp`), created mode 0700 and refused if
//!    it is a symlink, not owned by the user, or open to others; on Windows
//!    `%LOCALAPPDATA%\secllama\`.
//!
//! Writers hold an exclusive `flock`, readers a shared one; the kernel drops the lock when the
//! process dies, so a crashed writer never wedges the others.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::KeystoreError;

/// The kind of lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockKind {
    /// Several readers at once.
    Shared,
    /// One writer, no readers.
    Exclusive,
}

/// A held lock; dropping it (closing the file) releases it.
#[derive(Debug)]
pub(crate) struct LockGuard {
    _file: File,
}

/// The default directory for lock files (see the module docs).
pub(crate) fn default_lock_dir() -> Result<PathBuf, KeystoreError> {
    #[cfg(unix)]
    {
        if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
            && run.is_absolute()
            && run.is_dir()
        {
            return Ok(run.join("secllama"));
        }
        Ok(std::env::temp_dir().join(format!("secllama-{}", sys::uid())))
    }
    #[cfg(not(unix))]
    {
        let base = std::env::var_os("LOCALAPPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        Ok(base.join("secllama"))
    }
}

/// The lock file of `service` in `dir`.
pub(crate) fn lock_path(dir: &Path, service: &str) -> PathBuf {
    dir.join(format!("keystore-{service}.lock"))
}

/// Takes the lock on `path`, creating its directory (mode 0700) and the file (mode 0600) when
/// missing. Blocks until the lock is granted.
pub(crate) fn acquire(path: &Path, kind: LockKind) -> Result<LockGuard, KeystoreError> {
    let fail = |source: io::Error| KeystoreError::LockFile {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir).map_err(|source| KeystoreError::LockFile {
            path: dir.to_owned(),
            source,
        })?;
    }
    let file = open_lock_file(path).map_err(fail)?;
    sys::lock(&file, kind).map_err(fail)?;
    Ok(LockGuard { _file: file })
}

#[cfg(unix)]
fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other("not a directory (or a symlink)"));
    }
    if meta.uid() != sys::uid() {
        return Err(io::Error::other("directory owned by another user"));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(io::Error::other("directory writable by other users"));
    }
    Ok(())
}

#[cfg(not(unix))]
fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_lock_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.uid() != sys::uid() {
        return Err(io::Error::other("file owned by another user"));
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_lock_file(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use super::LockKind;

    /// The real user id of this process.
    pub(super) fn uid() -> u32 {
        // SAFETY: getuid takes no arguments, cannot fail and touches no memory of ours.
        unsafe { libc::getuid() }
    }

    /// `flock` the whole file, retrying when a signal interrupts the wait.
    pub(super) fn lock(file: &File, kind: LockKind) -> io::Result<()> {
        let op = match kind {
            LockKind::Shared => libc::LOCK_SH,
            LockKind::Exclusive => libc::LOCK_EX,
        };
        loop {
            // SAFETY: the descriptor is owned by `file`, which outlives the call; flock only
            // takes an integer descriptor and an operation.
            let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

#[cfg(not(unix))]
mod sys {
    use std::fs::File;
    use std::io;

    use super::LockKind;

    // `File::lock` is std's LockFileEx wrapper (Rust 1.89+, which Windows builds need).
    #[allow(clippy::incompatible_msrv)]
    pub(super) fn lock(file: &File, kind: LockKind) -> io::Result<()> {
        match kind {
            LockKind::Shared => file.lock_shared(),
            LockKind::Exclusive => file.lock(),
        }
        .map_err(|e| io::Error::other(e.to_string()))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_lock_file_is_created_empty_with_mode_0600_in_a_0700_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("secllama");
        let path = lock_path(&dir, "svc");
        let guard = acquire(&path, LockKind::Exclusive).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 0);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dmeta = std::fs::metadata(&dir).unwrap();
        assert_eq!(dmeta.permissions().mode() & 0o777, 0o700);
        drop(guard);
    }

    #[test]
    fn a_symlinked_lock_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("secllama");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let target = tmp.path().join("elsewhere");
        std::fs::write(&target, b"").unwrap();
        let path = lock_path(&dir, "svc");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = acquire(&path, LockKind::Shared).unwrap_err();
        match err {
            KeystoreError::LockFile { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::ELOOP));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lock_directory_writable_by_others_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = acquire(&lock_path(&dir, "svc"), LockKind::Shared).unwrap_err();
        assert!(err.to_string().contains("writable by other users"), "{err}");
    }

    #[test]
    fn an_exclusive_lock_waits_for_a_shared_one_to_go() {
        let tmp = tempfile::tempdir().unwrap();
        let path = lock_path(tmp.path(), "svc");
        let reader = acquire(&path, LockKind::Shared).unwrap();
        let second_reader = acquire(&path, LockKind::Shared).unwrap();
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        let writer = std::thread::spawn(move || {
            let g = acquire(&p, LockKind::Exclusive).unwrap();
            tx.send(()).unwrap();
            drop(g);
        });
        // Not a timing assertion: the writer must not get in while readers hold the lock,
        // however long we look; we only bound how long we look.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(reader);
        drop(second_reader);
        rx.recv().unwrap();
        writer.join().unwrap();
    }
}
