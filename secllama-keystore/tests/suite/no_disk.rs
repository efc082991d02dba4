//! Nothing reaches the disk but the keychain's own store and the empty lock file.
//!
//! A child process (this binary, the ignored `no_disk_worker` test) creates, rotates and loads
//! keys with HOME, every XDG directory, TMPDIR and its working directory pointed into a scratch
//! tree. Afterwards the scratch tree must hold nothing (the empty 0600 lock file is in the uid's
//! own directory, whatever the environment says), the
//! Secret Service daemon's data directory must be unchanged outside `keyrings/` (its own
//! encrypted store), and no file anywhere in either tree may contain a key, raw or base64.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use secllama_keystore::{Backend, Keystore, KeystoreConfig};

use super::common::{base64, open_or_skip};

const ENV_SERVICE: &str = "SECLLAMA_NODISK_SERVICE";
const ENV_BACKEND: &str = "SECLLAMA_NODISK_BACKEND";

#[test]
#[ignore = "helper: run in a child process by the no-disk tests"]
fn no_disk_worker() {
    let service = std::env::var(ENV_SERVICE).expect("run by the no-disk tests only");
    let backend: Backend = std::env::var(ENV_BACKEND).unwrap().parse().unwrap();
    let ks = Keystore::open(KeystoreConfig::new(&service).unwrap().backend(backend)).unwrap();
    ks.load().unwrap();
    ks.rotate().unwrap();
    ks.status().unwrap();
    ks.load().unwrap();
}

/// Path → (size, mtime ns, content) of every regular file under `root`, skipping `skip`.
fn snapshot(root: &Path, skip: Option<&Path>) -> BTreeMap<PathBuf, (u64, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd {
            let path = entry.unwrap().path();
            if skip.is_some_and(|s| path.starts_with(s)) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let content = std::fs::read(&path).unwrap_or_default();
                out.insert(path, (meta.len(), meta.mtime_nsec(), content));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn no_disk(backend: Backend, tag: &str) {
    let Some((ks, _locks)) = open_or_skip(backend, tag) else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let dirs = [
        "home", "config", "cache", "state", "data", "tmp", "run", "cwd",
    ];
    for d in dirs {
        let p = scratch.path().join(d);
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let daemon_data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap();
    let keyrings = daemon_data.join("keyrings");
    let daemon_before = snapshot(&daemon_data, Some(&keyrings));
    let scratch_before = snapshot(scratch.path(), None);
    assert!(scratch_before.is_empty());

    let s = |d: &str| scratch.path().join(d);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "suite::no_disk::no_disk_worker",
            "--ignored",
            "--test-threads=1",
        ])
        .current_dir(s("cwd"))
        .env(ENV_SERVICE, ks.service())
        .env(ENV_BACKEND, backend.name())
        .env("HOME", s("home"))
        .env("XDG_CONFIG_HOME", s("config"))
        .env("XDG_CACHE_HOME", s("cache"))
        .env("XDG_STATE_HOME", s("state"))
        .env("XDG_DATA_HOME", s("data"))
        .env("XDG_RUNTIME_DIR", s("run"))
        .env("TMPDIR", s("tmp"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Nothing at all in the child's own directories: the lock file lives in a directory
    // chosen by uid (never by HOME, XDG_* or TMPDIR), and it is empty and 0600.
    let scratch_after = snapshot(scratch.path(), None);
    assert_eq!(
        scratch_after.keys().cloned().collect::<Vec<_>>(),
        Vec::<PathBuf>::new()
    );
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let lock = [
        format!("/run/user/{uid}/secllama"),
        format!("/tmp/secllama-{uid}"),
    ]
    .into_iter()
    .map(|d| PathBuf::from(d).join(format!("keystore-{}.lock", ks.service())))
    .find(|p| p.exists())
    .expect("the lock file in the uid's directory");
    let meta = std::fs::metadata(&lock).unwrap();
    assert_eq!(meta.len(), 0, "the lock file holds nothing");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir_mode = std::fs::metadata(lock.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    std::fs::remove_file(&lock).unwrap();

    // The daemon changed nothing outside its own store.
    let daemon_after = snapshot(&daemon_data, Some(&keyrings));
    let strip = |m: &BTreeMap<PathBuf, (u64, i64, Vec<u8>)>| {
        m.iter()
            .map(|(p, (_, _, c))| (p.clone(), c.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&daemon_after), strip(&daemon_before));

    // No key, raw or base64, in any file of either tree, the keyring files included.
    let keyset = ks.load().unwrap();
    assert_eq!(keyset.keys().len(), 2);
    let mut files = snapshot(&daemon_data, None);
    files.extend(scratch_after);
    assert!(!files.is_empty());
    for info in keyset.keys() {
        let raw = keyset.key(info.id).unwrap().expose_secret().to_vec();
        let b64 = base64(&raw);
        for (path, (_, _, content)) in &files {
            assert!(
                !contains(content, &raw),
                "raw key {} in {}",
                info.id,
                path.display()
            );
            assert!(
                !contains(content, b64.as_bytes()),
                "base64 key {} in {}",
                info.id,
                path.display()
            );
        }
    }
    ks.delete().unwrap();
}

#[test]
fn secret_service_keys_reach_no_file_but_the_keyrings_encrypted_store() {
    no_disk(Backend::SecretService, "nodisk-ss");
}

#[test]
fn kernel_keyring_keys_reach_no_file_at_all() {
    no_disk(Backend::Keyutils, "nodisk-ku");
}
