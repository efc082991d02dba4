//! Layer 1 of a spawned child (sandbox v2): its own user, mount, PID, IPC, UTS, cgroup and
//! network namespaces, the minimal root ([`super::rootfs`]), a new session, and only the
//! passed descriptors.
//!
//! The process `Command::spawn` forks (the *outer* one) unshares the namespaces and forks
//! again: only the *inner* process is in the new PID namespace, as its PID 1, and goes on to
//! build the root and `exec` the program. The outer process stays in the host's PID namespace
//! as the waiter: it closes every descriptor it has (so `spawn` returns as soon as the inner
//! one has `exec`ed), waits for the inner process, and exits the same way (the same code, or
//! the same signal), so `Child::wait` reports the program's own status. The inner process gets
//! `SIGKILL` when the outer dies (`PR_SET_PDEATHSIG`, checked against a pipe the outer holds,
//! so a death before the `prctl` is seen too), and the outer when the host dies: killing the
//! `Child` kills the program. When PID 1 of the namespace exits, the kernel kills everything
//! else in it, so nothing the program forks outlives it. The outer process is a copy of the
//! host: it is made non-dumpable with a core limit of 0 before it does anything else.
//!
//! **Identity.** A non-root caller keeps its uid and gid (mapped to themselves in a new user
//! namespace, as in v1). A **root** caller is mapped to nobody: the outer process (still root)
//! unshares everything but the user namespace, the inner one builds the root while it still
//! can read root's files, then drops the bounding set, its groups and its ids to 65534, and
//! only then enters a user namespace that maps 65534 to itself. Outside, the program is uid
//! 65534 with no capability: file ownership gives it nothing, `RLIMIT_NPROC` binds, and the
//! mount namespace it lives in belongs to the host's user namespace, so it cannot change a
//! single mount.

use std::io;
use std::os::fd::RawFd;

use super::namespaces::write_id_maps;
use super::rootfs;
use super::sys;

/// uid and gid a root caller runs as.
pub(crate) const NOBODY: libc::uid_t = 65534;

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Everything prepared before `fork`.
pub(super) struct Prepared {
    /// The caller is root: run as [`NOBODY`].
    drop_to_nobody: bool,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    rootfs: rootfs::Prepared,
    /// Descriptors that stay open across `exec` (sorted, unique).
    keep_fds: Vec<RawFd>,
    /// The host's pid, for the outer process's parent-death check.
    host_pid: libc::pid_t,
}

impl Prepared {
    /// The confinement is always built on a new user namespace (for root too: without one,
    /// the identity change would drop the capabilities later steps need; `plan` refuses).
    pub(super) fn new(root: bool, rootfs: rootfs::Prepared, keep: &[RawFd]) -> Self {
        // SAFETY: getuid/getgid/getpid cannot fail.
        let (uid, gid, host_pid) = unsafe { (libc::getuid(), libc::getgid(), libc::getpid()) };
        let (uid, gid) = if root { (NOBODY, NOBODY) } else { (uid, gid) };
        let mut keep_fds: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd > 2).collect();
        keep_fds.sort_unstable();
        keep_fds.dedup();
        Prepared {
            drop_to_nobody: root,
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            rootfs,
            keep_fds,
            host_pid,
        }
    }

    /// Runs in the child `Command::spawn` forked. Returns only in the inner process; the outer
    /// one never returns (it waits and exits). Async-signal-safe: raw system calls on data
    /// prepared before the fork.
    pub(super) fn apply(&self) -> io::Result<()> {
        // The outer process: dies with the host, never dumps (it is a copy of the host).
        prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
        // SAFETY: getppid cannot fail.
        if unsafe { libc::getppid() } != self.host_pid {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        set_core_limit_zero()?;

        let mut flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWCGROUP
            | libc::CLONE_NEWNET;
        if !self.drop_to_nobody {
            flags |= libc::CLONE_NEWUSER;
        }
        // SAFETY: unshare takes only flags.
        sys::check(unsafe { libc::unshare(flags) })?;
        if !self.drop_to_nobody {
            self.write_maps()?;
        }
        // Only now: a non-dumpable process's /proc/self files belong to root, so the maps
        // above could not have been written.
        prctl(libc::PR_SET_DUMPABLE, 0)?;

        let [alive_r, alive_w] = pipe2()?;
        let [status_r, status_w] = pipe2()?;
        // SAFETY: fork in a single-threaded child; both sides only make raw system calls.
        let pid = sys::check(unsafe { libc::fork() })?;
        if pid > 0 {
            outer_wait(pid, [alive_w, status_r]);
        }
        // The inner process: PID 1 of the new namespace.
        // SAFETY: closing our copies of the outer's ends.
        unsafe {
            libc::close(alive_w);
            libc::close(status_r);
        }
        self.rootfs.apply()?;
        // The UTS namespace's own name (while the process still holds CAP_SYS_ADMIN in it).
        // SAFETY: a static name and its length.
        sys::check(unsafe { libc::sethostname(c"secllama".as_ptr(), 8) })?;
        if self.drop_to_nobody {
            self.become_nobody()?;
        }
        // Dies with the outer process; the pipe tells whether it is already gone.
        prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
        let mut pfd = libc::pollfd {
            fd: alive_r,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        let ready = sys::check(unsafe { libc::poll(&mut pfd, 1, 0) })?;
        if ready > 0 {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: closing the read end (nothing else uses it).
        unsafe { libc::close(alive_r) };
        // SAFETY: setsid takes no arguments.
        sys::check(unsafe { libc::setsid() })?;
        // PID 1 stays behind as a small init: a PID 1 ignores signals it has no handler for
        // (a program that kills itself with SIGTERM would live on), and it must reap.
        // SAFETY: fork in a single-threaded process; both sides only make raw system calls.
        let program = sys::check(unsafe { libc::fork() })?;
        if program > 0 {
            init(program, status_w);
        }
        // SAFETY: closing the init's end.
        unsafe { libc::close(status_w) };
        self.close_unpassed_fds()
    }

    fn write_maps(&self) -> io::Result<()> {
        write_id_maps(&self.uid_map, &self.gid_map)
    }

    /// Root caller, inner process, root file system built: drop to nobody for good.
    fn become_nobody(&self) -> io::Result<()> {
        for cap in 0..64 {
            // SAFETY: prctl with integer arguments; EINVAL past the last capability.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
                break;
            }
        }
        // SAFETY: setgroups(0, NULL) reads no memory; setres[ug]id take integers.
        sys::check_long(unsafe {
            libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>())
        })?;
        // SAFETY: as above.
        sys::check(unsafe { libc::setresgid(NOBODY, NOBODY, NOBODY) })?;
        // SAFETY: as above.
        sys::check(unsafe { libc::setresuid(NOBODY, NOBODY, NOBODY) })?;
        // After setuid the process is not dumpable, which makes /proc/self/* root's.
        prctl(libc::PR_SET_DUMPABLE, 1)?;
        // SAFETY: unshare takes only flags.
        sys::check(unsafe { libc::unshare(libc::CLONE_NEWUSER) })?;
        self.write_maps()?;
        prctl(libc::PR_SET_DUMPABLE, 0)
    }

    /// Every descriptor above 2 that was not passed is closed at `exec` (marked close-on-exec,
    /// so `spawn`'s own error pipe keeps working until then); the passed ones are made
    /// inheritable.
    fn close_unpassed_fds(&self) -> io::Result<()> {
        let mut from: libc::c_uint = 3;
        for &fd in &self.keep_fds {
            // SAFETY: fcntl on an integer; EBADF when the passed descriptor is not open.
            sys::check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) })?;
            let fd = fd.unsigned_abs();
            if fd > from {
                cloexec_range(from, fd - 1)?;
            }
            from = fd + 1;
        }
        cloexec_range(from, libc::c_uint::MAX)
    }
}

fn pipe2() -> io::Result<[RawFd; 2]> {
    let mut pipe = [-1 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    sys::check(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok(pipe)
}

/// Closes every descriptor except `keep` (sorted). Errors leave descriptors open, which
/// only delays `spawn`'s return, so they are ignored.
fn close_all_but(keep: &[RawFd]) {
    let mut from: libc::c_uint = 0;
    for &fd in keep {
        let fd = fd.unsigned_abs();
        if fd > from {
            // SAFETY: close_range with integer arguments.
            unsafe { libc::syscall(libc::SYS_close_range, from, fd - 1, 0) };
        }
        from = fd + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, libc::c_uint::MAX, 0) };
}

/// Waits for `pid`, retrying on `EINTR`; `None` if it cannot be waited for.
fn wait_for(pid: libc::pid_t) -> Option<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: waiting with a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Some(status);
        }
        if r < 0 && sys::errno() != libc::EINTR {
            return None;
        }
    }
}

/// PID 1 of the sandbox: reaps every orphan until the program exits, hands its wait status
/// to the outer process through `status_w`, and exits (which ends the namespace).
fn init(program: libc::pid_t, status_w: RawFd) -> ! {
    close_all_but(&[status_w]);
    loop {
        let mut status = 0;
        // SAFETY: waiting for any child with a valid out pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == program {
            let bytes = status.to_ne_bytes();
            // SAFETY: a 4-byte buffer on the stack.
            unsafe { libc::write(status_w, bytes.as_ptr().cast(), bytes.len()) };
            // SAFETY: _exit never returns.
            unsafe { libc::_exit(0) };
        }
        if r < 0 && sys::errno() != libc::EINTR {
            // SAFETY: _exit never returns.
            unsafe { libc::_exit(127) };
        }
    }
}

/// The outer process: close everything but its pipe ends, wait for the inner process (the
/// init), and leave the way the program left.
fn outer_wait(inner: libc::pid_t, [alive_w, status_r]: [RawFd; 2]) -> ! {
    let mut keep = [alive_w, status_r];
    keep.sort_unstable();
    close_all_but(&keep);
    let Some(mut status) = wait_for(inner) else {
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(127) }
    };
    let mut bytes = [0u8; 4];
    // SAFETY: a 4-byte buffer on the stack; every write end is closed by now.
    if unsafe { libc::read(status_r, bytes.as_mut_ptr().cast(), bytes.len()) } == 4 {
        status = libc::c_int::from_ne_bytes(bytes);
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        // SAFETY: restore the default action and unblock the signal, then raise it on
        // ourselves (no core: the limit is 0); _exit if it does not end us.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
    }
    // SAFETY: _exit never returns.
    unsafe { libc::_exit(libc::WEXITSTATUS(status)) }
}

fn cloexec_range(first: libc::c_uint, last: libc::c_uint) -> io::Result<()> {
    // SAFETY: close_range with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return Ok(());
    }
    // Kernels before 5.11: mark each open descriptor up to the descriptor limit.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out pointer.
    sys::check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    let end =
        RawFd::try_from(lim.rlim_cur.min(u64::from(last) + 1).min(1 << 20)).unwrap_or(1 << 20);
    let mut fd = RawFd::try_from(first).unwrap_or(RawFd::MAX);
    while fd < end {
        // SAFETY: fcntl on an integer; EBADF for closed descriptors is expected.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        fd += 1;
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    sys::check(unsafe { libc::prctl(option, arg, 0, 0, 0) }).map(drop)
}

fn set_core_limit_zero() -> io::Result<()> {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit.
    sys::check(unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_root() -> rootfs::Prepared {
        rootfs::Prepared::new(&[], &[], &[], None).unwrap()
    }

    #[test]
    fn root_callers_are_mapped_to_nobody_and_others_keep_their_ids() {
        let p = Prepared::new(true, empty_root(), &[]);
        assert_eq!(p.uid_map, b"65534 65534 1\n");
        assert_eq!(p.gid_map, b"65534 65534 1\n");
        let p = Prepared::new(false, empty_root(), &[]);
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!(p.uid_map, format!("{uid} {uid} 1\n").as_bytes());
        assert_eq!(p.gid_map, format!("{gid} {gid} 1\n").as_bytes());
    }

    #[test]
    fn passed_descriptors_are_sorted_unique_and_never_stdio() {
        let p = Prepared::new(false, empty_root(), &[9, 4, 2, 9, 0]);
        assert_eq!(p.keep_fds, [4, 9]);
    }
}
