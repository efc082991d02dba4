//! Resource limits.

use std::process::Command;

use secllama_sandbox::{Layer, LayerState, ResourceLimits, SandboxPolicy};

use super::helpers::{Answers, is_root, nobody_can_run_probe, probe_path, run};

#[test]
fn allocating_beyond_the_address_space_limit_fails_with_enomem_and_a_small_one_works() {
    let policy = SandboxPolicy::new().limits(ResourceLimits {
        address_space: Some(512 << 20),
        ..ResourceLimits::default()
    });
    let a = run(&policy, &["alloc=1073741824", "alloc=16777216"]);
    a.assert_err("alloc=1073741824", "12"); // ENOMEM
    assert_eq!(a.assert_ok("alloc=16777216"), "mapped");
}

#[test]
fn core_dumps_are_off_and_every_requested_limit_is_hard() {
    let policy = SandboxPolicy::new().limits(ResourceLimits {
        address_space: Some(1 << 30),
        cpu_seconds: Some(60),
        open_files: Some(64),
        processes: Some(100),
    });
    let a = run(&policy, &["limits"]);
    let limits = a.assert_ok("limits");
    // The sandbox's init (and a non-root caller's waiter) share the sandbox's user namespace
    // and count against RLIMIT_NPROC, so the kernel limit is that much more than the policy's.
    let nproc = if is_root() { 101 } else { 102 };
    assert!(
        limits.starts_with(&format!(
            "core=0/0;as=1073741824/1073741824;cpu=60/60;nofile=64/64;nproc={nproc}/{nproc}"
        )),
        "{limits}"
    );
}

#[test]
fn opening_more_files_than_the_limit_fails_with_emfile() {
    let policy = SandboxPolicy::new().limits(ResourceLimits {
        open_files: Some(16),
        ..ResourceLimits::default()
    });
    let a = run(&policy, &["open-many=32", "read=/usr/lib/os-release"]);
    // Every descriptor number below 16 gets used, then EMFILE (how many were free depends on
    // what the probe inherited, the highest number does not).
    let (kind, detail) = a.answer("open-many=32");
    assert_eq!(kind, "err");
    assert!(
        detail.starts_with("24 after ") && detail.ends_with(" opened, highest fd 15"),
        "{detail}"
    );
    // The descriptors were released when the attempt ended; ordinary work goes on.
    assert!(a.assert_ok("read=/usr/lib/os-release").contains('='));
}

#[test]
fn burning_cpu_past_the_limit_gets_the_process_killed() {
    let policy = SandboxPolicy::new().limits(ResourceLimits {
        cpu_seconds: Some(1),
        ..ResourceLimits::default()
    });
    let mut cmd = Command::new(probe_path());
    cmd.arg("spin");
    policy.apply_to(&mut cmd).unwrap();
    let status = cmd.status().unwrap();
    // Soft = hard: the kernel sends SIGKILL when the hard limit is reached.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
}

#[test]
fn forking_beyond_the_process_limit_fails_with_eagain() {
    // As the current user (root included: a root caller's program runs as uid 65534, which
    // RLIMIT_NPROC binds)...
    let policy = SandboxPolicy::new().limits(ResourceLimits {
        processes: Some(4),
        ..ResourceLimits::default()
    });
    let mut cmd = Command::new(probe_path());
    cmd.args(["fork=10", "fork=2"]);
    let report = policy.apply_to(&mut cmd).unwrap();
    assert_eq!(
        report.state(Layer::ResourceLimits),
        Some(&LayerState::Enforced)
    );
    let a = Answers::from_output(cmd.output().unwrap(), None);
    a.assert_err("fork=10", "11 after 3");
    assert_eq!(a.assert_ok("fork=2"), "2");
    // ...and as uid 65534.
    if is_root() && !nobody_can_run_probe() {
        return;
    }
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        c.arg(probe_path());
        c
    } else {
        Command::new(probe_path())
    };
    cmd.args(["--launch", "--nproc", "4", "--", "fork=10", "fork=2"]);
    let out = cmd.output().unwrap();
    let a = Answers::from_output(out, None);
    // The probe itself is one of the four processes: three forks succeed, the fourth fails.
    a.assert_err("fork=10", "11 after 3");
    assert_eq!(a.assert_ok("fork=2"), "2");
}
