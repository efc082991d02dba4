//! The red team's escapes (issue 12's table), one operation each: other processes' limits,
//! metadata changes and leaks, datagram pairs, SysV IPC, the terminal and inherited
//! descriptors. Same line format as the other operations.

use std::ffi::CString;
use std::io;

fn last() -> String {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(-1)
        .to_string()
}

fn check(rc: libc::c_long) -> Result<libc::c_long, String> {
    if rc < 0 { Err(last()) } else { Ok(rc) }
}

/// A byte count a successful call returned.
fn len(rc: libc::c_long) -> usize {
    usize::try_from(rc).unwrap_or(0)
}

fn cpath(path: &str) -> Result<CString, String> {
    CString::new(path).map_err(|_| "nul".to_owned())
}

fn number<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.parse().map_err(|_| "bad-number".to_owned())
}

fn prlimit(
    pid: &str,
    res: libc::__rlimit_resource_t,
    new: Option<(u64, u64)>,
) -> Result<String, String> {
    let pid: libc::pid_t = number(pid)?;
    let new = new.map(|(cur, max)| libc::rlimit64 {
        rlim_cur: cur,
        rlim_max: max,
    });
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let new_ptr = new
        .as_ref()
        .map_or(std::ptr::null(), |n| n as *const libc::rlimit64);
    // SAFETY: valid (or NULL) pointers to rlimit64 structs living across the call.
    check(unsafe { libc::syscall(libc::SYS_prlimit64, pid, res, new_ptr, &mut old) })?;
    Ok(format!("{}/{}", old.rlim_cur, old.rlim_max))
}

fn path_call(path: &str, f: impl FnOnce(&CString) -> libc::c_long) -> Result<String, String> {
    let p = cpath(path)?;
    check(f(&p)).map(|_| "done".into())
}

/// `PATH:ARG`.
fn path_and(val: &str) -> Result<(&str, &str), String> {
    val.rsplit_once(':')
        .ok_or_else(|| "want PATH:ARG".to_owned())
}

fn chmod(val: &str) -> Result<String, String> {
    let (path, mode) = path_and(val)?;
    let mode = libc::mode_t::from_str_radix(mode, 8).map_err(|_| "bad-mode".to_owned())?;
    // SAFETY: a valid C string.
    path_call(path, |p| unsafe { libc::chmod(p.as_ptr(), mode) }.into())
}

fn chown(val: &str) -> Result<String, String> {
    let (path, gid) = path_and(val)?;
    // -1 leaves it unchanged.
    let gid: libc::gid_t = if gid == "-1" {
        libc::gid_t::MAX
    } else {
        number(gid)?
    };
    path_call(path, |p| {
        // SAFETY: a valid C string.
        unsafe { libc::chown(p.as_ptr(), libc::uid_t::MAX, gid) }.into()
    })
}

fn name_to_handle(path: &str) -> Result<String, String> {
    let p = cpath(path)?;
    // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[128]; }
    let mut buf = [0u32; 2 + 32];
    buf[0] = 128;
    let mut mount_id: libc::c_int = 0;
    // SAFETY: buf is a file_handle with room for MAX_HANDLE_SZ bytes; valid path and out int.
    check(unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            p.as_ptr(),
            buf.as_mut_ptr(),
            &mut mount_id,
            0,
        )
    })
    .map(|_| format!("handle of {} bytes", buf[0]))
}

fn inotify(path: &str) -> Result<String, String> {
    let p = cpath(path)?;
    // SAFETY: plain call.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    check(fd.into())?;
    // SAFETY: a valid fd and C string.
    let r = check(
        unsafe { libc::inotify_add_watch(fd, p.as_ptr(), libc::IN_MODIFY | libc::IN_ACCESS) }
            .into(),
    );
    // SAFETY: closing the fd created above.
    unsafe { libc::close(fd) };
    r.map(|_| "watching".into())
}

fn getxattr(path: &str) -> Result<String, String> {
    let p = cpath(path)?;
    let mut buf = [0u8; 64];
    // SAFETY: valid C strings and a buffer of the given size.
    let n = check(unsafe {
        libc::getxattr(
            p.as_ptr(),
            c"user.probe".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    } as libc::c_long)?;
    Ok(String::from_utf8_lossy(&buf[..len(n)]).into_owned())
}

fn setxattr(path: &str) -> Result<String, String> {
    path_call(path, |p| {
        // SAFETY: valid C strings and a 5-byte value.
        unsafe {
            libc::setxattr(
                p.as_ptr(),
                c"user.probe".as_ptr(),
                b"probe".as_ptr().cast(),
                5,
                0,
            )
        }
        .into()
    })
}

/// The mount points of the probe's mount namespace, comma-separated.
fn mounts() -> Result<String, String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| e.raw_os_error().unwrap_or(-1).to_string())?;
    let points: Vec<&str> = text.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    Ok(points.join(","))
}

/// `socketpair(AF_UNIX, SOCK_RAW)` (the kernel makes it a datagram pair), then `sendto` the
/// pathname datagram socket `path`.
fn raw_sendto(path: &str) -> Result<String, String> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(last());
    }
    // SAFETY: owning the two new descriptors.
    let (a, _b) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::unix::net::UnixDatagram::from_raw_fd(fds[0]),
            std::os::unix::net::UnixDatagram::from_raw_fd(fds[1]),
        )
    };
    a.send_to(b"probe", path)
        .map(|n| n.to_string())
        .map_err(|e| e.raw_os_error().unwrap_or(-1).to_string())
}

fn shm_attach(id: &str) -> Result<String, String> {
    let id: libc::c_int = number(id)?;
    // SAFETY: attaching read-only; the mapping is only read up to the first NUL within 64 bytes
    // (the segments the tests create are at least a page) and detached.
    unsafe {
        let p = libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY);
        if p as isize == -1 {
            return Err(last());
        }
        let bytes = std::slice::from_raw_parts(p.cast::<u8>(), 64);
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(64);
        let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
        libc::shmdt(p);
        Ok(text)
    }
}

/// A private segment of its own: create, attach, write, read back, remove.
fn shm_own() -> Result<String, String> {
    // SAFETY: a fresh private segment of one page, attached read-write, written within its
    // size, detached and removed.
    unsafe {
        let id = libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600);
        if id < 0 {
            return Err(last());
        }
        let p = libc::shmat(id, std::ptr::null(), 0);
        let r = if p as isize == -1 {
            Err(last())
        } else {
            std::ptr::copy_nonoverlapping(b"own".as_ptr(), p.cast::<u8>(), 3);
            let back = std::slice::from_raw_parts(p.cast::<u8>(), 3).to_vec();
            libc::shmdt(p);
            Ok(String::from_utf8_lossy(&back).into_owned())
        };
        libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
        r
    }
}

#[repr(C)]
struct Msg {
    mtype: libc::c_long,
    text: [u8; 64],
}

fn msg_receive(id: &str) -> Result<String, String> {
    let id: libc::c_int = number(id)?;
    let mut m = Msg {
        mtype: 0,
        text: [0; 64],
    };
    // SAFETY: m has room for 64 bytes of text after mtype.
    let n = check(
        unsafe { libc::msgrcv(id, (&mut m as *mut Msg).cast(), 64, 0, libc::IPC_NOWAIT) }
            as libc::c_long,
    )?;
    Ok(String::from_utf8_lossy(&m.text[..len(n)]).into_owned())
}

/// A private queue of its own: create, send, receive, remove.
fn msg_own() -> Result<String, String> {
    // SAFETY: a fresh private queue; the message structs live across the calls.
    unsafe {
        let id = libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600);
        if id < 0 {
            return Err(last());
        }
        let mut m = Msg {
            mtype: 1,
            text: [0; 64],
        };
        m.text[..3].copy_from_slice(b"own");
        let r = if libc::msgsnd(id, (&m as *const Msg).cast(), 3, libc::IPC_NOWAIT) != 0 {
            Err(last())
        } else {
            msg_receive(&id.to_string())
        };
        libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut());
        r
    }
}

fn fd_read(fd: &str) -> Result<String, String> {
    let fd: libc::c_int = number(fd)?;
    let mut buf = [0u8; 64];
    // SAFETY: reading into a buffer of its size from a descriptor number (possibly not open).
    let n = check(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long)?;
    Ok(String::from_utf8_lossy(&buf[..len(n)]).trim().to_owned())
}

fn session() -> Result<String, String> {
    // SAFETY: integer-only calls.
    let (sid, pid) = unsafe { (libc::getsid(0), libc::getpid()) };
    Ok(format!("sid={sid};pid={pid}"))
}

fn tcsetpgrp(fd: &str) -> Result<String, String> {
    let fd: libc::c_int = number(fd)?;
    // SAFETY: integer-only calls.
    check(unsafe { libc::tcsetpgrp(fd, libc::getpgrp()) }.into()).map(|_| "done".into())
}

fn tiocsti(fd: &str) -> Result<String, String> {
    let fd: libc::c_int = number(fd)?;
    let c = b'x';
    // SAFETY: TIOCSTI reads one byte from a valid pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCSTI, &c) }.into()).map(|_| "typed".into())
}

fn isatty(fd: &str) -> Result<String, String> {
    let fd: libc::c_int = number(fd)?;
    // SAFETY: integer-only call.
    if unsafe { libc::isatty(fd) } == 1 {
        Ok("tty".into())
    } else {
        Err(last())
    }
}

fn ptrace_pid(pid: &str) -> Result<String, String> {
    let pid: libc::pid_t = number(pid)?;
    // SAFETY: integer arguments; a successful attach is undone by detaching (and by our exit).
    unsafe {
        check(libc::ptrace(libc::PTRACE_ATTACH, pid, 0usize, 0usize))?;
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        libc::ptrace(libc::PTRACE_DETACH, pid, 0usize, 0usize);
    }
    Ok("attached".into())
}

/// Runs an operation of this module; `None` if `op` is not one of them.
pub(crate) fn run(op: &str, val: &str) -> Option<Result<String, String>> {
    const INF: u64 = libc::RLIM_INFINITY;
    Some(match op {
        "prlimit-get" => prlimit(val, libc::RLIMIT_NOFILE, None),
        "prlimit-core" => prlimit(val, libc::RLIMIT_CORE, Some((INF, INF))),
        "prlimit-cpu" => prlimit(val, libc::RLIMIT_CPU, Some((1, INF))),
        "chmod" => chmod(val),
        "chown" => chown(val),
        "utime" => path_call(val, |p| {
            // SAFETY: a valid C string; NULL times means "now".
            unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), std::ptr::null(), 0) }.into()
        }),
        "setxattr" => setxattr(val),
        "getxattr" => getxattr(val),
        "stat" => std::fs::metadata(val)
            .map(|m| m.len().to_string())
            .map_err(|e| e.raw_os_error().unwrap_or(-1).to_string()),
        "name-to-handle" => name_to_handle(val),
        "inotify" => inotify(val),
        "mounts" => mounts(),
        "raw-sendto" => raw_sendto(val),
        "shm-attach" => shm_attach(val),
        "shm-own" => shm_own(),
        "msg-receive" => msg_receive(val),
        "msg-own" => msg_own(),
        "fd-read" => fd_read(val),
        "session" => session(),
        "tcsetpgrp" => tcsetpgrp(val),
        "tiocsti" => tiocsti(val),
        "isatty" => isatty(val),
        "harden" => secllama_sandbox::harden_current_process()
            .map(|h| format!("{h:?}"))
            .map_err(|e| e.to_string()),
        // SAFETY: prctl with integer arguments.
        "dumpable" => check(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }.into())
            .map(|d| d.to_string()),
        "ptrace-pid" => ptrace_pid(val),
        "open-tty" => std::fs::File::open("/dev/tty")
            .map(|_| "opened".into())
            .map_err(|e| e.raw_os_error().unwrap_or(-1).to_string()),
        _ => return None,
    })
}
