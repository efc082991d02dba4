//! Damage and repair on the mock store: missing, duplicated and half-destroyed entries.

use super::*;

#[test]
fn a_missing_key_entry_makes_only_its_own_envelopes_unknown() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let a = ks.load().unwrap();
    let env_a = a.seal(b"a", b"").unwrap();
    ks.rotate().unwrap();
    let b = ks.load().unwrap();
    let env_b = b.seal(b"b", b"").unwrap();
    ks.rotate().unwrap();
    f.remove("app", &format!("key-{}", a.primary_id()));

    let keyset = ks.load().unwrap();
    assert_eq!(
        keyset.open(&env_a, b"").unwrap_err(),
        CryptoError::UnknownKey(a.primary_id())
    );
    assert_eq!(keyset.open(&env_b, b"").unwrap().as_slice(), b"b");
    let env_c = keyset.seal(b"c", b"").unwrap();
    assert_eq!(
        ks.load().unwrap().open(&env_c, b"").unwrap().as_slice(),
        b"c"
    );
    let status = ks.status().unwrap();
    assert_eq!(status.needs_repair.len(), 1, "{:?}", status.needs_repair);
    assert!(status.needs_repair[0].starts_with(&format!(
        "key {} is listed in the index but its entry is missing",
        a.primary_id()
    )));
    ks.rotate().unwrap();
    let report = ks.repair().unwrap();
    assert_eq!(report.done, Vec::<String>::new());
    assert_eq!(report.unresolved.len(), 1);
    // Forgetting it clears the warning.
    ks.purge(a.primary_id()).unwrap();
    assert_eq!(ks.status().unwrap().needs_repair, Vec::<String>::new());
}

#[test]
fn a_missing_primary_entry_hands_sealing_to_the_newest_enabled_key() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let a = ks.load().unwrap().primary_id();
    let b = ks.rotate().unwrap();
    f.remove("app", &format!("key-{b}"));
    assert_eq!(ks.load().unwrap().primary_id(), a);
    assert_eq!(ks.primary().unwrap(), a);
    let status = ks.status().unwrap();
    assert!(
        status.needs_repair.contains(&format!(
            "the primary record names key {b}, which is not an enabled key"
        )),
        "{:?}",
        status.needs_repair
    );
    let report = ks.repair().unwrap();
    assert!(
        report
            .done
            .contains(&format!("primary record set to key {a}")),
        "{report:?}"
    );
}

#[test]
fn a_missing_or_duplicated_index_or_primary_record_is_rebuilt_by_repair() {
    for user in ["index", "primary"] {
        let f = Fixture::new();
        let ks = f.keystore("app");
        let a = ks.load().unwrap();
        let env = a.seal(b"x", b"").unwrap();
        let b = ks.rotate().unwrap();
        let good = f.text("app", user);
        f.remove("app", user);
        let keyset = ks.load().unwrap();
        if user == "index" {
            assert_eq!(keyset.primary_id(), b);
        } else {
            // Without the record the newest enabled key seals; two keys made within one
            // second tie, and either is a safe choice.
            assert!([a.primary_id(), b].contains(&keyset.primary_id()));
        }
        assert_eq!(keyset.open(&env, b"").unwrap().as_slice(), b"x");
        assert_eq!(
            ks.status().unwrap().needs_repair,
            vec![format!(
                "the {} is missing",
                if user == "index" {
                    "index"
                } else {
                    "primary record"
                }
            )]
        );
        assert!(!ks.repair().unwrap().done.is_empty());
        assert_eq!(ks.status().unwrap().needs_repair, Vec::<String>::new());
        // A second copy (under another name, as a store with loose names could hold it).
        f.set_secret("app", "key-999", good.as_bytes());
        let status = ks.status().unwrap();
        assert!(
            status
                .needs_repair
                .iter()
                .any(|l| l.ends_with("is stored 2 times")),
            "{:?}",
            status.needs_repair
        );
        ks.repair().unwrap();
        assert_eq!(ks.status().unwrap().needs_repair, Vec::<String>::new());
        assert!(
            matches!(f.secret("app", "key-999"), Err(KrError::NoEntry))
                || f.secret("app", user).is_err()
        );
    }
}

#[test]
fn a_duplicated_key_entry_is_merged_and_one_with_other_material_is_left_alone() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let a = ks.load().unwrap();
    let id = a.primary_id();
    let env = a.seal(b"x", b"").unwrap();
    let b = ks.rotate().unwrap();
    let rec = f.text("app", &format!("key-{id}"));
    f.set_secret("app", "key-77", rec.as_bytes());
    assert!(
        ks.status()
            .unwrap()
            .needs_repair
            .contains(&format!("key {id} is stored 2 times"))
    );
    assert_eq!(ks.load().unwrap().open(&env, b"").unwrap().as_slice(), b"x");
    let report = ks.repair().unwrap();
    assert!(
        report
            .done
            .contains(&format!("merged 2 copies of key {id}")),
        "{report:?}"
    );
    assert_eq!(ks.status().unwrap().needs_repair, Vec::<String>::new());
    assert_eq!(ks.load().unwrap().open(&env, b"").unwrap().as_slice(), b"x");

    // Same id, different key: neither copy is used or deleted.
    let other = rec.replace(
        &*crate::records::encode_key(a.key(id).unwrap()),
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    );
    f.set_secret("app", "key-78", other.as_bytes());
    assert_eq!(
        ks.load().unwrap().open(&env, b"").unwrap_err(),
        CryptoError::UnknownKey(id)
    );
    assert_eq!(ks.load().unwrap().primary_id(), b);
    let report = ks.repair().unwrap();
    assert_eq!(report.unresolved.len(), 1, "{report:?}");
    assert!(f.secret("app", "key-78").is_ok());
}

#[test]
fn an_interrupted_destroy_is_finished_by_the_next_write() {
    let f = Fixture::new();
    let ks = no_grace(&f, "app");
    let a = ks.load().unwrap().primary_id();
    ks.rotate().unwrap();
    let user = format!("key-{a}");
    let marked = f
        .text("app", &user)
        .replace("\"enabled\"", "\"destroying\"");
    f.set_secret("app", &user, marked.as_bytes());
    assert!(ks.status().unwrap().needs_repair.contains(&format!(
        "key {a} was being destroyed: its entry is still there"
    )));
    assert_eq!(
        ks.status()
            .unwrap()
            .keys
            .iter()
            .find(|k| k.id == a)
            .unwrap()
            .status,
        KeyStatus::Destroyed
    );
    ks.rotate().unwrap();
    assert!(matches!(f.secret("app", &user), Err(KrError::NoEntry)));
    assert_eq!(ks.status().unwrap().needs_repair, Vec::<String>::new());
}
