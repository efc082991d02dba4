//! AES-256-GCM keysets, sealed envelopes and password sealing for SecLlama.
//!
//! This crate is being built (see the workspace README); it has no public API yet.
#![forbid(unsafe_code)]
