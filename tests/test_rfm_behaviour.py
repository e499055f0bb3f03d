"""RFM with nothing lost (identical lines, customers without a usable
purchase, revenue to the cent), the behaviour and preference measures checked
by hand, feature sets, and planted behaviour recovered on a generated log."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import adjusted_rand_score
from tests.tables import PLANTED_GROUPS, planted_order_log
from tests.test_rfm import HEADER, LINES

from custseg import MissingColumnError, ParameterError
from custseg.cli import cli
from custseg.pipeline import rfm, write_outputs
from custseg.transactions import aggregate_transactions


def purchase_log(seed: int = 0) -> pd.DataFrame:
    """A log without an invoice column (customer, date, quantity, amount):
    one line per purchase, like the public one that lost lines and customers.
    It holds identical lines (the same purchase twice on a day), customers
    whose only lines have a zero quantity or amount, and amounts in cents."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(60):
        for _ in range(int(rng.integers(1, 6))):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(
                days=int(rng.integers(0, 120))
            )
            qty = int(rng.integers(1, 4))
            amount = f"{rng.integers(100, 9000) / 100:.2f}"
            rows.append((f"U{c:03d}", day.strftime("%Y-%m-%d"), qty, amount))
    # the same purchase twice on one day: two purchases
    rows += [rows[0], rows[5], rows[5]]
    # customers whose only lines are zero quantity or zero amount
    rows += [("Z001", "2024-02-01", 1, "0.00"), ("Z002", "2024-02-03", 2, "0.00")]
    rows += [("Z002", "2024-02-04", 1, "0")]
    frame = pd.DataFrame(rows, columns=["user_id", "date", "qty", "amount"])
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


def cents(values) -> Decimal:
    return sum((Decimal(str(v)) for v in values), Decimal(0))


def test_without_invoices_identical_lines_are_purchases_and_nobody_is_lost(tmp_path):
    log = purchase_log()
    path = tmp_path / "purchases.csv"
    log.to_csv(path, index=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["rfm", str(path), "-o", str(out), "--no-report"])
    assert res.exit_code == 0, res.output
    usable = log[log["amount"].astype(float) != 0]
    identical = int(usable.duplicated().sum())
    assert identical == 3  # rows[0] twice, rows[5] three times
    assert (
        f"{identical} identical lines kept: no invoice column to tell repeats from "
        "errors; --drop-identical-lines to drop them." in res.output
    )
    summary = json.loads((out / "summary.json").read_text())
    cleaning = summary["rfm"]["cleaning"]
    # The revenue is the sum of the lines kept, to the cent.
    assert Decimal(str(cleaning["net_revenue"])) == cents(usable["amount"])
    assert f"net revenue {cents(usable['amount']):,.2f}" in res.output
    assert cleaning["used"] == len(usable)
    assert cleaning["used"] + sum(cleaning["dropped"].values()) == len(log)
    assert "duplicate" not in cleaning["dropped"]
    assert cleaning["identical_lines"] == identical
    # Every customer id of the log is a row of segments.csv.
    segments = pd.read_csv(out / "segments.csv")
    assert sorted(segments["user_id"]) == sorted(log["user_id"].unique())
    lost = segments.set_index("user_id").loc[["Z001", "Z002"]]
    assert lost["segment"].isna().all()
    assert (
        list(lost["unassigned_reason"])
        == ["no usable purchase: every line has a quantity or amount of zero"] * 2
    )
    assert cleaning["unscored_customers"] == 2 == summary["n_unscored"]
    assert "2 more customers in the log have no usable purchase" in res.output
    assert Decimal(str(round(segments["monetary"].sum(), 2))) == cents(usable["amount"])

    # Asked to, the copies go, and the revenue is the distinct lines'.
    res = CliRunner().invoke(
        cli,
        ["rfm", str(path), "-o", str(out), "--no-report", "--drop-identical-lines"],
    )
    assert res.exit_code == 0, res.output
    cleaning = json.loads((out / "summary.json").read_text())["rfm"]["cleaning"]
    assert cleaning["dropped"]["duplicate"] == identical
    distinct = usable.drop_duplicates()
    assert Decimal(str(cleaning["net_revenue"])) == cents(distinct["amount"])
    assert cleaning["used"] + sum(cleaning["dropped"].values()) == len(log)


def test_with_invoices_and_products_identical_lines_are_dropped_to_the_cent():
    frame = pd.DataFrame(LINES, columns=HEADER)
    table = aggregate_transactions(frame)
    assert table.cleaning.identical_rule == "drop"
    assert table.cleaning.dropped["duplicate"] == 1
    # An invoice alone does not identify lines: the copy is kept and counted.
    no_product = aggregate_transactions(frame.drop(columns="StockCode"))
    assert no_product.cleaning.identical_rule == "keep"
    assert no_product.cleaning.identical_lines == 1
    assert no_product.cleaning.net_revenue == pytest.approx(
        table.cleaning.net_revenue + 40
    )
    # A line id identifies lines even without products.
    with_line = frame.drop(columns="StockCode").assign(line_id=range(len(frame)))
    numbered = aggregate_transactions(with_line)
    assert numbered.cleaning.identical_rule == "drop"
    assert numbered.cleaning.identical_lines == 0  # the ids differ


def test_behaviour_measures_match_the_hand_computation():
    """The log of tests/test_rfm.py, by hand (snapshot 2024-03-11):

    customer 1: orders on Wed 10 Jan (1 line, 1 item), Sat 10 Feb (4 items;
    its identical copy dropped) and Sun 10 Mar (3 items, 2 products): gaps of
    31 and 29 days (mean 30, population sd 1), all three in the last 90 days
    of a 61-day history, products A, B, C. Customer 2 bought 15 and returned
    5. Customer 4's only order is 101 days old."""
    frame = pd.DataFrame(LINES, columns=HEADER)
    got = aggregate_transactions(frame, distinct_products=True).customers
    got = got.set_index("CustomerID")
    one = got.loc[1]
    assert one["items_per_order"] == pytest.approx(round(8 / 3, 2))
    assert one["interval_cv"] == pytest.approx(round(1 / 30, 3))
    assert one["trend_90d"] == 1.0
    assert one["weekend_share"] == pytest.approx(round(2 / 3, 4))
    assert one["distinct_products"] == 3
    # a tie (one order each day): the earliest weekday wins
    assert one["favourite_weekday"] == "Wednesday"
    assert one["favourite_hour"] == 8
    assert got.loc[2, "return_rate"] == pytest.approx(round(5 / 15, 4))
    assert got.loc[1, "return_rate"] == 0
    assert got.loc[4, "trend_90d"] == 0.0
    # Two orders: one gap, no regularity yet.
    assert np.isnan(got.loc[3, "interval_cv"])
    # Customer 5: gaps 5, 3, 2 days (mean 10/3), orders on Tue, Sun, Wed, Fri.
    gaps = np.array([5, 3, 2])
    assert got.loc[5, "interval_cv"] == pytest.approx(
        round(gaps.std() / gaps.mean(), 3)
    )
    assert got.loc[5, "weekend_share"] == 0.25
    # No discount column, no discount share; distinct products only asked for.
    assert "discount_share" not in got.columns
    assert "distinct_products" not in aggregate_transactions(frame).customers
    # A blank product code is no product.
    blank = frame.copy()
    blank.loc[1, "StockCode"] = ""  # customer 1's line of B
    counted = aggregate_transactions(blank, distinct_products=True).customers
    assert counted.set_index("CustomerID").loc[1, "distinct_products"] == 2
    # lifetimes / PyMC-Marketing definitions (docs/rfm.md), by hand for
    # customer 1 (one order per day): repeat purchases 2, their "recency"
    # (last - first purchase) 60 days, age T 61 days.
    assert one["frequency"] - 1 == 2
    assert one["purchase_interval_days"] * (one["frequency"] - 1) == 60
    assert one["tenure_days"] == 61


def test_discount_and_category_columns_give_shares():
    frame = pd.DataFrame(LINES, columns=HEADER)
    frame["Promo"] = ["yes" if code in "AC" else "no" for code in frame["StockCode"]]
    frame["Category"] = [
        "home décor" if code in "ABC" else "toys" for code in frame["StockCode"]
    ]
    table = aggregate_transactions(frame)
    got = table.customers.set_index("CustomerID")
    # Customer 1: 10 (A, 2 x 5) + 40 (A) + 40 (C) discounted of 100.
    assert got.loc[1, "discount_share"] == pytest.approx(0.9)
    assert (
        got.loc[1, "share_home_décor"] == 1.0
        and got.loc[1, "top_category"] == "home décor"
    )
    assert got.loc[5, "share_toys"] == 1.0 and got.loc[5, "n_categories"] == 1
    assert table.preference_labels == {
        "share_toys": "toys",
        "share_home_décor": "home décor",
    }


def test_without_a_discount_column_prices_below_the_usual_are_discounts():
    frame = pd.DataFrame(LINES, columns=HEADER)
    got = aggregate_transactions(frame, price_discounts=True).customers
    got = got.set_index("CustomerID")
    # Product A sold at 5 once and at 10 on two (identical) lines: its median
    # price is 10, so customer 1's line at 5 (2 x 5 = 10 of 100) is discounted.
    assert got.loc[1, "discount_share"] == pytest.approx(0.1)
    assert (got.drop(index=1)["discount_share"] == 0).all()
    assert "discount_share" not in aggregate_transactions(frame).customers
    # A discount column, where there is one, decides instead.
    marked = frame.assign(
        Promo=["yes" if c == "F" else "no" for c in frame["StockCode"]]
    )
    by_column = aggregate_transactions(marked, price_discounts=True).customers
    assert by_column.set_index("CustomerID").loc[1, "discount_share"] == 0
    # --features behaviour asks for it.
    run = rfm(frame, n_clusters=2, features=["behaviour"], stability_resamples=0)
    assert run.data.set_index("CustomerID").loc[1, "discount_share"] == pytest.approx(
        0.1
    )


def test_categories_file_and_top_products(tmp_path):
    frame = pd.DataFrame(LINES, columns=HEADER)
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    cats = tmp_path / "categories.csv"
    pd.DataFrame(
        {"StockCode": list("ABCDEFGHIJKLM"), "category": ["x"] * 4 + ["y"] * 9}
    ).to_csv(cats, index=False)
    mapped = aggregate_transactions(path, categories=cats).customers.set_index(
        "CustomerID"
    )
    # Customer 2: D (x) for 15; the return does not count as spend.
    assert mapped.loc[2, "share_x"] == 1.0 and mapped.loc[5, "share_y"] == 1.0
    top = aggregate_transactions(path, products_top=2).customers.set_index("CustomerID")
    # The best sellers: F (300) and I (200); customer 5 spent 200 of 350 on I.
    assert {"share_product_f", "share_product_i", "share_product_other"} <= set(
        top.columns
    )
    assert top.loc[5, "share_product_i"] == pytest.approx(round(200 / 350, 4))
    assert top.loc[3, "share_product_f"] == 1.0
    bad = tmp_path / "repeated.csv"
    pd.DataFrame({"StockCode": ["A", "A"], "category": ["x", "y"]}).to_csv(
        bad, index=False
    )
    res = CliRunner().invoke(
        cli, ["rfm", str(path), "--categories", str(bad), "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 1
    assert "repeated.csv" in res.output and "more than one category" in res.output


def test_feature_sets_and_named_features(tmp_path):
    frame = pd.DataFrame(LINES, columns=HEADER)
    base = rfm(frame, n_clusters=2, features=["rfm"], stability_resamples=0)
    assert base.rfm.features == ("recency_days", "frequency", "monetary")
    wide = rfm(frame, n_clusters=2, features=["behaviour"], stability_resamples=0)
    assert {"trend_90d", "weekend_share", "return_rate"} <= set(wide.rfm.features)
    # interval_cv is known for 2 of 5 customers: not a clustering feature
    assert "interval_cv" not in wide.rfm.features
    named = rfm(frame, n_clusters=2, features=["frequency", "weekend_share"])
    assert named.rfm.features == ("frequency", "weekend_share")
    with pytest.raises(MissingColumnError, match="bogus"):
        rfm(frame, n_clusters=2, features=["bogus"])
    with pytest.raises(ParameterError, match="category column"):
        rfm(frame, n_clusters=2, features=["preferences"])
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    res = CliRunner().invoke(
        cli,
        [
            "rfm",
            str(path),
            "-k",
            "2",
            "-f",
            "behaviour",
            "-o",
            str(tmp_path / "o"),
            "--no-report",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Clustered on: recency_days, frequency, monetary, tenure_days" in res.output


def test_planted_behaviour_is_recovered_and_named(tmp_path):
    log, truth = planted_order_log()
    result = rfm(log, features=["all"], stability_resamples=0)
    frame = result.segments_frame().set_index("CustomerID")
    ari = adjusted_rand_score(truth.loc[frame.index], frame["segment"])
    print(f"planted groups {PLANTED_GROUPS}: adjusted Rand index {ari:.3f}")
    assert ari >= 0.9
    names = pd.crosstab(frame["segment_name"], truth.loc[frame.index]).idxmax(axis=0)
    assert "buys mostly home décor" in names["home décor loyalists"].lower()
    assert "discount" in names["bargain hunters"].lower()
    assert "slowing down" in names["lapsing regulars"].lower() or (
        "lapsed" in names["lapsing regulars"].lower()
    )
    assert len(set(names)) == 4
    # The totals stay exact with every measure on. The log has invoices and
    # products, so a line repeated within an invoice is one line.
    distinct = log.drop_duplicates()
    assert result.rfm.cleaning.dropped["duplicate"] == len(log) - len(distinct) > 0
    expected = cents((distinct["Quantity"] * distinct["UnitPrice"]).round(4))
    assert Decimal(str(round(result.rfm.cleaning.net_revenue, 2))) == expected.quantize(
        Decimal("0.01")
    )
    paths = write_outputs(result, tmp_path / "out", model=False)
    html = paths["report"].read_text()
    assert "Buys mostly home décor" in html
    assert "Behaviour and preferences by segment" in html
