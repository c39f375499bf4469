"""Rewrite README.md's sample outputs by running esper-lint, so they cannot drift from it.

A sample is a fenced block between two markers; the first names the command's arguments and,
optionally, which lines to keep:

    <!-- sample: fixtures/demo; head=4 -->
    <!-- sample: fixtures/demo; grep=reference width -->
    ...
    <!-- /sample -->

``head=N`` keeps the first N lines, ``...`` and the last line; ``grep=TEXT`` the lines that
contain TEXT.  Run from anywhere: ``python scripts/readme_samples.py`` rewrites README.md,
``--check`` exits 1 (and writes nothing) when it is out of date.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from esper_lint.atomic import write_atomically

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SAMPLE = re.compile(r"(?P<open><!-- sample: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(?P<close><!-- /sample -->)",
                    re.DOTALL)


def run(args: list[str]) -> str:
    done = subprocess.run([sys.executable, "-m", "esper_lint", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"esper-lint {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def block(spec: str) -> str:
    command, *options = (part.strip() for part in spec.split(";"))
    args = command.split()
    lines = run(args).splitlines()
    shown = f"$ esper-lint {command}"
    for option in options:
        key, _, value = option.partition("=")
        if key == "head" and len(lines) > int(value) + 1:
            lines = [*lines[:int(value)], "...", lines[-1]]
        elif key == "grep":
            lines = [line for line in lines if value in line]
            shown += f" | grep '{value}'"
        elif key not in ("head", "grep"):
            raise SystemExit(f"README.md: unknown sample option {option!r}")
    return "```console\n" + "\n".join([shown, *lines]) + "\n```\n"


def rewritten(text: str) -> str:
    return SAMPLE.sub(lambda m: m["open"] + block(m["spec"]) + m["close"], text)


def main(argv: list[str]) -> int:
    old = README.read_text(encoding="utf-8")
    new = rewritten(old)
    if "--check" in argv:
        if new != old:
            print("README.md's samples are out of date: run python scripts/readme_samples.py")
            return 1
        return 0
    if new != old:
        write_atomically(README, new.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
