"""Colour for the text output, as ruff decides it: on a terminal, unless ``NO_COLOR``; always
with ``FORCE_COLOR`` (each counts only when set and not empty, as no-color.org says)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Style:
    """ANSI escapes for each part of a line; all empty: plain text."""

    path: str = ""
    code: str = ""
    fix: str = ""
    passed: str = ""
    reset: str = ""

    def __call__(self, part: str, text: str) -> str:
        start = getattr(self, part)
        return f"{start}{text}{self.reset}" if start else text


PLAIN = Style()
ANSI = Style(path="\033[1m", code="\033[1;31m", fix="\033[36m", passed="\033[32m", reset="\033[0m")


def wanted(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("FORCE_COLOR"):
        return True
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
