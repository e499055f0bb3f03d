"""The HTML report and summary.json, both rendered from one summary dictionary;
and the HTML custseg objects show in Jupyter, registered with
:mod:`custseg._display` when this package is imported."""

import typing as _typing

from custseg import _display
from custseg.report._html import environment, render_report, write_report
from custseg.report._notebook import RENDERERS
from custseg.report._summarize import json_safe, summarize

if _typing.TYPE_CHECKING:
    from custseg.report._figures import report_style, to_data_uri

for _kind, _renderer in RENDERERS.items():
    _display.register(_kind, _renderer)

# Loaded on first use: the figures import matplotlib, which showing a quality
# report or rendering templates does not need.
_LAZY = {
    "report_style": "custseg.report._figures",
    "to_data_uri": "custseg.report._figures",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'custseg.report' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "environment",
    "json_safe",
    "render_report",
    "report_style",
    "summarize",
    "to_data_uri",
    "write_report",
]
