#!/usr/bin/env bash
# Go binding (ffi/go): `go vet` and `go test` of the cgo module against the shared library.
# Standard library only, and no module proxy or checksum database is ever asked (offline).
set -euo pipefail
cd "$(dirname "$0")/../.."

# libsecllama_ffi.{a,so} and the secllama-runner binary. The same command nextest builds with
# (a no-op after it): `cargo build -p ...` would resolve features without the workspace's
# dev-dependencies and rebuild llama.cpp for nothing.
cargo test --workspace --locked --no-run
lib="$(realpath "${CARGO_TARGET_DIR:-target}")/debug"

export CGO_ENABLED=1 CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local
export SECLLAMA_RUNNER_PATH="$lib/secllama-runner"
cd ffi/go
go version
go vet ./...
go test -count=1 -v ./...
