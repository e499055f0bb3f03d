"""Render the HTML report: summary dict -> Jinja template -> one standalone file."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from custseg._format import number as _fmt
from custseg.report._summarize import summarize

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationRun

__all__ = ["environment", "render_report", "write_report"]


@functools.cache
def environment() -> Environment:
    """The Jinja environment of every custseg template (report, comparison,
    notebook display): package templates, autoescaping on, ``fmt`` for
    numbers."""
    env = Environment(
        loader=PackageLoader("custseg.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.globals["fmt"] = _fmt
    return env


def render_report(
    result: SegmentationRun, figures: dict[str, list[dict[str, str]]] | None = None
) -> str:
    """The report as one HTML string: images embedded, no scripts, opens offline.

    ``figures``: already drawn (:func:`custseg.report.plan_figures`), else
    drawn here."""
    from matplotlib.colors import to_hex

    from custseg.plots import segment_colors
    from custseg.report._figures import build_figures

    env = environment()
    summary = summarize(result)
    numbers = [int(seg["segment"]) for seg in summary["segments"]]
    colors = [to_hex(c) for c in segment_colors(len(numbers), numbers=numbers)]
    return env.get_template("report.html.j2").render(
        s=summary,
        figures=build_figures(result) if figures is None else figures,
        colors=colors,
        v=_view(result, summary),
    )


# How a fitted model assigns a new customer, by ``predictor_["method"]``.
PREDICT_METHODS = {
    "centroid": "to the segment with the nearest centre (centroid)",
    "neighbours": "by a vote of the nearest stored training customers",
    "gmm": "to the most probable mixture component",
    "prototypes": "to the nearest prototype (numeric means and categorical modes)",
}


def stability_words(overall: float | None) -> tuple[str, str]:
    """A short verdict and one plain sentence for the overall stability (the
    mean adjusted Rand index over bootstrap resamples)."""
    from custseg.cluster import ARI_GOOD, ARI_MODERATE

    if overall is None or not math.isfinite(overall):
        return "not measured", "Stability could not be measured."
    if overall >= ARI_GOOD:
        return (
            "stable",
            "Segmenting resampled customers finds essentially the same segments.",
        )
    if overall >= ARI_MODERATE:
        return (
            "moderately stable",
            "Segmenting resampled customers finds similar segments, but some "
            "boundaries between them shift.",
        )
    return (
        "unstable",
        "Segmenting resampled customers gives noticeably different segments; "
        "treat them as tentative.",
    )


def card_views(result: SegmentationRun) -> dict[int, dict[str, Any]]:
    """Per segment number, what its card shows: the features that set it
    apart most first (``top``, up to ``CARD_FEATURES``; the rest folded in
    ``more``), each formatted by its role and compared with the average,
    the reason for the action, and the rule in readable labels."""
    from custseg.profile import CARD_FEATURES

    rules = {r.segment: r for r in getattr(result.segmenter, "rules_", ())}
    cards: dict[int, dict[str, Any]] = {}
    for p in result.profiles:
        lines = p.distinguishing()
        rule = rules.get(p.segment)
        cards[p.segment] = {
            "top": lines[:CARD_FEATURES],
            "more": lines[CARD_FEATURES:],
            "reason": p.reason,
            "rule": rule.readable(p.labels) if rule is not None else None,
        }
    return cards


def _view(result: SegmentationRun, summary: dict[str, Any]) -> dict[str, Any]:
    """What the template needs beyond ``summary.json``: lookups by segment
    number, plain-words verdicts, and the tie-break record."""
    from custseg.cluster import NOISE_REASON

    rules = {int(r["segment"]): r for r in summary.get("rules") or []}
    stability = summary.get("stability")
    per_segment: dict[int, dict[str, Any]] = {}
    if stability:
        for number, value, word in zip(
            stability["segments"],
            stability["per_segment"],
            stability["verdicts"],
            strict=True,
        ):
            per_segment[int(number)] = {"value": value, "verdict": word}
    verdict, sentence = stability_words(stability["overall"] if stability else None)
    algorithm = summary["algorithm"]
    ties = getattr(result.k_selection, "tie_stability", {}) or {}
    excluded = summary.get("excluded_rows") or []
    reasons = sorted({str(r.get("reason")) for r in excluded if r.get("reason")})
    words = {  # plain words for the reasons a customer is in no segment
        NOISE_REASON: "HDBSCAN found them in no dense group of customers (its "
        '"noise"): they sit between the groups or away from them.'
    }
    because = " ".join(words.get(r, f"Reason: {r}.") for r in reasons)
    return {
        "rules": rules,
        "cards": card_views(result),
        "segment_stability": per_segment,
        "stability_verdict": verdict,
        "stability_sentence": sentence,
        "predict_words": PREDICT_METHODS.get(
            algorithm["predict_method"], str(algorithm["predict_method"])
        ),
        "tie_stability": sorted((int(k), float(v)) for k, v in ties.items()),
        "unassigned_reasons": reasons,
        "unassigned_because": because,
        "stability_alarm": bool(
            stability
            and (
                stability["unstable_segments"]
                or verdict in ("unstable", "not measured")
            )
        ),
        "fit_sampled": int(algorithm["fit_rows"]) < int(summary["n_rows"]),
    }


def write_report(
    result: SegmentationRun,
    path: str | os.PathLike[str],
    figures: dict[str, list[dict[str, str]]] | None = None,
) -> Path:
    """Write the report to ``path`` atomically (``figures`` as for
    :func:`render_report`)."""
    from custseg.io import atomic_write

    html = render_report(result, figures)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
