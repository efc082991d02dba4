#!/usr/bin/env bash
# SecLlama's whole test suite: the README's test command.
#
# Lints, then every Rust test (unit, integration, doc) inside a private D-Bus session with an
# unlocked gnome-keyring (the real Secret Service) and a fresh kernel session keyring (keyutils),
# then each part in .ci/test.d/ (bindings, fuzz smoke runs) in name order.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SECLLAMA_SKIP_DEPS:-}" != 1 ]; then
    bash .ci/deps.sh all
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --profile test --locked -- -D warnings

step "build tests"
cargo nextest run --workspace --locked --no-run --config-file .ci/nextest.toml

# Everything below runs inside one private session bus with the keyring unlocked.
exec dbus-run-session -- bash .ci/test-in-session.sh
