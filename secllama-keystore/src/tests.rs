//! Unit tests on keyring-core's mock store, including injected backend failures.

use std::sync::{Arc, Mutex};

use keyring_core::{CredentialStore, Error as KrError, mock};
use secllama_crypto::{CryptoError, KeyStatus};

use crate::index::{KEY_ENTRY_LEN, MAX_KEYS};
use crate::{Backend, InitOutcome, Keystore, KeystoreConfig, KeystoreError};

struct Fixture {
    store: Arc<CredentialStore>,
    _locks: tempfile::TempDir,
    lock_dir: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let locks = tempfile::tempdir().unwrap();
        Fixture {
            store: mock::Store::new().unwrap(),
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
            Backend::SecretService,
            self.store.clone(),
        )
        .unwrap()
    }

    fn secret(&self, service: &str, user: &str) -> Result<Vec<u8>, KrError> {
        self.store.build(service, user, None).unwrap().get_secret()
    }

    fn set_secret(&self, service: &str, user: &str, secret: &[u8]) {
        self.store
            .build(service, user, None)
            .unwrap()
            .set_secret(secret)
            .unwrap();
    }

    /// Makes the next call on entry `user` fail with `err`.
    fn inject(&self, service: &str, user: &str, err: KrError) {
        let entry = self.store.build(service, user, None).unwrap();
        let cred: &mock::Cred = entry.as_any().downcast_ref().unwrap();
        cred.set_error(err);
    }
}

fn platform(msg: &str) -> KrError {
    KrError::PlatformFailure(msg.to_owned().into())
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
    assert_eq!(ks.status().unwrap().keys.len(), 1);
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
    let other = f.keystore("other");
    assert_eq!(other.init_or_reuse().unwrap(), InitOutcome::Created);
}

#[test]
fn each_key_is_its_own_base64_entry_and_the_index_lists_them_all() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    ks.init().unwrap();
    let second = ks.rotate().unwrap();
    let keyset = ks.load().unwrap();
    for info in keyset.keys() {
        let stored = f.secret("app", &format!("key-{}", info.id)).unwrap();
        assert_eq!(stored.len(), KEY_ENTRY_LEN);
        let decoded = crate::index::decode_key(&stored).unwrap();
        assert_eq!(
            decoded.expose_secret(),
            keyset.key(info.id).unwrap().expose_secret()
        );
    }
    let index = String::from_utf8(f.secret("app", "index").unwrap()).unwrap();
    assert!(index.starts_with(&format!(r#"{{"format":1,"primary":{second},"keys":[["#)));
    assert!(index.len() < 2560);
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
    assert!(matches!(
        ks.disable(primary).unwrap_err(),
        KeystoreError::Crypto(CryptoError::PrimaryKey(id)) if id == primary
    ));
    assert!(matches!(
        ks.destroy(primary).unwrap_err(),
        KeystoreError::Crypto(CryptoError::PrimaryKey(id)) if id == primary
    ));
    assert!(matches!(
        ks.disable(12345).unwrap_err(),
        KeystoreError::Crypto(CryptoError::UnknownKey(12345))
    ));
}

#[test]
fn destroying_a_key_deletes_its_entry_and_leaves_a_tombstone() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let old = ks.load().unwrap();
    let old_id = old.primary_id();
    let env = old.seal(b"x", b"").unwrap();
    ks.rotate().unwrap();
    ks.destroy(old_id).unwrap();
    assert!(matches!(
        f.secret("app", &format!("key-{old_id}")),
        Err(KrError::NoEntry)
    ));
    let status = ks.status().unwrap();
    let tomb = status.keys.iter().find(|k| k.id == old_id).unwrap();
    assert_eq!(tomb.status, KeyStatus::Destroyed);
    let err = ks.load().unwrap().open(&env, b"").unwrap_err();
    assert!(matches!(err, CryptoError::KeyDestroyed(id) if id == old_id));
    ks.purge(old_id).unwrap();
    let err = ks.load().unwrap().open(&env, b"").unwrap_err();
    assert!(matches!(err, CryptoError::UnknownKey(id) if id == old_id));
}

#[test]
fn a_key_the_index_names_but_the_keychain_lacks_is_reported_as_missing() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let id = ks.load().unwrap().primary_id();
    f.store
        .build("app", &format!("key-{id}"), None)
        .unwrap()
        .delete_credential()
        .unwrap();
    let err = ks.load().unwrap_err();
    let KeystoreError::Corrupt { what } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        what,
        &format!(
            "key {id} is named by the index of service \"app\" but missing from the \
             secret-service keychain"
        )
    );
    assert!(matches!(
        ks.rotate().unwrap_err(),
        KeystoreError::Corrupt { .. }
    ));
}

#[test]
fn a_corrupt_index_or_key_entry_is_reported_and_delete_still_cleans_up() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let id = ks.load().unwrap().primary_id();

    f.set_secret(
        "app",
        &format!("key-{id}"),
        b"not base64 at all, and not 44 bytes",
    );
    let err = ks.load().unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Corrupt { what } if what.contains(&format!("the entry of key {id}"))),
        "{err}"
    );
    assert!(!err.to_string().contains("not base64 at all"));

    f.set_secret("app", "index", b"{\"format\":1,");
    let err = ks.status().unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Corrupt { what } if what.starts_with("the index entry of service \"app\"")),
        "{err}"
    );
    assert!(matches!(
        ks.load().unwrap_err(),
        KeystoreError::Corrupt { .. }
    ));

    // The index is unreadable, so delete finds the key entry by searching.
    assert_eq!(ks.delete().unwrap(), 2);
    assert!(matches!(f.secret("app", "index"), Err(KrError::NoEntry)));
    assert!(matches!(
        f.secret("app", &format!("key-{id}")),
        Err(KrError::NoEntry)
    ));
}

#[test]
fn a_refused_read_is_reported_as_locked() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    ks.init().unwrap();
    f.inject(
        "app",
        "index",
        KrError::NoStorageAccess("collection is locked".to_owned().into()),
    );
    let err = ks.load().unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Locked { backend: Backend::SecretService, detail, .. } if detail == "collection is locked"),
        "{err:?}"
    );
    assert!(err.to_string().contains("unlock the login keyring"));
    // The failure was one-shot; the keystore works again.
    ks.load().unwrap();
}

#[test]
fn a_failed_index_read_stops_a_rotation_before_it_writes_anything() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let old = ks.load().unwrap();
    f.inject("app", "index", platform("disk full"));
    let err = ks.rotate().unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Backend { backend: Backend::SecretService, detail } if detail.contains("disk full")),
        "{err:?}"
    );
    let status = ks.status().unwrap();
    assert_eq!(status.keys.len(), 1);
    assert_eq!(status.primary, old.primary_id());
}

/// The index write fails once, after the reads succeeded: the rotation has stored its new key
/// entry but cannot commit the index.
#[test]
fn a_failed_index_write_during_rotation_keeps_the_old_keyset_and_delete_removes_the_orphan() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let old = ks.load().unwrap();
    let failing = Arc::new(FailIndexWrite {
        inner: f.store.clone(),
        index_builds: Mutex::new(0),
    });
    let ks2 = Keystore::open_with_store(
        KeystoreConfig::new("app").unwrap().lock_dir(&f.lock_dir),
        Backend::SecretService,
        failing,
    )
    .unwrap();
    let err = ks2.rotate().unwrap_err();
    assert!(
        matches!(&err, KeystoreError::Backend { detail, .. } if detail.contains("index write refused"))
    );
    let after = ks.load().unwrap();
    assert_eq!(after.primary_id(), old.primary_id());
    assert_eq!(after.keys().len(), 1);
    let orphans = f
        .store
        .search(&std::collections::HashMap::from([("service", "app")]))
        .unwrap()
        .into_iter()
        .filter(|e| e.get_secret().is_ok())
        .count();
    assert_eq!(orphans, 3, "index, the old key and the orphan");
    assert_eq!(ks.delete().unwrap(), 3);
}

struct FailIndexWrite {
    inner: Arc<CredentialStore>,
    index_builds: Mutex<u32>,
}

impl std::fmt::Debug for FailIndexWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FailIndexWrite")
    }
}

impl keyring_core::api::CredentialStoreApi for FailIndexWrite {
    fn vendor(&self) -> String {
        "test".into()
    }
    fn id(&self) -> String {
        "test".into()
    }
    fn build(
        &self,
        service: &str,
        user: &str,
        mods: Option<&std::collections::HashMap<&str, &str>>,
    ) -> keyring_core::Result<keyring_core::Entry> {
        let entry = self.inner.build(service, user, mods)?;
        if user == "index" {
            let mut n = self.index_builds.lock().unwrap();
            *n += 1;
            // The first index entry built is read, the second written: fail the write.
            if *n == 2 {
                let cred: &mock::Cred = entry.as_any().downcast_ref().unwrap();
                cred.set_error(platform("index write refused"));
            }
        }
        Ok(entry)
    }
    fn search(
        &self,
        spec: &std::collections::HashMap<&str, &str>,
    ) -> keyring_core::Result<Vec<keyring_core::Entry>> {
        self.inner.search(spec)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[test]
fn delete_removes_every_entry_of_the_service_and_only_that_service() {
    let f = Fixture::new();
    let a = f.keystore("a");
    let b = f.keystore("b");
    a.load().unwrap();
    a.rotate().unwrap();
    let b_keys = b.load().unwrap();
    assert_eq!(a.delete().unwrap(), 3);
    assert!(matches!(
        a.status().unwrap_err(),
        KeystoreError::NotInitialized { .. }
    ));
    assert!(matches!(
        a.delete().unwrap_err(),
        KeystoreError::NotInitialized { .. }
    ));
    assert_eq!(b.load().unwrap().primary_id(), b_keys.primary_id());
}

#[test]
fn the_index_holds_at_most_max_keys_and_purging_a_tombstone_frees_room() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let first = ks.load().unwrap().primary_id();
    for _ in 1..MAX_KEYS {
        ks.rotate().unwrap();
    }
    assert_eq!(ks.status().unwrap().keys.len(), MAX_KEYS);
    let err = ks.rotate().unwrap_err();
    assert!(
        matches!(err, KeystoreError::TooManyKeys { max: 40, .. }),
        "{err:?}"
    );
    assert_eq!(ks.status().unwrap().keys.len(), MAX_KEYS);
    ks.destroy(first).unwrap();
    ks.purge(first).unwrap();
    ks.rotate().unwrap();
    assert_eq!(ks.status().unwrap().keys.len(), MAX_KEYS);
}

#[test]
fn status_and_errors_never_show_key_bytes() {
    let f = Fixture::new();
    let ks = f.keystore("app");
    let keyset = ks.load().unwrap();
    let id = keyset.primary_id();
    let b64 = String::from_utf8(f.secret("app", &format!("key-{id}")).unwrap()).unwrap();
    let status = ks.status().unwrap();
    let shown = format!("{status:?} {ks:?} {keyset:?}");
    assert!(!shown.contains(&b64), "{shown}");
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
    let ks = f.keystore("app");
    let mut secrets = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        ks.init().unwrap();
        let first = ks.status().unwrap().primary;
        secrets.push(f.secret("app", &format!("key-{first}")).unwrap());
        let second = ks.rotate().unwrap();
        secrets.push(f.secret("app", &format!("key-{second}")).unwrap());
        ks.disable(first).unwrap();
        ks.destroy(first).unwrap();
        ks.delete().unwrap();
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    for event in [
        "keystore.initialized",
        "key.rotated",
        "key.disabled",
        "key.destroyed",
        "keystore.deleted",
    ] {
        assert!(log.contains(event), "{event} missing from:\n{log}");
    }
    assert!(log.contains("secllama::audit"));
    for s in secrets {
        assert!(!log.contains(std::str::from_utf8(&s).unwrap()));
    }
}

#[test]
fn threads_rotating_one_service_through_separate_keystores_lose_no_key() {
    let f = Fixture::new();
    f.keystore("app").init().unwrap();
    let ids: Vec<u32> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let ks = f.keystore("app");
                s.spawn(move || (0..5).map(|_| ks.rotate().unwrap()).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let keyset = f.keystore("app").load().unwrap();
    assert_eq!(keyset.keys().len(), 21);
    for id in ids {
        assert!(keyset.key(id).is_some(), "key {id} lost");
    }
}
