//! The real Secret Service (gnome-keyring), read back from outside with `secret-tool`.

use std::process::Command;

use secllama_crypto::{CryptoError, KeyStatus};
use secllama_keystore::{Backend, KeystoreError};

use super::common::{base64, open_or_skip, output, secret_tool_lookup};

#[test]
fn every_key_is_in_the_secret_service_and_secret_tool_reads_the_same_bytes() {
    let Some((ks, _locks)) = open_or_skip(Backend::SecretService, "ss-readback") else {
        return;
    };
    ks.init().unwrap();
    ks.rotate().unwrap();
    let keyset = ks.load().unwrap();
    assert_eq!(keyset.keys().len(), 2);
    for info in keyset.keys() {
        let stored = secret_tool_lookup(ks.service(), &format!("key-{}", info.id))
            .unwrap_or_else(|| panic!("secret-tool finds no item for key {}", info.id));
        let want = base64(keyset.key(info.id).unwrap().expose_secret());
        assert_eq!(String::from_utf8(stored).unwrap().trim_end(), want);
    }
    let index = secret_tool_lookup(ks.service(), "index").unwrap();
    let index = String::from_utf8(index).unwrap();
    assert!(
        index.starts_with(&format!(
            r#"{{"format":1,"primary":{},"keys":[["#,
            keyset.primary_id()
        )),
        "{index}"
    );
    assert_eq!(ks.delete().unwrap(), 3);
}

#[test]
fn a_key_removed_from_the_secret_service_behind_our_back_is_reported_missing() {
    let Some((ks, _locks)) = open_or_skip(Backend::SecretService, "ss-missing") else {
        return;
    };
    let id = ks.load().unwrap().primary_id();
    let user = format!("key-{id}");
    output(Command::new("secret-tool").args(["clear", "service", ks.service(), "username", &user]))
        .expect("secret-tool clear");
    assert!(secret_tool_lookup(ks.service(), &user).is_none());
    let err = ks.load().unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Corrupt { what } if what.contains(&format!("key {id} is named by the index")) && what.contains("missing from the secret-service keychain")),
        "{err}"
    );
    ks.delete().unwrap();
}

#[test]
fn delete_removes_every_item_of_the_service_including_orphans() {
    let Some((ks, _locks)) = open_or_skip(Backend::SecretService, "ss-delete") else {
        return;
    };
    ks.init().unwrap();
    ks.rotate().unwrap();
    // An orphan key entry, as a crash between key write and index write would leave.
    let mut store = Command::new("secret-tool");
    store.args([
        "store",
        "--label=orphan",
        "service",
        ks.service(),
        "username",
        "key-424242",
    ]);
    store.stdin(std::process::Stdio::piped());
    let mut child = store.spawn().unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(secret_tool_lookup(ks.service(), "key-424242").is_some());

    assert_eq!(ks.delete().unwrap(), 4);
    let left =
        output(Command::new("secret-tool").args(["search", "--all", "service", ks.service()]))
            .unwrap_or_default();
    assert!(left.is_empty(), "{}", String::from_utf8_lossy(&left));
    assert!(matches!(
        ks.status().unwrap_err(),
        KeystoreError::NotInitialized { .. }
    ));
}

#[test]
fn the_whole_key_lifecycle_works_on_the_secret_service() {
    let Some((ks, _locks)) = open_or_skip(Backend::SecretService, "ss-lifecycle") else {
        return;
    };
    let first = ks.load().unwrap();
    let env = first.seal(b"stored chat", b"chat/1").unwrap();
    let second = ks.rotate().unwrap();
    ks.disable(first.primary_id()).unwrap();
    assert!(matches!(
        ks.load().unwrap().open(&env, b"chat/1").unwrap_err(),
        CryptoError::KeyDisabled(_)
    ));
    ks.enable(first.primary_id()).unwrap();
    assert_eq!(
        ks.load().unwrap().open(&env, b"chat/1").unwrap().as_slice(),
        b"stored chat"
    );
    ks.destroy(first.primary_id()).unwrap();
    assert!(secret_tool_lookup(ks.service(), &format!("key-{}", first.primary_id())).is_none());
    let status = ks.status().unwrap();
    assert_eq!(status.backend, Backend::SecretService);
    assert_eq!(status.primary, second);
    assert_eq!(
        status
            .keys
            .iter()
            .map(|k| (k.id, k.status))
            .collect::<Vec<_>>(),
        vec![
            (first.primary_id(), KeyStatus::Destroyed),
            (second, KeyStatus::Enabled)
        ]
    );
    assert!(matches!(
        ks.load().unwrap().open(&env, b"chat/1").unwrap_err(),
        CryptoError::KeyDestroyed(_)
    ));
    ks.delete().unwrap();
}
