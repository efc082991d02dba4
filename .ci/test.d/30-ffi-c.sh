#!/usr/bin/env bash
# C binding (ffi/c): the example and the C test suite against ffi/include/secllama.h, linked
# with the static library, run plain and under AddressSanitizer (LeakSanitizer included: a
# leaked handle or buffer fails the run), then the non-runner groups against the shared
# library under valgrind (definite/indirect leaks and invalid accesses fail). The runner group
# is not run under valgrind: it spawns the model process (not traced) and only adds ~10x
# slower AES-GCM on the host side; ASan covers that group. The header's freshness is checked
# by `cargo nextest` (ffi/tests/header.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."

# libsecllama_ffi.{a,so} and the secllama-runner binary. The same command nextest builds with
# (a no-op after it): `cargo build -p ...` would resolve features without the workspace's
# dev-dependencies and rebuild llama.cpp for nothing.
cargo test --workspace --locked --no-run
target=$(realpath "${CARGO_TARGET_DIR:-target}")
export SECLLAMA_RUNNER_PATH="$target/debug/secllama-runner"
make -C ffi/c clean
make -C ffi/c TARGET_DIR="$target" test
make -C ffi/c TARGET_DIR="$target" test-asan
make -C ffi/c TARGET_DIR="$target" test-valgrind
