//! Spawn + wait of a trivial program: a plain `Command` vs the same command sandboxed with the
//! default policy (policy preparation included: Landlock ruleset, seccomp compilation, the
//! namespace and layer setup in the child). Both in one group, so the ratio is from one run.
//!
//! ```sh
//! cargo bench -p secllama-sandbox --bench spawn
//! ```

#[cfg(target_os = "linux")]
use std::hint::black_box;
#[cfg(target_os = "linux")]
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

#[cfg(target_os = "linux")]
fn spawn(c: &mut Criterion) {
    let program = if std::path::Path::new("/bin/true").exists() {
        "/bin/true"
    } else {
        "/usr/bin/true"
    };
    let policy = secllama_sandbox::SandboxPolicy::new();
    // Warm the capability cache (probe() forks once per process), as a long-lived host would.
    let _ = secllama_sandbox::probe();

    let mut group = c.benchmark_group("spawn_true");
    group.bench_function("plain", |b| {
        b.iter(|| {
            let status = Command::new(program).status();
            black_box(status.map(|s| s.success()).unwrap_or(false))
        })
    });
    group.bench_function("sandboxed", |b| {
        b.iter(|| {
            let mut cmd = Command::new(program);
            let ok = policy.apply_to(&mut cmd).is_ok();
            let status = cmd.status();
            black_box(ok && status.map(|s| s.success()).unwrap_or(false))
        })
    });
    // What apply_to costs in the parent alone (Landlock ruleset, paths, report), no spawn.
    group.bench_function("prepare_only", |b| {
        b.iter(|| {
            let mut cmd = Command::new(program);
            black_box(policy.apply_to(&mut cmd).is_ok())
        })
    });
    group.finish();
}

#[cfg(not(target_os = "linux"))]
fn spawn(_: &mut Criterion) {}

criterion_group!(benches, spawn);
criterion_main!(benches);
