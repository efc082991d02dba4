//! Shared helpers: unique service names, backend gates that skip visibly, outside readers.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use secllama_keystore::{Backend, Keystore, KeystoreConfig};

/// Set by CI (inside the D-Bus + keyctl session): the real backends must be there.
pub(crate) const REQUIRE_ENV: &str = "SECLLAMA_TEST_SECRET_SERVICE";

/// A service name no other test (or earlier run) uses.
pub(crate) fn unique_service(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("secllama-test-{tag}-{}-{nanos}", std::process::id())
}

/// A keystore on `backend` for a fresh service, or `None` after saying why the test skips.
/// Panics when the backend is missing but CI said it must be there.
pub(crate) fn open_or_skip(backend: Backend, tag: &str) -> Option<(Keystore, tempfile::TempDir)> {
    let locks = tempfile::tempdir().unwrap();
    let config = KeystoreConfig::new(&unique_service(tag))
        .unwrap()
        .backend(backend)
        .lock_dir(locks.path());
    match Keystore::open(config) {
        Ok(ks) => Some((ks, locks)),
        Err(e) if std::env::var_os(REQUIRE_ENV).is_some() => {
            panic!("{REQUIRE_ENV} is set, so the {backend} backend must work, but: {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIPPED {tag}: the {backend} backend is not usable here ({e}); run inside \
                 `dbus-run-session` with gnome-keyring unlocked and `keyctl session -` (see \
                 tests/all.rs), with {REQUIRE_ENV}=1 to make this a failure"
            );
            None
        }
    }
}

/// Runs a command and returns its stdout; `None` if it exits non-zero.
pub(crate) fn output(cmd: &mut Command) -> Option<Vec<u8>> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out.status.success().then_some(out.stdout)
}

/// Reads an entry back through `secret-tool`, outside this crate.
pub(crate) fn secret_tool_lookup(service: &str, user: &str) -> Option<Vec<u8>> {
    output(Command::new("secret-tool").args(["lookup", "service", service, "username", user]))
}

/// Reads an entry back through `keyctl`, outside this crate.
pub(crate) fn keyctl_lookup(service: &str, user: &str) -> Option<Vec<u8>> {
    let desc = format!("{}{user}@{service}", secllama_keystore::KEYUTILS_PREFIX);
    let serial = output(Command::new("keyctl").args(["search", "@s", "user", &desc]))?;
    let serial = String::from_utf8(serial).unwrap();
    output(Command::new("keyctl").args(["pipe", serial.trim()]))
}

/// Standard base64 of `bytes`, written out here so the test does not trust the crate's encoder.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_test_base64_matches_the_rfc_4648_vectors() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

/// The base64 key inside a key record's JSON text, checked to be one.
pub(crate) fn key_in_record(record: &[u8]) -> String {
    let text = std::str::from_utf8(record).unwrap().trim_end();
    assert!(
        text.starts_with(r#"{"format":2,"kind":"key","service":""#),
        "{text}"
    );
    let key = text
        .rsplit_once(r#""key":""#)
        .unwrap()
        .1
        .strip_suffix(r#""}"#)
        .unwrap();
    assert_eq!(key.len(), 44);
    key.to_owned()
}

/// Stores `secret` for (`service`, `user`) through `secret-tool`, as another program would: with
/// an extra `copy` attribute, so it is a second item beside ours when ours exists (every
/// search for the service and user finds both).
pub(crate) fn secret_tool_store(service: &str, user: &str, secret: &[u8]) {
    use std::io::Write as _;
    static COPY: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let copy = COPY
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string();
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=outside",
            "service",
            service,
            "username",
            user,
            "copy",
            &copy,
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(secret).unwrap();
    assert!(child.wait().unwrap().success());
}

/// The serial of a key in the session keyring (searching nested keyrings too).
pub(crate) fn keyctl_serial(service: &str, user: &str) -> Option<String> {
    let desc = format!("{}{user}@{service}", secllama_keystore::KEYUTILS_PREFIX);
    let serial = output(Command::new("keyctl").args(["search", "@s", "user", &desc]))?;
    Some(String::from_utf8(serial).unwrap().trim().to_owned())
}
