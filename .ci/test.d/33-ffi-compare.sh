#!/usr/bin/env bash
# ffi/README.md's "same program against other clients": the README shows exactly the files of
# ffi/compare/ with their true line counts (check_readme.py), and the programs run: secllama's
# Python and Go ones against the default model, and the ollama Python client's one, unchanged,
# against `secllama serve` on loopback (its Ollama API, no token: --insecure-no-auth). The
# llama-cpp-python program is counted only: that package compiles llama.cpp when installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

python3 ffi/compare/check_readme.py

# The same command the other ffi parts build with (a no-op after them).
cargo test --workspace --locked --no-run
target=$(realpath "${CARGO_TARGET_DIR:-target}")
lib="$target/debug/deps"
export SECLLAMA_RUNNER_PATH="$target/debug/secllama-runner"
test -f "$lib/libsecllama_ffi.so" || { echo "no libsecllama_ffi.so in $lib" >&2; exit 1; }
test -x "$target/debug/secllama" || { echo "no secllama CLI in $target/debug" >&2; exit 1; }

scratch=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT
fail() { printf 'ffi compare: %s\n' "$*" >&2; exit 1; }
# Two streamed replies with some text; sampling makes the words vary from run to run.
check_output() { # check_output <name> <file>
    [ "$(tr -d '[:space:]' <"$2" | wc -c)" -ge 2 ] || fail "$1 printed nothing: $(cat "$2")"
    printf '%s: %s\n' "$1" "$(tr '\n' ' ' <"$2")" >&2
}
repo=$PWD
compare="$repo/ffi/compare"

(cd "$scratch" && SECLLAMA_LIB="$lib/libsecllama_ffi.so" PYTHONPATH="$repo/ffi/python" \
    timeout 300 python3 "$compare/secllama_chat.py") >"$scratch/python.out" || fail "secllama_chat.py failed"
check_output "secllama (Python)" "$scratch/python.out"

export CGO_ENABLED=1 CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib"
export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local
(cd "$compare/go" && go vet . && timeout 300 go run .) >"$scratch/go.out" || fail "go/main.go failed"
check_output "secllama (Go)" "$scratch/go.out"

if ! python3 -c 'import ollama' >/dev/null 2>&1; then
    [ "${CI:-}" = true ] && fail "the ollama Python client is missing in CI (.ci/deps.sh installs it)"
    echo "SKIPPED: ollama_chat.py (pip install ollama to run it)" >&2
    exit 0
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$target/debug/secllama" serve --quiet --insecure-no-auth --listen "127.0.0.1:$port" --threads 2 \
    --context-length 2048 --audit-log "$scratch/audit.log" 2>"$scratch/serve.err" &
server=$!
for _ in $(seq 120); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/api/tags', timeout=2)" \
        2>/dev/null && break
    kill -0 "$server" 2>/dev/null || fail "secllama serve exited: $(cat "$scratch/serve.err")"
    sleep 0.5
done
(cd "$scratch" && OLLAMA_HOST="127.0.0.1:$port" timeout 300 python3 "$compare/ollama_chat.py") \
    >"$scratch/ollama.out" || fail "ollama_chat.py against secllama serve failed: $(cat "$scratch/serve.err")"
check_output "ollama client against secllama serve" "$scratch/ollama.out"
echo "ffi compare: the README's programs match their files and all three ran" >&2
