//! Which keychain, which service, and what to do on first use.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::KeystoreError;

/// The environment variable that picks the backend when the configuration does not.
pub const KEYSTORE_ENV: &str = "SECLLAMA_KEYSTORE";

/// The service name used when none is given.
pub const DEFAULT_SERVICE: &str = "secllama";

/// The longest service name accepted.
pub const MAX_SERVICE_LEN: usize = 64;

/// How long a key that was primary is kept from `destroy` (without force): 24 hours.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

/// How many seals a loaded keyset reserves at a time in a key's entry: 65,536.
pub const DEFAULT_SEAL_BLOCK: u64 = 1 << 16;

/// A keychain backend.
///
/// There is no file backend, and none is ever tried as a fallback: with no usable keychain the
/// keystore fails with [`KeystoreError::NoBackend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The freedesktop Secret Service on the D-Bus session bus (gnome-keyring, KeePassXC, KDE
    /// Wallet): the Linux default. Entries persist in the user's login keyring.
    SecretService,
    /// The Linux kernel keyring (keyutils): the user's session and persistent keyrings. Opt-in:
    /// it lives in kernel memory only and **does not survive a reboot**, so keys kept there are
    /// lost, and with them everything sealed under them, when the machine restarts.
    Keyutils,
    /// The macOS login Keychain: the macOS default.
    Keychain,
    /// The Windows Credential Manager: the Windows default.
    CredentialManager,
}

impl Backend {
    /// Every backend, in the order their names are listed in messages.
    pub const ALL: [Backend; 4] = [
        Backend::SecretService,
        Backend::Keyutils,
        Backend::Keychain,
        Backend::CredentialManager,
    ];

    /// The name used by `SECLLAMA_KEYSTORE`, `--backend` and `status`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::SecretService => "secret-service",
            Backend::Keyutils => "keyutils",
            Backend::Keychain => "keychain",
            Backend::CredentialManager => "credential-manager",
        }
    }

    /// The default on this operating system, if it has one.
    pub fn os_default() -> Option<Backend> {
        if cfg!(target_os = "linux") {
            Some(Backend::SecretService)
        } else if cfg!(target_os = "macos") {
            Some(Backend::Keychain)
        } else if cfg!(windows) {
            Some(Backend::CredentialManager)
        } else {
            None
        }
    }

    /// Whether entries survive a reboot.
    pub fn survives_reboot(self) -> bool {
        !matches!(self, Backend::Keyutils)
    }

    /// What to do when this backend refuses access.
    pub(crate) fn unlock_hint(self) -> &'static str {
        match self {
            Backend::SecretService => {
                "unlock the login keyring (e.g. `gnome-keyring-daemon --unlock` reading the \
                 password from stdin) and retry"
            }
            Backend::Keyutils => {
                "the process needs a session keyring it may write: run it inside \
                 `keyctl session -` or a login session"
            }
            Backend::Keychain => "unlock the login keychain and allow access when asked",
            Backend::CredentialManager => "run as the user who owns the credentials",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = KeystoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| KeystoreError::UnknownBackend { name: printable(s) })
    }
}

/// How a [`Keystore`](crate::Keystore) is opened.
///
/// ```
/// use secllama_keystore::{Backend, KeystoreConfig};
///
/// let config = KeystoreConfig::new("my-app")?
///     .backend(Backend::Keyutils)
///     .create_if_missing(false);
/// assert_eq!(config.service_name(), "my-app");
/// # Ok::<(), secllama_keystore::KeystoreError>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeystoreConfig {
    pub(crate) service: String,
    pub(crate) backend: Option<Backend>,
    pub(crate) create_if_missing: bool,
    pub(crate) lock_dir: Option<PathBuf>,
    pub(crate) grace_period: Duration,
    pub(crate) seal_block: u64,
}

impl Default for KeystoreConfig {
    fn default() -> Self {
        KeystoreConfig {
            service: DEFAULT_SERVICE.to_owned(),
            backend: None,
            create_if_missing: true,
            lock_dir: None,
            grace_period: DEFAULT_GRACE_PERIOD,
            seal_block: DEFAULT_SEAL_BLOCK,
        }
    }
}

impl KeystoreConfig {
    /// A configuration for `service`: backend from `SECLLAMA_KEYSTORE` or the OS default, and a
    /// keyset generated on the first [`load`](crate::Keystore::load).
    ///
    /// # Errors
    /// [`KeystoreError::InvalidService`] unless the name is 1 to 64 characters from
    /// `A-Z a-z 0-9 . _ -` (it becomes part of keychain entry names and the lock file name).
    pub fn new(service: &str) -> Result<Self, KeystoreError> {
        validate_service(service)?;
        Ok(KeystoreConfig {
            service: service.to_owned(),
            ..KeystoreConfig::default()
        })
    }

    /// Uses this backend, whatever `SECLLAMA_KEYSTORE` says.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Whether [`load`](crate::Keystore::load) creates a keyset when the service has none
    /// (default `true`); when `false` it fails with [`KeystoreError::NotInitialized`].
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }

    /// Puts the advisory lock file in `dir` instead of the default (see the crate docs). The
    /// lock only keeps writers from racing (exact seal counts, no lost status change);
    /// processes using different directories still never lose a key.
    pub fn lock_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lock_dir = Some(dir.into());
        self
    }

    /// How long after a rotation the keys that may have been primary until then are kept from
    /// [`destroy`](crate::Keystore::destroy) (default [`DEFAULT_GRACE_PERIOD`], 24 h), so a
    /// long-running process still sealing under its old primary has time to reload.
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// How many seals a loaded keyset reserves at a time (default [`DEFAULT_SEAL_BLOCK`];
    /// at least 1). Each block is recorded in the key's entry before it is used, so a process
    /// that exits or crashes wastes what it did not use: a short-lived program that seals a
    /// few messages should ask for a small block.
    pub fn seal_block(mut self, seals: u64) -> Self {
        self.seal_block = seals.clamp(1, secllama_crypto::MAX_SEALS_PER_KEY);
        self
    }

    /// The service name.
    pub fn service_name(&self) -> &str {
        &self.service
    }

    /// The backend this configuration resolves to: the configured one, else `SECLLAMA_KEYSTORE`,
    /// else the OS default.
    ///
    /// # Errors
    /// [`KeystoreError::UnknownBackend`] for a bad `SECLLAMA_KEYSTORE`;
    /// [`KeystoreError::NoBackend`] on an OS with no default.
    pub fn resolve_backend(&self) -> Result<Backend, KeystoreError> {
        if let Some(b) = self.backend {
            return Ok(b);
        }
        match std::env::var(KEYSTORE_ENV) {
            Ok(name) if !name.is_empty() => return name.parse(),
            Ok(_) | Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(KeystoreError::UnknownBackend {
                    name: "(not UTF-8)".to_owned(),
                });
            }
        }
        Backend::os_default().ok_or_else(|| KeystoreError::NoBackend {
            tried: Vec::new(),
            hint: format!("this operating system has no default keychain: set {KEYSTORE_ENV}"),
        })
    }
}

/// Checks a service name: it ends up in entry names, keyutils descriptions and a file name.
pub(crate) fn validate_service(service: &str) -> Result<(), KeystoreError> {
    let ok = !service.is_empty()
        && service.len() <= MAX_SERVICE_LEN
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && service != "."
        && service != "..";
    if ok {
        Ok(())
    } else {
        Err(KeystoreError::InvalidService {
            name: printable(service),
        })
    }
}

/// A name from outside, made safe to print on one line and bounded in length.
fn printable(s: &str) -> String {
    s.chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip_through_from_str() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
            assert_eq!(b.to_string(), b.name());
        }
    }

    #[test]
    fn a_file_backend_does_not_exist() {
        let err = "file".parse::<Backend>().unwrap_err();
        assert!(matches!(err, KeystoreError::UnknownBackend { ref name } if name == "file"));
        assert!(err.to_string().contains("secret-service, keyutils"));
    }

    #[test]
    fn only_keyutils_is_lost_on_reboot() {
        assert!(!Backend::Keyutils.survives_reboot());
        assert!(Backend::SecretService.survives_reboot());
    }

    #[test]
    fn service_names_with_separators_or_control_characters_are_refused() {
        for bad in ["", "a/b", "a@b", "a b", "..", ".", "x\n", &"a".repeat(65)] {
            let err = KeystoreConfig::new(bad).unwrap_err();
            assert!(
                matches!(err, KeystoreError::InvalidService { .. }),
                "{bad:?}"
            );
            assert!(!err.to_string().contains('\n'));
        }
        for good in ["secllama", "my-app_2.test", &"a".repeat(64)] {
            assert_eq!(KeystoreConfig::new(good).unwrap().service_name(), good);
        }
    }

    #[test]
    fn the_configured_backend_wins_over_the_environment() {
        let c = KeystoreConfig::default().backend(Backend::Keyutils);
        assert_eq!(c.resolve_backend().unwrap(), Backend::Keyutils);
    }

    #[test]
    fn the_default_configuration_creates_keys_on_first_use_for_service_secllama() {
        let c = KeystoreConfig::default();
        assert_eq!(c.service_name(), "secllama");
        assert!(c.create_if_missing);
    }
}
