//! `secllama-sandbox-probe`: tries one thing per argument from inside a sandbox and prints one
//! machine-readable line per attempt:
//!
//! ```text
//! <op>\tok\t<detail>
//! <op>\terr\t<errno>          (or eai:<code> for a failed name lookup)
//! ```
//!
//! The integration tests run it under `SandboxPolicy::apply_to` and assert the exact outcome
//! of each line. Operations (`op` or `op=ARG`): `status`, `env`, `read=PATH`, `write=PATH`,
//! `tcp-connect=ADDR`, `udp-send=ADDR`, `socket=inet|inet6|packet|netlink|unix`, `dns=NAME`,
//! `abstract-connect=NAME`, `unix-connect=PATH`, `dgram-sendto=PATH`, `socketpair=stream|dgram`,
//! `socketpair-fd=FD`, `link=SRC:DST`, `rename=SRC:DST`, `foreign-syscall=i386|x32`, `ptrace-parent`, `kill-parent`, `io-uring`,
//! `keyctl`, `mount`, `unshare`, `ppid`, `kill-pid=PID`, `exec-status=PATH`, `alloc=BYTES`, `fork=N`,
//! `ioctl-fionread=PATH`, and the escapes of issue 12's table in `escapes.rs` (`prlimit-*`,
//! `chmod`, `chown`, `utime`, `setxattr`, `getxattr`, `stat`, `name-to-handle`, `inotify`,
//! `mounts`, `raw-sendto`, `shm-*`, `msg-*`, `fd-read`, `session`, `tcsetpgrp`, `tiocsti`,
//! `isatty`, `open-tty`).
//!
//! Two modes wrap the operations: `--enforce-self [--ro P] [--rw P] -- OPS` locks the probe
//! itself down with `enforce_current_process` first; `--launch [--nproc N] [--mem B] -- OPS`
//! spawns the probe sandboxed with `apply_to` and relays its output (for running the whole
//! thing as another user with `setpriv`).

#[cfg(target_os = "linux")]
mod escapes;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("secllama-sandbox-probe runs on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CString;
    use std::io::{self, Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    use std::process::{Command, ExitCode};

    use secllama_sandbox::{ResourceLimits, SandboxPolicy, Strictness};

    fn errno_of(e: &io::Error) -> i32 {
        e.raw_os_error().unwrap_or(-1)
    }

    fn last() -> i32 {
        errno_of(&io::Error::last_os_error())
    }

    fn line(op: &str, r: Result<String, String>) {
        match r {
            Ok(d) => println!("{op}\tok\t{d}"),
            Err(e) => println!("{op}\terr\t{e}"),
        }
    }

    fn io<T>(r: io::Result<T>) -> Result<T, String> {
        r.map_err(|e| errno_of(&e).to_string())
    }

    fn rc(r: libc::c_long) -> Result<String, String> {
        if r < 0 {
            Err(last().to_string())
        } else {
            Ok(r.to_string())
        }
    }

    fn status() -> Result<String, String> {
        let s = io(std::fs::read_to_string("/proc/self/status"))?;
        let mut out = Vec::new();
        for key in [
            "NoNewPrivs",
            "Seccomp",
            "CapInh",
            "CapPrm",
            "CapEff",
            "CapBnd",
            "CapAmb",
            "Uid",
        ] {
            if let Some(l) = s.lines().find(|l| l.starts_with(&format!("{key}:"))) {
                let v = l[key.len() + 1..]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(",");
                out.push(format!("{key}={v}"));
            }
        }
        Ok(out.join(";"))
    }

    fn socket(kind: &str) -> Result<String, String> {
        let (family, ty) = match kind {
            "inet" => (libc::AF_INET, libc::SOCK_STREAM),
            "inet6" => (libc::AF_INET6, libc::SOCK_STREAM),
            "packet" => (libc::AF_PACKET, libc::SOCK_RAW),
            "netlink" => (libc::AF_NETLINK, libc::SOCK_RAW),
            "unix" => (libc::AF_UNIX, libc::SOCK_STREAM),
            _ => return Err("unknown-family".into()),
        };
        // SAFETY: plain socket call.
        let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(last().to_string());
        }
        // SAFETY: closing the fd just created.
        unsafe { libc::close(fd) };
        Ok("created".into())
    }

    fn dns(name: &str) -> Result<String, String> {
        let c = CString::new(name).map_err(|_| "nul".to_owned())?;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: valid C string, NULL service and hints, valid out pointer.
        let r =
            unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), std::ptr::null(), &mut res) };
        if r != 0 {
            return Err(format!("eai:{r}"));
        }
        // SAFETY: res came from a successful getaddrinfo.
        unsafe { libc::freeaddrinfo(res) };
        Ok("resolved".into())
    }

    fn abstract_connect(name: &str) -> Result<String, String> {
        let addr = io(SocketAddr::from_abstract_name(name.as_bytes()))?;
        io(UnixStream::connect_addr(&addr)).map(|_| "connected".into())
    }

    /// getpid through the i386 entry (`int 0x80`) or with an x32 number. The sandbox's filter
    /// kills the process (SIGSYS) before either returns.
    #[cfg(target_arch = "x86_64")]
    fn foreign_syscall(kind: &str) -> Result<String, String> {
        let (nr, i386): (u64, bool) = match kind {
            "i386" => (20, true),               // __NR_getpid on i386
            "x32" => (0x4000_0000 | 39, false), // __X32_SYSCALL_BIT | __NR_getpid
            _ => return Err("unknown-kind".into()),
        };
        let ret: u64;
        // SAFETY: getpid takes no arguments and touches no memory; the registers the entry
        // clobbers are declared.
        unsafe {
            if i386 {
                std::arch::asm!("int 0x80", inlateout("rax") nr => ret, options(nostack));
            } else {
                std::arch::asm!(
                    "syscall",
                    inlateout("rax") nr => ret,
                    out("rcx") _,
                    out("r11") _,
                    options(nostack)
                );
            }
        }
        Ok(format!("returned {ret}"))
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn foreign_syscall(_: &str) -> Result<String, String> {
        Err("not-x86_64".into())
    }

    /// Runs `f(SRC, DST)` for an argument `SRC:DST`.
    fn two_paths(val: &str, f: impl Fn(&str, &str) -> io::Result<()>) -> Result<String, String> {
        let (a, b) = val
            .split_once(':')
            .ok_or_else(|| "want SRC:DST".to_owned())?;
        io(f(a, b)).map(|()| "done".into())
    }

    /// A new socketpair of type `stream`, `seqpacket`, `dgram` or `raw`.
    fn socketpair_new(kind: &str) -> Result<String, String> {
        let ty = match kind {
            "stream" => libc::SOCK_STREAM,
            "dgram" => libc::SOCK_DGRAM,
            "seqpacket" => libc::SOCK_SEQPACKET,
            "raw" => libc::SOCK_RAW,
            _ => return Err("unknown-type".into()),
        };
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two descriptors.
        if unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) }
            != 0
        {
            return Err(last().to_string());
        }
        // SAFETY: closing the two descriptors just created.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        Ok("created".into())
    }

    /// Sends a datagram to the pathname socket `path` from one end of a new datagram pair.
    fn dgram_sendto(path: &str) -> Result<String, String> {
        let (a, _b) = io(std::os::unix::net::UnixDatagram::pair())?;
        io(a.send_to(b"probe", path)).map(|n| n.to_string())
    }

    fn socketpair(fd: &str) -> Result<String, String> {
        let fd: i32 = fd.parse().map_err(|_| "bad-fd".to_owned())?;
        // SAFETY: the test passes an inherited socketpair end by number; we own it from now on.
        let mut s = unsafe { UnixStream::from_raw_fd(fd) };
        io(s.write_all(b"ping"))?;
        let mut buf = [0u8; 4];
        io(s.read_exact(&mut buf))?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn exec_status(path: &str) -> Result<String, String> {
        let out = io(Command::new(path).arg("caps").output())?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().next().unwrap_or("").replace('\t', " "))
    }

    fn alloc(bytes: &str) -> Result<String, String> {
        let n: usize = bytes.parse().map_err(|_| "bad-size".to_owned())?;
        // SAFETY: anonymous private mapping; unmapped below on success.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                n,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last().to_string());
        }
        // SAFETY: unmapping the mapping made above.
        unsafe { libc::munmap(p, n) };
        Ok("mapped".into())
    }

    fn fork_n(n: &str) -> Result<String, String> {
        let n: usize = n.parse().map_err(|_| "bad-count".to_owned())?;
        let mut kids = Vec::new();
        let mut result = Ok(format!("{n}"));
        for i in 0..n {
            // SAFETY: the probe is single-threaded; the child only pauses until killed.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                loop {
                    // SAFETY: pause is async-signal-safe.
                    unsafe { libc::pause() };
                }
            }
            if pid < 0 {
                result = Err(format!("{} after {i}", last()));
                break;
            }
            kids.push(pid);
        }
        for pid in kids {
            // SAFETY: killing and reaping our own children.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        result
    }

    /// `soft/hard` of RLIMIT_CORE, RLIMIT_AS, RLIMIT_CPU, RLIMIT_NOFILE, RLIMIT_NPROC.
    fn limits() -> Result<String, String> {
        let mut out = Vec::new();
        for (name, res) in [
            ("core", libc::RLIMIT_CORE),
            ("as", libc::RLIMIT_AS),
            ("cpu", libc::RLIMIT_CPU),
            ("nofile", libc::RLIMIT_NOFILE),
            ("nproc", libc::RLIMIT_NPROC),
        ] {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: valid out pointer.
            if unsafe { libc::getrlimit(res, &mut rl) } != 0 {
                return Err(last().to_string());
            }
            let show = |v: libc::rlim_t| {
                if v == libc::RLIM_INFINITY {
                    "inf".to_owned()
                } else {
                    v.to_string()
                }
            };
            out.push(format!(
                "{name}={}/{}",
                show(rl.rlim_cur),
                show(rl.rlim_max)
            ));
        }
        Ok(out.join(";"))
    }

    /// Opens /dev/null `n` times (keeping every descriptor) and reports how far it got and the
    /// highest descriptor number it obtained.
    fn open_many(n: &str) -> Result<String, String> {
        let n: usize = n.parse().map_err(|_| "bad-count".to_owned())?;
        let mut files = Vec::new();
        for i in 0..n {
            match std::fs::File::open("/dev/null") {
                Ok(f) => files.push(f),
                Err(e) => {
                    let highest = files.iter().map(std::os::fd::AsRawFd::as_raw_fd).max();
                    return Err(format!(
                        "{} after {i} opened, highest fd {}",
                        errno_of(&e),
                        highest.unwrap_or(-1)
                    ));
                }
            }
        }
        Ok(n.to_string())
    }

    fn ioctl_fionread(path: &str) -> Result<String, String> {
        let f = io(std::fs::File::open(path))?;
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to a valid pointer.
        let r = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&f), libc::FIONREAD, &mut n) };
        rc(r.into())
    }

    /// The attacks that are one raw system call.
    fn raw_call(op: &str) -> Result<String, String> {
        let mut params = [0u8; 120];
        // SAFETY: every call passes integers, NUL-terminated literals, NULL, or (io_uring) a
        // zeroed buffer of io_uring_params' size; none keeps a pointer after returning.
        let r: libc::c_long = unsafe {
            match op {
                "ptrace-parent" => {
                    libc::ptrace(libc::PTRACE_ATTACH, libc::getppid(), 0usize, 0usize)
                }
                // Signal 0 only checks permission; nothing is delivered.
                "kill-parent" => libc::kill(libc::getppid(), 0).into(),
                "io-uring" => libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr()),
                // KEYCTL_GET_KEYRING_ID (0) of the session keyring (-3), without creating it.
                "keyctl" => libc::syscall(libc::SYS_keyctl, 0, -3, 0),
                "mount" => libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
                .into(),
                "unshare" => libc::unshare(libc::CLONE_NEWUSER).into(),
                _ => return Err("unknown-op".into()),
            }
        };
        rc(r)
    }

    /// Effective uid, no_new_privs and the capability sets, from system calls (a program the
    /// sandboxed process starts cannot read its own `/proc/<pid>`: Landlock granted only the
    /// first process's).
    fn caps() -> Result<String, String> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        let mut h = Header {
            version: 0x2008_0522,
            pid: 0,
        };
        let mut d = [0u32; 6];
        // SAFETY: v3 header and room for two {effective, permitted, inheritable} entries.
        if unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) } != 0 {
            return Err(last().to_string());
        }
        // SAFETY: integer-only calls.
        let (euid, nnp) = unsafe {
            (
                libc::geteuid(),
                libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
            )
        };
        let eff = u64::from(d[0]) | (u64::from(d[3]) << 32);
        let prm = u64::from(d[1]) | (u64::from(d[4]) << 32);
        Ok(format!(
            "euid={euid};nnp={nnp};eff={eff:016x};prm={prm:016x}"
        ))
    }

    fn run_op(arg: &str) {
        let (op, val) = arg.split_once('=').unwrap_or((arg, ""));
        let r = match op {
            "status" => status(),
            "env" => {
                let mut names: Vec<_> = std::env::vars_os()
                    .map(|(k, _)| k.to_string_lossy().into_owned())
                    .collect();
                names.sort();
                Ok(names.join(","))
            }
            "read" => io(std::fs::read(val)).map(|b| {
                let text = String::from_utf8_lossy(&b);
                text.lines().next().unwrap_or("").trim().to_owned()
            }),
            "write" => io(std::fs::write(val, b"written by the probe")).map(|_| "written".into()),
            "tcp-connect" => io(std::net::TcpStream::connect(val)).map(|_| "connected".into()),
            "udp-send" => io(std::net::UdpSocket::bind("127.0.0.1:0"))
                .and_then(|s| io(s.send_to(b"probe", val)))
                .map(|n| n.to_string()),
            "socket" => socket(val),
            "dns" => dns(val),
            "abstract-connect" => abstract_connect(val),
            "link" => two_paths(val, |a, b| std::fs::hard_link(a, b)),
            "rename" => two_paths(val, |a, b| std::fs::rename(a, b)),
            "foreign-syscall" => foreign_syscall(val),
            "unix-connect" => io(UnixStream::connect(val)).map(|_| "connected".into()),
            "dgram-sendto" => dgram_sendto(val),
            "socketpair" => socketpair_new(val),
            "socketpair-fd" => socketpair(val),
            "ptrace-parent" => raw_call(op),
            "kill-parent" => raw_call(op),
            // SAFETY: getppid cannot fail.
            "ppid" => Ok(unsafe { libc::getppid() }.to_string()),
            "kill-pid" => match val.parse::<libc::pid_t>() {
                // SAFETY: signal 0 only checks that the pid exists and may be signalled.
                Ok(pid) if unsafe { libc::kill(pid, 0) } == 0 => Ok("0".into()),
                Ok(_) => Err(last().to_string()),
                Err(_) => Err("bad-pid".into()),
            },
            "io-uring" => raw_call(op),
            "keyctl" => raw_call(op),
            "mount" => raw_call(op),
            "unshare" => raw_call(op),
            "caps" => caps(),
            "exec-status" => exec_status(val),
            "alloc" => alloc(val),
            "fork" => fork_n(val),
            "ioctl-fionread" => ioctl_fionread(val),
            "limits" => limits(),
            "open-many" => open_many(val),
            "spin" => loop {
                std::hint::black_box(0u64);
            },
            _ => super::escapes::run(op, val).unwrap_or_else(|| Err("unknown-op".into())),
        };
        line(arg, r);
    }

    fn policy_from_flags(args: &mut std::slice::Iter<'_, String>) -> SandboxPolicy {
        let mut p = SandboxPolicy::new().strictness(Strictness::Strict);
        let mut limits = ResourceLimits::default();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--" => break,
                "--ro" => p = p.read_only(args.next().cloned().unwrap_or_default()),
                "--dev" => p = p.device(args.next().cloned().unwrap_or_default()),
                "--best-effort" => p = p.strictness(Strictness::BestEffort),
                // Launch from a hardened (non-dumpable) process, like the runner host.
                "--harden" => {
                    if let Err(e) = secllama_sandbox::harden_current_process() {
                        println!("harden\terr\t{e}");
                    }
                }
                "--spawn-thread" => {
                    // A second thread, so that enforce_current_process sees a multi-threaded
                    // process.
                    std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(3600)));
                }
                "--rw" => p = p.read_write(args.next().cloned().unwrap_or_default()),
                "--nproc" => limits.processes = args.next().and_then(|v| v.parse().ok()),
                "--cpu" => limits.cpu_seconds = args.next().and_then(|v| v.parse().ok()),
                "--mem" => limits.address_space = args.next().and_then(|v| v.parse().ok()),
                _ => {}
            }
        }
        p.limits(limits)
    }

    pub(super) fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut it = args.iter();
        match args.first().map(String::as_str) {
            Some("--enforce-self") => {
                it.next();
                let policy = policy_from_flags(&mut it);
                match policy.enforce_current_process() {
                    Ok(report) => {
                        for l in &report.layers {
                            println!("layer\t{}\t{}", l.layer, l.state);
                        }
                    }
                    Err(e) => {
                        println!("enforce\terr\t{e}");
                        return ExitCode::from(3);
                    }
                }
            }
            Some("--launch") => {
                it.next();
                let policy = policy_from_flags(&mut it);
                let exe = match std::env::current_exe() {
                    Ok(e) => e,
                    Err(e) => {
                        println!("launch\terr\t{e}");
                        return ExitCode::from(3);
                    }
                };
                let mut cmd = Command::new(exe);
                cmd.args(it);
                match policy
                    .apply_to(&mut cmd)
                    .map(|report| (report, cmd.status()))
                {
                    Ok((report, Ok(status))) => {
                        for l in &report.layers {
                            println!("layer\t{}\t{}", l.layer, l.state);
                        }
                        return ExitCode::from(
                            u8::try_from(status.code().unwrap_or(4)).unwrap_or(4),
                        );
                    }
                    Ok((_, Err(e))) => println!("launch\terr\t{e}"),
                    Err(e) => println!("launch\terr\t{e}"),
                }
                return ExitCode::from(3);
            }
            _ => {}
        }
        for a in it {
            run_op(a);
            let _ = io::stdout().flush();
        }
        ExitCode::SUCCESS
    }
}
