#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target in fuzz/ (AddressSanitizer, release with debug
# assertions) and runs each for a short bounded time from its committed seeds; any crash, leak
# or timeout fails CI. See fuzz/README.md for longer runs and for turning a crash into a test.
#
#   SECLLAMA_FUZZ_SECONDS   seconds per target (default 15)
#   SECLLAMA_FUZZ_FEATURES  fuzz crate features (default "runner ffi": every target; the runner
#                           and the C library are built without llama.cpp, which they do not need
#                           to parse bytes)
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"

seconds=${SECLLAMA_FUZZ_SECONDS:-15}
features=${SECLLAMA_FUZZ_FEATURES-runner ffi}
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, coverage); stable accepts them with this.
export RUSTC_BOOTSTRAP=1

say() { printf '\033[1m[fuzz]\033[0m %s\n' "$*" >&2; }

start=$SECONDS
cargo fuzz build -O --features "$features"
say "build took $((SECONDS - start)) s"

# Fuzz in a scratch corpus so CI never writes into the checkout (fuzz/corpus/ is ignored anyway).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
bins="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release"
failed=()
for target in $(cargo fuzz list); do
    if [ ! -x "$bins/$target" ]; then
        say "SKIPPED $target: not built (needs a feature not in '$features')"
        continue
    fi
    mkdir -p "$scratch/$target" "artifacts/$target"
    say "$target: ${seconds}s"
    if ! cargo fuzz run -O --features "$features" "$target" "$scratch/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1; then
        tail -n 60 "$scratch/$target.log" >&2
        failed+=("$target")
    else
        grep -E '^stat::number_of_executed_units' "$scratch/$target.log" >&2 || true
    fi
done
say "fuzzing took $((SECONDS - start)) s in all"
if [ ${#failed[@]} -gt 0 ]; then
    say "crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/; see fuzz/README.md)"
    exit 1
fi
