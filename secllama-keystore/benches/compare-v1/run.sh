#!/usr/bin/env bash
# load() of keystore format 1 beside this tree's, in one criterion run (see bench.rs).
#
# Format 1 is taken from git (OLD, default 3987046: the last commit before keystore v2) into a
# throwaway workspace under target/keystore-v1-bench/, renamed secllama-keystore-v1, built
# against this tree's secllama-crypto with this tree's lock file and profiles. Run it where both
# real backends answer, e.g.
#
#   dbus-run-session -- bash -c '
#     export XDG_DATA_HOME=$(mktemp -d) XDG_RUNTIME_DIR=$(mktemp -d)
#     printf pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null
#     keyctl session - bash secllama-keystore/benches/compare-v1/run.sh'
#
# Extra arguments go to the bench binary (e.g. a criterion filter such as `keyutils`).
# Afterwards: rm -rf target/keystore-v1-bench
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
old=${OLD:-3987046}
work=$root/target/keystore-v1-bench
rm -rf "$work/v1" "$work/bench"
mkdir -p "$work/v1" "$work/bench/benches"

# The old crate, renamed; its benches are not needed.
git -C "$root" archive "$old" secllama-keystore/src | tar -x -C "$work/v1" --strip-components=1
git -C "$root" show "$old:secllama-keystore/Cargo.toml" |
  sed -e 's/^name = "secllama-keystore"$/name = "secllama-keystore-v1"/' \
      -e '/^\[\[bench\]\]$/,/^harness/d' >"$work/v1/Cargo.toml"

# A workspace of the two, inheriting this tree's dependency table (paths made absolute),
# lints and profiles.
{
  printf '[workspace]\nresolver = "3"\nmembers = ["v1", "bench"]\n\n'
  sed -n '/^\[workspace\.package\]/,$p' "$root/Cargo.toml" |
    sed -e "s#path = \"\\([^\"]*\\)\"#path = \"$root/\\1\"#"
} >"$work/Cargo.toml"
cp "$root/Cargo.lock" "$work/Cargo.lock"

cat >"$work/bench/Cargo.toml" <<TOML
[package]
name = "keystore-v1-bench"
version = "0.0.0"
edition.workspace = true
publish = false

[dev-dependencies]
secllama-keystore-v1 = { path = "../v1" }
secllama-keystore.workspace = true
keyring-core.workspace = true
criterion.workspace = true
tempfile.workspace = true

[[bench]]
name = "load"
path = "$root/secllama-keystore/benches/compare-v1/bench.rs"
harness = false
TOML
printf '//! Only the bench.\n' >"$work/bench/lib.rs"
sed -i 's#^\[dev-dependencies\]#[lib]\npath = "lib.rs"\n\n[dev-dependencies]#' "$work/bench/Cargo.toml"

cd "$work"
echo "format 1 from $(git -C "$root" log -1 --format='%h %s' "$old")" >&2
echo "format 2 from $(git -C "$root" describe --always --dirty)" >&2
cargo bench --bench load -- "$@"
