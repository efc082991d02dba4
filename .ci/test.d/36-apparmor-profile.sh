#!/usr/bin/env bash
# The AppArmor profile shipped for Ubuntu's user-namespace restriction
# (secllama-sandbox/apparmor/secllama), compiled by apparmor_parser without loading it
# (-Q: this kernel has no AppArmor; -K: no cache).
#
# The profile is written for AppArmor 4 (`abi <abi/4.0>`, the `userns,` rule: what Ubuntu 24.04
# ships). Debian's parser here is 3.0, which knows neither, so this checks:
#   1. the 3.0 parser refuses the profile as shipped at the abi line, and nowhere else;
#   2. everything else (profile names, attachments, flags, includes) compiles with the 3.0
#      parser once the two 4.0-only lines are taken out;
#   3. a broken copy is refused (the check can fail).
# What it does NOT check: that a 4.0 parser accepts `userns,`, and that the profile lifts the
# restriction on a real Ubuntu kernel. Neither is available to this CI.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v apparmor_parser >/dev/null 2>&1; then
    echo "SKIPPED: apparmor_parser (Debian package apparmor) is not installed" >&2
    exit 0
fi
profile=secllama-sandbox/apparmor/secllama
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The parser's status, its messages less the note that this kernel has no AppArmor cache.
parse() {
    local rc=0 out
    out=$(apparmor_parser -Q -K "$1" 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -v '^Cache read/write disabled' || true
    return "$rc"
}

version=$(apparmor_parser --version | head -1)
echo "$version" >&2

# The only AppArmor-4 lines of the profile are the abi line and one userns rule per profile.
grep -qx 'abi <abi/4.0>,' "$profile"
test "$(grep -c '^  userns,$' "$profile")" = 2

if [ -e /etc/apparmor.d/abi/4.0 ]; then
    # A 4.x parser: the profile as shipped must compile.
    parse "$profile"
    echo "the profile compiles as shipped ($version)" >&2
    exit 0
fi

# 1. As shipped, the 3.0 parser stops at the abi line and at nothing earlier.
abi_line=$(grep -n '^abi <abi/4.0>,$' "$profile" | cut -d: -f1)
if out=$(parse "$profile"); then
    echo "FAIL: the 3.0 parser accepted an abi 4.0 profile" >&2
    exit 1
fi
echo "$out" | grep -q "line $abi_line: Could not open 'abi/4.0'" || { echo "FAIL: $out" >&2; exit 1; }

# 2. The rest compiles.
sed -e 's#^abi <abi/4.0>,$#abi <abi/3.0>,#' -e '/^  userns,$/d' "$profile" >"$scratch/secllama-3.0"
parse "$scratch/secllama-3.0"
# Both profiles are there, attached to the two executables, unconfined.
pre=$(apparmor_parser -Q -K -p "$scratch/secllama-3.0" 2>/dev/null)
echo "$pre" | grep -q '^profile secllama /usr/local/bin/secllama flags=(unconfined) {$'
echo "$pre" | grep -q '^profile secllama-runner /usr/local/bin/secllama-runner flags=(unconfined) {$'

# 3. The control: a broken copy is refused.
sed -e 's#flags=(unconfined)#flags=(unconfinedx)#' "$scratch/secllama-3.0" >"$scratch/broken"
if parse "$scratch/broken" >/dev/null; then
    echo "FAIL: a profile with an unknown flag compiled" >&2
    exit 1
fi
echo "the profile compiles with the 3.0 parser except its two AppArmor-4 lines" >&2
