//! The real Secret Service (gnome-keyring), read back and tampered with from outside with
//! `secret-tool`.

use std::process::Command;

use secllama_crypto::{CryptoError, KeyStatus};
use secllama_keystore::{Backend, KeystoreError};

use super::common::{
    base64, key_in_record, open_or_skip, output, secret_tool_lookup, secret_tool_store,
};

fn clear(service: &str, user: &str) {
    output(Command::new("secret-tool").args(["clear", "service", service, "username", user]))
        .expect("secret-tool clear");
}

fn items(service: &str) -> usize {
    let out = output(Command::new("secret-tool").args(["search", "--all", "service", service]))
        .unwrap_or_default();
    String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| l.starts_with('['))
        .count()
}

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
        assert_eq!(
            key_in_record(&stored),
            base64(keyset.key(info.id).unwrap().expose_secret())
        );
    }
    let primary = String::from_utf8(secret_tool_lookup(ks.service(), "primary").unwrap()).unwrap();
    assert!(
        primary.contains(&format!(r#""primary":{}"#, keyset.primary_id())),
        "{primary}"
    );
    assert_eq!(items(ks.service()), 4);
    assert_eq!(ks.delete().unwrap(), 4);
    assert_eq!(items(ks.service()), 0);
}

#[test]
fn a_key_removed_behind_our_back_makes_only_its_envelopes_unknown() {
    let Some((ks, _locks)) = open_or_skip(Backend::SecretService, "ss-missing") else {
        return;
    };
    let old = ks.load().unwrap();
    let env = old.seal(b"old", b"").unwrap();
    ks.rotate().unwrap();
    let mid = ks.load().unwrap();
    let mid_env = mid.seal(b"mid", b"").unwrap();
    ks.rotate().unwrap();
    clear(ks.service(), &format!("key-{}", old.primary_id()));
    let keyset = ks.load().unwrap();
    assert_eq!(
        keyset.open(&env, b"").unwrap_err(),
        CryptoError::UnknownKey(old.primary_id())
    );
    assert_eq!(keyset.open(&mid_env, b"").unwrap().as_slice(), b"mid");
    let env3 = keyset.seal(b"new", b"").unwrap();
    ks.rotate().unwrap();
    assert_eq!(
        ks.load().unwrap().open(&env3, b"").unwrap().as_slice(),
        b"new"
    );
    assert!(
        ks.status()
            .unwrap()
            .needs_repair
            .iter()
            .any(|l| l.contains("its entry is missing"))
    );
    ks.delete().unwrap();
}

#[test]
fn missing_corrupt_and_duplicated_entries_of_each_kind_are_repaired_or_reported() {
    let Some((ks, _locks)) = open_or_skip(Backend::SecretService, "ss-damage") else {
        return;
    };
    let first = ks.load().unwrap();
    let env = first.seal(b"kept", b"").unwrap();
    let second = ks.rotate().unwrap();
    let svc = ks.service().to_owned();
    let key_user = format!("key-{}", first.primary_id());
    let check = |what: &str| {
        let keyset = ks.load().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            keyset.open(&env, b"").unwrap().as_slice(),
            b"kept",
            "{what}"
        );
        assert!(
            !ks.status().unwrap().needs_repair.is_empty(),
            "{what}: no warning"
        );
        let report = ks.repair().unwrap();
        assert!(!report.done.is_empty(), "{what}: {report:?}");
        assert_eq!(
            ks.status().unwrap().needs_repair,
            Vec::<String>::new(),
            "{what}"
        );
        assert_eq!(ks.load().unwrap().primary_id(), second, "{what}");
        assert_eq!(items(&svc), 4, "{what}: one item per record after repair");
    };
    for user in ["index", "primary"] {
        let good = secret_tool_lookup(&svc, user).unwrap();
        clear(&svc, user);
        check(&format!("missing {user}"));
        secret_tool_store(&svc, user, b"{\"format\":2,");
        let report_before = ks.status().unwrap().needs_repair;
        assert!(
            report_before
                .iter()
                .any(|l| l.starts_with(&format!("entry {user:?} is corrupt"))),
            "{report_before:?}"
        );
        clear(&svc, user);
        secret_tool_store(&svc, user, b"{\"format\":2,");
        ks.repair().unwrap();
        assert_eq!(
            ks.status().unwrap().needs_repair,
            Vec::<String>::new(),
            "corrupt {user}"
        );
        assert_eq!(items(&svc), 4);
        // A duplicate: a second item with the same service and user.
        secret_tool_store(&svc, user, &good);
        check(&format!("duplicated {user}"));
    }
    // A duplicated key entry is merged; its envelopes keep opening.
    let rec = secret_tool_lookup(&svc, &key_user).unwrap();
    secret_tool_store(&svc, &key_user, &rec);
    assert_eq!(items(&svc), 5);
    check("duplicated key");
    // A corrupt key entry: reported, left alone, and only its envelopes fail.
    let third = ks.rotate().unwrap();
    clear(&svc, &key_user);
    secret_tool_store(&svc, &key_user, b"garbage");
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
    assert_eq!(secret_tool_lookup(&svc, &key_user).unwrap(), b"garbage");
    ks.delete().unwrap();
    assert_eq!(items(&svc), 0);
}

#[test]
fn delete_removes_every_item_of_the_service_including_orphans() {
    let Some((ks, _locks)) = open_or_skip(Backend::SecretService, "ss-delete") else {
        return;
    };
    ks.init().unwrap();
    ks.rotate().unwrap();
    // An orphan key entry in the format-1 layout, as an old crash could leave.
    secret_tool_store(
        ks.service(),
        "key-424242",
        b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    assert!(secret_tool_lookup(ks.service(), "key-424242").is_some());
    assert_eq!(ks.delete().unwrap(), 5);
    assert_eq!(items(ks.service()), 0);
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
    ks.destroy_forced(first.primary_id()).unwrap();
    assert!(secret_tool_lookup(ks.service(), &format!("key-{}", first.primary_id())).is_none());
    let status = ks.status().unwrap();
    assert_eq!(status.backend, Backend::SecretService);
    assert_eq!(status.primary, second);
    let mut keys: Vec<_> = status.keys.iter().map(|k| (k.id, k.status)).collect();
    keys.sort_unstable_by_key(|k| k.0);
    let mut want = vec![
        (first.primary_id(), KeyStatus::Destroyed),
        (second, KeyStatus::Enabled),
    ];
    want.sort_unstable_by_key(|k| k.0);
    assert_eq!(keys, want);
    assert!(matches!(
        ks.load().unwrap().open(&env, b"chat/1").unwrap_err(),
        CryptoError::KeyDestroyed(_)
    ));
    ks.delete().unwrap();
}
