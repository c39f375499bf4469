"""One blueprint's real count against width, with its estimate drawn over it, as inline SVG.

matplotlib (the ``report`` extra) is imported here only, and only for ``--report``.  The SVG is
made fit to sit inside the HTML page: no XML prolog, DOCTYPE, comments, metadata or namespace
URLs (HTML parses inline ``<svg>`` into the SVG namespace by itself), ``href`` for
``xlink:href``, and every id prefixed so that many plots can share one page.
"""

from __future__ import annotations

import html
import io
import re
from typing import TYPE_CHECKING

from esper_lint.render.blueprints import Entry, crossings

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MISSING = "--report needs matplotlib: pip install 'esper-lint[report]'"
COUNT, ESTIMATE, DOCUMENTED, REFERENCE = "#1f5fa8", "#d9480f", "#2b8a3e", "#868e96"


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def svg(entry: Entry) -> str:
    """The plot of ``entry`` (which must have been measured) as an inline ``<svg>`` element."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "esper-lint", "font.size": 9,
                                "axes.spines.top": False, "axes.spines.right": False}):
        figure = Figure(figsize=(5.2, 3.3))
        _draw(figure.subplots(), entry)
        out = io.StringIO()
        # A tight bounding box, not a constrained layout: as legible, and the report 3x faster.
        figure.savefig(out, format="svg", bbox_inches="tight", pad_inches=0.06,
                       metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return inline(out.getvalue(), entry.anchor,
                  f"{entry.site.blueprint.label}: real parameter count and estimate against width")


def _draw(ax: Axes, entry: Entry) -> None:
    from matplotlib.ticker import FuncFormatter

    m = entry.measured
    assert m is not None
    points = entry.points
    widths = [w for w, _, _ in points]
    counts = [c for _, c, _ in points]
    ax.plot(widths, counts, color=COUNT, linewidth=2, label="real count", zorder=3)
    estimated = [(w, e) for w, _, e in points if e is not None]
    if estimated:
        ax.plot(*zip(*estimated, strict=True), color=ESTIMATE, linewidth=1.6, label=_estimate_label(entry),
                zorder=4)
    documented = [(w, d) for w in widths if (d := entry.documented_at(w)) is not None]
    if documented:
        ax.plot(*zip(*documented, strict=True), color=DOCUMENTED, linewidth=1.2, linestyle="--",
                label="documented # formula", zorder=2)
    reference = entry.registry.reference
    for width in reference.widths if reference else ():
        if widths[0] <= width <= widths[-1]:
            ax.axvline(width, color=REFERENCE, linestyle=":", linewidth=1.2, zorder=1)
            ax.annotate(f"reference {m.variable}={width:,}", (width, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -3), textcoords="offset points", va="top", fontsize=8, color="#495057")
    met = [] if entry.exact else [high for _, high in crossings(points)[:3]]
    if met:
        ax.plot(met, [dict(m.counts)[w] for w in met], marker="o", markersize=6, markerfacecolor="none",
                markeredgecolor="#000000", linestyle="none", zorder=5, label="estimate meets the count")
    ax.set_xscale("log")
    ax.set_xlim(widths[0], widths[-1])
    values = [*counts, *(e for _, e in estimated), *(d for _, d in documented)]
    if min(values) > 0:
        ax.set_yscale("log")
    else:  # a zero count or estimate: linear below 1, so it can still be drawn
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(0, max(10, 3 * max(values)))
    grouped = FuncFormatter(lambda value, _: f"{value:,.0f}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(grouped)
    ax.minorticks_off()  # decades are enough to read a log axis by, and half the page's weight
    ax.set_xlabel(f"width ({m.variable})")
    ax.set_ylabel("parameters")
    ax.set_title(entry.site.blueprint.label, loc="left", fontsize=10, fontweight="bold")
    ax.grid(True, which="major", color="#e9ecef", linewidth=0.8)
    ax.legend(loc="upper left", fontsize=7.5, frameon=False)


def _estimate_label(entry: Entry) -> str:
    estimate = entry.site.estimate
    if estimate is None:
        return "estimate"
    if estimate.kind == "constant":
        return f"estimate: constant {estimate.value:,}" if estimate.value is not None else "estimate"
    if estimate.kind == "callable":
        return "estimate: callable"
    return "estimate: documented formula"


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(href="#|url\(#)([^")]+)')


def inline(text: str, prefix: str, title: str) -> str:
    """matplotlib's SVG document as an element to inline in HTML (see the module's docstring)."""
    text = _PROLOG.sub("", text)
    text = _METADATA.sub("", _COMMENT.sub("", text))
    text = _XMLNS.sub("", text).replace("xlink:href=", "href=")
    text = _ID.sub(lambda match: f'id="{prefix}-{match.group(1)}"', text)
    text = _REF.sub(lambda match: f"{match.group(1)}{prefix}-{match.group(2)}", text)
    text = text.replace("<svg ", f'<svg role="img" aria-labelledby="{prefix}-title" ', 1)
    return text.replace(">", f'><title id="{prefix}-title">{html.escape(title)}</title>', 1).strip()
