#!/usr/bin/env bash
# Python binding (ffi/python): mypy --strict on the package; pytest of the `secllama` package
# (ctypes) against the shared library, found through SECLLAMA_LIB; the close-from-the-callback
# case (the old use-after-free in the library, which ASan cannot see from Python) and closing a
# runner with two requests in flight under valgrind, invalid accesses only (the interpreter
# keeps its arenas until exit, so leaks are not checked); then `pip install ./ffi/python` into a fresh venv (the wheel carries the library
# and the runner; SECLLAMA_PREBUILT=1 packages the ones the test build made instead of running
# cargo again with other features) and a completion from /tmp with no SECLLAMA_* variable set.
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
python3 -m mypy --strict secllama
python3 -m pytest -v -p no:cacheprovider tests
# valgrind runs the interpreter itself: `python3` may be a launcher script (pyenv's shim is a
# bash script, and valgrind would check bash). Its runner is unsandboxed, as in 30-ffi-c.sh:
# valgrind does not know the sandbox's system calls; what it checks is this process. Invalid
# reads, writes and frees are errors; uninitialised values are not checked (the interpreter's
# own start-up reports some). First, proof that valgrind checks this interpreter at all.
py=$(python3 -c 'import sys; print(sys.executable)')
vg() { PYTHONMALLOC=malloc valgrind --quiet --error-exitcode=99 --leak-check=no --undef-value-errors=no "$@"; }
rc=0
vg "$py" -c 'import ctypes; ctypes.CDLL(None).free(ctypes.c_void_p(64))' 2>/dev/null || rc=$?
[ "$rc" = 99 ] || { echo "valgrind did not report an invalid free in $py (exit $rc)" >&2; exit 1; }
SECLLAMA_ENABLE_SANDBOX=false vg "$py" -m pytest -q -p no:cacheprovider tests/test_runner_misuse.py \
    tests/test_concurrent.py -k "close_from_the_callback or close_with_requests_in_flight"

cd ../..
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
SECLLAMA_PREBUILT=1 "$venv/bin/pip" install --quiet ./ffi/python
rm -rf ffi/python/build ffi/python/secllama.egg-info
(
    cd /tmp
    env -u SECLLAMA_LIB -u SECLLAMA_RUNNER_PATH "$venv/bin/python" - <<'EOF'
import secllama, secllama._lib as lib
assert lib.LOADED_FROM.startswith(secllama.__path__[0]), lib.LOADED_FROM
with secllama.Runner(threads=2, context_length=256) as r:
    text = r.complete("The capital of France is", secllama.GenerationParams.greedy(4)).text
assert text.strip(), text
print(f"installed package completed: {text!r}")
EOF
)
