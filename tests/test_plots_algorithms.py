"""Display objects that compare segmentations: what they draw, checked on the artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex, to_rgba
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.metrics import adjusted_rand_score
from tests.conftest import INCOME, SPENDING, planted_blobs

from custseg.plots._algorithms import (
    AgreementDisplay,
    DendrogramDisplay,
    InformationCriteriaDisplay,
    MigrationDisplay,
    StabilityDisplay,
)

GREY = to_hex("#8c8c8c")


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture
def mall_linkage(mall_df: pd.DataFrame) -> np.ndarray:
    X = mall_df[[INCOME, SPENDING]].to_numpy(dtype=float)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return linkage(X, "ward")


@pytest.fixture
def migration() -> pd.DataFrame:
    rows = ["0: Affluent", "1: Savers", "2: Mainstream", "(new customers)"]
    cols = ["0: Affluent", "1: Savers", "2: Mainstream", "3: Bargain", "(left)"]
    counts = [
        [40, 1, 0, 0, 2],
        [0, 33, 5, 0, 0],
        [3, 0, 70, 9, 1],
        [1, 0, 2, 4, 0],
    ]
    return pd.DataFrame(counts, index=rows, columns=cols)


# ---------------------------------------------------------------- dendrogram


def _colored_links_below(d: DendrogramDisplay) -> set[str]:
    """Colours of the links drawn entirely below the cut, grey excluded."""
    colors = set()
    for lc in d.lines_:
        color = to_hex(lc.get_colors()[0])
        for seg in lc.get_segments():
            if seg[:, 1].max() < d.cut_height and color != GREY:
                colors.add(color)
    return colors


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_dendrogram_cut_between_the_right_merges(
    mall_linkage: np.ndarray, k: int
) -> None:
    d = DendrogramDisplay.from_linkage(mall_linkage, k).plot()
    n = len(mall_linkage) + 1
    below, above = mall_linkage[n - k - 1, 2], mall_linkage[n - k, 2]
    y = d.cut_line_.get_ydata()
    assert below < y[0] < above and y[0] == y[1]
    # Cutting at that height gives exactly k clusters.
    assert len(np.unique(fcluster(mall_linkage, d.cut_height, "distance"))) == k
    assert len(_colored_links_below(d)) == k
    # No coloured link above the cut, no grey one below it.
    for lc in d.lines_:
        color = to_hex(lc.get_colors()[0])
        tops = [seg[:, 1].max() for seg in lc.get_segments()]
        if color == GREY:
            assert min(tops) > d.cut_height
        else:
            assert max(tops) < d.cut_height


def test_dendrogram_colours_are_the_clusters() -> None:
    X, _ = planted_blobs(4, seed=3, n_per=10, dim=2)
    Z = linkage(X.to_numpy(), "average")
    d = DendrogramDisplay.from_linkage(Z, 4, method="average").plot(truncate=40)
    # Untruncated: every tick is one row; its colour must give scipy's partition.
    rows = [int(t.get_text()) for t in d.ax_.get_xticklabels()]
    colors = [to_hex(t.get_color()) for t in d.ax_.get_xticklabels()]
    by_row = dict(zip(rows, colors, strict=True))
    expected = fcluster(Z, 4, "maxclust")
    drawn = [by_row[i] for i in range(len(X))]
    assert adjusted_rand_score(expected, drawn) == pytest.approx(1.0)
    assert "all merges" in d.ax_.get_title()


def test_dendrogram_labels_truncation_and_large_trees() -> None:
    X, _ = planted_blobs(5, seed=0, n_per=400, dim=3)
    Z = linkage(X.to_numpy(), "ward")
    d = DendrogramDisplay.from_linkage(Z, 5, method="ward").plot(truncate=30)
    ax = d.ax_
    assert ax.get_ylabel() == "merge distance (ward linkage)"
    assert "k = 5" in ax.get_title() and "truncated" in ax.get_title()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == 30
    # Leaf counts of the folded branches add up to every customer.
    assert sum(int(t.strip("()")) if t.startswith("(") else 1 for t in ticks) == 2000
    assert len(_colored_links_below(d)) == 5
    # Fewer leaves than segments asked for: shows k leaves anyway.
    small = DendrogramDisplay.from_linkage(Z, 12).plot(truncate=5)
    assert len(small.ax_.get_xticklabels()) == 12


def test_dendrogram_edge_cases_and_validation(mall_linkage: np.ndarray) -> None:
    top = mall_linkage[-1, 2]
    one = DendrogramDisplay.from_linkage(mall_linkage, 1).plot()
    assert one.cut_height > top
    assert len(_colored_links_below(one)) == 1
    with pytest.raises(ValueError, match="k=201 must be between 1 and n_rows=200"):
        DendrogramDisplay.from_linkage(mall_linkage, 201)
    with pytest.raises(ValueError, match="shape"):
        DendrogramDisplay.from_linkage(np.zeros((3, 3)), 2)


# -------------------------------------------------------- information criteria


def test_information_criteria_marks_minima_and_k() -> None:
    ks = [2, 3, 4, 5, 6]
    bic = [50.0, 40.0, 35.0, 38.0, 45.0]
    aic = [48.0, 36.0, 30.0, 29.0, 31.0]
    d = InformationCriteriaDisplay(ks, bic, aic, k=3).plot()
    ax = d.ax_
    assert (d.best_bic, d.best_aic) == (4, 5)
    stars = {
        line.get_label(): (line.get_xdata()[0], line.get_ydata()[0])
        for line in ax.get_lines()
        if line.get_marker() == "*"
    }
    assert stars == {"lowest BIC: k = 4": (4, 35.0), "lowest AIC: k = 5": (5, 29.0)}
    assert list(d.k_line_.get_xdata()) == [3, 3]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"BIC", "AIC", "chosen k = 3"} <= set(legend)
    assert "lower is better" in ax.get_ylabel()
    assert list(d.bic_line_.get_ydata()) == bic


def test_information_criteria_ignore_failed_fits() -> None:
    d = InformationCriteriaDisplay([2, 3, 4], [np.nan, 5.0, 7.0], [np.nan] * 3, 3)
    assert d.best_bic == 3 and d.best_aic is None
    d.plot()
    labels = [line.get_label() for line in d.ax_.get_lines()]
    assert "lowest BIC: k = 3" in labels
    assert not any(label.startswith("lowest AIC") for label in labels)


# ------------------------------------------------------------------ migration


def _band_ends(band: object) -> tuple[float, float, float, float]:
    """(left top, left bottom, right top, right bottom) of a band's path."""
    v = band.get_path().vertices  # type: ignore[attr-defined]
    return v[0, 1], v[7, 1], v[3, 1], v[4, 1]


def test_migration_bands_are_the_counts(migration: pd.DataFrame) -> None:
    d = MigrationDisplay(migration).plot()
    counts = migration.to_numpy()
    assert len(d.bands_) == np.count_nonzero(counts)
    widths_left = [top - bot for top, bot, _, _ in map(_band_ends, d.bands_)]
    widths_right = [top - bot for _, _, top, bot in map(_band_ends, d.bands_)]
    assert sum(widths_left) == pytest.approx(counts.sum())
    np.testing.assert_allclose(widths_left, widths_right)
    expected = [
        (r, c, int(v))
        for r, row in zip(migration.index, counts, strict=True)
        for c, v in zip(migration.columns, row, strict=True)
        if v
    ]
    assert d.flows_ == expected
    np.testing.assert_allclose(widths_left, [f[2] for f in d.flows_])
    # Bars are the row and column totals.
    assert [b.get_height() for b in d.left_bars_] == list(counts.sum(axis=1))
    assert [b.get_height() for b in d.right_bars_] == list(counts.sum(axis=0))


def test_migration_bands_join_their_own_bars(migration: pd.DataFrame) -> None:
    d = MigrationDisplay(migration).plot()
    rows, cols = list(migration.index), list(migration.columns)
    for band, (r, c, _) in zip(d.bands_, d.flows_, strict=True):
        lt, lb, rt, rb = _band_ends(band)
        left = d.left_bars_[rows.index(r)]
        right = d.right_bars_[cols.index(c)]
        assert left.get_y() - 1e-9 <= lb < lt <= left.get_y() + left.get_height() + 1e-9
        assert (
            right.get_y() - 1e-9 <= rb < rt <= right.get_y() + right.get_height() + 1e-9
        )
        # Colour of the previous segment; an outline keeps one customer visible.
        assert band.get_facecolor()[:3] == left.get_facecolor()[:3]
        assert band.get_linewidth() > 0
    # "(new customers)" and "(left)" are grey, segments are not.
    assert to_hex(d.left_bars_[-1].get_facecolor()) == GREY
    assert to_hex(d.right_bars_[-1].get_facecolor()) == GREY
    assert to_hex(d.left_bars_[0].get_facecolor()) != GREY


def test_migration_segment_keeps_its_colour_on_both_sides() -> None:
    # Segment 2 vanished and segment 4 is new; "unassigned" is not a segment.
    matrix = pd.DataFrame(
        [[5, 0, 0, 1, 0], [0, 4, 0, 0, 0], [0, 0, 3, 2, 0], [1, 0, 0, 0, 2]],
        index=["0: A", "1: B", "2: C", "unassigned"],
        columns=["0: A", "1: B", "3: D", "4: E", "unassigned"],
    )
    d = MigrationDisplay(matrix).plot()
    left = [to_hex(b.get_facecolor()) for b in d.left_bars_]
    right = [to_hex(b.get_facecolor()) for b in d.right_bars_]
    assert left[:2] == right[:2]
    assert len(set(left[:3] + right[2:4])) == 5  # five distinct segment numbers
    assert left[3] == right[4] == GREY


def test_migration_labels_show_counts(migration: pd.DataFrame) -> None:
    d = MigrationDisplay(migration).plot()
    texts = [t.get_text() for t in d.labels_]
    assert "0: Affluent  (43)" in texts  # previous: 40 + 1 + 2
    assert "0: Affluent  (44)" in texts  # current: 40 + 3 + 1
    assert "(left)  (3)" in texts
    assert "(new customers)" in " ".join(texts)
    # Side labels sit inside the axes, without overlapping each other.
    d.figure_.canvas.draw()
    ax_box = d.ax_.get_window_extent()
    boxes = [t.get_window_extent() for t in d.labels_]
    for box in boxes:
        assert ax_box.x0 - 1 <= box.x0 and box.x1 <= ax_box.x1 + 1
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


def test_migration_matrix_annotations(migration: pd.DataFrame) -> None:
    d = MigrationDisplay(migration).plot_matrix()
    ax = d.ax_
    shown = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
        for t in ax.texts
    }
    counts = migration.to_numpy()
    for (i, j), text in shown.items():
        assert text == f"{counts[i, j]:,}"
    assert len(shown) == counts.size
    assert [t.get_text() for t in ax.get_yticklabels()] == list(migration.index)
    assert ax.get_xlabel() == "current segment"
    assert ax.get_ylabel() == "previous segment"


def test_migration_from_labels() -> None:
    prev = pd.Series([0, 0, 1, 1, 1], index=[1, 2, 3, 4, 5])
    curr = pd.Series([0, 1, 1, 1, 2], index=[1, 2, 3, 6, 7])
    d = MigrationDisplay.from_labels(
        prev, curr, ["Affluent", "Savers"], ["Affluent", "Savers", "New"]
    )
    expected = pd.DataFrame(
        [[1, 1, 0, 0], [0, 1, 0, 2], [0, 1, 1, 0]],
        index=["0: Affluent", "1: Savers", "(new customers)"],
        columns=["0: Affluent", "1: Savers", "2: New", "(left)"],
    )
    pd.testing.assert_frame_equal(d.matrix, expected)


def test_migration_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        MigrationDisplay(pd.DataFrame([[1, -1]])).plot()


# ------------------------------------------------------------------ agreement


def test_agreement_heatmap_shows_the_values() -> None:
    names = ["k-means", "Ward", "GMM"]
    ari = pd.DataFrame(
        [[1.0, 0.8765, 0.1], [0.8765, 1.0, -0.02], [0.1, -0.02, 1.0]],
        index=names,
        columns=names,
    )
    d = AgreementDisplay(ari).plot()
    assert d.texts_.shape == (3, 3)
    assert d.texts_[0, 1].get_text() == "0.88"
    assert d.texts_[1, 2].get_text() == "-0.02"
    assert d.texts_[2, 2].get_text() == "1.00"
    assert d.image_.get_clim() == (0, 1)
    assert [t.get_text() for t in d.ax_.get_xticklabels()] == names
    assert [t.get_text() for t in d.ax_.get_yticklabels()] == names
    assert d.image_.get_array().shape == (3, 3)


def test_agreement_from_labels_ignores_label_names() -> None:
    a = np.array([0, 0, 1, 1, 2, 2])
    d = AgreementDisplay.from_labels({"a": a, "b": (a + 1) % 3, "c": np.zeros(6)})
    assert d.ari.loc["a", "b"] == pytest.approx(1.0)
    assert d.ari.loc["a", "c"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="a: 6, b: 2"):
        AgreementDisplay.from_labels({"a": a, "b": a[:2]})


# ------------------------------------------------------------------ stability


def test_stability_colours_follow_thresholds() -> None:
    values = [0.97, 0.85, 0.8499, 0.6, 0.5999, float("nan")]
    names = [f"s{i}" for i in range(6)]
    d = StabilityDisplay(values, names).plot()
    assert d.verdicts() == [
        "stable",
        "stable",
        "fairly stable",
        "fairly stable",
        "unstable",
        "not measured",
    ]
    green, amber, red = (to_rgba(c) for c in ("#2ca02c", "#f0a30a", "#d62728"))
    bar_colors = [bar.get_facecolor() for bar in d.bars_]
    assert bar_colors[:5] == [green, green, amber, amber, red]
    assert d.ax_.get_xlim() == (0, 1)
    assert sorted(line.get_xdata()[0] for line in d.ax_.get_lines()) == [0.6, 0.85]
    assert all(line.get_linestyle() == "--" for line in d.ax_.get_lines())
    # Segment 0 on top, each label on its own bar.
    at = {t.get_text(): t.get_position()[1] for t in d.ax_.get_yticklabels()}
    assert sorted(at, key=at.get, reverse=True) == [f"{i}: s{i}" for i in range(6)]
    for i, bar in enumerate(d.bars_):
        assert bar.get_y() + bar.get_height() / 2 == pytest.approx(at[f"{i}: s{i}"])
    texts = {t.get_text() for t in d.ax_.texts}
    assert {"0.97", "0.85", "0.60", "not measured"} <= texts


def test_stability_custom_thresholds_and_errors() -> None:
    d = StabilityDisplay([0.8, 0.5], ["a", "b"], stable=0.75, unstable=0.4).plot()
    assert d.verdicts() == ["stable", "fairly stable"]
    with pytest.raises(ValueError, match="2 stability values for 3 segment names"):
        StabilityDisplay([0.8, 0.5], ["a", "b", "c"]).plot()


# ------------------------------------------------------------- all displays


def _displays(mall_linkage: np.ndarray, migration: pd.DataFrame) -> list:
    ari = pd.DataFrame(np.eye(2), index=["a", "b"], columns=["a", "b"])
    return [
        (DendrogramDisplay.from_linkage(mall_linkage, 4), "plot"),
        (InformationCriteriaDisplay([2, 3], [2.0, 1.0], [2.0, 1.5], 3), "plot"),
        (MigrationDisplay(migration), "plot"),
        (MigrationDisplay(migration), "plot_matrix"),
        (AgreementDisplay(ari), "plot"),
        (StabilityDisplay([0.9, 0.5], ["a", "b"]), "plot"),
    ]


def test_draws_on_the_given_axes(
    mall_linkage: np.ndarray, migration: pd.DataFrame
) -> None:
    for display, method in _displays(mall_linkage, migration):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        before = plt.get_fignums()
        getattr(display, method)(ax=axes[1])
        assert display.ax_ is axes[1]
        assert display.figure_ is fig
        assert plt.get_fignums() == before  # no new figure
        assert not axes[0].has_data()
        plt.close(fig)


def test_own_figure_and_no_global_state(
    mall_linkage: np.ndarray, migration: pd.DataFrame
) -> None:
    rc = dict(matplotlib.rcParams)
    for display, method in _displays(mall_linkage, migration):
        getattr(display, method)()
        assert display.ax_ in display.figure_.axes
        assert display.ax_.get_title()
        display.figure_.canvas.draw()  # renders without error
        plt.close(display.figure_)
    assert dict(matplotlib.rcParams) == rc


def test_line_collections_are_used_for_links(mall_linkage: np.ndarray) -> None:
    d = DendrogramDisplay.from_linkage(mall_linkage, 3).plot()
    assert all(isinstance(lc, LineCollection) for lc in d.lines_)
    assert len(d.link_colors_) == sum(len(lc.get_segments()) for lc in d.lines_)
