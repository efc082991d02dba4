//! OS sandboxing for SecLlama runner processes.
//!
//! This crate is being built (see the workspace README); it has no public API yet.
