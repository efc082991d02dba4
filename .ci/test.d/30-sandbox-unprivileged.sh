#!/usr/bin/env bash
# The sandbox proofs (secllama-sandbox/tests/all.rs) once more as an unprivileged user, uid 65534,
# when CI runs as root: without root the sandbox stands on unprivileged user namespaces, and that
# path must hold as well as the root one.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIPPED: not root, so the main test run already was the unprivileged one" >&2
    exit 0
fi
if ! command -v setpriv >/dev/null 2>&1; then
    echo "SKIPPED: setpriv (util-linux) is not installed" >&2
    exit 0
fi

bin=$(cargo test -p secllama-sandbox --test all --locked --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "all" and m.get("executable"):
        print(m["executable"])')
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if ! "${as_nobody[@]}" test -x "$bin"; then
    echo "SKIPPED: $bin is not reachable by uid 65534 (the checkout is under a private directory)" >&2
    exit 0
fi
scratch=$(mktemp -d)
chmod 777 "$scratch"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
"${as_nobody[@]}" env -i PATH=/usr/bin:/bin HOME="$scratch" TMPDIR="$scratch" "$bin"
