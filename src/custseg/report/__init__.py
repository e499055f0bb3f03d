"""The HTML report and summary.json, both rendered from one summary dictionary;
and the HTML custseg objects show in Jupyter, registered with
:mod:`custseg._display` when this package is imported."""

import typing as _typing

from custseg import _display, _lazy
from custseg.report._html import environment, render_report, write_report
from custseg.report._notebook import RENDERERS
from custseg.report._summarize import json_safe, summarize

if _typing.TYPE_CHECKING:
    from custseg.report._figures import (
        FigurePlan,
        build_figures,
        plan_figures,
        report_style,
        to_data_uri,
    )

for _kind, _renderer in RENDERERS.items():
    _display.register(_kind, _renderer)

# Loaded on first use: the figures import matplotlib, which showing a quality
# report or rendering templates does not need.
_LAZY = {
    "FigurePlan": "custseg.report._figures",
    "build_figures": "custseg.report._figures",
    "plan_figures": "custseg.report._figures",
    "report_style": "custseg.report._figures",
    "to_data_uri": "custseg.report._figures",
}


__getattr__, __dir__ = _lazy.attach(__name__, _LAZY)

__all__ = [
    "FigurePlan",
    "build_figures",
    "environment",
    "json_safe",
    "plan_figures",
    "render_report",
    "report_style",
    "summarize",
    "to_data_uri",
    "write_report",
]
