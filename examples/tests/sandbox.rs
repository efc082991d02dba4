//! `secllama sandbox check|exec`, run as the real binary.

#![allow(clippy::unwrap_used)] // a test helper: an unbuildable binary should fail loudly

use assert_cmd::Command;

fn secllama() -> Command {
    let mut c = Command::cargo_bin("secllama").unwrap();
    c.env_remove("SECLLAMA_STRICT_NETWORK_ISOLATION")
        .env_remove("SECLLAMA_ENABLE_SANDBOX");
    c
}

/// Whether the tests run as root (the owner of a fresh temporary directory is uid 0).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::tempdir().unwrap();
    std::fs::metadata(probe.path()).unwrap().uid() == 0
}

#[test]
fn exec_passes_the_programs_exit_status_through() {
    let out = secllama()
        .args(["sandbox", "exec", "--", "/bin/sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{out:?}");
}

#[test]
fn exec_reports_death_by_signal_as_128_plus_the_signal() {
    let out = secllama()
        .args(["sandbox", "exec", "--", "/bin/sh", "-c", "kill -TERM $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 15), "{out:?}");
}

#[test]
fn exec_denies_a_file_outside_the_policy_and_grants_one_given_with_ro() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "hunter2").unwrap();

    let denied = secllama()
        .args(["sandbox", "exec", "--", "/bin/cat"])
        .arg(&secret)
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1), "{denied:?}");
    // The sandbox's root holds only what the policy grants: the file is not there at all.
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("No such file or directory"),
        "{denied:?}"
    );
    assert!(denied.stdout.is_empty());

    let granted = secllama()
        .args(["sandbox", "exec", "--ro"])
        .arg(&secret)
        .args(["--", "/bin/cat"])
        .arg(&secret)
        .output()
        .unwrap();
    assert_eq!(granted.status.code(), Some(0), "{granted:?}");
    assert_eq!(granted.stdout, b"hunter2");
}

#[test]
fn exec_with_report_prints_every_layer_on_stderr() {
    let out = secllama()
        .args(["sandbox", "exec", "--report", "--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    for layer in [
        "user namespace",
        "network namespace",
        "resource limits",
        "no new privileges",
        "capabilities",
        "landlock file system",
        "seccomp",
        "environment",
    ] {
        assert!(err.contains(layer), "{layer} missing in {err}");
    }
}

#[test]
fn exec_without_a_program_is_a_usage_error() {
    let out = secllama().args(["sandbox", "exec"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn exec_rejects_an_invalid_strictness_setting_in_one_line() {
    let out = secllama()
        .env("SECLLAMA_STRICT_NETWORK_ISOLATION", "perhaps")
        .args(["sandbox", "exec", "--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "usage status");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "secllama: SECLLAMA_STRICT_NETWORK_ISOLATION has invalid value \"perhaps\": use true or false\n"
    );
}

#[test]
fn check_json_lists_capabilities_and_the_default_policy_layers() {
    let out = secllama()
        .args(["sandbox", "check", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["capabilities"]["os"], "linux");
    assert!(
        v["capabilities"]["landlock_abi"].is_u64() || v["capabilities"]["landlock_abi"].is_null()
    );
    let layers = v["default_policy"]["layers"].as_array().unwrap();
    assert!(layers.iter().any(|l| l["layer"] == "seccomp"));
    assert!(layers.iter().any(|l| l["layer"] == "network-namespace"));
    assert_eq!(
        v["baseline"]["read_write"],
        serde_json::json!(["/dev/null"])
    );
    assert_eq!(
        v["baseline"]["env"],
        serde_json::json!(["PATH", "LANG", "LC_ALL"])
    );
}

#[test]
fn exec_lets_the_program_write_only_where_rw_grants_it() {
    let dir = tempfile::tempdir().unwrap();
    // A root caller's program runs as uid 65534: the granted directory must be its to write.
    if running_as_root() {
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    }
    let file = dir.path().join("out.txt");
    let script = format!("echo hello > '{}'", file.display());
    let denied = secllama()
        .args(["sandbox", "exec", "--", "/bin/sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(2), "{denied:?}"); // sh: cannot create
    assert!(!file.exists());

    let granted = secllama()
        .args(["sandbox", "exec", "--rw"])
        .arg(dir.path())
        .args(["--", "/bin/sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(granted.status.code(), Some(0), "{granted:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello\n");
}

#[test]
fn malformed_exec_command_lines_are_usage_errors() {
    for args in [
        &[
            "sandbox",
            "exec",
            "--cpu-seconds",
            "soon",
            "--",
            "/bin/true",
        ][..],
        &["sandbox", "exec", "--mem", "-1", "--", "/bin/true"],
        &["sandbox", "exec", "--no-such-flag", "--", "/bin/true"],
        &["sandbox", "exec", "/bin/true"],
        &["sandbox", "frobnicate"],
    ] {
        let out = secllama().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}

#[test]
fn exec_of_a_missing_program_fails_in_one_line() {
    let out = secllama()
        .args(["sandbox", "exec", "--", "/nonexistent/program"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "secllama: cannot run /nonexistent/program: No such file or directory (os error 2)\n"
    );
}
