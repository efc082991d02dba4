#!/usr/bin/env bash
# SecLlama quickstart: install what the build needs, fetch the default model, build in release
# and run one sandboxed, encrypted completion.
#
#   ./examples/quickstart.sh ["your prompt"]
#
# On a fresh Debian/Ubuntu machine with Rust: `.ci/deps.sh runtime` installs cmake, clang and
# libclang (llama.cpp's build), python3-pip, and fetches the default model (Gemma 3 270M,
# ~250 MB, pinned by SHA-256) into ~/.cache/secllama/models. The first build compiles
# llama.cpp (several minutes on a small machine).
set -euo pipefail
cd "$(dirname "$0")/.."

prompt=${1:-"Explain in two sentences why a language model should run in a sandbox."}

bash .ci/deps.sh runtime

# Both packages in one build: `secllama` finds the `secllama-runner` executable next to itself.
cargo build --release --locked -p secllama-examples -p secllama-runner

bin="${CARGO_TARGET_DIR:-target}/release/secllama"
printf '\n\033[1m==> secllama run (sandboxed runner, AES-256-GCM channel, default model)\033[0m\n' >&2
exec "$bin" run --prompt "$prompt" --max-tokens 96 --temperature 0
