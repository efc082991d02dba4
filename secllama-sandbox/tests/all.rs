//! Proof that the sandbox holds: one integration binary, a module per concern. Every test runs
//! `secllama-sandbox-probe` inside a real sandbox, makes it attempt forbidden and allowed
//! things in the same run, and asserts the exact errno of each attempt.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests state expectations loudly

mod suite;
