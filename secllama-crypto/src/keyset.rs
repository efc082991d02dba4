//! `Keyset`: Tink-style keys with ids, statuses and one primary; envelope v1 seal/open.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::aead::{self, Cipher, NONCE_LEN, TAG_LEN};
use crate::envelope::{self, ENVELOPE_HEADER_LEN, EnvelopeHeader};
use crate::seals::{Budget, Reservations, SealReserver, take_seal};
use crate::{CryptoError, KEY_LEN, Key, rng};

/// A key's identifier inside a keyset: random, unique within the keyset, never zero.
pub type KeyId = u32;

/// Bytes an envelope adds to its plaintext: 17-byte header + 16-byte tag.
pub const ENVELOPE_OVERHEAD: usize = ENVELOPE_HEADER_LEN + TAG_LEN;

/// Most keys one keyset may hold (tombstones of destroyed keys count).
pub const MAX_KEYS: usize = 1024;

/// Most messages one key seals before [`CryptoError::KeyExhausted`] asks for a rotation:
/// 2^30, a quarter of NIST SP 800-38D's 2^32 bound for random 96-bit nonces. After 2^30 seals the
/// chance that any two nonces collided is below 2^-37.
pub const MAX_SEALS_PER_KEY: u64 = 1 << 30;

/// The state of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Usable for opening; the primary key also seals.
    Enabled,
    /// Kept, but refused for every operation until enabled again.
    Disabled,
    /// Material wiped; only a tombstone remains so errors can say "destroyed".
    Destroyed,
}

impl KeyStatus {
    fn to_byte(self) -> u8 {
        match self {
            KeyStatus::Enabled => 1,
            KeyStatus::Disabled => 2,
            KeyStatus::Destroyed => 3,
        }
    }

    fn from_byte(b: u8) -> Result<Self, CryptoError> {
        match b {
            1 => Ok(KeyStatus::Enabled),
            2 => Ok(KeyStatus::Disabled),
            3 => Ok(KeyStatus::Destroyed),
            _ => Err(CryptoError::Malformed("unknown key status")),
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyStatus::Enabled => "enabled",
            KeyStatus::Disabled => "disabled",
            KeyStatus::Destroyed => "destroyed",
        })
    }
}

/// Public facts about one key (no material).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The key's id.
    pub id: KeyId,
    /// Its status.
    pub status: KeyStatus,
    /// Whether it is the primary (sealing) key.
    pub primary: bool,
    /// Creation time, Unix seconds.
    pub created: u64,
}

/// One key with its material, for storing keys one by one (e.g. one keychain item each).
/// `key` is `None` iff `status` is [`KeyStatus::Destroyed`].
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The key's id.
    pub id: KeyId,
    /// Its status.
    pub status: KeyStatus,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// The material, `None` for a destroyed key.
    pub key: Option<Key>,
}

struct Slot {
    id: KeyId,
    status: KeyStatus,
    created: u64,
    /// `Some` unless destroyed. Holds the key and its expanded cipher (both wiped on drop).
    material: Option<(Key, Box<Cipher>)>,
    /// Messages sealed with this key so far (persisted by `to_bytes`), and the block in hand.
    seals: Budget,
}

impl Slot {
    fn new(id: KeyId, status: KeyStatus, created: u64, key: Option<Key>, seals: u64) -> Slot {
        let material = key.map(|k| {
            let c = aead::cipher(k.expose_secret());
            (k, c)
        });
        Slot {
            id,
            status,
            created,
            material,
            seals: Budget::new(seals),
        }
    }
}

/// A set of AES-256-GCM keys, one of them primary.
///
/// [`seal`](Keyset::seal) always uses the primary key and writes its id into the envelope;
/// [`open`](Keyset::open) picks the key by that id (no trial decryption). `Debug` shows ids,
/// statuses and the primary, never key bytes. A keyset is deliberately not `Clone`: two copies
/// would count seals separately (see [`MAX_SEALS_PER_KEY`]).
pub struct Keyset {
    slots: Vec<Slot>,
    primary: KeyId,
    /// Where blocks of seals come from, when a store shares the keys between processes.
    reservations: Option<Reservations>,
}

/// Writes envelope v1 for `header` (key id and nonce already chosen).
pub(crate) fn seal_envelope(
    cipher: &Cipher,
    header: EnvelopeHeader,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let head = header.to_bytes();
    let mut out = Vec::with_capacity(plaintext.len() + ENVELOPE_OVERHEAD);
    out.extend_from_slice(&head);
    aead::seal_into(cipher, &header.nonce, &head, aad, plaintext, &mut out)?;
    Ok(out)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Keyset {
    /// A keyset with one fresh random key, which is primary.
    ///
    /// # Panics
    ///
    /// Only if the operating system cannot provide random bytes; see [`Keyset::try_generate`].
    #[must_use]
    pub fn generate() -> Keyset {
        match Keyset::try_generate() {
            Ok(k) => k,
            #[allow(
                clippy::panic,
                reason = "documented: no safe key exists without an OS RNG"
            )]
            Err(e) => panic!("{e}"),
        }
    }

    /// A keyset with one fresh random key, or [`CryptoError::Random`].
    pub fn try_generate() -> Result<Keyset, CryptoError> {
        let mut ks = Keyset {
            slots: Vec::new(),
            primary: 0,
            reservations: None,
        };
        ks.rotate()?;
        Ok(ks)
    }

    /// Adds a fresh random key, makes it primary and returns its id. Older keys stay enabled,
    /// so envelopes they sealed still open.
    pub fn rotate(&mut self) -> Result<KeyId, CryptoError> {
        if self.slots.len() >= MAX_KEYS {
            return Err(CryptoError::TooManyKeys { max: MAX_KEYS });
        }
        let id = loop {
            let candidate = rng::u32()?;
            if candidate != 0 && self.slot(candidate).is_none() {
                break candidate;
            }
        };
        let key = Key::try_generate()?;
        self.slots
            .push(Slot::new(id, KeyStatus::Enabled, now(), Some(key), 0));
        if self.reservations.is_some()
            && let Some(s) = self.slots.last()
        {
            s.seals.empty_hand();
        }
        self.primary = id;
        Ok(id)
    }

    /// The id of the key that seals.
    #[must_use]
    pub fn primary_id(&self) -> KeyId {
        self.primary
    }

    fn slot(&self, id: KeyId) -> Option<&Slot> {
        self.slots.iter().find(|s| s.id == id)
    }

    fn slot_mut(&mut self, id: KeyId) -> Result<&mut Slot, CryptoError> {
        self.slots
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(CryptoError::UnknownKey(id))
    }

    /// Enables a disabled key (no-op if enabled). A destroyed key cannot come back.
    pub fn enable(&mut self, id: KeyId) -> Result<(), CryptoError> {
        let slot = self.slot_mut(id)?;
        match slot.status {
            KeyStatus::Destroyed => Err(CryptoError::KeyDestroyed(id)),
            _ => {
                slot.status = KeyStatus::Enabled;
                Ok(())
            }
        }
    }

    /// Disables a key (no-op if disabled). The primary key cannot be disabled: rotate first.
    pub fn disable(&mut self, id: KeyId) -> Result<(), CryptoError> {
        if id == self.primary {
            return Err(CryptoError::PrimaryKey(id));
        }
        let slot = self.slot_mut(id)?;
        match slot.status {
            KeyStatus::Destroyed => Err(CryptoError::KeyDestroyed(id)),
            _ => {
                slot.status = KeyStatus::Disabled;
                Ok(())
            }
        }
    }

    /// Wipes a key's material and keeps a tombstone (no-op if already destroyed). The primary
    /// key cannot be destroyed: rotate first.
    pub fn destroy(&mut self, id: KeyId) -> Result<(), CryptoError> {
        if id == self.primary {
            return Err(CryptoError::PrimaryKey(id));
        }
        let slot = self.slot_mut(id)?;
        slot.status = KeyStatus::Destroyed;
        // Dropping the key and the cipher zeroizes both.
        slot.material = None;
        Ok(())
    }

    /// Removes the tombstone of a destroyed key, so its id is forgotten (opening its envelopes
    /// then reports [`CryptoError::UnknownKey`]). Frees room under [`MAX_KEYS`].
    pub fn purge(&mut self, id: KeyId) -> Result<(), CryptoError> {
        let slot = self.slot_mut(id)?;
        if slot.status != KeyStatus::Destroyed {
            return Err(CryptoError::InvalidKeyset(
                "only a destroyed key can be purged",
            ));
        }
        self.slots.retain(|s| s.id != id);
        Ok(())
    }

    /// Seals `plaintext` with the primary key into an envelope v1 (see `FORMAT.md`):
    /// `0x01 | key_id u32 BE | nonce[12] | ciphertext | tag[16]`, authenticated together with
    /// `aad` (which is not stored: pass the same `aad` to [`open`](Keyset::open)).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let slot = self
            .slot(self.primary)
            .ok_or(CryptoError::UnknownKey(self.primary))?;
        let (_, cipher) = slot
            .material
            .as_ref()
            .ok_or(CryptoError::KeyDestroyed(slot.id))?;
        if slot.status != KeyStatus::Enabled {
            return Err(CryptoError::KeyDisabled(slot.id));
        }
        if plaintext.len() as u64 > aead::MAX_PLAINTEXT {
            return Err(CryptoError::TooLarge {
                len: plaintext.len() as u64,
                max: aead::MAX_PLAINTEXT,
            });
        }
        take_seal(slot.id, &slot.seals, self.reservations.as_ref())?;
        let mut nonce = [0u8; NONCE_LEN];
        rng::fill(&mut nonce)?;
        seal_envelope(
            cipher,
            EnvelopeHeader {
                key_id: slot.id,
                nonce,
            },
            plaintext,
            aad,
        )
    }

    /// Opens an envelope sealed by [`seal`](Keyset::seal) with the same `aad`. The key is the
    /// one named in the header; a disabled, destroyed or unknown id is reported as such.
    pub fn open(&self, envelope: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (header, body) = envelope::parse(envelope)?;
        let cipher = self.opening_cipher(header.key_id)?;
        aead::open(
            cipher,
            &header.nonce,
            &envelope[..ENVELOPE_HEADER_LEN],
            aad,
            body,
        )
    }

    /// Like [`open`](Keyset::open), but decrypts inside `envelope` and returns the plaintext as
    /// a slice of it: no allocation, no copy. The caller owns the buffer and should wipe it
    /// when done (e.g. keep it in a `Zeroizing`). On any error the buffer is left unchanged;
    /// no unauthenticated plaintext is ever written into it.
    pub fn open_in_place<'b>(
        &self,
        envelope: &'b mut [u8],
        aad: &[u8],
    ) -> Result<&'b [u8], CryptoError> {
        let (header, _) = envelope::parse(envelope)?;
        let cipher = self.opening_cipher(header.key_id)?;
        let (head, body) = envelope.split_at_mut(ENVELOPE_HEADER_LEN);
        aead::open_in_place(cipher, &header.nonce, head, aad, body)
    }

    fn opening_cipher(&self, id: KeyId) -> Result<&Cipher, CryptoError> {
        let slot = self.slot(id).ok_or(CryptoError::UnknownKey(id))?;
        match slot.status {
            KeyStatus::Enabled => {}
            KeyStatus::Disabled => return Err(CryptoError::KeyDisabled(id)),
            KeyStatus::Destroyed => return Err(CryptoError::KeyDestroyed(id)),
        }
        let (_, cipher) = slot
            .material
            .as_ref()
            .ok_or(CryptoError::KeyDestroyed(id))?;
        Ok(cipher)
    }

    /// Public facts about every key, in creation order.
    #[must_use]
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.slots
            .iter()
            .map(|s| KeyInfo {
                id: s.id,
                status: s.status,
                primary: s.id == self.primary,
                created: s.created,
            })
            .collect()
    }

    /// The material of key `id`; `None` if unknown or destroyed.
    #[must_use]
    pub fn key(&self, id: KeyId) -> Option<&Key> {
        self.slot(id)
            .and_then(|s| s.material.as_ref())
            .map(|(k, _)| k)
    }

    /// How many messages key `id` has sealed (as far as this keyset and the bytes it was loaded
    /// from know); `None` if unknown.
    #[must_use]
    pub fn seal_count(&self, id: KeyId) -> Option<u64> {
        self.slot(id).map(|s| s.seals.used())
    }

    /// Raises key `id`'s seal count to at least `count` (never lowers it). Use it when keys are
    /// restored with [`from_entries`](Keyset::from_entries) from storage that records counts.
    pub fn record_seals(&mut self, id: KeyId, count: u64) -> Result<(), CryptoError> {
        let slot = self.slot_mut(id)?;
        slot.seals.raise_to(count);
        Ok(())
    }

    /// Makes every key take its seals in blocks from `reserver` (see [`SealReserver`]): from
    /// now on a key seals only within a block the reserver handed out, and asks for the next
    /// block when one is used up. A store shared by several processes uses this so that the
    /// per-key limit holds across all of them and across restarts. Keys added later by
    /// [`rotate`](Keyset::rotate) reserve the same way.
    pub fn set_seal_reserver(&mut self, reserver: Arc<dyn SealReserver>) {
        for s in &self.slots {
            s.seals.empty_hand();
        }
        self.reservations = Some(Reservations::new(reserver));
    }

    /// The keyset decomposed into entries (copies of the material), e.g. to store each key in
    /// its own keychain item. Rebuild with [`from_entries`](Keyset::from_entries).
    #[must_use]
    pub fn entries(&self) -> Vec<KeyEntry> {
        self.slots
            .iter()
            .map(|s| KeyEntry {
                id: s.id,
                status: s.status,
                created: s.created,
                key: s.material.as_ref().map(|(k, _)| k.clone()),
            })
            .collect()
    }

    /// Rebuilds a keyset from entries. Checks: 1..=[`MAX_KEYS`] entries, ids non-zero and
    /// unique, material present iff not destroyed, `primary` present and enabled.
    /// Seal counts start at zero; restore them with [`record_seals`](Keyset::record_seals).
    pub fn from_entries(entries: Vec<KeyEntry>, primary: KeyId) -> Result<Keyset, CryptoError> {
        let slots = entries
            .into_iter()
            .map(|e| (e.id, e.status, e.created, e.key, 0))
            .collect::<Vec<_>>();
        Keyset::build(slots, primary)
    }

    fn build(
        raw: Vec<(KeyId, KeyStatus, u64, Option<Key>, u64)>,
        primary: KeyId,
    ) -> Result<Keyset, CryptoError> {
        if raw.is_empty() {
            return Err(CryptoError::InvalidKeyset("no keys"));
        }
        if raw.len() > MAX_KEYS {
            return Err(CryptoError::TooManyKeys { max: MAX_KEYS });
        }
        let mut slots: Vec<Slot> = Vec::with_capacity(raw.len());
        for (id, status, created, key, seals) in raw {
            if id == 0 {
                return Err(CryptoError::InvalidKeyset("key id 0 is reserved"));
            }
            if slots.iter().any(|s| s.id == id) {
                return Err(CryptoError::InvalidKeyset("duplicate key id"));
            }
            match (status, &key) {
                (KeyStatus::Destroyed, Some(_)) => {
                    return Err(CryptoError::InvalidKeyset(
                        "a destroyed key still has material",
                    ));
                }
                (KeyStatus::Enabled | KeyStatus::Disabled, None) => {
                    return Err(CryptoError::InvalidKeyset("a live key has no material"));
                }
                _ => {}
            }
            slots.push(Slot::new(id, status, created, key, seals));
        }
        match slots.iter().find(|s| s.id == primary) {
            None => Err(CryptoError::InvalidKeyset("the primary id names no key")),
            Some(s) if s.status != KeyStatus::Enabled => {
                Err(CryptoError::InvalidKeyset("the primary key is not enabled"))
            }
            Some(_) => Ok(Keyset {
                slots,
                primary,
                reservations: None,
            }),
        }
    }

    /// Serialises the keyset, material included (format "keyset v1" in `FORMAT.md`). The result
    /// is secret: store it only where keys belong (an OS keychain). Seal counts are included.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let len = KEYSET_HEADER_LEN
            + self
                .slots
                .iter()
                .map(|s| ENTRY_LEN + if s.material.is_some() { KEY_LEN } else { 0 })
                .sum::<usize>();
        // Exact capacity: the buffer never reallocates, so no copy of the keys is left behind.
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.extend_from_slice(KEYSET_MAGIC);
        out.push(KEYSET_VERSION);
        out.extend_from_slice(&self.primary.to_be_bytes());
        // At most MAX_KEYS (1024) slots, so the count fits in u16.
        let count = u16::try_from(self.slots.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for s in &self.slots {
            out.extend_from_slice(&s.id.to_be_bytes());
            out.push(s.status.to_byte());
            out.extend_from_slice(&s.created.to_be_bytes());
            out.extend_from_slice(&s.seals.used().to_be_bytes());
            if let Some((k, _)) = &s.material {
                out.extend_from_slice(k.expose_secret());
            }
        }
        out
    }

    /// Parses [`to_bytes`](Keyset::to_bytes) output. Strict: wrong magic, unknown version, a
    /// count over [`MAX_KEYS`], input over [`MAX_KEYSET_LEN`], trailing bytes, and every
    /// [`from_entries`](Keyset::from_entries) rule are errors; nothing is allocated before the
    /// length is checked.
    pub fn from_bytes(b: &[u8]) -> Result<Keyset, CryptoError> {
        if b.len() > MAX_KEYSET_LEN {
            return Err(CryptoError::TooLarge {
                len: b.len() as u64,
                max: MAX_KEYSET_LEN as u64,
            });
        }
        let mut r = Reader(b);
        if r.take(4)? != KEYSET_MAGIC {
            return Err(CryptoError::Malformed("not a keyset (bad magic)"));
        }
        let version = r.u8()?;
        if version != KEYSET_VERSION {
            return Err(CryptoError::UnsupportedVersion(version));
        }
        let primary = r.u32()?;
        let count = usize::from(r.u16()?);
        if count > MAX_KEYS {
            return Err(CryptoError::TooManyKeys { max: MAX_KEYS });
        }
        let mut raw = Vec::with_capacity(count);
        for _ in 0..count {
            let id = r.u32()?;
            let status = KeyStatus::from_byte(r.u8()?)?;
            let created = r.u64()?;
            let seals = r.u64()?;
            let key = match status {
                KeyStatus::Destroyed => None,
                _ => Some(Key::from_bytes(r.take(KEY_LEN)?)?),
            };
            raw.push((id, status, created, key, seals));
        }
        if !r.0.is_empty() {
            return Err(CryptoError::Malformed("trailing bytes after the last key"));
        }
        Keyset::build(raw, primary)
    }
}

/// Keyset serialisation: magic.
pub(crate) const KEYSET_MAGIC: &[u8; 4] = b"SLKS";
/// Keyset serialisation: version.
pub(crate) const KEYSET_VERSION: u8 = 1;
/// magic(4) + version(1) + primary(4) + count(2).
const KEYSET_HEADER_LEN: usize = 11;
/// id(4) + status(1) + created(8) + seals(8), then 32 bytes of key unless destroyed.
const ENTRY_LEN: usize = 21;
/// Largest serialised keyset accepted by [`Keyset::from_bytes`].
pub const MAX_KEYSET_LEN: usize = KEYSET_HEADER_LEN + MAX_KEYS * (ENTRY_LEN + KEY_LEN);

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CryptoError> {
        if self.0.len() < n {
            return Err(CryptoError::Malformed("keyset is truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, CryptoError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CryptoError> {
        let mut a = [0u8; 2];
        a.copy_from_slice(self.take(2)?);
        Ok(u16::from_be_bytes(a))
    }
    fn u32(&mut self) -> Result<u32, CryptoError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, CryptoError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

impl fmt::Debug for Keyset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyset")
            .field("primary", &self.primary)
            .field("keys", &self.keys())
            .finish()
    }
}
