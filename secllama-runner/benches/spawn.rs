//! Spawn cost, side by side in one run (criterion, one group): a plain spawn + wait of
//! `/bin/true`, the same sandboxed with the default policy, and a runner's spawn + sandbox +
//! session handshake (key pipe, sealed channel, the load request) up to its answer, with model
//! loading excluded: the "model" is a file that is not GGUF, which the runner refuses before
//! llama.cpp sees it. The runner without its sandbox is the fourth line.
//!
//! ```sh
//! SECLLAMA_RUNNER_PATH=target/debug/secllama-runner \
//!     cargo bench -p secllama-runner --no-default-features --bench spawn
//! ```
//!
//! The host side needs no llama.cpp (`--no-default-features`); the runner binary is whichever
//! `SECLLAMA_RUNNER_PATH` names (default: next to the bench, `target/release/secllama-runner`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use secllama_runner::{Runner, RunnerConfig, RunnerError, SandboxMode, Strictness};

fn runner_path() -> PathBuf {
    std::env::var_os("SECLLAMA_RUNNER_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/secllama-runner"))
}

fn spawn(c: &mut Criterion) {
    let program = if std::path::Path::new("/bin/true").exists() {
        "/bin/true"
    } else {
        "/usr/bin/true"
    };
    let policy = secllama_sandbox::SandboxPolicy::new();
    // Warm the capability cache (probe() forks once per process), as a long-lived host would.
    let _ = secllama_sandbox::probe();
    let dir = tempfile::tempdir().unwrap();
    let not_gguf = dir.path().join("not-a-model.gguf");
    std::fs::write(&not_gguf, b"this is not a GGUF file").unwrap();
    let config = |sandbox: SandboxMode| {
        RunnerConfig::new(&not_gguf)
            .unwrap()
            .with_runner_path(runner_path())
            .with_sandbox(sandbox)
            .with_encryption(true)
    };
    let handshake = |sandbox: SandboxMode| match Runner::spawn(config(sandbox)) {
        Err(RunnerError::InvalidModel(_)) => true,
        other => panic!("the runner should refuse the file as a model: {other:?}"),
    };

    let mut group = c.benchmark_group("spawn");
    group.bench_function("true_plain", |b| {
        b.iter(|| black_box(Command::new(program).status().is_ok_and(|s| s.success())))
    });
    group.bench_function("true_sandboxed", |b| {
        b.iter(|| {
            let mut cmd = Command::new(program);
            let ok = policy.apply_to(&mut cmd).is_ok();
            black_box(ok && cmd.status().is_ok_and(|s| s.success()))
        })
    });
    group.bench_function("runner_handshake_sandboxed", |b| {
        b.iter(|| black_box(handshake(SandboxMode::Enabled(Strictness::Strict))))
    });
    group.bench_function("runner_handshake_unsandboxed", |b| {
        b.iter(|| black_box(handshake(SandboxMode::Disabled)))
    });
    group.finish();
}

criterion_group!(benches, spawn);
criterion_main!(benches);
