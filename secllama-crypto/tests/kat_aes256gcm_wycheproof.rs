//! Wycheproof AES-256-GCM vectors through the crate's AEAD path.
mod common;
aead_kat_tests!(wycheproof, crate::common::wycheproof_aes256gcm());
