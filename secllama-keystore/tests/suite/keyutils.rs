//! The real kernel keyring, read back from outside with `keyctl`.

use secllama_crypto::KeyStatus;
use secllama_keystore::{Backend, KeystoreError};

use super::common::{base64, keyctl_lookup, open_or_skip};

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
        assert_eq!(String::from_utf8(stored).unwrap(), want);
    }
    assert!(keyctl_lookup(ks.service(), "index").is_some());
    assert_eq!(ks.delete().unwrap(), 3);
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
    ks.destroy(first).unwrap();
    assert!(keyctl_lookup(ks.service(), &format!("key-{first}")).is_none());
    let status = ks.status().unwrap();
    assert_eq!(status.backend, Backend::Keyutils);
    assert_eq!(status.primary, second);
    assert_eq!(status.keys[0].status, KeyStatus::Destroyed);
    assert_eq!(ks.load().unwrap().primary_id(), second);
    ks.delete().unwrap();
    assert!(matches!(
        ks.load().map(|_| ()),
        Ok(()) // load creates a new keyset on first use again
    ));
    ks.delete().unwrap();
}

#[test]
fn a_key_invalidated_in_the_kernel_keyring_is_reported_missing() {
    let Some((ks, _locks)) = open_or_skip(Backend::Keyutils, "ku-missing") else {
        return;
    };
    let id = ks.load().unwrap().primary_id();
    let desc = format!(
        "{}key-{id}@{}",
        secllama_keystore::KEYUTILS_PREFIX,
        ks.service()
    );
    let serial = super::common::output(
        std::process::Command::new("keyctl").args(["search", "@s", "user", &desc]),
    )
    .unwrap();
    let serial = String::from_utf8(serial).unwrap();
    super::common::output(std::process::Command::new("keyctl").args(["invalidate", serial.trim()]))
        .unwrap();
    let err = ks.load().unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Corrupt { what } if what.contains("missing from the keyutils keychain")),
        "{err}"
    );
    ks.delete().unwrap();
}
