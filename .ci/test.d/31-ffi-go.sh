#!/usr/bin/env bash
# Go binding (ffi/go): `go vet` and `go test -race` of the cgo module against the shared library.
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
go test -race -count=1 -timeout 30m -v ./...

# The module setup ffi/go's package doc gives: an app module of its own, built from its own
# directory with require + replace and absolute library paths.
app=$(mktemp -d)
trap 'rm -rf "$app"' EXIT
cat > "$app/go.mod" <<EOF
module example.com/app

go 1.19

require secllama v0.0.0

replace secllama => $PWD
EOF
cat > "$app/main.go" <<'EOF'
package main

import (
	"fmt"

	"secllama"
)

func main() {
	ks, err := secllama.GenerateKeyset()
	if err != nil {
		panic(err)
	}
	defer ks.Close()
	env, _ := ks.Seal([]byte("sealed from an app module"), nil)
	pt, err := ks.Open(env, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(pt))
}
EOF
(cd "$app" && go run .) | grep -qx "sealed from an app module"
