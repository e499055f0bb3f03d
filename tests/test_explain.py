"""Segments that explain themselves on real-looking wide tables: column roles
and labels, names from what sets a segment apart, actions, cards formatted by
role, charts that hold at 17-30 features, and heavy tails on a log scale.

The tables come from tests/tables.py (generated, with planted groups whose
distinguishing features are known) plus the real mall and wholesale tables.
"""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import adjusted_rand_score
from tests.conftest import INCOME, SPENDING, WHOLESALE_CSV
from tests.tables import campaign_like, credit_card_like, ugly_names_table

from custseg import Segmenter, load_model
from custseg._format import by_role, compare
from custseg.cli import cli
from custseg.errors import InputError, ParameterError
from custseg.profile import separating_pair
from custseg.profile._naming import name_words
from custseg.quality._roles import guess_role, read_column_file, readable_label

matplotlib.use("Agg")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("MntWines", "Spend on wines"),
        ("NumWebVisitsMonth", "Number of web visits per month"),
        ("PURCHASES_INSTALLMENTS_FREQUENCY", "Purchases installments frequency"),
        ("CASH_ADVANCE_TRX", "Cash advance transactions"),
        ("PRC_FULL_PAYMENT", "Percent full payment"),
        ("Year_Birth", "Birth year"),
        ("AcceptedCmp4", "Accepted campaign 4"),
        ("total_spend_amt", "Total spend amount"),
        ("OrderFreqPerMonth", "Order frequency per month"),
        ("CustAge", "Customer age"),
        ("AvgBasketQty", "Average basket quantity"),
        ("Dt_Customer", "Customer since"),
        ("Annual Income (k$)", "Annual income (k$)"),  # units kept
        ("Detergents_Paper", "Detergents paper"),
    ],
)
def test_readable_labels_from_every_naming_style(name, label):
    assert readable_label(name) == label


@pytest.mark.parametrize(
    ("name", "values", "role"),
    [
        ("MntGoldProds", [0, 10, 250], "spend"),
        ("NumStorePurchases", [2, 5, 13], "count"),
        ("CASH_ADVANCE", [0.0, 1200.5, 40000], "money"),
        ("BALANCE_FREQUENCY", [0.1, 0.9, 1.0], "frequency"),
        ("PRC_FULL_PAYMENT", [0.0, 0.5, 1.0], "share"),
        ("Response", [0, 1, 1, 0], "flag"),
        ("is_loyalty_member", [1, 0, 0], "flag"),
        ("Year_Birth", [1950, 1985, 1990], "birth_year"),
        ("CustAge", [25, 60, 71], "age"),
        ("TENURE_MONTHS", [3, 40, 100], "tenure"),
        ("Recency", [1, 50, 99], "recency"),
        ("Income", [30_000, 80_000], "income"),
        ("Fresh", [3, 12_669, 112_151], "number"),  # the name says nothing
        ("usage", [0.2, 0.7, 0.4], "share"),  # values alone: a 0-1 column
    ],
)
def test_roles_from_names_and_values(name, values, role):
    assert guess_role(name, np.asarray(values, dtype=float)) == role


def test_values_formatted_by_role():
    assert by_role(1969.6, "birth_year") == "1970"  # not "1,970"
    assert by_role(0.2869, "share") == "29%"  # not "0.2869"
    assert by_role(0.62, "flag") == "62% of customers"
    assert by_role(12345.6, "money") == "12,346"
    assert compare(0.52, 0.34, "share") == "+18 points"
    assert compare(2300, 1000, "money") == "2.3x avg"
    assert compare(45.2, 39.0, "age") == "+6 years"


# -- names, ranking and actions on planted tables --------------------------------


def _group_of(labels: np.ndarray, truth: np.ndarray, group: int) -> int:
    """The segment holding most of planted ``group``."""
    return int(np.bincount(labels[truth == group]).argmax())


@pytest.fixture(scope="module")
def ugly():
    df, truth = ugly_names_table()
    seg = Segmenter(stability_resamples=0).fit(df)
    return df, truth, seg


def test_names_say_what_sets_each_planted_group_apart(ugly):
    df, truth, seg = ugly
    assert seg.n_clusters_ == 4
    assert adjusted_rand_score(truth, seg.labels_) > 0.95
    profile = {g: seg.profiles_[_group_of(seg.labels_, truth, g)] for g in range(4)}
    # the top-ranked feature is the planted one, and the name uses its words
    planted = {
        0: "total_spend_amt",
        1: "OrderFreqPerMonth",
        2: "CustAge",
        3: "TENURE_MONTHS",
    }
    for g, column in planted.items():
        top = profile[g].distinguishing()[0]
        assert top.feature == column, (g, profile[g].distinguishing()[:3])
    assert profile[0].name == "High total spend amount"
    assert profile[1].name == "High order frequency per month"
    assert profile[2].name == "Older"
    assert profile[3].name.startswith("Long-standing")
    assert "loyalty member" in profile[3].name  # the planted 0/1 flag
    # raw column names never leak into names
    for p in seg.profiles_:
        assert not any(c in p.name for c in df.columns)


def test_cards_rank_and_format_the_planted_features(ugly):
    _, truth, seg = ugly
    loyal = seg.profiles_[_group_of(seg.labels_, truth, 3)]
    lines = {line.feature: line for line in loyal.distinguishing()}
    flag = lines["is_loyalty_member"]
    assert flag.role == "flag" and flag.value.endswith("% of customers")
    assert flag.compares.endswith(" points") and flag.compares.startswith("+")
    older = seg.profiles_[_group_of(seg.labels_, truth, 2)]
    age = older.distinguishing()[0]
    assert age.label == "Customer age" and age.compares.endswith(" years")
    effects = [abs(line.effect) for line in older.distinguishing()]
    assert effects == sorted(effects, reverse=True)


def test_actions_follow_value_and_engagement(ugly):
    _, truth, seg = ugly
    action = {
        g: seg.profiles_[_group_of(seg.labels_, truth, g)].action_title
        for g in range(4)
    }
    # big spenders who buy rarely, frequent small buyers: different places,
    # different actions
    assert action[0] == "Bring them back more often"
    assert action[1] == "Raise order value"
    assert len(set(action.values())) >= 3
    for p in seg.profiles_:
        assert p.reason and p.reason.endswith(".")


def test_credit_card_like_table(tmp_path):
    df, truth = credit_card_like()
    seg = Segmenter(stability_resamples=0).fit(df)
    assert adjusted_rand_score(truth, seg.labels_) > 0.9
    # the heavy-tailed amounts and counts are clustered on a log scale; 0-1
    # frequencies, shares and tenure are not
    assert {"BALANCE", "PURCHASES", "CASH_ADVANCE", "PAYMENTS"} <= set(
        seg.log_features_
    )
    assert not {"PURCHASES_FREQUENCY", "PRC_FULL_PAYMENT", "TENURE"} & set(
        seg.log_features_
    )
    cash = seg.profiles_[_group_of(seg.labels_, truth, 1)]
    assert "cash advance" in cash.name.lower()
    top = {line.feature for line in cash.distinguishing()[:5]}
    assert {"CASH_ADVANCE", "CASH_ADVANCE_FREQUENCY", "CASH_ADVANCE_TRX"} <= top
    # profiles stay in original units
    rows = seg.labels_ == cash.segment
    assert cash.mean["CASH_ADVANCE"] == pytest.approx(
        df.loc[rows, "CASH_ADVANCE"].mean()
    )
    titles = [p.action_title for p in seg.profiles_]
    assert len(set(titles)) == len(titles)  # three places, three actions
    raw = Segmenter(stability_resamples=0, log_transform="none").fit(df)
    assert raw.log_features_ == ()


def test_campaign_like_table_wide_and_mixed():
    df, truth = campaign_like()
    seg = Segmenter(stability_resamples=0).fit(df)
    labels = {c: r.label for c, r in seg.columns_.items()}
    roles = {c: r.role for c, r in seg.columns_.items()}
    assert labels["MntWines"] == "Spend on wines" and roles["MntWines"] == "spend"
    assert roles["AcceptedCmp1"] == "flag" and roles["Year_Birth"] == "birth_year"
    # one absurd income is a data error, not a heavy tail
    assert "Income" not in seg.log_features_
    for p in seg.profiles_:
        year = next(x for x in p.distinguishing() if x.feature == "Year_Birth")
        assert year.value.isdigit() and len(year.value) == 4
        assert len(p.distinguishing()) == len(p.mean) + len(p.categories)
    titles = [p.action_title for p in seg.profiles_]
    assert len(set(titles)) == len(titles)


ALGORITHMS = ["kmeans", "minibatch-kmeans", "agglomerative", "gmm", "hdbscan"]


def _tables() -> dict[str, pd.DataFrame]:
    from custseg.datasets import load_mall_customers

    return {
        "mall": load_mall_customers(),
        "wholesale": pd.read_csv(WHOLESALE_CSV),
        "credit_card_like": credit_card_like(1500)[0],
        "campaign_like": campaign_like(1200)[0],
        "ugly_names": ugly_names_table()[0],
    }


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", [*ALGORITHMS, "kprototypes"])
def test_names_unique_and_never_repeat_a_word(algorithm):
    for name, df in _tables().items():
        if algorithm == "kprototypes" and name in {"wholesale", "ugly_names"}:
            continue  # k-prototypes needs a categorical feature
        seg = Segmenter(algorithm=algorithm, stability_resamples=0, rules=False)
        seg.fit(df)
        names = list(seg.segment_names_)
        assert len(set(names)) == len(names), (name, names)
        for segment_name in names:
            words = name_words(segment_name)
            assert len(words) == len(set(words)), (name, segment_name)
            assert segment_name[:1].isupper()


def test_the_mall_keeps_its_five_segments(mall_df):
    seg = Segmenter(features=[INCOME, SPENDING]).fit(mall_df)
    assert sorted(p.name for p in seg.profiles_) == [
        "Average income and spending",
        "High income and spending",
        "High income, low spending",
        "Low income and spending",
        "Low income, high spending",
    ]
    assert len({p.action_title for p in seg.profiles_}) == 5


# -- the user's labels and roles --------------------------------------------------


def test_column_file_overrides_labels_and_roles_and_is_saved(tmp_path):
    df, truth = ugly_names_table()
    columns = tmp_path / "columns.yaml"
    columns.write_text(
        "total_spend_amt: {label: Yearly spend, role: spend}\n"
        "AvgBasketQty:\n  label: Items per basket\n  role: count\n"
    )
    seg = Segmenter(stability_resamples=0, column_roles=read_column_file(columns))
    seg.fit(df)
    spenders = seg.profiles_[_group_of(seg.labels_, truth, 0)]
    assert spenders.name == "High yearly spend"
    assert seg.columns_["total_spend_amt"].source == "user"
    seg.save(tmp_path / "model.skops")
    back = load_model(tmp_path / "model.skops")
    assert back.columns_["AvgBasketQty"].label == "Items per basket"
    assert back.column_roles == seg.column_roles
    assert [p.name for p in back.profiles_] == [p.name for p in seg.profiles_]
    csv = tmp_path / "columns.csv"
    csv.write_text("column,label,role\nCustAge,Age in years,\n")
    assert read_column_file(csv) == {"CustAge": {"label": "Age in years"}}


def test_column_file_errors_name_the_column(tmp_path):
    df, _ = ugly_names_table(200)
    with pytest.raises(ParameterError, match="unknown role 'cash'"):
        Segmenter(column_roles={"CustAge": {"role": "cash"}}).fit(df)
    with pytest.raises(
        InputError, match="no column named 'CustAg'.*Did you mean 'CustAge'"
    ):
        Segmenter(column_roles={"CustAg": {"label": "Age"}}).fit(df)
    bad = tmp_path / "c.csv"
    bad.write_text("name,label\nCustAge,Age\n")
    out = CliRunner().invoke(cli, ["run", "--columns", str(bad), "-o", str(tmp_path)])
    assert out.exit_code == 1
    assert "the first line must name the fields: column,label,role" in out.output


# -- charts ------------------------------------------------------------------------


def _overlaps(fig, texts) -> list[tuple[str, str]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if a and b and box_a.overlaps(box_b)
    ]


@pytest.mark.parametrize("width", [17, 30])
def test_profile_heatmap_holds_at_wide_tables(width):
    from matplotlib.colors import to_rgb

    from custseg.plots import ProfileHeatmapDisplay

    df, _ = credit_card_like(1500)
    if width == 30:  # 13 more columns: flags, shares and amounts
        rng = np.random.default_rng(1)
        for i in range(13):
            df[f"EXTRA_{i}_AMT"] = rng.lognormal(3, 1, len(df))
    seg = Segmenter(stability_resamples=0, rules=False).fit(df)
    d = ProfileHeatmapDisplay.from_profiles(seg.profiles_).plot()
    ax = d.ax_
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(seg.selection_.numeric) == width  # every label
    assert labels[0] == seg.columns_[d.z.columns[0]].label
    # features in the order of how much they separate the segments
    from custseg.profile import feature_separation

    assert list(d.z.columns) == list(feature_separation(seg.profiles_))
    cells = [t for t in ax.texts if t.get_text()]
    assert len(cells) == width * seg.n_clusters_
    assert not any("e+" in t.get_text() for t in cells)
    assert _overlaps(d.figure_, cells) == []
    # text colour contrasts with its cell
    for t in cells:
        x, y = t.get_position()
        r, g, b, _ = d.image_.cmap(d.image_.norm(d.image_.get_array()[int(y), int(x)]))
        cell = 0.2126 * r + 0.7152 * g + 0.0722 * b
        text = sum(
            w * c
            for w, c in zip(
                (0.2126, 0.7152, 0.0722), to_rgb(t.get_color()), strict=True
            )
        )
        assert abs(cell - text) > 0.35


def test_default_chart_is_the_pair_that_separates_best():
    df, truth = ugly_names_table()
    seg = Segmenter(stability_resamples=0).fit(df)
    pair = separating_pair(seg.profiles_, df)
    assert pair is not None and "AvgBasketQty" not in pair
    assert "is_loyalty_member" not in pair


def test_report_names_the_log_scale_and_the_pca_axes(tmp_path):
    df, _ = credit_card_like(1500)
    path = tmp_path / "cc.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["run", str(path), "-o", str(out), "--stability-resamples", "3"]
    )
    assert res.exit_code == 0, res.output
    assert "Clustered on a log scale (heavy-tailed): Balance, Purchases" in res.output
    assert "--transform none turns this off" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert "BALANCE" in summary["settings"]["log_features"]
    html = (out / "report.html").read_text()
    assert "Clustered on a log scale</strong>" in html
    assert "The two features that separate the segments best." in html
    assert "What sets them apart" in html and "more features</summary>" in html
    none = CliRunner().invoke(
        cli,
        ["run", str(path), "-o", str(tmp_path / "raw"), "--transform", "none", "-q"],
    )
    assert none.exit_code == 0
    raw = json.loads((tmp_path / "raw" / "summary.json").read_text())
    assert raw["settings"]["log_features"] == []


def test_pca_axes_name_their_top_features():
    from custseg.plots import ProjectionDisplay

    df, _ = credit_card_like(1500)
    seg = Segmenter(stability_resamples=0, rules=False).fit(df)
    Z = seg.prepare(df)
    d = ProjectionDisplay.from_prepared(
        Z,
        seg.labels_,
        seg.cluster_centers_,
        list(seg.segment_names_),
        feature_names=seg.prepared_feature_labels(),
    )
    x, y = d.axis_titles()
    assert x.startswith("PC1 (") and "of variance): " in x
    labels = {r.label for r in seg.columns_.values()}
    assert set(d.loadings[0]) <= labels and d.loadings[0]
    d.plot()
    assert d.ax_.get_xlabel() == x
    assert len(d.centers) == seg.n_clusters_


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("LastPurchaseAmount", "spend"),  # not recency: a high one is not lapsed
        ("days_since_signup", "tenure"),
        ("DebtToIncome", "share"),  # not income
        ("ChurnRate", "share"),  # not engagement
        ("account_age", "tenure"),  # not the customer's age
        ("days_since_last_order", "recency"),
    ],
)
def test_names_that_look_like_another_role(name, role):
    assert guess_role(name) == role


def test_a_saved_model_with_missing_means_still_shows_its_cards(tmp_path):
    from custseg.report._notebook import profile_html

    df, _ = ugly_names_table(400)
    df["never_filled"] = np.nan  # dropped as empty; make one segment-empty instead
    df = df.drop(columns="never_filled")
    df.loc[df["CustAge"] > 60, "AvgBasketQty"] = np.nan  # missing for a whole group
    seg = Segmenter(stability_resamples=0, rules=False).fit(df)
    assert any(np.isnan(p.mean["AvgBasketQty"]) for p in seg.profiles_)
    seg.save(tmp_path / "m.skops")
    back = load_model(tmp_path / "m.skops")
    for p in back.profiles_:
        assert len(p.feature_lines()) == len(p.mean)
        assert p.name in profile_html(p)


def test_yaml_column_names_stay_text(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("No: {label: Row number, role: id}\n007: {label: Agent}\n")
    assert read_column_file(path) == {
        "No": {"label": "Row number", "role": "id"},
        "007": {"label": "Agent"},
    }


def test_only_categorical_features_are_typical_not_average():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "gender": rng.choice(["F", "M"], 300),
            "region": rng.choice(["N", "S", "E"], 300),
        }
    )
    seg = Segmenter(3, stability_resamples=0, rules=False).fit(df)
    assert not any(n.startswith("Average") for n in seg.segment_names_)
