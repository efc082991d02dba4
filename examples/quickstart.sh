#!/usr/bin/env bash
# SecLlama quickstart: install what the build needs, fetch the default model, build in release
# and ask the model one question in a sandboxed, encrypted chat.
#
#   ./examples/quickstart.sh ["your question"]
#
# On a fresh Debian/Ubuntu machine with Rust: `.ci/deps.sh runtime` installs cmake, clang and
# libclang (llama.cpp's build), python3-pip, and fetches the default model
# (SmolLM2-135M-Instruct Q4_1, ~95 MB, pinned by SHA-256) into ~/.cache/secllama/models. The
# first build compiles llama.cpp (several minutes on a small machine).
set -euo pipefail
cd "$(dirname "$0")/.."

question=${1:-"Explain in two sentences why a language model should run in a sandbox."}

bash .ci/deps.sh runtime

# Both packages in one build: `secllama` finds the `secllama-runner` executable next to itself.
cargo build --release --locked -p secllama-examples -p secllama-runner

bin="${CARGO_TARGET_DIR:-target}/release/secllama"
printf '\n\033[1m==> secllama chat (sandboxed runner, AES-256-GCM channel, default model)\033[0m\n' >&2
printf '\033[1mquestion:\033[0m %s\n' "$question" >&2
# One chat turn (the model's chat template), greedy so the answer is reproducible. The question
# is one line on stdin: it never appears in the process list.
printf '%s\n' "$question" | "$bin" chat --max-tokens 128 --temperature 0
