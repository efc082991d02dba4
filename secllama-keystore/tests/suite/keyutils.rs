//! The real kernel keyring, read back from outside with `keyctl`.

use std::process::Command;

use secllama_crypto::{CryptoError, KeyStatus};
use secllama_keystore::{Backend, KeystoreError};

use super::common::{base64, key_in_record, keyctl_lookup, keyctl_serial, open_or_skip, output};

#[test]
fn every_key_is_in_the_kernel_keyring_and_keyctl_reads_the_same_bytes() {
    let Some((ks, _locks)) = open_or_skip(Backend::Keyutils, "ku-readback") else {
        return;
    };
    ks.init().unwrap();
    ks.rotate().unwrap();
    let keyset = ks.load().unwrap();
    for info in keyset.keys() {
        let stored = keyctl_lookup(ks.service(), &format!("key-{}", info.id))
            .unwrap_or_else(|| panic!("keyctl finds no key {}", info.id));
        let want = base64(keyset.key(info.id).unwrap().expose_secret());
        assert_eq!(key_in_record(&stored), want);
    }
    assert!(keyctl_lookup(ks.service(), "index").is_some());
    assert!(keyctl_lookup(ks.service(), "primary").is_some());
    assert_eq!(ks.delete().unwrap(), 4);
    for info in keyset.keys() {
        assert!(keyctl_lookup(ks.service(), &format!("key-{}", info.id)).is_none());
    }
    assert!(keyctl_lookup(ks.service(), "index").is_none());
}

#[test]
fn the_whole_key_lifecycle_works_on_the_kernel_keyring() {
    let Some((ks, _locks)) = open_or_skip(Backend::Keyutils, "ku-lifecycle") else {
        return;
    };
    let first = ks.init().unwrap().primary;
    assert!(matches!(
        ks.init().unwrap_err(),
        KeystoreError::AlreadyInitialized { .. }
    ));
    let second = ks.rotate().unwrap();
    ks.disable(first).unwrap();
    assert!(
        matches!(ks.destroy(first).unwrap_err(), KeystoreError::RecentlyPrimary { id, .. } if id == first)
    );
    ks.destroy_forced(first).unwrap();
    assert!(keyctl_lookup(ks.service(), &format!("key-{first}")).is_none());
    let status = ks.status().unwrap();
    assert_eq!(status.backend, Backend::Keyutils);
    assert_eq!(status.primary, second);
    assert_eq!(
        status.keys.iter().find(|k| k.id == first).unwrap().status,
        KeyStatus::Destroyed
    );
    assert_eq!(status.needs_repair, Vec::<String>::new());
    assert_eq!(ks.load().unwrap().primary_id(), second);
    ks.delete().unwrap();
    ks.load().unwrap(); // load creates a new keyset on first use again
    ks.delete().unwrap();
}

#[test]
fn a_key_invalidated_in_the_kernel_keyring_makes_only_its_envelopes_unknown() {
    let Some((ks, _locks)) = open_or_skip(Backend::Keyutils, "ku-missing") else {
        return;
    };
    let old = ks.load().unwrap();
    let env = old.seal(b"old", b"").unwrap();
    ks.rotate().unwrap();
    let serial = keyctl_serial(ks.service(), &format!("key-{}", old.primary_id())).unwrap();
    output(Command::new("keyctl").args(["invalidate", &serial])).unwrap();
    let keyset = ks.load().unwrap();
    assert_eq!(
        keyset.open(&env, b"").unwrap_err(),
        CryptoError::UnknownKey(old.primary_id())
    );
    let new_env = keyset.seal(b"new", b"").unwrap();
    assert_eq!(
        ks.load().unwrap().open(&new_env, b"").unwrap().as_slice(),
        b"new"
    );
    let status = ks.status().unwrap();
    assert_eq!(status.needs_repair.len(), 1, "{:?}", status.needs_repair);
    assert!(status.needs_repair[0].contains("its entry is missing"));
    ks.delete().unwrap();
}

#[test]
fn a_key_left_only_in_the_persistent_keyring_is_found_and_deleted() {
    let Some((ks, _locks)) = open_or_skip(Backend::Keyutils, "ku-persistent") else {
        return;
    };
    let keyset = ks.load().unwrap();
    let env = keyset.seal(b"x", b"").unwrap();
    let user = format!("key-{}", keyset.primary_id());
    let serial = keyctl_serial(ks.service(), &user).unwrap();
    // As after the session that made it ended: the key hangs on the persistent keyring only.
    let Some(persistent) = output(Command::new("keyctl").args(["get_persistent", "@s"])) else {
        eprintln!("SKIPPED ku-persistent: this kernel has no persistent keyrings");
        ks.delete().unwrap();
        return;
    };
    let persistent = String::from_utf8(persistent).unwrap().trim().to_owned();
    output(Command::new("keyctl").args(["link", &serial, &persistent])).unwrap();
    output(Command::new("keyctl").args(["unlink", &serial, "@s"])).unwrap();
    let direct = output(Command::new("keyctl").args(["rdescribe", "@s"])).unwrap();
    assert!(!String::from_utf8(direct).unwrap().is_empty());
    assert_eq!(ks.load().unwrap().open(&env, b"").unwrap().as_slice(), b"x");
    assert_eq!(ks.delete().unwrap(), 3);
    let left = output(Command::new("keyctl").args(["describe", &serial]));
    assert!(left.is_none(), "the persistent-only key was not deleted");
}

/// The persistent keyring's serial, if this kernel has persistent keyrings.
fn persistent_keyring() -> Option<String> {
    let out = output(Command::new("keyctl").args(["get_persistent", "@s"]))?;
    Some(String::from_utf8(out).unwrap().trim().to_owned())
}

/// Adds a `user` key for (`service`, `user`) to `keyring` with `keyctl padd`, as another
/// program would.
fn keyctl_add(keyring: &str, service: &str, user: &str, data: &[u8]) {
    use std::io::Write as _;
    let desc = format!("{}{user}@{service}", secllama_keystore::KEYUTILS_PREFIX);
    let mut child = Command::new("keyctl")
        .args(["padd", "user", &desc, keyring])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "keyctl padd {desc}");
}

/// Replaces a key's payload with `keyctl pupdate`, as another program would.
fn keyctl_update(serial: &str, data: &[u8]) {
    use std::io::Write as _;
    let mut child = Command::new("keyctl")
        .args(["pupdate", serial])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    assert!(child.wait().unwrap().success(), "keyctl pupdate {serial}");
}

#[test]
fn missing_corrupt_and_duplicated_entries_of_each_kind_are_repaired_or_reported_on_the_kernel_keyring()
 {
    let Some((ks, _locks)) = open_or_skip(Backend::Keyutils, "ku-damage") else {
        return;
    };
    let first = ks.load().unwrap();
    let env = first.seal(b"kept", b"").unwrap();
    let second = ks.rotate().unwrap();
    let svc = ks.service().to_owned();
    let key_user = format!("key-{}", first.primary_id());
    let serial = |user: &str| keyctl_serial(&svc, user).unwrap_or_else(|| panic!("no {user}"));
    let check = |what: &str| {
        let keyset = ks.load().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            keyset.open(&env, b"").unwrap().as_slice(),
            b"kept",
            "{what}"
        );
        let before = ks.status().unwrap().needs_repair;
        assert!(!before.is_empty(), "{what}: no warning");
        let report = ks.repair().unwrap();
        assert!(!report.done.is_empty(), "{what}: {report:?}");
        assert_eq!(
            ks.status().unwrap().needs_repair,
            Vec::<String>::new(),
            "{what}"
        );
        assert_eq!(ks.load().unwrap().primary_id(), second, "{what}");
        before
    };
    let persistent = persistent_keyring();
    for user in ["index", "primary"] {
        // Missing: invalidated from outside.
        output(Command::new("keyctl").args(["invalidate", &serial(user)])).unwrap();
        let warned = check(&format!("missing {user}"));
        let want = if user == "index" {
            "the index is missing"
        } else {
            "the primary record is missing"
        };
        assert!(warned.contains(&want.to_owned()), "{warned:?}");
        // Corrupt: its payload replaced.
        let good = keyctl_lookup(&svc, user).unwrap();
        keyctl_update(&serial(user), b"{\"format\":2,");
        let warned = check(&format!("corrupt {user}"));
        assert!(
            warned
                .iter()
                .any(|l| l.starts_with(&format!("entry {user:?} is corrupt"))),
            "{warned:?}"
        );
        // Duplicated: a second key with the same description, on the persistent keyring only
        // (one keyring cannot hold two).
        let Some(persistent) = &persistent else {
            eprintln!("SKIPPED ku-damage duplicates: this kernel has no persistent keyrings");
            continue;
        };
        output(Command::new("keyctl").args(["unlink", &serial(user), persistent])).unwrap();
        keyctl_add(persistent, &svc, user, &good);
        let warned = check(&format!("duplicated {user}"));
        let want = if user == "index" {
            "the index is stored 2 times"
        } else {
            "the primary record is stored 2 times"
        };
        assert!(warned.contains(&want.to_owned()), "{warned:?}");
    }
    if let Some(persistent) = &persistent {
        // A duplicated key entry is merged; its envelopes keep opening.
        let rec = keyctl_lookup(&svc, &key_user).unwrap();
        output(Command::new("keyctl").args(["unlink", &serial(&key_user), persistent])).unwrap();
        keyctl_add(persistent, &svc, &key_user, &rec);
        let warned = check("duplicated key");
        assert!(
            warned.contains(&format!("key {} is stored 2 times", first.primary_id())),
            "{warned:?}"
        );
    }
    // A corrupt key entry: reported, left alone, and only its envelopes fail.
    let third = ks.rotate().unwrap();
    keyctl_update(&serial(&key_user), b"garbage");
    let keyset = ks.load().unwrap();
    assert_eq!(keyset.primary_id(), third);
    assert_eq!(
        keyset.open(&env, b"").unwrap_err(),
        CryptoError::UnknownKey(first.primary_id())
    );
    let report = ks.repair().unwrap();
    assert!(
        report
            .unresolved
            .iter()
            .any(|l| l.starts_with(&format!("entry {key_user:?} is corrupt"))),
        "{report:?}"
    );
    assert_eq!(keyctl_lookup(&svc, &key_user).unwrap(), b"garbage");
    // Every entry, the corrupt one included: three keys, primary, index.
    assert_eq!(ks.delete().unwrap(), 5);
    assert!(keyctl_lookup(&svc, &key_user).is_none());
}

#[test]
fn delete_removes_every_key_of_the_service_including_orphans_on_the_kernel_keyring() {
    let Some((ks, _locks)) = open_or_skip(Backend::Keyutils, "ku-delete") else {
        return;
    };
    ks.init().unwrap();
    ks.rotate().unwrap();
    // An orphan key entry no index lists, in the format-1 layout, as an old crash could leave.
    keyctl_add(
        "@s",
        ks.service(),
        "key-424242",
        b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    assert!(keyctl_lookup(ks.service(), "key-424242").is_some());
    assert_eq!(
        ks.delete().unwrap(),
        5,
        "two keys, the orphan, primary, index"
    );
    assert!(keyctl_lookup(ks.service(), "key-424242").is_none());
    assert!(matches!(
        ks.status().unwrap_err(),
        KeystoreError::NotInitialized { .. }
    ));
}
