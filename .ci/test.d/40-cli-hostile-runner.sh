#!/usr/bin/env bash
# `secllama run` / `chat` against a runner that is hostile on purpose (secllama-replay-runner,
# built only with the examples' `replay-runner` feature): escape sequences, C1 controls, bidi
# overrides and invalid UTF-8 sent over the real sealed channel, checked on a pseudo-terminal.
# Also lints the feature-gated code, which the workspace clippy run does not build.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo clippy -p secllama-examples --features replay-runner --all-targets --profile test --locked -- -D warnings
cargo nextest run -p secllama-examples --features replay-runner --test hostile_runner --locked \
    --config-file .ci/nextest.toml
