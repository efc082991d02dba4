#!/usr/bin/env bash
# Go binding (ffi/go): `go vet` and `go test` of the cgo module against the shared library.
# Standard library only, and no module proxy or checksum database is ever asked (offline).
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

export CGO_ENABLED=1 CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local
cd ffi/go
go version
go vet ./...
go test -count=1 -v ./...
