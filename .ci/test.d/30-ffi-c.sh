#!/usr/bin/env bash
# C binding (ffi/c): the example, the API tests (test_secllama.c) and the runner tests
# (test_runner.c) against ffi/include/secllama.h, linked with the static library, run plain and
# under AddressSanitizer (LeakSanitizer included: a leaked handle or buffer fails the run), then
# the API tests against the shared library under valgrind (definite/indirect leaks and invalid
# accesses fail). The runner tests are not run under valgrind: the model runs in a separate,
# untraced process and the host side is the same code ASan already covers. The header's
# freshness is checked by `cargo nextest` (ffi/tests/header.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."

# libsecllama_ffi.{a,so} and the secllama-runner binary. The same command nextest builds with
# (a no-op after it): `cargo build -p ...` would resolve features without the workspace's
# dev-dependencies and rebuild llama.cpp for nothing. A test build leaves the libraries in
# target/debug/deps (only `cargo build` copies them up) and the runner in target/debug.
cargo test --workspace --locked --no-run
target=$(realpath "${CARGO_TARGET_DIR:-target}")
lib="$target/debug/deps"
export SECLLAMA_RUNNER_PATH="$target/debug/secllama-runner"
test -f "$lib/libsecllama_ffi.so" -a -f "$lib/libsecllama_ffi.a" || { echo "no libsecllama_ffi in $lib" >&2; exit 1; }
test -x "$SECLLAMA_RUNNER_PATH" || { echo "no runner at $SECLLAMA_RUNNER_PATH" >&2; exit 1; }
ls -l "$lib/libsecllama_ffi.a" "$lib/libsecllama_ffi.so" ffi/include/secllama.h >&2
make -C ffi/c clean
make -C ffi/c LIBDIR="$lib" test
make -C ffi/c LIBDIR="$lib" test-asan
make -C ffi/c LIBDIR="$lib" test-valgrind
