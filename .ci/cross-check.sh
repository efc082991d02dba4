#!/usr/bin/env bash
# Compiles and lints the crates that must build on macOS and Windows, from Linux, without
# llama.cpp (--no-default-features): `cargo clippy` needs no linker or SDK, only the targets'
# standard libraries. Not part of .ci/run: `rustup target add` downloads them from the Rust
# toolchain server, which CI's network (package registries only) cannot reach. The platforms
# workflow (.ci/github-platforms.yml) runs it; locally: bash .ci/cross-check.sh
#
# With clang installed, the tests and benches of the crates the platforms workflow tests there
# (runner, sandbox, crypto) are linted too: criterion's `alloca` dependency compiles one C file, which
# clang builds for any target (freestanding: it needs only stddef.h and stdint.h).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu)
rustup target add "${targets[@]}"
declare -A clang_target=(
    [x86_64-apple-darwin]=x86_64-apple-macos11
    [aarch64-apple-darwin]=arm64-apple-macos11
    [x86_64-pc-windows-gnu]=x86_64-w64-mingw32
)
for t in "${targets[@]}"; do
    echo "==> $t" >&2
    cargo clippy --locked --target "$t" --no-default-features \
        -p secllama-runner -p secllama-sandbox -p secllama-keystore -p secllama-crypto \
        -- -D warnings
    if command -v clang >/dev/null && command -v llvm-ar >/dev/null; then
        v=${t//-/_}
        env "CC_$v=clang" "CFLAGS_$v=--target=${clang_target[$t]} -ffreestanding" "AR_$v=llvm-ar" \
            cargo clippy --locked --target "$t" --no-default-features --all-targets \
            -p secllama-runner -p secllama-sandbox -p secllama-crypto -- -D warnings
    else
        echo "(no clang/llvm-ar: the tests of $t are not linted)" >&2
    fi
done
