#!/usr/bin/env bash
# Runs inside `dbus-run-session` (see test.sh): start and unlock gnome-keyring with a throwaway
# password in a fresh XDG_DATA_HOME (an old login.keyring made with another password would stay
# locked), give the tests a session keyring of their own, then run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export XDG_DATA_HOME="$scratch/data" XDG_CONFIG_HOME="$scratch/config" XDG_RUNTIME_DIR="$scratch/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"

# Prints GNOME_KEYRING_CONTROL=...; the password comes from stdin, never argv.
eval "$(printf '%s' 'secllama-ci-throwaway' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
export SECLLAMA_TEST_SECRET_SERVICE=1

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

step "cargo nextest (unit + integration tests, real Secret Service and kernel keyring)"
keyctl session - cargo nextest run --workspace --locked --config-file .ci/nextest.toml --no-fail-fast

step "doc tests"
keyctl session - cargo test --workspace --locked --doc

shopt -s nullglob
for part in .ci/test.d/*.sh; do
    step "$part"
    keyctl session - bash "$part"
done
echo "all SecLlama tests passed" >&2
