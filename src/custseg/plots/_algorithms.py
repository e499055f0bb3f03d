"""Display objects for comparing segmentations made by several algorithms.

* :class:`DendrogramDisplay`: the top of a hierarchical clustering tree, cut
  into k segments.
* :class:`InformationCriteriaDisplay`: BIC and AIC of Gaussian mixtures
  against k.
* :class:`MigrationDisplay`: where the customers of one segmentation went in
  another (a Sankey diagram, or a count matrix).
* :class:`AgreementDisplay`: the adjusted Rand index between algorithms.
* :class:`StabilityDisplay`: the bootstrap stability of each segment.

They follow the Display pattern of :mod:`custseg.plots._displays`: the
constructor (or a ``from_*`` class method) holds the computed data,
``plot(ax=None)`` only draws, on the axes given or on a new figure, and keeps
the artists (``ax_``, ``figure_`` and others) for restyling. Nothing here
changes matplotlib's global state or writes files.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path
from matplotlib.text import Annotation
from matplotlib.transforms import ScaledTranslation

from custseg.plots._displays import _axes, segment_colors

__all__ = [
    "AgreementDisplay",
    "DendrogramDisplay",
    "InformationCriteriaDisplay",
    "MigrationDisplay",
    "StabilityDisplay",
]

_ABOVE_CUT = "#8c8c8c"  # links above the cut, and the "(new)"/"(left)" blocks
_CUT = "#d62728"
_STABLE_COLOR = "#2ca02c"
_FAIR_COLOR = "#f0a30a"
_UNSTABLE_COLOR = "#d62728"
_MISSING_COLOR = "#bdbdbd"


# --------------------------------------------------------------------------
# Dendrogram
# --------------------------------------------------------------------------


class DendrogramDisplay:
    """The top of a hierarchical clustering tree, cut into ``k`` segments.

    Parameters
    ----------
    linkage : ndarray of shape (n_rows - 1, 4)
        A SciPy linkage matrix (``scipy.cluster.hierarchy.linkage`` or
        ``AgglomerativeClustering`` children and distances in that layout).
    k : int
        Number of segments the tree is cut into: after merge ``n_rows - k``.
    n_rows : int
        Number of customers (leaves) in the tree.
    method : str
        The linkage method, for the axis label ("ward", "average", ...).
    leaf_segments : array of int, optional
        The segment *number* of each leaf (row of the clustered data), -1 for
        none. When given, each cluster of the cut takes the colour of the
        segment most of its customers are in (as in the other figures), and
        its number is written where the cut crosses it.

    Attributes
    ----------
    cut_height_ : float
        Height of the cut line: midway between merge ``n_rows - k`` and merge
        ``n_rows - k + 1`` (1-based, in merge order).
    link_colors_ : list of str
        Colour of each drawn link, in the order of ``lines_``.
    lines_ : list of LineCollection
        The drawn links, one collection per colour.
    cut_line_ : Line2D
    cluster_segments_ : dict of int to int
        With ``leaf_segments``: the segment number shown for each cluster of
        the cut (clusters numbered in merge order); empty otherwise.
    segment_labels_ : list of Text
        The segment numbers written on the cut line (with ``leaf_segments``).
    ax_, figure_ :
        Set by :meth:`plot`.

    Notes
    -----
    Without ``leaf_segments`` the segments are coloured left to right in the
    order they appear in the tree, so segment colours here need not match the
    numbering of the segments elsewhere. A segment whose whole subtree is folded into one leaf
    by the truncation has no link of its own to colour; its leaf label and the
    marker at its foot carry its colour.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.cluster.hierarchy import linkage
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2], [9.0]])
    >>> d = DendrogramDisplay.from_linkage(linkage(X, "ward"), k=3)
    >>> d.linkage[:, 2].round(2)  # merge heights
    array([0.1 , 0.2 , 4.5 , 9.84])
    >>> d.n_rows, round(d.cut_height, 2)  # between merges 2 and 3
    (5, 2.35)
    """

    def __init__(
        self,
        linkage: np.ndarray,
        k: int,
        n_rows: int,
        method: str,
        *,
        leaf_segments: np.ndarray | None = None,
    ) -> None:
        self.linkage = linkage
        self.k = k
        self.n_rows = n_rows
        self.method = method
        self.leaf_segments = leaf_segments

    @classmethod
    def from_linkage(
        cls,
        linkage: np.ndarray,
        k: int,
        *,
        method: str = "ward",
        leaf_segments: np.ndarray | None = None,
    ) -> DendrogramDisplay:
        """Check a linkage matrix and build the display (``n_rows`` is implied)."""
        Z = np.asarray(linkage, dtype=float)
        if Z.ndim != 2 or Z.shape[1] != 4 or len(Z) < 1:
            raise ValueError(
                "linkage must be a SciPy linkage matrix of shape (n_rows - 1, 4), "
                f"got shape {Z.shape}"
            )
        n = len(Z) + 1
        if not 1 <= k <= n:
            raise ValueError(f"k={k} must be between 1 and n_rows={n}")
        if leaf_segments is not None:
            leaf_segments = np.asarray(leaf_segments, dtype=np.int64)
            if leaf_segments.shape != (n,):
                raise ValueError(
                    f"leaf_segments must have one entry per leaf ({n}), "
                    f"got shape {leaf_segments.shape}"
                )
        return cls(Z, k, n, method, leaf_segments=leaf_segments)

    @property
    def cut_height(self) -> float:
        """Height between merge ``n - k`` and merge ``n - k + 1`` (1-based)."""
        heights = np.asarray(self.linkage, dtype=float)[:, 2]
        n, k = self.n_rows, self.k
        if k <= 1:
            top = float(heights.max()) if len(heights) else 1.0
            return top * 1.05 if top > 0 else 1.0
        if k >= n:
            return float(heights[0]) / 2
        return (float(heights[n - k - 1]) + float(heights[n - k])) / 2

    def _node_clusters(self) -> np.ndarray:
        """Cluster (0..k-1, arbitrary order) of every node; -1 above the cut."""
        Z = self.linkage
        n, k = self.n_rows, self.k
        first_above = n - k  # rows >= this are merges above the cut
        cluster = np.full(2 * n - 1, -1, dtype=int)
        next_id = 0
        for r in range(n - 2, -1, -1):
            node = n + r
            if r < first_above and cluster[node] < 0:
                cluster[node] = next_id  # a cluster root (its parent is above)
                next_id += 1
            for child in (int(Z[r, 0]), int(Z[r, 1])):
                if cluster[node] >= 0:
                    cluster[child] = cluster[node]
                elif child < n or child - n < first_above:
                    cluster[child] = next_id
                    next_id += 1
        if n == 1:
            cluster[0] = 0
        return cluster

    def plot(self, ax: Axes | None = None, truncate: int = 30) -> DendrogramDisplay:
        """Draw the last ``truncate`` merges (at least ``k`` leaves), and the cut.

        Parameters
        ----------
        ax : Axes, optional
            Where to draw; a new 7 x 4.5 inch figure when omitted.
        truncate : int, default 30
            Number of leaves shown (``truncate_mode="lastp"``); raised to ``k``
            when smaller, so every segment has a leaf.
        """
        from scipy.cluster.hierarchy import dendrogram

        own = ax is None
        self.figure_, self.ax_ = _axes(ax, (7, 4.5))
        ax = self.ax_
        n, k = self.n_rows, self.k
        p = int(min(max(truncate, k), n))
        cut = self.cut_height
        node_cluster = self._node_clusters()

        # Number the segments left to right, as they appear under the tree.
        full = dendrogram(
            self.linkage,
            p=p,
            truncate_mode="lastp",
            no_plot=True,
            show_leaf_counts=True,
        )
        order: dict[int, int] = {}
        for leaf in full["leaves"]:
            c = int(node_cluster[leaf])
            if c >= 0 and c not in order:
                order[c] = len(order)
        palette = [to_hex(c) for c in segment_colors(max(k, 1))]
        # With the customers' segments: each cluster is shown as the segment
        # most of its customers are in, in that segment's colour.
        self.cluster_segments_: dict[int, int] = {}
        if self.leaf_segments is not None:
            of_leaf = np.asarray(self.leaf_segments)
            for c in range(k):
                members = of_leaf[node_cluster[:n] == c]
                members = members[members >= 0]
                if len(members):
                    values, counts = np.unique(members, return_counts=True)
                    self.cluster_segments_[c] = int(values[np.argmax(counts)])
            if self.cluster_segments_:
                highest = max(self.cluster_segments_.values())
                palette = [to_hex(x) for x in segment_colors(highest + 1)]
                order = dict(self.cluster_segments_)

        def color_of(node: int) -> str:
            c = int(node_cluster[node])
            if c < 0 or node >= 2 * n - 1:
                return to_hex(_ABOVE_CUT)
            if self.cluster_segments_ and c not in self.cluster_segments_:
                return to_hex(_ABOVE_CUT)
            return palette[order.get(c, 0) % len(palette)]

        link_nodes: list[int] = []  # the node of each link, in drawing order

        def link_color(node: int) -> str:
            link_nodes.append(node)
            return color_of(node)

        tree = dendrogram(
            self.linkage,
            p=p,
            truncate_mode="lastp",
            no_plot=True,
            show_leaf_counts=True,
            color_threshold=cut,
            above_threshold_color=to_hex(_ABOVE_CUT),
            link_color_func=link_color,
        )
        self.link_colors_ = list(tree["color_list"])
        self.lines_: list[LineCollection] = []
        width = 1.6 if p <= 40 else 1.0
        for color in dict.fromkeys(self.link_colors_):
            segs = [
                np.column_stack([xs, ys])
                for xs, ys, c in zip(
                    tree["icoord"], tree["dcoord"], self.link_colors_, strict=True
                )
                if c == color
            ]
            lc = LineCollection(segs, colors=color, linewidths=width)
            ax.add_collection(lc)
            self.lines_.append(lc)

        leaves = list(tree["leaves"])
        xs = 5.0 + 10.0 * np.arange(len(leaves))
        leaf_colors = [color_of(leaf) for leaf in leaves]
        self.leaf_markers_ = ax.scatter(
            xs,
            np.zeros(len(xs)),
            s=18,
            marker="s",
            c=leaf_colors,
            zorder=3,
            clip_on=False,
        )
        ax.set_xticks(xs, list(tree["ivl"]))
        font = 8 if len(leaves) <= 40 else 6
        for label, color in zip(ax.get_xticklabels(), leaf_colors, strict=True):
            label.set_rotation(90)
            label.set_fontsize(font)
            label.set_color(color)
        ax.tick_params(axis="x", length=0, pad=4)

        top = max(float(np.max(tree["dcoord"])) if leaves else 0.0, cut)
        ax.set_xlim(0, 10.0 * len(leaves))
        ax.set_ylim(0, top * 1.2 if top > 0 else 1.0)  # room for the legend
        (self.cut_line_,) = ax.plot(
            [0, 10.0 * len(leaves)],
            [cut, cut],
            ls="--",
            lw=1.3,
            color=_CUT,
            label=f"cut into k = {k} segments (height {cut:.3g})",
            zorder=4,
        )
        node_at = {
            round(float(x), 6): int(leaf) for x, leaf in zip(xs, leaves, strict=True)
        }
        for (_, x1, x2, _), node in zip(tree["icoord"], link_nodes, strict=True):
            node_at[round((x1 + x2) / 2, 6)] = node
        self.segment_labels_ = self._label_segments(
            ax, tree, node_at, node_cluster, cut
        )
        ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
        ax.set_ylabel(f"merge distance ({self.method} linkage)")
        ax.set_xlabel(
            "customers: row number, or (count) for a folded branch", fontsize=9
        )
        shown = (
            f"truncated: top {p - 1} of {n - 1:,} merges shown"
            if p < n
            else "all merges shown"
        )
        ax.set_title(
            f"Hierarchical clustering cut into k = {k} segments\n"
            f"{n:,} customers; {shown}",
            fontsize=10,
        )
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if own:
            self.figure_.tight_layout()
        return self

    def _label_segments(
        self,
        ax: Axes,
        tree: dict[str, Any],
        node_at: dict[float, int],
        node_cluster: np.ndarray,
        cut: float,
    ) -> list[Any]:
        """Write each segment's number where the cut line crosses its branch
        (only when the segments of the leaves are known)."""
        if not self.cluster_segments_ or self.k < 2:
            return []
        palette = segment_colors(max(self.cluster_segments_.values()) + 1)
        texts = []
        for xs_, ys_ in zip(tree["icoord"], tree["dcoord"], strict=True):
            if ys_[1] < cut:  # a link below the cut: inside one segment
                continue
            for leg_x, bottom in ((xs_[0], ys_[0]), (xs_[3], ys_[3])):
                if bottom >= cut:
                    continue
                node = node_at.get(round(float(leg_x), 6))
                if node is None:
                    continue
                number = self.cluster_segments_.get(int(node_cluster[node]))
                if number is None:
                    continue
                texts.append(
                    ax.text(
                        leg_x,
                        cut,
                        str(number),
                        ha="center",
                        va="center",
                        fontsize=9,
                        fontweight="bold",
                        color="white",
                        bbox={
                            "boxstyle": "round,pad=0.25",
                            "fc": to_hex(palette[number]),
                            "ec": "none",
                        },
                        zorder=5,
                    )
                )
        return texts


# --------------------------------------------------------------------------
# Information criteria
# --------------------------------------------------------------------------


class InformationCriteriaDisplay:
    """BIC and AIC of a Gaussian mixture against the number of components k.

    Parameters
    ----------
    k_values : sequence of int
    bic, aic : sequence of float
        One value per entry of ``k_values``; NaN where a fit failed.
    k : int
        The chosen number of segments, marked with a vertical line.

    Attributes
    ----------
    bic_line_, aic_line_ : Line2D
    k_line_ : Line2D
    ax_, figure_ :
        Set by :meth:`plot`.

    Examples
    --------
    >>> d = InformationCriteriaDisplay([2, 3, 4], [30.0, 10.0, 12.0], [25.0, 8.0, 7.0], 3)
    >>> d.best_bic, d.best_aic
    (3, 4)
    """

    def __init__(
        self,
        k_values: Sequence[int],
        bic: Sequence[float],
        aic: Sequence[float],
        k: int,
    ) -> None:
        self.k_values = [int(v) for v in k_values]
        self.bic = [float(v) for v in bic]
        self.aic = [float(v) for v in aic]
        self.k = k

    @classmethod
    def from_selection(cls, selection: Any) -> InformationCriteriaDisplay:
        """From a Gaussian mixture's :class:`~custseg.cluster.KSelection`
        (``segmenter.k_selection_``), which holds BIC and AIC for every k."""
        extra = selection.extra_scores
        if "bic" not in extra or "aic" not in extra:
            raise ValueError(
                "this k selection has no BIC and AIC: they come with "
                "algorithm='gmm' (Gaussian mixture)"
            )
        return cls(selection.k_values, extra["bic"], extra["aic"], selection.k)

    @staticmethod
    def _argmin(ks: Sequence[int], values: Sequence[float]) -> int | None:
        arr = np.asarray(values, dtype=float)
        if not len(arr) or np.all(np.isnan(arr)):
            return None
        return int(ks[int(np.nanargmin(arr))])

    @property
    def best_bic(self) -> int | None:
        """The k with the lowest BIC."""
        return self._argmin(self.k_values, self.bic)

    @property
    def best_aic(self) -> int | None:
        """The k with the lowest AIC."""
        return self._argmin(self.k_values, self.aic)

    def plot(self, ax: Axes | None = None) -> InformationCriteriaDisplay:
        """Draw both curves, their minima and the chosen k."""
        own = ax is None
        self.figure_, self.ax_ = _axes(ax, (7, 4.5))
        ax = self.ax_
        ks = self.k_values
        curves = [
            ("BIC", self.bic, "#3366aa", "o", self.best_bic),
            ("AIC", self.aic, "#e08a1e", "s", self.best_aic),
        ]
        lines: list[Line2D] = []
        for name, values, color, marker, best in curves:
            (line,) = ax.plot(ks, values, marker=marker, ms=5, color=color, label=name)
            lines.append(line)
            if best is not None:
                y = values[ks.index(best)]
                ax.plot(
                    [best],
                    [y],
                    marker="*",
                    ms=16,
                    color=color,
                    mec="black",
                    mew=0.8,
                    ls="none",
                    zorder=4,
                    label=f"lowest {name}: k = {best}",
                )
        self.bic_line_, self.aic_line_ = lines
        self.k_line_ = ax.axvline(
            self.k, ls="--", color=_CUT, lw=1.3, label=f"chosen k = {self.k}"
        )
        ax.set_xlabel("number of mixture components k")
        ax.set_ylabel("information criterion (lower is better)")
        ax.set_title("Gaussian mixture: BIC and AIC against k")
        if ks:
            ax.set_xticks(ks)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, framealpha=0.9)
        if own:
            self.figure_.tight_layout()
        return self


# --------------------------------------------------------------------------
# Migration between two segmentations
# --------------------------------------------------------------------------


_NOT_SEGMENTS = {"unassigned", "noise", "new", "new customers", "left", "none"}


def _is_special(label: object) -> bool:
    """``"(new customers)"``, ``"(left)"``, ``"unassigned"``: not a segment."""
    text = str(label).strip()
    return text.startswith("(") or text.lower() in _NOT_SEGMENTS


def _segment_number(label: object) -> int | None:
    """The ``3`` of ``"3: Careful spenders"`` or ``"3"``; None otherwise."""
    head = str(label).split(":", 1)[0].strip()
    return int(head) if head.isdigit() else None


def _label_colors(
    rows: Sequence[object], cols: Sequence[object]
) -> tuple[list[Any], list[Any]]:
    """Colours of both sides: grey for what is not a segment; otherwise the
    segment's colour by its number when every label starts with one (so a
    segment keeps its colour on both sides), else by position."""
    regular = [lab for lab in [*rows, *cols] if not _is_special(lab)]
    numbers = [_segment_number(lab) for lab in regular]
    if regular and all(n is not None for n in numbers):
        palette = segment_colors(max(n for n in numbers if n is not None) + 1)

        def side(labels: Sequence[object]) -> list[Any]:
            return [
                _ABOVE_CUT if _is_special(lab) else palette[_segment_number(lab) or 0]
                for lab in labels
            ]

        return side(rows), side(cols)

    def by_position(labels: Sequence[object]) -> list[Any]:
        palette = segment_colors(max(sum(not _is_special(x) for x in labels), 1))
        out: list[Any] = []
        i = 0
        for lab in labels:
            if _is_special(lab):
                out.append(_ABOVE_CUT)
            else:
                out.append(palette[i])
                i += 1
        return out

    return by_position(rows), by_position(cols)


def _spread(
    centres: Sequence[float], heights: Sequence[float], lo: float, hi: float
) -> list[float]:
    """Move label centres (top to bottom, descending) so labels do not overlap.

    ``heights`` are the labels' heights; ``lo`` and ``hi`` bound the centres.
    """
    ys = list(centres)
    need = [(heights[i - 1] + heights[i]) / 2 for i in range(1, len(ys))]
    for i in range(1, len(ys)):  # push down
        ys[i] = min(ys[i], ys[i - 1] - need[i - 1])
    if ys and ys[-1] < lo:  # then up from the bottom if needed
        ys[-1] = lo
        for i in range(len(ys) - 2, -1, -1):
            ys[i] = max(ys[i], ys[i + 1] + need[i])
    if ys and ys[0] > hi:  # more labels than room: spread evenly
        ys = list(np.linspace(hi, lo, len(ys)))
    return ys


class MigrationDisplay:
    """Where the customers of one segmentation went in another.

    Parameters
    ----------
    matrix : DataFrame
        Customer counts. Rows are the previous segments (labels such as
        ``"0: Affluent high spenders"``, and maybe ``"(new customers)"``),
        columns the new segments (maybe with ``"(left)"``). Labels in
        parentheses and ``"unassigned"`` are drawn in grey; segments take the
        colour of their number (``segment_colors``) when every segment label
        starts with one, else colours by position.

    Attributes
    ----------
    bands_ : list of PathPatch
        One band per non-zero cell, from previous segment to current segment.
    flows_ : list of tuple
        ``(row label, column label, count)`` of each band, same order.
    left_bars_, right_bars_ : list of Rectangle
    image_ : AxesImage
        Set by :meth:`plot_matrix`.
    ax_, figure_ :
        Set by :meth:`plot` or :meth:`plot_matrix`.

    Examples
    --------
    >>> import pandas as pd
    >>> prev = pd.Series([0, 0, 1, 1], index=["a", "b", "c", "d"])
    >>> curr = pd.Series([0, 1, 1, 1], index=["a", "b", "c", "e"])
    >>> MigrationDisplay.from_labels(prev, curr).matrix
                     0  1  (left)
    0                1  1       0
    1                0  1       1
    (new customers)  0  1       0
    """

    def __init__(self, matrix: pd.DataFrame) -> None:
        self.matrix = matrix

    @classmethod
    def from_labels(
        cls,
        previous: pd.Series,
        current: pd.Series,
        previous_names: Sequence[str] | None = None,
        current_names: Sequence[str] | None = None,
    ) -> MigrationDisplay:
        """Cross-tabulate two labellings indexed by customer id.

        Customers only in ``current`` count as ``"(new customers)"``, those
        only in ``previous`` as ``"(left)"``. With names, the segment labels
        read ``"<segment>: <name>"``.
        """
        if not previous.index.is_unique or not current.index.is_unique:
            raise ValueError("previous and current must be indexed by unique ids")
        joined = pd.concat(
            [previous.rename("previous"), current.rename("current")],
            axis=1,
            join="outer",
        )

        def labels(values: pd.Series, names: Sequence[str] | None) -> list[str]:
            segs = sorted(values.dropna().unique())
            if names is None:
                return [str(int(s)) if float(s).is_integer() else str(s) for s in segs]
            return [f"{int(s)}: {names[int(s)]}" for s in segs]

        prev_segs = sorted(joined["previous"].dropna().unique())
        curr_segs = sorted(joined["current"].dropna().unique())
        rows = labels(joined["previous"], previous_names)
        cols = labels(joined["current"], current_names)
        prev_map = dict(zip(prev_segs, rows, strict=True))
        curr_map = dict(zip(curr_segs, cols, strict=True))
        new, left = "(new customers)", "(left)"
        r = joined["previous"].map(prev_map).fillna(new)
        c = joined["current"].map(curr_map).fillna(left)
        counts = pd.crosstab(r, c)
        row_order = rows + ([new] if (r == new).any() else [])
        col_order = cols + ([left] if (c == left).any() else [])
        matrix = counts.reindex(index=row_order, columns=col_order, fill_value=0)
        matrix.index.name = None
        matrix.columns.name = None
        return cls(matrix.astype(int))

    def _counts(self) -> np.ndarray:
        values = self.matrix.to_numpy(dtype=float)
        if np.any(values < 0) or not np.all(np.isfinite(values)):
            raise ValueError("migration counts must be finite and non-negative")
        return values

    def plot(self, ax: Axes | None = None) -> MigrationDisplay:
        """Draw a Sankey (alluvial) diagram: previous on the left, current on the right.

        Band widths are the counts, to scale; each band has a thin outline in
        its colour, so a flow of a single customer is still visible.
        """
        counts = self._counts()
        rows = [str(r) for r in self.matrix.index]
        cols = [str(c) for c in self.matrix.columns]
        own = ax is None
        self.figure_, self.ax_ = _axes(ax, (7, 4.5))
        ax = self.ax_
        total = float(counts.sum())
        self.bands_: list[PathPatch] = []
        self.flows_: list[tuple[str, str, int]] = []
        self.left_bars_: list[Rectangle] = []
        self.right_bars_: list[Rectangle] = []
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_yticks([])
        ax.set_xticks([])
        if total <= 0:
            ax.text(0.5, 0.5, "no customers", ha="center", va="center")
            return self

        row_sums, col_sums = counts.sum(axis=1), counts.sum(axis=0)
        gap = 0.02 * total
        left_h = total + gap * (len(rows) - 1)
        right_h = total + gap * (len(cols) - 1)
        height = max(left_h, right_h)
        bar_w = 0.05
        x_left, x_right = 0.0, 1.0 - bar_w

        def tops(sizes: np.ndarray, side_height: float) -> list[float]:
            y = height - (height - side_height) / 2
            out = []
            for size in sizes:
                out.append(y)
                y -= size + gap
            return out

        row_tops = tops(row_sums, left_h)
        col_tops = tops(col_sums, right_h)
        row_colors, col_colors = _label_colors(rows, cols)

        for tops_, sums, x, colors, bars in (
            (row_tops, row_sums, x_left, row_colors, self.left_bars_),
            (col_tops, col_sums, x_right, col_colors, self.right_bars_),
        ):
            for top, size, color in zip(tops_, sums, colors, strict=True):
                rect = Rectangle(
                    (x, top - size), bar_w, size, color=color, lw=0.8, ec=color
                )
                ax.add_patch(rect)
                bars.append(rect)

        # Bands: from each previous block, top to bottom in column order; into
        # each current block, top to bottom in row order.
        out_y = list(row_tops)
        in_y = list(col_tops)
        x0, x1 = x_left + bar_w, x_right
        xm = (x0 + x1) / 2
        for i in range(len(rows)):
            for j in range(len(cols)):
                w = counts[i, j]
                if w <= 0:
                    continue
                a_top, b_top = out_y[i], in_y[j]
                a_bot, b_bot = a_top - w, b_top - w
                out_y[i], in_y[j] = a_bot, b_bot
                path = Path(
                    [
                        (x0, a_top),
                        (xm, a_top),
                        (xm, b_top),
                        (x1, b_top),
                        (x1, b_bot),
                        (xm, b_bot),
                        (xm, a_bot),
                        (x0, a_bot),
                        (x0, a_top),
                    ],
                    [
                        Path.MOVETO,
                        Path.CURVE4,
                        Path.CURVE4,
                        Path.CURVE4,
                        Path.LINETO,
                        Path.CURVE4,
                        Path.CURVE4,
                        Path.CURVE4,
                        Path.CLOSEPOLY,
                    ],
                )
                band = PathPatch(
                    path,
                    facecolor=row_colors[i],
                    edgecolor=row_colors[i],
                    alpha=0.5,
                    lw=0.8,
                )
                ax.add_patch(band)
                self.bands_.append(band)
                self.flows_.append((rows[i], cols[j], int(round(w))))

        ax.set_ylim(0, height)
        font = (
            9
            if max(len(rows), len(cols)) <= 8
            else 8
            if max(len(rows), len(cols)) <= 14
            else 7
        )
        left_texts = self._side_labels(
            ax, rows, row_sums, row_tops, x_left, "right", font
        )
        right_texts = self._side_labels(
            ax, cols, col_sums, col_tops, x_right + bar_w, "left", font
        )
        self.labels_ = left_texts + right_texts
        ax.set_title(
            f"Customer migration between segmentations ({int(round(total)):,} customers)",
            fontsize=10,
        )
        self._place_headers(ax, bar_w, x_right)
        if own:
            self._fit_labels(ax, left_texts, right_texts)
            self.figure_.tight_layout()
        self._fit_labels(ax, left_texts, right_texts)
        self._spread_labels(ax, left_texts, row_tops, row_sums, height)
        self._spread_labels(ax, right_texts, col_tops, col_sums, height)
        return self

    @staticmethod
    def _side_labels(
        ax: Axes,
        labels: Sequence[str],
        sums: np.ndarray,
        tops: Sequence[float],
        x: float,
        ha: str,
        font: int,
    ) -> list[Annotation]:
        texts = []
        pad = -4 if ha == "right" else 4
        for label, size, top in zip(labels, sums, tops, strict=True):
            name = textwrap.fill(
                textwrap.shorten(label, 48, placeholder="..."), 24, max_lines=2
            )
            t = ax.annotate(
                f"{name}  ({int(round(size)):,})",
                xy=(x, top - size / 2),
                xytext=(pad, 0),
                textcoords="offset points",
                ha=ha,
                va="center",
                multialignment=ha,
                fontsize=font,
                linespacing=1.0,
                annotation_clip=False,
            )
            texts.append(t)
        return texts

    @staticmethod
    def _fit_labels(
        ax: Axes, left: Sequence[Annotation], right: Sequence[Annotation]
    ) -> None:
        """Set the x limits so the side labels fit inside the axes."""
        width = ax.get_window_extent().width
        w_left = max((t.get_window_extent().width for t in left), default=0.0)
        w_right = max((t.get_window_extent().width for t in right), default=0.0)
        pad = 8.0 * ax.figure.dpi / 72
        scale = width - w_left - w_right - 2 * pad  # pixels per data unit
        scale = max(scale, 0.35 * width)
        lo = -(w_left + pad) / scale
        ax.set_xlim(lo, lo + width / scale)

    @staticmethod
    def _place_headers(ax: Axes, bar_w: float, x_right: float) -> None:
        ax.set_xticks([bar_w / 2, x_right + bar_w / 2], ["previous", "current"])
        ax.tick_params(axis="x", length=0, labelsize=9)
        for label in ax.get_xticklabels():
            label.set_fontweight("bold")
        ax.set_xlabel("bar heights and band widths: numbers of customers", fontsize=9)

    @staticmethod
    def _spread_labels(
        ax: Axes,
        texts: Sequence[Annotation],
        tops: Sequence[float],
        sums: np.ndarray,
        height: float,
    ) -> None:
        """Keep side labels of small neighbouring blocks from overlapping."""
        if not texts:
            return
        px_per_unit = ax.get_window_extent().height / height
        if px_per_unit <= 0:
            return
        heights = [t.get_window_extent().height * 1.1 / px_per_unit for t in texts]
        centres = [t - s / 2 for t, s in zip(tops, sums, strict=True)]
        ys = _spread(centres, heights, heights[-1] / 2, height - heights[0] / 2)
        for text, y, centre in zip(texts, ys, centres, strict=True):
            x = text.xy[0]
            text.xy = (x, y)
            if abs(y - centre) > 1e-9:  # a leader from the moved label to its block
                ax.plot(
                    [
                        x,
                        x
                        + (
                            -0.012
                            if text.get_horizontalalignment() == "right"
                            else 0.012
                        ),
                    ],
                    [y, centre],
                    color="grey",
                    lw=0.6,
                    clip_on=False,
                )

    def plot_matrix(self, ax: Axes | None = None) -> MigrationDisplay:
        """Draw the counts as an annotated heatmap (rows previous, columns current)."""
        counts = self._counts()
        n_rows, n_cols = counts.shape
        own = ax is None
        self.figure_, self.ax_ = _axes(
            ax, (max(7.0, 0.75 * n_cols + 3.0), max(4.5, 0.5 * n_rows + 1.8))
        )
        ax = self.ax_
        vmax = float(counts.max()) if counts.size else 1.0
        self.image_ = ax.imshow(
            counts, cmap="Blues", vmin=0, vmax=vmax or 1.0, aspect="auto"
        )
        font = 9 if max(n_rows, n_cols) <= 10 else 7
        for i in range(n_rows):
            for j in range(n_cols):
                v = counts[i, j]
                ax.text(
                    j,
                    i,
                    f"{int(round(v)):,}",
                    ha="center",
                    va="center",
                    fontsize=font,
                    color="white"
                    if v > 0.6 * vmax
                    else ("#9a9a9a" if v == 0 else "black"),
                )
        ax.set_xticks(
            range(n_cols),
            [textwrap.fill(str(c), 13) for c in self.matrix.columns],
            fontsize=8,
        )
        ax.set_yticks(
            range(n_rows),
            [
                textwrap.shorten(str(r), 30, placeholder="...")
                for r in self.matrix.index
            ],
            fontsize=8,
        )
        ax.tick_params(length=0)
        ax.set_xlabel("current segment")
        ax.set_ylabel("previous segment")
        ax.set_title("Customers by previous and current segment", fontsize=11)
        cbar = self.figure_.colorbar(self.image_, ax=ax, fraction=0.05, pad=0.02)
        cbar.set_label("customers")
        if own:
            self.figure_.tight_layout()
        return self


# --------------------------------------------------------------------------
# Agreement between algorithms
# --------------------------------------------------------------------------


class AgreementDisplay:
    """Adjusted Rand index between the segmentations of several algorithms.

    Parameters
    ----------
    ari : DataFrame
        Square, index and columns the algorithm names. 1 means the same
        partition; about 0 means no more agreement than chance.

    Attributes
    ----------
    image_ : AxesImage
    texts_ : ndarray of Text
        The annotation of each cell, ``texts_[i, j]``.
    ax_, figure_ :
        Set by :meth:`plot`.

    Examples
    --------
    >>> import numpy as np
    >>> d = AgreementDisplay.from_labels(
    ...     {"k-means": np.array([0, 0, 1, 1]), "GMM": np.array([1, 1, 0, 0])}
    ... )
    >>> d.ari.round(2).to_numpy().tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """

    def __init__(self, ari: pd.DataFrame) -> None:
        self.ari = ari

    @classmethod
    def from_labels(cls, labels: Mapping[str, np.ndarray]) -> AgreementDisplay:
        """Compute the pairwise adjusted Rand index of several labellings."""
        from sklearn.metrics import adjusted_rand_score

        names = list(labels)
        arrays = [np.asarray(labels[n]) for n in names]
        sizes = {len(a) for a in arrays}
        if len(sizes) > 1:
            raise ValueError(
                "all labellings must have the same length, got "
                + ", ".join(
                    f"{n}: {len(a)}" for n, a in zip(names, arrays, strict=True)
                )
            )
        m = np.eye(len(names))
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                m[i, j] = m[j, i] = adjusted_rand_score(arrays[i], arrays[j])
        return cls(pd.DataFrame(m, index=names, columns=names))

    def plot(self, ax: Axes | None = None) -> AgreementDisplay:
        """Draw the square heatmap, colour scale fixed at 0..1."""
        values = self.ari.to_numpy(dtype=float)
        n = len(values)
        own = ax is None
        side = max(4.5, 0.7 * n + 1.5)
        self.figure_, self.ax_ = _axes(ax, (side + 2.0, side))
        ax = self.ax_
        self.image_ = ax.imshow(
            np.clip(values, 0, 1), cmap="viridis", vmin=0, vmax=1, aspect="equal"
        )
        font = 10 if n <= 6 else 8
        self.texts_ = np.empty(values.shape, dtype=object)
        for i in range(n):
            for j in range(values.shape[1]):
                v = values[i, j]
                self.texts_[i, j] = ax.text(
                    j,
                    i,
                    "n/a" if math.isnan(v) else f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=font,
                    color="black" if v > 0.6 else "white",
                )
        ax.set_xticks(
            range(values.shape[1]),
            [str(c) for c in self.ari.columns],
            rotation=30,
            ha="right",
        )
        ax.set_yticks(range(n), [str(r) for r in self.ari.index])
        ax.tick_params(length=0)
        ax.set_xlabel("algorithm")
        ax.set_ylabel("algorithm")
        ax.set_title("Agreement between algorithms (adjusted Rand index)", fontsize=11)
        cbar = self.figure_.colorbar(self.image_, ax=ax, fraction=0.046, pad=0.04)
        cbar.set_label("ARI (1 = same segments, 0 = chance)")
        if own:
            self.figure_.tight_layout()
        return self


# --------------------------------------------------------------------------
# Stability per segment
# --------------------------------------------------------------------------


class StabilityDisplay:
    """Bootstrap stability of each segment, against Hennig's thresholds.

    Parameters
    ----------
    per_segment : sequence of float
        Mean Jaccard similarity of each segment with its best match across
        resamples (0..1); NaN when not measured.
    names : sequence of str
        Segment names, shown as ``"<number>: <name>"``.
    numbers : sequence of int, optional
        The number shown for each segment (default ``0..k-1``).
    stable, unstable : float
        At or above ``stable``: stable (green); below ``unstable``: unstable
        (red); in between: fairly stable (amber).

    Attributes
    ----------
    bars_ : BarContainer
    colors_ : list of str
        The bar colour of each segment, in segment order.
    ax_, figure_ :
        Set by :meth:`plot`.

    Examples
    --------
    >>> d = StabilityDisplay([0.95, 0.7, 0.4], ["a", "b", "c"])
    >>> d.verdicts()
    ['stable', 'fairly stable', 'unstable']
    """

    def __init__(
        self,
        per_segment: Sequence[float],
        names: Sequence[str],
        stable: float = 0.85,
        unstable: float = 0.6,
        *,
        numbers: Sequence[int] | None = None,
    ) -> None:
        self.per_segment = [float(v) for v in per_segment]
        self.names = list(names)
        self.stable = stable
        self.unstable = unstable
        self.numbers = (
            list(range(len(self.names)))
            if numbers is None
            else [int(n) for n in numbers]
        )

    @classmethod
    def from_stability(
        cls,
        stability: Any,
        names: Sequence[str],
        *,
        numbers: Sequence[int] | None = None,
        **kwargs: float,
    ) -> StabilityDisplay:
        """Build from an object with a ``per_segment`` attribute
        (:class:`custseg.cluster.Stability`)."""
        return cls(stability.per_segment, names, numbers=numbers, **kwargs)

    def verdicts(self) -> list[str]:
        """``"stable"``, ``"fairly stable"``, ``"unstable"`` or ``"not measured"``."""
        out = []
        for v in self.per_segment:
            if math.isnan(v):
                out.append("not measured")
            elif v >= self.stable:
                out.append("stable")
            elif v >= self.unstable:
                out.append("fairly stable")
            else:
                out.append("unstable")
        return out

    def plot(self, ax: Axes | None = None) -> StabilityDisplay:
        """Draw one horizontal bar per segment, segment 0 on top."""
        if not len(self.per_segment) == len(self.names) == len(self.numbers):
            raise ValueError(
                f"{len(self.per_segment)} stability values for "
                f"{len(self.names)} segment names and {len(self.numbers)} numbers"
            )
        n = len(self.names)
        own = ax is None
        self.figure_, self.ax_ = _axes(ax, (7, max(3.0, 0.45 * n + 2.0)))
        ax = self.ax_
        palette = {
            "stable": _STABLE_COLOR,
            "fairly stable": _FAIR_COLOR,
            "unstable": _UNSTABLE_COLOR,
            "not measured": _MISSING_COLOR,
        }
        self.colors_ = [palette[v] for v in self.verdicts()]
        y = np.arange(n)[::-1]
        values = [0.0 if math.isnan(v) else v for v in self.per_segment]
        self.bars_ = ax.barh(y, values, color=self.colors_, height=0.65)
        font = 9 if n <= 15 else 7
        for yi, v in zip(y, self.per_segment, strict=True):
            if math.isnan(v):
                ax.text(0.01, yi, "not measured", va="center", fontsize=font)
            elif v >= 0.9:  # no room right of the bar: write inside it
                ax.text(
                    v - 0.01,
                    yi,
                    f"{v:.2f}",
                    va="center",
                    ha="right",
                    fontsize=font,
                    color="white",
                    fontweight="bold",
                )
            else:
                ax.text(
                    v + 0.01,
                    yi,
                    f"{v:.2f}",
                    va="center",
                    fontsize=font,
                    bbox={"fc": "white", "ec": "none", "pad": 0.5},
                )
        ax.axvline(self.stable, ls="--", color="#555555", lw=1)
        ax.axvline(self.unstable, ls="--", color="#555555", lw=1)
        ax.set_yticks(
            y,
            [
                f"{i}: {textwrap.shorten(name, 30, placeholder='...')}"
                for i, name in zip(self.numbers, self.names, strict=True)
            ],
            fontsize=font,
        )
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_xlabel("stability: mean Jaccard with the best match across resamples")
        ax.set_title(
            "Stability of each segment under bootstrap resampling", fontsize=11
        )
        handles = [
            Patch(color=_STABLE_COLOR, label=f"stable (\u2265 {self.stable:g})"),
            Patch(
                color=_FAIR_COLOR,
                label=f"fairly stable ({self.unstable:g}\u2013{self.stable:g})",
            ),
            Patch(color=_UNSTABLE_COLOR, label=f"unstable (< {self.unstable:g})"),
        ]
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),  # 0.5 inch below the axes, at any height
            bbox_transform=ax.transAxes
            + ScaledTranslation(0, -0.5, self.figure_.dpi_scale_trans),
            ncol=3,
            fontsize=8,
            frameon=False,
        )
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if own:
            self.figure_.tight_layout()
        return self
