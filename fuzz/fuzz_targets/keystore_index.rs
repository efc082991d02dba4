//! The keystore's index entry and key entry parsers: arbitrary bytes never panic, an index that
//! parses re-encodes to one that parses to the same keys, and a key entry is accepted only as
//! 44 bytes of standard base64 of 32 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secllama_crypto::KeyStatus;
use secllama_keystore::internal::{encode_index_entry, parse_index_entry, parse_key_entry};
use secllama_keystore::{KEY_ENTRY_LEN, MAX_INDEX_LEN, MAX_KEYS};

fuzz_target!(|data: &[u8]| {
    match parse_index_entry(data) {
        Ok(keys) => {
            assert!(data.len() <= MAX_INDEX_LEN);
            assert!(!keys.is_empty() && keys.len() <= MAX_KEYS);
            let primaries: Vec<_> = keys.iter().filter(|k| k.primary).collect();
            assert_eq!(primaries.len(), 1);
            assert_eq!(primaries[0].status, KeyStatus::Enabled);
            for (i, k) in keys.iter().enumerate() {
                assert!(keys[..i].iter().all(|o| o.id != k.id), "duplicate id accepted");
            }
            let text = encode_index_entry(&keys).expect("a parsed index re-encodes");
            assert!(text.len() <= MAX_INDEX_LEN);
            assert_eq!(parse_index_entry(text.as_bytes()).expect("re-encoded parses"), keys);
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            if data.len() > MAX_INDEX_LEN {
                assert!(reason.contains("allowed"), "{reason}");
            }
        }
    }
    match parse_key_entry(data) {
        Ok(()) => {
            assert_eq!(data.len(), KEY_ENTRY_LEN);
            assert_eq!(data[KEY_ENTRY_LEN - 1], b'=');
        }
        Err(reason) => {
            // The reason never echoes the entry (it would be key material).
            if data.len() == KEY_ENTRY_LEN {
                let s = String::from_utf8_lossy(data);
                assert!(!reason.contains(s.as_ref()), "{reason}");
            }
        }
    }
});
