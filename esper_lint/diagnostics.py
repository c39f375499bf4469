"""The ESP9xx diagnostics: something could not be checked. They are warnings, not rule findings."""

from __future__ import annotations

from esper_lint.catalog import Rule


def _d(code: str, name: str, summary: str, doc: str) -> Rule:
    return Rule(code, name, summary, f"{code} {name}: {summary}.\n\n{doc}", "diagnostic")


DIAGNOSTICS = (
    _d("ESP901", "unreadable-path", "a path could not be read",
       "A path on the command line does not exist, or a file or folder cannot be read (for\n"
       "example, no permission). The run goes on with the other files."),
    _d("ESP902", "undecodable-file", "a file could not be decoded",
       "The file's bytes are not valid in its declared encoding (a PEP 263 coding cookie, a\n"
       "BOM, or UTF-8 by default), so Python itself could not import it."),
    _d("ESP903", "symlink-loop", "a symlink loops back to itself or to its ancestor",
       "A folder linking to its own ancestor was skipped so the walk ends; its files are reached\n"
       "through the real path. A path on the command line whose links form a loop is reported and\n"
       "skipped."),
    _d("ESP904", "file-too-complex", "a file too large or too deeply nested to parse",
       "Python itself can import the file (or cannot say why not), but it is larger than 1 MiB (the\n"
       "fixer verifies files with LibCST, whose time and memory grow steeply with size) or nested too\n"
       "deeply for CPython's own parser to build its tree; it was skipped, so none of its\n"
       "registrations were checked. Split the file or simplify the expression."),
    _d("ESP911", "import-failed", "a blueprint module could not be imported",
       "The dynamic pass imports each blueprint module in a worker process. The import raised\n"
       "(an ImportError, any exception, or `sys.exit`); the message has the error's last line.\n"
       "Make the module importable (see the `src` setting) or run with `--no-dynamic`."),
    _d("ESP912", "measure-timeout", "importing or building a blueprint timed out",
       "The worker was stopped after the configured `timeout` (seconds per module) and\n"
       "replaced; the other blueprints are still measured."),
    _d("ESP913", "worker-crashed", "the worker crashed or ran out of memory",
       "The worker died from a signal (for example SIGSEGV) or hit `memory-limit-mb` while\n"
       "importing or building the blueprint; it was replaced and the run went on."),
    _d("ESP914", "factory-not-found", "the factory could not be fetched from its module",
       "The dynamic pass fetches each factory by name from its imported module. A factory\n"
       "defined inside a function, or a name the module does not bind, cannot be fetched."),
    _d("ESP915", "factory-raised", "the factory raised at every sampled width",
       "No width produced a module, so there is nothing to count; the message has the error."),
    _d("ESP921", "fix-not-written", "a fix was not written because the file changed or is read-only",
       "`--fix` reads each file, edits it, and writes it back atomically. When the file changed on\n"
       "disk since it was read, or it is read-only, nothing is written to it; the other files are\n"
       "still fixed. Run `--fix` again once the file is settled or writable."),
    _d("ESP922", "fix-would-break", "a fix was not written because the result would not compile",
       "Every fixed file is parsed and compiled before it is written. This edit failed that check,\n"
       "so the file was left exactly as it was. Please report it: it is a bug in esper-lint."),
    _d("ESP999", "syntax-error", "a file could not be parsed",
       "The file is not valid Python 3 syntax, so none of its registrations were checked."),
)
