"""Display objects for choosing k and for showing segments.

Each follows scikit-learn's Display pattern: a ``from_*`` class method computes
the data, ``plot(ax=None)`` only draws, and the artists stay on the object
(``ax_``, ``figure_``) for restyling. Nothing here writes files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from custseg.cluster import KSelection

__all__ = [
    "ElbowDisplay",
    "KScoresDisplay",
    "ProfileHeatmapDisplay",
    "ProjectionDisplay",
    "SegmentScatterDisplay",
    "SegmentSizesDisplay",
    "SilhouetteDisplay",
    "segment_colors",
]

MAX_POINTS = 5_000  # scatter plots draw a fixed-seed sample beyond this
UNASSIGNED_COLOR = "#9e9e9e"  # rows in no segment (HDBSCAN's noise)
UNASSIGNED_LABEL = "unassigned"


def segment_colors(k: int, *, numbers: Sequence[int] | None = None) -> list[Any]:
    """A distinct colour per segment (tab10, then tab20 for larger k).

    With ``numbers`` (the segment number shown for each of the ``k``
    segments), a segment takes the colour of its *number*, so a segment that
    keeps its number from one run to the next keeps its colour too.

    Examples
    --------
    >>> segment_colors(3, numbers=[0, 2, 5])[1] == segment_colors(6)[2]
    True
    """
    if numbers is not None:
        shown = [int(n) for n in numbers]
        if len(shown) != k:
            raise ValueError(f"{len(shown)} segment numbers for {k} segments")
        palette = segment_colors(max(shown, default=-1) + 1)
        return [palette[n] for n in shown]
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(k)]


def _numbers(numbers: Sequence[int] | None, k: int) -> list[int]:
    """The segment numbers shown for segment indices ``0..k-1``."""
    if numbers is None:
        return list(range(k))
    shown = [int(n) for n in numbers]
    if len(shown) != k:
        raise ValueError(f"{len(shown)} segment numbers for {k} segment names")
    return shown


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return fig, ax
    return ax.figure, ax  # type: ignore[return-value]


def _sample(n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


class ElbowDisplay:
    """Inertia against k, with the elbow (knee) and the chosen k marked."""

    def __init__(
        self,
        k_values: Sequence[int],
        inertia: Sequence[float],
        knee: int | None,
        k: int,
    ) -> None:
        self.k_values = list(k_values)
        self.inertia = list(inertia)
        self.knee = knee
        self.k = k

    @classmethod
    def from_selection(cls, selection: KSelection) -> ElbowDisplay:
        """Build from a :class:`~custseg.cluster.KSelection`."""
        return cls(selection.k_values, selection.inertia, selection.knee, selection.k)

    def plot(self, ax: Axes | None = None) -> ElbowDisplay:
        """Draw the curve."""
        self.figure_, self.ax_ = _axes(ax, (6, 4))
        ax = self.ax_
        (self.line_,) = ax.plot(self.k_values, self.inertia, "o-", color="#3366aa")
        if self.knee is not None:
            ax.axvline(
                self.knee, ls="--", color="grey", label=f"elbow (k = {self.knee})"
            )
        if self.k in self.k_values:
            y = self.inertia[self.k_values.index(self.k)]
            ax.plot(
                [self.k],
                [y],
                "o",
                ms=12,
                mfc="none",
                mec="#d62728",
                mew=2,
                label=f"chosen k = {self.k}",
            )
        ax.set_xlabel("number of segments k")
        ax.set_ylabel("inertia (within-segment sum of squares)")
        ax.set_title("Elbow method")
        ax.set_xticks(self.k_values)
        if ax.get_legend_handles_labels()[0]:  # nothing to label: a k outside the range
            ax.legend()
        ax.grid(alpha=0.3)
        return self


class KScoresDisplay:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin against k."""

    def __init__(self, selection: KSelection) -> None:
        self.selection = selection

    @classmethod
    def from_selection(cls, selection: KSelection) -> KScoresDisplay:
        """Build from a :class:`~custseg.cluster.KSelection`."""
        return cls(selection)

    def plot(self, axes: Sequence[Axes] | None = None) -> KScoresDisplay:
        """Draw three panels side by side."""
        s = self.selection
        own = axes is None
        if axes is None:
            fig, axs = plt.subplots(1, 3, figsize=(13, 3.8))
            axes = list(axs)
        else:
            fig = cast(Figure, axes[0].figure)
        self.figure_ = fig
        self.axes_ = list(axes)
        panels = [
            (s.silhouette, "silhouette (higher is better)", "#3366aa"),
            (s.calinski_harabasz, "Calinski-Harabasz (higher is better)", "#2ca02c"),
            (s.davies_bouldin, "Davies-Bouldin (lower is better)", "#9467bd"),
        ]
        for ax, (values, title, color) in zip(self.axes_, panels, strict=True):
            ax.plot(s.k_values, values, "o-", color=color)
            ax.axvline(s.k, ls="--", color="#d62728", label=f"chosen k = {s.k}")
            ax.set_title(title, fontsize=11)
            ax.set_xlabel("number of segments k")
            ax.set_xticks(s.k_values)
            ax.grid(alpha=0.3)
        if not np.isnan(s.reference_silhouette):
            self.axes_[0].axhline(
                s.reference_silhouette,
                color="grey",
                ls=":",
                label=f"random data, k = {s.k}: {s.reference_silhouette:.2f}",
            )
        self.axes_[0].legend(fontsize=8)
        if own:  # the user's own figure keeps its layout
            self.figure_.tight_layout()
        return self


class SilhouetteDisplay:
    """Per-customer silhouette values for the chosen k, grouped by segment.

    ``labels`` are segment indices (``0..k-1``); ``numbers`` the segment number
    shown for each index (default: the index). Customers in no segment (label
    -1) have no silhouette: :meth:`from_prepared` leaves them out and counts
    them in ``n_unassigned``.
    """

    def __init__(
        self,
        values: np.ndarray,
        labels: np.ndarray,
        names: Sequence[str],
        *,
        numbers: Sequence[int] | None = None,
        n_unassigned: int = 0,
    ) -> None:
        self.values = values
        self.labels = labels
        self.names = list(names)
        self.numbers = _numbers(numbers, len(self.names))
        self.n_unassigned = int(n_unassigned)

    @classmethod
    def from_prepared(
        cls,
        Z: np.ndarray,
        labels: np.ndarray,
        names: Sequence[str],
        *,
        numbers: Sequence[int] | None = None,
        sample_size: int = 5_000,
        random_state: int = 0,
    ) -> SilhouetteDisplay:
        """Compute silhouettes on a fixed-seed sample of the prepared matrix's
        assigned rows (label >= 0)."""
        from sklearn.metrics import silhouette_samples

        labels = np.asarray(labels)
        assigned = np.flatnonzero(labels >= 0)
        idx = assigned[_sample(len(assigned), sample_size, random_state)]
        lab = labels[idx]
        if not 2 <= len(np.unique(lab)) <= len(idx) - 1:  # silhouette undefined
            values = np.zeros(len(idx))
        else:
            from sklearn import config_context

            with config_context(working_memory=64):
                values = silhouette_samples(Z[idx], lab)
        return cls(
            values,
            lab,
            names,
            numbers=numbers,
            n_unassigned=len(labels) - len(assigned),
        )

    def plot(self, ax: Axes | None = None) -> SilhouetteDisplay:
        """Draw one band per segment, sorted values, with the mean marked."""
        self.figure_, self.ax_ = _axes(ax, (7, 4.5))
        ax = self.ax_
        colors = segment_colors(len(self.names), numbers=self.numbers)
        y = 0
        ticks: list[float] = []
        tick_labels: list[str] = []
        for seg, (number, name) in enumerate(
            zip(self.numbers, self.names, strict=True)
        ):
            vals = np.sort(self.values[self.labels == seg])
            if not len(vals):
                continue
            ax.fill_betweenx(
                np.arange(y, y + len(vals)), 0, vals, color=colors[seg], alpha=0.85
            )
            ticks.append(y + len(vals) / 2)
            tick_labels.append(f"{number}: {name}")
            y += len(vals) + max(2, len(self.values) // 100)
        mean = float(self.values.mean()) if len(self.values) else 0.0
        ax.axvline(mean, color="#d62728", ls="--", label=f"mean {mean:.2f}")
        # Segment names outside the axes, where no negative band can cover them.
        ax.set_yticks(ticks, tick_labels, fontsize=8)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(
            "silhouette value (1 = well inside its segment, < 0 = closer to another)"
        )
        ax.set_title(
            "Silhouette of each customer"
            + (
                f" ({self.n_unassigned:,} unassigned left out)"
                if self.n_unassigned
                else ""
            )
        )
        lo = min(-0.1, float(self.values.min()) if len(self.values) else 0)
        ax.set_xlim(lo, 1)
        ax.legend(loc="lower right")
        return self


class SegmentScatterDisplay:
    """Two features in original units, coloured by segment, with centroids.

    ``labels`` are segment indices; ``numbers`` the segment number shown for
    each index (default: the index). Customers in no segment (label -1) are
    small grey points labelled "unassigned" (``unassigned_`` after
    :meth:`plot`).
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        labels: np.ndarray,
        centers: np.ndarray,
        names: Sequence[str],
        x_label: str,
        y_label: str,
        *,
        numbers: Sequence[int] | None = None,
    ) -> None:
        self.x, self.y, self.labels = x, y, labels
        self.centers = centers
        self.names = list(names)
        self.numbers = _numbers(numbers, len(self.names))
        self.x_label, self.y_label = x_label, y_label
        # "asinh" for a feature clustered on that log scale (its heavy tail
        # would squash everyone else against the axis)
        self.x_scale, self.y_scale = "linear", "linear"

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        labels: np.ndarray,
        x: str,
        y: str,
        names: Sequence[str],
        *,
        numbers: Sequence[int] | None = None,
        random_state: int = 0,
        max_points: int = MAX_POINTS,
    ) -> SegmentScatterDisplay:
        """Sample rows; centroids are the segments' means of the two features."""
        idx = _sample(len(frame), max_points, random_state)
        xs = frame[x].to_numpy(dtype=float)
        ys = frame[y].to_numpy(dtype=float)
        centers = np.array(
            [
                [np.nanmean(xs[labels == s]), np.nanmean(ys[labels == s])]
                if (labels == s).any()
                else [np.nan, np.nan]
                for s in range(len(names))
            ]
        )
        return cls(xs[idx], ys[idx], labels[idx], centers, names, x, y, numbers=numbers)

    def plot(self, ax: Axes | None = None) -> SegmentScatterDisplay:
        """Draw the points and the centroids."""
        self.figure_, self.ax_ = _axes(ax, (9.5, 5))
        self.unassigned_ = _scatter_segments(
            self.ax_,
            self.x,
            self.y,
            self.labels,
            self.centers,
            self.names,
            self.numbers,
        )
        for scale, set_scale in (
            (self.x_scale, self.ax_.set_xscale),
            (self.y_scale, self.ax_.set_yscale),
        ):
            if scale != "linear":
                set_scale(scale)
        log = " (log scale)"
        self.ax_.set_xlabel(self.x_label + (log if self.x_scale != "linear" else ""))
        self.ax_.set_ylabel(self.y_label + (log if self.y_scale != "linear" else ""))
        self.ax_.set_title(f"Segments: {self.y_label} against {self.x_label}")
        return self


class ProjectionDisplay:
    """The prepared features projected on their first two principal components.

    Segment numbers and unassigned customers are shown as in
    :class:`SegmentScatterDisplay`.
    """

    def __init__(
        self,
        points: np.ndarray,
        labels: np.ndarray,
        centers: np.ndarray,
        names: Sequence[str],
        explained: tuple[float, float],
        *,
        numbers: Sequence[int] | None = None,
        loadings: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
    ) -> None:
        self.points, self.labels, self.centers = points, labels, centers
        self.names = list(names)
        self.numbers = _numbers(numbers, len(self.names))
        self.explained = explained
        self.loadings = loadings

    def axis_titles(self) -> tuple[str, str]:
        """``"PC1 (34% of variance): purchases, one-off purchases"``: what
        each axis is, by the features that weigh most in it."""
        out = []
        for i in range(2):
            title = f"PC{i + 1} ({self.explained[i]:.0%} of variance)"
            if self.loadings[i]:
                title += ": " + ", ".join(self.loadings[i])
            out.append(title)
        return out[0], out[1]

    @classmethod
    def from_prepared(
        cls,
        Z: np.ndarray,
        labels: np.ndarray,
        centers: np.ndarray,
        names: Sequence[str],
        *,
        numbers: Sequence[int] | None = None,
        random_state: int = 0,
        max_points: int = MAX_POINTS,
        feature_names: Sequence[str] | None = None,
    ) -> ProjectionDisplay:
        """Fit PCA on a sample of the prepared matrix and project the
        centroids; ``feature_names`` (one per prepared column) name the
        features that weigh most in each component (largest loadings, up to
        three, those above half the largest)."""
        from sklearn.decomposition import PCA

        idx = _sample(len(Z), max(max_points, 20_000), random_state)
        n_comp = min(2, Z.shape[1], len(idx))
        pca = PCA(n_components=n_comp, random_state=random_state).fit(Z[idx])
        show = idx[_sample(len(idx), max_points, random_state + 1)]
        pts = pca.transform(Z[show])
        cen = pca.transform(centers)
        if n_comp == 1:
            pts = np.column_stack([pts[:, 0], np.zeros(len(pts))])
            cen = np.column_stack([cen[:, 0], np.zeros(len(cen))])
        ratio = list(pca.explained_variance_ratio_) + [0.0]
        tops: list[tuple[str, ...]] = [(), ()]
        if feature_names is not None and len(feature_names) == Z.shape[1]:
            for i, component in enumerate(pca.components_[:2]):
                weight = np.abs(component)
                order = np.argsort(-weight, kind="stable")[:3]
                tops[i] = tuple(
                    str(feature_names[j])
                    for j in order
                    if weight[j] >= 0.5 * weight[order[0]]
                )
        return cls(
            pts,
            labels[show],
            cen,
            names,
            (float(ratio[0]), float(ratio[1])),
            numbers=numbers,
            loadings=(tops[0], tops[1]),
        )

    def plot(self, ax: Axes | None = None) -> ProjectionDisplay:
        """Draw the projection."""
        self.figure_, self.ax_ = _axes(ax, (9.5, 5))
        self.unassigned_ = _scatter_segments(
            self.ax_,
            self.points[:, 0],
            self.points[:, 1],
            self.labels,
            self.centers,
            self.names,
            self.numbers,
        )
        x_title, y_title = self.axis_titles()
        self.ax_.set_xlabel(x_title)
        self.ax_.set_ylabel(_wrap(y_title, 60))
        self.ax_.set_title("Segments in a 2-D projection (PCA of all features)")
        return self


class ProfileHeatmapDisplay:
    """Segments x features: colour is the z-score, text the mean in original
    units, written for each column's role (money with separators, shares as
    %, years as years).

    Features are in the order the cards rank them overall (the ones that
    separate the segments most first: :func:`custseg.profile.
    feature_separation`) and named by their readable labels. With more than
    ``WIDE`` features the table is drawn transposed (features down the side),
    so every label and every number stays readable at 30 features; the text
    in each cell is white or black, whichever contrasts more with the cell.
    """

    WIDE = 8

    def __init__(
        self,
        z: pd.DataFrame,
        means: pd.DataFrame,
        *,
        labels: Sequence[str] | None = None,
        texts: pd.DataFrame | None = None,
    ) -> None:
        self.z = z
        self.means = means
        self.labels = list(labels) if labels is not None else [str(c) for c in z]
        if texts is None:
            texts = means.map(lambda v: "" if not np.isfinite(v) else f"{v:.3g}")
        self.texts = texts

    @classmethod
    def from_profiles(
        cls, profiles: Sequence[Any], *, max_features: int | None = None
    ) -> ProfileHeatmapDisplay:
        """Build from :class:`~custseg.profile.SegmentProfile` objects: every
        numeric feature, or the ``max_features`` that separate the segments
        most."""
        from custseg._format import by_role
        from custseg.profile import feature_separation
        from custseg.quality import guess_role, readable_label

        index = [f"{p.segment}: {p.name}" for p in profiles]
        order = list(feature_separation(profiles)) if profiles else []
        order = order[:max_features] if max_features is not None else order
        z = pd.DataFrame([p.z for p in profiles], index=index)
        z = z[[c for c in order if c in z.columns]] if len(z.columns) else z
        means = pd.DataFrame([p.mean for p in profiles], index=index)[list(z.columns)]
        first = profiles[0] if profiles else None
        columns = [str(c) for c in z.columns]
        roles = {
            c: (first.roles.get(c) if first else None) or guess_role(c) for c in columns
        }
        labels = [
            (first.labels.get(c) if first else None) or readable_label(c)
            for c in columns
        ]

        def text(value: float, column: str) -> str:
            role = roles[column]
            overall = first.overall.get(column, 0.5) if first else 0.5
            bounded = role not in {"share", "frequency"} or 0 <= overall <= 1
            out = by_role(value, "share" if role == "flag" else role, bounded=bounded)
            return "" if out == "n/a" else out

        texts = pd.DataFrame(
            {c: [text(float(v), c) for v in means[c]] for c in z.columns},
            index=index,
        )
        return cls(z, means, labels=labels, texts=texts)

    def plot(self, ax: Axes | None = None) -> ProfileHeatmapDisplay:
        """Draw the heatmap."""
        import matplotlib as mpl

        n_segments, n_features = self.z.shape
        transposed = n_features > self.WIDE
        own = ax is None
        if transposed:
            size = (max(7.0, 1.9 * n_segments + 4.5), 0.38 * n_features + 2.2)
        else:
            size = (max(7.0, 1.45 * n_features + 4.5), 0.55 * n_segments + 2.4)
        self.figure_, self.ax_ = _axes(ax, size)
        ax = self.ax_
        if n_features == 0:
            ax.text(0.5, 0.5, "no numeric features", ha="center")
            return self
        z_values = self.z.to_numpy(dtype=float)
        texts = self.texts.to_numpy()
        if transposed:
            z_values, texts = z_values.T, texts.T
        finite = np.abs(z_values[np.isfinite(z_values)])
        lim = max(1.0, float(finite.max()) if len(finite) else 1.0)
        cmap = mpl.colormaps["RdBu_r"]
        norm = mpl.colors.Normalize(vmin=-lim, vmax=lim)
        self.image_ = ax.imshow(z_values, cmap=cmap, norm=norm, aspect="auto")
        rows, cols = z_values.shape
        fontsize = 9 if cols <= 6 else 8
        for i in range(rows):
            for j in range(cols):
                zval = float(z_values[i, j])
                r, g, b, _ = cmap(norm(zval if np.isfinite(zval) else 0.0))
                luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
                ax.text(
                    j,
                    i,
                    str(texts[i, j]),
                    ha="center",
                    va="center",
                    color="black" if luminance > 0.45 else "white",
                    fontsize=fontsize,
                )
        segments = list(self.z.index)
        if transposed:
            ax.set_yticks(range(n_features), self.labels)
            ax.set_xticks(
                range(n_segments),
                [_wrap(s, 18) for s in segments],
                fontsize=8,
            )
            ax.xaxis.tick_top()
        else:
            ax.set_xticks(
                range(n_features),
                [_wrap(c, 16) for c in self.labels],
                rotation=0 if n_features <= 4 else 30,
                ha="center" if n_features <= 4 else "right",
            )
            ax.set_yticks(range(n_segments), segments)
        cbar = self.figure_.colorbar(self.image_, ax=ax, fraction=0.04, pad=0.02)
        cbar.set_label("z-score vs all customers")
        ax.set_title(
            "Segment profiles (numbers: segment mean; colour: above (red) or "
            "below (blue) the average)",
            fontsize=10,
            pad=28 if transposed else 6,
        )
        if own:
            self.figure_.tight_layout()
        return self


def _wrap(text: str, width: int) -> str:
    """``text`` on lines of at most ``width`` characters (at spaces)."""
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


class SegmentSizesDisplay:
    """Customers per segment, with shares.

    ``names`` are the bar labels; ``numbers`` (optional) the segment number of
    each bar, which sets its colour as everywhere else. ``unassigned``
    customers (in no segment) get a grey bar at the bottom, and count in the
    shares.
    """

    def __init__(
        self,
        names: Sequence[str],
        sizes: Sequence[int],
        *,
        numbers: Sequence[int] | None = None,
        unassigned: int = 0,
    ) -> None:
        self.names = list(names)
        self.sizes = list(sizes)
        self.numbers = None if numbers is None else _numbers(numbers, len(self.names))
        self.unassigned = int(unassigned)

    @classmethod
    def from_profiles(
        cls, profiles: Sequence[Any], *, unassigned: int = 0
    ) -> SegmentSizesDisplay:
        """Build from :class:`~custseg.profile.SegmentProfile` objects."""
        return cls(
            [f"{p.segment}: {p.name}" for p in profiles],
            [p.size for p in profiles],
            numbers=[int(p.segment) for p in profiles],
            unassigned=unassigned,
        )

    def plot(self, ax: Axes | None = None) -> SegmentSizesDisplay:
        """Draw horizontal bars, largest segment on top."""
        own = ax is None
        names, sizes = list(self.names), list(self.sizes)
        colors = segment_colors(len(names), numbers=self.numbers)
        if self.unassigned:
            names.append(UNASSIGNED_LABEL)
            sizes.append(self.unassigned)
            colors.append(UNASSIGNED_COLOR)
        self.figure_, self.ax_ = _axes(ax, (7, 0.5 * len(names) + 1.5))
        ax = self.ax_
        total = sum(sizes) or 1
        y = np.arange(len(names))[::-1]
        self.bars_ = ax.barh(y, sizes, color=colors)
        for yi, size in zip(y, sizes, strict=True):
            ax.text(
                size, yi, f" {size:,} ({size / total:.0%})", va="center", fontsize=9
            )
        ax.set_yticks(y, names)
        ax.set_xlabel("customers")
        ax.set_xlim(0, max(sizes) * 1.25 if sizes else 1)
        ax.set_title("Segment sizes")
        if own:
            self.figure_.tight_layout()
        return self


def _scatter_segments(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    centers: np.ndarray,
    names: Sequence[str],
    numbers: Sequence[int],
) -> Any:
    """Points coloured by segment, centroids as crosses; rows in no segment
    (label -1) as small grey points underneath. Returns the grey collection
    (None when every row has a segment)."""
    colors = segment_colors(len(names), numbers=numbers)
    size = 18 if len(x) <= 1_000 else 6
    unassigned = None
    none = labels < 0
    if none.any():
        unassigned = ax.scatter(
            x[none],
            y[none],
            s=max(4, size // 2),
            color=UNASSIGNED_COLOR,
            alpha=0.6,
            label=f"{UNASSIGNED_LABEL} ({int(none.sum()):,})",
            edgecolors="none",
            zorder=1,
        )
    for seg, (number, name) in enumerate(zip(numbers, names, strict=True)):
        mask = labels == seg
        ax.scatter(
            x[mask],
            y[mask],
            s=size,
            color=colors[seg],
            alpha=0.7,
            label=f"{number}: {name}",
            edgecolors="none",
            zorder=2,
        )
    ax.scatter(
        centers[:, 0],
        centers[:, 1],
        marker="X",
        s=180,
        c=colors[: len(centers)],
        edgecolors="black",
        linewidths=1.2,
        label="centroids",
        zorder=3,
    )
    handles, texts = ax.get_legend_handles_labels()
    if unassigned is not None:  # listed after the segments, drawn beneath them
        first_handle, first_text = handles.pop(0), texts.pop(0)
        handles.insert(len(handles) - 1, first_handle)  # before "centroids"
        texts.insert(len(texts) - 1, first_text)
    ax.legend(
        handles,
        texts,
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        framealpha=0.9,
    )
    ax.grid(alpha=0.3)
    return unassigned
