"""``python -m esper_lint``: as the console script, never importing from the current folder.

``-m`` puts the current folder first on ``sys.path``, where a project's own
``dataclasses.py`` or ``json.py`` would shadow the standard library for esper-lint
itself; the console script has no such entry, so neither does this.
"""

import os
import sys

if not sys.flags.safe_path and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from esper_lint.cli import main  # after the path is safe

main()
