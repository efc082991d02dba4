//! The API bearer token: where it comes from, how it is checked, how it is named in logs.
//!
//! The token is `SECLLAMA_API_TOKEN` when set; otherwise it is derived from a 256-bit key kept
//! in the OS keychain by secllama-keystore (service [`TOKEN_SERVICE`]), created on first use and
//! replaced by [`rotate_keychain_token`]. Requests are checked by comparing SHA-256 digests in
//! constant time, so neither the token's length nor its prefix leaks through timing.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use secllama_keystore::{Keystore, KeystoreConfig};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ServerError;

/// The environment variable that sets the token (taken as is; at least 16 characters).
pub const TOKEN_ENV: &str = "SECLLAMA_API_TOKEN";
/// The keychain service holding the key the generated token is derived from.
pub const TOKEN_SERVICE: &str = "secllama-api-token";
/// Every generated token starts with this, so scanners and people recognise it.
pub const TOKEN_PREFIX: &str = "sllm-";
const MIN_TOKEN_LEN: usize = 16;
const MAX_TOKEN_LEN: usize = 512;

/// A bearer token. Never printed by `Debug`; zeroed on drop.
#[derive(Clone)]
pub struct ApiToken(Zeroizing<String>);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken({})", self.id())
    }
}

impl ApiToken {
    /// A token given by the operator: 16 to 512 visible ASCII characters.
    ///
    /// ```
    /// let t = secllama_server::ApiToken::new("correct-horse-battery-staple".into())?;
    /// assert_eq!(t.id().len(), 8);
    /// # Ok::<(), secllama_server::ServerError>(())
    /// ```
    ///
    /// # Errors
    /// [`ServerError::Config`] when it is too short, too long, or has other characters.
    pub fn new(token: String) -> Result<Self, ServerError> {
        let token = Zeroizing::new(token);
        if token.len() < MIN_TOKEN_LEN || token.len() > MAX_TOKEN_LEN {
            return Err(ServerError::Config(format!(
                "the API token must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters long"
            )));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ServerError::Config(
                "the API token may contain visible ASCII characters only".into(),
            ));
        }
        Ok(ApiToken(token))
    }

    /// `SECLLAMA_API_TOKEN`, if set.
    ///
    /// # Errors
    /// It is set but not valid (see [`ApiToken::new`]).
    pub fn from_env() -> Result<Option<Self>, ServerError> {
        match std::env::var(TOKEN_ENV) {
            Ok(v) => Self::new(v).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ServerError::Config(format!(
                "{TOKEN_ENV} is not valid UTF-8"
            ))),
        }
    }

    /// The token text (to hand to a client).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// A short, non-secret name for this token: the first 8 hex digits of its SHA-256. The
    /// audit log uses it to tell tokens apart without recording them.
    pub fn id(&self) -> String {
        token_id(self.0.as_bytes())
    }
}

fn token_id(token: &[u8]) -> String {
    let digest = Sha256::digest(token);
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The token from the environment, else the one derived from the keychain (created on first
/// use).
///
/// # Errors
/// An invalid `SECLLAMA_API_TOKEN`, or the keychain cannot be opened.
pub fn resolve_token() -> Result<ApiToken, ServerError> {
    match ApiToken::from_env()? {
        Some(t) => Ok(t),
        None => keychain_token(),
    }
}

fn open_store() -> Result<Keystore, ServerError> {
    Ok(Keystore::open(KeystoreConfig::new(TOKEN_SERVICE)?)?)
}

/// The token derived from the keychain's key (creating the key on first use).
///
/// # Errors
/// The keychain cannot be opened or read.
pub fn keychain_token() -> Result<ApiToken, ServerError> {
    let store = open_store()?;
    let keyset = store.load()?;
    let key = keyset
        .key(keyset.primary_id())
        .ok_or_else(|| ServerError::Config("the token keyset has no primary key".into()))?;
    Ok(derive_token(key.expose_secret()))
}

/// Replaces the keychain's token with a new random one and returns it; the old one stops
/// working when the server restarts.
///
/// # Errors
/// The keychain cannot be opened or changed.
pub fn rotate_keychain_token() -> Result<ApiToken, ServerError> {
    let store = open_store()?;
    let _ = store.load()?;
    store.rotate()?;
    keychain_token()
}

/// HMAC-SHA-256 of a fixed label under the 256-bit key: the key itself never leaves this
/// function, and the label keeps this use apart from any other use of the key.
fn derive_token(key: &[u8; 32]) -> ApiToken {
    #[allow(clippy::expect_used)] // HMAC accepts keys of every length
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"secllama api token v1");
    let bytes = Zeroizing::new(mac.finalize().into_bytes().to_vec());
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_slice());
    ApiToken(Zeroizing::new(format!("{TOKEN_PREFIX}{text}")))
}

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub enum Auth {
    /// `Authorization: Bearer <token>` required.
    Token(ApiToken),
    /// Nothing required (`--insecure-no-auth`, loopback only).
    None,
}

/// The check the middleware runs: the token's digest and its id, never the token itself.
pub(crate) struct TokenCheck {
    digest: [u8; 32],
    id: String,
}

impl TokenCheck {
    pub(crate) fn new(token: &ApiToken) -> Self {
        TokenCheck {
            digest: Sha256::digest(token.0.as_bytes()).into(),
            id: token.id(),
        }
    }

    /// Checks an `Authorization` header value; `Some(id)` when it carries the token.
    pub(crate) fn verify(&self, header: &[u8]) -> Option<&str> {
        let presented = strip_bearer(header)?;
        let digest: [u8; 32] = Sha256::digest(presented).into();
        bool::from(digest.ct_eq(&self.digest)).then_some(self.id.as_str())
    }
}

fn strip_bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    Some(rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        let token = ApiToken::new("0123456789abcdef-token".into()).unwrap();
        let check = TokenCheck::new(&token);
        assert_eq!(
            check.verify(b"Bearer 0123456789abcdef-token"),
            Some(token.id().as_str())
        );
        assert_eq!(
            check.verify(b"bearer 0123456789abcdef-token"),
            Some(token.id().as_str())
        );
        assert_eq!(check.verify(b"Bearer 0123456789abcdef-tokeN"), None);
        assert_eq!(check.verify(b"Bearer 0123456789abcdef-toke"), None);
        assert_eq!(check.verify(b"Basic 0123456789abcdef-token"), None);
        assert_eq!(check.verify(b"0123456789abcdef-token"), None);
        assert_eq!(check.verify(b""), None);
    }

    #[test]
    fn short_or_invisible_tokens_are_refused() {
        assert!(
            matches!(ApiToken::new("short".into()), Err(ServerError::Config(m)) if m.contains("16 to 512"))
        );
        assert!(
            matches!(ApiToken::new("has a space in it!!".into()), Err(ServerError::Config(m)) if m.contains("visible ASCII"))
        );
    }

    #[test]
    fn debug_shows_the_id_not_the_token() {
        let token = ApiToken::new("0123456789abcdef-secret".into()).unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(shown, format!("ApiToken({})", token.id()));
    }

    #[test]
    fn derived_tokens_are_256_bit_and_depend_on_the_key() {
        let a = derive_token(&[1; 32]);
        let b = derive_token(&[2; 32]);
        assert!(a.expose_secret().starts_with(TOKEN_PREFIX));
        // 32 bytes in unpadded base64url
        assert_eq!(a.expose_secret().len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret(), derive_token(&[1; 32]).expose_secret());
    }
}
