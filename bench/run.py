"""esper-lint against its peers, every number from this one run: ``python bench/run.py``.

Each section warms every command up once, then runs them in turn (A B C A B C ...) so the
machine's load falls on all of them alike, and prints the median, the spread (min-max) and
the peak RSS of each.  Peers: ``pip install -e ".[bench]"`` (ruff, Fixit; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import generate

HERE = Path(__file__).resolve().parent
ESPER = [str(Path(sys.executable).with_name("esper-lint")), "--exit-zero"]
# Times one command and reports the peak RSS of the processes it waited for.
TIMER = ("import json, resource, subprocess, sys, time\n"
         "start = time.perf_counter()\n"
         "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
         "assert done.returncode in (0, 1), done.stderr.decode()[-2000:]  # a crash is not a time\n"
         "took = time.perf_counter() - start\n"
         "print(json.dumps([took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n")


def timed(command: list[str], cwd: Path, before: Callable[[], None] | None = None) -> tuple[float, float]:
    if before is not None:
        before()
    env = {**os.environ, "PYTHONPATH": str(HERE)}  # Fixit finds bench/fixit_rule.py
    # as users run: this sandbox sets PYTHONDONTWRITEBYTECODE, which makes every run of an
    # editable install compile esper-lint's ~40 modules again (~25 ms of a warm rerun)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-P", "-c", TIMER, *command], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True).stdout
    seconds, rss_kb = json.loads(out)
    return seconds, rss_kb / 1024


def section(title: str, commands: dict[str, tuple[list[str], Path]], repeat: int,
            before: Callable[[], None] | None = None, slow: frozenset[str] = frozenset(),
            slow_repeat: int = 1) -> None:
    """Time ``commands`` alternately and print a table; ratios are to the first command."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, float] = dict.fromkeys(commands, 0.0)
    for name, (command, cwd) in commands.items():  # warm-up: file cache, .pyc files
        if name not in slow:
            timed(command, cwd, before)
    for round_ in range(repeat):
        for name, (command, cwd) in commands.items():
            if name in slow and round_ >= slow_repeat:
                continue
            seconds, peak = timed(command, cwd, before)
            times[name].append(seconds)
            rss[name] = max(rss[name], peak)
    print(f"\n### {title}\n\n| command | median s | spread s | runs | peak RSS MB | ratio |")
    print("|---|---|---|---|---|---|")
    base = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {min(values):.3f}-{max(values):.3f} | {len(values)} "
              f"| {rss[name]:.0f} | {median / base:.2f}x |")
    sys.stdout.flush()


def static(name: str, tree: Path, args: argparse.Namespace, fixit: bool = True) -> None:
    """From the tree's parent: inside torch's folder, its ``random.py`` would shadow the stdlib's."""
    where, target = tree.parent, tree.name
    commands = {
        "esper-lint --no-dynamic --no-cache": ([*ESPER, "--no-dynamic", "--no-cache", target], where),
        "ruff check --no-cache --select E9": (["ruff", "check", "--no-cache", "--select", "E9", "--exit-zero",
                                               target], where),
        "fixit lint (bench/fixit_rule.py)": (["fixit", "--rules", "fixit_rule", "lint", target], where),
    }
    if not fixit:
        del commands["fixit lint (bench/fixit_rule.py)"]
    section(f"Static, {name}", commands, args.repeat, slow=frozenset({"fixit lint (bench/fixit_rule.py)"}),
            slow_repeat=args.fixit_repeat)


def dynamic_cold(tree: Path, args: argparse.Namespace) -> None:
    modules = ", ".join(f"resproj.blueprints.{m}" for m in generate.REGISTRATIONS)
    section("Dynamic, cold (14 blueprints of the research-shaped tree)", {
        "esper-lint --no-cache": ([*ESPER, "--no-cache", "."], tree),
        f"python -c 'import {modules}'": ([sys.executable, "-c", f"import {modules}"], tree / "src"),
    }, args.repeat)


def warm(tree: Path, args: argparse.Namespace) -> None:
    unrelated = tree / "src" / "resproj" / "utils" / "module_004.py"
    blueprint = tree / "src" / "resproj" / "blueprints" / "mlp.py"
    subprocess.run([*ESPER, "."], cwd=tree, capture_output=True, check=True)  # fill the cache
    empty = Path(tempfile.mkdtemp())
    for title, touched in (("nothing changed", None), ("one unrelated file touched", unrelated),
                           ("one blueprint file touched", blueprint)):
        def touch(file: Path | None = touched) -> None:
            if file is not None:
                with file.open("a") as stream:
                    stream.write("# touched\n")
        section(f"Warm rerun, {title} (research-shaped tree)", {
            "esper-lint": ([*ESPER, "."], tree),
            "esper-lint on an empty folder": ([*ESPER, "."], empty)}, args.repeat, before=touch)


def warm_torch(torch: Path, args: argparse.Namespace) -> None:
    """A copy of torch's Python files (a cache inside site-packages would be rude): the largest
    tree at hand, where no file registers, against ruff's own warm rerun."""
    tree = args.work / "torch-py"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(torch, tree / "torch", ignore=lambda folder, names: [
        n for n in names if not (Path(folder, n).is_dir() or n.endswith((".py", ".pyi")))])
    ruff = ["ruff", "check", "--select", "E9", "--exit-zero", "."]
    for command in ([*ESPER, "."], ruff):  # fill both caches
        subprocess.run(command, cwd=tree, capture_output=True, check=True)
    section("Warm rerun, nothing changed (a copy of the installed torch's Python files)", {
        "esper-lint": ([*ESPER, "."], tree), "ruff check --select E9 (its cache)": (ruff, tree),
        "esper-lint on an empty folder": ([*ESPER, "."], Path(tempfile.mkdtemp()))}, args.repeat)


def widths(args: argparse.Namespace) -> None:
    for width in (1024, 65536, 1048576):
        demo = Path(tempfile.mkdtemp()) / "demo"
        shutil.copytree(generate.DEMO, demo, ignore=shutil.ignore_patterns(".esper-lint-cache"))
        with (demo / "pyproject.toml").open("a") as stream:
            stream.write(f"max-width = {width}\n")
        section(f"Dynamic pass, widest sampled width {width:,} (fixtures/demo, 14 blueprints)", {
            "esper-lint --no-cache": ([*ESPER, "--no-cache", "."], demo)}, args.repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--fixit-repeat", type=int, default=1, help="timed runs of Fixit (default 1: slow)")
    parser.add_argument("--fixit-torch", action="store_true",
                        help="also time Fixit over torch (about half an hour on 2 shared cores)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "esper-lint-bench")
    parser.add_argument("--only", choices=["static", "dynamic", "warm", "widths"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["static", "dynamic", "warm", "widths"])
    research = generate.research(args.work / "research")
    spec = importlib.util.find_spec("torch")
    assert spec is not None and spec.origin is not None, "install torch==2.13.0 first"
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; each command warmed up once, then "
          f"{args.repeat} runs alternating (Fixit: {args.fixit_repeat})")
    if "static" in only:
        static("few hits: the installed torch package", Path(spec.origin).parent, args, args.fixit_torch)
        static("few hits: research-shaped tree (639 files, 20 mention the keyword, 2 register)",
               research, args)
        static("all hits: 2,000 blueprint files", generate.blueprints(args.work / "blueprints"), args)
    if "dynamic" in only:
        dynamic_cold(research, args)
    if "warm" in only:
        warm(research, args)
        warm_torch(Path(spec.origin).parent, args)
    if "widths" in only:
        widths(args)


if __name__ == "__main__":
    main()
