#!/usr/bin/env bash
# Python binding (ffi/python): pytest of the `secllama` package (ctypes) against the shared
# library, found through SECLLAMA_LIB.
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

export SECLLAMA_LIB="$lib/libsecllama_ffi.so"
cd ffi/python
python3 -m pytest -v -p no:cacheprovider tests
