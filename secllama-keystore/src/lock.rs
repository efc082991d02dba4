//! The advisory lock that keeps writers of one service from racing.
//!
//! It is an optimisation, not what keeps keys safe (see `keystore.rs`): with it, seal counts
//! are exact and concurrent status changes are not lost; without it (another user, a process
//! that set its own [`KeystoreConfig::lock_dir`](crate::KeystoreConfig::lock_dir)) every key
//! still stays findable. So that every process of a user agrees on it whatever its
//! environment, the directory depends on the user id alone, never on environment variables:
//!
//! 1. the directory set with [`KeystoreConfig::lock_dir`](crate::KeystoreConfig::lock_dir);
//! 2. else `/run/user/<uid>/secllama/` when `/run/user/<uid>` exists and is the user's (the
//!    systemd per-user runtime directory, whatever `XDG_RUNTIME_DIR` says);
//! 3. else `/tmp/secllama-<uid>/` (not `$TMPDIR`), created mode 0700 and refused if it is a
//!    symlink, not owned by the user, or open to others; on Windows `%LOCALAPPDATA%\secllama\`.
//!
//! The lock file is empty (it never holds a secret), mode 0600. Writers hold an exclusive
//! `flock`; the kernel drops it when the process dies, so a crashed writer never wedges others.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::KeystoreError;

/// A held lock; dropping it (closing the file) releases it.
#[derive(Debug)]
pub(crate) struct LockGuard {
    _file: File,
}

/// The default directory for lock files (see the module docs).
pub(crate) fn default_lock_dir() -> Result<PathBuf, KeystoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = sys::uid();
        let run = PathBuf::from(format!("/run/user/{uid}"));
        if std::fs::symlink_metadata(&run).is_ok_and(|m| m.is_dir() && m.uid() == uid) {
            return Ok(run.join("secllama"));
        }
        Ok(PathBuf::from(format!("/tmp/secllama-{uid}")))
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

/// Takes the exclusive lock on `path`, creating its directory (mode 0700) and the file (mode
/// 0600) when missing. Blocks until the lock is granted.
pub(crate) fn acquire(path: &Path) -> Result<LockGuard, KeystoreError> {
    let fail = |error: io::Error| KeystoreError::LockFile {
        path: path.to_owned(),
        error,
    };
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir).map_err(|error| KeystoreError::LockFile {
            path: dir.to_owned(),
            error,
        })?;
    }
    let file = open_lock_file(path).map_err(fail)?;
    sys::lock(&file).map_err(fail)?;
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

    /// The real user id of this process.
    pub(super) fn uid() -> u32 {
        // SAFETY: getuid takes no arguments, cannot fail and touches no memory of ours.
        unsafe { libc::getuid() }
    }

    /// `flock` the whole file exclusively, retrying when a signal interrupts the wait.
    pub(super) fn lock(file: &File) -> io::Result<()> {
        let op = libc::LOCK_EX;
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

    // `File::lock` is std's LockFileEx wrapper (Rust 1.89+, which Windows builds need).
    #[allow(clippy::incompatible_msrv)]
    pub(super) fn lock(file: &File) -> io::Result<()> {
        file.lock().map_err(|e| io::Error::other(e.to_string()))
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
        let guard = acquire(&path).unwrap();
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
        let err = acquire(&path).unwrap_err();
        match err {
            KeystoreError::LockFile { error, .. } => {
                assert_eq!(error.raw_os_error(), Some(libc::ELOOP));
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
        let err = acquire(&lock_path(&dir, "svc")).unwrap_err();
        assert!(err.to_string().contains("writable by other users"), "{err}");
    }

    #[test]
    fn a_second_writer_waits_for_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let path = lock_path(tmp.path(), "svc");
        let first = acquire(&path).unwrap();
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        let writer = std::thread::spawn(move || {
            let g = acquire(&p).unwrap();
            tx.send(()).unwrap();
            drop(g);
        });
        // Not a timing assertion: the writer must not get in while the first holds the lock,
        // however long we look; we only bound how long we look.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(first);
        rx.recv().unwrap();
        writer.join().unwrap();
    }

    #[test]
    fn the_default_directory_depends_on_the_uid_not_on_the_environment() {
        let dir = default_lock_dir().unwrap();
        let uid = sys::uid();
        let s = dir.to_string_lossy().into_owned();
        assert!(
            s == format!("/run/user/{uid}/secllama") || s == format!("/tmp/secllama-{uid}"),
            "{s}"
        );
    }
}
