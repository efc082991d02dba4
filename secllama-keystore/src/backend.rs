//! Opening the keyring-core store for a backend, and probing that it really works.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

use crate::config::{Backend, KEYSTORE_ENV};
use crate::error::KeystoreError;

/// The description prefix of keyutils entries: `secllama:<user>@<service>`.
pub const KEYUTILS_PREFIX: &str = "secllama:";

/// A keyring-core store plus what we need to know about it.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) backend: Backend,
    pub(crate) inner: Arc<CredentialStore>,
    /// Whether entries get a `label` modifier (Secret Service items show it in UIs).
    labels: bool,
    /// How the service's entries are listed.
    lister: Lister,
}

/// How a store lists the entries of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lister {
    /// keyring-core `search` with `{"service": <service>}`: exact on the Secret Service and the
    /// macOS Keychain, a substring match on keyring-core's mock store; records of other
    /// services are told apart by the service they name.
    ServiceAttribute,
    /// keyring-core `search` with `{"pattern": <regex over target names>}`: the Windows
    /// Credential Manager, whose targets are `<user>.<service>`.
    TargetPattern,
    /// Our own listing of the kernel keyrings (the keyutils store cannot search).
    Keyutils,
}

impl Lister {
    /// The lister a backend uses.
    pub(crate) fn of(backend: Backend) -> Lister {
        match backend {
            Backend::CredentialManager => Lister::TargetPattern,
            Backend::Keyutils => Lister::Keyutils,
            _ => Lister::ServiceAttribute,
        }
    }
}

/// One entry a listing found; `user` when the listing knows it without asking the store.
pub(crate) struct Found {
    pub(crate) entry: Entry,
    pub(crate) user: Option<String>,
}

/// The Windows target-name pattern matching exactly the entries of `service`.
pub(crate) fn target_pattern(service: &str) -> String {
    let escaped: String = service
        .chars()
        .flat_map(|c| {
            // Service names are `A-Z a-z 0-9 . _ -`: only `.` means something in a regex.
            let esc = (c == '.').then_some('\\');
            esc.into_iter().chain(std::iter::once(c))
        })
        .collect();
    format!("^(?:index|primary|key-[0-9]{{1,10}})\\.{escaped}$")
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Wraps a store built elsewhere (keyring-core's mock store, the fake stores of the tests):
    /// it is listed through keyring-core's `search` the way `backend` is.
    pub(crate) fn custom(backend: Backend, inner: Arc<CredentialStore>) -> Store {
        let lister = match Lister::of(backend) {
            Lister::Keyutils => Lister::ServiceAttribute,
            other => other,
        };
        Store {
            backend,
            inner,
            labels: false,
            lister,
        }
    }

    /// Builds the entry `user` of `service`.
    pub(crate) fn entry(&self, service: &str, user: &str) -> Result<Entry, KeystoreError> {
        let built = if self.labels {
            let label = format!("SecLlama {service} {user}");
            let mods = HashMap::from([("label", label.as_str())]);
            self.inner.build(service, user, Some(&mods))
        } else {
            self.inner.build(service, user, None)
        };
        built.map_err(|e| KeystoreError::from_keyring(self.backend, e))
    }

    /// The user name of a listed entry of `service`, from what the store says about it; `None`
    /// for another service's entry.
    pub(crate) fn user_of(&self, entry: &Entry, service: &str) -> Option<String> {
        let (s, u) = entry.get_specifiers()?;
        match self.lister {
            // The Windows store's search splits a target name `<user>.<service>` at its *last*
            // dot, so the entry `key-7.my.app` comes back as user `key-7.my`, service `app`:
            // join the two again and take our service off the end.
            Lister::TargetPattern => format!("{u}.{s}")
                .strip_suffix(&format!(".{service}"))
                .map(str::to_owned),
            _ => (s == service).then_some(u),
        }
    }

    /// Every entry of `service` the keychain can find (and possibly entries of other services
    /// whose names look alike: their records say so).
    pub(crate) fn list(&self, service: &str) -> Result<Vec<Found>, KeystoreError> {
        let err = |e| KeystoreError::from_keyring(self.backend, e);
        let entries = match self.lister {
            #[cfg(target_os = "linux")]
            Lister::Keyutils => {
                return Ok(crate::keyutils::list(service)
                    .map_err(err)?
                    .into_iter()
                    .map(|(entry, user)| Found {
                        entry,
                        user: Some(user),
                    })
                    .collect());
            }
            #[cfg(not(target_os = "linux"))]
            Lister::Keyutils => Vec::new(),
            Lister::ServiceAttribute => self
                .inner
                .search(&HashMap::from([("service", service)]))
                .map_err(err)?,
            Lister::TargetPattern => {
                let pattern = target_pattern(service);
                self.inner
                    .search(&HashMap::from([("pattern", pattern.as_str())]))
                    .map_err(err)?
            }
        };
        Ok(entries
            .into_iter()
            .map(|entry| Found { entry, user: None })
            .collect())
    }
}

/// Opens `backend`, checking that it can actually be used; the error says what to do.
pub(crate) fn open(backend: Backend) -> Result<Store, KeystoreError> {
    let inner = open_store(backend)?;
    let store = Store {
        backend,
        inner,
        labels: backend == Backend::SecretService,
        lister: Lister::of(backend),
    };
    probe(&store)?;
    Ok(store)
}

/// Reads an entry that does not exist: `NoEntry` means the backend works.
fn probe(store: &Store) -> Result<(), KeystoreError> {
    let entry = store
        .entry("secllama-probe", "probe")
        .map_err(|e| no_backend(store.backend, e.to_string()))?;
    match entry.get_secret() {
        Ok(secret) => {
            drop(zeroize::Zeroizing::new(secret));
            Ok(())
        }
        Err(keyring_core::Error::NoEntry) => Ok(()),
        Err(keyring_core::Error::NoStorageAccess(e)) if store.backend == Backend::Keyutils => {
            Err(no_backend(store.backend, format!("access denied ({e})")))
        }
        Err(e) => Err(KeystoreError::from_keyring(store.backend, e)),
    }
}

/// The `NoBackend` error for `backend` failing with `why`.
pub(crate) fn no_backend(backend: Backend, why: String) -> KeystoreError {
    let hint = match backend {
        Backend::SecretService => format!(
            "no Secret Service on the session bus: start gnome-keyring-daemon (or another \
             Secret Service) in a D-Bus session, or set {KEYSTORE_ENV}=keyutils"
        ),
        Backend::Keyutils => "the kernel keyring refused access: run inside a session keyring \
                              (`keyctl session -`) or a login session"
            .to_owned(),
        Backend::Keychain => "the macOS Keychain is not available to this process".to_owned(),
        Backend::CredentialManager => {
            "the Windows Credential Manager is not available to this process".to_owned()
        }
    };
    KeystoreError::NoBackend {
        tried: vec![format!("{backend}: {why}")],
        hint,
    }
}

#[cfg(target_os = "linux")]
fn open_store(backend: Backend) -> Result<Arc<CredentialStore>, KeystoreError> {
    match backend {
        Backend::SecretService => {
            // Without a session bus libdbus may try to autolaunch one through X11; say plainly
            // what is missing instead.
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|a| a.is_empty()) {
                return Err(no_backend(
                    backend,
                    "DBUS_SESSION_BUS_ADDRESS is not set".to_owned(),
                ));
            }
            let store = dbus_secret_service_keyring_store::Store::new()
                .map_err(|e| no_backend(backend, e.to_string()))?;
            Ok(store)
        }
        Backend::Keyutils => {
            let config = HashMap::from([
                ("prefix", KEYUTILS_PREFIX),
                ("divider", "@"),
                ("suffix", ""),
                ("service_no_divider", "true"),
            ]);
            let store = linux_keyutils_keyring_store::Store::new_with_configuration(&config)
                .map_err(|e| no_backend(backend, e.to_string()))?;
            Ok(store)
        }
        other => Err(unsupported(other)),
    }
}

#[cfg(target_os = "macos")]
fn open_store(backend: Backend) -> Result<Arc<CredentialStore>, KeystoreError> {
    match backend {
        Backend::Keychain => {
            let store = apple_native_keyring_store::keychain::Store::new()
                .map_err(|e| no_backend(backend, e.to_string()))?;
            Ok(store)
        }
        other => Err(unsupported(other)),
    }
}

#[cfg(windows)]
fn open_store(backend: Backend) -> Result<Arc<CredentialStore>, KeystoreError> {
    match backend {
        Backend::CredentialManager => {
            let store = windows_native_keyring_store::Store::new()
                .map_err(|e| no_backend(backend, e.to_string()))?;
            Ok(store)
        }
        other => Err(unsupported(other)),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn open_store(backend: Backend) -> Result<Arc<CredentialStore>, KeystoreError> {
    Err(unsupported(backend))
}

fn unsupported(backend: Backend) -> KeystoreError {
    let available: Vec<&str> = if cfg!(target_os = "linux") {
        vec!["secret-service", "keyutils"]
    } else if cfg!(target_os = "macos") {
        vec!["keychain"]
    } else if cfg!(windows) {
        vec!["credential-manager"]
    } else {
        vec![]
    };
    KeystoreError::NoBackend {
        tried: vec![format!("{backend}: not available on this operating system")],
        hint: if available.is_empty() {
            "this operating system has no supported keychain".to_owned()
        } else {
            format!("set {KEYSTORE_ENV} to one of: {}", available.join(", "))
        },
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_keychain_backend_is_refused_on_linux_with_the_linux_choices() {
        let err = open(Backend::Keychain).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no usable keychain backend (tried keychain: not available on this operating \
             system): set SECLLAMA_KEYSTORE to one of: secret-service, keyutils"
        );
    }
}
