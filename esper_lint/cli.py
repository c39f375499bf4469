"""The ``esper-lint`` command: parses options, runs the pipeline, renders, picks the exit code.

Exit codes follow ruff: 0 no findings (or all fixed), 1 findings remain (or ``--diff`` would
change something), 2 usage or configuration error or an internal failure.
"""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from esper_lint import __version__
from esper_lint.atomic import write_atomically
from esper_lint.config import ConfigError, ConfigFor, Nearest
from esper_lint.render import Report, ReportError, renderers
from esper_lint.render.text import fix_summary, plural

# A run is short and frees what it allocates by reference counting (trees, tokens, records
# hold no cycles); the cyclic collector's default pass every 700 allocations cost ~10% of the
# CPU over 2,000 blueprint files, rules and registries included. mypy raises it the same way;
# scan.py pauses the collector altogether while files are parsed.
gc.set_threshold(100_000, 20, 20)

if TYPE_CHECKING:
    from esper_lint.pipeline import Run
    from esper_lint.stdin import Buffer

FORMATS = ("text", "json", "github", "sarif")
STATISTICS_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Options:
    paths: tuple[str, ...]
    output_format: str
    select: tuple[str, ...] | None
    ignore: tuple[str, ...] | None
    config_file: Path | None
    dynamic: bool
    fix: bool
    unsafe_fixes: bool
    diff: bool
    cache: bool
    output_file: Path | None
    report: Path | None = None  # --report: also write the HTML report there
    statistics: bool = False
    show_fixes: bool = False
    quiet: bool = False
    add_noqa: bool = False
    buffer: Buffer | None = None  # standard input, as the file --stdin-filename names


class OptionError(Exception):
    """A usage error found after parsing: exit 2 with this one line."""


def _codes(values: tuple[str, ...]) -> tuple[str, ...] | None:
    codes = tuple(c.strip().upper() for v in values for c in v.split(",") if c.strip())
    return codes or None


def explain(code: str) -> str:
    from esper_lint.catalog import known_codes, lookup

    rule = lookup(code.strip().upper())
    if rule is None:
        raise OptionError(f"--explain: expected a rule code, one of {', '.join(known_codes())}; "
                          f"got {code!r}")
    return rule.doc


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=str)
@click.option("--output-format", "--format", "output_format", type=click.Choice(FORMATS),
              default="text", show_default=True, help="Output format (--format is the old name).")
@click.option("--output-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the output to this file instead of stdout.")
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (comma-separated).")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable (comma-separated).")
@click.option("--fix", is_flag=True, help="Apply safe fixes (formula comments, verified callables).")
@click.option("--unsafe-fixes", is_flag=True,
              help="Also count and apply the unsafe fixes (constants into callables the registry may "
                   "not accept): with --fix, --diff, and in the [*] marks.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff; write nothing.")
@click.option("--show-fixes", is_flag=True, help="With --fix: list what was fixed, per file and rule.")
@click.option("--statistics", is_flag=True, help="Count the findings per rule instead of listing them.")
@click.option("--add-noqa", is_flag=True,
              help="Add a `# noqa: CODE` for every finding, so that only new findings fail a run.")
@click.option("--stdin-filename", metavar="PATH",
              help="Lint standard input as this file (also `-` as the path); with --fix, "
                   "print the fixed source.")
@click.option("-q", "--quiet", is_flag=True, help="Print the findings and nothing else.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read [tool.esper-lint] from this file instead of the nearest pyproject.toml.")
@click.option("--no-dynamic", is_flag=True, help="Static pass only: import no user code, no torch.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the dynamic pass's cache.")
@click.option("--report", "report_file", type=Path, metavar="PATH",
              help="Also write an HTML report: every blueprint's estimate against its real count, "
                   "plotted, and each registry's order (needs esper-lint[report]).")
@click.option("--explain", "explain_code", metavar="CODE", help="Print a rule's documentation.")
@click.version_option(__version__, prog_name="esper-lint")
def main(paths: tuple[str, ...], output_format: str, output_file: Path | None,
         select: tuple[str, ...], ignore: tuple[str, ...], fix: bool, unsafe_fixes: bool,
         diff: bool, show_fixes: bool, statistics: bool, add_noqa: bool, stdin_filename: str | None,
         quiet: bool, exit_zero: bool, config_file: Path | None, no_dynamic: bool, no_cache: bool,
         explain_code: str | None, report_file: Path | None) -> None:
    """Lint blueprint registrations under PATHS (default: the current folder; `-`: standard input)."""
    try:
        if explain_code is not None:
            click.echo(explain(explain_code))
            return
        options = Options(paths or (".",), output_format, _codes(select), _codes(ignore), config_file,
                          not no_dynamic, fix, unsafe_fixes, diff, not no_cache, output_file,
                          report_file, statistics, show_fixes, quiet, add_noqa,
                          _buffer(paths, stdin_filename, quiet))
        _check(options)
        status = run(options)
    except (ConfigError, ReportError, OptionError) as error:
        click.echo(f"esper-lint: error: {error}", err=True)
        sys.exit(2)
    except Exception as error:  # one line, never a traceback
        click.echo(f"esper-lint: internal error: {type(error).__name__}: {error}", err=True)
        sys.exit(2)
    sys.exit(0 if exit_zero else status)


def _buffer(paths: tuple[str, ...], filename: str | None, quiet: bool) -> Buffer | None:
    from esper_lint import stdin

    wanted, warning = stdin.wanted(paths, filename)
    if warning and not quiet:
        click.echo(f"esper-lint: warning: {warning}", err=True)
    return stdin.read(filename) if wanted else None


def _check(options: Options) -> None:
    """Combinations that cannot work, before anything runs."""
    target = options.output_file
    if target is not None and not target.absolute().parent.is_dir():
        raise OptionError(f"--output-file: the folder of {target} does not exist")
    if options.statistics and options.output_format not in STATISTICS_FORMATS:
        raise OptionError(f"--statistics: takes --output-format {' or '.join(STATISTICS_FORMATS)}, "
                          f"not {options.output_format}")
    if options.add_noqa and options.buffer is not None:
        raise OptionError("--add-noqa: writes files, so it cannot read standard input")


def run(options: Options) -> int:
    config = Nearest(options.config_file, select=options.select, ignore=options.ignore)
    to_stdout = options.output_file is None
    progress = (not options.quiet and sys.stderr.isatty()
                and (options.output_format == "text" or not to_stdout))
    if options.report is not None:
        from esper_lint.render import html

        html.check(options.report)  # before the run, not after it
    outcome = _lint(options, config, progress=progress)
    if options.add_noqa:
        return _add_noqa(outcome, config, options)
    if options.fix or options.diff:
        return _fix(outcome, config, options)
    _write_report(outcome, options)
    report = _report(outcome, unsafe_fixes=options.unsafe_fixes)
    _emit(_render(report, options), options.output_file)
    return 1 if report.findings else 0


def _lint(options: Options, config: ConfigFor, *, progress: bool = False, earlier: Run | None = None) -> Run:
    from esper_lint.pipeline import lint

    outcome = lint(options.paths, config, dynamic=options.dynamic, progress=progress,
                   cache=options.cache, reuse=earlier.measurements if earlier else None,
                   buffer=options.buffer)
    for warning in () if options.quiet else outcome.warnings:
        click.echo(f"esper-lint: warning: {warning}", err=True)
    return outcome


def _report(outcome: Run, **fixing: Any) -> Report:
    return Report(findings=outcome.findings, files=outcome.scanned.files,
                  skipped=outcome.scanned.skipped, warnings=outcome.warnings,
                  notes=outcome.notes, reference_dims=reference_dims(outcome), **fixing)


def reference_dims(outcome: Run) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    """The reference widths of the linted topologies, as the run used them."""
    found = {(r.topology, r.reference.widths, r.reference.source) for r in outcome.registries
             if r.reference is not None and any(m.linted for m in r.members)}
    return tuple(sorted(found))


def _fix(outcome: Run, config: ConfigFor, options: Options) -> int:
    """Write (or, with --diff, show) the fixes; then report what a new run finds, as ruff does.

    Standard input is never written back: the fixed source goes to stdout, the report to stderr.
    """
    from esper_lint.fix import apply_fixes

    buffer = options.buffer
    result = apply_fixes(outcome.findings, outcome.scanned.sources, outcome.scanned.sites, config,
                         unsafe=options.unsafe_fixes, write=not options.diff and buffer is None,
                         on_disk=buffer is None)
    if options.diff:
        _write_report(outcome, options)  # nothing was written: the run as it is
        click.echo("".join(result.diffs), nl=False)
        for problem in result.problems:
            click.echo(f"esper-lint: {problem.path}: {problem.code} {problem.message}", err=True)
        return 1 if result.diffs else 0
    if buffer is not None:
        from esper_lint.stdin import fixed_data, write_out

        data = fixed_data(buffer, outcome.scanned.sources, result.texts)
        write_out(data)
        options = replace(options, buffer=replace(buffer, data=data))
    after = _lint(options, config, earlier=outcome) if result.fixed else outcome
    _write_report(after, options)
    remaining = tuple(sorted((*after.findings, *result.problems), key=lambda f: f.sort_key))
    summary = fix_summary(result.fixed) if options.show_fixes else ()
    report = replace(_report(after, fixed=len(result.fixed), unsafe_hidden=result.unsafe_hidden,
                             fix_mode=True, fix_summary=summary), findings=remaining)
    _emit(_render(report, options, err=buffer is not None), options.output_file, err=buffer is not None)
    return 1 if remaining else 0


def _add_noqa(outcome: Run, config: ConfigFor, options: Options) -> int:
    """As ruff: the findings become ``# noqa`` comments and the count goes to stderr."""
    from esper_lint.noqa import add_noqa

    if options.fix or options.diff:
        click.echo("esper-lint: warning: --fix and --diff are ignored with --add-noqa", err=True)
    added = add_noqa(outcome.findings, outcome.scanned.sources, outcome.scanned.sites, config)
    for problem in added.problems:
        click.echo(f"esper-lint: warning: {problem}", err=True)
    if not options.quiet:
        click.echo(f"Added {plural(added.directives, 'noqa directive')}.", err=True)
    return 1 if added.problems else 0


def _render(report: Report, options: Options, *, err: bool = False) -> str:
    from esper_lint.render import colour, statistics, text

    stream = sys.stderr if err else sys.stdout
    style = colour.ANSI if options.output_file is None and colour.wanted(stream) else colour.PLAIN
    if options.statistics and options.output_format == "json":
        return statistics.render_json(report)
    if options.statistics:
        return statistics.render_text(report, style, options.quiet)
    if options.output_format == "text":
        return text.render(report, style, options.quiet)
    return renderers()[options.output_format](report)


def _write_report(outcome: Run, options: Options) -> None:
    if options.report is not None:
        from esper_lint.render import html

        html.write(options.report, outcome, options.paths)


def _emit(text: str, output_file: Path | None, *, err: bool = False) -> None:
    # Lone surrogates (from a file name that is not UTF-8, or user code's error text) are escaped.
    data = text.encode("utf-8", "backslashreplace")
    if output_file is None:
        click.echo(data, nl=False, err=err)
    else:
        write_atomically(output_file, data)
