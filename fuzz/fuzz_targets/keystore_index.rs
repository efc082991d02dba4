//! The keystore's record parser (every keychain entry: key records, the primary record, the
//! index, format-1 entries): arbitrary bytes never panic, nothing over the size limit parses, a
//! parsed primary or index record re-encodes to bytes that parse the same way, and a reason
//! never echoes the entry (it could be key material).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secllama_keystore::MAX_RECORD_LEN;
use secllama_keystore::internal::{parse_record, reencode_record};

const SERVICE: &str = "secllama";

fuzz_target!(|data: &[u8]| {
    match parse_record(data, SERVICE) {
        Ok(kind) => {
            assert!(data.len() <= MAX_RECORD_LEN);
            if let Some(text) = reencode_record(data, SERVICE) {
                assert!(text.len() <= MAX_RECORD_LEN);
                assert_eq!(parse_record(text.as_bytes(), SERVICE), Ok(kind));
                assert_eq!(reencode_record(text.as_bytes(), SERVICE).as_deref(), Some(text.as_str()));
            }
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            if data.len() > MAX_RECORD_LEN {
                assert!(reason.contains("allowed"), "{reason}");
            }
            if data.len() >= 24 {
                let s = String::from_utf8_lossy(data);
                assert!(!reason.contains(s.as_ref()), "{reason}");
            }
        }
    }
});
