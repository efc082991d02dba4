//! Named steps of the multi-entry operations, where tests pause a process to kill it.
//!
//! In debug builds (tests), a process whose `SECLLAMA_KEYSTORE_TEST_PAUSE_AT` names a step
//! prints `PAUSED <step>` on stderr when it reaches it and then sleeps until it is killed: the
//! crash tests `kill -9` it there and check that one `repair` puts everything right. Release
//! builds compile this to nothing.

/// The environment variable naming the step to pause at (debug builds only).
pub(crate) const PAUSE_ENV: &str = "SECLLAMA_KEYSTORE_TEST_PAUSE_AT";

/// Every step, in the order the operations reach them.
pub const STEPS: [&str; 6] = [
    "rotate.key-written",
    "rotate.primary-written",
    "destroy.disabled",
    "destroy.tombstoned",
    "destroy.deleted",
    "settle.index-written",
];

/// Marks that the operation reached `step` (all its earlier keychain writes are done).
pub(crate) fn reached(step: &'static str) {
    #[cfg(debug_assertions)]
    if std::env::var_os(PAUSE_ENV).is_some_and(|v| v == step) {
        use std::io::Write as _;
        let mut err = std::io::stderr();
        let _ = writeln!(err, "PAUSED {step}");
        let _ = err.flush();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}
