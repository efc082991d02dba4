//! The per-key seal count across real processes and restarts: four processes seal under one
//! key at once, each reserving small blocks in the key's keychain entry; afterwards the entry
//! records exactly the blocks they took (none handed out twice), a restarted process continues
//! from there, and every envelope opens.
//!
//! The workers are this test binary itself, re-run with the ignored `seal_worker` test
//! selected; they learn their service, backend and lock directory from the environment.

use std::process::{Command, Stdio};

use secllama_keystore::{Backend, Keystore, KeystoreConfig};

use super::common::{hex, keyctl_lookup, open_or_skip, secret_tool_lookup, unhex};

const PROCESSES: usize = 4;
const SEALS: usize = 10;
const BLOCK: u64 = 3;
const ENV_SERVICE: &str = "SECLLAMA_SEALS_SERVICE";
const ENV_BACKEND: &str = "SECLLAMA_SEALS_BACKEND";
const ENV_LOCK_DIR: &str = "SECLLAMA_SEALS_LOCK_DIR";

fn config(service: &str, backend: Backend, lock_dir: &std::path::Path) -> KeystoreConfig {
    KeystoreConfig::new(service)
        .unwrap()
        .backend(backend)
        .create_if_missing(false)
        .seal_block(BLOCK)
        .lock_dir(lock_dir)
}

/// One worker: load once, seal `SEALS` messages, printing each envelope.
#[test]
#[ignore = "helper: run in child processes by the seal count tests"]
fn seal_worker() {
    let service = std::env::var(ENV_SERVICE).expect("run by the seal count tests only");
    let backend: Backend = std::env::var(ENV_BACKEND).unwrap().parse().unwrap();
    let dir = std::env::var_os(ENV_LOCK_DIR).unwrap();
    let keyset = Keystore::open(config(&service, backend, dir.as_ref()))
        .unwrap()
        .load()
        .unwrap();
    for i in 0..SEALS {
        let text = format!("pid {} seal {i}", std::process::id());
        let env = keyset.seal(text.as_bytes(), b"").unwrap();
        println!("SEALED {} {}", hex(&env), hex(text.as_bytes()));
    }
}

/// The `seals` field of the key's record, read from outside the crate.
fn recorded_seals(backend: Backend, service: &str, id: u32) -> u64 {
    let user = format!("key-{id}");
    let record = match backend {
        Backend::Keyutils => keyctl_lookup(service, &user),
        _ => secret_tool_lookup(service, &user),
    }
    .unwrap_or_else(|| panic!("no entry for {user}"));
    let json: serde_json::Value = serde_json::from_slice(&record).unwrap();
    json["seals"].as_u64().unwrap()
}

fn seal_counts(backend: Backend, tag: &str) {
    let Some((ks, locks)) = open_or_skip(backend, tag) else {
        return;
    };
    let id = ks.init().unwrap().primary;
    assert_eq!(recorded_seals(backend, ks.service(), id), 0);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "suite::seals::seal_worker",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(ENV_SERVICE, ks.service())
                .env(ENV_BACKEND, backend.name())
                .env(ENV_LOCK_DIR, locks.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
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
        for line in stdout.lines() {
            if let Some((_, rest)) = line.split_once("SEALED ") {
                let (env, text) = rest.split_once(' ').unwrap();
                sealed.push((unhex(env), unhex(text)));
            }
        }
    }
    assert_eq!(sealed.len(), PROCESSES * SEALS);
    // Each worker reserved ceil(10 / 3) = 4 blocks of 3 before using them; sharing the lock,
    // no two got the same block, so the record holds exactly their sum.
    let per_process = (SEALS as u64).div_ceil(BLOCK) * BLOCK;
    let after_workers = recorded_seals(backend, ks.service(), id);
    assert_eq!(after_workers, PROCESSES as u64 * per_process);
    // A restart continues from the recorded count: one seal takes the next block.
    let again = Keystore::open(config(ks.service(), backend, locks.path()))
        .unwrap()
        .load()
        .unwrap();
    let last = again.seal(b"after the restart", b"").unwrap();
    assert_eq!(
        recorded_seals(backend, ks.service(), id),
        after_workers + BLOCK
    );
    for (env, text) in &sealed {
        assert_eq!(again.open(env, b"").unwrap().as_slice(), text.as_slice());
    }
    assert_eq!(
        again.open(&last, b"").unwrap().as_slice(),
        b"after the restart"
    );
    ks.delete().unwrap();
}

#[test]
fn processes_sealing_at_once_reserve_disjoint_blocks_recorded_in_the_kernel_keyring() {
    seal_counts(Backend::Keyutils, "seals-keyutils");
}

#[test]
fn processes_sealing_at_once_reserve_disjoint_blocks_recorded_in_the_secret_service() {
    seal_counts(Backend::SecretService, "seals-ss");
}
