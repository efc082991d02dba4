//! `secllama key status` warns and `secllama key repair` repairs, with the real binary against
//! the real kernel keyring and Secret Service, damaged from outside with `keyctl` and
//! `secret-tool` as another program (or a person) would.
//!
//! Backend tests skip visibly when the backend is not reachable, and fail instead when
//! `SECLLAMA_TEST_SECRET_SERVICE` is set (as CI does).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn tool(cmd: &mut Command, input: Option<&[u8]>) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(bytes) = input {
        stdin.write_all(bytes).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `secllama key <args> --backend B --service S`.
fn key(backend: &str, svc: &str, args: &[&str]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secllama"));
    cmd.env_remove("SECLLAMA_KEYSTORE")
        .arg("key")
        .args(args)
        .args(["--backend", backend, "--service", svc]);
    tool(&mut cmd, None)
}

fn status_json(backend: &str, svc: &str) -> Value {
    let out = key(backend, svc, &["status", "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

/// Whether `backend` works here; panics when CI requires it and it does not.
fn backend_or_skip(backend: &str, test: &str) -> bool {
    let probe = key(backend, &service("probe"), &["status"]);
    if probe.stderr.contains("has no keys yet") {
        return true;
    }
    assert!(
        std::env::var_os("SECLLAMA_TEST_SECRET_SERVICE").is_none(),
        "SECLLAMA_TEST_SECRET_SERVICE is set but {backend} is unusable: {}",
        probe.stderr
    );
    eprintln!(
        "SKIPPED {test}: the {backend} backend is not usable here: {}",
        probe.stderr
    );
    false
}

fn service(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("secllama-cli-{tag}-{}-{nanos}", std::process::id())
}

/// Removes the entry `user` of `svc` from outside.
fn remove(backend: &str, svc: &str, user: &str) {
    let out = match backend {
        "keyutils" => {
            let serial = keyctl_serial(svc, user);
            tool(Command::new("keyctl").args(["invalidate", &serial]), None)
        }
        _ => tool(
            Command::new("secret-tool").args(["clear", "service", svc, "username", user]),
            None,
        ),
    };
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// Overwrites the entry `user` of `svc` with `bytes` from outside.
fn overwrite(backend: &str, svc: &str, user: &str, bytes: &[u8]) {
    let out = match backend {
        "keyutils" => {
            let serial = keyctl_serial(svc, user);
            tool(
                Command::new("keyctl").args(["pupdate", &serial]),
                Some(bytes),
            )
        }
        _ => {
            remove(backend, svc, user);
            tool(
                Command::new("secret-tool").args([
                    "store",
                    "--label=outside",
                    "service",
                    svc,
                    "username",
                    user,
                ]),
                Some(bytes),
            )
        }
    };
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

fn keyctl_serial(svc: &str, user: &str) -> String {
    let desc = format!("secllama:{user}@{svc}");
    let out = tool(
        Command::new("keyctl").args(["search", "@s", "user", &desc]),
        None,
    );
    assert_eq!(out.code, Some(0), "no {desc}: {}", out.stderr);
    out.stdout.trim().to_owned()
}

fn status_warns_and_repair_repairs(backend: &str, test: &str) {
    if !backend_or_skip(backend, test) {
        return;
    }
    let svc = service(test);
    assert_eq!(key(backend, &svc, &["init"]).code, Some(0));
    let first = status_json(backend, &svc)["primary"].as_u64().unwrap();
    assert_eq!(key(backend, &svc, &["rotate"]).code, Some(0));
    let clean = key(backend, &svc, &["status"]);
    assert!(!clean.stderr.contains("needs repair"), "{}", clean.stderr);

    // The index removed behind our back: status still works, and warns on stderr only.
    remove(backend, &svc, "index");
    let warned = key(backend, &svc, &["status"]);
    assert_eq!(warned.code, Some(0), "{}", warned.stderr);
    assert!(
        warned.stderr.contains(&format!(
            "warning: service {svc} needs repair (run `secllama key repair --service {svc}`):\n  - the index is missing\n"
        )),
        "{}",
        warned.stderr
    );
    assert_eq!(
        status_json(backend, &svc)["needs_repair"],
        serde_json::json!(["the index is missing"])
    );

    let repaired = key(backend, &svc, &["repair"]);
    assert_eq!(repaired.code, Some(0), "{}", repaired.stderr);
    assert_eq!(
        repaired.stdout,
        "repaired: index rebuilt from 2 key entries\n"
    );
    assert_eq!(
        status_json(backend, &svc)["needs_repair"],
        serde_json::json!([])
    );
    let again = key(backend, &svc, &["repair"]);
    assert_eq!(again.stdout, format!("service {svc} needs no repair\n"));

    // A corrupt key entry needs a person: reported on stderr, exit 5, the entry left alone.
    overwrite(backend, &svc, &format!("key-{first}"), b"garbage");
    let stuck = key(backend, &svc, &["repair"]);
    assert_eq!(stuck.code, Some(5), "{}{}", stuck.stdout, stuck.stderr);
    assert!(
        stuck
            .stderr
            .contains(&format!("not repaired: entry \"key-{first}\" is corrupt (")),
        "{}",
        stuck.stderr
    );
    let still = key(backend, &svc, &["status"]);
    assert!(
        still
            .stderr
            .contains(&format!("entry \"key-{first}\" is corrupt")),
        "{}",
        still.stderr
    );
    assert_eq!(key(backend, &svc, &["delete", "--yes"]).code, Some(0));
}

#[test]
fn key_status_warns_and_key_repair_repairs_on_the_kernel_keyring() {
    status_warns_and_repair_repairs("keyutils", "repair-ku");
}

#[test]
fn key_status_warns_and_key_repair_repairs_on_the_secret_service() {
    status_warns_and_repair_repairs("secret-service", "repair-ss");
}
