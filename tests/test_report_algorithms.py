"""Reports for each algorithm, generated end to end with ``run`` then
``write_outputs`` on the bundled mall data: what a reader sees in them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex
from tests.conftest import INCOME, SPENDING

from custseg.model import Segmenter
from custseg.pipeline import SegmentationRun, run, write_outputs
from custseg.plots import (
    DendrogramDisplay,
    ProjectionDisplay,
    SegmentScatterDisplay,
    SegmentSizesDisplay,
    segment_colors,
)

GREY = "#9e9e9e"


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _report(result: SegmentationRun, out: Path) -> str:
    paths = write_outputs(result, out, model=False)
    return paths["report"].read_text(encoding="utf-8")


def _section(page: str, name: str) -> str:
    """The HTML of ``<section id=name>``."""
    found = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
    assert found, f"no section {name!r}"
    return found.group(1)


def _text(fragment: str) -> str:
    """Visible text, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _figure_titles(fragment: str) -> list[str]:
    return [
        html.unescape(t)
        for t in re.findall(r'<img src="[^"]*" alt="([^"]*)"', fragment)
    ]


@pytest.fixture(scope="module")
def previous_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A K-Means model with k = 5, saved: the 'previous' run."""
    path = tmp_path_factory.mktemp("previous") / "model.skops"
    run(n_clusters=5, stability_resamples=0).segmenter.save(str(path))
    return path


@pytest.fixture(scope="module")
def gmm(
    previous_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SegmentationRun, str]:
    """A Gaussian mixture run that continues the previous model."""
    result = run(algorithm="gmm", stability_resamples=5, previous=previous_model)
    return result, _report(result, tmp_path_factory.mktemp("gmm"))


@pytest.fixture(scope="module")
def agglomerative(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SegmentationRun, str]:
    result = run(algorithm="agglomerative", stability_resamples=5)
    return result, _report(result, tmp_path_factory.mktemp("agglomerative"))


@pytest.fixture(scope="module")
def hdbscan(tmp_path_factory: pytest.TempPathFactory) -> tuple[SegmentationRun, str]:
    result = run(algorithm="hdbscan", stability_resamples=5)
    return result, _report(result, tmp_path_factory.mktemp("hdbscan"))


# ------------------------------------------------------------------ k section


def test_gmm_report_shows_bic_and_aic_and_the_bic_vote(gmm: Any) -> None:
    result, page = gmm
    ks = result.k_selection
    k_section = _section(page, "k")
    titles = _figure_titles(k_section)
    assert "BIC and AIC against k" in titles
    assert {"Elbow curve", "Quality indices against k"} <= set(titles)
    text = _text(k_section)
    best_bic = ks.k_values[int(np.argmin(ks.extra_scores["bic"]))]
    assert (
        f"BIC vote: the Gaussian mixture's Bayesian information criterion is lowest at k = {best_bic}"
        in text
    )
    # the k-scores table gains BIC and AIC columns, with the values of the run
    assert '<th class="num">BIC</th>' in k_section
    assert f"{ks.extra_scores['bic'][0]:,.0f}" in text
    assert "Gaussian mixture" in _text(page.split("</header>")[0])


def test_agglomerative_report_draws_the_dendrogram_in_segment_colours(
    agglomerative: Any,
) -> None:
    result, page = agglomerative
    seg = result.segmenter
    k_section = _section(page, "k")
    assert "Dendrogram" in _figure_titles(k_section)
    assert "BIC and AIC against k" not in _figure_titles(k_section)
    # every customer is in the tree, so its clusters are the segments
    assert "Colours and the numbers on the cut are the segments" in _text(k_section)
    assert "linkage: ward" in _text(_section(page, "details"))
    display = DendrogramDisplay.from_linkage(
        seg.linkage_,
        seg.n_clusters_,
        leaf_segments=seg.segment_numbers(seg.labels_),
    ).plot()
    numbers = sorted(int(n) for n in seg.segment_ids_)
    assert sorted(display.cluster_segments_.values()) == numbers
    assert sorted(int(t.get_text()) for t in display.segment_labels_) == numbers
    palette = segment_colors(max(numbers) + 1)
    for text in display.segment_labels_:
        box = text.get_bbox_patch()
        assert box is not None
        assert to_hex(box.get_facecolor()) == to_hex(palette[int(text.get_text())])


def test_hdbscan_report_states_the_unassigned_customers(hdbscan: Any) -> None:
    result, page = hdbscan
    n = int((result.labels < 0).sum())
    assert n > 0
    summary = _text(_section(page, "summary"))
    assert f"{n} of 200 customers ({100 * n / 200:.1f}%) are unassigned" in summary
    assert "no dense group" in summary
    assert "found by density" in summary
    k_section = _section(page, "k")
    # one k, found by density: no one-point elbow or index curves
    titles = _figure_titles(k_section)
    assert "Elbow curve" not in titles and "Quality indices against k" not in titles
    assert "k was found by density, not chosen over a range" in _text(k_section)
    assert f"The {n} unassigned customers belong to no segment" in _text(k_section)
    segments = _text(_section(page, "segments"))
    assert f"{n} customers are unassigned." in segments
    assert f"the grey bar holds the {n} customers in no segment" in segments
    assert f"{200 - n} of 200 ({n} unassigned" in _text(_section(page, "details"))


def test_hdbscan_scatter_draws_the_unassigned_as_grey_points(hdbscan: Any) -> None:
    result, _ = hdbscan
    seg = result.segmenter
    labels = result.labels
    n = int((labels < 0).sum())
    display = SegmentScatterDisplay.from_frame(
        result.data,
        labels,
        INCOME,
        SPENDING,
        seg.segment_names_,
        numbers=seg.segment_ids_,
    ).plot()
    grey = display.unassigned_
    assert grey is not None
    assert len(grey.get_offsets()) == n
    assert {to_hex(c) for c in grey.get_facecolors()} == {GREY}
    assert grey.get_label() == f"unassigned ({n})"
    legend = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert legend[-2:] == [f"unassigned ({n})", "centroids"]
    drawn = sum(len(c.get_offsets()) for c in display.ax_.collections)
    assert drawn == 200 + seg.n_clusters_  # every customer once, plus the centres

    Z = seg.prepare(result.data)
    projection = ProjectionDisplay.from_prepared(
        Z, labels, seg.cluster_centers_, seg.segment_names_, numbers=seg.segment_ids_
    ).plot()
    assert projection.unassigned_ is not None
    assert len(projection.unassigned_.get_offsets()) == n

    sizes = SegmentSizesDisplay.from_profiles(seg.profiles_, unassigned=n).plot()
    assert [t.get_text() for t in sizes.ax_.get_yticklabels()][-1] == "unassigned"
    assert sizes.bars_[-1].get_width() == n


def test_rules_appear_with_precision_and_coverage(hdbscan: Any) -> None:
    result, page = hdbscan
    rules = result.segmenter.rules_
    assert rules
    segments = _text(_section(page, "segments"))
    assert "Precision is the share of customers matching the rule" in segments
    assert "coverage is the share of the segment's customers" in segments
    labels = {c: r.label for c, r in result.segmenter.columns_.items()}
    for rule in rules:
        text = rule.readable(labels).replace("<=", "≤").replace(">=", "≥")
        expected = (
            f"Rule: {text} — precision {100 * rule.precision:.0f}%, "
            f"coverage {100 * rule.coverage:.0f}%"
        )
        assert expected in segments


def test_previous_model_gives_a_continuity_section(gmm: Any) -> None:
    result, page = gmm
    m = result.migration
    assert m is not None
    assert '<a href="#continuity">Continuity</a>' in page
    section = _section(page, "continuity")
    text = _text(section)
    total = m.moved + m.stayed
    assert total == 200
    assert f"{m.moved} of 200 customers ({100 * m.moved / 200:.1f}%) moved" in text
    assert f"{m.stayed} stayed" in text
    for match in m.matches:
        assert f'{match["segment"]} "{match["name"]}"' in text
    assert _figure_titles(section) == [
        "Where customers moved",
        "Customers by previous and current segment",
    ]


def test_no_continuity_section_without_a_previous_model(hdbscan: Any) -> None:
    _, page = hdbscan
    assert 'id="continuity"' not in page
    assert "#continuity" not in page


# ------------------------------------------------- segment numbers with gaps


def test_segment_numbers_with_gaps_in_every_legend(
    mall_df: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custseg.report import _figures

    seg = Segmenter(features=[INCOME, SPENDING], stability_resamples=5).fit(mall_df)
    assert seg.n_clusters_ == 5
    numbers = [0, 2, 5, 7, 9]
    names = [f"Group {n}" for n in numbers]
    seg.renumber(numbers, names)
    expected = [f"{n}: Group {n}" for n in numbers]
    palette = [to_hex(c) for c in segment_colors(10)]

    drawn: dict[str, Any] = {}

    def keep(fig: Any, dpi: int = 90) -> str:  # record instead of rendering
        drawn[fig.axes[0].get_title()] = fig
        return ""

    monkeypatch.setattr(_figures, "to_data_uri", keep)
    result = SegmentationRun.from_segmenter(seg, mall_df)
    _figures.build_figures(result, parallel=False)  # record in this process

    def ticks(title: str) -> list[str]:
        return [t.get_text() for t in drawn[title].axes[0].get_yticklabels()]

    label = {c: r.label for c, r in seg.columns_.items()}
    scatter = drawn[f"Segments: {label[SPENDING]} against {label[INCOME]}"].axes[0]
    legend = [t.get_text() for t in scatter.get_legend().get_texts()]
    assert legend == [*expected, "centroids"]
    for collection, number in zip(scatter.collections, numbers, strict=False):
        assert to_hex(collection.get_facecolors()[0]) == palette[number]
    assert ticks("Silhouette of each customer") == expected
    assert ticks("Segment sizes") == expected
    assert ticks("Stability of each segment under bootstrap resampling") == expected
    assert (
        ticks(
            "Segment profiles (numbers: segment mean; colour: above (red) or "
            "below (blue) the average)"
        )
        == expected
    )
    projection = drawn["Segments in a 2-D projection (PCA of all features)"].axes[0]
    assert [t.get_text() for t in projection.get_legend().get_texts()][:-1] == expected

    # The page: numbers in the summary table and on the cards, colours by number.
    page = _render_without_figures(result, monkeypatch)
    summary = _text(_section(page, "summary"))
    for n in numbers:
        assert f"{n} Group {n}" in summary
        assert f"{n}. Group {n}" in _text(_section(page, "segments"))
    assert f'style="--c: {palette[9]}"' in page


def _render_without_figures(
    result: SegmentationRun, monkeypatch: pytest.MonkeyPatch
) -> str:
    import custseg.report._figures as figures
    from custseg.report._html import render_report

    monkeypatch.setattr(
        figures,
        "build_figures",
        lambda result: {
            "explore": [],
            "k": [],
            "segments": [],
            "continuity": [],
            "rfm": [],
        },
    )
    return render_report(result)
