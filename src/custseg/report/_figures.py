"""Render the report's figures to embedded PNG data URIs.

Figures are drawn under a private rc context and closed afterwards, so making a
report never changes the caller's matplotlib state. PNG (not SVG) keeps the file
small whatever the row count: scatter plots are drawn from samples anyway.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from custseg import plots
from custseg._parallel import shared
from custseg.prep import model_frame
from custseg.profile import feature_separation, separating_pair
from custseg.quality import QualityReport

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationRun

__all__ = [
    "FIGURE_SAMPLE",
    "Figure",
    "FigurePlan",
    "build_figures",
    "figure_sample",
    "plan_figures",
]

# Rows drawn in the report's figures (a fixed-seed sample above this size).
FIGURE_SAMPLE = 50_000
# Panels of a figure of columns (distributions, profiles), categorical
# columns, and columns of the correlation matrix a wide table is shown by.
MAX_PANELS = 30
MAX_CATEGORY_PANELS = 12
MAX_CORRELATIONS = 25
PAIR_COLUMNS = 4

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


@contextlib.contextmanager
def report_style(rc: dict[str, Any] | None = None) -> Iterator[None]:
    """The report's rcParams for the figures drawn inside, and the user's
    values of those keys back afterwards; figures opened inside and still
    open are closed.

    Not ``plt.rc_context``: that restores every rcParam, including
    ``interactive``, which the Jupyter inline backend switches on when pyplot
    first loads it; if that first load happens inside the context, leaving
    it turns interactive mode off and no later figure of the notebook shows.
    """
    params: Any = matplotlib.rcParams  # typed by key names; ours are plain str
    rc = _RC if rc is None else rc
    saved = {key: params[key] for key in rc}
    before = set(plt.get_fignums())
    params.update(rc)
    try:
        yield
    finally:
        params.update(saved)
        # A figure left open by a drawing that failed half-way would show up
        # under the notebook cell's traceback, and leak in a server.
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def _draw(make: Callable[[], Figure]) -> str:
    with report_style():
        return to_data_uri(make())


@dataclass(frozen=True)
class FigurePlan:
    """The report's figures, computed but not yet drawn: ``jobs`` each draw
    one figure and return its PNG data URI; :meth:`assemble` puts the URIs
    in their sections. Drawing is most of a report's cost and the same at any
    row count, so the jobs can be shared between processes
    (:func:`custseg._parallel.shared`) alongside other writing."""

    entries: tuple[tuple[str, dict[str, str]], ...]
    jobs: tuple[Callable[[], str], ...]

    def assemble(self, uris: list[str]) -> dict[str, list[dict[str, str]]]:
        out: dict[str, list[dict[str, str]]] = {
            s: [] for s in ("explore", "k", "segments", "continuity", "rfm")
        }
        for (section, figure), src in zip(self.entries, uris, strict=True):
            out[section].append({**figure, "src": src})
        return out


def build_figures(
    result: SegmentationRun, *, parallel: bool = True
) -> dict[str, list[dict[str, str]]]:
    """Figures by report section: ``{"explore": [{"title", "caption", "src"}], ...}``.

    ``parallel``: draw them on two cores where this process may fork
    (:func:`custseg._parallel.shared`)."""
    plan = plan_figures(result)
    return plan.assemble(shared(plan.jobs, parallel=parallel))


def plan_figures(result: SegmentationRun) -> FigurePlan:
    """What :func:`build_figures` draws, each figure's data computed here."""
    seg = result.segmenter
    sel = seg.selection_
    names = list(seg.segment_names_)
    numbers = [int(n) for n in getattr(seg, "segment_ids_", range(len(names)))]
    rs = seg.random_state
    quality = result.quality
    # A wide table is shown by the columns that matter most: the features
    # that separate the segments most, then the other columns, in order.
    ranked = list(feature_separation(result.profiles)) if result.profiles else []
    all_numeric = _ranked(
        [c.name for c in quality.columns if c.kind == "numeric"], ranked
    )
    all_cat = _ranked(
        [c.name for c in quality.columns if c.kind == "categorical"],
        list(sel.categorical),
    )
    numeric_cols = _first(
        [c.name for c in quality.columns if c.kind == "numeric"],
        all_numeric,
        MAX_PANELS,
    )
    cat_cols = _first(
        [c.name for c in quality.columns if c.kind == "categorical"],
        all_cat,
        MAX_CATEGORY_PANELS,
    )
    # Every figure that shows customers is drawn from one fixed-seed sample, so
    # the report costs the same and weighs the same at 10 million rows as at
    # 100,000. Sizes and profiles come from every row.
    df, labels, note = figure_sample(
        result.data, result.labels, rs, total=result.n_rows
    )
    frame, _ = model_frame(df, sel, source=result.source)
    Z = seg.prepare_frame(frame)

    jobs: list[tuple[str, dict[str, str], Callable[[], Figure]]] = []

    def add(
        section: str,
        title: str,
        caption: str,
        make: Callable[[], Figure],
        note: str = note,
    ) -> None:
        if note and section != "k" and "sample" not in caption:
            caption = f"{caption} {note}"
        jobs.append((section, {"title": title, "caption": caption}, make))

    if numeric_cols:
        add(
            "explore",
            "Distributions",
            "Histogram of each numeric column; the dashed line is the median."
            + _shown(len(numeric_cols), len(all_numeric), "numeric columns"),
            lambda: plots.plot_distributions(df, numeric_cols),
        )
    if cat_cols:
        add(
            "explore",
            "Categorical counts",
            "Customers per value of each categorical column."
            + _shown(len(cat_cols), len(all_cat), "categorical columns"),
            lambda: plots.plot_categorical_counts(df, cat_cols),
        )
    if len(numeric_cols) >= 2:
        corr_cols = _first(numeric_cols, all_numeric, MAX_CORRELATIONS)
        add(
            "explore",
            "Correlations",
            "Pearson correlation between numeric columns."
            + _shown(len(corr_cols), len(all_numeric), "numeric columns"),
            lambda: plots.plot_correlation(df, corr_cols),
        )
    hue = _pair_hue(quality)
    constant = set(quality.constant_columns)
    pair_cols = [c for c in numeric_cols if c not in constant][:PAIR_COLUMNS]
    if len(pair_cols) >= 2:
        add(
            "explore",
            "Pair plot" + (f" by {hue}" if hue else ""),
            "Each numeric column against each other"
            + (f", coloured by {hue}" if hue else "")
            + " (at most 2,000 customers drawn).",
            lambda: plots.plot_pairs(df, pair_cols, hue, random_state=rs),
        )

    ks = result.k_selection
    _add_k(result, Z, labels, numbers, add)
    n_none = int((labels < 0).sum())
    # Computed here, drawn later (perhaps in a forked helper: draw_all).
    silhouettes = plots.SilhouetteDisplay.from_prepared(
        Z, labels, names, numbers=numbers, random_state=rs
    )
    add(
        "k",
        f"Silhouette of each customer (k = {ks.k})",
        "Bars near 1 sit well inside their segment; values below 0 sit closer to another segment."
        + (
            f" The {n_none:,} unassigned customers belong to no segment and have no "
            "silhouette; they are left out."
            if n_none
            else ""
        ),
        lambda: silhouettes.plot().figure_,
    )

    if result.rfm is not None:
        _add_rfm(result, df, note, add)

    unassigned = len(getattr(seg, "excluded_rows_", ()))
    add(
        "segments",
        "Segment sizes",
        "Customers in each segment"
        + (
            f"; the grey bar holds the {unassigned:,} customers in no segment."
            if unassigned
            else "."
        ),
        lambda: (
            plots.SegmentSizesDisplay.from_profiles(
                result.profiles, unassigned=unassigned
            )
            .plot()
            .figure_
        ),
        note="",
    )
    stability = getattr(seg, "stability_", None)
    if stability is not None:
        add(
            "segments",
            "Stability of each segment",
            f"How well each segment is found again when {stability.n_resamples} "
            "bootstrap resamples of the customers are segmented afresh: the mean "
            "Jaccard similarity (share of customers in common) with the most similar "
            "new segment. At or above 0.85 the segment is stable; below 0.6 treat it "
            "as tentative."
            + (
                f" Resamples drawn from a fixed-seed sample of {stability.sample_size:,} "
                "customers."
                if stability.sample_size < result.n_rows
                else ""
            ),
            lambda: (
                plots.StabilityDisplay.from_stability(stability, names, numbers=numbers)
                .plot()
                .figure_
            ),
            note="",
        )
    if sel.numeric:
        add(
            "segments",
            "Segment profiles",
            "Mean of each feature per segment; red is above the average customer, blue below."
            + _shown(
                min(len(sel.numeric), MAX_PANELS), len(sel.numeric), "numeric features"
            ),
            lambda: (
                plots.ProfileHeatmapDisplay.from_profiles(
                    result.profiles, max_features=MAX_PANELS
                )
                .plot()
                .figure_
            ),
        )

    labels_of = {c: r.label for c, r in getattr(seg, "columns_", {}).items()}

    def scatter(x: str, y: str) -> Callable[[], Figure]:
        def make() -> Figure:
            display = plots.SegmentScatterDisplay.from_frame(
                frame, labels, x, y, names, numbers=numbers, random_state=rs
            )
            display.x_label = labels_of.get(x, x)
            display.y_label = labels_of.get(y, y)
            logged = set(getattr(seg, "log_features_", ()))
            display.x_scale = "asinh" if x in logged else "linear"
            display.y_scale = "asinh" if y in logged else "linear"
            return display.plot().figure_

        return make

    best = separating_pair(result.profiles, frame)
    roles = {c: r.role for c, r in getattr(seg, "columns_", {}).items()}
    pairs = _scatter_pairs(list(sel.numeric), best, roles)
    best = pairs[0] if best and pairs else best
    for x, y in pairs:
        add(
            "segments",
            f"{labels_of.get(y, y)} against {labels_of.get(x, x)}",
            (
                "The two features that separate the segments best. "
                if (x, y) == best and len(sel.numeric) > 2
                else ""
            )
            + "Each dot is a customer; crosses are segment centres."
            + (" Small grey dots are unassigned customers." if n_none else ""),
            scatter(x, y),
        )
    if Z.shape[1] >= 2:
        projection = plots.ProjectionDisplay.from_prepared(
            Z,
            labels,
            seg.cluster_centers_,
            names,
            numbers=numbers,
            random_state=rs,
            feature_names=seg.prepared_feature_labels(),
        )
        add(
            "segments",
            "2-D projection (PCA)",
            "All prepared features squeezed into two dimensions; overlap here can hide separation "
            "in the full space.",
            lambda: projection.plot().figure_,
        )
    if result.migration is not None:
        _add_continuity(result, add)
    return FigurePlan(
        entries=tuple((section, figure) for section, figure, _ in jobs),
        jobs=tuple(functools.partial(_draw, make) for _, _, make in jobs),
    )


def _first(columns: list[str], ranked: list[str], limit: int) -> list[str]:
    """``columns`` in their order when there are at most ``limit``; else the
    first ``limit`` of ``ranked``."""
    return columns if len(columns) <= limit else ranked[:limit]


def _ranked(columns: list[str], first: list[str]) -> list[str]:
    """``columns`` with those in ``first`` first, in its order."""
    present = set(columns)
    lead = [c for c in first if c in present]
    return lead + [c for c in columns if c not in set(lead)]


def _shown(shown: int, total: int, what: str) -> str:
    """The caption's note on a figure that shows some of the columns."""
    if shown >= total:
        return ""
    return (
        f" It shows {shown} of the {total:,} {what}: the features that separate "
        "the segments most first (every column is in the tables)."
    )


def _add_k(
    result: SegmentationRun,
    Z: np.ndarray,
    labels: np.ndarray,
    numbers: list[int],
    add: Callable[..., None],
) -> None:
    """The "Choosing k" figures that fit the algorithm.

    The elbow and the index curves need more than one k: HDBSCAN finds its k
    by density, so it has a single point and gets neither.
    """
    seg = result.segmenter
    ks = result.k_selection
    if len(ks.k_values) > 1:
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
    extra = ks.extra_scores
    if "bic" in extra and "aic" in extra and len(ks.k_values) > 1:
        add(
            "k",
            "BIC and AIC against k",
            "Information criteria of the Gaussian mixture with k components: lower "
            "is better. They reward a good fit and charge for every extra "
            "parameter; BIC charges more, so it tends to pick fewer components. "
            "BIC's lowest point is one of the votes for k; AIC is shown for "
            "comparison only.",
            lambda: plots.InformationCriteriaDisplay.from_selection(ks).plot().figure_,
        )
    linkage = getattr(seg, "linkage_", None)
    if linkage is not None and len(linkage) >= 1:
        n_fit = int(linkage.shape[0]) + 1
        leaves = None
        if n_fit == len(labels) == result.n_rows:  # the tree holds every customer
            leaves = seg.segment_numbers(labels)
        caption = (
            f"The tree of {seg.linkage} merges: customers joined bottom-up, "
            "closest groups first; the height of a join is the distance between "
            f"the groups. Cutting at the dashed line leaves k = {ks.k} segments. "
            "Only the top of the tree is drawn; a label in parentheses counts the "
            "customers folded into that branch."
        )
        if leaves is not None:
            caption += " Colours and the numbers on the cut are the segments."
        else:
            caption += (
                f" The tree was built on a fixed-seed sample of {n_fit:,} of the "
                f"{result.n_rows:,} customers; the others were assigned afterwards, "
                "as new customers would be. Its branch colours are in tree order "
                "and need not match the segment colours."
            )
        add(
            "k",
            "Dendrogram",
            caption,
            lambda: (
                plots.DendrogramDisplay.from_linkage(
                    linkage, ks.k, method=str(seg.linkage), leaf_segments=leaves
                )
                .plot()
                .figure_
            ),
        )


def _add_continuity(result: SegmentationRun, add: Callable[..., None]) -> None:
    """The Sankey diagram and the count matrix of customers moving between the
    previous model's segments and this run's."""
    matrix = result.migration.matrix
    add(
        "continuity",
        "Where customers moved",
        "Left: the segment the previous model puts each of today's customers in; "
        "right: their segment now. Band widths count customers; a segment that "
        "kept its number keeps its colour.",
        lambda: plots.MigrationDisplay(matrix).plot().figure_,
        note="",
    )
    add(
        "continuity",
        "Customers by previous and current segment",
        "The same counts as a table: a row is a previous segment, a column a "
        "current one. Customers on a cell where the numbers match kept their "
        "segment.",
        lambda: plots.MigrationDisplay(matrix).plot_matrix().figure_,
        note="",
    )


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
    money = analysis.cleaning.columns.has_money
    add(
        "rfm",
        "Customers and revenue by RFM segment" if money else "Customers by RFM segment",
        (
            "Share of all customers against share of all net revenue in each named "
            "RFM segment, best segment at the top."
            if money
            else "Share of all customers in each named RFM segment, best segment "
            "at the top; the log has no money column, so no revenue."
        ),
        lambda: plots.plot_rfm_segment_sizes(analysis.segments, money=money),
        note="",
    )
    add(
        "rfm",
        "Recency score against frequency score",
        (
            "Customers (left) and net revenue (right) in each cell of the score "
            "grid; the top-right cell holds the most recent, most frequent buyers."
            if money
            else "Customers in each cell of the score grid; the top-right cell "
            "holds the most recent, most frequent buyers."
        ),
        lambda: plots.plot_rfm_grid(customers),
        note=whole,
    )
    add(
        "rfm",
        "Recency, frequency and monetary value" if money else "Recency and frequency",
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


def _scatter_pairs(
    numeric: list[str],
    best: tuple[str, str] | None = None,
    roles: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """Feature pairs to scatter: the pair that separates the segments best
    first (:func:`custseg.profile.separating_pair`); income against spending
    next when both exist; then the best-separating feature against the next
    ones."""
    from custseg.profile import role_of

    roles = {c: (roles or {}).get(c) or role_of(c) for c in numeric}
    income = [c for c in numeric if roles[c] == "income"]
    spending = [c for c in numeric if roles[c] == "spend"]
    if best and income and spending and set(best) == {income[0], spending[0]}:
        best = (income[0], spending[0])  # income across, as marketers draw it
    pairs: list[tuple[str, str]] = [best] if best else []
    if income and spending and {income[0], spending[0]} != set(best or ()):
        pairs.append((income[0], spending[0]))
    lead = best[0] if best else (numeric[0] if numeric else None)
    for b in numeric:
        if lead is not None and b != lead and not {(lead, b), (b, lead)} & set(pairs):
            pairs.append((lead, b))
    return pairs[:3]
