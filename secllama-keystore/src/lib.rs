//! SecLlama keysets stored in the OS keychain.
//!
//! This crate is being built (see the workspace README); it has no public API yet.
#![forbid(unsafe_code)]
