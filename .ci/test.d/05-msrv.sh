#!/usr/bin/env bash
# MSRV: no dependency (on any platform) may ask for a newer Rust than the workspace's
# rust-version. Only the installed toolchain is available here, so the workspace's own code is
# checked by clippy's incompatible_msrv lint instead (part of `cargo clippy -D warnings` in
# test.sh, which reads rust-version): it flags std APIs newer than the declared version.
set -euo pipefail
cd "$(dirname "$0")/../.."

check=$(cat <<'PY'
import json, sys
meta = json.load(sys.stdin)
def ver(s):
    return tuple(int(x) for x in s.split("."))[:2]
members = [p for p in meta["packages"] if p["id"] in meta["workspace_members"]]
msrv = {p["rust_version"] for p in members}
if len(msrv) != 1 or None in msrv:
    sys.exit(f"every workspace crate must inherit one rust-version, found {msrv}")
msrv = msrv.pop()
resolved = {n["id"] for n in meta["resolve"]["nodes"]}
newer = sorted(
    "{} {} needs {}".format(p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p["id"] in resolved and p.get("rust_version") and ver(p["rust_version"]) > ver(msrv)
)
if newer:
    sys.exit(f"rust-version {msrv} is not true:\n  " + "\n  ".join(newer))
print(f"rust-version {msrv}: no dependency needs a newer Rust", file=sys.stderr)
PY
)
cargo metadata --format-version 1 --locked | python3 -c "$check"
