//! The records a service keeps in the keychain, their byte formats and limits.
//!
//! Every entry's secret is one self-describing, compact UTF-8 JSON record naming its kind and
//! its service, so that a listing of the keychain finds every key without any other entry:
//!
//! ```text
//! key-<id>  {"format":2,"kind":"key","service":"secllama","id":7,"created":1765000000,"status":"enabled","changed":1765000000,"seals":65536,"key":"<base64 of 32 bytes>"}
//! primary   {"format":2,"kind":"primary","service":"secllama","primary":7,"since":1765000000}
//! index     {"format":2,"kind":"index","service":"secllama","keys":[[7,"enabled",1765000000],[5,"destroyed",1764000000]]}
//! ```
//!
//! Parsing is strict: unknown fields, a field given twice, a wrong kind or service, an id that
//! is zero, a key that is not 32 bytes of standard base64, more than [`MAX_KEYS`] keys or more
//! than [`MAX_RECORD_LEN`] bytes are refused with a reason that never echoes the entry.
//!
//! Format 1 (before keystore v2) is still read: an index `{"format":1,"primary":..,"keys":..}`
//! and key entries holding only the 44 base64 bytes; `repair` rewrites them as format 2.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secllama_crypto::{KEY_LEN, Key, KeyId, MAX_SEALS_PER_KEY};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// The record format this crate writes.
pub const RECORD_FORMAT: u32 = 2;

/// The most keys (including destroyed tombstones) one service holds.
pub const MAX_KEYS: usize = 40;

/// The largest record accepted or written, in bytes (far below Windows' 2,560-byte limit).
pub const MAX_RECORD_LEN: usize = 2048;

/// The length of the base64 text of a key: 44 bytes.
pub const KEY_ENTRY_LEN: usize = KEY_LEN.div_ceil(3) * 4;

/// The user name of the index entry.
pub(crate) const INDEX_USER: &str = "index";
/// The user name of the primary record.
pub(crate) const PRIMARY_USER: &str = "primary";

/// The user name of a key's entry.
pub(crate) fn key_user(id: KeyId) -> String {
    format!("key-{id}")
}

/// The key id in a user name `key-<decimal id>`.
pub(crate) fn key_id_of_user(user: &str) -> Option<KeyId> {
    let digits = user.strip_prefix("key-")?;
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|id| *id != 0)
}

/// Whether `user` is one of the entry names this crate writes.
pub(crate) fn is_our_user(user: &str) -> bool {
    user == INDEX_USER || user == PRIMARY_USER || key_id_of_user(user).is_some()
}

/// The state of a stored key. `Destroying` is the first phase of a destroy: the key opens and
/// seals nothing and its entry is deleted by the destroy or by the next write that finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stored {
    Enabled,
    Disabled,
    Destroying,
}

impl Stored {
    fn name(self) -> &'static str {
        match self {
            Stored::Enabled => "enabled",
            Stored::Disabled => "disabled",
            Stored::Destroying => "destroying",
        }
    }

    fn parse(s: &str) -> Option<Stored> {
        match s {
            "enabled" => Some(Stored::Enabled),
            "disabled" => Some(Stored::Disabled),
            "destroying" => Some(Stored::Destroying),
            _ => None,
        }
    }
}

/// A key entry: everything about one key, its material included.
pub(crate) struct KeyRecord {
    pub(crate) id: KeyId,
    pub(crate) created: u64,
    pub(crate) status: Stored,
    pub(crate) changed: u64,
    /// The end of the highest block of seals ever reserved for this key.
    pub(crate) seals: u64,
    pub(crate) key: Key,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("seals", &self.seals)
            .finish_non_exhaustive()
    }
}

/// The primary pointer: last writer wins, which is harmless (every key stays listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrimaryRecord {
    pub(crate) primary: KeyId,
    pub(crate) since: u64,
}

/// The status an index lists for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listed {
    Live(Stored),
    Destroyed,
}

/// The index: a cache of every key's id, status and creation time, and the only place that
/// remembers destroyed keys (tombstones).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct IndexRecord {
    pub(crate) keys: Vec<(KeyId, Listed, u64)>,
    /// The primary a format-1 index named (format 2 keeps it in its own record).
    pub(crate) v1_primary: Option<KeyId>,
}

/// Any record, as parsed from an entry's secret.
#[derive(Debug)]
pub(crate) enum Record {
    Key(KeyRecord),
    Primary(PrimaryRecord),
    Index(IndexRecord),
    /// A format-1 key entry: 44 base64 bytes and nothing else (its id is in the user name).
    KeyV1(Key),
}

#[derive(Deserialize)]
struct Head {
    format: u32,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    service: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyWire<'a> {
    format: u32,
    kind: &'a str,
    service: &'a str,
    id: KeyId,
    created: u64,
    status: &'a str,
    changed: u64,
    seals: u64,
    key: &'a str,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrimaryWire<'a> {
    format: u32,
    kind: &'a str,
    service: &'a str,
    primary: KeyId,
    since: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexWire<'a> {
    format: u32,
    kind: &'a str,
    service: &'a str,
    #[serde(borrow)]
    keys: Vec<(KeyId, &'a str, u64)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexV1Wire<'a> {
    #[allow(dead_code, reason = "checked through Head")]
    format: u32,
    primary: KeyId,
    #[serde(borrow)]
    keys: Vec<(KeyId, &'a str, u64)>,
}

/// A parse failure: the reason, or "this record belongs to another service".
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Malformed; the reason never contains the entry's bytes.
    Bad(String),
    /// Well-formed, but written for another service (a loose search matched it).
    OtherService,
}

fn bad(reason: impl Into<String>) -> ParseError {
    ParseError::Bad(reason.into())
}

fn json_reason(e: &serde_json::Error) -> String {
    // serde's messages about fields name the field only; messages about values may quote the
    // value (which could be key material put in the wrong place), so those are summarised.
    let msg = e.to_string();
    for known in ["unknown field", "duplicate field", "missing field"] {
        if msg.starts_with(known) {
            let end = msg
                .find(',')
                .or_else(|| msg.find(" at line"))
                .unwrap_or(msg.len());
            return msg[..end].to_owned();
        }
    }
    match e.classify() {
        serde_json::error::Category::Data => "a field has the wrong type".to_owned(),
        _ => "not JSON".to_owned(),
    }
}

/// Parses an entry's secret for `service`.
pub(crate) fn parse(bytes: &[u8], service: &str) -> Result<Record, ParseError> {
    if bytes.len() > MAX_RECORD_LEN {
        return Err(bad(format!(
            "{} bytes, more than the {MAX_RECORD_LEN} allowed",
            bytes.len()
        )));
    }
    if bytes.len() == KEY_ENTRY_LEN && bytes.first() != Some(&b'{') {
        return decode_key(bytes).map(Record::KeyV1).map_err(bad);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let head: Head = serde_json::from_str(text)
        .map_err(|e| bad(format!("not a record ({})", json_reason(&e))))?;
    match head.format {
        1 => return parse_index_v1(text).map(Record::Index),
        RECORD_FORMAT => {}
        f => {
            return Err(bad(format!(
                "format {f}, this secllama reads formats 1 and {RECORD_FORMAT}: upgrade secllama"
            )));
        }
    }
    if head.service.as_deref() != Some(service) {
        return match head.service {
            Some(_) => Err(ParseError::OtherService),
            None => Err(bad("no service")),
        };
    }
    match head.kind.as_deref() {
        Some("key") => parse_key(text).map(Record::Key),
        Some("primary") => parse_primary(text).map(Record::Primary),
        Some("index") => parse_index(text).map(Record::Index),
        Some(_) => Err(bad("unknown kind")),
        None => Err(bad("no kind")),
    }
}

fn parse_key(text: &str) -> Result<KeyRecord, ParseError> {
    let mut wire: KeyWire<'_> = serde_json::from_str(text)
        .map_err(|e| bad(format!("bad key record ({})", json_reason(&e))))?;
    let status =
        Stored::parse(wire.status).ok_or_else(|| bad("key record with an unknown status"))?;
    if wire.id == 0 {
        return Err(bad("key record with id 0"));
    }
    if wire.seals > MAX_SEALS_PER_KEY {
        return Err(bad(format!(
            "key {} has more seals than any key may make",
            wire.id
        )));
    }
    let key = decode_key(wire.key.as_bytes())
        .map_err(|reason| bad(format!("key {}: {reason}", wire.id)))?;
    wire.key = "";
    Ok(KeyRecord {
        id: wire.id,
        created: wire.created,
        status,
        changed: wire.changed,
        seals: wire.seals,
        key,
    })
}

fn parse_primary(text: &str) -> Result<PrimaryRecord, ParseError> {
    let wire: PrimaryWire<'_> = serde_json::from_str(text)
        .map_err(|e| bad(format!("bad primary record ({})", json_reason(&e))))?;
    if wire.primary == 0 {
        return Err(bad("primary record naming key 0"));
    }
    Ok(PrimaryRecord {
        primary: wire.primary,
        since: wire.since,
    })
}

fn index_keys(keys: Vec<(KeyId, &str, u64)>) -> Result<Vec<(KeyId, Listed, u64)>, ParseError> {
    if keys.len() > MAX_KEYS {
        return Err(bad(format!(
            "index lists {} keys, more than {MAX_KEYS}",
            keys.len()
        )));
    }
    let mut out: Vec<(KeyId, Listed, u64)> = Vec::with_capacity(keys.len());
    for (id, status, created) in keys {
        if id == 0 {
            return Err(bad("index lists key 0"));
        }
        let listed = match status {
            "destroyed" => Listed::Destroyed,
            s => Listed::Live(
                Stored::parse(s)
                    .ok_or_else(|| bad(format!("index lists key {id} with an unknown status")))?,
            ),
        };
        if out.iter().any(|k| k.0 == id) {
            return Err(bad(format!("index lists key {id} twice")));
        }
        out.push((id, listed, created));
    }
    Ok(out)
}

fn parse_index(text: &str) -> Result<IndexRecord, ParseError> {
    let wire: IndexWire<'_> = serde_json::from_str(text)
        .map_err(|e| bad(format!("bad index record ({})", json_reason(&e))))?;
    Ok(IndexRecord {
        keys: index_keys(wire.keys)?,
        v1_primary: None,
    })
}

fn parse_index_v1(text: &str) -> Result<IndexRecord, ParseError> {
    let wire: IndexV1Wire<'_> = serde_json::from_str(text)
        .map_err(|e| bad(format!("bad format-1 index ({})", json_reason(&e))))?;
    let keys = index_keys(wire.keys)?;
    if !keys
        .iter()
        .any(|k| k.0 == wire.primary && k.1 == Listed::Live(Stored::Enabled))
    {
        return Err(bad(format!(
            "format-1 index names primary key {} that it does not list as enabled",
            wire.primary
        )));
    }
    Ok(IndexRecord {
        keys,
        v1_primary: Some(wire.primary),
    })
}

/// Encodes a key record, in a buffer zeroized on drop.
pub(crate) fn encode_key_record(service: &str, r: &KeyRecord) -> Zeroizing<String> {
    let b64 = encode_key(&r.key);
    let wire = KeyWire {
        format: RECORD_FORMAT,
        kind: "key",
        service,
        id: r.id,
        created: r.created,
        status: r.status.name(),
        changed: r.changed,
        seals: r.seals,
        key: &b64,
    };
    let mut out = Zeroizing::new(String::with_capacity(MAX_RECORD_LEN));
    // Serialising plain numbers and strings into a String cannot fail.
    if let Ok(mut text) = serde_json::to_string(&wire) {
        out.push_str(&text);
        text.zeroize();
    }
    out
}

/// Encodes the primary record.
pub(crate) fn encode_primary(service: &str, p: PrimaryRecord) -> String {
    let wire = PrimaryWire {
        format: RECORD_FORMAT,
        kind: "primary",
        service,
        primary: p.primary,
        since: p.since,
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Encodes the index; the error is a reason (too many keys).
pub(crate) fn encode_index(service: &str, index: &IndexRecord) -> Result<String, String> {
    if index.keys.len() > MAX_KEYS {
        return Err(format!("{} keys, more than {MAX_KEYS}", index.keys.len()));
    }
    let wire = IndexWire {
        format: RECORD_FORMAT,
        kind: "index",
        service,
        keys: index
            .keys
            .iter()
            .map(|&(id, l, created)| {
                let s = match l {
                    Listed::Live(s) => s.name(),
                    Listed::Destroyed => "destroyed",
                };
                (id, s, created)
            })
            .collect(),
    };
    let text = serde_json::to_string(&wire).map_err(|e| e.to_string())?;
    if text.len() > MAX_RECORD_LEN {
        return Err(format!("{} bytes, more than {MAX_RECORD_LEN}", text.len()));
    }
    Ok(text)
}

/// Encodes a key's bytes: standard base64, in a buffer zeroized on drop.
pub(crate) fn encode_key(key: &Key) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(KEY_ENTRY_LEN));
    STANDARD.encode_string(key.expose_secret(), &mut out);
    out
}

/// Decodes the base64 text of a key; the error is a reason (never the bytes).
pub(crate) fn decode_key(text: &[u8]) -> Result<Key, String> {
    if text.len() != KEY_ENTRY_LEN {
        return Err(format!(
            "{} bytes where {KEY_ENTRY_LEN} bytes of base64 were expected",
            text.len()
        ));
    }
    let mut raw = Zeroizing::new([0u8; KEY_LEN + 2]);
    let n = STANDARD
        .decode_slice(text, &mut raw[..])
        .map_err(|_| "not base64".to_owned())?;
    if n != KEY_LEN {
        return Err(format!("{n} key bytes where {KEY_LEN} were expected"));
    }
    Key::from_bytes(&raw[..KEY_LEN]).map_err(|e| format!("not a key ({e})"))
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
