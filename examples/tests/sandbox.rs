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

#[test]
fn the_cli_hardens_itself_no_core_dumps_and_not_dumpable() {
    use std::io::Write;
    // `sandbox exec -- /bin/cat` waits on its stdin: long enough to look at the CLI process.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("secllama"))
        .args(["sandbox", "exec", "--", "/bin/cat"])
        .env_remove("SECLLAMA_STRICT_NETWORK_ISOLATION")
        .env_remove("SECLLAMA_ENABLE_SANDBOX")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let proc_dir = format!("/proc/{}", child.id());
    let core = || {
        let limits = std::fs::read_to_string(format!("{proc_dir}/limits")).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap()
            .to_owned();
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // The CLI hardens itself first thing in main; wait (bounded) until it got there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while core()[5] != "0" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(core(), ["Max", "core", "file", "size", "0", "0", "bytes"]);
    if !running_as_root() {
        // Not dumpable: its /proc entries belong to root and its environment is not readable
        // by its own user.
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&proc_dir).unwrap().uid(), 0);
        assert_eq!(
            std::fs::read(format!("{proc_dir}/environ"))
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::PermissionDenied
        );
    }
    child.stdin.take().unwrap().write_all(b"ok").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"ok");
}

/// Sandbox v2's layers, as `check` names them in text and in JSON.
const V2_LAYERS: [(&str, &str); 3] = [
    ("mount namespace", "mount-namespace"),
    ("pid/ipc/uts/cgroup ns", "pid-ipc-uts-cgroup-namespaces"),
    ("session, descriptors", "session-and-descriptors"),
];

#[test]
fn check_lists_the_v2_layers_in_text_and_json_with_the_same_states() {
    let text = secllama().args(["sandbox", "check"]).output().unwrap();
    assert_eq!(text.status.code(), Some(0), "{text:?}");
    let text = String::from_utf8(text.stdout).unwrap();
    let json = secllama()
        .args(["sandbox", "check", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let layers = v["default_policy"]["layers"].as_array().unwrap();
    let state_of = |name: &str| {
        layers
            .iter()
            .find(|l| l["layer"] == name)
            .map(|l| l["state"].clone())
            .unwrap_or_else(|| panic!("{name} missing in {layers:?}"))
    };
    // What the machine can do: the v2 confinement, in both outputs.
    let confine = text
        .lines()
        .find(|l| l.starts_with("mount/pid namespaces "))
        .unwrap_or_else(|| panic!("no mount/pid namespaces line:\n{text}"));
    match v["capabilities"]["confine_error"].as_str() {
        None => assert!(confine.ends_with(" yes"), "{confine}"),
        Some(e) => assert!(confine.ends_with(&format!(" no ({e})")), "{confine}"),
    }
    let mut expected: Vec<(&str, &str)> = V2_LAYERS.to_vec();
    if running_as_root() {
        // A root caller's program runs as nobody: the identity layer says so.
        expected.push(("identity", "identity"));
    }
    for (text_name, json_name) in expected {
        let state = state_of(json_name)["state"].as_str().unwrap().to_owned();
        assert!(
            ["enforced", "degraded", "unavailable"].contains(&state.as_str()),
            "{state}"
        );
        // The same state in the text report, on the line naming the layer.
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{text_name} ")))
            .unwrap_or_else(|| panic!("no line for {text_name}:\n{text}"));
        let shown = line[text_name.len()..].trim_start();
        assert!(shown.starts_with(&state), "{line} vs {state}");
    }
}
