"""The site finder (CPython's ast plus tokenize) reads every fixture as the LibCST finder did."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from libcst_oracle import find_sites as libcst_sites

from conftest import FIXTURES
from esper_lint.config import Config
from esper_lint.sites import find_sites
from esper_lint.source import SourceError, decode

PYTHON = sorted(FIXTURES.rglob("*.py"))


def readable(path: Path) -> str | None:
    """``path``'s text, when Python accepts it (fixtures/bad holds files it does not)."""
    try:
        text = decode(path.read_bytes()).text
        ast.parse(text)
    except (SourceError, SyntaxError, ValueError):
        return None
    return text


@pytest.mark.parametrize("path", PYTHON, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_the_ast_finder_reads_what_the_libcst_finder_read(path: Path) -> None:
    text = readable(path)
    if text is None:
        pytest.skip("not valid Python")
    config = Config(root=path.parent)
    try:
        expected = libcst_sites(path, path.name, text, config)
    except RecursionError:
        pytest.skip("too deep for LibCST's code generation")
    assert find_sites(path, path.name, text, config) == expected


def test_the_fixtures_hold_registrations_to_compare() -> None:
    texts = [(path, text) for path in PYTHON if (text := readable(path)) is not None]
    sites = [site for path, text in texts for site in find_sites(path, path.name, text, Config()).sites]
    assert len(sites) > 100 and any(s.estimate and s.estimate.formula for s in sites)
