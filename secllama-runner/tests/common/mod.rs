//! Shared helpers of the end-to-end tests: the default model (skipped visibly when missing,
//! except under `CI=true`) and a strict, encrypted configuration for it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use secllama_runner::{
    CompletionRequest, DEFAULT_MODEL_SHA256, GenerationParams, RunnerConfig, SandboxMode,
    Strictness, default_model_path,
};

pub(crate) fn model() -> Option<PathBuf> {
    let path = std::env::var_os("SECLLAMA_TEST_MODEL")
        .map(PathBuf::from)
        .or_else(default_model_path)
        .expect("no model path: set SECLLAMA_TEST_MODEL or HOME");
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI: the default model is missing at {}; .ci/deps.sh must fetch it",
            path.display()
        );
    }
    eprintln!(
        "SKIPPED: no model at {} (run examples/fetch-model.sh)",
        path.display()
    );
    None
}

pub(crate) fn config(model: &PathBuf) -> RunnerConfig {
    RunnerConfig::new(model)
        .unwrap()
        .with_runner_path(env!("CARGO_BIN_EXE_secllama-runner"))
        .with_sha256(DEFAULT_MODEL_SHA256)
        .with_context_length(512)
        .with_threads(2)
        .with_encryption(true)
        .with_sandbox(SandboxMode::Enabled(Strictness::Strict))
}

pub(crate) fn greedy(prompt: &str, n: u32) -> CompletionRequest {
    CompletionRequest::new(prompt).with_params(GenerationParams::greedy(n))
}
