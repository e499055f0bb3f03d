"""Plots of an RFM analysis: the score grid, segment sizes, distributions, overlap.

Each function takes the per-customer table (or a table from
:class:`custseg.pipeline.RFMAnalysis`), draws on the axes it is given (or on a new
figure) and returns the figure. Nothing here changes matplotlib's global state
or writes files.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, PercentFormatter

__all__ = [
    "plot_rfm_distributions",
    "plot_rfm_grid",
    "plot_rfm_overlap",
    "plot_rfm_segment_sizes",
    "rfm_grid",
]

_CUSTOMERS_COLOR = "#3366aa"
_REVENUE_COLOR = "#e08a1e"
_SCORES = range(1, 6)


def _compact(value: float) -> str:
    """A short money-like label: 1.2M, 350k, 4.5k, 980, -12k."""
    if not np.isfinite(value):
        return ""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            scaled = value / limit
            text = f"{scaled:.1f}" if abs(scaled) < 10 else f"{scaled:,.0f}"
            return text.removesuffix(".0") + suffix
    return f"{value:,.0f}"


def _thousands(value: float, _pos: int | None = None) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}"


def _new_axes(
    axes: Sequence[Axes] | Axes | None, n: int, size: tuple[float, float]
) -> tuple[Figure, list[Axes]]:
    """``n`` axes: the given ones, or a new row of them."""
    if axes is None:
        fig, grid = plt.subplots(1, n, figsize=size, squeeze=False)
        return fig, list(grid.ravel())
    given = [axes] if isinstance(axes, Axes) else list(axes)
    if len(given) != n:
        raise ValueError(f"expected {n} axes, got {len(given)}")
    return given[0].get_figure(), given  # type: ignore[return-value]


def _text_color(fraction: float) -> str:
    """White text on the dark end of a sequential colormap."""
    return "white" if fraction > 0.6 else "#1f2933"


def _annotated_heatmap(
    ax: Axes,
    values: np.ndarray,
    labels: list[list[str]],
    cmap: str,
    colorbar_label: str,
    colorbar_format: Any = None,
) -> None:
    finite = values[np.isfinite(values)]
    vmin = min(0.0, float(finite.min())) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 1.0
    if vmax <= vmin:
        vmax = vmin + 1.0
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            value = values[i, j]
            fraction = (value - vmin) / (vmax - vmin) if np.isfinite(value) else 0.0
            ax.text(
                j,
                i,
                labels[i][j],
                ha="center",
                va="center",
                fontsize=10,
                color=_text_color(fraction),
            )
    cbar = ax.get_figure().colorbar(image, ax=ax, format=colorbar_format)  # type: ignore[union-attr]
    cbar.set_label(colorbar_label)


def rfm_grid(customers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers and net revenue in each cell of recency score (rows, 5 at
    the top) x frequency score (columns, 1 at the left): what
    :func:`plot_rfm_grid` draws, for charts drawn elsewhere (the web app).

    Examples
    --------
    >>> c = pd.DataFrame({"r_score": [5, 5, 1], "f_score": [1, 1, 5],
    ...                   "monetary": [10.0, 5.0, 2.0]})
    >>> counts, revenue = rfm_grid(c)
    >>> int(counts.loc[5, 1]), float(revenue.loc[5, 1]), int(counts.loc[1, 5])
    (2, 15.0, 1)
    """
    rows = list(range(5, 0, -1))
    r = customers["r_score"].astype(int)
    f = customers["f_score"].astype(int)
    monetary = (
        pd.to_numeric(customers["monetary"], errors="coerce").fillna(0.0)
        if "monetary" in customers.columns
        else pd.Series(np.nan, index=customers.index)  # a log with no money
    )
    counts = pd.crosstab(r, f).reindex(index=rows, columns=list(_SCORES), fill_value=0)
    revenue = (
        monetary.groupby([r, f])
        .sum()
        .unstack()
        .reindex(index=rows, columns=list(_SCORES))
    )
    if "monetary" in customers.columns:
        revenue = revenue.fillna(0.0)
    for frame in (counts, revenue):
        frame.index.name, frame.columns.name = "r_score", "f_score"
    return counts, revenue


def plot_rfm_grid(
    customers: pd.DataFrame, axes: Sequence[Axes] | None = None
) -> Figure:
    """Customers and revenue in each cell of recency score x frequency score.

    Parameters
    ----------
    customers : DataFrame
        Per-customer table with ``r_score``, ``f_score`` (1-5, 5 = best) and
        ``monetary`` columns, as in ``rfm(...).data``.
    axes : pair of Axes, optional
        Where to draw the customer counts and the revenue; a new figure with
        two panels side by side when omitted.

    Returns
    -------
    Figure
        Recency score 5 is the top row, frequency score 1 the left column.
        Counts are printed in full, revenue compactly (``1.2M``, ``350k``).
        Without a ``monetary`` column (a log with no money) only the counts
        are drawn, on one axes.
    """
    money = "monetary" in customers.columns
    fig, panels = _new_axes(axes, 2 if money else 1, (11.5, 4.6) if money else (6, 4.6))
    ax_count = panels[0]
    count_frame, revenue_frame = rfm_grid(customers)
    counts = count_frame.to_numpy(dtype=float)
    revenue = revenue_frame.to_numpy(dtype=float)
    count_labels = [[f"{int(v):,}" for v in row] for row in counts]
    revenue_labels = [
        [_compact(v) if c else "–" for v, c in zip(vrow, crow, strict=True)]
        for vrow, crow in zip(revenue, counts, strict=True)
    ]
    _annotated_heatmap(
        ax_count,
        counts,
        count_labels,
        "Blues",
        "customers",
        FuncFormatter(_thousands),
    )
    titled = [(ax_count, "Customers")]
    if money:
        _annotated_heatmap(
            panels[1],
            revenue,
            revenue_labels,
            "Oranges",
            "revenue",
            FuncFormatter(lambda v, _p: _compact(v)),
        )
        titled.append((panels[1], "Revenue (net, sum of monetary)"))
    for ax, title in titled:
        ax.set_xticks(range(5), [str(s) for s in _SCORES])
        ax.set_yticks(range(5), [str(s) for s in count_frame.index])
        ax.set_xlabel("Frequency score (5 = most frequent)")
        ax.set_ylabel("Recency score (5 = most recent)")
        ax.set_title(title)
    if axes is None:
        fig.suptitle("Recency score × frequency score", fontsize=13)
        fig.tight_layout()
    return fig


def plot_rfm_segment_sizes(
    segments: pd.DataFrame, ax: Axes | None = None, *, money: bool | None = None
) -> Figure:
    """Share of customers against share of revenue in each named RFM segment.

    Parameters
    ----------
    segments : DataFrame
        One row per segment with ``rfm_segment``, ``share`` and
        ``revenue_share`` (fractions), as in ``RFMAnalysis.segments``; drawn
        in the given order, the first row at the top.
    ax : Axes, optional
        Where to draw; a new figure when omitted.
    money : bool, optional
        Whether the log has money (``cleaning.columns.has_money``); by
        default, whether any segment has a revenue share.

    Returns
    -------
    Figure
        Two bars per segment, each annotated with its percentage. A segment
        that lost money (negative revenue share) has a bar to the left of 0.
        Where no segment has a revenue share (a log with no money), one bar
        per segment: its share of customers.
    """
    n = len(segments)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10.5, 0.5 * n + 1.4))
        own = True
    else:
        fig, own = ax.get_figure(), False  # type: ignore[assignment]
    names = [str(s) for s in segments["rfm_segment"]]
    share = 100 * segments["share"].to_numpy(dtype=float)
    revenue = 100 * pd.to_numeric(segments["revenue_share"], errors="coerce").to_numpy(
        dtype=float
    )
    if money is None:
        money = bool(np.isfinite(revenue).any())
    y = np.arange(n)[::-1].astype(float)
    height = 0.38 if money else 0.6
    bars = [
        (height / 2 if money else 0.0, share, _CUSTOMERS_COLOR, "share of customers")
    ]
    if money:
        bars.append((-height / 2, revenue, _REVENUE_COLOR, "share of revenue"))
    for offset, values, color, label in bars:
        shown = np.nan_to_num(values, nan=0.0)
        ax.barh(y + offset, shown, height=height, color=color, label=label)
        for yi, v in zip(y + offset, values, strict=True):
            text = "n/a" if not np.isfinite(v) else f"{v:.1f}%"
            pad = 0.6 if not np.isfinite(v) or v >= 0 else -0.6
            ax.text(
                (0 if not np.isfinite(v) else v) + pad,
                yi,
                text,
                va="center",
                ha="left" if pad > 0 else "right",
                fontsize=10,
            )
    finite = np.concatenate([share, revenue[np.isfinite(revenue)]])
    high = float(finite.max()) if finite.size else 1.0
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    ax.set_xlim(low * 1.25 - (3 if low < 0 else 0), high * 1.15 + 3)
    ax.axvline(0, color="#52606d", lw=0.8)
    ax.set_yticks(y, names)
    ax.set_ylim(-0.7, n - 0.3)
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    if money:
        ax.set_xlabel("share of all customers / of all net revenue")
        ax.set_title("Named RFM segments: customers against revenue")
        ax.legend(loc="lower right", frameon=False)
    else:
        ax.set_xlabel("share of all customers")
        ax.set_title("Named RFM segments: share of customers (no money in the log)")
    ax.spines[["top", "right"]].set_visible(False)
    if own:
        fig.tight_layout()
    return fig


def _log_helps(values: np.ndarray) -> bool:
    """Whether a log axis shows ``values`` better: skewed and spanning >= 2 decades."""
    positive = values[values > 0]
    if positive.size < 2 or positive.max() / positive.min() < 100:
        return False
    centred = values - values.mean()
    spread = float(np.sqrt(np.mean(centred**2)))
    return spread > 0 and float(np.mean(centred**3)) / spread**3 > 1.0


def _integer_log_bins(lo: float, hi: float, n: int = 30) -> np.ndarray:
    """Edges for whole numbers on a log axis: one bin per value at the low end,
    each value centred in its bin (edges at geometric midpoints)."""
    starts = np.unique(np.round(np.geomspace(max(lo, 1.0), hi, n)))
    if len(starts) == 1:
        return np.array([starts[0] / np.sqrt(2), starts[0] * np.sqrt(2)])
    inner = np.sqrt((starts[1:] - 1) * starts[1:])
    first = starts[0] / np.sqrt(starts[1] / starts[0])
    last = np.sqrt(hi * (hi + 1))
    return np.concatenate([[first], inner, [last]])


def plot_rfm_distributions(
    customers: pd.DataFrame, axes: Sequence[Axes] | None = None
) -> Figure:
    """Histograms of recency (days), frequency (orders) and monetary value.

    Parameters
    ----------
    customers : DataFrame
        Per-customer table with ``recency_days``, ``frequency`` and
        ``monetary`` columns.
    axes : three Axes, optional
        Where to draw; a new figure with three panels when omitted.

    Returns
    -------
    Figure
        Frequency and monetary value get a log-scaled x axis when they are
        skewed and span two decades or more; a log axis shows only positive
        values, and the axis label says how many customers were left out.
        The dashed line is the median of all customers. Without a
        ``monetary`` column (a log with no money), two panels.
    """
    specs = [
        ("recency_days", "Recency", "days since last purchase", False),
        ("frequency", "Frequency", "distinct orders", True),
        ("monetary", "Monetary", "net revenue per customer", True),
    ]
    money = "monetary" in customers.columns
    if not money:
        specs.pop()
    fig, panels = _new_axes(axes, len(specs), (11.5, 4) if money else (8, 4))
    for ax, (col, title, label, may_log) in zip(panels, specs, strict=True):
        values = pd.to_numeric(customers[col], errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        log = may_log and _log_helps(values)
        shown = values[values > 0] if log else values
        left_out = len(values) - len(shown)
        if log:
            lo, hi = float(shown.min()), float(shown.max())
            integral = bool(np.all(shown == np.round(shown)))
            bins: Any = (
                _integer_log_bins(lo, hi)
                if integral
                else np.geomspace(lo, hi * 1.0001, 40)
            )
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10))
        else:
            bins = min(40, max(10, int(np.sqrt(max(len(shown), 1)))))
        ax.hist(shown, bins=bins, color=_CUSTOMERS_COLOR, alpha=0.85)
        if len(values):
            med = float(np.median(values))
            if not log or med > 0:
                ax.axvline(
                    med,
                    color="#d62728",
                    ls="--",
                    label=f"median {_thousands(round(med, 2))}",
                )
                ax.legend(fontsize=10, frameon=False)
        xlabel = label + (", log scale" if log else "")
        if left_out:
            xlabel += f"\n{left_out:,} customers at 0 or below not shown"
        ax.set_xlabel(xlabel)
        ax.set_ylabel("customers")
        ax.set_title(title)
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _p: _compact(v))
            if col == "monetary"
            else FuncFormatter(_thousands)
        )
        ax.set_ylim(0, ax.get_ylim()[1] * 1.15)  # room for the legend
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.spines[["top", "right"]].set_visible(False)
    if axes is None:
        fig.suptitle(
            "Distributions of recency, frequency and monetary value"
            if money
            else "Distributions of recency and frequency"
        )
        fig.tight_layout()
    return fig


def plot_rfm_overlap(overlap: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Named RFM segments (rows) against behavioural clusters (columns).

    Parameters
    ----------
    overlap : DataFrame
        Customer counts, RFM segment names as the index and cluster names as
        the columns, as in ``RFMAnalysis.overlap``.
    ax : Axes, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    Figure
        Each cell shows the customer count; its colour is the share of that
        RFM segment's customers in the cluster, so small segments show as
        clearly as large ones. Row labels carry the segment's total.
    """
    counts = overlap.to_numpy(dtype=float)
    n_rows, n_cols = counts.shape
    if ax is None:
        fig, ax = plt.subplots(
            figsize=(min(11.5, max(7.0, 1.5 * n_cols + 4.5)), 0.48 * n_rows + 2.4)
        )
        own = True
    else:
        fig, own = ax.get_figure(), False  # type: ignore[assignment]
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(n_rows):
        for j in range(n_cols):
            ax.text(
                j,
                i,
                f"{int(counts[i, j]):,}" if counts[i, j] else "·",
                ha="center",
                va="center",
                fontsize=10,
                color=_text_color(float(shares[i, j])),
            )
    col_labels = [textwrap.fill(str(c), 16) for c in overlap.columns]
    row_labels = [
        f"{name} ({int(t):,})"
        for name, t in zip(overlap.index, totals[:, 0], strict=True)
    ]
    ax.set_xticks(range(n_cols), col_labels, fontsize=10)
    ax.set_yticks(range(n_rows), row_labels)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("Behavioural cluster")
    ax.set_ylabel("Named RFM segment (customers)")
    ax.tick_params(length=0)
    cbar = fig.colorbar(image, ax=ax, format=PercentFormatter(xmax=1, decimals=0))
    cbar.set_label("share of the RFM segment's customers")
    ax.set_title(
        "RFM segments against behavioural clusters (numbers: customers)", pad=12
    )
    if own:
        fig.tight_layout()
    return fig
