//! Eight real processes rotating one service at once, half of them in another environment
//! (their own `XDG_RUNTIME_DIR`, `TMPDIR` and lock directory, as ssh/cron sessions, Flatpak or
//! `env -i` would have), so nothing serialises the two halves: no key may be lost, and every
//! envelope sealed during the storm must still open afterwards.
//!
//! The workers are this test binary itself, re-run with the ignored `storm_worker` test
//! selected; they learn their service from the environment.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use secllama_crypto::KeyStatus;
use secllama_keystore::{Backend, Keystore, KeystoreConfig};

use super::common::{hex, open_or_skip, unhex};

const PROCESSES: usize = 8;
const ROUNDS: usize = 3;
const ENV_SERVICE: &str = "SECLLAMA_STORM_SERVICE";
const ENV_BACKEND: &str = "SECLLAMA_STORM_BACKEND";
const ENV_LOCK_DIR: &str = "SECLLAMA_STORM_LOCK_DIR";

/// One worker: rotate, load, seal, `ROUNDS` times, printing what it did.
#[test]
#[ignore = "helper: run in child processes by the storm tests"]
fn storm_worker() {
    let service = std::env::var(ENV_SERVICE).expect("run by the storm tests only");
    let backend: Backend = std::env::var(ENV_BACKEND).unwrap().parse().unwrap();
    let config = KeystoreConfig::new(&service)
        .unwrap()
        .backend(backend)
        .create_if_missing(false)
        .lock_dir(std::env::var_os(ENV_LOCK_DIR).unwrap());
    let ks = Keystore::open(config).unwrap();
    for round in 0..ROUNDS {
        let id = ks.rotate().unwrap();
        println!("ROTATED {id}");
        let keyset = ks.load().unwrap();
        let text = format!("pid {} round {round}", std::process::id());
        let env = keyset.seal(text.as_bytes(), service.as_bytes()).unwrap();
        println!("SEALED {} {}", hex(&env), hex(text.as_bytes()));
    }
}

fn storm(backend: Backend, tag: &str) {
    let Some((ks, locks)) = open_or_skip(backend, tag) else {
        return;
    };
    let first = ks.init().unwrap().primary;
    let exe = std::env::current_exe().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    for d in ["run", "tmp", "locks"] {
        std::fs::create_dir(elsewhere.path().join(d)).unwrap();
    }
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            let mut cmd = Command::new(&exe);
            if i % 2 == 1 {
                cmd.env("XDG_RUNTIME_DIR", elsewhere.path().join("run"))
                    .env("TMPDIR", elsewhere.path().join("tmp"))
                    .env(ENV_LOCK_DIR, elsewhere.path().join("locks"));
            } else {
                cmd.env(ENV_LOCK_DIR, locks.path());
            }
            cmd.args([
                "--exact",
                "suite::storm::storm_worker",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_SERVICE, ks.service())
            .env(ENV_BACKEND, backend.name())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();

    let mut rotated = BTreeSet::new();
    let mut sealed = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "worker failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        // libtest may print "test ... " in front of the first line of output.
        for line in stdout.lines() {
            if let Some((_, id)) = line.split_once("ROTATED ") {
                assert!(rotated.insert(id.parse::<u32>().unwrap()), "id {id} twice");
            } else if let Some((_, rest)) = line.split_once("SEALED ") {
                let (env, text) = rest.split_once(' ').unwrap();
                sealed.push((unhex(env), unhex(text)));
            }
        }
    }
    assert_eq!(
        rotated.len(),
        PROCESSES * ROUNDS,
        "every worker reported every rotation"
    );
    assert_eq!(sealed.len(), PROCESSES * ROUNDS);

    let keyset = ks.load().unwrap();
    let keys = keyset.keys();
    assert_eq!(keys.len(), 1 + PROCESSES * ROUNDS, "a key was lost");
    for id in rotated.iter().copied().chain([first]) {
        let info = keys.iter().find(|k| k.id == id);
        assert!(
            matches!(info, Some(k) if k.status == KeyStatus::Enabled),
            "key {id} lost"
        );
        assert!(keyset.key(id).is_some(), "key {id} has no material");
    }
    assert!(rotated.contains(&keyset.primary_id()));
    for (env, text) in &sealed {
        let opened = keyset.open(env, ks.service().as_bytes()).unwrap();
        assert_eq!(opened.as_slice(), text.as_slice());
    }
    // The index cache may trail what the two unsynchronised halves wrote; one repair settles it.
    ks.repair().unwrap();
    assert_eq!(ks.status().unwrap().needs_repair, Vec::<String>::new());
    assert_eq!(ks.delete().unwrap(), 3 + PROCESSES * ROUNDS);
}

#[test]
fn eight_processes_in_two_environments_rotating_the_kernel_keyring_lose_no_key() {
    storm(Backend::Keyutils, "storm-keyutils");
}

#[test]
fn eight_processes_in_two_environments_rotating_the_secret_service_lose_no_key() {
    storm(Backend::SecretService, "storm-secret-service");
}
