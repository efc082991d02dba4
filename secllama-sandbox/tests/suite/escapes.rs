//! Issue 12's rows about the host's processes and objects: `prlimit64` on another process, a
//! datagram pair aimed at a host socket, SysV shared memory and message queues, the host's
//! terminal, and descriptors the caller left inheritable. Each attempt is first shown to work
//! outside the sandbox (the control), then refused inside, next to the allowed thing.

use std::io::{ErrorKind, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use secllama_sandbox::{Layer, SandboxPolicy, Strictness};

use super::helpers::{Answers, EPERM, op, probe_path, run, run_with, tempdir};

const EBADF: &str = "9";
const ESRCH: &str = "3";
const EINVAL: &str = "22";
const ENOTTY: &str = "25";

fn unsandboxed(ops: &[&str], configure: impl FnOnce(&mut Command)) -> Answers {
    let mut c = Command::new(probe_path());
    c.args(ops);
    configure(&mut c);
    Answers::from_output(c.output().unwrap(), None)
}

fn limit(res: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { libc::getrlimit(res, &mut rl) }, 0);
    (rl.rlim_cur, rl.rlim_max)
}

fn inheritable(fd: &impl AsRawFd) -> i32 {
    let fd = fd.as_raw_fd();
    // SAFETY: clearing FD_CLOEXEC on a descriptor we own, as C, Go and Python hosts leave them.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    fd
}

#[test]
fn prlimit64_on_the_init_or_a_host_process_is_refused_and_on_itself_works() {
    let host = std::process::id();
    let (get_host, core_host, cpu_host) = (
        op("prlimit-get", host),
        op("prlimit-core", host),
        op("prlimit-cpu", host),
    );
    let (core, cpu) = (limit(libc::RLIMIT_CORE), limit(libc::RLIMIT_CPU));
    // The control: outside, the same user reads (and could set) the host process's limits.
    let control = unsandboxed(&[&get_host], |_| {});
    let nofile = limit(libc::RLIMIT_NOFILE);
    assert_eq!(
        control.assert_ok(&get_host),
        format!("{}/{}", nofile.0, nofile.1)
    );

    let a = run(
        &SandboxPolicy::new(),
        &[
            &get_host,
            &core_host,
            &cpu_host,
            "prlimit-get=1",
            "prlimit-cpu=1",
            "prlimit-get=2",
            "prlimit-get=0",
        ],
    );
    // seccomp: prlimit64 takes pid 0 (itself) only, so neither the sandbox's init (its
    // parent, PID 1) nor a host pid, nor even its own pid number (2) is accepted.
    for o in [
        &get_host,
        &core_host,
        &cpu_host,
        "prlimit-get=1",
        "prlimit-cpu=1",
        "prlimit-get=2",
    ] {
        a.assert_err(o, EPERM);
    }
    // The allowed thing: its own limits (what getrlimit/setrlimit use).
    let own = a.assert_ok("prlimit-get=0");
    assert!(own.contains('/'), "{own}");
    assert_eq!(limit(libc::RLIMIT_CORE), core);
    assert_eq!(limit(libc::RLIMIT_CPU), cpu);

    // Defence in depth: without seccomp the PID namespace alone hides the host process.
    let policy = SandboxPolicy::new()
        .strictness(Strictness::BestEffort)
        .simulate_unavailable(Layer::Seccomp);
    let a = run(&policy, &[&get_host, &cpu_host, "prlimit-get=0"]);
    a.assert_err(&get_host, ESRCH);
    a.assert_err(&cpu_host, ESRCH);
    a.assert_ok("prlimit-get=0");
    assert_eq!(limit(libc::RLIMIT_CPU), cpu);
}

#[test]
fn a_raw_unix_socketpair_cannot_reach_a_host_datagram_socket() {
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.path().join("journal");
    let receiver = UnixDatagram::bind(&path).unwrap();
    receiver.set_nonblocking(true).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let send = op("raw-sendto", path.display());
    // The control: outside, a raw pair (a datagram pair to the kernel) sends to it.
    let control = unsandboxed(&[&send], |_| {});
    assert_eq!(control.assert_ok(&send), "5");
    let mut buf = [0u8; 16];
    assert_eq!(receiver.recv(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"probe");

    // Inside: the socket's directory is even granted read-write, so the path is there.
    let a = run(
        &SandboxPolicy::new().read_write(dir.path()),
        &[
            "socketpair=raw",
            &send,
            "socketpair=dgram",
            "socketpair=stream",
            "socketpair=seqpacket",
        ],
    );
    a.assert_err("socketpair=raw", EPERM);
    a.assert_err(&send, EPERM);
    a.assert_err("socketpair=dgram", EPERM);
    assert_eq!(a.assert_ok("socketpair=stream"), "created");
    assert_eq!(a.assert_ok("socketpair=seqpacket"), "created");
    assert_eq!(
        receiver.recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

/// A SysV segment and queue of the host, readable by everybody, removed on drop.
struct HostIpc {
    shm: libc::c_int,
    msg: libc::c_int,
}

#[repr(C)]
struct Msg {
    mtype: libc::c_long,
    text: [u8; 64],
}

impl HostIpc {
    fn new() -> Self {
        // SAFETY: a fresh private segment of one page, written within its size and detached;
        // a fresh queue.
        unsafe {
            let shm = libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o666);
            assert!(shm >= 0);
            let p = libc::shmat(shm, std::ptr::null(), 0);
            assert_ne!(p as isize, -1);
            std::ptr::copy_nonoverlapping(c"host secret".as_ptr().cast::<u8>(), p.cast::<u8>(), 12);
            libc::shmdt(p);
            let msg = libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o666);
            assert!(msg >= 0);
            HostIpc { shm, msg }
        }
    }

    fn send(&self) {
        let mut m = Msg {
            mtype: 1,
            text: [0; 64],
        };
        m.text[..11].copy_from_slice(b"host secret");
        // SAFETY: m holds 11 bytes of text after mtype.
        let rc = unsafe { libc::msgsnd(self.msg, (&m as *const Msg).cast(), 11, 0) };
        assert_eq!(rc, 0);
    }

    fn pending(&self) -> libc::msgqnum_t {
        // SAFETY: msqid_ds is plain data the kernel fills.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: valid queue id and out pointer.
        let rc = unsafe { libc::msgctl(self.msg, libc::IPC_STAT, &mut ds) };
        assert_eq!(rc, 0);
        ds.msg_qnum
    }
}

impl Drop for HostIpc {
    fn drop(&mut self) {
        // SAFETY: removing the objects created in new().
        unsafe {
            libc::shmctl(self.shm, libc::IPC_RMID, std::ptr::null_mut());
            libc::msgctl(self.msg, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

#[test]
fn the_hosts_sysv_segments_and_queues_are_out_of_reach_and_its_own_work() {
    let ipc = HostIpc::new();
    let (attach, receive) = (op("shm-attach", ipc.shm), op("msg-receive", ipc.msg));
    // The control: outside, any process of the user attaches the segment and takes the message.
    ipc.send();
    let control = unsandboxed(&[&attach, &receive], |_| {});
    assert_eq!(control.assert_ok(&attach), "host secret");
    assert_eq!(control.assert_ok(&receive), "host secret");

    ipc.send();
    let a = run(
        &SandboxPolicy::new(),
        &[&attach, &receive, "shm-own", "msg-own"],
    );
    // Its own IPC namespace: the host's ids do not exist there.
    a.assert_err(&attach, EINVAL);
    a.assert_err(&receive, EINVAL);
    assert_eq!(a.assert_ok("shm-own"), "own");
    assert_eq!(a.assert_ok("msg-own"), "own");
    assert_eq!(ipc.pending(), 1, "the host's message is still queued");
}

/// A new pseudo-terminal: (master, slave), both inheritable.
fn pty() -> Option<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on the descriptor just opened; the slave
    // is opened by the name the kernel gave.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if m < 0 {
            return None;
        }
        let master = OwnedFd::from_raw_fd(m);
        if libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            return None;
        }
        let mut name = [0 as libc::c_char; 128];
        if libc::ptsname_r(m, name.as_mut_ptr(), name.len()) != 0 {
            return None;
        }
        let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if s < 0 {
            return None;
        }
        Some((master, OwnedFd::from_raw_fd(s)))
    }
}

#[test]
fn the_hosts_terminal_is_neither_readable_through_a_leaked_fd_nor_controllable() {
    let Some((master, slave)) = pty() else {
        eprintln!("SKIPPED: no pseudo-terminal can be opened here");
        return;
    };
    let mut typing = std::fs::File::from(master.try_clone().unwrap());
    let fd = inheritable(&slave);
    let read = op("fd-read", fd);
    // The control: outside, a program that inherits the tty reads what the user types.
    typing.write_all(b"hunter2\n").unwrap();
    let control = unsandboxed(&[&read], |_| {});
    assert_eq!(control.assert_ok(&read), "hunter2");

    // Inside: the tty descriptor was not passed, so it is closed.
    typing.write_all(b"hunter2\n").unwrap();
    let a = run(&SandboxPolicy::new(), &[&read, "session"]);
    a.assert_err(&read, EBADF);
    // A new session: the sandbox's init (PID 1) leads it, with no controlling terminal.
    assert_eq!(a.assert_ok("session"), "sid=1;pid=2");

    // The terminal as the caller's controlling terminal and the program's stdin (what
    // `secllama sandbox exec` in an interactive shell gives it).
    let as_controlling_tty = |c: &mut Command| {
        c.stdin(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe; runs before the sandbox's own
        // pre_exec steps (it is registered first).
        unsafe {
            c.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    let control = unsandboxed(&["tcsetpgrp=0"], as_controlling_tty);
    assert_eq!(control.assert_ok("tcsetpgrp=0"), "done");
    let ops = ["tcsetpgrp=0", "tiocsti=0", "isatty=0"].map(str::to_owned);
    let a = run_with(&SandboxPolicy::new(), &ops, as_controlling_tty);
    // setsid() inside: the tty is no longer the controlling terminal of the program's session.
    a.assert_err("tcsetpgrp=0", ENOTTY);
    a.assert_err("tiocsti=0", EPERM); // typing into it: seccomp
    assert_eq!(a.assert_ok("isatty=0"), "tty"); // the stdin the caller chose still works
}

#[test]
fn a_descriptor_the_caller_left_inheritable_is_closed_unless_passed() {
    let dir = tempdir();
    let (secret_path, passed_path) = (dir.path().join("secret"), dir.path().join("passed"));
    std::fs::write(&secret_path, "host secret").unwrap();
    std::fs::write(&passed_path, "handed over").unwrap();
    let secret = std::fs::File::open(&secret_path).unwrap();
    let passed = std::fs::File::open(&passed_path).unwrap();
    let (s, p) = (inheritable(&secret), inheritable(&passed));
    let (read_secret, read_passed) = (op("fd-read", s), op("fd-read", p));
    // The control: outside, both are inherited.
    let control = unsandboxed(&[&read_secret], |_| {});
    assert_eq!(control.assert_ok(&read_secret), "host secret");

    let a = run(
        &SandboxPolicy::new().pass_fd(p),
        &[&read_secret, &read_passed],
    );
    a.assert_err(&read_secret, EBADF);
    assert_eq!(a.assert_ok(&read_passed), "handed over");
}
