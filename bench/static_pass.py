"""Benchmark the static pass.

1. One ~330-line blueprint file: bare LibCST parse, esper-lint's site finder (CPython parse + alias
   table + positions), and LibCST's QualifiedNameProvider for comparison.
2. A synthetic tree of N files (a quarter with registrations): the whole CLI with
   ``--no-dynamic``, to show the byte prefilter and parallel parsing.

Run: python bench/static_pass.py [--files 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = '''
@BlueprintRegistry.register("seed{i}", "cnn", param_estimate={i}00, description="seed {i}")
def create_seed_{i}(dim: int, **kwargs: Any) -> nn.Module:
    """A seed: conv, norm, activation."""
    hidden = max(8, dim // 4)
    layers = [nn.Conv2d(dim, hidden, 1), nn.GroupNorm(1, hidden), nn.ReLU()]
    layers.append(nn.Conv2d(hidden, dim, 1))
    return nn.Sequential(*layers)
'''
HEADER = "from typing import Any\n\nfrom torch import nn\n\nfrom seedlib.registry import BlueprintRegistry\n"
PLAIN = "def helper_{i}(x: int) -> int:\n    return x * {i} + 1\n\n"


def blueprint_file(seeds: int) -> str:
    return HEADER + "".join(SEED.format(i=i) for i in range(seeds))


def best_of(runs: int, work: object) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def single_file() -> None:
    import libcst as cst
    from libcst.metadata import MetadataWrapper, QualifiedNameProvider

    from esper_lint.config import Config
    from esper_lint.sites import find_sites

    text = blueprint_file(36)
    lines = text.count("\n")
    parse = best_of(10, lambda: cst.parse_module(text))
    sites = best_of(10, lambda: find_sites(Path("x.py"), "x.py", text, Config()))
    qualified = best_of(3, lambda: MetadataWrapper(cst.parse_module(text)).resolve(QualifiedNameProvider))
    print(f"one file, {lines} lines, 36 registrations (best of 10):")
    print(f"  LibCST parse only            {parse * 1000:7.1f} ms")
    print(f"  esper-lint find_sites        {sites * 1000:7.1f} ms  (ast parse, screen, aliases, tokens)")
    print(f"  QualifiedNameProvider        {qualified * 1000:7.1f} ms  (parse + scope analysis)")


def tree(files: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="esper-bench-"))
    try:
        for i in range(files):
            text = blueprint_file(3) if i % 4 == 0 else "".join(PLAIN.format(i=j) for j in range(40))
            (folder / f"mod_{i}.py").write_text(text)
        command = [sys.executable, "-m", "esper_lint", "--no-dynamic", "--exit-zero", str(folder)]
        runs = [_time(command) for _ in range(3)]
        print(f"tree of {files} files ({files // 4} with registrations), whole CLI --no-dynamic:")
        print(f"  median {statistics.median(runs):.2f} s, best {min(runs):.2f} s over 3 runs")
    finally:
        shutil.rmtree(folder)


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    single_file()
    tree(args.files)


if __name__ == "__main__":
    main()
