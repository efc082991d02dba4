//! `enforce_current_process`, always in a child process (the probe), never in the harness.

use std::process::Command;

use super::helpers::{Answers, EACCES, EPERM, op, probe_path, tempdir};

#[test]
fn a_single_threaded_process_locks_itself_down_with_every_layer() {
    let dir = tempdir();
    let allowed = dir.path().join("allowed.txt");
    std::fs::write(&allowed, "ok").unwrap();
    let secret_dir = tempdir();
    let secret = secret_dir.path().join("secret.txt");
    std::fs::write(&secret, "no").unwrap();
    let (ra, rs) = (op("read", allowed.display()), op("read", secret.display()));
    let out = Command::new(probe_path())
        .arg("--enforce-self")
        .arg("--ro")
        .arg(dir.path())
        .args([
            "--",
            "status",
            &ra,
            &rs,
            "socket=inet",
            "kill-parent",
            "unshare",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    for line in text.lines().filter(|l| l.starts_with("layer\t")) {
        assert!(line.ends_with("\tenforced"), "{line}");
    }
    let a = Answers::from_output(out, None);
    assert_eq!(a.status_field("NoNewPrivs"), "1");
    assert_eq!(a.status_field("Seccomp"), "2");
    assert_eq!(a.status_field("CapEff"), "0000000000000000");
    assert_eq!(a.assert_ok(&ra), "ok");
    a.assert_err(&rs, EACCES);
    a.assert_err("socket=inet", EPERM);
    a.assert_err("kill-parent", EPERM);
    a.assert_err("unshare", EPERM);
}

#[test]
fn a_multi_threaded_process_is_refused_in_strict_mode_because_namespaces_need_one_thread() {
    let out = Command::new(probe_path())
        .args(["--enforce-self", "--spawn-thread", "--", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "enforce\terr\tstrict network isolation refused: the network namespace layer cannot be \
             enforced (the process has 2 threads; namespaces can only be entered by a \
             single-threaded process)"
        ),
        "{text}"
    );
}

#[test]
fn a_multi_threaded_process_in_best_effort_mode_reports_what_covers_only_one_thread() {
    let out = Command::new(probe_path())
        .args([
            "--enforce-self",
            "--spawn-thread",
            "--best-effort",
            "--",
            "status",
            "socket=inet",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("layer\tnetwork namespace\tunavailable: the process has 2 threads"),
        "{text}"
    );
    assert!(text.contains("layer\tlandlock file system\tdegraded: applies to the calling thread only (1 other threads exist)"), "{text}");
    // seccomp is synchronised to every thread, so it is fully enforced.
    assert!(text.contains("layer\tseccomp\tenforced"), "{text}");
    let a = Answers::from_output(out, None);
    a.assert_err("socket=inet", EPERM);
}
