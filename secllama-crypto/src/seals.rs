//! Seal budgets: how many messages a key may still seal, and where more come from.
//!
//! On its own a [`Keyset`](crate::Keyset) counts each key's seals in memory and refuses the
//! [`MAX_SEALS_PER_KEY`](crate::MAX_SEALS_PER_KEY)+1st. A keyset that several processes load
//! from one store cannot count that way (each process would start from the stored count), so
//! the store hands out **blocks** of seal numbers instead: a [`SealReserver`] attached with
//! [`Keyset::set_seal_reserver`](crate::Keyset::set_seal_reserver) is asked for the next block
//! whenever the current one is used up, and records it durably before the keyset uses it. A
//! crash then wastes the rest of a block; it never hands the same numbers out twice.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{CryptoError, KeyId, MAX_SEALS_PER_KEY};

/// Hands out blocks of seal numbers for a key, recorded where every user of the key sees them
/// (e.g. the keychain entry of the key).
///
/// ```
/// use std::ops::Range;
/// use std::sync::{Arc, Mutex};
/// use secllama_crypto::{CryptoError, KeyId, Keyset, SealReserver};
///
/// /// Two seals at a time, counted in memory (a real reserver writes the count to storage).
/// struct Pairs(Mutex<u64>);
/// impl SealReserver for Pairs {
///     fn reserve(&self, _id: KeyId) -> Result<Range<u64>, CryptoError> {
///         let mut next = self.0.lock().map_err(|_| CryptoError::Reservation("poisoned".into()))?;
///         let block = *next..*next + 2;
///         *next = block.end;
///         Ok(block)
///     }
/// }
///
/// let mut keyset = Keyset::generate();
/// let id = keyset.primary_id();
/// keyset.set_seal_reserver(Arc::new(Pairs(Mutex::new(0))));
/// for _ in 0..3 {
///     keyset.seal(b"x", b"")?;
/// }
/// assert_eq!(keyset.seal_count(id), Some(3)); // the second block is in use
/// # Ok::<(), CryptoError>(())
/// ```
pub trait SealReserver: Send + Sync {
    /// Reserves the next block of seal numbers for key `id` and returns it, after recording it
    /// durably. The block must be non-empty and end at most at
    /// [`MAX_SEALS_PER_KEY`](crate::MAX_SEALS_PER_KEY).
    ///
    /// # Errors
    /// [`CryptoError::KeyExhausted`] when no seals are left; [`CryptoError::KeyDisabled`] or
    /// [`CryptoError::KeyDestroyed`] when the store says the key may no longer seal;
    /// [`CryptoError::Reservation`] when the store cannot be reached.
    fn reserve(&self, id: KeyId) -> Result<Range<u64>, CryptoError>;
}

/// One key's seal counter: `used` seals made, `limit` the end of the block in hand.
pub(crate) struct Budget {
    used: AtomicU64,
    limit: AtomicU64,
}

impl Budget {
    /// A counter at `used`, allowed up to the global limit (no reserver).
    pub(crate) fn new(used: u64) -> Budget {
        Budget {
            used: AtomicU64::new(used),
            limit: AtomicU64::new(MAX_SEALS_PER_KEY),
        }
    }

    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    pub(crate) fn raise_to(&self, count: u64) {
        self.used.fetch_max(count, Ordering::SeqCst);
    }

    /// Takes one seal from the block in hand; `false` when the block is used up.
    fn take(&self) -> bool {
        let limit = self.limit.load(Ordering::SeqCst).min(MAX_SEALS_PER_KEY);
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Switches to a new block from a reserver: nothing is counted before it.
    fn start_block(&self, block: &Range<u64>) {
        self.limit.store(block.end, Ordering::SeqCst);
        self.used.store(block.start, Ordering::SeqCst);
    }

    /// With a reserver, nothing is in hand until the first block is reserved.
    pub(crate) fn empty_hand(&self) {
        self.limit.store(0, Ordering::SeqCst);
    }
}

/// The reserver of a keyset, with a lock so that one thread reserves at a time.
pub(crate) struct Reservations {
    reserver: Arc<dyn SealReserver>,
    lock: std::sync::Mutex<()>,
}

impl Reservations {
    pub(crate) fn new(reserver: Arc<dyn SealReserver>) -> Reservations {
        Reservations {
            reserver,
            lock: std::sync::Mutex::new(()),
        }
    }
}

/// Takes one seal of key `id`, reserving a new block through `reservations` when the one in
/// hand is used up (without a reserver, the global limit applies).
pub(crate) fn take_seal(
    id: KeyId,
    budget: &Budget,
    reservations: Option<&Reservations>,
) -> Result<(), CryptoError> {
    if budget.take() {
        return Ok(());
    }
    let Some(r) = reservations else {
        return Err(CryptoError::KeyExhausted(id));
    };
    let _one_at_a_time = r
        .lock
        .lock()
        .map_err(|_| CryptoError::Reservation("a thread panicked while reserving".into()))?;
    // Another thread may have reserved while we waited.
    if budget.take() {
        return Ok(());
    }
    let block = r.reserver.reserve(id)?;
    if block.start >= block.end || block.end > MAX_SEALS_PER_KEY {
        return Err(CryptoError::Reservation(format!(
            "the store returned an invalid block {}..{}",
            block.start, block.end
        )));
    }
    budget.start_block(&block);
    if budget.take() {
        Ok(())
    } else {
        Err(CryptoError::KeyExhausted(id))
    }
}
