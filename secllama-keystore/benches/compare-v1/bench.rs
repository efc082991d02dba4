//! `Keystore::load()` of keystore format 1 (the last commit before v2, built from git by
//! `run.sh`) and of this tree, side by side in one criterion group and one process, for a 1-key
//! and a 32-key keyset on keyring-core's mock store (the in-process baseline), the real Secret
//! Service and the real kernel keyring. Each pair is measured back to back so both see the same
//! machine load; the ratio new/old is what the README reports.
//!
//! Not part of the workspace (it needs the old crate): run it with `run.sh`.

// A benchmark states its preconditions loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// The backends, by the name both versions use.
const BACKENDS: [&str; 3] = ["mock", "secret-service", "keyutils"];

/// Opens format 1's keystore for `service` on `backend`; `None` (said on stderr) if unusable.
fn open_old(backend: &str, service: &str, dir: &Path) -> Option<secllama_keystore_v1::Keystore> {
    use secllama_keystore_v1::{Backend, Keystore, KeystoreConfig};
    let config = KeystoreConfig::new(service).ok()?.lock_dir(dir);
    let opened = match backend {
        "mock" => Keystore::open_with_store(
            config,
            Backend::SecretService,
            keyring_core::mock::Store::new().expect("mock store"),
        ),
        name => Keystore::open(config.backend(name.parse().expect("backend name"))),
    };
    opened
        .map_err(|e| eprintln!("skipping old {backend}: {e}"))
        .ok()
}

/// Opens this tree's keystore for `service` on `backend`; `None` (said on stderr) if unusable.
fn open_new(backend: &str, service: &str, dir: &Path) -> Option<secllama_keystore::Keystore> {
    use secllama_keystore::{Backend, Keystore, KeystoreConfig};
    let config = KeystoreConfig::new(service).ok()?.lock_dir(dir);
    let opened = match backend {
        "mock" => Keystore::open_with_store(
            config,
            Backend::SecretService,
            keyring_core::mock::Store::new().expect("mock store"),
        ),
        name => Keystore::open(config.backend(name.parse().expect("backend name"))),
    };
    opened
        .map_err(|e| eprintln!("skipping new {backend}: {e}"))
        .ok()
}

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("load");
    group.measurement_time(Duration::from_secs(5));
    for backend in BACKENDS {
        for keys in [1usize, 32] {
            let service =
                |v: &str| format!("secllama-bench-{v}-{backend}-{keys}-{}", std::process::id());
            if let Some(ks) = open_old(backend, &service("v1"), dir.path()) {
                ks.init().expect("init");
                for _ in 1..keys {
                    ks.rotate().expect("rotate");
                }
                assert_eq!(ks.load().expect("load").keys().len(), keys);
                group.bench_with_input(
                    BenchmarkId::new(format!("v1/{backend}"), keys),
                    &keys,
                    |b, _| {
                        b.iter(|| black_box(ks.load().expect("load")));
                    },
                );
                ks.delete().expect("delete");
            }
            if let Some(ks) = open_new(backend, &service("v2"), dir.path()) {
                ks.init().expect("init");
                for _ in 1..keys {
                    ks.rotate().expect("rotate");
                }
                assert_eq!(ks.load().expect("load").keys().len(), keys);
                group.bench_with_input(
                    BenchmarkId::new(format!("v2/{backend}"), keys),
                    &keys,
                    |b, _| {
                        b.iter(|| black_box(ks.load().expect("load")));
                    },
                );
                ks.delete().expect("delete");
            }
        }
    }
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
