//! Resource limits.

use std::process::Command;

use secllama_sandbox::{Layer, LayerState, ResourceLimits, SandboxPolicy};

use super::helpers::{Answers, is_root, probe_path, run};

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
fn forking_beyond_the_process_limit_fails_with_eagain() {
    if is_root() {
        // uid 0 is exempt from RLIMIT_NPROC; the report says so...
        let policy = SandboxPolicy::new().limits(ResourceLimits {
            processes: Some(4),
            ..ResourceLimits::default()
        });
        let report = policy.apply_to(&mut Command::new(probe_path())).unwrap();
        assert_eq!(
            report.state(Layer::ResourceLimits),
            Some(&LayerState::Degraded(
                "running as uid 0: the kernel does not apply the process limit (RLIMIT_NPROC) to root".into()
            ))
        );
        // ...and the limit is proven as an unprivileged user instead.
        if Command::new("setpriv").arg("--version").output().is_err() {
            eprintln!("SKIPPED: setpriv (util-linux) is not installed");
            return;
        }
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
