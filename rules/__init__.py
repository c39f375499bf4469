"""esper-lint's rules, one module each (``espNNN_name.py``), installed as ``esper_lint.rules``.

A rule module holds its documentation (the module docstring, printed by ``--explain``), ``CODE``,
``NAME``, ``SUMMARY``, its own ``VALID``/``INVALID`` examples, and ``check(site, ctx)``.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from esper_lint.rulekit import Rule


@cache
def all_rules() -> tuple[Rule, ...]:
    modules = sorted(info.name for info in pkgutil.iter_modules(__path__) if info.name.startswith("esp"))
    return tuple(Rule.from_module(importlib.import_module(f"{__name__}.{name}")) for name in modules)
