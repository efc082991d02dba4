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
