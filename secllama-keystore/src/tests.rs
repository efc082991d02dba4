//! Unit tests on keyring-core's mock store and on fake stores that list entries the way the
//! macOS Keychain and the Windows Credential Manager do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyring_core::{CredentialStore, Error as KrError, mock};
use secllama_crypto::{CryptoError, KeyStatus, MAX_SEALS_PER_KEY};

use crate::{Backend, InitOutcome, Keystore, KeystoreConfig, KeystoreError};

#[path = "tests_damage.rs"]
mod damage;
#[path = "fake_stores.rs"]
mod fake_stores;

struct Fixture {
    store: Arc<CredentialStore>,
    backend: Backend,
    _locks: tempfile::TempDir,
    lock_dir: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(mock::Store::new().unwrap(), Backend::SecretService)
    }

    fn with(store: Arc<CredentialStore>, backend: Backend) -> Fixture {
        let locks = tempfile::tempdir().unwrap();
        Fixture {
            store,
            backend,
            lock_dir: locks.path().to_owned(),
            _locks: locks,
        }
    }

    fn keystore(&self, service: &str) -> Keystore {
        self.keystore_with(KeystoreConfig::new(service).unwrap())
    }

    fn keystore_with(&self, config: KeystoreConfig) -> Keystore {
        Keystore::open_with_store(
            config.lock_dir(&self.lock_dir),
            self.backend,
            self.store.clone(),
        )
        .unwrap()
    }

    fn secret(&self, service: &str, user: &str) -> Result<Vec<u8>, KrError> {
        self.store.build(service, user, None).unwrap().get_secret()
    }

    fn text(&self, service: &str, user: &str) -> String {
        String::from_utf8(self.secret(service, user).unwrap()).unwrap()
    }

    fn set_secret(&self, service: &str, user: &str, secret: &[u8]) {
        self.store
            .build(service, user, None)
            .unwrap()
            .set_secret(secret)
            .unwrap();
    }

    fn remove(&self, service: &str, user: &str) {
        self.store
            .build(service, user, None)
            .unwrap()
            .delete_credential()
            .unwrap();
    }
}

fn no_grace(f: &Fixture, service: &str) -> Keystore {
    f.keystore_with(
        KeystoreConfig::new(service)
            .unwrap()
            .grace_period(Duration::ZERO),
    )
}

#[test]
fn load_creates_a_keyset_on_first_use_and_returns_the_same_keys_afterwards() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let first = ks.load().unwrap();
    let envelope = first.seal(b"hello", b"aad").unwrap();
    let again = ks.load().unwrap();
    assert_eq!(again.primary_id(), first.primary_id());
    assert_eq!(again.open(&envelope, b"aad").unwrap().as_slice(), b"hello");
    let status = ks.status().unwrap();
    assert_eq!(status.keys.len(), 1);
    assert_eq!(status.needs_repair, Vec::<String>::new());
}

#[test]
fn load_without_creation_reports_not_initialized() {
    let f = Fixture::new();
    let ks = f.keystore_with(KeystoreConfig::new("app").unwrap().create_if_missing(false));
    let err = ks.load().unwrap_err();
    assert!(matches!(err, KeystoreError::NotInitialized { ref service } if service == "app"));
    assert!(err.to_string().contains("secllama key init --service app"));
    assert!(matches!(f.secret("app", "index"), Err(KrError::NoEntry)));
}

#[test]
fn init_refuses_an_initialized_service_unless_asked_to_reuse_it() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let status = ks.init().unwrap();
    assert_eq!(status.keys.len(), 1);
    assert!(status.keys[0].primary);
    assert!(matches!(
        ks.init().unwrap_err(),
        KeystoreError::AlreadyInitialized { .. }
    ));
    assert_eq!(ks.init_or_reuse().unwrap(), InitOutcome::Reused);
    assert_eq!(ks.status().unwrap().primary, status.primary);
    assert_eq!(
        f.keystore("other").init_or_reuse().unwrap(),
        InitOutcome::Created
    );
}

#[test]
fn every_key_is_a_self_describing_record_and_the_primary_and_index_are_records_too() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let first = ks.init().unwrap().primary;
    let second = ks.rotate().unwrap();
    let keyset = ks.load().unwrap();
    for id in [first, second] {
        let text = f.text("app", &format!("key-{id}"));
        let created = keyset.keys().iter().find(|k| k.id == id).unwrap().created;
        let b64 = crate::records::encode_key(keyset.key(id).unwrap());
        assert_eq!(
            text,
            format!(
                r#"{{"format":2,"kind":"key","service":"app","id":{id},"created":{created},"status":"enabled","changed":{created},"seals":0,"key":"{}"}}"#,
                &*b64
            )
        );
    }
    assert!(f.text("app", "primary").starts_with(&format!(
        r#"{{"format":2,"kind":"primary","service":"app","primary":{second},"since":"#
    )));
    let index = f.text("app", "index");
    assert!(
        index.starts_with(r#"{"format":2,"kind":"index","service":"app","keys":[["#),
        "{index}"
    );
    assert!(
        index.contains(&format!("[{first},\"enabled\","))
            && index.contains(&format!("[{second},\"enabled\","))
    );
}

#[test]
fn rotation_makes_a_new_primary_and_old_envelopes_still_open() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let before = ks.load().unwrap();
    let old_env = before.seal(b"old", b"").unwrap();
    let new_id = ks.rotate().unwrap();
    assert_ne!(new_id, before.primary_id());
    let after = ks.load().unwrap();
    assert_eq!(after.primary_id(), new_id);
    assert_eq!(after.open(&old_env, b"").unwrap().as_slice(), b"old");
    let status = ks.status().unwrap();
    assert_eq!(status.primary, new_id);
    assert_eq!(status.keys.len(), 2);
    assert!(status.keys.iter().all(|k| k.status == KeyStatus::Enabled));
}

#[test]
fn a_disabled_key_opens_nothing_until_enabled_again() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let old = ks.load().unwrap();
    let env = old.seal(b"x", b"").unwrap();
    ks.rotate().unwrap();
    ks.disable(old.primary_id()).unwrap();
    let err = ks.load().unwrap().open(&env, b"").unwrap_err();
    assert!(matches!(err, CryptoError::KeyDisabled(id) if id == old.primary_id()));
    ks.enable(old.primary_id()).unwrap();
    assert_eq!(ks.load().unwrap().open(&env, b"").unwrap().as_slice(), b"x");
}

#[test]
fn the_primary_key_can_be_neither_disabled_nor_destroyed() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let primary = ks.load().unwrap().primary_id();
    assert!(matches!(ks.disable(primary).unwrap_err(),
        KeystoreError::Crypto(CryptoError::PrimaryKey(id)) if id == primary));
    assert!(matches!(ks.destroy_forced(primary).unwrap_err(),
        KeystoreError::Crypto(CryptoError::PrimaryKey(id)) if id == primary));
    assert!(matches!(
        ks.disable(12345).unwrap_err(),
        KeystoreError::Crypto(CryptoError::UnknownKey(12345))
    ));
}

#[test]
fn a_key_primary_within_the_grace_period_is_destroyed_only_when_forced() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let old = ks.load().unwrap();
    let old_id = old.primary_id();
    let env = old.seal(b"x", b"").unwrap();
    ks.rotate().unwrap();
    let err = ks.destroy(old_id).unwrap_err();
    let KeystoreError::RecentlyPrimary { id, until } = err else {
        panic!("{err:?}")
    };
    assert_eq!(id, old_id);
    assert!(until >= crate::keystore::now() + 24 * 3600 - 5, "{until}");
    // Nothing changed.
    assert_eq!(ks.load().unwrap().open(&env, b"").unwrap().as_slice(), b"x");
    ks.destroy_forced(old_id).unwrap();
    assert!(matches!(
        f.secret("app", &format!("key-{old_id}")),
        Err(KrError::NoEntry)
    ));
    let status = ks.status().unwrap();
    assert_eq!(
        status.keys.iter().find(|k| k.id == old_id).unwrap().status,
        KeyStatus::Destroyed
    );
    assert_eq!(status.needs_repair, Vec::<String>::new());
    assert_eq!(
        ks.load().unwrap().open(&env, b"").unwrap_err(),
        CryptoError::KeyDestroyed(old_id)
    );
    ks.destroy(old_id).unwrap(); // destroying a destroyed key is a no-op
    ks.purge(old_id).unwrap();
    assert_eq!(
        ks.load().unwrap().open(&env, b"").unwrap_err(),
        CryptoError::UnknownKey(old_id)
    );
}

#[test]
fn after_the_grace_period_a_destroy_needs_no_force() {
    let f = Fixture::new();
    let ks = no_grace(&f, "app");
    let old = ks.load().unwrap().primary_id();
    ks.rotate().unwrap();
    ks.destroy(old).unwrap();
    assert_eq!(
        ks.status()
            .unwrap()
            .keys
            .iter()
            .find(|k| k.id == old)
            .unwrap()
            .status,
        KeyStatus::Destroyed
    );
}

#[test]
fn seals_are_reserved_in_blocks_that_survive_restarts_and_never_overlap() {
    let f = Fixture::new();
    let cfg = || KeystoreConfig::new("app").unwrap().seal_block(3);
    let ks = f.keystore_with(cfg());
    let one = ks.load().unwrap();
    let id = one.primary_id();
    assert!(f.text("app", &format!("key-{id}")).contains("\"seals\":0"));
    one.seal(b"1", b"").unwrap();
    assert!(f.text("app", &format!("key-{id}")).contains("\"seals\":3"));
    let two = f.keystore_with(cfg()).load().unwrap();
    two.seal(b"2", b"").unwrap();
    assert_eq!(one.seal_count(id), Some(1));
    assert_eq!(two.seal_count(id), Some(4));
    drop(two); // a "crash": its two unused seals are wasted, never handed out again
    let three = f.keystore_with(cfg()).load().unwrap();
    three.seal(b"3", b"").unwrap();
    assert_eq!(three.seal_count(id), Some(7));
    assert!(f.text("app", &format!("key-{id}")).contains("\"seals\":9"));
}

#[test]
fn the_seal_limit_holds_across_loads() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let id = ks.load().unwrap().primary_id();
    let user = format!("key-{id}");
    let near = f.text("app", &user).replace(
        "\"seals\":0",
        &format!("\"seals\":{}", MAX_SEALS_PER_KEY - 1),
    );
    f.set_secret("app", &user, near.as_bytes());
    let keyset = ks.load().unwrap();
    keyset.seal(b"last", b"").unwrap();
    assert_eq!(
        keyset.seal(b"one too many", b"").unwrap_err(),
        CryptoError::KeyExhausted(id)
    );
    assert_eq!(
        ks.load().unwrap().seal(b"x", b"").unwrap_err(),
        CryptoError::KeyExhausted(id)
    );
    ks.rotate().unwrap();
    ks.load().unwrap().seal(b"x", b"").unwrap();
}

#[test]
fn a_long_lived_keyset_notices_a_rotation_and_stops_sealing_under_a_destroyed_key() {
    let f = Fixture::new();
    let ks = f.keystore_with(KeystoreConfig::new("app").unwrap().seal_block(1));
    let long_lived = ks.load().unwrap();
    let old = long_lived.primary_id();
    let env = long_lived.seal(b"before", b"").unwrap();
    let new = ks.rotate().unwrap();
    assert_ne!(
        ks.primary().unwrap(),
        long_lived.primary_id(),
        "the documented check"
    );
    ks.destroy_forced(old).unwrap();
    assert_eq!(
        long_lived.seal(b"after", b"").unwrap_err(),
        CryptoError::KeyDestroyed(old)
    );
    let fresh = ks.load().unwrap();
    assert_eq!(fresh.primary_id(), new);
    assert_eq!(
        fresh.open(&env, b"").unwrap_err(),
        CryptoError::KeyDestroyed(old)
    );
    // Disabled elsewhere: the same.
    let keyset = ks.load().unwrap();
    keyset.seal(b"x", b"").unwrap();
    let third = ks.rotate().unwrap();
    ks.disable(new).unwrap();
    assert_eq!(
        keyset.seal(b"y", b"").unwrap_err(),
        CryptoError::KeyDisabled(new)
    );
    assert_eq!(ks.load().unwrap().primary_id(), third);
}

#[test]
fn format_1_data_stays_readable_and_repair_migrates_it() {
    let f = Fixture::new();
    let key = secllama_crypto::Key::from_bytes(&[7; 32]).unwrap();
    let dead = 31_415u32;
    f.set_secret(
        "app",
        "index",
        format!(r#"{{"format":1,"primary":77,"keys":[[{dead},"destroyed",1],[77,"enabled",2]]}}"#)
            .as_bytes(),
    );
    f.set_secret("app", "key-77", crate::records::encode_key(&key).as_bytes());
    let ks = f.keystore("app");
    let keyset = ks.load().unwrap();
    assert_eq!(keyset.primary_id(), 77);
    assert_eq!(keyset.key(77).unwrap().expose_secret(), &[7; 32]);
    let status = ks.status().unwrap();
    let mut keys = status
        .keys
        .iter()
        .map(|k| (k.id, k.status))
        .collect::<Vec<_>>();
    keys.sort_unstable_by_key(|k| k.0);
    assert_eq!(
        keys,
        vec![(77, KeyStatus::Enabled), (dead, KeyStatus::Destroyed)]
    );
    assert!(
        status
            .needs_repair
            .contains(&"key 77 is in the format-1 layout".to_owned())
    );
    assert!(
        status
            .needs_repair
            .contains(&"the index is in the format-1 layout".to_owned())
    );
    // The first seal reserves seals in the key's entry, which migrates the service first.
    let env = keyset.seal(b"v1", b"").unwrap();
    assert_eq!(ks.status().unwrap().needs_repair, Vec::<String>::new());
    assert_eq!(ks.repair().unwrap(), crate::RepairReport::default());
    assert!(f.text("app", "key-77").starts_with(
        r#"{"format":2,"kind":"key","service":"app","id":77,"created":2,"status":"enabled""#
    ));
    assert!(
        f.text("app", "index")
            .contains(&format!("[{dead},\"destroyed\",1]"))
    );
    assert_eq!(
        ks.load().unwrap().open(&env, b"").unwrap().as_slice(),
        b"v1"
    );
}

#[test]
fn delete_removes_every_entry_of_the_service_and_only_that_service() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    ks.init().unwrap();
    ks.rotate().unwrap();
    let other = f.keystore("app2");
    other.init().unwrap();
    f.set_secret("app", "key-5", b"corrupt");
    f.set_secret(
        "app",
        "key-6",
        b"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    );
    assert_eq!(
        ks.delete().unwrap(),
        6,
        "two keys, primary, index, corrupt, format-1 orphan"
    );
    assert!(matches!(
        ks.status().unwrap_err(),
        KeystoreError::NotInitialized { .. }
    ));
    assert_eq!(other.status().unwrap().keys.len(), 1);
    assert!(matches!(
        ks.delete().unwrap_err(),
        KeystoreError::NotInitialized { .. }
    ));
}

#[test]
fn a_refused_read_is_reported_as_locked() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    ks.init().unwrap();
    let entry = f.store.build("app", "index", None).unwrap();
    let cred: &mock::Cred = entry.as_any().downcast_ref().unwrap();
    cred.set_error(KrError::NoStorageAccess(
        std::io::Error::other("keyring is locked").into(),
    ));
    let err = ks.load().unwrap_err();
    assert!(
        matches!(
            &err,
            KeystoreError::Locked {
                backend: Backend::SecretService,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("unlock the login keyring"));
}

#[test]
fn status_and_errors_never_show_key_bytes() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let keyset = ks.load().unwrap();
    let b64 = crate::records::encode_key(keyset.key(keyset.primary_id()).unwrap());
    let shown = format!("{:?} {:?} {:?}", ks.status().unwrap(), ks, keyset);
    assert!(!shown.contains(&*b64), "{shown}");
    assert!(!shown.contains(&b64[..20]));
}

#[test]
fn audit_events_name_each_operation_and_never_the_key() {
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    let buf = Buf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buf.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let f = Fixture::new();
    let ks = no_grace(&f, "app");
    let mut secrets = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        ks.init().unwrap();
        let first = ks.status().unwrap().primary;
        secrets.push(f.text("app", &format!("key-{first}")));
        let second = ks.rotate().unwrap();
        secrets.push(f.text("app", &format!("key-{second}")));
        ks.disable(first).unwrap();
        ks.destroy(first).unwrap();
        f.remove("app", "index");
        ks.repair().unwrap();
        ks.delete().unwrap();
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    for event in [
        "keystore.initialized",
        "key.rotated",
        "key.disabled",
        "key.destroyed",
        "keystore.repaired",
        "keystore.deleted",
    ] {
        assert!(log.contains(event), "{event} missing from:\n{log}");
    }
    for s in secrets {
        let key = s
            .rsplit("\"key\":\"")
            .next()
            .unwrap()
            .trim_end_matches("\"}");
        assert_eq!(key.len(), 44);
        assert!(!log.contains(key));
    }
}

#[test]
fn threads_with_separate_locks_rotating_one_service_lose_no_key() {
    let f = Fixture::new();
    f.keystore("app").init().unwrap();
    let ids: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    // Each thread has its own lock directory: nothing serialises them.
                    let own = tempfile::tempdir().unwrap();
                    let ks = Keystore::open_with_store(
                        KeystoreConfig::new("app").unwrap().lock_dir(own.path()),
                        Backend::SecretService,
                        f.store.clone(),
                    )
                    .unwrap();
                    (0..3).map(|_| ks.rotate().unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let keyset = f.keystore("app").load().unwrap();
    assert_eq!(keyset.keys().len(), 25);
    for id in ids {
        assert!(keyset.key(id).is_some(), "key {id} lost");
    }
    f.keystore("app").repair().unwrap();
    assert_eq!(
        f.keystore("app").status().unwrap().needs_repair,
        Vec::<String>::new()
    );
}
