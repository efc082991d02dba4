//! The Seatbelt launch end to end on Linux, with a fake `sandbox-exec` script standing in for
//! `/usr/bin/sandbox-exec`: the rebuilt command must hand it exactly the policy's descriptors
//! and the given stdio (never the host's), and it must run the runner's argv with them.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn link(pid: u32, fd: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn sandbox_exec_receives_exactly_the_passed_descriptors_and_the_given_stdio_and_runs_the_runner() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    // Waits until the test has looked at its descriptors, checks the argv shape, then execs
    // the program after `--` (what sandbox-exec does once the profile compiled).
    let fake = script(
        dir.path(),
        "sandbox-exec",
        &format!(
            "while [ ! -e '{}' ]; do /bin/sleep 0.02; done\n\
             [ \"$1\" = -p ] || exit 2\nshift 2\n\
             while [ \"$1\" = -D ]; do shift 2; done\n\
             [ \"$1\" = -- ] || exit 5\nshift\nexec \"$@\"",
            go.display()
        ),
    );
    // The runner: reads the key from --key-fd, answers on --socket-fd, says hello on stderr.
    let runner = script(
        dir.path(),
        "runner",
        "[ \"$1\" = --socket-fd ] && [ \"$3\" = --key-fd ] || exit 9\n\
         read key <&\"$4\"\nprintf 'runner got %s\\n' \"$key\" >&\"$2\"\n\
         echo 'runner stderr' >&2",
    );
    let (host_sock, child_sock) = UnixStream::pair().unwrap();
    let (key_read, key_write) = pipe();
    let (err_read, err_write) = pipe();
    let passed = [child_sock.as_raw_fd(), key_read.as_raw_fd()];
    let policy = SandboxPolicy::new().pass_fd(passed[0]).pass_fd(passed[1]);
    let mut cmd = Command::new(&runner);
    cmd.args(["--socket-fd", &passed[0].to_string()])
        .args(["--key-fd", &passed[1].to_string()])
        // Set on the original command: must NOT survive the rebuild.
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit());
    let stdio = ChildStdio {
        stdin: Stdio::null(),
        stdout: Stdio::null(),
        stderr: Stdio::from(err_write),
    };
    let report = wrap_with_seatbelt(
        &policy,
        &mut cmd,
        &SeatbeltOptions::default(),
        Some(&fake),
        None,
        stdio,
    )
    .unwrap();
    assert_eq!(report.state(Layer::Seatbelt), Some(&LayerState::Enforced));
    assert_eq!(cmd.get_program(), fake.as_os_str());
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // our copy of the stderr write end
    drop(child_sock);
    drop(key_read);
    let pid = child.id();

    // What the fake sandbox-exec holds: 0, 1, 2, the two passed descriptors, and (once the
    // shell has opened it) its own script; nothing else of this process.
    let me = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let fds: Vec<String> = loop {
        // Until exec has happened the child is std's forked copy (stdio already set, the
        // pre_exec hooks still running, this process's descriptors still open): wait for the
        // fake's own command line, then list the descriptors.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let execed = String::from_utf8_lossy(&cmdline).contains(&*fake.to_string_lossy());
        if execed || Instant::now() > deadline {
            break std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|fd| link(pid, fd) != fake.to_string_lossy())
                .collect();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut got: Vec<i32> = fds.iter().map(|f| f.parse().unwrap()).collect();
    got.sort_unstable();
    let mut want = vec![0, 1, 2, passed[0], passed[1]];
    want.sort_unstable();
    let links: Vec<String> = fds
        .iter()
        .map(|f| format!("{f}={}", link(pid, f)))
        .collect();
    assert_eq!(got, want, "descriptors of the fake sandbox-exec: {links:?}");
    assert_eq!(link(pid, "0"), "/dev/null");
    assert_eq!(link(pid, "1"), "/dev/null");
    assert_eq!(link(pid, "2"), link(me, &err_read.as_raw_fd().to_string()));
    assert!(link(pid, "2").starts_with("pipe:"));
    for fd in passed {
        // The same open files as this process's ends (socket, key pipe): the inode names
        // match, so the descriptors were passed, not reopened.
        let theirs = link(pid, &fd.to_string());
        assert!(
            theirs.starts_with("socket:") || theirs.starts_with("pipe:"),
            "{theirs}"
        );
    }
    assert_eq!(
        link(pid, &passed[1].to_string()),
        link(me, &key_write.as_raw_fd().to_string()),
        "the key pipe's read end is the same pipe as our write end"
    );

    std::fs::write(&go, b"").unwrap();
    let mut key = std::fs::File::from(key_write);
    key.write_all(b"KEY-123\n").unwrap();
    drop(key);
    let mut answer = String::new();
    (&host_sock).read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "runner got KEY-123\n");
    let mut err = String::new();
    std::fs::File::from(err_read)
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(err, "runner stderr\n");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_passed_descriptor_that_is_not_open_fails_the_spawn_instead_of_starting_blind() {
    let dir = tempfile::tempdir().unwrap();
    let fake = script(dir.path(), "sandbox-exec", "exit 0");
    // A descriptor number far above anything open in the test process.
    let policy = SandboxPolicy::new().pass_fd(1_000_000);
    let mut cmd = Command::new("/bin/true");
    wrap_with_seatbelt(
        &policy,
        &mut cmd,
        &SeatbeltOptions::default(),
        Some(&fake),
        None,
        ChildStdio::null(),
    )
    .unwrap();
    let err = cmd.spawn().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
}
