//! The sandboxed, encrypted llama.cpp runner.
//!
//! This crate is being built (see the workspace README); it has no public API yet.
