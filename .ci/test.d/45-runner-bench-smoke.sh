#!/usr/bin/env bash
# The runner's benchmarks at their tiny smoke size, so the commands in the runner README keep
# working: engine v2 (prefix reuse, 1/2/4 streams, embeddings, peak RSS) and one request +
# spawn, each beside llama-cpp-2 in-process. Only that they run and print their tables is
# checked here (their figures are measured on an idle machine, never in CI), plus one count
# that does not depend on time: the warm request evaluates exactly the tokens after the shared
# prefix, the same number on both sides (the bench asserts it).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail() { printf 'runner bench smoke: %s\n' "$*" >&2; cat "$out" >&2; exit 1; }

BENCH_SMOKE=1 cargo bench --locked -p secllama-runner --profile dev --bench engine >"$out"
for row in '| cold |' '| warm: same document, other question |' '| 4 |' '| texts per second |' \
    '| 1 slot, after 1 stream |' '| 4 slots, loaded (before any request) |' \
    '| 4 slots, after 1, 2 and 4 streams |'; do
    grep -qF -- "$row" "$out" || fail "no row '$row'"
done

BENCH_SMOKE=1 cargo bench --locked -p secllama-runner --profile dev --bench generation >"$out"
grep -qF '| generation tokens/s |' "$out" || fail "no generation row"
echo "runner benches ran at smoke size" >&2
