#!/usr/bin/env bash
# Compiles and lints the crates that must build on macOS and Windows, from Linux, without
# llama.cpp (--no-default-features): `cargo clippy` needs no linker or SDK, only the targets'
# standard libraries. Not part of .ci/run: `rustup target add` downloads them from the Rust
# toolchain server, which CI's network (package registries only) cannot reach. The platforms
# workflow (.ci/github-platforms.yml) runs it; locally: bash .ci/cross-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
    echo "==> $t" >&2
    cargo clippy --locked --target "$t" --no-default-features \
        -p secllama-runner -p secllama-sandbox -p secllama-keystore -p secllama-crypto \
        -- -D warnings
done
