//! The index entry and the per-key entries: their byte formats and limits.
//!
//! A service's keyset is stored as one keychain entry per key (user name `key-<id>`, secret the
//! 32 key bytes in standard base64, 44 ASCII bytes) plus one index entry (user name `index`),
//! whose secret is compact UTF-8 JSON:
//!
//! ```text
//! {"format":1,"primary":2718281828,"keys":[[2718281828,"enabled",1763770000],[31415,"destroyed",1763700000]]}
//! ```
//!
//! Each key is `[id, status, created]`, `created` in Unix seconds. Destroyed keys stay listed
//! (a tombstone) so that opening an envelope sealed under one says "key destroyed"; their
//! per-key entry is deleted. Every entry is far below Windows' 2,560-byte credential limit:
//! the index is capped at [`MAX_INDEX_LEN`] bytes and [`MAX_KEYS`] keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secllama_crypto::{KEY_LEN, Key, KeyId, KeyStatus};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The index format this crate writes and reads.
pub const INDEX_FORMAT: u32 = 1;

/// The most keys (including destroyed tombstones) one service's index lists.
pub const MAX_KEYS: usize = 40;

/// The largest index entry accepted or written, in bytes.
pub const MAX_INDEX_LEN: usize = 2048;

/// The length of a key entry's secret: base64 of [`KEY_LEN`] bytes.
pub const KEY_ENTRY_LEN: usize = KEY_LEN.div_ceil(3) * 4;

/// The user name of the index entry.
pub(crate) const INDEX_USER: &str = "index";

/// The user name of a key's entry.
pub(crate) fn key_user(id: KeyId) -> String {
    format!("key-{id}")
}

/// One key as the index lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexKey {
    pub(crate) id: KeyId,
    pub(crate) status: KeyStatus,
    pub(crate) created: u64,
}

/// The decoded index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    pub(crate) primary: KeyId,
    pub(crate) keys: Vec<IndexKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    format: u32,
    primary: KeyId,
    keys: Vec<(KeyId, String, u64)>,
}

fn status_name(s: KeyStatus) -> &'static str {
    match s {
        KeyStatus::Enabled => "enabled",
        KeyStatus::Disabled => "disabled",
        KeyStatus::Destroyed => "destroyed",
    }
}

fn parse_status(s: &str) -> Option<KeyStatus> {
    match s {
        "enabled" => Some(KeyStatus::Enabled),
        "disabled" => Some(KeyStatus::Disabled),
        "destroyed" => Some(KeyStatus::Destroyed),
        _ => None,
    }
}

impl Index {
    /// Parses an index entry; the error is a reason for [`KeystoreError::Corrupt`] (never the
    /// entry's bytes).
    ///
    /// [`KeystoreError::Corrupt`]: crate::KeystoreError::Corrupt
    pub(crate) fn parse(bytes: &[u8]) -> Result<Index, String> {
        if bytes.len() > MAX_INDEX_LEN {
            return Err(format!(
                "{} bytes, more than the {MAX_INDEX_LEN} allowed",
                bytes.len()
            ));
        }
        // A quick look at the format first, so that a newer format gets a useful message
        // rather than a field error.
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
        match value.get("format").and_then(serde_json::Value::as_u64) {
            Some(f) if f == u64::from(INDEX_FORMAT) => {}
            Some(f) => {
                return Err(format!(
                    "format {f}, this secllama reads format {INDEX_FORMAT}: upgrade secllama"
                ));
            }
            None => return Err("no format number".to_owned()),
        }
        let wire: Wire = serde_json::from_value(value).map_err(|e| format!("bad field ({e})"))?;
        if wire.keys.is_empty() {
            return Err("lists no keys".to_owned());
        }
        if wire.keys.len() > MAX_KEYS {
            return Err(format!(
                "lists {} keys, more than {MAX_KEYS}",
                wire.keys.len()
            ));
        }
        let mut keys = Vec::with_capacity(wire.keys.len());
        for (id, status, created) in wire.keys {
            let status =
                parse_status(&status).ok_or_else(|| format!("key {id} has an unknown status"))?;
            if keys.iter().any(|k: &IndexKey| k.id == id) {
                return Err(format!("key {id} is listed twice"));
            }
            keys.push(IndexKey {
                id,
                status,
                created,
            });
        }
        match keys.iter().find(|k| k.id == wire.primary) {
            Some(k) if k.status == KeyStatus::Enabled => {}
            Some(_) => return Err(format!("primary key {} is not enabled", wire.primary)),
            None => return Err(format!("primary key {} is not listed", wire.primary)),
        }
        Ok(Index {
            primary: wire.primary,
            keys,
        })
    }

    /// Encodes the index entry; the error is a reason (too many keys, too long).
    pub(crate) fn encode(&self) -> Result<String, String> {
        if self.keys.len() > MAX_KEYS {
            return Err(format!("{} keys, more than {MAX_KEYS}", self.keys.len()));
        }
        let wire = Wire {
            format: INDEX_FORMAT,
            primary: self.primary,
            keys: self
                .keys
                .iter()
                .map(|k| (k.id, status_name(k.status).to_owned(), k.created))
                .collect(),
        };
        let text = serde_json::to_string(&wire).map_err(|e| e.to_string())?;
        if text.len() > MAX_INDEX_LEN {
            return Err(format!("{} bytes, more than {MAX_INDEX_LEN}", text.len()));
        }
        Ok(text)
    }
}

/// Encodes a key's bytes for its entry: standard base64, in a buffer zeroized on drop.
pub(crate) fn encode_key(key: &Key) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(KEY_ENTRY_LEN));
    STANDARD.encode_string(key.expose_secret(), &mut out);
    out
}

/// Decodes a key entry's secret; the error is a reason (never the bytes).
pub(crate) fn decode_key(secret: &[u8]) -> Result<Key, String> {
    if secret.len() != KEY_ENTRY_LEN {
        return Err(format!(
            "{} bytes where {KEY_ENTRY_LEN} bytes of base64 were expected",
            secret.len()
        ));
    }
    let mut raw = Zeroizing::new([0u8; KEY_LEN + 2]);
    let n = STANDARD
        .decode_slice(secret, &mut raw[..])
        .map_err(|_| "not base64".to_owned())?;
    if n != KEY_LEN {
        return Err(format!("{n} key bytes where {KEY_LEN} were expected"));
    }
    Key::from_bytes(&raw[..KEY_LEN]).map_err(|e| format!("not a key ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Index {
        Index {
            primary: 7,
            keys: vec![
                IndexKey {
                    id: 3,
                    status: KeyStatus::Destroyed,
                    created: 1_700_000_000,
                },
                IndexKey {
                    id: 5,
                    status: KeyStatus::Disabled,
                    created: 1_700_000_100,
                },
                IndexKey {
                    id: 7,
                    status: KeyStatus::Enabled,
                    created: 1_700_000_200,
                },
            ],
        }
    }

    #[test]
    fn an_index_round_trips_byte_exactly() {
        let text = sample().encode().unwrap();
        assert_eq!(
            text,
            r#"{"format":1,"primary":7,"keys":[[3,"destroyed",1700000000],[5,"disabled",1700000100],[7,"enabled",1700000200]]}"#
        );
        assert_eq!(Index::parse(text.as_bytes()).unwrap(), sample());
    }

    #[test]
    fn the_largest_possible_index_stays_well_under_the_windows_blob_limit() {
        let mut index = Index {
            primary: u32::MAX,
            keys: (0..MAX_KEYS)
                .map(|i| IndexKey {
                    id: u32::MAX - u32::try_from(i).unwrap(),
                    status: KeyStatus::Destroyed,
                    created: u64::MAX,
                })
                .collect(),
        };
        index.keys[0].status = KeyStatus::Enabled;
        let text = index.encode().unwrap();
        assert!(text.len() <= MAX_INDEX_LEN, "{}", text.len());
        const { assert!(MAX_INDEX_LEN < 2560) };
        assert_eq!(Index::parse(text.as_bytes()).unwrap(), index);
    }

    #[test]
    fn one_key_too_many_is_refused_on_write_and_on_read() {
        let mut index = sample();
        for i in 0..MAX_KEYS {
            index.keys.push(IndexKey {
                id: 100 + u32::try_from(i).unwrap(),
                status: KeyStatus::Disabled,
                created: 1,
            });
        }
        assert!(index.encode().unwrap_err().contains("more than 40"));
        let wire = Wire {
            format: 1,
            primary: 7,
            keys: index
                .keys
                .iter()
                .map(|k| (k.id, status_name(k.status).to_owned(), 1))
                .collect(),
        };
        let text = serde_json::to_string(&wire).unwrap();
        assert!(
            Index::parse(text.as_bytes())
                .unwrap_err()
                .contains("more than 40")
        );
    }

    #[test]
    fn malformed_indexes_are_refused_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not JSON"),
            (b"\xff\xfe", "not JSON"),
            (b"[]", "no format number"),
            (br#"{"format":2,"primary":1,"keys":[]}"#, "format 2"),
            (br#"{"format":1,"primary":1,"keys":[]}"#, "lists no keys"),
            (
                br#"{"format":1,"primary":1,"keys":[[1,"on",1]]}"#,
                "unknown status",
            ),
            (
                br#"{"format":1,"primary":1,"keys":[[1,"enabled",1],[1,"enabled",2]]}"#,
                "twice",
            ),
            (
                br#"{"format":1,"primary":2,"keys":[[1,"enabled",1]]}"#,
                "not listed",
            ),
            (
                br#"{"format":1,"primary":1,"keys":[[1,"disabled",1]]}"#,
                "not enabled",
            ),
            (
                br#"{"format":1,"primary":1,"keys":[[1,"enabled",1]],"x":1}"#,
                "bad field",
            ),
            (
                br#"{"format":1,"primary":-1,"keys":[[1,"enabled",1]]}"#,
                "bad field",
            ),
        ];
        for (bytes, want) in cases {
            let err = Index::parse(bytes).unwrap_err();
            assert!(err.contains(want), "{bytes:?}: {err}");
        }
        let big = vec![b' '; MAX_INDEX_LEN + 1];
        assert!(
            Index::parse(&big)
                .unwrap_err()
                .contains("more than the 2048")
        );
    }

    fn arb_status() -> impl proptest::strategy::Strategy<Value = KeyStatus> {
        proptest::prop_oneof![
            proptest::strategy::Just(KeyStatus::Enabled),
            proptest::strategy::Just(KeyStatus::Disabled),
            proptest::strategy::Just(KeyStatus::Destroyed),
        ]
    }

    proptest::proptest! {
        #[test]
        fn any_valid_index_round_trips(
            keys in proptest::collection::btree_map(
                proptest::prelude::any::<u32>(),
                (arb_status(), proptest::prelude::any::<u64>()),
                1..=MAX_KEYS,
            ),
            pick in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let mut keys: Vec<IndexKey> = keys
                .into_iter()
                .map(|(id, (status, created))| IndexKey { id, status, created })
                .collect();
            let p = pick.index(keys.len());
            keys[p].status = KeyStatus::Enabled;
            let index = Index { primary: keys[p].id, keys };
            let text = index.encode().unwrap();
            proptest::prop_assert!(text.len() <= MAX_INDEX_LEN);
            proptest::prop_assert_eq!(Index::parse(text.as_bytes()).unwrap(), index);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_parsers(bytes in proptest::collection::vec(
            proptest::prelude::any::<u8>(), 0..3000)) {
            let _ = Index::parse(&bytes);
            let _ = decode_key(&bytes);
        }
    }

    #[test]
    fn a_key_entry_is_44_bytes_of_base64_and_round_trips() {
        let key = Key::from_bytes(&[0xa5; KEY_LEN]).unwrap();
        let text = encode_key(&key);
        assert_eq!(text.len(), KEY_ENTRY_LEN);
        assert_eq!(KEY_ENTRY_LEN, 44);
        assert_eq!(&*text, "paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=");
        let back = decode_key(text.as_bytes()).unwrap();
        assert_eq!(back.expose_secret(), key.expose_secret());
    }

    #[test]
    fn bad_key_entries_are_refused_without_echoing_them() {
        let short = "paWlpaWl";
        assert!(
            decode_key(short.as_bytes())
                .unwrap_err()
                .contains("8 bytes")
        );
        let not_b64 = "!".repeat(44);
        assert_eq!(decode_key(not_b64.as_bytes()).unwrap_err(), "not base64");
        // 44 characters that decode to 33 bytes cannot exist with padding; 31 bytes can.
        let short_key = STANDARD.encode([1u8; 31]);
        assert_eq!(short_key.len(), 44);
        let err = decode_key(short_key.as_bytes()).unwrap_err();
        assert!(err.contains("31 key bytes"), "{err}");
        assert!(!err.contains(&short_key));
    }
}
