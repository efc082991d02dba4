//! The GCM specification's AES-256 test cases through the crate's AEAD path.
mod common;
aead_kat_tests!(gcm_spec, crate::common::gcm_spec_aes256());
