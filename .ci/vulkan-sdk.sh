#!/usr/bin/env bash
# Prepares what a Vulkan build of the runner needs on Debian 12, and prints the directory to use
# as VULKAN_SDK on its last line of stdout:
#
#   export VULKAN_SDK=$(bash .ci/vulkan-sdk.sh)
#   CARGO_TARGET_DIR=target/vulkan cargo build --release -p secllama-runner --features vulkan
#
# - From Debian 12 with apt-get: the Vulkan loader (libvulkan1), Mesa's Vulkan drivers (among
#   them lavapipe, "llvmpipe", a Vulkan device that runs on the CPU), glslc and spirv-headers.
# - Debian 12's Vulkan headers (1.3.239) are too old for llama.cpp's Vulkan backend (it needs
#   vk::LayerSettingEXT), so Debian 13's libvulkan-dev alone is downloaded with apt-get through a
#   sources list and state directory of its own: the system's sources, package lists and
#   installed packages stay exactly as they were. Only its headers are used, from a private
#   directory; lib/libvulkan.so there links to the system's loader.
#
# Idempotent: a second run with everything in place downloads nothing. The private directory is
# ${SECLLAMA_VULKAN_SDK_DIR:-${XDG_CACHE_HOME:-~/.cache}/secllama/vulkan-sdk}.
set -euo pipefail

say() { printf '\033[1m[vulkan-sdk]\033[0m %s\n' "$*" >&2; }

sdk=${SECLLAMA_VULKAN_SDK_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secllama/vulkan-sdk}
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# 1. Debian 12 packages: loader, drivers, shader compiler, SPIR-V headers.
pkgs=(libvulkan1 mesa-vulkan-drivers glslc spirv-headers)
missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# 2. Debian 13's libvulkan-dev, for its headers only.
if [ ! -f "$sdk/include/vulkan/vulkan.hpp" ]; then
    # The mirror the system already uses (first "URIs:" of a deb822 file, else sources.list).
    mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/*$/\1/p' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
    if [ -z "$mirror" ]; then
        mirror=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\)\/*[[:space:]].*/\2/p' \
            /etc/apt/sources.list 2>/dev/null | head -n1 || true)
    fi
    if [ -z "$mirror" ]; then
        say "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
        exit 1
    fi
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc/preferences.d" \
        "$work/etc/sources.list.d" "$work/download"
    printf 'deb [signed-by=%s] %s trixie main\n' "$keyring" "$mirror" >"$work/etc/sources.list"
    : >"$work/status"
    apt_private=(-o Dir::Etc::SourceList="$work/etc/sources.list"
        -o Dir::Etc::SourceParts="$work/etc/sources.list.d"
        -o Dir::Etc::Preferences="$work/etc/preferences"
        -o Dir::Etc::PreferencesParts="$work/etc/preferences.d"
        -o Dir::State::Lists="$work/lists"
        -o Dir::State::status="$work/status"
        -o Dir::Cache="$work/cache"
        -o Acquire::Languages=none
        -o APT::Architectures=amd64
        -o Debug::NoLocking=true)
    if [ "$(id -u)" -eq 0 ]; then apt_private+=(-o APT::Sandbox::User=root); fi
    say "downloading Debian 13's libvulkan-dev (headers only) into $sdk"
    apt-get "${apt_private[@]}" update -qq
    (cd "$work/download" && apt-get "${apt_private[@]}" download -qq libvulkan-dev)
    deb=$(ls "$work"/download/libvulkan-dev_*.deb)
    dpkg-deb -x "$deb" "$work/root"
    rm -rf "$sdk.new"
    mkdir -p "$sdk.new/lib"
    cp -a "$work/root/usr/include" "$sdk.new/include"
    basename "$deb" >"$sdk.new/SOURCE"
    rm -rf "$sdk"
    mv "$sdk.new" "$sdk"
fi

# lib/libvulkan.so → the system's loader (Debian 12's libvulkan1), as the SDK layout expects.
loader=$(ls /usr/lib/x86_64-linux-gnu/libvulkan.so.1 2>/dev/null || true)
if [ -z "$loader" ]; then
    loader=$(ldconfig -p | sed -n 's/.*libvulkan\.so\.1 .*=> //p' | head -n1)
fi
if [ -z "$loader" ]; then
    say "the Vulkan loader libvulkan.so.1 is not installed"
    exit 1
fi
mkdir -p "$sdk/lib"
ln -sfn "$loader" "$sdk/lib/libvulkan.so"

command -v glslc >/dev/null || { say "glslc is missing"; exit 1; }
say "VULKAN_SDK=$sdk ($(cat "$sdk/SOURCE"))"
printf '%s\n' "$sdk"
