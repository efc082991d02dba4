//! Other processes, the kernel's dangerous interfaces, and privileges.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Command;

use secllama_sandbox::SandboxPolicy;

use super::helpers::{
    Answers, EPERM, is_root, nobody_can_run_probe, op, probe_path, run, run_with,
    suid_capable_tempdir,
};

#[test]
fn ptrace_and_signals_aimed_at_the_parent_are_refused_with_eperm() {
    let host = op("kill-pid", std::process::id());
    let a = run(
        &SandboxPolicy::new(),
        &["ptrace-parent", "ppid", &host, "kill-pid=1", "kill-pid=2"],
    );
    a.assert_err("ptrace-parent", EPERM); // seccomp
    // Its own PID namespace: the parent is the sandbox's init (PID 1), outside the Landlock
    // domain, and no host pid exists inside.
    assert_eq!(a.assert_ok("ppid"), "1");
    a.assert_err("kill-pid=1", EPERM); // Landlock signal scope
    a.assert_err(&host, "3"); // ESRCH
    // The allowed thing in the same run: the probe (PID 2) signals itself.
    assert_eq!(a.assert_ok("kill-pid=2"), "0");
}

#[test]
fn io_uring_keyctl_mount_and_unshare_are_refused_with_eperm() {
    let a = run(
        &SandboxPolicy::new(),
        &["io-uring", "keyctl", "mount", "unshare"],
    );
    for op in ["io-uring", "keyctl", "mount", "unshare"] {
        a.assert_err(op, EPERM);
    }
}

#[test]
fn proc_status_shows_no_new_privs_a_seccomp_filter_and_no_capability_at_all() {
    let a = run(&SandboxPolicy::new(), &["status"]);
    assert_eq!(a.status_field("NoNewPrivs"), "1");
    assert_eq!(a.status_field("Seccomp"), "2");
    for set in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"] {
        assert_eq!(a.status_field(set), "0000000000000000", "{set}");
    }
}

#[test]
fn a_child_process_started_inside_the_sandbox_inherits_it_via_the_clone_fallback() {
    // std spawns through posix_spawn, which tries clone3 first: the filter answers ENOSYS and
    // glibc falls back to clone, whose flags the filter can check.
    let exe = probe_path();
    let a = run(&SandboxPolicy::new(), &[&op("exec-status", exe.display())]);
    let caps = a.assert_ok(&op("exec-status", exe.display()));
    assert!(
        caps.ends_with("nnp=1;eff=0000000000000000;prm=0000000000000000"),
        "{caps}"
    );
}

#[test]
fn a_setuid_root_binary_gives_back_neither_root_nor_capabilities() {
    if !is_root() {
        eprintln!("SKIPPED: creating a setuid-root copy of the probe needs root");
        return;
    }
    let dir = suid_capable_tempdir();
    let copy = dir.path().join("setuid-probe");
    std::fs::copy(probe_path(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // A root caller's program runs as uid 65534; the bind mount is nosuid and no_new_privs is
    // set, so the setuid-root bit gives back neither uid 0 nor a capability.
    let exec = op("exec-status", copy.display());
    let a = run(&SandboxPolicy::new().read_only(dir.path()), &[&exec]);
    let caps = a.assert_ok(&exec);
    assert_eq!(
        caps,
        "caps ok euid=65534;nnp=1;eff=0000000000000000;prm=0000000000000000"
    );
}

#[test]
fn an_unprivileged_sandboxed_user_cannot_become_root_through_a_setuid_root_binary() {
    if !is_root() {
        eprintln!("SKIPPED: making a setuid-root copy of the probe needs root");
        return;
    }
    if !nobody_can_run_probe() {
        return;
    }
    let dir = suid_capable_tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("setuid-probe");
    std::fs::copy(probe_path(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let as_nobody = |args: &[&std::ffi::OsStr]| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.args(args);
        Answers::from_output(c.output().unwrap(), None)
    };
    let exec = op("exec-status", copy.display());
    // The control: outside the sandbox the setuid bit works (the file system is not nosuid)...
    let control = as_nobody(&[probe_path().as_os_str(), exec.as_ref()]);
    assert!(
        control.assert_ok(&exec).starts_with("caps ok euid=0;"),
        "{control:?}"
    );
    // ...inside, no_new_privs makes execve ignore it.
    let a = as_nobody(&[
        probe_path().as_os_str(),
        "--launch".as_ref(),
        "--ro".as_ref(),
        dir.path().as_os_str(),
        "--".as_ref(),
        exec.as_ref(),
    ]);
    assert_eq!(
        a.assert_ok(&exec),
        "caps ok euid=65534;nnp=1;eff=0000000000000000;prm=0000000000000000"
    );
}

#[test]
fn an_inherited_socketpair_keeps_working_after_exec() {
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let fd = theirs.as_raw_fd();
    // SAFETY: clearing FD_CLOEXEC on a descriptor we own, so that the child inherits it.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 4];
        ours.read_exact(&mut buf).unwrap();
        ours.write_all(b"pong").unwrap();
        buf
    });
    let ask = op("socketpair-fd", fd);
    let a = run_with(
        &SandboxPolicy::new().pass_fd(fd),
        &[ask.clone(), "socket=inet".to_owned()],
        |_| {},
    );
    drop(theirs);
    assert_eq!(&server.join().unwrap(), b"ping");
    assert_eq!(a.assert_ok(&ask), "pong");
    a.assert_err("socket=inet", EPERM);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn an_i386_or_x32_system_call_kills_the_process_with_sigsys() {
    use std::os::unix::process::ExitStatusExt;
    // The control: outside the sandbox both entries answer (getpid, or ENOSYS for x32 on
    // kernels built without it).
    for kind in ["i386", "x32"] {
        let control = Command::new(probe_path())
            .arg(op("foreign-syscall", kind))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&control.stdout);
        assert!(text.contains("\tok\treturned "), "{kind}: {text}");

        let mut cmd = Command::new(probe_path());
        cmd.arg(op("foreign-syscall", kind));
        SandboxPolicy::new().apply_to(&mut cmd).unwrap();
        let out = cmd.output().unwrap();
        assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{kind}: {out:?}");
        assert!(out.stdout.is_empty(), "{kind}: the call must not return");
    }
}
