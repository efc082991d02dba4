//! In-memory stores that list entries the way the macOS Keychain and the Windows Credential
//! Manager stores of keyring-core do, so the keystore's logic is tested against their listing
//! semantics on Linux:
//!
//! - **macOS** (`apple-native-keyring-store`, `keychain`): generic passwords keyed by
//!   (service, account); `search` takes only `service` / `user`, matched exactly.
//! - **Windows** (`windows-native-keyring-store`): generic credentials keyed by the target
//!   name `<user>.<service>`; `search` takes only `pattern`, a regular expression over target
//!   names, so a loose pattern would also match other services whose names end alike; and the
//!   entries it returns split their target name at the **last** dot (its `^(.*)\.(.*)$`), so
//!   `key-7.my.app` reports user `key-7.my` and service `app`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use keyring_core::api::{CredentialApi, CredentialStoreApi};
use keyring_core::{Credential, CredentialStore, Entry, Error, Result};

use super::Fixture;
use crate::{Backend, KeystoreConfig};

type Items = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Os {
    Mac,
    Windows,
}

#[derive(Debug)]
struct FakeStore {
    os: Os,
    items: Items,
}

#[derive(Debug)]
struct FakeCred {
    name: String,
    specifiers: (String, String),
    items: Items,
}

fn name(os: Os, service: &str, user: &str) -> String {
    match os {
        Os::Mac => format!("{service}\u{0}{user}"),
        Os::Windows => format!("{user}.{service}"),
    }
}

/// The (service, user) a searched entry reports, as the real store derives it from the name.
fn specifiers(os: Os, name: &str) -> (String, String) {
    let (a, b) = match os {
        Os::Mac => name.split_once('\u{0}').unwrap_or((name, "")),
        Os::Windows => {
            // Greedy, like the store's `^(.*)\.(.*)$`.
            let (user, service) = name.rsplit_once('.').unwrap_or((name, ""));
            (service, user)
        }
    };
    (a.to_owned(), b.to_owned())
}

impl CredentialApi for FakeCred {
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        self.items
            .lock()
            .unwrap()
            .insert(self.name.clone(), secret.to_vec());
        Ok(())
    }
    fn get_secret(&self) -> Result<Vec<u8>> {
        self.items
            .lock()
            .unwrap()
            .get(&self.name)
            .cloned()
            .ok_or(Error::NoEntry)
    }
    fn delete_credential(&self) -> Result<()> {
        self.items
            .lock()
            .unwrap()
            .remove(&self.name)
            .map(drop)
            .ok_or(Error::NoEntry)
    }
    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        Ok(None)
    }
    fn get_specifiers(&self) -> Option<(String, String)> {
        Some(self.specifiers.clone())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl CredentialStoreApi for FakeStore {
    fn vendor(&self) -> String {
        format!("fake {:?} store", self.os)
    }
    fn id(&self) -> String {
        self.vendor()
    }
    fn build(
        &self,
        service: &str,
        user: &str,
        _mods: Option<&HashMap<&str, &str>>,
    ) -> Result<Entry> {
        // A built entry knows its specifiers exactly (the store keeps the ones it was given).
        Ok(self.entry(
            name(self.os, service, user),
            (service.to_owned(), user.to_owned()),
        ))
    }
    fn search(&self, spec: &HashMap<&str, &str>) -> Result<Vec<Entry>> {
        let names: Vec<String> = self.items.lock().unwrap().keys().cloned().collect();
        let keep: Box<dyn Fn(&str) -> bool> = match self.os {
            Os::Mac => {
                if let Some(k) = spec.keys().find(|k| !matches!(**k, "service" | "user")) {
                    return Err(Error::Invalid((*k).to_owned(), "not a search key".into()));
                }
                let service = spec.get("service").map(|s| (*s).to_owned());
                let user = spec.get("user").map(|s| (*s).to_owned());
                Box::new(move |n| {
                    let (s, u) = specifiers(Os::Mac, n);
                    service.as_ref().is_none_or(|x| *x == s)
                        && user.as_ref().is_none_or(|x| *x == u)
                })
            }
            Os::Windows => {
                if let Some(k) = spec.keys().find(|k| **k != "pattern") {
                    return Err(Error::Invalid((*k).to_owned(), "not a search key".into()));
                }
                let re = regex::Regex::new(spec.get("pattern").unwrap_or(&""))
                    .map_err(|e| Error::Invalid("pattern".into(), e.to_string()))?;
                Box::new(move |n| re.is_match(n))
            }
        };
        Ok(names
            .into_iter()
            .filter(|n| keep(n))
            .map(|n| {
                let spec = specifiers(self.os, &n);
                self.entry(n, spec)
            })
            .collect())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl FakeStore {
    fn entry(&self, name: String, specifiers: (String, String)) -> Entry {
        Entry::new_with_credential(Arc::new(FakeCred {
            specifiers,
            name,
            items: self.items.clone(),
        }))
    }
}

fn fixture(os: Os) -> (Fixture, Items) {
    let items = Items::default();
    let store: Arc<CredentialStore> = Arc::new(FakeStore {
        os,
        items: items.clone(),
    });
    let backend = match os {
        Os::Mac => Backend::Keychain,
        Os::Windows => Backend::CredentialManager,
    };
    (Fixture::with(store, backend), items)
}

fn lifecycle(os: Os, neighbour: &str) {
    let (f, items) = fixture(os);
    let ks = f.keystore_with(
        KeystoreConfig::new("my.app")
            .unwrap()
            .grace_period(std::time::Duration::ZERO),
    );
    let other = f.keystore(neighbour);
    let other_first = other.load().unwrap().primary_id();
    let a = ks.load().unwrap();
    let env = a.seal(b"x", b"").unwrap();
    let b = ks.rotate().unwrap();
    let c = ks.rotate().unwrap();
    ks.destroy(b).unwrap();
    let status = ks.status().unwrap();
    assert_eq!(status.primary, c, "{os:?}");
    assert_eq!(status.needs_repair, Vec::<String>::new(), "{os:?}");
    let mut keys = status
        .keys
        .iter()
        .map(|k| (k.id, k.status))
        .collect::<Vec<_>>();
    keys.sort_unstable_by_key(|k| k.0);
    let mut want = vec![
        (a.primary_id(), secllama_crypto::KeyStatus::Enabled),
        (b, secllama_crypto::KeyStatus::Destroyed),
        (c, secllama_crypto::KeyStatus::Enabled),
    ];
    want.sort_unstable_by_key(|k| k.0);
    assert_eq!(keys, want, "{os:?}");
    assert_eq!(ks.load().unwrap().open(&env, b"").unwrap().as_slice(), b"x");
    // An orphan key and a missing index are found by listing.
    let index_name = name(os, "my.app", "index");
    items.lock().unwrap().remove(&index_name);
    assert_eq!(
        ks.load().unwrap().keys().len(),
        2,
        "{os:?}: the tombstone went with the index"
    );
    ks.repair().unwrap();
    assert_eq!(
        ks.status().unwrap().needs_repair,
        Vec::<String>::new(),
        "{os:?}"
    );
    // Entries another tool left: a corrupt key entry and a format-1 key (bare base64) are
    // attributed to this service from what the listing reports, whatever dots it has.
    {
        let mut items = items.lock().unwrap();
        items.insert(name(os, "my.app", "key-4242"), b"garbage".to_vec());
        items.insert(
            name(os, "my.app", "key-4343"),
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_vec(),
        );
    }
    let needs = ks.status().unwrap().needs_repair;
    assert!(
        needs
            .iter()
            .any(|l| l.starts_with("entry \"key-4242\" is corrupt: ")),
        "{os:?}: {needs:?}"
    );
    assert!(
        needs.contains(&"key 4343 is in the format-1 layout".to_owned()),
        "{os:?}: {needs:?}"
    );
    assert!(ks.load().unwrap().key(4343).is_some(), "{os:?}");
    // The neighbour is neither listed nor touched.
    assert_eq!(
        ks.delete().unwrap(),
        6,
        "{os:?}: two keys, primary, index, the corrupt and the format-1 entry"
    );
    assert!(
        items.lock().unwrap().keys().all(|n| match os {
            Os::Mac => n.starts_with(&format!("{neighbour}\u{0}")),
            Os::Windows => n.ends_with(&format!(".{neighbour}")),
        }),
        "{os:?}"
    );
    assert_eq!(other.load().unwrap().primary_id(), other_first, "{os:?}");
    assert_eq!(
        other.status().unwrap().needs_repair,
        Vec::<String>::new(),
        "{os:?}"
    );
}

#[test]
fn the_keystore_works_on_a_store_that_lists_like_the_macos_keychain() {
    lifecycle(Os::Mac, "my.app2");
}

#[test]
fn the_keystore_works_on_a_store_that_lists_like_the_windows_credential_manager() {
    // `key-1.x.my.app` would match a pattern that does not anchor the service.
    lifecycle(Os::Windows, "x.my.app");
}

#[test]
fn the_windows_pattern_matches_exactly_our_entry_names_of_one_service() {
    let re = regex::Regex::new(&crate::backend::target_pattern("my.app")).unwrap();
    for yes in [
        "index.my.app",
        "primary.my.app",
        "key-1.my.app",
        "key-4294967295.my.app",
    ] {
        assert!(re.is_match(yes), "{yes}");
    }
    for no in [
        "index.x.my.app",
        "key-1.myxapp",
        "key-1.my.app2",
        "other.my.app",
        "key-.my.app",
        "xindex.my.app",
    ] {
        assert!(!re.is_match(no), "{no}");
    }
}
