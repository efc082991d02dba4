#!/usr/bin/env bash
# The example programs in examples/examples/, run as a user would and held to their real output:
# a sandboxed completion that answers correctly, a chat history sealed with a keychain keyset
# (the private Secret Service of test-in-session.sh), and a tool that reads its one allowed file
# but is refused everything else (the host's files are not in its root; the input is read-only).
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --locked -p secllama-runner -p secllama-examples --examples
target=$(realpath "${CARGO_TARGET_DIR:-target}")
export SECLLAMA_RUNNER_PATH="$target/debug/secllama-runner"
bin="$target/debug/examples"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

fail() { printf 'example programs: %s\n' "$*" >&2; exit 1; }
expect() { # expect <name> <expected> <actual>
    [ "$2" = "$3" ] || fail "$1: expected
$2
got
$3"
}

answer=$("$bin/sandboxed_completion" "What is the capital of France?" 2>"$scratch/completion.err")
expect sandboxed_completion "The capital of France is Paris." "$answer"
grep -Eq '^seccomp +enforced$' "$scratch/completion.err" || fail "no seccomp in the report: $(cat "$scratch/completion.err")"

out=$("$bin/seal_chat_history" "$scratch/history.sealed" 2>/dev/null)
size=$(stat -c %s "$scratch/history.sealed")
expect seal_chat_history "sealed 3 messages into $size bytes ($scratch/history.sealed); plaintext visible: false
system: You are a helpful assistant.
user: What is the capital of France?
assistant: The capital of France is Paris.
tampered file: refused
wrong associated data: refused" "$out"

out=$("$bin/sandboxed_tool" 2>/dev/null)
expect sandboxed_tool "allowed read: exit 0, 22 bytes counted
forbidden read: exit 1, stdout 0 bytes, stderr: cat: /etc/passwd: No such file or directory
write to the read-only input: exit 2, file unchanged: true" "$out"
echo "example programs: all three gave their expected output" >&2
