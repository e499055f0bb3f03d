"""Jupyter display: the HTML custseg objects show, and plots on the user's axes."""

from __future__ import annotations

import re
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from tests.conftest import INCOME, SPENDING

from custseg import Segmenter, check_table, load_mall_customers, pipeline, plots
from custseg._format import by_role
from custseg.datasets import online_retail_sample_path
from custseg.pipeline import compare, rfm


@pytest.fixture(scope="module")
def run():
    return pipeline.run(features=[INCOME, SPENDING])


def _text(html: str) -> str:
    """The visible text: tags removed, whitespace collapsed."""
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _images(html: str) -> list[str]:
    return re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', html)


def test_run_shows_cards_a_picture_and_how_k_was_chosen(run):
    html = run._repr_html_()
    text = _text(html)
    assert text.startswith("5 customer segments in mall_customers.csv")
    for p in run.profiles:
        assert f"{p.segment} · {p.name}" in text
        assert f"{p.size:,} customers" in text
        assert f"Suggested action: {p.action_title}." in text
    assert "k = 5." in text and run.k_selection.reason in text
    assert "Rule: " in text
    assert len(_images(html)) == 1  # income against spending, by segment
    assert "<details><summary>Data quality</summary>" in html


def test_kselection_table_marks_the_chosen_k_and_draws_the_curves(run):
    ks = run.k_selection
    html = ks._repr_html_()
    chosen = re.findall(r'<tr class="chosen"><td class="">(\d+)</td>', html)
    assert chosen == ["5"]
    assert len(re.findall(r"<tr", html)) == len(ks.k_values) + 1  # header + one per k
    assert len(_images(html)) == 1
    assert ks.structure_reason in _text(html)


def test_quality_report_lists_findings_and_every_column():
    df = load_mall_customers()
    df.loc[3, "Age"] = np.nan
    df["<b>odd & name</b>"] = 1
    html = check_table(df)._repr_html_()
    text = _text(html)
    assert "missing values 1" in text
    assert "ID columns CustomerID" in text
    for name in ("CustomerID", "Gender", "Age", INCOME, SPENDING):
        assert f'<td class="l">{name}</td>' in html.replace("&amp;", "&")
    # user text is escaped, never markup
    assert "<b>odd & name</b>" not in html
    assert "&lt;b&gt;odd &amp; name&lt;/b&gt;" in html
    finding = "Column '<b>odd & name</b>' has a single value"
    assert any(line.startswith(finding) for line in check_table(df).findings)
    assert finding.replace("<", "&lt;").replace(">", "&gt;") in html.replace(
        "&amp;", "&"
    ).replace("&#39;", "'")


def test_profile_card_and_unfitted_segmenter(run):
    p = run.profiles[1]
    text = _text(p._repr_html_())
    assert text.startswith(f"{p.segment} · {p.name} {p.size} customers")
    # features as the cards rank them, values written for their role
    for label, line in p.feature_lines():
        assert f"{label} : {line}" in text
    assert f"{by_role(p.mean[INCOME], 'income')} (" in text
    unfitted = Segmenter()._repr_mimebundle_()["text/html"]
    assert "customer segments" not in unfitted  # scikit-learn's diagram only


def test_fitted_segmenter_shows_its_segments_above_the_diagram(mall_df):
    seg = Segmenter(n_clusters=5, features=[INCOME, SPENDING]).fit(mall_df)
    bundle = seg._repr_mimebundle_()
    html = bundle["text/html"]
    assert _text(html).startswith("5 customer segments")
    assert html.index("customer segments") < html.index("sk-estimator")
    assert bundle["text/plain"].startswith("Segmenter(")


def test_hdbscan_run_says_how_many_are_unassigned():
    run = pipeline.run(features=[INCOME, SPENDING], algorithm="hdbscan")
    n = int((run.labels < 0).sum())
    assert n > 0
    assert f"{n:,} customers ({n / 200:.1%}) are in no segment" in _text(
        run._repr_html_()
    )


def test_rfm_run_adds_the_cleaning_and_the_rfm_segments():
    result = rfm(online_retail_sample_path())
    c = result.rfm.cleaning
    text = _text(result._repr_html_())
    assert f"RFM: {c.customers:,} customers from {c.lines:,} transaction lines" in text
    assert f"lines read {c.lines:,}" in text
    assert f"dropped: no customer id {c.dropped['missing_customer']:,}" in text
    assert f"lines used {c.used:,}" in text
    for name in result.rfm.segments["rfm_segment"]:
        assert name in text
    assert _text(result.rfm._repr_html_()).startswith("RFM: ")


def test_comparison_lists_failures_and_agreement(mall_df):
    c = compare(mall_df, features=[INCOME, SPENDING], algorithms=["kmeans", "gmm"])
    text = _text(c._repr_html_())
    assert text.startswith("2 algorithms on a DataFrame")
    assert "K-Means" in text and "Gaussian mixture" in text
    assert "Agreement between algorithms" in text
    rng = np.random.default_rng(0)  # 12 scattered rows: no dense group at all
    noise = pd.DataFrame({"x": rng.normal(size=12), "y": rng.normal(size=12)})
    failed = compare(noise, algorithms=["kmeans", "hdbscan"], n_clusters=3)
    assert list(failed.errors) == ["hdbscan"]
    text = _text(failed._repr_html_())
    assert "hdbscan could not segment these data: HDBSCAN found no dense group" in text


def test_showing_a_result_leaves_matplotlib_as_it_was(run):
    before_rc = dict(matplotlib.rcParams)
    before_figs = plt.get_fignums()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run._repr_html_()
        run.k_selection._repr_html_()
    assert plt.get_fignums() == before_figs
    assert dict(matplotlib.rcParams) == before_rc


# -- every plot draws on the user's own axes -------------------------------------


def _displays(run):
    seg = run.segmenter
    names = list(seg.segment_names_)
    ks = run.k_selection
    frame = run.data[[INCOME, SPENDING]].astype(float)
    Z = seg.prepare_frame(frame)
    from scipy.cluster.hierarchy import linkage

    previous = pd.Series(run.labels, index=run.data["CustomerID"])
    current = pd.Series(np.roll(run.labels, 3), index=run.data["CustomerID"])
    return {
        "elbow": plots.ElbowDisplay.from_selection(ks),
        "silhouette": plots.SilhouetteDisplay.from_prepared(Z, run.labels, names),
        "scatter": plots.SegmentScatterDisplay.from_frame(
            frame, run.labels, INCOME, SPENDING, names
        ),
        "projection": plots.ProjectionDisplay.from_prepared(
            Z, run.labels, seg.cluster_centers_, names
        ),
        "heatmap": plots.ProfileHeatmapDisplay.from_profiles(run.profiles),
        "sizes": plots.SegmentSizesDisplay.from_profiles(run.profiles),
        "dendrogram": plots.DendrogramDisplay.from_linkage(linkage(Z, "ward"), 5),
        "criteria": plots.InformationCriteriaDisplay(
            ks.k_values, ks.inertia, [v * 1.1 for v in ks.inertia], ks.k
        ),
        "migration": plots.MigrationDisplay.from_labels(previous, current),
        "agreement": plots.AgreementDisplay.from_labels(
            {"a": run.labels, "b": np.roll(run.labels, 3)}
        ),
        "stability": plots.StabilityDisplay.from_stability(
            seg.stability_, names, numbers=list(range(len(names)))
        ),
    }


def test_every_display_draws_on_the_given_axis_and_keeps_its_layout(run):
    for name, display in _displays(run).items():
        fig, (left, right) = plt.subplots(1, 2, layout="constrained")
        engine = type(fig.get_layout_engine())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            display.plot(ax=right)
        assert display.figure_ is fig, name
        assert display.ax_ is right, name
        assert right.has_data() or right.patches or right.images, name
        assert not left.has_data(), name  # the other axis is left alone
        assert type(fig.get_layout_engine()) is engine, name
        plt.close(fig)


def test_kscores_draws_on_three_given_axes(run):
    fig, axes = plt.subplots(1, 4, layout="constrained")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "layout has changed to tight"
        d = plots.KScoresDisplay.from_selection(run.k_selection).plot(axes=axes[1:])
    assert d.figure_ is fig and all(ax.has_data() for ax in axes[1:])
    assert not axes[0].has_data()
    plt.close(fig)


def test_exploration_plots_draw_on_given_axes(mall_df):
    numeric = ["Age", INCOME, SPENDING]
    fig, axes = plt.subplots(2, 3, layout="constrained")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plots.plot_distributions(mall_df, numeric, axes=axes[0]) is fig
        assert (
            plots.plot_categorical_counts(mall_df, ["Gender"], axes=[axes[1, 0]]) is fig
        )
        assert plots.plot_correlation(mall_df, numeric, ax=axes[1, 1]) is fig
    assert all(ax.has_data() for ax in axes[0])
    assert axes[1, 0].patches and axes[1, 1].collections
    assert not axes[1, 2].has_data()
    assert fig._suptitle is None  # a user's figure gets no title of ours
    with pytest.raises(ValueError, match="expected 3 axes"):
        plots.plot_distributions(mall_df, numeric, axes=axes[0][:2])
    plt.close(fig)


def test_rendering_results_keeps_the_notebook_backend(tmp_path):
    """In Jupyter the backend is matplotlib-inline; showing a result or writing
    a report must not switch it (figures would stop appearing in cells)."""
    import subprocess
    import sys

    code = (
        "import matplotlib\n"
        "matplotlib.use('module://matplotlib_inline.backend_inline')\n"
        "from custseg import pipeline\n"
        "r = pipeline.run(features=['Annual Income (k$)', 'Spending Score (1-100)'])\n"
        "r._repr_html_()\n"
        f"pipeline.write_outputs(r, {str(tmp_path)!r})\n"
        "print(matplotlib.get_backend())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "module://matplotlib_inline.backend_inline"
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_a_loaded_model_shows_its_segments(run, tmp_path):
    from custseg import load_model, save_model

    save_model(run.segmenter, tmp_path / "model.skops")
    model = load_model(tmp_path / "model.skops")
    assert not hasattr(model, "labels_")
    text = _text(model._repr_mimebundle_()["text/html"])
    assert text.startswith("5 customer segments customers 200 method K-Means")
    for p in run.profiles:
        assert f"{p.segment} · {p.name} {p.size} customers" in text


def test_information_criteria_from_a_gaussian_mixture_selection(mall_df):
    seg = Segmenter(algorithm="gmm", features=[INCOME, SPENDING]).fit(mall_df)
    ks = seg.k_selection_
    d = plots.InformationCriteriaDisplay.from_selection(ks)
    assert d.bic == list(ks.extra_scores["bic"]) and d.k == ks.k
    assert d.best_bic == ks.k_values[int(np.nanargmin(ks.extra_scores["bic"]))]
    with pytest.raises(ValueError, match="come with algorithm='gmm'"):
        plots.InformationCriteriaDisplay.from_selection(
            pipeline.run(features=[INCOME, SPENDING]).k_selection
        )


def test_cards_keep_their_own_rules_after_renumbering(mall_df):
    seg = Segmenter(n_clusters=5, features=[INCOME, SPENDING]).fit(mall_df)
    labels = {c: r.label for c, r in seg.columns_.items()}
    rules = {r.segment: r.readable(labels) for r in seg.rules_}
    names = list(seg.segment_names_)
    seg.renumber([0, 7, 3, 9, 2], names)  # as a previous model's numbers would
    html = seg._repr_mimebundle_()["text/html"]
    cards = re.findall(r'<div class="card".*?</div>', html, flags=re.S)
    assert len(cards) == 5
    for old, new in zip(range(5), [0, 7, 3, 9, 2], strict=True):
        card = next(c for c in cards if f"<h4>{new} · {names[old]}</h4>" in c)
        assert f"Rule: {rules[old]}" in card.replace("&lt;", "<").replace("&gt;", ">")


def test_method_is_named_for_an_algorithm_given_by_alias(mall_df):
    seg = Segmenter(algorithm="hierarchical", n_clusters=4, features=[INCOME, SPENDING])
    text = _text(seg.fit(mall_df)._repr_mimebundle_()["text/html"])
    assert "method Agglomerative (hierarchical) clustering" in text


def test_report_style_keeps_settings_it_does_not_own():
    """The Jupyter inline backend turns interactive mode on when pyplot first
    loads it, which can happen while a custseg figure is drawn; leaving the
    style must not turn it off again (no later figure would show)."""
    from custseg.report._figures import report_style

    was = matplotlib.rcParams["interactive"]
    title_size = matplotlib.rcParams["axes.titlesize"]
    figures = plt.get_fignums()
    try:
        matplotlib.rcParams["interactive"] = False
        with report_style():
            assert matplotlib.rcParams["axes.titlesize"] == 12
            matplotlib.rcParams["interactive"] = True  # what the backend does
            plt.figure()  # left open, as by a drawing that failed half-way
        assert matplotlib.rcParams["interactive"] is True
        assert matplotlib.rcParams["axes.titlesize"] == title_size != 12
        assert plt.get_fignums() == figures
    finally:
        matplotlib.rcParams["interactive"] = was
