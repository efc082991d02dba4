"""Checks that ffi/README.md's "same program against other clients" shows exactly the files of
this directory, each under a heading with its true line count.

Run from anywhere: python3 ffi/compare/check_readme.py. Exits non-zero with the difference.
"""

import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
README = HERE.parent / "README.md"

# heading prefix in the README -> (file, how its lines are counted)
PROGRAMS = {
    "secllama (Python)": ("secllama_chat.py", "all"),
    "ollama Python client": ("ollama_chat.py", "all"),
    "llama-cpp-python": ("llama_cpp_chat.py", "all"),
    "secllama (Go)": ("go/main.go", "main"),
}


def count(text: str, how: str) -> int:
    lines = text.splitlines()
    if how == "main":
        start = lines.index("func main() {")
        end = lines.index("}", start)
        lines = lines[start + 1 : end]
    return sum(1 for line in lines if line.strip())


def main() -> int:
    readme = README.read_text()
    section = readme[readme.index("## The same program against other clients") :]
    problems = []
    lengths = {}
    for title, (name, how) in PROGRAMS.items():
        m = re.search(
            r"\*\*" + re.escape(title) + r", (\d+) lines[^\n]*\n(?:[^\n]+\n)*?\n```\w+\n(.*?)```",
            section,
            re.S,
        )
        if not m:
            problems.append(f"{title}: no heading with a line count followed by a code block")
            continue
        text = (HERE / name).read_text()
        if m.group(2) != text:
            problems.append(f"{title}: the README's block differs from compare/{name}")
        n = count(text, how)
        lengths[title] = n
        if int(m.group(1)) != n:
            problems.append(f"{title}: the README says {m.group(1)} lines, compare/{name} has {n}")
    ours = max(lengths.get("secllama (Python)", 99), lengths.get("secllama (Go)", 99))
    theirs = min(lengths.get("ollama Python client", 0), lengths.get("llama-cpp-python", 0))
    if ours > theirs:
        problems.append(f"a secllama program has {ours} lines, longer than the shortest other ({theirs})")
    for p in problems:
        print(f"check_readme: {p}", file=sys.stderr)
    if not problems:
        print("check_readme: " + ", ".join(f"{t} {n} lines" for t, n in lengths.items()))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
