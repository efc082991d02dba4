#!/usr/bin/env bash
# GPU offload, actually run: a runner built with --features vulkan loads the default model on
# Mesa's lavapipe (a Vulkan device that runs on the CPU) inside the strict sandbox.
#
# 1. .ci/vulkan-sdk.sh: the Vulkan loader, lavapipe, glslc and spirv-headers from Debian 12,
#    Debian 13's Vulkan headers in a private directory (VULKAN_SDK).
# 2. The Vulkan runner, built in a target directory of its own outside the checkout
#    (SECLLAMA_VULKAN_TARGET_DIR, default ~/.cache/secllama/target-vulkan): the CPU build is not
#    invalidated, and cargo keeps llama.cpp's Vulkan build between CI runs on the same machine.
# 3. secllama-runner/tests/gpu.rs against it: backend, device and offloaded layers in ready, the
#    Vulkan driver in the runner's memory maps, the CPU run's greedy first word, and a clear
#    GpuUnavailable without any one GPU grant; then, with VK_DRIVER_FILES naming a copy of
#    lavapipe outside the baseline, that its manifest and library are granted and both needed.
# 4. `secllama run --verbose --gpu-layers 99` (the CPU-built CLI, the Vulkan runner) prints where the
#    model runs; `secllama sandbox check --gpu` lists the grants.
# 5. `secllama serve --gpu-layers 99` with the same runner: /api/ps shows the Vulkan device.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS

VULKAN_SDK=$(bash .ci/vulkan-sdk.sh | tail -n1)
export VULKAN_SDK
target=${SECLLAMA_VULKAN_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secllama/target-vulkan}
echo "building the Vulkan runner in $target" >&2
cargo build -p secllama-runner --features vulkan --locked --target-dir "$target"
runner=$target/debug/secllama-runner
built=$SECONDS

# ggml skips CPU-type Vulkan devices (lavapipe) unless they are listed here.
export GGML_VK_VISIBLE_DEVICES=0
export SECLLAMA_TEST_VULKAN_RUNNER=$runner
cargo nextest run -p secllama-runner --test gpu --locked --config-file .ci/nextest.toml \
    --no-fail-fast

# A driver outside the baseline: lavapipe's library and a manifest naming it by a relative path.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
lvp=$(sed -n 's/.*"library_path": *"\([^"]*\)".*/\1/p' /usr/share/vulkan/icd.d/lvp_icd.x86_64.json)
cp "$lvp" "$scratch/libvulkan_lvp_copy.so"
printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "./libvulkan_lvp_copy.so", "api_version": "1.1.0"}}\n' \
    >"$scratch/lvp_copy.json"
VK_DRIVER_FILES=$scratch/lvp_copy.json cargo nextest run -p secllama-runner --test gpu --locked \
    --config-file .ci/nextest.toml -E 'test(vk_driver_files)'

cargo build -p secllama-examples --bin secllama --locked
secllama=target/debug/secllama
err=$scratch/run.err
printf 'The capital of France is' |
    SECLLAMA_RUNNER_PATH=$runner "$secllama" run --verbose --gpu-layers 99 --temperature 0 --threads 2 \
        --context-length 256 --max-tokens 4 >"$scratch/run.out" 2>"$err"
if ! grep -q '^device: llvmpipe.* on Vulkan, [1-9][0-9]* layers offloaded (runner backends: CPU, Vulkan)$' "$err"; then
    echo "secllama run --gpu-layers 99 did not report the Vulkan device:" >&2
    cat "$err" >&2
    exit 1
fi
if ! grep -q '^  GPU grant: env        GGML_VK_VISIBLE_DEVICES$' "$err"; then
    echo "secllama run --gpu-layers 99 did not list its GPU grant:" >&2
    cat "$err" >&2
    exit 1
fi
grep '^device:' "$err" >&2
echo "output: $(cat "$scratch/run.out")" >&2
if ! "$secllama" sandbox check --gpu | grep -q '^  env        GGML_VK_VISIBLE_DEVICES$'; then
    echo "secllama sandbox check --gpu does not list GGML_VK_VISIBLE_DEVICES" >&2
    exit 1
fi
# The server: `secllama serve --gpu-layers 99` answers through /api/generate and /api/ps shows
# the model on lavapipe through Vulkan, in an enforced sandbox.
SECLLAMA_RUNNER_PATH=$runner python3 .ci/vulkan-serve-check.py "$secllama"
echo "Vulkan part: $((built - started)) s to prepare and build, $((SECONDS - built)) s to test" >&2
