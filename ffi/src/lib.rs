//! The C ABI of SecLlama.
//!
//! This crate is being built (see the workspace README); it exports nothing yet.
