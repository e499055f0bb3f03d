"""Render the report's figures to embedded PNG data URIs.

Figures are drawn under a private rc context and closed afterwards, so making a
report never changes the caller's matplotlib state. PNG (not SVG) keeps the file
small whatever the row count: scatter plots are drawn from samples anyway.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from custseg import plots  # noqa: E402
from custseg.prep import model_frame  # noqa: E402
from custseg.quality import QualityReport  # noqa: E402

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationRun

__all__ = ["FIGURE_SAMPLE", "Figure", "build_figures", "figure_sample"]

# Rows drawn in the report's figures (a fixed-seed sample above this size).
FIGURE_SAMPLE = 50_000

_RC: dict[str, Any] = {
    "figure.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 12,
    "savefig.bbox": "tight",
}


def to_data_uri(fig: Figure, dpi: int = 90) -> str:
    """PNG data URI of a figure; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _draw(make: Callable[[], Figure]) -> str:
    with plt.rc_context(_RC):  # type: ignore[arg-type]
        return to_data_uri(make())


def build_figures(result: SegmentationRun) -> dict[str, list[dict[str, str]]]:
    """Figures by report section: ``{"explore": [{"title", "caption", "src"}], ...}``."""
    seg = result.segmenter
    sel = seg.selection_
    names = list(seg.segment_names_)
    rs = seg.random_state
    quality = result.quality
    numeric_cols = [c.name for c in quality.columns if c.kind == "numeric"]
    cat_cols = [c.name for c in quality.columns if c.kind == "categorical"]
    # Every figure that shows customers is drawn from one fixed-seed sample, so
    # the report costs the same and weighs the same at 10 million rows as at
    # 100,000. Sizes and profiles come from every row.
    df, labels, note = figure_sample(
        result.data, result.labels, rs, total=result.n_rows
    )
    frame, _ = model_frame(df, sel, source=result.source)
    Z = seg.prepare_frame(frame)

    out: dict[str, list[dict[str, str]]] = {
        "explore": [],
        "k": [],
        "segments": [],
        "rfm": [],
    }

    def add(
        section: str,
        title: str,
        caption: str,
        make: Callable[[], Figure],
        note: str = note,
    ) -> None:
        if note and section != "k" and "sample" not in caption:
            caption = f"{caption} {note}"
        out[section].append({"title": title, "caption": caption, "src": _draw(make)})

    if numeric_cols:
        add(
            "explore",
            "Distributions",
            "Histogram of each numeric column; the dashed line is the median.",
            lambda: plots.plot_distributions(df, numeric_cols),
        )
    if cat_cols:
        add(
            "explore",
            "Categorical counts",
            "Customers per value of each categorical column.",
            lambda: plots.plot_categorical_counts(df, cat_cols),
        )
    if len(numeric_cols) >= 2:
        add(
            "explore",
            "Correlations",
            "Pearson correlation between numeric columns.",
            lambda: plots.plot_correlation(df, numeric_cols),
        )
        hue = _pair_hue(quality)
        pair_cols = numeric_cols[:4]
        add(
            "explore",
            "Pair plot" + (f" by {hue}" if hue else ""),
            "Each numeric column against each other"
            + (f", coloured by {hue}" if hue else "")
            + " (at most 2,000 customers drawn).",
            lambda: plots.plot_pairs(df, pair_cols, hue, random_state=rs),
        )

    ks = result.k_selection
    add(
        "k",
        "Elbow curve",
        "Inertia falls as k grows; the dashed line marks the elbow found automatically.",
        lambda: plots.ElbowDisplay.from_selection(ks).plot().figure_,
    )
    add(
        "k",
        "Quality indices against k",
        "Silhouette and Calinski-Harabasz: higher is better; Davies-Bouldin: lower is better. "
        "The dotted line is the silhouette of random data with no groups.",
        lambda: plots.KScoresDisplay.from_selection(ks).plot().figure_,
    )
    add(
        "k",
        f"Silhouette of each customer (k = {ks.k})",
        "Bars near 1 sit well inside their segment; values below 0 sit closer to another segment.",
        lambda: (
            plots.SilhouetteDisplay.from_prepared(Z, labels, names, random_state=rs)
            .plot()
            .figure_
        ),
    )

    if result.rfm is not None:
        _add_rfm(result, df, note, add)

    add(
        "segments",
        "Segment sizes",
        "Customers in each segment.",
        lambda: plots.SegmentSizesDisplay.from_profiles(result.profiles).plot().figure_,
    )
    if sel.numeric:
        add(
            "segments",
            "Segment profiles",
            "Mean of each feature per segment; red is above the average customer, blue below.",
            lambda: (
                plots.ProfileHeatmapDisplay.from_profiles(result.profiles)
                .plot()
                .figure_
            ),
        )

    def scatter(x: str, y: str) -> Callable[[], Figure]:
        def make() -> Figure:
            display = plots.SegmentScatterDisplay.from_frame(
                frame, labels, x, y, names, random_state=rs
            )
            return display.plot().figure_

        return make

    for x, y in _scatter_pairs(list(sel.numeric)):
        add(
            "segments",
            f"{y} against {x}",
            "Each dot is a customer; crosses are segment centres.",
            scatter(x, y),
        )
    if Z.shape[1] >= 2:
        add(
            "segments",
            "2-D projection (PCA)",
            "All prepared features squeezed into two dimensions; overlap here can hide separation "
            "in the full space.",
            lambda: (
                plots.ProjectionDisplay.from_prepared(
                    Z, labels, seg.cluster_centers_, names, random_state=rs
                )
                .plot()
                .figure_
            ),
        )
    return out


def _add_rfm(
    result: SegmentationRun,
    sample: pd.DataFrame,
    note: str,
    add: Callable[..., None],
) -> None:
    """The RFM section's figures. Counts and sums come from every customer;
    only the histograms use the figure sample when the table is large."""
    analysis = result.rfm
    assert analysis is not None
    customers = result.data
    whole = "" if len(customers) >= result.n_rows else note
    add(
        "rfm",
        "RFM segments against behavioural clusters",
        "Customers in each named RFM segment (rows) and behavioural cluster "
        "(columns); colour is the share of the row's customers, so small segments "
        "show as clearly as large ones.",
        lambda: plots.plot_rfm_overlap(analysis.overlap),
        note="",
    )
    add(
        "rfm",
        "Customers and revenue by RFM segment",
        "Share of all customers against share of all net revenue in each named "
        "RFM segment, best segment at the top.",
        lambda: plots.plot_rfm_segment_sizes(analysis.segments),
        note="",
    )
    add(
        "rfm",
        "Recency score against frequency score",
        "Customers (left) and net revenue (right) in each cell of the score grid; "
        "the top-right cell holds the most recent, most frequent buyers.",
        lambda: plots.plot_rfm_grid(customers),
        note=whole,
    )
    add(
        "rfm",
        "Recency, frequency and monetary value",
        "One histogram per RFM measure; skewed measures use a log axis and the "
        "dashed line is the median.",
        lambda: plots.plot_rfm_distributions(sample),
        note=note,
    )


def figure_sample(
    df: pd.DataFrame,
    labels: np.ndarray,
    random_state: int,
    *,
    total: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """At most ``FIGURE_SAMPLE`` rows (fixed seed, input order kept), their
    labels, and a sentence saying so when it is a sample. ``total`` is the row
    count of the whole table when ``df`` is already a sample of it (Spark)."""
    n = len(df)
    total = n if total is None else total
    if n > FIGURE_SAMPLE:
        rng = np.random.default_rng(random_state)
        rows = np.sort(rng.choice(n, FIGURE_SAMPLE, replace=False))
        df, labels = df.iloc[rows], labels[rows]
    if len(df) == total:
        return df, labels, ""
    note = f"Drawn from a random sample of {len(df):,} of the {total:,} customers."
    return df, labels, note


def _pair_hue(quality: QualityReport) -> str | None:
    cats = [
        c for c in quality.columns if c.kind == "categorical" and 2 <= c.distinct <= 6
    ]
    if not cats:
        return None
    for c in cats:
        if c.name.lower() in {"gender", "genre", "sex"}:
            return str(c.name)
    return str(cats[0].name)


def _scatter_pairs(numeric: list[str]) -> list[tuple[str, str]]:
    """Feature pairs to scatter: income against spending first when both exist."""
    from custseg.profile import role_of

    roles = {c: role_of(c) for c in numeric}
    pairs: list[tuple[str, str]] = []
    income = [c for c in numeric if roles[c] == "income"]
    spending = [c for c in numeric if roles[c] == "spending"]
    if income and spending:
        pairs.append((income[0], spending[0]))
    for i, a in enumerate(numeric):
        for b in numeric[i + 1 :]:
            if (a, b) not in pairs and (b, a) not in pairs:
                pairs.append((a, b))
    return pairs[:3]
