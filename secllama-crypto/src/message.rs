//! Sealed messages: any `serde` value as JSON inside an envelope v1.
//!
//! The JSON text is built in a buffer that wipes every intermediate allocation, sealed, and
//! wiped again; on opening, the plaintext JSON is wiped once the value is parsed. Binary
//! attachments (the images of a [`ChatMessage`]) are base64 strings inside the same sealed JSON,
//! so nothing travels in the clear.

use std::fmt;
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::{CryptoError, Keyset};

/// Serialises `value` as JSON and seals it with the keyset's primary key.
pub fn seal_json<T: Serialize>(ks: &Keyset, value: &T, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let json = to_json(value)?;
    ks.seal(&json, aad)
}

/// Opens an envelope sealed by [`seal_json`] and parses the JSON into `T`.
/// A JSON error reports only its category and position, never the text.
pub fn open_json<T: DeserializeOwned>(
    ks: &Keyset,
    env: &[u8],
    aad: &[u8],
) -> Result<T, CryptoError> {
    let json = ks.open(env, aad)?;
    serde_json::from_slice(&json).map_err(|e| CryptoError::json(&e))
}

/// `value` as JSON in a buffer that is wiped on drop, and whose growth wipes the old buffer.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut w = WipingWriter(Zeroizing::new(Vec::with_capacity(256)));
    serde_json::to_writer(&mut w, value).map_err(|e| CryptoError::json(&e))?;
    Ok(w.0)
}

/// A `Vec` writer that never lets `Vec` reallocate (which would free the old buffer unwiped):
/// it copies into a bigger `Zeroizing` buffer itself and drops (wipes) the old one.
struct WipingWriter(Zeroizing<Vec<u8>>);

impl io::Write for WipingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let need = self.0.len().saturating_add(buf.len());
        if need > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(self.0.capacity() * 2)));
            bigger.extend_from_slice(&self.0);
            self.0 = bigger;
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One chat turn, as stored or sent sealed. Images are raw bytes (PNG, JPEG, ...), sealed with
/// the text as base64 strings in the JSON.
///
/// `Debug` prints the role and sizes only, never the content or image bytes. Call
/// [`Zeroize::zeroize`] to wipe a message you are done with.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
    /// Attached images, raw bytes.
    #[serde(default, with = "images_base64", skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Vec<u8>>,
}

impl ChatMessage {
    /// A text-only message.
    #[must_use]
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            images: Vec::new(),
        }
    }

    /// A text-only `system` message.
    #[must_use]
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A text-only `user` message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// A text-only `assistant` message.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

impl fmt::Debug for ChatMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: Vec<usize> = self.images.iter().map(Vec::len).collect();
        f.debug_struct("ChatMessage")
            .field("role", &self.role)
            .field("content_len", &self.content.len())
            .field("image_lens", &sizes)
            .finish()
    }
}

mod images_base64 {
    use super::*;

    pub(super) fn serialize<S: Serializer>(images: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(images.len()))?;
        for img in images {
            let text = Zeroizing::new(STANDARD.encode(img));
            seq.serialize_element(text.as_str())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let mut texts = Vec::<String>::deserialize(d)?;
        let decoded = texts
            .iter()
            .map(|t| STANDARD.decode(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| serde::de::Error::custom("an image is not valid base64"));
        texts.zeroize();
        decoded
    }
}
