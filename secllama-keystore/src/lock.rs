//! The advisory lock that keeps writers of one service from racing.
//!
//! It is an optimisation, not what keeps keys safe (see `keystore.rs`): with it, seal counts
//! are exact and concurrent status changes are not lost; without it (another user, a process
//! that set its own [`KeystoreConfig::lock_dir`](crate::KeystoreConfig::lock_dir)) every key
//! still stays findable. So that every process of a user agrees on it whatever its
//! environment, the directory depends on the user alone, never on environment variables
//! (`XDG_RUNTIME_DIR`, `TMPDIR`, `HOME`, `LOCALAPPDATA`, `TEMP` differ between a desktop
//! session, cron, ssh, `env -i`, Flatpak):
//!
//! 1. the directory set with [`KeystoreConfig::lock_dir`](crate::KeystoreConfig::lock_dir);
//! 2. Linux and other Unix: `/run/user/<uid>/secllama/` when `/run/user/<uid>` exists and is
//!    the user's (the systemd per-user runtime directory, whatever `XDG_RUNTIME_DIR` says),
//!    else `/tmp/secllama-<uid>/` (not `$TMPDIR`); macOS has no `/run/user`, so always
//!    `/tmp/secllama-<uid>/` (not the per-user `$TMPDIR` under `/var/folders`). The directory
//!    is created mode 0700 and refused if it is a symlink, not owned by the user, or open to
//!    others. The choice is made at each lock, so a long-lived process follows
//!    `/run/user/<uid>` appearing (first login) or vanishing (last logout); only an operation
//!    under way at that moment can overlap one in the other directory;
//! 3. Windows: `<Local AppData>\secllama\`, where Local AppData is the known folder
//!    `FOLDERID_LocalAppData` of the process's user, read by `SHGetKnownFolderPath` from the
//!    user's profile, not from the `LOCALAPPDATA` variable a process may have changed.
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
        let runtime_dir =
            std::fs::symlink_metadata(&run).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        Ok(unix_lock_dir(uid, runtime_dir))
    }
    #[cfg(windows)]
    {
        sys::local_app_data()
            .map(|d| d.join("secllama"))
            .map_err(|error| KeystoreError::LockFile {
                path: PathBuf::from("<Local AppData>"),
                error,
            })
    }
    #[cfg(not(any(unix, windows)))]
    {
        Err(KeystoreError::LockFile {
            path: PathBuf::new(),
            error: io::Error::other("no per-user lock directory on this operating system: set one"),
        })
    }
}

/// The Unix default for user `uid`: the systemd runtime directory when it exists and is the
/// user's (`runtime_dir`), else `/tmp/secllama-<uid>`. Nothing else goes into the choice.
#[cfg(unix)]
pub(crate) fn unix_lock_dir(uid: u32, runtime_dir: bool) -> PathBuf {
    if runtime_dir {
        PathBuf::from(format!("/run/user/{uid}/secllama"))
    } else {
        PathBuf::from(format!("/tmp/secllama-{uid}"))
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

    /// The user's Local AppData known folder, from the profile (not the environment).
    #[cfg(windows)]
    #[allow(unsafe_code)]
    pub(super) fn local_app_data() -> io::Result<std::path::PathBuf> {
        use std::os::windows::ffi::OsStringExt;
        use windows_sys::Win32::System::Com::CoTaskMemFree;
        use windows_sys::Win32::UI::Shell::{FOLDERID_LocalAppData, SHGetKnownFolderPath};

        let mut path: *mut u16 = std::ptr::null_mut();
        // SAFETY: the GUID is a static; flags 0 is KF_FLAG_DEFAULT; a null token means the
        // calling thread's user; `path` receives a buffer the shell allocates (or null).
        let hr = unsafe {
            SHGetKnownFolderPath(&FOLDERID_LocalAppData, 0, std::ptr::null_mut(), &mut path)
        };
        let result = if hr == 0 && !path.is_null() {
            // SAFETY: on success `path` is a NUL-terminated UTF-16 string the shell allocated;
            // we read up to the NUL, within that allocation, before freeing it below.
            let wide = unsafe {
                let mut len = 0usize;
                while *path.add(len) != 0 {
                    len += 1;
                }
                std::slice::from_raw_parts(path, len).to_vec()
            };
            Ok(std::path::PathBuf::from(std::ffi::OsString::from_wide(
                &wide,
            )))
        } else {
            Err(io::Error::other(format!(
                "SHGetKnownFolderPath(Local AppData) failed: HRESULT {hr:#010x}"
            )))
        };
        // SAFETY: the caller frees the buffer whether the call succeeded or not; null is a
        // no-op.
        unsafe { CoTaskMemFree(path.cast_const().cast()) };
        result
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

    #[test]
    fn the_unix_choice_is_the_runtime_directory_else_tmp_and_on_macos_always_tmp() {
        // Linux with a systemd user session.
        assert_eq!(
            unix_lock_dir(1000, true),
            PathBuf::from("/run/user/1000/secllama")
        );
        // Linux without one (cron after the last logout, containers) and macOS (no /run/user):
        // /tmp, never $TMPDIR (per-user /var/folders/... on macOS, anything under env -i).
        assert_eq!(
            unix_lock_dir(501, false),
            PathBuf::from("/tmp/secllama-501")
        );
        assert_eq!(unix_lock_dir(0, false), PathBuf::from("/tmp/secllama-0"));
    }
}
