"""Benchmark the dynamic pass on the bundled demo blueprints, against the naive way.

esper-lint's way: the worker builds every factory on the meta device at widths 1..256
plus a spread up to 65,536 (and a parameter grid), no cache.  Reported: time to import
torch, wall time of the whole pass, the worker's peak memory.

The naive way: import the blueprints in-process and build every factory on the CPU at the
same widths, stopping at --naive-max-width (default 2,048), because real weights at
65,536 do not fit in memory: the report says how much the widest blueprint would need.

Run: python bench/dynamic_pass.py [--naive-max-width 2048]
Each side runs in a fresh subprocess, so peak memory (ru_maxrss) is that side's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"


def _demo_sites() -> tuple[Any, list[Any]]:
    from esper_lint.config import load
    from esper_lint.discover import discover
    from esper_lint.scan import scan

    config = replace(load(DEMO / "pyproject.toml"), cache_dir="")
    return config, list(scan(discover([str(DEMO)], config).files, config).sites)


def esper_side() -> dict[str, Any]:
    from esper_lint.measure import measure

    config, sites = _demo_sites()
    start = time.perf_counter()
    result = measure(sites, config)
    wall = time.perf_counter() - start
    counts = [m for m in result.measurements.values() if m.counts]
    return {
        "blueprints": len(sites),
        "measured": len(counts),
        "widths": max(len(m.counts) for m in counts),
        "max_width": max(w for m in counts for w, _ in m.counts),
        "largest_count": max(c for m in counts for _, c in m.counts),
        "torch_import_s": result.startup.import_seconds if result.startup else None,
        "wall_s": wall,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def naive_side(max_width: int) -> dict[str, Any]:
    from esper_lint.measure import sample_widths

    start = time.perf_counter()
    import torch

    torch_s = time.perf_counter() - start
    config, sites = _demo_sites()
    sys.path.insert(0, str(DEMO))
    import importlib

    widths = [w for w in sample_widths(config) if w <= max_width]
    start = time.perf_counter()
    built = 0
    for site in sites:
        module = importlib.import_module(_module_name(site.path))
        factory = getattr(module, site.blueprint.factory or "", None)
        if not callable(factory):
            continue
        for width in widths:
            try:
                sum(p.numel() for p in factory(width).parameters())
                built += 1
            except Exception:  # outside the factory's domain, as in the worker
                pass
    return {
        "torch_import_s": torch_s,
        "wall_s": time.perf_counter() - start,
        "builds": built,
        "max_width": max(widths),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__,
    }


def _module_name(path: Path) -> str:
    return ".".join(path.resolve().relative_to(DEMO).with_suffix("").parts)


def _run(side: str, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--side", side, *extra], capture_output=True,
                          text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=("esper", "naive"))
    parser.add_argument("--naive-max-width", type=int, default=2048)
    args = parser.parse_args()
    if args.side == "esper":
        print(json.dumps(esper_side()))
        return
    if args.side == "naive":
        print(json.dumps(naive_side(args.naive_max_width)))
        return
    esper = _run("esper")
    naive = _run("naive", "--naive-max-width", str(args.naive_max_width))
    need_gb = esper["largest_count"] * 4 / 1e9
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}, torch {naive['torch']}")
    print(f"demo: {esper['blueprints']} blueprints, {esper['widths']} widths each up to "
          f"{esper['max_width']:,} plus a parameter grid")
    print("esper-lint (worker, meta device):")
    print(f"  torch import            {esper['torch_import_s']:.2f} s")
    print(f"  whole dynamic pass      {esper['wall_s']:.2f} s  (worker start, import, build, formulas)")
    print(f"  worker peak memory      {esper['worker_peak_mb']:.0f} MB")
    print(f"naive (in-process, CPU, widths up to {naive['max_width']:,} only):")
    print(f"  torch import            {naive['torch_import_s']:.2f} s")
    print(f"  {naive['builds']} builds            {naive['wall_s']:.2f} s")
    print(f"  peak memory             {naive['peak_mb']:.0f} MB")
    print(f"  at {esper['max_width']:,} the largest blueprint has {esper['largest_count']:,} "
          f"parameters: {need_gb:,.0f} GB of float32 weights on the CPU")


if __name__ == "__main__":
    main()
