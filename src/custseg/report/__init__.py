"""The HTML report and summary.json, both rendered from one summary dictionary."""

from custseg.report._html import render_report, write_report
from custseg.report._summarize import json_safe, summarize

__all__ = ["json_safe", "render_report", "summarize", "write_report"]
