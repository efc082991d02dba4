//! The generated token in the real kernel keyring: created once, stable, replaced by rotation.
//! Its own test binary: it selects the keyring through the environment. CI runs it inside
//! `keyctl session -` with SECLLAMA_TEST_SECRET_SERVICE=1 (then a missing keyring fails it);
//! elsewhere, without a usable keyring, it says why it skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use secllama_server::{ServerError, TOKEN_PREFIX, keychain_token, rotate_keychain_token};

#[test]
fn the_keychain_token_is_stable_until_rotated() {
    // SAFETY: set before any other thread of this test process exists or reads the variable.
    unsafe { std::env::set_var("SECLLAMA_KEYSTORE", "keyutils") };
    let first = match keychain_token() {
        Ok(t) => t,
        Err(ServerError::Keystore(e))
            if std::env::var_os("SECLLAMA_TEST_SECRET_SERVICE").is_none() =>
        {
            eprintln!("skipping: no usable kernel keyring here ({e})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(first.expose_secret().starts_with(TOKEN_PREFIX));
    assert_eq!(first.expose_secret().len(), TOKEN_PREFIX.len() + 43);
    assert_eq!(
        keychain_token().unwrap().expose_secret(),
        first.expose_secret()
    );
    let rotated = rotate_keychain_token().unwrap();
    assert_ne!(rotated.expose_secret(), first.expose_secret());
    assert_eq!(
        keychain_token().unwrap().expose_secret(),
        rotated.expose_secret()
    );
    assert_ne!(rotated.id(), first.id());
}
