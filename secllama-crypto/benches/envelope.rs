//! Envelope v1 against raw AES-256-GCM on the same inputs, and PBKDF2 at the default count.
//!
//! `cargo bench -p secllama-crypto --bench envelope`; figures and the exact command used for
//! them are in the crate README.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use secllama_crypto::{Keyset, password};

const SIZES: [(usize, &str); 4] = [
    (64, "64 B"),
    (1024, "1 KiB"),
    (64 * 1024, "64 KiB"),
    (1024 * 1024, "1 MiB"),
];
const AAD: &[u8] = b"chat 1, message 2";

/// The raw baseline: the same AES-256-GCM with the same key bytes and a fixed nonce (the
/// envelope draws a fresh random nonce each time; that cost is part of what is measured).
fn raw_cipher(ks: &Keyset) -> Aes256Gcm {
    Aes256Gcm::new(ks.key(ks.primary_id()).unwrap().expose_secret().into())
}

fn seal(c: &mut Criterion) {
    let ks = Keyset::generate();
    let raw = raw_cipher(&ks);
    let nonce = Nonce::from([7u8; 12]);
    let mut g = c.benchmark_group("seal");
    for (size, label) in SIZES {
        let pt = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("raw aes-gcm", label), &pt, |b, pt| {
            b.iter(|| {
                raw.encrypt(
                    &nonce,
                    Payload {
                        msg: black_box(pt),
                        aad: AAD,
                    },
                )
                .unwrap()
            });
        });
        g.bench_with_input(BenchmarkId::new("envelope", label), &pt, |b, pt| {
            b.iter(|| ks.seal(black_box(pt), AAD).unwrap());
        });
    }
    g.finish();
}

fn open(c: &mut Criterion) {
    let ks = Keyset::generate();
    let raw = raw_cipher(&ks);
    let nonce = Nonce::from([7u8; 12]);
    let mut g = c.benchmark_group("open");
    for (size, label) in SIZES {
        let pt = vec![0x5au8; size];
        let raw_ct = raw.encrypt(&nonce, Payload { msg: &pt, aad: AAD }).unwrap();
        let env = ks.seal(&pt, AAD).unwrap();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("raw aes-gcm", label), &raw_ct, |b, ct| {
            b.iter(|| {
                raw.decrypt(
                    &nonce,
                    Payload {
                        msg: black_box(ct),
                        aad: AAD,
                    },
                )
                .unwrap()
            });
        });
        // Includes wiping the returned plaintext when it is dropped (Zeroizing).
        g.bench_with_input(BenchmarkId::new("envelope", label), &env, |b, env| {
            b.iter(|| ks.open(black_box(env), AAD).unwrap());
        });
    }
    g.finish();
}

/// The same, with the returned buffer dropped outside the timed loop: the difference to `open`
/// is what wiping the plaintext (envelope) or freeing it (raw) costs the caller.
fn open_drop_not_timed(c: &mut Criterion) {
    let ks = Keyset::generate();
    let raw = raw_cipher(&ks);
    let nonce = Nonce::from([7u8; 12]);
    let mut g = c.benchmark_group("open, drop not timed");
    for (size, label) in SIZES {
        let pt = vec![0x5au8; size];
        let raw_ct = raw.encrypt(&nonce, Payload { msg: &pt, aad: AAD }).unwrap();
        let env = ks.seal(&pt, AAD).unwrap();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("raw aes-gcm", label), &raw_ct, |b, ct| {
            b.iter_with_large_drop(|| {
                raw.decrypt(
                    &nonce,
                    Payload {
                        msg: black_box(ct),
                        aad: AAD,
                    },
                )
                .unwrap()
            });
        });
        g.bench_with_input(BenchmarkId::new("envelope", label), &env, |b, env| {
            b.iter_with_large_drop(|| ks.open(black_box(env), AAD).unwrap());
        });
        // Decrypts inside the caller's buffer (copied in first, like raw aes-gcm copies).
        g.bench_with_input(
            BenchmarkId::new("envelope open_in_place", label),
            &env,
            |b, env| {
                let mut buf = env.clone();
                b.iter(|| {
                    buf.copy_from_slice(env);
                    ks.open_in_place(black_box(&mut buf), AAD).unwrap().len()
                });
            },
        );
    }
    g.finish();
}

fn seal_open_1k(c: &mut Criterion) {
    let ks = Keyset::generate();
    let raw = raw_cipher(&ks);
    let nonce = Nonce::from([7u8; 12]);
    let pt = vec![0x5au8; 1024];
    let mut g = c.benchmark_group("seal+open");
    g.throughput(Throughput::Bytes(1024));
    g.bench_function(BenchmarkId::new("raw aes-gcm", "1 KiB"), |b| {
        b.iter(|| {
            let ct = raw
                .encrypt(
                    &nonce,
                    Payload {
                        msg: black_box(&pt),
                        aad: AAD,
                    },
                )
                .unwrap();
            raw.decrypt(&nonce, Payload { msg: &ct, aad: AAD }).unwrap()
        });
    });
    g.bench_function(BenchmarkId::new("envelope", "1 KiB"), |b| {
        b.iter(|| {
            ks.open(&ks.seal(black_box(&pt), AAD).unwrap(), AAD)
                .unwrap()
        });
    });
    g.finish();
}

fn pbkdf2(c: &mut Criterion) {
    let mut g = c.benchmark_group("pbkdf2-hmac-sha256");
    g.sample_size(10);
    g.bench_function("600000 iterations (derive only)", |b| {
        let mut out = [0u8; 32];
        b.iter(|| {
            secllama_crypto::internal::pbkdf2_hmac_sha256(
                black_box(b"password"),
                &[0u8; 16],
                password::DEFAULT_ITERATIONS,
                &mut out,
            );
        });
    });
    g.bench_function("password::seal 1 KiB (600000 iterations)", |b| {
        let pt = vec![0u8; 1024];
        b.iter(|| password::seal(black_box(b"password"), &pt, b"").unwrap());
    });
    g.finish();
}

criterion_group!(
    benches,
    seal,
    open,
    open_drop_not_timed,
    seal_open_1k,
    pbkdf2
);
criterion_main!(benches);
