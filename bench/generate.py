"""Deterministic trees for ``bench/run.py``: the same bytes on every machine and every run.

``research(folder)``: shaped like a real research repository, ~640 files and ~210k lines, of
which 20 mention ``param_estimate`` (the registry, 17 readers, 2 blueprint modules holding 14
registrations of real torch modules, so the dynamic pass can measure them).
``blueprints(folder, files)``: ``files`` modules that all register (the static pass's worst case).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
FILLER_FILES = 628
FUNCTIONS_PER_FILE = 33  # ~11 lines each: ~330 lines a file

REGISTRATIONS = {
    "mlp": [("linear", "nn.Linear(dim, dim)", 1000), ("wide", "nn.Sequential(nn.Linear(dim, 4 * dim), "
             "nn.GELU(), nn.Linear(4 * dim, dim))", 8000), ("norm", "nn.LayerNorm(dim)", 100),
            ("bias", "nn.Linear(dim, 1)", 64), ("low_rank", "nn.Sequential(nn.Linear(dim, 8, bias=False), "
             "nn.Linear(8, dim, bias=False))", 2048), ("gate", "nn.Bilinear(dim, dim, 1)", 4096),
            ("identity", "nn.Identity()", 0)],
    "conv": [("pointwise", "nn.Conv2d(dim, dim, 1)", 4096),
             ("depthwise", "nn.Conv2d(dim, dim, 3, groups=dim)", 640),
             ("group_norm", "nn.GroupNorm(1, dim)", 128), ("batch_norm", "nn.BatchNorm2d(dim)", 128),
             ("squeeze", "nn.Sequential(nn.Conv2d(dim, dim // 4 or 1, 1), nn.Conv2d(dim // 4 or 1, dim, 1))",
              2000), ("dilated", "nn.Conv2d(dim, dim, 3, dilation=2)", 36000), ("skip", "nn.Identity()", 0)],
}


def research(folder: Path) -> Path:
    """The research-shaped tree in ``folder`` (replaced); returns ``folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    package = folder / "src" / "resproj"
    (package / "blueprints").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "resproj"\nversion = "0"\n\n'
                                           "[tool.esper-lint]\nreference-dims = { mlp = 256, conv = 64 }\n")
    (package / "__init__.py").write_text("")
    (package / "blueprints" / "__init__.py").write_text("")
    registry = (DEMO / "seedlib" / "registry.py").read_text()
    (package / "registry.py").write_text(registry)
    for topology, entries in REGISTRATIONS.items():
        (package / "blueprints" / f"{topology}.py").write_text(_blueprint_module(topology, entries))
    rng = random.Random(639)
    subpackages = ["models", "data", "train", "eval", "utils", "experiments"]
    for name in subpackages:
        (package / name).mkdir()
        (package / name / "__init__.py").write_text("")
    for index in range(FILLER_FILES):
        where = package / subpackages[index % len(subpackages)]
        if index % 10 == 9:
            where = folder / ("tests" if index % 20 == 9 else "scripts")
            where.mkdir(exist_ok=True)
        reads = index % 36 == 0 and index // 36 < 17  # 17 files read the estimate
        (where / f"module_{index:03}.py").write_text(_filler(rng, reads))
    return folder


def blueprints(folder: Path, files: int = 2000) -> Path:
    """``files`` modules, each with three registrations, in ``folder`` (replaced)."""
    shutil.rmtree(folder, ignore_errors=True)
    package = folder / "seeds"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "registry.py").write_text((DEMO / "seedlib" / "registry.py").read_text())
    entries = REGISTRATIONS["mlp"][:3]
    for index in range(files):
        text = _blueprint_module(f"t{index % 7}", entries, package="seeds")
        (package / f"bp_{index:04}.py").write_text(text)
    return folder


def _blueprint_module(topology: str, entries: list[tuple[str, str, int]], package: str = "resproj") -> str:
    lines = ['"""Blueprints, registered with hand-computed estimates."""', "", "from typing import Any", "",
             "from torch import nn", "", f"from {package}.registry import BlueprintRegistry", ""]
    for name, build, estimate in entries:
        lines += ["", f'@BlueprintRegistry.register("{name}", "{topology}", param_estimate={estimate}, '
                  f'description="{name} seed")', f"def create_{name}(dim: int, **kwargs: Any) -> nn.Module:",
                  f"    return {build}", ""]
    return "\n".join(lines)


def _filler(rng: random.Random, reads: bool) -> str:
    lines = ['"""Training utilities (generated for the benchmark)."""', "", "import math", ""]
    for number in range(FUNCTIONS_PER_FILE):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        lines += ["", f"def step_{number}(values, scale={a}, offset={b}):",
                  f'    """Scale and shift ``values``; {rng.choice(["clip", "wrap", "keep"])} the rest."""',
                  "    total = 0.0", "    for index, value in enumerate(values):",
                  f"        if index % {rng.randint(2, 9)} == 0:",
                  "            total += math.sqrt(abs(value)) * scale",
                  "        else:", f"            total -= value / (offset + {b})", "    return total"]
    if reads:
        lines += ["", "", "def cheapest(specs):",
                  "    return sorted(specs, key=lambda spec: spec.param_estimate)"]
    return "\n".join(lines) + "\n"
