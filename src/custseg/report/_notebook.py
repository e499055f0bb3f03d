"""HTML for Jupyter: what custseg objects show as the last expression of a cell.

Data first, as in the report: each ``*_html`` function collects a plain dict
(strings already formatted for people) and renders one macro of
``templates/notebook.html.j2`` with autoescaping on. Figures are the library's
Display classes drawn to embedded PNGs under the report's rcParams, restored
afterwards, so showing a result never changes the user's matplotlib settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custseg._format import number as _fmt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from custseg.cluster import KSelection
    from custseg.model import Segmenter
    from custseg.pipeline import Comparison, RFMAnalysis, SegmentationRun
    from custseg.profile import SegmentProfile
    from custseg.quality import QualityReport

__all__ = [
    "RENDERERS",
    "comparison_html",
    "kselection_html",
    "profile_html",
    "quality_html",
    "rfm_html",
    "run_html",
    "segmenter_html",
]

# Columns of the quality table shown in a notebook, in this order.
_QUALITY_COLUMNS = {
    "name": "column",
    "kind": "kind",
    "dtype": "type",
    "missing": "missing",
    "distinct": "distinct",
    "outliers": "outliers",
    "min": "min",
    "max": "max",
}
_COMPARISON_COLUMNS = {
    "label": "algorithm",
    "k": "k",
    "silhouette": "silhouette",
    "calinski_harabasz": "Calinski-Harabasz",
    "davies_bouldin": "Davies-Bouldin",
    "stability": "stability",
    "unassigned": "unassigned",
    "sizes": "sizes",
    "seconds": "seconds",
}
_FIGURE_DPI = 80


@cache
def _macros() -> Any:
    from custseg.report._html import environment

    return environment().get_template("notebook.html.j2").module


def _render(macro: str, data: dict[str, Any]) -> str:
    return str(getattr(_macros(), macro)(data))


def _table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], left: Iterable[int] = (0,)
) -> dict[str, Any]:
    """A table for the template: headers, formatted cells, left-aligned columns."""
    return {
        "columns": list(columns),
        "rows": [[_fmt(v) for v in row] for row in rows],
        "left": set(left),
    }


def _figure(make: Callable[[], Figure]) -> str:
    from custseg.report._figures import report_style, to_data_uri

    with report_style():
        return to_data_uri(make(), dpi=_FIGURE_DPI)


def _source_name(source: str) -> str:
    """A file by its name (the folder is noise in a notebook); a DataFrame,
    database or other source as it was given."""
    if source.startswith("<"):
        return "a DataFrame" if source == "<DataFrame>" else source
    if "://" in source:  # a database URL, already redacted
        return source
    return Path(source).name or source


def _share(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 or value == 0 else f"{value:.1%}"


# -- quality -----------------------------------------------------------------------


def _quality(q: QualityReport) -> dict[str, Any]:
    frame = q.to_frame().reset_index()
    shown = [c for c in _QUALITY_COLUMNS if c in frame.columns]
    rows = []
    for record in frame[shown].to_dict("records"):
        rows.append([record[c] for c in shown])
    missing = sum(int(c.missing) for c in q.columns)
    facts = [
        ("rows", f"{q.n_rows:,}"),
        ("columns", f"{q.n_columns:,}"),
        ("missing values", f"{missing:,}"),
        ("duplicate rows", f"{q.duplicate_rows:,}"),
    ]
    if q.id_columns:
        facts.append(("ID columns", ", ".join(q.id_columns)))
    return {
        "source": _source_name(q.source),
        "facts": facts,
        "findings": list(q.findings),
        "repairs": list(q.repairs),
        "columns": _table([_QUALITY_COLUMNS[c] for c in shown], rows, left=(0, 1, 2)),
        "open": q.n_columns <= 12,
    }


def quality_html(q: QualityReport) -> str:
    """A quality report: counts, findings, repairs and the column table."""
    return _render("quality", _quality(q))


# -- choosing k -----------------------------------------------------------------


def _kselection(ks: KSelection, figure: bool = True) -> dict[str, Any]:
    frame = ks.to_frame().reset_index()
    titles = {
        "calinski_harabasz": "Calinski-Harabasz",
        "davies_bouldin": "Davies-Bouldin",
        "bic": "BIC",
        "aic": "AIC",
    }
    rows = [
        [int(row[0]), *(_round(float(v)) for v in row[1:])]
        for row in frame.itertuples(index=False)
    ]
    chosen = list(ks.k_values).index(ks.k) if ks.k in ks.k_values else None
    return {
        "k": ks.k,
        "reason": ks.reason,
        "structure_reason": ks.structure_reason,
        "table": _table([titles.get(c, c) for c in frame.columns], rows, left=()),
        "chosen_row": chosen,
        "figure": _k_figure(ks) if figure and len(ks.k_values) > 1 else None,
    }


def _round(value: float) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    if abs(value) >= 100:
        return round(value)
    return round(value, 3)


def _k_figure(ks: KSelection) -> str:
    from custseg.plots import ElbowDisplay, KScoresDisplay

    def make() -> Figure:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 4, figsize=(15, 3.2), layout="constrained")
        ElbowDisplay.from_selection(ks).plot(ax=axes[0])
        KScoresDisplay.from_selection(ks).plot(axes=axes[1:])
        return fig

    return _figure(make)


def kselection_html(ks: KSelection) -> str:
    """How k was chosen: the reason, the curves and the table of indices."""
    return _render("kselection", _kselection(ks))


# -- segments -----------------------------------------------------------------------


def _card(
    p: SegmentProfile, number: int, color: str, rule: str | None = None
) -> dict[str, Any]:
    from custseg.profile import CARD_FEATURES

    lines = p.feature_lines()
    return {
        "number": number,
        "name": p.name,
        "size": f"{p.size:,}",
        "share": f"{_share(p.share)} of the customers",
        "features": lines[:CARD_FEATURES],
        "more": lines[CARD_FEATURES:],
        "rule": rule,
        "action_title": p.action_title,
        "action": p.action,
        "reason": p.reason,
        "color": color,
    }


def profile_html(p: SegmentProfile) -> str:
    """One segment as a card: size, feature means, categories and action."""
    from matplotlib.colors import to_hex

    from custseg.plots import segment_colors

    color = to_hex(segment_colors(1, numbers=[p.segment])[0])
    return _render("profile", {**_card(p, p.segment, color)})


def _cards(seg: Segmenter) -> list[dict[str, Any]]:
    from matplotlib.colors import to_hex

    from custseg.plots import segment_colors

    profiles = seg.profiles_
    numbers = [int(n) for n in getattr(seg, "segment_ids_", range(len(profiles)))]
    colors = [to_hex(c) for c in segment_colors(len(profiles), numbers=numbers)]
    # rules are keyed by segment number, which differs from the position once
    # a previous model's numbers are kept (Segmenter.renumber)
    labels = {c: r.label for c, r in getattr(seg, "columns_", {}).items()}
    rules = {int(r.segment): r.readable(labels) for r in getattr(seg, "rules_", ())}
    return [
        _card(p, numbers[i], colors[i], rules.get(numbers[i]))
        for i, p in enumerate(profiles)
    ]


def _segments(seg: Segmenter, n_rows: int, source: str | None) -> dict[str, Any]:
    from custseg.cluster import ALGORITHMS

    k = len(seg.profiles_)
    labels = getattr(seg, "labels_", None)  # a loaded model has none
    n_none = 0 if labels is None else int((labels < 0).sum())
    facts = [
        ("customers", f"{n_rows:,}"),
        ("method", ALGORITHMS[getattr(seg, "algorithm_", "kmeans")]),
        ("features", ", ".join(seg.selection_.columns)),
    ]
    stability = getattr(seg, "stability_", None)
    if stability is not None and math.isfinite(stability.overall):
        facts.append(("stability (ARI)", f"{stability.overall:.2f}"))
    unassigned = ""
    if n_none:
        from custseg.cluster import NOISE_REASON

        unassigned = (
            f"{n_none:,} customers ({n_none / max(n_rows, 1):.1%}) are in "
            f"no segment: {NOISE_REASON}."
        )
    return {
        "title": f"{k} customer segments" + (f" in {source}" if source else ""),
        "facts": facts,
        "unassigned": unassigned,
        "profiles": _cards(seg),
        "kselection": _kselection(seg.k_selection_, figure=False),
        "figures": [],
        "rfm": None,
        "quality": None,
        "hint": "",
    }


def segmenter_html(seg: Segmenter) -> str:
    """A fitted Segmenter: its segments as cards and how k was chosen. A model
    loaded from a file has no training rows: the profiles' sizes count them."""
    labels = getattr(seg, "labels_", None)
    if hasattr(seg, "n_fit_rows_"):  # Spark: labels_ hold the driver's sample
        n_rows = int(seg.n_fit_rows_)
    elif labels is not None:
        n_rows = len(labels)
    else:
        n_rows = sum(p.size for p in seg.profiles_)
    return _render("run", _segments(seg, n_rows, None))


def run_html(result: SegmentationRun) -> str:
    """A segmentation run: the segments as cards, a 2-D picture, and (folded)
    how k was chosen and the data quality; an RFM run adds its RFM tables."""
    seg = result.segmenter
    data = _segments(seg, result.n_rows, _source_name(result.source))
    data["figures"] = _run_figures(result)
    data["quality"] = _quality(result.quality)
    if result.rfm is not None:
        data["rfm"] = _rfm(result.rfm)
    data["hint"] = (
        "result.segments_frame(): every customer with its segment; "
        "custseg.pipeline.write_outputs(result, folder): the files, report and model."
    )
    return _render("run", data)


def _run_figures(result: SegmentationRun) -> list[dict[str, str]]:
    """One picture of the segments: the first two numeric features, or the PCA
    projection when there are more (drawn from a fixed-seed sample)."""
    from custseg import plots
    from custseg.prep import model_frame
    from custseg.report._figures import figure_sample

    seg = result.segmenter
    names = list(seg.segment_names_)
    numbers = [int(n) for n in getattr(seg, "segment_ids_", range(len(names)))]
    numeric = list(seg.selection_.numeric)
    data, labels, _ = figure_sample(
        result.data, result.labels, seg.random_state, total=result.n_rows
    )
    frame, _ = model_frame(data, seg.selection_)  # numbers as the model saw them
    if len(seg.selection_.columns) == 2 and len(numeric) == 2:
        x, y = numeric

        def make() -> Figure:
            return (
                plots.SegmentScatterDisplay.from_frame(
                    frame,
                    labels,
                    x,
                    y,
                    names,
                    numbers=numbers,
                    random_state=seg.random_state,
                )
                .plot()
                .figure_
            )

        return [{"alt": f"{y} against {x}, by segment", "src": _figure(make)}]
    Z = seg.prepare_frame(frame)
    if Z.shape[1] < 2:
        return []

    def project() -> Figure:
        return (
            plots.ProjectionDisplay.from_prepared(
                Z,
                labels,
                seg.cluster_centers_,
                names,
                numbers=numbers,
                random_state=seg.random_state,
                feature_names=seg.prepared_feature_labels(),
            )
            .plot()
            .figure_
        )

    return [{"alt": "The segments in a 2-D projection (PCA)", "src": _figure(project)}]


# -- RFM ---------------------------------------------------------------------------


def _rfm(analysis: RFMAnalysis) -> dict[str, Any]:
    c = analysis.cleaning
    reasons = c.drop_reasons()
    cleaning = [["lines read", c.lines]]
    cleaning += [[f"dropped: {reasons[key]}", n] for key, n in c.dropped.items() if n]
    cleaning.append(["lines used", c.used])
    if c.netted:
        cleaning.append(["of which cancellations netted against purchases", c.netted])
    money = c.columns.has_money
    segs = analysis.segments
    seg_rows = []
    for row in segs.to_dict("records"):
        cells = [row["rfm_segment"], row["customers"], _share(float(row["share"]))]
        if money:
            cells.append(_share(float(row["revenue_share"])))
        cells += [
            round(float(row["recency_days_mean"])),
            round(float(row["frequency_mean"]), 1),
        ]
        if money:
            cells.append(round(float(row["monetary_mean"])))
        seg_rows.append(cells)
    facts = [("snapshot", c.snapshot.isoformat()), ("orders", f"{c.orders:,}")]
    if c.net_revenue is not None:
        facts.append(("net revenue", _fmt(c.net_revenue)))
    facts.append(("cancellations", c.cancellations))
    headers = ["RFM segment", "customers", "share"]
    headers += (
        ["revenue", "recency (days)", "orders", "spend"]
        if money
        else [
            "recency (days)",
            "orders",
        ]
    )
    return {
        "customers": f"{c.customers:,}",
        "lines": f"{c.lines:,}",
        "facts": facts,
        "cleaning": _table(["transaction lines", "count"], cleaning),
        "segments": _table(headers, seg_rows),
        "definitions": (
            "Recency: days from the customer's last purchase to the snapshot. "
            "Frequency: distinct orders. Monetary: net spend. Each is scored 1-5 "
            "(5 is best); the segment comes from the recency score and the "
            "average of the frequency and monetary scores. Means per segment."
            if money
            else "Recency: days from the customer's last purchase to the "
            "snapshot. Frequency: distinct orders. The log has no money column, "
            "so there is no monetary value: each is scored 1-5 (5 is best) and "
            "the segment comes from the recency and frequency scores. Means per "
            "segment."
        ),
    }


def rfm_html(analysis: RFMAnalysis) -> str:
    """The RFM side of a run: how every line was used and the RFM segments."""
    return _render("rfm", _rfm(analysis))


# -- comparisons -------------------------------------------------------------------


def comparison_html(c: Comparison) -> str:
    """Algorithms side by side, the algorithms that failed and why, and their
    agreement."""
    table = c.table.reset_index()
    shown = [col for col in _COMPARISON_COLUMNS if col in table.columns]
    rows = [
        [_round(v) if isinstance(v, float) else v for v in record]
        for record in table[shown].itertuples(index=False)
    ]
    agreement = None
    if len(c.agreement) > 1:
        names = dict(zip(table["algorithm"], table["label"], strict=True))
        labels = [str(names.get(i, i)) for i in c.agreement.index]
        agreement = _table(
            ["", *labels],
            [
                [name, *(round(float(v), 2) for v in row)]
                for name, row in zip(labels, c.agreement.to_numpy(), strict=True)
            ],
        )
    return _render(
        "comparison",
        {
            "title": f"{len(c.table)} algorithms on {_source_name(c.source)}",
            "facts": [
                ("customers", f"{c.n_rows:,}"),
                ("features", ", ".join(c.features)),
            ],
            "table": _table([_COMPARISON_COLUMNS[col] for col in shown], rows),
            "errors": sorted(c.errors.items()),
            "agreement": agreement,
        },
    )


# What each custseg class shows in Jupyter, by its public name. Importing
# custseg.report registers these with custseg._display, which the classes'
# _repr_html_ call: the classes (most of them in layers below this one) never
# import the report.
RENDERERS: dict[str, Callable[[Any], str]] = {
    "custseg.quality.QualityReport": quality_html,
    "custseg.cluster.KSelection": kselection_html,
    "custseg.profile.SegmentProfile": profile_html,
    "custseg.model.Segmenter": segmenter_html,
    "custseg.model.SegmentationRun": run_html,
    "custseg.pipeline.RFMAnalysis": rfm_html,
    "custseg.pipeline.Comparison": comparison_html,
}
