//! `Keystore::load()` latency — the keychain round trip — for a 1-key and a 32-key keyset, on
//! the real Secret Service and the real kernel keyring, with keyring-core's in-memory mock store
//! measured in the same run as the baseline (the cost of our own parsing and key setup).
//!
//! A backend that is not reachable is skipped with a message. To measure both real backends,
//! run inside a private D-Bus session with gnome-keyring unlocked and a session keyring:
//!
//! ```sh
//! dbus-run-session -- bash -c '
//!   export XDG_DATA_HOME=$(mktemp -d) XDG_RUNTIME_DIR=$(mktemp -d)
//!   printf pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null
//!   keyctl session - cargo bench -p secllama-keystore --bench load'
//! ```

// A benchmark states its preconditions loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use secllama_keystore::{Backend, Keystore, KeystoreConfig};

fn open(backend: Option<Backend>, service: &str, dir: &std::path::Path) -> Option<Keystore> {
    let config = KeystoreConfig::new(service).ok()?.lock_dir(dir);
    let opened = match backend {
        Some(b) => Keystore::open(config.backend(b)),
        None => keyring_core::mock::Store::new()
            .map_err(|e| secllama_keystore::KeystoreError::Backend {
                backend: Backend::SecretService,
                detail: e.to_string(),
            })
            .and_then(|s| Keystore::open_with_store(config, Backend::SecretService, s)),
    };
    match opened {
        Ok(k) => Some(k),
        Err(e) => {
            eprintln!("skipping {}: {e}", backend.map_or("mock", Backend::name));
            None
        }
    }
}

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("load");
    group.measurement_time(Duration::from_secs(5));
    let backends = [
        ("mock", None),
        ("secret-service", Some(Backend::SecretService)),
        ("keyutils", Some(Backend::Keyutils)),
    ];
    for (name, backend) in backends {
        for keys in [1usize, 32] {
            let service = format!("secllama-bench-{name}-{keys}-{}", std::process::id());
            let Some(ks) = open(backend, &service, dir.path()) else {
                continue;
            };
            ks.init().expect("init");
            for _ in 1..keys {
                ks.rotate().expect("rotate");
            }
            assert_eq!(ks.load().expect("load").keys().len(), keys);
            group.bench_with_input(BenchmarkId::new(name, keys), &keys, |b, _| {
                b.iter(|| black_box(ks.load().expect("load")));
            });
            ks.delete().expect("delete");
        }
    }
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
