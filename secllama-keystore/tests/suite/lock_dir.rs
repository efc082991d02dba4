//! The default lock directory depends on the user alone: processes of one user in different
//! environments (a desktop session, `env -i`, cron or ssh with their own `XDG_RUNTIME_DIR`,
//! `TMPDIR`, `HOME`) agree on it and lock the same file there.
//!
//! The workers are this test binary itself, re-run with the ignored `lock_dir_worker` test
//! selected; they learn their service from the one variable set for them.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use secllama_keystore::{Backend, Keystore, KeystoreConfig, internal};

use super::common::open_or_skip;

const ENV_SERVICE: &str = "SECLLAMA_LOCK_DIR_SERVICE";

/// One worker: print the default lock directory, then rotate the service with the default lock.
#[test]
#[ignore = "helper: run in child processes by the lock directory test"]
fn lock_dir_worker() {
    let service = std::env::var(ENV_SERVICE).expect("run by the lock directory test only");
    println!(
        "LOCKDIR {}",
        internal::default_lock_dir().unwrap().display()
    );
    let config = KeystoreConfig::new(&service)
        .unwrap()
        .backend(Backend::Keyutils)
        .create_if_missing(false);
    let id = Keystore::open(config).unwrap().rotate().unwrap();
    println!("ROTATED {id}");
}

#[test]
fn processes_in_different_environments_use_one_lock_directory_keyed_on_the_uid() {
    let Some((ks, _locks)) = open_or_skip(Backend::Keyutils, "lock-dir") else {
        return;
    };
    ks.init().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let run = |what: &str, setup: &dyn Fn(&mut Command)| -> String {
        let mut cmd = Command::new(&exe);
        setup(&mut cmd);
        let out = cmd
            .env(ENV_SERVICE, ks.service())
            .args([
                "--exact",
                "suite::lock_dir::lock_dir_worker",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{what}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("ROTATED "), "{what}: {stdout}");
        let line = stdout.lines().find_map(|l| l.split_once("LOCKDIR "));
        line.unwrap_or_else(|| panic!("{what}: {stdout}"))
            .1
            .to_owned()
    };
    let inherited = run("inherited environment", &|_| {});
    let cleared = run("env -i", &|c| {
        c.env_clear();
    });
    let elsewhere = run("other directories", &|c| {
        for var in [
            "XDG_RUNTIME_DIR",
            "TMPDIR",
            "HOME",
            "LOCALAPPDATA",
            "TEMP",
            "TMP",
        ] {
            c.env(var, scratch.path());
        }
    });
    assert_eq!(cleared, inherited);
    assert_eq!(elsewhere, inherited);
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    assert!(
        inherited == format!("/run/user/{uid}/secllama")
            || inherited == format!("/tmp/secllama-{uid}"),
        "{inherited}"
    );
    // Each worker locked there, and nothing was made in the scratch directories.
    let lock = std::path::Path::new(&inherited).join(format!("keystore-{}.lock", ks.service()));
    assert_eq!(std::fs::metadata(&lock).unwrap().len(), 0);
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(
        ks.status().unwrap().keys.len(),
        4,
        "one key and three rotations"
    );
    ks.delete().unwrap();
}
