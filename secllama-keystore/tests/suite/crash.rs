//! `kill -9` at every step of rotate and destroy: a worker process (this binary, the ignored
//! `crash_worker` test) is paused at a named step through the debug-build hook, killed there,
//! and then one `repair` must leave every key whose data may exist loadable, every envelope
//! opening, nothing destroyed left in the keychain, and nothing more to repair.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use secllama_crypto::{CryptoError, KeyStatus};
use secllama_keystore::internal::{CRASH_STEPS, PAUSE_ENV};
use secllama_keystore::{Backend, Keystore, KeystoreConfig};

use super::common::{keyctl_lookup, open_or_skip, secret_tool_lookup};

const ENV_SERVICE: &str = "SECLLAMA_CRASH_SERVICE";
const ENV_BACKEND: &str = "SECLLAMA_CRASH_BACKEND";
const ENV_OP: &str = "SECLLAMA_CRASH_OP";

fn config(service: &str, backend: Backend) -> KeystoreConfig {
    KeystoreConfig::new(service)
        .unwrap()
        .backend(backend)
        .create_if_missing(false)
        .grace_period(std::time::Duration::ZERO)
}

#[test]
#[ignore = "helper: run in child processes by the crash tests"]
fn crash_worker() {
    let service = std::env::var(ENV_SERVICE).expect("run by the crash tests only");
    let backend: Backend = std::env::var(ENV_BACKEND).unwrap().parse().unwrap();
    let ks = Keystore::open(config(&service, backend)).unwrap();
    let op = std::env::var(ENV_OP).unwrap();
    match op.split_once(' ') {
        Some(("destroy", id)) => ks.destroy(id.parse().unwrap()).unwrap(),
        _ => drop(ks.rotate().unwrap()),
    }
}

/// Whether the keychain still holds an entry `user` of `service`, asked from outside.
fn stored(backend: Backend, service: &str, user: &str) -> bool {
    match backend {
        Backend::Keyutils => keyctl_lookup(service, user).is_some(),
        _ => secret_tool_lookup(service, user).is_some(),
    }
}

fn crash_at_every_step(backend: Backend, tag: &str) {
    let mut hit = Vec::new();
    for step in CRASH_STEPS {
        let Some((ks, _locks)) = open_or_skip(backend, tag) else {
            return;
        };
        let ks = Keystore::open(config(ks.service(), backend)).unwrap();
        // Two keys with data under each; the older one is the victim of destroy.
        let a = {
            ks.init().unwrap();
            ks.load().unwrap()
        };
        let env_a = a.seal(b"a", b"").unwrap();
        ks.rotate().unwrap();
        let b = ks.load().unwrap();
        let env_b = b.seal(b"b", b"").unwrap();
        let op = if step.starts_with("destroy") {
            format!("destroy {}", a.primary_id())
        } else {
            "rotate".to_owned()
        };

        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "suite::crash::crash_worker",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_SERVICE, ks.service())
            .env(ENV_BACKEND, backend.name())
            .env(ENV_OP, &op)
            .env(PAUSE_ENV, step)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut paused = false;
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.trim() == format!("PAUSED {step}") {
                paused = true;
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL: no destructor, no unlock, nothing runs
        let status = child.wait().unwrap();
        assert!(paused, "{op}: the worker never reached {step} ({status})");
        hit.push(step);

        let report = ks.repair().unwrap();
        let after = ks.status().unwrap();
        assert_eq!(
            after.needs_repair,
            Vec::<String>::new(),
            "{step}: {report:?}"
        );
        let keyset = ks.load().unwrap();
        assert_eq!(keyset.open(&env_b, b"").unwrap().as_slice(), b"b", "{step}");
        if op.starts_with("destroy") {
            // Past the point of no return (the key was disabled first): destroyed, and gone.
            assert_eq!(
                keyset.open(&env_a, b"").unwrap_err(),
                CryptoError::KeyDestroyed(a.primary_id()),
                "{step}"
            );
            assert!(
                !stored(backend, ks.service(), &format!("key-{}", a.primary_id())),
                "{step}: left undeleted"
            );
            assert_eq!(
                after
                    .keys
                    .iter()
                    .find(|k| k.id == a.primary_id())
                    .unwrap()
                    .status,
                KeyStatus::Destroyed
            );
        } else {
            assert_eq!(keyset.open(&env_a, b"").unwrap().as_slice(), b"a", "{step}");
            // The new key exists and is enabled; it is primary once its record was written.
            assert_eq!(after.keys.len(), 3, "{step}: {:?}", after.keys);
            assert!(after.keys.iter().all(|k| k.status == KeyStatus::Enabled));
            if step != "rotate.key-written" {
                assert!(
                    after
                        .keys
                        .iter()
                        .any(|k| k.primary && k.id != a.primary_id() && k.id != b.primary_id()),
                    "{step}"
                );
            }
            let env_c = keyset.seal(b"c", b"").unwrap();
            assert_eq!(
                ks.load().unwrap().open(&env_c, b"").unwrap().as_slice(),
                b"c"
            );
        }
        ks.delete().unwrap();
    }
    assert_eq!(hit, CRASH_STEPS, "every step was hit");
}

#[test]
fn kill_9_at_every_step_of_rotate_and_destroy_loses_nothing_on_the_kernel_keyring() {
    crash_at_every_step(Backend::Keyutils, "crash-keyutils");
}

#[test]
fn kill_9_at_every_step_of_rotate_and_destroy_loses_nothing_on_the_secret_service() {
    crash_at_every_step(Backend::SecretService, "crash-secret-service");
}
