//! Integration tests against the real keychains: the Secret Service (gnome-keyring on a private
//! session bus) and the kernel keyring, plus the cross-process rotation storm.
//!
//! Run them as CI does (`.ci/test-in-session.sh`):
//!
//! ```sh
//! dbus-run-session -- bash -c '
//!   export XDG_DATA_HOME=$(mktemp -d) XDG_RUNTIME_DIR=$(mktemp -d) SECLLAMA_TEST_SECRET_SERVICE=1
//!   printf pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null
//!   keyctl session - cargo nextest run -p secllama-keystore'
//! ```
//!
//! Without a session bus (and without `SECLLAMA_TEST_SECRET_SERVICE`), the Secret Service tests
//! print why they skip; with the variable set, a missing Secret Service fails them.

// Test helpers state their expectations loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(target_os = "linux")]
mod suite;
