"""``--report PATH``: one self-contained HTML page about a run, for people to look at.

A summary table of every linted blueprint (worst first), each registry's order at its reference
widths beside the real order (ESP004's view), a log-log plot per measured blueprint, and the
run's facts.  No network: no external scripts, styles, fonts or images, no URL at all.  The page
is well-formed XML (XHTML syntax), written through ``atomic.py``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from esper_lint import __version__
from esper_lint.atomic import write_atomically
from esper_lint.registries import Member, Registry, Row
from esper_lint.render import ReportError
from esper_lint.render.blueprints import Entry, crossings, entries

if TYPE_CHECKING:
    from esper_lint.pipeline import Run


def check(target: Path) -> None:
    """Fail before the run, not after it: matplotlib is there and the folder exists."""
    from esper_lint.render.plot import MISSING, available

    if not available():
        raise ReportError(MISSING)
    if target.is_dir():
        raise ReportError(f"--report {target}: is a folder, not a file")
    if not target.parent.is_dir():
        raise ReportError(f"--report {target}: no such folder: {target.parent}")


def write(target: Path, run: Run, paths: Sequence[str]) -> None:
    page = render(run, paths, datetime.now(UTC))
    try:
        write_atomically(target, page.encode("utf-8"))
    except OSError as error:
        raise ReportError(f"--report {target}: {error.strerror or error}") from None


def render(run: Run, paths: Sequence[str], when: datetime) -> str:
    items = entries(run)
    body = "".join((_facts(run, paths, when, items), _table(items), _orders(run.registries),
                    _plots(items), _others(run)))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"/>'
            f"<title>esper-lint report</title><style>{CSS}</style></head>"
            f"<body><h1>esper-lint report</h1>{body}</body></html>\n")


def _e(value: object) -> str:
    return html.escape(str(value))


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _code(text: str) -> str:
    return f"<code>{_e(text)}</code>"


# --- the run's facts ---------------------------------------------------------------------------


def _facts(run: Run, paths: Sequence[str], when: datetime, items: Sequence[Entry]) -> str:
    from esper_lint.cache import torch_version

    measured = sum(e.measured is not None for e in items)
    rows = [("esper-lint", __version__), ("run at", when.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("torch", torch_version() if run.measurements else "not used (no dynamic pass)"),
            ("paths", " ".join(paths)),
            ("blueprints", f"{len(items):,} linted, {measured:,} measured"),
            ("findings", f"{len(run.findings):,}")]
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    refs = "".join(f"<tr><th>{_e(r.topology)}</th><td>{_reference(r)}</td></tr>"
                   for r in _linted(run.registries))
    notes = "".join(f"<li>{_e(line)}</li>" for line in (*run.warnings, *run.notes))
    listed = f'<ul class="notes">{notes}</ul>' if notes else ""
    return (f'<section id="run"><table class="facts">{cells}</table>'
            f'<table class="facts"><caption>reference widths</caption>{refs}</table>{listed}</section>')


def _reference(registry: Registry) -> str:
    ref = registry.reference
    if ref is None:
        return f"none ({_e(registry.why_no_reference or 'no estimate to infer it from')})"
    widths = ", ".join(f"{w:,}" for w in ref.widths)
    how = f"inferred: {ref.note}" if ref.source == "inferred" else "configured"
    return f"{_e(widths)} <span class=\"muted\">({_e(how)})</span>"


def _linted(registries: Iterable[Registry]) -> list[Registry]:
    return [r for r in registries if any(m.linted for m in r.members)]


# --- the summary table -------------------------------------------------------------------------

def _table(items: Sequence[Entry]) -> str:
    folder = _common_folder(e.site.display for e in items)
    where = f'where <span class="muted">in {_e(folder)}/</span>' if folder else "where"
    top = (f'<tr><th rowspan="2">blueprint</th><th rowspan="2">{where}</th>'
           '<th rowspan="2">estimate as written</th><th rowspan="2">verified formula</th>'
           '<th colspan="3" class="group">at the reference width</th>'
           '<th colspan="3" class="group">at the largest width</th><th rowspan="2">findings</th></tr>')
    sub = "<tr>" + "<th>width</th><th>real count</th><th>error</th>" * 2 + "</tr>"
    rows = "".join(_row(e, folder) for e in items)
    return (f'<section id="summary"><h2>Blueprints, worst estimate first</h2>'
            f'<table class="summary"><thead>{top}{sub}</thead><tbody>{rows}</tbody></table></section>')


def _common_folder(displays: Iterable[str]) -> str:
    folders = [PurePosixPath(d).parent for d in displays]
    if not folders:
        return ""
    common = os.path.commonpath([str(f) for f in folders])
    return "" if common in ("", ".") else common


def _row(e: Entry, folder: str) -> str:
    m, site = e.measured, e.site
    ref, wide = e.reference, e.largest
    data = {"blueprint": site.blueprint.label, "path": site.display, "line": site.call.line,
            "estimate": site.estimate.value if site.estimate else None,
            "formula": m.formula.expr if m and m.formula else None,
            "reference": ref, "count-reference": e.count_at(ref), "largest": wide,
            "count-largest": e.count_at(wide), "codes": " ".join(e.codes)}
    attributes = "".join(f' data-{k}="{_e(v)}"' for k, v in data.items() if v is not None)
    shown = site.display[len(folder) + 1:] if folder else site.display
    cells = (f'<a href="#{e.anchor}">{_e(site.blueprint.label)}</a>',
             _e(f"{shown}:{site.call.line}"), _written(e), _verified(e),
             _e(_n(ref)), _e(_n(e.count_at(ref))), _error(e.error_at(ref)),
             _e(_n(wide)), _e(_n(e.count_at(wide))), _error(e.error_at(wide)), _verdict(e))
    return f"<tr{attributes}>{''.join(f'<td>{c}</td>' for c in cells)}</tr>"


def _written(e: Entry) -> str:
    estimate = e.site.estimate
    if estimate is None:
        return '<span class="muted">no estimate</span>'
    kind = estimate.kind if estimate.kind in ("callable", "constant") else "other"
    documented = f"<br/>{_code('# formula: ' + estimate.formula)}" if estimate.formula else ""
    return f'{_code(estimate.source)} <span class="muted">{kind}</span>{documented}'


def _verified(e: Entry) -> str:
    m = e.measured
    if m is None:
        return f'<span class="muted">{_e(e.diagnostic or "not measured")}</span>'
    domain = f'<br/><span class="muted">defined for {_e(m.domain)}</span>' if m.domain else ""
    if m.formula is None:
        return f'<span class="muted">none: {_e(m.no_formula or "no candidate fits")}</span>{domain}'
    return f"{_code(m.formula.expr)}{domain}"


def _error(phrase: str | None) -> str:
    if phrase is None:
        return "—"
    tone = "ok" if phrase == "exact" else "bad"
    return f'<span class="{tone}">{_e(phrase)}</span>'


def _verdict(e: Entry) -> str:
    moved = "".join(f' <a class="flag" href="#order-{_e(e.registry.topology)}-{w}">out of order at '
                    f"{w:,}</a>" for w in e.moved_at)
    if e.codes:
        return " ".join(f'<span class="code">{_e(c)}</span>' for c in e.codes) + moved
    if e.exact:
        return '<span class="ok">exact</span>' + moved
    return ('<span class="muted">not measured</span>' if e.measured is None
            else '<span class="muted">no findings</span>') + moved


# --- each registry's order ---------------------------------------------------------------------


def _orders(registries: Sequence[Registry]) -> str:
    parts = [_order(r) for r in _linted(registries) if len(r.members) > 1]
    return f'<section id="orders"><h2>Registry order at the reference widths</h2>{"".join(parts)}</section>'


def _order(registry: Registry) -> str:
    title = f"<h3>{_e(registry.topology)}</h3>"
    if registry.reference is None:
        return f'{title}<p class="muted">no reference width: {_e(registry.why_no_reference)}</p>'
    parts = []
    for width in registry.reference.widths:
        anchor = f"order-{_e(registry.topology)}-{width}"
        order = registry.order(width)
        if order is None:
            missing = ", ".join(m.label for m in registry.members
                                if m.read_at(width) is None or m.measured is None)
            parts.append(f'<p id="{anchor}" class="muted">at {width:,}: not judged, {_e(missing)} '
                         "could not be measured or read there</p>")
            continue
        moved = {row.member for row in order.moved}
        verdict = (f'{len(moved)} estimate{"s" if len(moved) > 1 else ""} must change: '
                   + ", ".join(r.member.name for r in order.moved)) if moved else "same order"
        listed = _ranked(order.by_estimate, "estimate", moved), _ranked(order.by_count, "count", moved)
        parts.append(f'<div class="order" id="{anchor}"><p>at width {width:,}: '
                     f'<span class="{"bad" if moved else "ok"}">{_e(verdict)}</span></p>'
                     f'<div class="pair"><div><h4>sorted by estimate (the registry\'s order)</h4>'
                     f'{listed[0]}</div>'
                     f'<div><h4>sorted by real count</h4>{listed[1]}</div></div></div>')
    return title + "".join(parts)


def _ranked(rows: Sequence[Row], field: str, moved: set[Member]) -> str:
    items = []
    for row in rows:
        member = row.member
        mark = ' class="moved"' if member in moved else ""
        flag = ' <span class="flag">must change</span>' if member in moved else ""
        items.append(f"<li{mark}><span>{_e(member.name)}</span> <b>{getattr(row, field):,}</b>{flag}</li>")
    return f"<ol>{''.join(items)}</ol>"


# --- the plots ---------------------------------------------------------------------------------


def _plots(items: Sequence[Entry]) -> str:
    from esper_lint.render.plot import svg

    cards = []
    for e in items:
        picture = svg(e) if e.measured is not None else \
            f'<p class="muted">{_e(e.diagnostic or "not measured")}</p>'
        cards.append(f'<figure id="{e.anchor}">{picture}<figcaption>{_caption(e)}</figcaption></figure>')
    return f'<section id="plots"><h2>Real count against width, worst first</h2>' \
           f'<div class="grid">{"".join(cards)}</div></section>'


def _caption(e: Entry) -> str:
    lines = [f"<b>{_e(e.site.blueprint.label)}</b> {_e(e.site.display)}:{e.site.call.line}"]
    m = e.measured
    if m is not None:
        met = crossings(e.points)
        if e.exact:
            lines.append("the estimate equals the real count at every measured width")
        elif met:
            where = ", ".join(f"{m.variable}={a:,}" if a == b else f"between {a:,} and {b:,}"
                              for a, b in met[:3])
            lines.append(f"estimate meets the real count at {_e(where)}")
        elif any(est is not None for _, _, est in e.points):
            lines.append("the estimate never meets the real count over the measured widths")
    lines.extend(f'<span class="code">{_e(f.code)}</span> {_e(f.message)}' for f in e.findings)
    return "<br/>".join(lines)


def _others(run: Run) -> str:
    """Findings about no blueprint: unreadable files, syntax errors."""
    rest = [f for f in run.findings if f.blueprint is None]
    if not rest:
        return ""
    items = "".join(f'<li><span class="code">{_e(f.code)}</span> {_e(f.path)}:{f.span.line} '
                    f"{_e(f.message)}</li>" for f in rest)
    return f'<section id="other"><h2>Other diagnostics</h2><ul>{items}</ul></section>'


CSS = """
body{font-family:system-ui,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#212529;
font-size:14px;background:#fff}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:15px;margin:16px 0 6px}
h4{font-size:13px;margin:4px 0;font-weight:600;color:#495057}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;background:#f1f3f5;
padding:1px 3px;border-radius:3px}
table{border-collapse:collapse}
.facts{display:inline-table;vertical-align:top;margin:0 24px 8px 0}
.facts th{text-align:left;padding:2px 12px 2px 0;color:#495057;font-weight:600}
.facts caption{text-align:left;font-weight:600;padding-bottom:2px}
.summary{width:100%;font-size:13px}
.summary th{text-align:left;background:#f1f3f5;padding:6px;border-bottom:2px solid #dee2e6;
vertical-align:bottom}
.summary td{padding:5px 6px;border-bottom:1px solid #e9ecef;vertical-align:top}
.summary td:nth-child(n+5):nth-child(-n+10){text-align:right;white-space:nowrap}
.summary th.group{text-align:center;border-bottom:1px solid #dee2e6}
.summary td:last-child{min-width:120px}
.muted{color:#868e96}.ok{color:#2b8a3e;font-weight:600}.bad{color:#c92a2a;font-weight:600}
.code{font-family:"DejaVu Sans Mono",monospace;font-size:12px;background:#fff4e6;color:#a61e4d;
padding:1px 4px;border-radius:3px}
.notes{color:#495057}
.pair{display:flex;gap:32px}.pair ol{margin:0;padding-left:24px}
.pair li{padding:1px 0}.pair li b{font-weight:500;color:#495057;margin-left:6px}
li.moved span{color:#c92a2a;font-weight:700}
.flag{font-size:11px;background:#ffe3e3;color:#c92a2a;padding:0 4px;border-radius:3px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:16px}
figure{margin:0;border:1px solid #dee2e6;border-radius:6px;padding:8px}
figure svg{width:100%;height:auto}
figcaption{font-size:12px;color:#495057;line-height:1.5}
a{color:#1c7ed6;text-decoration:none}
"""
