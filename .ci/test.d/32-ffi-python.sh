#!/usr/bin/env bash
# Python binding (ffi/python): pytest of the `secllama` package (ctypes) against the shared
# library, found through SECLLAMA_LIB.
set -euo pipefail
cd "$(dirname "$0")/../.."

# libsecllama_ffi.{a,so} and the secllama-runner binary. The same command nextest builds with
# (a no-op after it): `cargo build -p ...` would resolve features without the workspace's
# dev-dependencies and rebuild llama.cpp for nothing.
cargo test --workspace --locked --no-run
lib="$(realpath "${CARGO_TARGET_DIR:-target}")/debug"

export SECLLAMA_LIB="$lib/libsecllama_ffi.so"
export SECLLAMA_RUNNER_PATH="$lib/secllama-runner"
cd ffi/python
python3 -m pytest -v -p no:cacheprovider tests
