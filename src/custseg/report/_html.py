"""Render the HTML report: summary dict -> Jinja template -> one standalone file."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from custseg.report._summarize import summarize

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationRun

__all__ = ["render_report", "write_report"]


def _fmt(value: Any, decimals: int | None = None) -> str:
    """Numbers for tables: fixed decimals when asked, else 4 significant digits
    (thousands separated, whole numbers without a trailing .0)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def render_report(result: SegmentationRun) -> str:
    """The report as one HTML string: images embedded, no scripts, opens offline."""
    from matplotlib.colors import to_hex

    from custseg.plots import segment_colors
    from custseg.report._figures import build_figures

    env = Environment(
        loader=PackageLoader("custseg.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.globals["fmt"] = _fmt
    summary = summarize(result)
    colors = [to_hex(c) for c in segment_colors(summary["k"])]
    return env.get_template("report.html.j2").render(
        s=summary, figures=build_figures(result), colors=colors
    )


def write_report(result: SegmentationRun, path: str | os.PathLike[str]) -> Path:
    """Write the report to ``path`` atomically."""
    from custseg.io._write import atomic_write

    html = render_report(result)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
