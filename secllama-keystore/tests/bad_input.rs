//! The bad-input campaign: hostile service and backend names, hostile keychain entries (what
//! another program with access to the user's keychain could write) and hostile lock
//! directories, each with the exact error it must produce. Nothing may panic or block.
//!
//! Runs on keyring-core's mock store, so no keychain is needed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use secllama_keystore::keyring_core::{CredentialStore, mock};
use secllama_keystore::{Backend, Keystore, KeystoreConfig, KeystoreError, MAX_RECORD_LEN};

const SERVICE: &str = "bad-input";

fn store() -> Arc<CredentialStore> {
    mock::Store::new().unwrap()
}

fn keystore(store: &Arc<CredentialStore>, lock_dir: &Path) -> Keystore {
    let config = KeystoreConfig::new(SERVICE)
        .unwrap()
        .create_if_missing(false)
        .lock_dir(lock_dir);
    Keystore::open_with_store(config, Backend::SecretService, store.clone()).unwrap()
}

fn set(store: &Arc<CredentialStore>, user: &str, secret: &[u8]) {
    store
        .build(SERVICE, user, None)
        .unwrap()
        .set_secret(secret)
        .unwrap();
}

/// Runs `f` on a thread and fails the test if it does not return within 20 s (a hang on a
/// FIFO or a device must be reported as a failure, not wedge the test run).
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what}: blocked for 20 s"))
}

#[test]
fn hostile_service_names_are_refused_with_a_printable_name() {
    let long = "a".repeat(65);
    let very_long = "é".repeat(200);
    let cases: Vec<(&str, String)> = vec![
        ("", String::new()),
        ("a/b", "a/b".into()),
        ("../x", "../x".into()),
        ("..", "..".into()),
        (".", ".".into()),
        ("a b", "a b".into()),
        ("a\0b", "a?b".into()),
        ("x\ny", "x?y".into()),
        ("\u{1b}[31mred", "?[31mred".into()),
        ("café", "café".into()),
        (&long, long.clone()),
        (&very_long, "é".repeat(80)),
    ];
    for (name, shown) in cases {
        match KeystoreConfig::new(name) {
            Err(KeystoreError::InvalidService { name: got }) => assert_eq!(got, shown, "{name:?}"),
            other => panic!("{name:?}: {other:?}"),
        }
    }
}

#[test]
fn hostile_backend_names_are_unknown_backends() {
    let cases: Vec<(&str, &str)> = vec![
        ("", ""),
        ("file", "file"),
        ("Secret-Service", "Secret-Service"),
        ("keyutils ", "keyutils "),
        ("keyutils\0", "keyutils?"),
        ("secret-service\nkeyutils", "secret-service?keyutils"),
    ];
    for (name, shown) in cases {
        match name.parse::<Backend>() {
            Err(KeystoreError::UnknownBackend { name: got }) => assert_eq!(got, shown, "{name:?}"),
            other => panic!("{name:?}: {other:?}"),
        }
    }
}

/// A valid one-key service (key 5, primary), written as records.
fn valid_service(s: &Arc<CredentialStore>) {
    set(s, "key-5", format!(r#"{{"format":2,"kind":"key","service":"{SERVICE}","id":5,"created":1,"status":"enabled","changed":1,"seals":0,"key":"{KEY}"}}"#).as_bytes());
    set(
        s,
        "primary",
        format!(r#"{{"format":2,"kind":"primary","service":"{SERVICE}","primary":5,"since":1}}"#)
            .as_bytes(),
    );
    set(
        s,
        "index",
        format!(r#"{{"format":2,"kind":"index","service":"{SERVICE}","keys":[[5,"enabled",1]]}}"#)
            .as_bytes(),
    );
}

const KEY: &str = "paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=";

#[test]
fn hostile_index_and_primary_records_are_reported_and_never_stop_the_keys_from_loading() {
    let many_keys = format!(
        r#"{{"format":2,"kind":"index","service":"{SERVICE}","keys":[{}]}}"#,
        (1..=41)
            .map(|i| format!(r#"[{i},"enabled",1]"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let head = format!(r#""format":2,"kind":"index","service":"{SERVICE}""#);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("empty", vec![], "not a record (not JSON)".into()),
        ("invalid UTF-8", b"\xff\xfe{}".to_vec(), "not UTF-8".into()),
        (
            "a NUL byte",
            b"\0".to_vec(),
            "not a record (not JSON)".into(),
        ),
        (
            "null",
            b"null".to_vec(),
            "not a record (a field has the wrong type)".into(),
        ),
        (
            "format as a string",
            br#"{"format":"2"}"#.to_vec(),
            "not a record (a field has the wrong type)".into(),
        ),
        (
            "format 3",
            br#"{"format":3}"#.to_vec(),
            "format 3, this secllama reads formats 1 and 2: upgrade secllama".into(),
        ),
        (
            "format 2^64-1",
            br#"{"format":18446744073709551615}"#.to_vec(),
            "not a record (a field has the wrong type)".into(),
        ),
        (
            "format twice",
            br#"{"format":2,"format":2}"#.to_vec(),
            "not a record (duplicate field `format`)".into(),
        ),
        (
            "keys as an object",
            format!(r#"{{{head},"keys":{{}}}}"#).into_bytes(),
            "bad index record (a field has the wrong type)".into(),
        ),
        (
            "an id over u32",
            format!(r#"{{{head},"keys":[[4294967296,"enabled",1]]}}"#).into_bytes(),
            "bad index record (a field has the wrong type)".into(),
        ),
        (
            "a status with a NUL byte",
            format!("{{{head},\"keys\":[[1,\"enabled\\u0000\",1]]}}").into_bytes(),
            "bad index record (a field has the wrong type)".into(),
        ),
        (
            "41 keys",
            many_keys.into_bytes(),
            "index lists 41 keys, more than 40".into(),
        ),
        (
            "a duplicate id",
            format!(r#"{{{head},"keys":[[1,"enabled",1],[1,"disabled",1]]}}"#).into_bytes(),
            "index lists key 1 twice".into(),
        ),
        (
            "keys twice",
            format!(r#"{{{head},"keys":[],"keys":[[1,"enabled",1]]}}"#).into_bytes(),
            "bad index record (duplicate field `keys`)".into(),
        ),
        (
            "an unknown field",
            format!(r#"{{{head},"keys":[],"secret":"x"}}"#).into_bytes(),
            "bad index record (unknown field `secret`)".into(),
        ),
        (
            "primary twice (format 1)",
            br#"{"format":1,"primary":1,"primary":2,"keys":[[1,"enabled",1],[2,"enabled",1]]}"#
                .to_vec(),
            "bad format-1 index (duplicate field `primary`)".into(),
        ),
        (
            "2049 bytes",
            vec![b' '; MAX_RECORD_LEN + 1],
            format!(
                "{} bytes, more than the {MAX_RECORD_LEN} allowed",
                MAX_RECORD_LEN + 1
            ),
        ),
    ];
    let locks = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for user in ["index", "primary"] {
        for (what, bytes, reason) in &cases {
            let s = store();
            valid_service(&s);
            set(&s, user, bytes);
            let ks = keystore(&s, locks.path());
            let want = format!("entry {user:?} is corrupt: {reason}");
            match ks.status() {
                Ok(st) if st.needs_repair.contains(&want) && st.primary == 5 => {}
                other => wrong.push(format!("{user} {what} (status): {other:?}")),
            }
            match ks.load() {
                Ok(k) if k.primary_id() == 5 => {}
                other => wrong.push(format!("{user} {what} (load): {other:?}")),
            }
            let report = ks.repair().unwrap();
            if !ks.status().unwrap().needs_repair.is_empty() || report.done.is_empty() {
                wrong.push(format!("{user} {what} (repair): {report:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn hostile_key_entries_are_reported_as_corrupt_without_echoing_them() {
    let rec = |key: &str| {
        format!(r#"{{"format":2,"kind":"key","service":"{SERVICE}","id":5,"created":1,"status":"enabled","changed":1,"seals":0,"key":"{key}"}}"#).into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("empty", vec![], "not a record (not JSON)".into()),
        ("43 bytes", vec![b'A'; 43], "not a record (not JSON)".into()),
        ("a megabyte", vec![b'A'; 1 << 20], "1048576 bytes, more than the 2048 allowed".into()),
        ("44 NUL bytes", vec![0; 44], "not base64".into()),
        ("44 bytes of invalid UTF-8", vec![0xff; 44], "not base64".into()),
        ("url-safe base64", b"-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8=".to_vec(), "not base64".into()),
        ("base64 of 31 bytes", b"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==".to_vec(), "31 key bytes where 32 were expected".into()),
        ("a record with 31 key bytes", rec("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=="), "key 5: 31 key bytes where 32 were expected".into()),
        ("a record with a short key", rec("AQEB"), "key 5: 4 bytes where 44 bytes of base64 were expected".into()),
        ("a record with id twice", format!(r#"{{"format":2,"kind":"key","service":"{SERVICE}","id":5,"id":6,"created":1,"status":"enabled","changed":1,"seals":0,"key":"{KEY}"}}"#).into_bytes(), "bad key record (duplicate field `id`)".into()),
        ("a record with an unknown field", format!(r#"{{"format":2,"kind":"key","service":"{SERVICE}","id":5,"created":1,"status":"enabled","changed":1,"seals":0,"key":"{KEY}","x":1}}"#).into_bytes(), "bad key record (unknown field `x`)".into()),
    ];
    let locks = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for (what, bytes, reason) in cases {
        let s = store();
        valid_service(&s);
        set(&s, "key-5", &bytes);
        let ks = keystore(&s, locks.path());
        let want = format!("entry \"key-5\" is corrupt: {reason}");
        match ks.status() {
            Ok(st) if st.needs_repair.contains(&want) => {
                assert!(!format!("{st:?}").contains("AQEBAQEB"));
            }
            other => wrong.push(format!("{what} (status): {other:?}")),
        }
        // Key 5 was the only key: nothing can seal until a repair adds a key, and the
        // corrupt entry is left for a person to look at.
        match ks.load() {
            Err(KeystoreError::Corrupt { what: w }) if w.contains("no enabled key is left") => {}
            other => wrong.push(format!("{what} (load): {other:?}")),
        }
        let report = ks.repair().unwrap();
        if !report
            .unresolved
            .iter()
            .any(|l| l.starts_with("entry \"key-5\" is corrupt"))
        {
            wrong.push(format!("{what} (repair): {report:?}"));
        }
        if ks.load().is_err() {
            wrong.push(format!("{what}: no key after repair"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The lock-file error for `path`, with the io error's text.
fn lock_error(ks: Keystore) -> (PathBuf, String) {
    match within_deadline("rotate", move || ks.rotate()) {
        Err(KeystoreError::LockFile { path, error }) => (path, error.to_string()),
        other => panic!("expected a lock-file error, got {other:?}"),
    }
}

#[test]
fn a_lock_directory_that_is_a_file_a_symlink_or_open_to_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let missing_parent = tmp.path().join("no/such/dir");

    let cases: Vec<(&str, PathBuf, &str)> = vec![
        ("a regular file", file, "not a directory (or a symlink)"),
        (
            "a symlink to a directory",
            link,
            "not a directory (or a symlink)",
        ),
        (
            "a world-writable directory",
            open,
            "directory writable by other users",
        ),
        (
            "a directory whose parent is missing",
            missing_parent,
            "No such file or directory (os error 2)",
        ),
    ];
    let s = store();
    valid_service(&s);
    for (what, dir, want) in cases {
        let (path, err) = lock_error(keystore(&s, &dir));
        assert_eq!((path, err.as_str()), (dir.clone(), want), "{what}");
    }
}

#[test]
fn a_lock_file_that_is_a_fifo_a_device_a_directory_or_a_symlink_is_refused_without_blocking() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let lock = dir.path().join(format!("keystore-{SERVICE}.lock"));
    let s = store();
    valid_service(&s);

    // A FIFO: opening one for reading alone would block until a writer comes.
    let mkfifo = std::process::Command::new("mkfifo")
        .arg(&lock)
        .status()
        .unwrap();
    assert!(mkfifo.success());
    let (path, err) = lock_error(keystore(&s, dir.path()));
    assert_eq!((path, err.as_str()), (lock.clone(), "not a regular file"));
    std::fs::remove_file(&lock).unwrap();

    // A symlink to a device that never ends.
    std::os::unix::fs::symlink("/dev/zero", &lock).unwrap();
    let (path, err) = lock_error(keystore(&s, dir.path()));
    assert_eq!(
        (path, err.as_str()),
        (
            lock.clone(),
            "Too many levels of symbolic links (os error 40)"
        )
    );
    std::fs::remove_file(&lock).unwrap();

    // A directory.
    std::fs::create_dir(&lock).unwrap();
    let (path, err) = lock_error(keystore(&s, dir.path()));
    assert_eq!(
        (path, err.as_str()),
        (lock.clone(), "Is a directory (os error 21)")
    );
    std::fs::remove_dir(&lock).unwrap();

    // A character device node (root only: CI runs as root; elsewhere say so and skip).
    let mknod = std::process::Command::new("mknod")
        .arg(&lock)
        .args(["c", "1", "5"])
        .status();
    if mknod.is_ok_and(|s| s.success()) {
        let (path, err) = lock_error(keystore(&s, dir.path()));
        assert_eq!((path, err.as_str()), (lock.clone(), "not a regular file"));
    } else {
        eprintln!("SKIPPED the device-node case: mknod needs root");
    }
}

#[test]
fn a_relative_lock_directory_is_refused() {
    // A relative directory would resolve against each process's working directory, so two
    // processes could lock different files and lose a key in concurrent rotations.
    let s = store();
    let config = KeystoreConfig::new(SERVICE)
        .unwrap()
        .create_if_missing(false)
        .lock_dir("relative-lock-dir");
    match Keystore::open_with_store(config, Backend::SecretService, s) {
        Err(KeystoreError::LockFile { path, error }) => {
            assert_eq!(path, PathBuf::from("relative-lock-dir"));
            assert_eq!(
                error.to_string(),
                "the lock directory must be an absolute path"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!Path::new("relative-lock-dir").exists());
}
