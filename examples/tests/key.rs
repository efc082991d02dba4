//! `secllama key`: the real binary against the real kernel keyring and Secret Service.
//!
//! Backend tests skip visibly when the backend is not reachable, and fail instead when
//! `SECLLAMA_TEST_SECRET_SERVICE` is set (CI runs them inside `dbus-run-session` with
//! gnome-keyring unlocked and `keyctl session -`).
// The backends exercised here (kernel keyring, Secret Service) are Linux's.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

fn secllama() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secllama"));
    cmd.env_remove("SECLLAMA_KEYSTORE");
    cmd
}

fn service(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("secllama-cli-{tag}-{}-{nanos}", std::process::id())
}

struct Out {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Out {
    let out = secllama()
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Out {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Whether `backend` works here; panics when CI requires it and it does not.
fn backend_or_skip(backend: &str, test: &str) -> bool {
    let probe = run(&[
        "key",
        "status",
        "--backend",
        backend,
        "--service",
        &service("probe"),
    ]);
    if probe.stderr.contains("has no keys yet") {
        return true;
    }
    if std::env::var_os("SECLLAMA_TEST_SECRET_SERVICE").is_some() {
        panic!(
            "SECLLAMA_TEST_SECRET_SERVICE is set but {backend} is unusable: {}",
            probe.stderr
        );
    }
    eprintln!(
        "SKIPPED {test}: the {backend} backend is not usable here: {}",
        probe.stderr
    );
    false
}

fn status_json(backend: &str, svc: &str) -> Value {
    let out = run(&[
        "key",
        "status",
        "--json",
        "--backend",
        backend,
        "--service",
        svc,
    ]);
    assert!(out.ok, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn key_status_without_a_session_bus_fails_with_the_no_backend_hint() {
    let out = secllama()
        .args(["key", "status"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "keychain unavailable");
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "secllama: no usable keychain backend (tried secret-service: DBUS_SESSION_BUS_ADDRESS \
         is not set): no Secret Service on the session bus: start gnome-keyring-daemon (or \
         another Secret Service) in a D-Bus session, or set SECLLAMA_KEYSTORE=keyutils\n"
    );
}

#[test]
fn key_status_with_a_dead_session_bus_fails_with_the_no_backend_hint() {
    let out = secllama()
        .args(["key", "status"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/secllama-test-bus",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "keychain unavailable");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("secllama: no usable keychain backend (tried secret-service: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("/nonexistent/secllama-test-bus"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(
            "no Secret Service on the session bus: start gnome-keyring-daemon (or another \
             Secret Service) in a D-Bus session, or set SECLLAMA_KEYSTORE=keyutils\n"
        ),
        "{stderr}"
    );
}

#[test]
fn an_unknown_backend_is_a_usage_error_naming_the_real_ones() {
    let out = run(&["key", "status", "--backend", "file"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("use one of secret-service, keyutils, keychain, credential-manager"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_service_name_with_a_slash_is_refused() {
    let out = run(&["key", "status", "--backend", "keyutils", "--service", "a/b"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .starts_with("secllama: invalid service name \"a/b\""),
        "{}",
        out.stderr
    );
}

fn lifecycle(backend: &str, test: &str) {
    if !backend_or_skip(backend, test) {
        return;
    }
    let svc = service(test);
    let b = ["--backend", backend, "--service", svc.as_str()];
    let with =
        |args: &[&str]| -> Vec<String> { args.iter().chain(&b).map(|s| (*s).to_owned()).collect() };

    let init = run(&with(&["key", "init"]));
    assert!(init.ok, "{}", init.stderr);
    assert!(init.stdout.starts_with(&format!(
        "service {svc} initialized in the {backend} keychain: primary key "
    )));
    assert_eq!(
        init.stderr.contains("lost when the machine reboots"),
        backend == "keyutils"
    );

    let again = run(&with(&["key", "init"]));
    assert_eq!(again.code, Some(5));
    assert!(
        again.stderr.contains("already has keys"),
        "{}",
        again.stderr
    );
    assert!(
        run(&with(&["key", "init", "--reuse"]))
            .stdout
            .contains("already initialized")
    );

    let s = status_json(backend, &svc);
    assert_eq!(s["backend"], backend);
    assert_eq!(s["service"], svc.as_str());
    let first = s["primary"].as_u64().unwrap();
    assert_eq!(s["keys"].as_array().unwrap().len(), 1);
    assert_eq!(s["keys"][0]["id"].as_u64().unwrap(), first);
    assert_eq!(s["keys"][0]["status"], "enabled");
    assert!(s["keys"][0]["created"].as_u64().unwrap() > 1_700_000_000);

    let rot = run(&with(&["key", "rotate"]));
    assert!(rot.ok, "{}", rot.stderr);
    let s = status_json(backend, &svc);
    let second = s["primary"].as_u64().unwrap();
    assert_ne!(second, first);
    assert_eq!(
        rot.stdout,
        format!("rotated: key {second} is the new primary\n")
    );

    let primary_disable = run(&with(&["key", "disable", &second.to_string()]));
    assert_eq!(primary_disable.code, Some(5));

    assert!(run(&with(&["key", "disable", &first.to_string()])).ok);
    assert_eq!(status_json(backend, &svc)["keys"][0]["status"], "disabled");
    // It was primary a moment ago: a running program may still seal under it.
    let recent = run(&with(&["key", "destroy", &first.to_string()]));
    assert_eq!(recent.code, Some(5), "the keychain status");
    assert!(recent.stderr.contains("--force"), "{}", recent.stderr);
    assert!(run(&with(&["key", "destroy", "--force", &first.to_string()])).ok);
    assert_eq!(status_json(backend, &svc)["keys"][0]["status"], "destroyed");

    let live_purge = run(&with(&["key", "purge", &second.to_string()]));
    assert_eq!(live_purge.code, Some(5));
    assert!(run(&with(&["key", "purge", &first.to_string()])).ok);
    let s = status_json(backend, &svc);
    assert_eq!(s["keys"].as_array().unwrap().len(), 1);
    assert_eq!(s["keys"][0]["id"].as_u64().unwrap(), second);

    let text = run(&with(&["key", "status"]));
    assert!(
        text.stdout.contains(&format!("primary  {second}")),
        "{}",
        text.stdout
    );

    // Not on a terminal and no --yes: refused, with the warning, keys untouched.
    let refused = run(&with(&["key", "delete"]));
    assert_eq!(refused.code, Some(9));
    assert!(
        refused.stderr.contains("becomes unreadable forever"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("without --yes"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        status_json(backend, &svc)["primary"].as_u64().unwrap(),
        second
    );

    let deleted = run(&with(&["key", "delete", "--yes"]));
    assert!(deleted.ok, "{}", deleted.stderr);
    assert_eq!(
        deleted.stdout,
        format!("deleted 3 keychain entries of service {svc}\n")
    );
    let gone = run(&with(&["key", "status"]));
    assert_eq!(gone.code, Some(5));
    assert_eq!(
        gone.stderr,
        format!(
            "secllama: service \"{svc}\" has no keys yet: run `secllama key init --service {svc}`\n"
        )
    );
}

#[test]
fn the_key_commands_manage_a_keyset_in_the_kernel_keyring() {
    lifecycle("keyutils", "cli-keyutils");
}

#[test]
fn the_key_commands_manage_a_keyset_in_the_secret_service() {
    lifecycle("secret-service", "cli-secret-service");
}

#[test]
fn a_key_made_by_the_cli_is_in_the_secret_service_for_secret_tool_to_read() {
    if !backend_or_skip("secret-service", "cli-secret-tool") {
        return;
    }
    let svc = service("secret-tool");
    assert!(
        run(&[
            "key",
            "init",
            "--backend",
            "secret-service",
            "--service",
            &svc
        ])
        .ok
    );
    let id = status_json("secret-service", &svc)["primary"]
        .as_u64()
        .unwrap();
    let out = Command::new("secret-tool")
        .args(["lookup", "service", &svc, "username", &format!("key-{id}")])
        .output()
        .unwrap();
    assert!(out.status.success());
    // A self-describing record: its id, status and the key in base64.
    let record = String::from_utf8(out.stdout).unwrap();
    assert!(
        record.starts_with(&format!(
            r#"{{"format":2,"kind":"key","service":"{svc}","id":{id},"#
        )),
        "{record}"
    );
    let b64 = record.trim_end().rsplit_once(r#""key":""#).unwrap().1;
    assert_eq!(
        b64.len(),
        46,
        "44 bytes of base64, the closing quote and brace"
    );
    assert!(b64.ends_with(r#"="}"#));
    assert!(
        run(&[
            "key",
            "delete",
            "--yes",
            "--backend",
            "secret-service",
            "--service",
            &svc
        ])
        .ok
    );
}

/// In a private D-Bus session with its own gnome-keyring: create keys, lock the login
/// collection over D-Bus, and expect `Locked` with how to unlock (no display: the unlock prompt
/// cannot be shown). Private, so locking cannot disturb other tests' keyring.
#[test]
fn a_locked_keyring_is_reported_as_locked_with_how_to_unlock() {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !["dbus-run-session", "gnome-keyring-daemon", "dbus-send"]
        .iter()
        .all(|t| have(t))
    {
        if std::env::var_os("SECLLAMA_TEST_SECRET_SERVICE").is_some() {
            panic!(
                "SECLLAMA_TEST_SECRET_SERVICE is set but dbus-run-session, gnome-keyring-daemon or dbus-send is missing"
            );
        }
        eprintln!(
            "SKIPPED locked keyring: dbus-run-session, gnome-keyring-daemon or dbus-send missing"
        );
        return;
    }
    let scratch = tempfile_dir();
    let script = r#"
set -e
export XDG_DATA_HOME="$SCRATCH/data" XDG_RUNTIME_DIR="$SCRATCH/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
eval "$(printf '%s' throwaway | gnome-keyring-daemon --unlock --components=secrets)"
"$SECLLAMA" key init --backend secret-service --service locked >/dev/null
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
unset DISPLAY WAYLAND_DISPLAY
set +e
"$SECLLAMA" key status --backend secret-service --service locked
echo "exit=$?"
"#;
    let out = Command::new("dbus-run-session")
        .args(["--", "bash", "-c", script])
        .env("SCRATCH", &scratch)
        .env("SECLLAMA", env!("CARGO_BIN_EXE_secllama"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("SECLLAMA_KEYSTORE")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.ends_with("exit=5\n"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "secllama: the secret-service keychain is locked or refused access (Secret \
             Service: unlock prompt was dismissed): unlock the login keyring"
        ),
        "{stderr}"
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(service("scratch"));
    std::fs::create_dir(&dir).unwrap();
    dir
}

fn crypt<S: AsRef<std::ffi::OsStr>>(args: &[S], input: &[u8]) -> (bool, Vec<u8>, String) {
    use std::io::Write as _;
    let mut child = secllama()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn service_crypt(backend: &str, test: &str) {
    if !backend_or_skip(backend, test) {
        return;
    }
    let svc = service(test);
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(&["--backend", backend, "--service", svc.as_str()])
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run_crypt = |v: Vec<String>, input: &[u8]| crypt(&v, input);

    // Decrypting under a service with no keys says so (and creates none).
    let (ok, _, err) = run_crypt(with(&["decrypt"]), b"x");
    assert!(!ok);
    assert!(err.contains("has no keys yet"), "{err}");

    // Encrypt creates the keyset on first use and seals with its primary key.
    let (ok, old_env, err) = run_crypt(with(&["encrypt", "--aad", "notes"]), b"first secret");
    assert!(ok, "{err}");
    let first = status_json(backend, &svc)["primary"].as_u64().unwrap();
    assert_eq!(old_env[0], 1, "envelope v1");
    assert_eq!(
        u64::from(u32::from_be_bytes(old_env[1..5].try_into().unwrap())),
        first
    );
    assert_eq!(old_env.len(), b"first secret".len() + 33);

    assert!(run(&with(&["key", "rotate"])).ok);
    let second = status_json(backend, &svc)["primary"].as_u64().unwrap();
    let (ok, new_env, _) = run_crypt(with(&["encrypt", "--aad", "notes"]), b"second secret");
    assert!(ok);
    assert_eq!(
        u64::from(u32::from_be_bytes(new_env[1..5].try_into().unwrap())),
        second
    );

    // Decrypt opens each with the key its envelope names.
    for (env, want) in [
        (&old_env, &b"first secret"[..]),
        (&new_env, &b"second secret"[..]),
    ] {
        let (ok, plain, err) = run_crypt(with(&["decrypt", "--aad", "notes"]), env);
        assert!(ok, "{err}");
        assert_eq!(plain, want);
    }
    let (ok, plain, err) = run_crypt(with(&["decrypt", "--aad", "other"]), &new_env);
    assert!(!ok);
    assert!(plain.is_empty());
    assert!(
        err.starts_with("secllama: cannot decrypt with the keys of service"),
        "{err}"
    );

    // A destroyed key opens nothing any more.
    assert!(run(&with(&["key", "destroy", "--force", &first.to_string()])).ok);
    let (ok, plain, err) = run_crypt(with(&["decrypt", "--aad", "notes"]), &old_env);
    assert!(!ok);
    assert!(plain.is_empty());
    assert!(err.contains("destroyed"), "{err}");

    assert!(run(&with(&["key", "delete", "--yes"])).ok);
}

#[test]
fn encrypt_and_decrypt_with_a_kernel_keyring_service_use_the_key_each_envelope_names() {
    service_crypt("keyutils", "crypt-keyutils");
}

#[test]
fn encrypt_and_decrypt_with_a_secret_service_service_use_the_key_each_envelope_names() {
    service_crypt("secret-service", "crypt-secret-service");
}

#[test]
fn a_password_file_and_a_service_together_are_a_usage_error() {
    let out = run(&["encrypt", "--service", "x", "--password-file", "/dev/null"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
    // Neither: the password is asked on the terminal, and a new session (setsid) has none.
    let out = std::process::Command::new("setsid")
        .args(["-w", env!("CARGO_BIN_EXE_secllama"), "encrypt"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(9));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give --password-file FILE"),
        "{out:?}"
    );
}

#[test]
fn key_status_into_a_closed_pipe_is_quiet_and_exits_141() {
    if !backend_or_skip("keyutils", "key_status_into_a_closed_pipe") {
        return;
    }
    let svc = service("epipe");
    let init = run(&["key", "init", "--backend", "keyutils", "--service", &svc]);
    assert!(init.ok, "{}", init.stderr);
    // As `secllama key status | head -1` once head has exited: the reader is gone.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_secllama"))
        .args(["key", "status", "--backend", "keyutils", "--service", &svc])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(141));
    let del = run(&[
        "key",
        "delete",
        "--yes",
        "--backend",
        "keyutils",
        "--service",
        &svc,
    ]);
    assert!(del.ok, "{}", del.stderr);
}
