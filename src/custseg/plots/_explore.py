"""Exploration plots of the raw table: distributions, counts, correlations, pairs.

Each function returns the figure it drew on: a new one, or, when given
``ax``/``axes``, the user's own (then its layout and title are left alone).
The pair plot is a grid of its own and always makes a new figure. Large tables
are drawn from a fixed-seed sample of ``max_rows`` rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from custseg._format import clip

__all__ = [
    "plot_categorical_counts",
    "plot_correlation",
    "plot_distributions",
    "plot_pairs",
]


def _grid(
    n: int,
    axes: Sequence[Axes] | None = None,
    ncols: int = 3,
    size: tuple[float, float] = (4.2, 3.0),
) -> tuple[Figure, list[Axes]]:
    """A new grid of ``n`` panels, or the user's ``axes`` (one per column)."""
    if axes is not None:
        given = list(np.ravel(np.asarray(axes, dtype=object)))
        if len(given) != n:
            raise ValueError(f"expected {n} axes (one per column), got {len(given)}")
        return cast(Figure, given[0].figure), given
    ncols = min(ncols, max(n, 1))
    nrows = math.ceil(n / ncols)
    fig, grid = plt.subplots(
        nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False
    )
    flat = list(grid.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _below_title(fig: Figure) -> None:
    """Lay the panels out below the figure's title (about 0.45 in of it),
    not under it."""
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))


def _bins(values: np.ndarray, wanted: int) -> int:
    """``wanted`` bins, or one where the values span too few representable
    numbers for that many (all but equal floats, a few ulps apart)."""
    if not len(values):
        return wanted
    lo, hi = float(values.min()), float(values.max())
    with np.errstate(over="ignore", invalid="ignore"):  # near ±1.8e308
        step = float(np.spacing(max(abs(lo), abs(hi))))
        return 1 if hi - lo < 4 * wanted * step else wanted


def plot_distributions(
    df: pd.DataFrame, columns: Sequence[str], axes: Sequence[Axes] | None = None
) -> Figure:
    """Histogram of each numeric column, with its median marked; on ``axes``
    (one per column) when given."""
    own = axes is None
    fig, panels = _grid(len(columns), axes)
    for ax, col in zip(panels, columns, strict=True):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):  # NaN compares False: left out
            values = values[np.abs(values) <= 1e100]  # as in preparation
        ax.hist(
            values,
            bins=_bins(values, min(40, max(10, int(np.sqrt(len(values)))))),
            color="#3366aa",
            alpha=0.85,
        )
        if len(values):
            med = float(np.median(values))
            ax.axvline(med, color="#d62728", ls="--", label=f"median {med:.3g}")
            ax.legend(fontsize=8)
        ax.set_title(col, fontsize=11)
        ax.set_ylabel("customers")
    if own:
        fig.suptitle("Distributions of numeric columns", fontsize=12)
        _below_title(fig)
    return fig


def plot_categorical_counts(
    df: pd.DataFrame, columns: Sequence[str], axes: Sequence[Axes] | None = None
) -> Figure:
    """Bar chart of the values of each categorical column (top 15); on
    ``axes`` (one per column) when given."""
    own = axes is None
    fig, panels = _grid(len(columns), axes)
    for ax, col in zip(panels, columns, strict=True):
        counts = df[col].astype("string").fillna("(missing)").value_counts().head(15)
        # One line of at most 30 characters a bar: a cell of many lines or
        # pages is laid out as a label otherwise (seconds, and gigabytes).
        ticks = [clip(" ".join(str(i).split()), 30) for i in counts.index]
        ax.bar(range(len(ticks)), counts.to_numpy(), color="#2ca02c")
        ax.set_xticks(range(len(ticks)), ticks)
        for i, v in enumerate(counts.to_numpy()):
            ax.text(i, float(v), f"{v:,}", ha="center", va="bottom", fontsize=8)
        ax.set_title(col, fontsize=11)
        ax.set_ylabel("customers")
        ax.tick_params(axis="x", rotation=30)
    if own:
        fig.suptitle("Counts of categorical columns", fontsize=12)
        _below_title(fig)
    return fig


def plot_correlation(
    df: pd.DataFrame, columns: Sequence[str], ax: Axes | None = None
) -> Figure:
    """Pearson correlation heatmap of the numeric columns, annotated; on
    ``ax`` when given."""
    import seaborn as sns

    corr = df[list(columns)].apply(pd.to_numeric, errors="coerce").corr()
    n = len(columns)
    own = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5, 1.1 * n + 3), max(4, 0.9 * n + 2)))
    else:
        fig = cast(Figure, ax.figure)
    sns.heatmap(
        corr,
        annot=True,
        fmt=".2f",
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        square=True,
        ax=ax,
        cbar_kws={"label": "correlation"},
    )
    ax.set_title("Correlation between numeric columns")
    ax.tick_params(axis="x", rotation=30)
    if own:
        fig.tight_layout()
    return fig


def plot_pairs(
    df: pd.DataFrame,
    columns: Sequence[str],
    hue: str | None = None,
    *,
    max_rows: int = 2_000,
    random_state: int = 0,
) -> Figure:
    """Pair plot of numeric columns, coloured by a categorical column (e.g. gender).

    A grid of its own (seaborn's PairGrid): always a new figure."""
    import seaborn as sns

    data = df[list(columns) + ([hue] if hue else [])]
    if len(data) > max_rows:
        data = data.sample(max_rows, random_state=random_state)
    data = data.copy()
    if hue:
        data[hue] = data[hue].astype("string").fillna("(missing)").astype(object)
    for col in columns:
        values = pd.to_numeric(data[col], errors="coerce")
        # Infinite and absurd values (beyond ±1e100, missing to the model too)
        # are left out: an axis spanning them overflows matplotlib's ticks.
        data[col] = values.where(values.abs() <= 1e100)
    # The lower triangle only: the upper one mirrors it, and drawing the panels
    # (not the data) is what costs, about 0.3 s each.
    grid = sns.pairplot(
        data,
        vars=list(columns),
        hue=hue,
        diag_kind="hist",
        plot_kws={"s": 14, "alpha": 0.7, "edgecolor": "none"},
        diag_kws={"element": "step", "alpha": 0.4},
        height=2.3,
        corner=True,
    )
    title = f"Pair plot by {hue}" if hue else "Pair plot"
    grid.figure.suptitle(title, y=1.02)
    return cast(Figure, grid.figure)
