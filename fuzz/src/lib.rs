//! Helpers shared by the fuzz targets: a fixed keyset and small input splitters.

use std::sync::OnceLock;

use secllama_crypto::Keyset;

/// Id of the fixed keyset's primary (enabled) key.
pub const PRIMARY_ID: u32 = 0x1111_1111;
/// Id of the fixed keyset's disabled key.
pub const DISABLED_ID: u32 = 0x2222_2222;
/// Id of the fixed keyset's destroyed key (a tombstone).
pub const DESTROYED_ID: u32 = 0x3333_3333;

/// The fixed keyset in its serialised form ("keyset v1", see secllama-crypto/FORMAT.md):
/// an enabled primary, a disabled key and a destroyed tombstone.
pub fn fixed_keyset_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"SLKS");
    b.push(1);
    b.extend_from_slice(&PRIMARY_ID.to_be_bytes());
    b.extend_from_slice(&3u16.to_be_bytes());
    for (id, status, fill) in [(PRIMARY_ID, 1u8, 0x11u8), (DISABLED_ID, 2, 0x22), (DESTROYED_ID, 3, 0)] {
        b.extend_from_slice(&id.to_be_bytes());
        b.push(status);
        b.extend_from_slice(&1_763_770_000u64.to_be_bytes()); // created
        b.extend_from_slice(&0u64.to_be_bytes()); // seals
        if status != 3 {
            b.extend_from_slice(&[fill; 32]);
        }
    }
    b
}

/// The fixed keyset, parsed once per process.
pub fn fixed_keyset() -> &'static Keyset {
    static KS: OnceLock<Keyset> = OnceLock::new();
    KS.get_or_init(|| Keyset::from_bytes(&fixed_keyset_bytes()).expect("the fixed keyset parses"))
}

/// Splits `data` into `(head, rest)` where the first byte gives the head's length (bounded by
/// what is there).
pub fn split_prefixed(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        None => (&[], &[]),
        Some((&n, rest)) => rest.split_at(usize::from(n).min(rest.len())),
    }
}

/// A cheap deterministic position derived from the input (for tamper checks).
pub fn pick(data: &[u8], modulo: usize) -> usize {
    if modulo == 0 {
        return 0;
    }
    let h = data
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (h % modulo as u64) as usize
}
