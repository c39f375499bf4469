"""``ESPER_LINT_TRACE=1``: the run says on stderr what its stages and processes do, in order.

For tests that check the pipeline's shape (is torch importing while the static pass runs? does
a rerun the caches answer start a worker?) and for reading a run by hand; never for timing
assertions.  Off, it costs one dictionary lookup per run.
"""

from __future__ import annotations

import os
import sys
import time

ON = bool(os.environ.get("ESPER_LINT_TRACE"))


def event(what: str) -> None:
    if ON:
        sys.stderr.write(f"esper-lint trace: {time.monotonic():.3f} {what}\n")
        sys.stderr.flush()
