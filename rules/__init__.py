"""esper-lint's rules, one module each (``espNNN_name.py``), installed as ``esper_lint.rules``.

A rule module holds its documentation (the module docstring, printed by ``--explain``), ``CODE``,
``NAME``, ``SUMMARY``, its own ``VALID``/``INVALID`` examples, and either ``check(site, ctx)``
(one registration at a time) or ``check_registry(registry, ctx)`` (every registration of one
topology at once). :mod:`esper_lint.catalog` collects them.
"""
