//! Unix (Linux, macOS): a socket pair for the frames, a pipe for the session key.
//!
//! Every descriptor is created close-on-exec, so no program this process (or another thread
//! of it) starts inherits one; the runner's two ends are made inheritable in the forked child
//! only, just before `exec` ([`ChildEnds::configure`]).
//!
//! Linux creates them atomically close-on-exec (`SOCK_CLOEXEC`, `pipe2(O_CLOEXEC)`). macOS has
//! neither `pipe2` nor `SOCK_CLOEXEC`: the descriptors are made, then marked `FD_CLOEXEC` at
//! once, without a lock (std's own `Command` takes none we could share, so a lock would not
//! close the window). The race that remains: another thread of the host that forks and execs
//! a program in the few instructions between `pipe()`/`socketpair()` and `fcntl()` hands that
//! program copies. A copy of the key pipe's read end can steal the key message, but the runner
//! then reads a short or empty message and refuses to start ([`exit::BAD_KEY`]), so the key of
//! a session that never opens is worth nothing; a copy of the socket can only inject frames,
//! which fail to open without the session key (encryption on, the default).
//!
//! [`exit::BAD_KEY`]: crate::wire::exit::BAD_KEY

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::parse_child_args;

/// The frame channel: one end of a socket pair.
pub(crate) type Channel = UnixStream;

/// The runner's command-line names for its two descriptors.
const ARG_NAMES: [&str; 2] = ["--socket-fd", "--key-fd"];

/// The host's ends: the channel and the write end of the key pipe.
pub(crate) struct HostEnds {
    pub(crate) channel: Channel,
    pub(crate) key: File,
}

/// The runner's ends, held by the host until the runner has started.
pub(crate) struct ChildEnds {
    socket: OwnedFd,
    key: OwnedFd,
}

impl ChildEnds {
    /// Makes the channel and the key pipe.
    pub(crate) fn new() -> std::io::Result<(HostEnds, ChildEnds)> {
        // std: socketpair with SOCK_CLOEXEC on Linux, FD_CLOEXEC right after on macOS.
        let (host, child) = UnixStream::pair()?;
        let (key_read, key_write) = pipe_cloexec()?;
        Ok((
            HostEnds {
                channel: host,
                key: File::from(key_write),
            },
            ChildEnds {
                socket: child.into(),
                key: key_read,
            },
        ))
    }

    /// The descriptor numbers the runner receives (the sandbox passes exactly these).
    pub(crate) fn raw(&self) -> [RawFd; 2] {
        [self.socket.as_raw_fd(), self.key.as_raw_fd()]
    }

    /// Names the two descriptors on `cmd`'s command line and makes them inheritable in the
    /// child just before `exec`. Register this before the sandbox's own `pre_exec` hooks, so
    /// the descriptors are inheritable by the time those run.
    pub(crate) fn configure(&self, cmd: &mut Command) {
        let fds = self.raw();
        cmd.arg(ARG_NAMES[0])
            .arg(fds[0].to_string())
            .arg(ARG_NAMES[1])
            .arg(fds[1].to_string());
        // SAFETY: the closure only calls fcntl, which is async-signal-safe, on descriptors
        // that stay open in the parent until after spawn returns.
        unsafe {
            cmd.pre_exec(move || {
                for fd in fds {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
}

/// The runner side: opens the channel and the key pipe its command line names.
///
/// # Errors
/// The arguments are not exactly `--socket-fd N --key-fd M` with two different descriptors
/// above stderr.
pub(crate) fn open_child_ends(args: &[String]) -> Result<(Channel, File), String> {
    let parsed = parse_child_args(args, &ARG_NAMES, 3)?;
    let fd = |v: u64| RawFd::try_from(v).map_err(|_| format!("descriptor {v} is out of range"));
    let (socket, key) = (fd(parsed.values[0])?, fd(parsed.values[1])?);
    // SAFETY: the host passed these two descriptors to this process for its exclusive use;
    // nothing else in this process owns them (they differ, checked above).
    let (socket, key) = unsafe { (OwnedFd::from_raw_fd(socket), OwnedFd::from_raw_fd(key)) };
    Ok((UnixStream::from(socket), File::from(key)))
}

/// A pipe whose two ends are close-on-exec (read end first).
pub(crate) fn pipe_cloexec() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    #[cfg(not(target_vendor = "apple"))]
    {
        // SAFETY: pipe2 writes two descriptors into the array we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(target_vendor = "apple")]
    {
        // SAFETY: pipe writes two descriptors into the array we own.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: the call above succeeded, so both descriptors are open and owned by nobody else.
    let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(target_vendor = "apple")]
    for fd in [&ends.0, &ends.1] {
        // SAFETY: fcntl(F_SETFD) on a descriptor we own; no memory is involved.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(ends)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloexec(fd: RawFd) -> bool {
        // SAFETY: F_GETFD on an open descriptor has no memory effects.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        flags != -1 && flags & libc::FD_CLOEXEC != 0
    }

    #[test]
    fn every_end_is_created_close_on_exec() {
        let (host, child) = ChildEnds::new().unwrap();
        for fd in [host.channel.as_raw_fd(), host.key.as_raw_fd()]
            .into_iter()
            .chain(child.raw())
        {
            assert!(cloexec(fd), "descriptor {fd} is inheritable");
        }
        let (r, w) = pipe_cloexec().unwrap();
        assert!(cloexec(r.as_raw_fd()) && cloexec(w.as_raw_fd()));
    }

    #[test]
    fn the_command_line_names_exactly_the_child_ends() {
        let (_host, child) = ChildEnds::new().unwrap();
        let mut cmd = Command::new("/bin/true");
        child.configure(&mut cmd);
        let fds = child.raw();
        let got: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            [
                "--socket-fd".to_owned(),
                fds[0].to_string(),
                "--key-fd".to_owned(),
                fds[1].to_string()
            ]
        );
        assert_eq!(
            open_child_ends(&got[..2]).err().as_deref(),
            Some("--socket-fd, --key-fd (2 different descriptors) are required")
        );
    }
}
