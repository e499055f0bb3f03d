"""RFM: cleaning counted line by line, R/F/M and scores checked by hand, the
segment map, behavioural clusters, outputs, and the UCI Online Retail log."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from tests.conftest import ONLINE_RETAIL, TEST_DATA

from custseg import CustsegWarning, InputError, ParameterError, load_model
from custseg.cli import cli
from custseg.pipeline import rfm, write_outputs
from custseg.transactions import (
    DEFAULT_SEGMENT_MAP,
    aggregate_transactions,
    find_columns,
    load_segment_map,
    score_values,
)

HEADER = [
    "InvoiceNo",
    "StockCode",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
]

# A small log whose every number is worked out by hand below. The last
# transaction is on 2024-03-10, so the default snapshot is 2024-03-11.
LINES = [
    # customer 1: three orders, 20 + 40 + 40 = 100
    ("1001", "A", 2, "2024-03-10 09:00:00", 5.0, "1"),
    ("1001", "B", 1, "2024-03-10 09:00:00", 10.0, "1"),
    ("1002", "A", 4, "2024-02-10 12:00:00", 10.0, "1"),
    ("1002", "A", 4, "2024-02-10 12:00:00", 10.0, "1"),  # duplicate line
    ("1003", "C", 1, "2024-01-10 08:30:00", 40.0, "1"),
    # customer 2: one order of 15 and a cancellation of 5: net 10
    ("1004", "D", 1, "2024-03-05 10:00:00", 15.0, "2"),
    ("C1005", "E", -1, "2024-03-06 10:00:00", 5.0, "2"),
    # customer 3: 200 + 100 = 300, plus a free gift (price 0)
    ("1006", "F", 10, "2024-01-01 10:00:00", 20.0, "3"),
    ("1006", "G", 1, "2024-01-01 10:00:00", 0.0, "3"),  # zero price
    ("1007", "F", 5, "2024-01-15 10:00:00", 20.0, "3"),
    # customer 4: one order of 8, and a line whose date does not parse
    ("1008", "H", 1, "2023-12-01 10:00:00", 8.0, "4"),
    ("1015", "H", 1, "not a date", 8.0, "4"),
    # customer 5: four orders, 150 + 50 + 100 + 50 = 350
    ("1009", "I", 3, "2024-02-20 10:00:00", 50.0, "5"),
    ("1010", "I", 1, "2024-02-25 10:00:00", 50.0, "5"),
    ("1011", "J", 1, "2024-02-28 10:00:00", 100.0, "5"),
    ("1012", "K", 2, "2024-03-01 10:00:00", 25.0, "5"),
    # no customer id
    ("1013", "L", 1, "2024-03-02 10:00:00", 9.0, ""),
    # customer 6 only ever cancelled
    ("C1014", "M", -2, "2024-02-02 10:00:00", 10.0, "6"),
]

# By hand. Recency = days from the last purchase to 2024-03-11 (2024 is a
# leap year); frequency = distinct orders; monetary = net revenue.
EXPECTED = pd.DataFrame(
    {
        "CustomerID": [1, 2, 3, 4, 5],
        "recency_days": [1, 6, 56, 101, 10],
        "frequency": [3, 1, 2, 1, 4],
        "monetary": [100.0, 10.0, 300.0, 8.0, 350.0],
        "tenure_days": [61, 6, 70, 101, 20],
        # Recency: unique values, so each customer beats the ones with a
        # longer recency: 1 day beats 4 of 5 -> 5; 6 -> 4; 10 -> 3; 56 -> 2; 101 -> 1.
        "r_score": [5, 4, 2, 1, 3],
        # Frequency 1, 1, 2, 3, 4: the two single-order customers beat nobody
        # (1); two orders beat 2 of 5 (1 + floor(5 * 2/5) = 3); three beat 3
        # (4); four beat 4 (5).
        "f_score": [4, 1, 3, 1, 5],
        # Monetary 8 < 10 < 100 < 300 < 350.
        "m_score": [3, 2, 4, 1, 5],
        # FM = floor((F + M + 1) / 2).
        "fm_score": [4, 2, 4, 1, 5],
        "rfm_segment": ["Champions", "Potential Loyalist", "At Risk", "Lost", "Loyal"],
    }
)


def write_log(path: Path, lines: list[tuple] = LINES) -> Path:
    frame = pd.DataFrame(lines, columns=HEADER)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def log_csv(tmp_path: Path) -> Path:
    return write_log(tmp_path / "log.csv")


def test_cleaning_counts_every_line_by_reason(log_csv):
    table = aggregate_transactions(log_csv)
    c = table.cleaning
    assert c.lines == len(LINES) == 18
    assert c.dropped == {
        "missing_date": 1,
        "missing_customer": 1,
        "missing_value": 0,
        "zero_quantity": 0,
        "bad_price": 1,
        "duplicate": 1,
        "no_purchase": 1,
    }
    assert c.used == 13 and c.used + sum(c.dropped.values()) == c.lines
    assert c.netted == 1
    assert c.customers == 5 and c.orders == 11
    assert c.net_revenue == pytest.approx(768.0)
    assert c.snapshot == dt.date(2024, 3, 11)


def test_rfm_values_scores_and_segments_match_the_hand_computation(log_csv):
    result = rfm(log_csv, n_clusters=2)
    got = result.data.set_index("CustomerID").loc[EXPECTED["CustomerID"]]
    expected = EXPECTED.set_index("CustomerID")
    for col in ["recency_days", "frequency", "tenure_days", "r_score", "f_score"]:
        assert got[col].tolist() == expected[col].tolist(), col
    assert got["monetary"].tolist() == pytest.approx(expected["monetary"].tolist())
    for col in ["m_score", "fm_score"]:
        assert got[col].tolist() == expected[col].tolist(), col
    assert got["rfm_segment"].astype(str).tolist() == expected["rfm_segment"].tolist()
    assert got["rfm_score"].tolist() == ["543", "412", "234", "111", "355"]
    # Customer 1 ordered on Jan 10 and Mar 10: 60 days over 2 gaps.
    assert got.loc[1, "purchase_interval_days"] == 30.0
    assert got.loc[1, "avg_order_value"] == pytest.approx(100 / 3, abs=0.01)
    assert np.isnan(got.loc[2, "purchase_interval_days"])


def test_excluding_cancellations_drops_them_instead(log_csv):
    c = aggregate_transactions(log_csv, cancellations="exclude").cleaning
    assert c.dropped["cancellation"] == 2  # C1005 and C1014
    assert "no_purchase" in c.dropped and c.dropped["no_purchase"] == 0
    assert c.netted == 0
    assert c.net_revenue == pytest.approx(773.0)  # customer 2 keeps 15


def test_as_of_moves_the_snapshot_and_drops_later_lines(log_csv):
    table = aggregate_transactions(log_csv, as_of="2024-03-01")
    c = table.cleaning
    # On or after March 1: 1001 (2 lines), 1004, C1005, 1012, 1013.
    assert c.dropped["after_as_of"] == 6
    assert c.snapshot == dt.date(2024, 3, 1)
    by_id = table.customers.set_index("CustomerID")
    assert by_id.loc[1, "recency_days"] == 20  # Feb 10 -> Mar 1
    assert by_id.loc[5, "frequency"] == 3
    assert 2 not in by_id.index  # only purchase after the snapshot


def test_parquet_excel_and_dataframe_give_the_same_customers(log_csv, tmp_path):
    frame = pd.read_csv(log_csv, dtype={"InvoiceNo": str, "CustomerID": "Int64"})
    frame.to_parquet(tmp_path / "log.parquet")
    frame.to_excel(tmp_path / "log.xlsx", index=False)
    want = aggregate_transactions(log_csv).customers
    for source in (tmp_path / "log.parquet", tmp_path / "log.xlsx", frame):
        got = aggregate_transactions(source).customers
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_amount_column_and_no_invoice_count_days_as_orders(tmp_path):
    lines = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "order_date": ["05/01/2024", "05/01/2024", "20/01/2024", "13/01/2024"],
            "amount": ["£10.50", "4.50", "20", "7"],
        }
    )
    lines.to_csv(tmp_path / "t.csv", index=False, sep=";")
    table = aggregate_transactions(tmp_path / "t.csv")
    c = table.cleaning
    assert c.columns.amount == "amount" and c.columns.invoice is None
    assert c.date_format == "%d/%m/%Y"  # 20/01 and 13/01 settle day-first
    by_id = table.customers.set_index("customer_id")
    assert by_id.loc["a", "frequency"] == 2  # two purchase days
    assert by_id.loc["a", "monetary"] == pytest.approx(35.0)
    assert by_id.loc["a", "recency_days"] == 1
    assert by_id.loc["b", "recency_days"] == 8


def test_columns_are_found_by_usual_names_or_named():
    retail2 = [
        "Invoice",
        "StockCode",
        "Quantity",
        "InvoiceDate",
        "Price",
        "Customer ID",
    ]
    cols = find_columns(retail2)
    assert (cols.customer, cols.invoice, cols.price) == (
        "Customer ID",
        "Invoice",
        "Price",
    )
    with pytest.raises(InputError, match="no customer column.*--customer-column"):
        find_columns(["when", "qty", "price"])
    assert (
        find_columns(
            ["who", "when", "total"], {"customer": "who", "date": "when"}
        ).amount
        == "total"
    )


def test_scores_handle_skewed_ties_and_custom_breaks():
    # 60% bought once: they all score 1; two orders beat 60% -> 4.
    f = [1] * 6 + [2, 2, 3, 9]
    assert score_values(f, higher_is_better=True).tolist() == [1] * 6 + [4, 4, 5, 5]
    # Unique values are exact quintiles, 5 for the most recent.
    r = np.arange(10, 0, -1)
    assert score_values(r, higher_is_better=False).tolist() == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
    ]
    breaks = [30, 90, 180, 365]
    assert score_values(
        [5, 30, 31, 200, 400], higher_is_better=False, breaks=breaks
    ).tolist() == [5, 5, 4, 2, 1]
    assert score_values(
        [1, 2, 3, 11], higher_is_better=True, breaks=[1, 2, 5, 10]
    ).tolist() == [1, 2, 3, 5]
    with pytest.raises(ParameterError, match="4 increasing"):
        score_values([1], higher_is_better=True, breaks=[3, 2, 1, 0])


def test_custom_breaks_reach_the_scores(log_csv):
    result = rfm(
        log_csv,
        n_clusters=2,
        breaks={"recency": "7,30,60,90", "frequency": [1, 2, 3, 4]},
    )
    got = result.data.set_index("CustomerID")
    # Recency 1, 6 -> 5; 10 -> 4; 56 -> 3; 101 -> 1.
    assert got.loc[[1, 2, 5, 3, 4], "r_score"].tolist() == [5, 5, 4, 3, 1]
    assert got.loc[[2, 3, 1, 5], "f_score"].tolist() == [1, 2, 3, 4]
    assert result.rfm.to_dict()["score_rule"] == "breaks"


def test_default_map_covers_every_cell_once_with_the_eleven_segments():
    grid = DEFAULT_SEGMENT_MAP.grid()
    assert grid.shape == (5, 5)
    assert set(DEFAULT_SEGMENT_MAP.segments) == {
        "Champions", "Loyal", "Potential Loyalist", "New Customers", "Promising",
        "Need Attention", "About to Sleep", "At Risk", "Cannot Lose Them",
        "Hibernating", "Lost",
    }  # fmt: skip
    assert all(DEFAULT_SEGMENT_MAP.actions[s] for s in DEFAULT_SEGMENT_MAP.segments)
    assert grid.loc[5, 5] == "Champions" and grid.loc[1, 1] == "Lost"


def test_a_user_map_replaces_the_default_and_is_checked(log_csv, tmp_path):
    rows = [
        (r, fm, "Best" if r + fm >= 8 else "Rest")
        for r in range(1, 6)
        for fm in range(1, 6)
    ]
    good = pd.DataFrame(rows, columns=["recency_score", "fm_score", "segment"])
    good["action"] = ["Thank them" if s == "Best" else "" for s in good["segment"]]
    good.to_csv(tmp_path / "map.csv", index=False)
    result = rfm(log_csv, n_clusters=2, segment_map=tmp_path / "map.csv")
    got = result.data.set_index("CustomerID")["rfm_segment"].astype(str)
    # R + FM: 5 + 4, 4 + 2, 2 + 4, 1 + 1, 3 + 5.
    assert got.to_dict() == {1: "Best", 2: "Rest", 3: "Rest", 4: "Rest", 5: "Best"}
    assert load_segment_map(tmp_path / "map.csv").actions["Best"] == "Thank them"
    good.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match=r"short.csv.*missing \[\(5, 5\)\]"):
        load_segment_map(tmp_path / "short.csv")
    pd.concat([good, good.iloc[:1]]).to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(InputError, match="mapped twice"):
        load_segment_map(tmp_path / "twice.csv")


def test_attributes_join_the_features(log_csv, tmp_path):
    attrs = pd.DataFrame({"CustomerID": [1, 2, 3, 5, 99], "Age": [30, 40, 50, 60, 70]})
    attrs.to_csv(tmp_path / "attrs.csv", index=False)
    result = rfm(log_csv, n_clusters=2, attributes=tmp_path / "attrs.csv")
    assert "Age" in result.segmenter.selection_.numeric
    info = result.rfm.attributes
    assert (info["matched_customers"], info["unmatched_customers"]) == (4, 1)
    assert result.data.set_index("CustomerID").loc[3, "Age"] == 50
    attrs.iloc[[0, 0]].to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(
        InputError, match="dup.csv: column 'CustomerID'.*more than once"
    ):
        rfm(log_csv, n_clusters=2, attributes=tmp_path / "dup.csv")


def test_clusters_use_log_scaled_rfm_and_the_model_scores_customers(log_csv, tmp_path):
    result = rfm(log_csv, n_clusters=2, random_state=3, features=["rfm"])
    assert list(result.segmenter.selection_.numeric) == [
        "recency_days",
        "frequency",
        "monetary",
    ]
    # By default the return rate joins: customer 2 returned a third of spend.
    default = rfm(log_csv, n_clusters=2, random_state=3)
    assert default.rfm.features[-1] == "return_rate"
    again = rfm(log_csv, n_clusters=2, random_state=3, features=["rfm"])
    assert (again.labels == result.labels).all()
    paths = write_outputs(result, tmp_path / "out")
    assert set(paths) >= {
        "segments",
        "rfm_segments",
        "profiles",
        "model",
        "report",
        "summary",
    }
    segments = pd.read_csv(paths["segments"])
    # Customer 6 only ever cancelled: listed last, in no segment, with why.
    assert len(segments) == 6
    assert {"r_score", "rfm_segment", "segment", "segment_name"} <= set(
        segments.columns
    )
    last = segments.iloc[-1]
    assert last["CustomerID"] == 6 and pd.isna(last["segment"])
    assert last["segment_name"] == "unassigned"
    assert (
        last["unassigned_reason"] == "no usable purchase: only cancellations or returns"
    )
    assert segments["recency_days"].dropna().map(float.is_integer).all()
    model = load_model(paths["model"])
    assert (model.predict(result.data) == result.labels).all()
    summary = json.loads(paths["summary"].read_text())
    assert summary["rfm"]["cleaning"]["dropped"]["duplicate"] == 1
    assert "5 is always best" in summary["rfm"]["direction"]
    overlap = np.asarray(summary["rfm"]["overlap"]["counts"])
    assert overlap.sum() == 5


def test_cli_rfm_prints_the_reasons_and_writes_outputs(log_csv, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["rfm", str(log_csv), "-o", str(out), "-k", "2", "--no-report"]
    )
    assert res.exit_code == 0, res.output
    assert "18 transaction lines" in res.output
    assert "dropped          1  exact duplicate of another line" in res.output
    assert "Champions" in res.output
    assert (out / "rfm_segments.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customer-column", "Nobody"], "no column named 'Nobody'"),
        (["--as-of", "yesterday"], "as_of must be a date"),
        (["--r-breaks", "1,2"], "breaks must be 4 increasing numbers"),
    ],
)
def test_cli_rfm_user_errors_exit_1_without_traceback(log_csv, tmp_path, args, message):
    res = CliRunner().invoke(cli, ["rfm", str(log_csv), "-o", str(tmp_path), *args])
    assert res.exit_code == 1
    assert message in res.output
    assert "Traceback" not in res.output


def test_a_log_without_customer_columns_names_the_file(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(path, index=False)
    res = CliRunner().invoke(cli, ["rfm", str(path), "-o", str(tmp_path)])
    assert res.exit_code == 1
    assert f"{path}: cannot find the transaction columns" in res.output


@pytest.mark.slow
def test_online_retail_end_to_end(tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["rfm", str(ONLINE_RETAIL), "-o", str(out)])
    assert res.exit_code == 0, res.output
    # The cleaning, recomputed independently with pandas.
    raw = pd.read_csv(ONLINE_RETAIL, dtype={"InvoiceNo": str, "StockCode": str})
    lines = raw[raw["CustomerID"].notna()]
    assert res.output.count("dropped") >= 4
    assert re.search(rf"dropped +{len(raw) - len(lines):,}  no customer id", res.output)
    lines = lines[(lines["Quantity"] != 0) & (lines["UnitPrice"] > 0)].drop_duplicates()
    cancel = lines["InvoiceNo"].str.match(r"^[Cc][0-9]") | (lines["Quantity"] < 0)
    buyers = set(lines.loc[~cancel, "CustomerID"])
    kept = lines[lines["CustomerID"].isin(buyers)]
    revenue = (kept["Quantity"] * kept["UnitPrice"]).sum()
    summary = json.loads((out / "summary.json").read_text())
    cleaning = summary["rfm"]["cleaning"]
    assert cleaning["customers"] == len(buyers) == kept["CustomerID"].nunique()
    assert cleaning["used"] == len(kept)
    assert round(cleaning["net_revenue"], 2) == round(revenue, 2)
    segments = pd.read_csv(out / "segments.csv")
    # Every customer id of the log is in segments.csv: the buyers scored,
    # the ones who only cancelled listed without a segment, with the reason.
    every_id = set(raw["CustomerID"].dropna())
    assert len(segments) == len(every_id) == segments["CustomerID"].nunique()
    scored = segments[segments["segment"].notna()]
    assert set(scored["CustomerID"]) == buyers
    unscored = segments[segments["segment"].isna()]
    assert set(unscored["CustomerID"]) == every_id - buyers
    assert unscored["unassigned_reason"].str.startswith("no usable purchase").all()
    assert cleaning["unscored_customers"] == len(every_id - buyers)
    assert round(segments["monetary"].sum(), 2) == round(revenue, 2)
    assert sum(cleaning["dropped"].values()) + cleaning["used"] == len(raw)
    assert (out / "report.html").stat().st_size > 100_000


def test_bundled_sample_is_every_line_of_its_customers_from_the_uci_file():
    """The bundled sample against the tests' subset of the same UCI file: both
    hold every line of their customers, 40 customers are in both, so those
    customers' lines must be the same, unchanged and in order. (The whole
    sample is checked against the full file by
    ``scripts/make_retail_sample.py FILE --check``.)"""
    from custseg.datasets import DATASETS, online_retail_sample_path

    sample = pd.read_csv(online_retail_sample_path(), dtype=str, keep_default_na=False)
    subset = pd.read_csv(ONLINE_RETAIL, dtype=str, keep_default_na=False)
    source = json.loads((TEST_DATA / "online_retail_subset.json").read_text())
    assert len(sample) == DATASETS["online_retail_sample"].rows
    assert list(sample.columns) == list(subset.columns)
    ids = set(sample["CustomerID"]) - {""}
    assert len(ids) == 500
    both = ids & set(subset["CustomerID"])
    assert len(both) == source["customers_shared_with_bundled_sample"] == 40
    theirs = subset[subset["CustomerID"].isin(both)].reset_index(drop=True)
    ours = sample[sample["CustomerID"].isin(both)].reset_index(drop=True)
    assert len(ours) > 1000
    pd.testing.assert_frame_equal(ours, theirs)  # every line, unchanged, in order
    anonymous = sample[sample["CustomerID"] == ""]
    share = 500 / source["source_customers"] * source["source_anonymous_lines"]
    assert len(anonymous) == round(share)
    # the anonymous lines are real log lines: invoices, codes and dates
    assert anonymous["InvoiceNo"].str.fullmatch(r"C?\d{6}").all()
    assert (
        pd.to_datetime(anonymous["InvoiceDate"])
        .between("2010-12-01", "2011-12-10")
        .all()
    )


def test_cli_rfm_without_a_file_uses_the_bundled_sample(tmp_path):
    from custseg.cli import cli

    result = CliRunner().invoke(cli, ["rfm", "-o", str(tmp_path), "--no-report"])
    assert result.exit_code == 0, result.output
    assert "65,126 transaction lines from" in result.output
    segments = pd.read_csv(tmp_path / "segments.csv")
    # 494 customers bought; 6 more only cancelled and are listed unassigned.
    assert len(segments) == segments["CustomerID"].nunique() == 500
    assert segments["segment"].notna().sum() == 494
    assert {"segment", "segment_name", "rfm_segment"} <= set(segments.columns)
    default = rfm()  # the Python API falls back to the same sample
    assert default.rfm.cleaning.lines == 65_126
    assert len(default.data) == 494


@pytest.mark.parametrize("kind", ["dollars", "euros"])
def test_prices_written_for_people_are_read_as_the_loader_reads_them(
    log_csv, tmp_path, kind
):
    """ "$2,500.00" in a CSV, "2.500,00 €" in a semicolon-delimited one: every
    line is used and every customer kept, with the money of the plain log."""
    from tests.test_spark import written_prices

    plain = aggregate_transactions(log_csv)
    frame = pd.DataFrame(LINES, columns=HEADER)
    written = aggregate_transactions(written_prices(frame, tmp_path / "w.csv", kind))
    assert written.cleaning.to_dict()["dropped"] == plain.cleaning.to_dict()["dropped"]
    assert (
        written.customers["CustomerID"].tolist()
        == plain.customers["CustomerID"].tolist()
    )
    np.testing.assert_allclose(
        written.customers["monetary"], plain.customers["monetary"] * 1000
    )


def test_dates_far_from_the_log_are_said_with_the_remedy(tmp_path):
    """A year 2099 (or 1900) typed by mistake moves the snapshot: said, with
    counts and the --as-of that measures from the end of the log."""
    from custseg.errors import CustsegWarning

    rng = np.random.default_rng(4)
    n = 600
    log = pd.DataFrame(
        {
            "CustomerID": rng.integers(1, 120, n),
            "InvoiceDate": (
                pd.Timestamp("2024-01-01")
                + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
            ).strftime("%Y-%m-%d"),
            "Amount": rng.gamma(2, 20, n).round(2),
        }
    )
    log.loc[3, "InvoiceDate"] = "2099-01-01"
    log.loc[7, "InvoiceDate"] = "1900-03-01"
    path = tmp_path / "dates.csv"
    log.to_csv(path, index=False)
    with pytest.warns(CustsegWarning, match="2 customers have purchases dated far"):
        table = aggregate_transactions(path)
    note = table.cleaning.dates_note
    assert "latest 2099-01-01" in note and "earliest 1900-03-01" in note
    assert "--as-of 2024-12-" in note and table.cleaning.far_dates == 2
    assert note in table.cleaning.messages()
    # Without the stray dates, nothing to say.
    log.loc[[3, 7], "InvoiceDate"] = "2024-06-01"
    log.to_csv(path, index=False)
    import warnings as _warnings

    with _warnings.catch_warnings():
        _warnings.simplefilter("error", CustsegWarning)
        assert aggregate_transactions(path).cleaning.dates_note is None


def test_a_log_split_by_spaces_without_a_header_with_dates_as_numbers(tmp_path):
    """The CDNOW master file as it is: customer, YYYYMMDD date, quantity and
    amount, split by runs of spaces, no header. Named with --names; the dates
    are read as YYYYMMDD; every line is used."""
    rng = np.random.default_rng(5)
    lines = [
        f"{rng.integers(1, 60):05d} {19970101 + int(rng.integers(0, 28)) + 100 * int(rng.integers(0, 12))}"
        f"  {rng.integers(1, 5):2d} {rng.gamma(2, 15):8.2f}"
        for _ in range(800)
    ]
    path = tmp_path / "CDNOW_master.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = aggregate_transactions(
        path, header=False, names=["customer_id", "date", "quantity", "amount"]
    )
    cleaning = table.cleaning.to_dict()
    assert cleaning["used"] == 800 and cleaning["file"]["delimiter"] == "whitespace"
    assert table.cleaning.date_format == "%Y%m%d"
    total = sum(float(line.split()[3]) for line in lines)
    assert table.customers["monetary"].sum() == pytest.approx(total)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "rfm",
            str(path),
            "--no-header",
            "--names",
            "customer_id,date,quantity,amount",
            "-o",
            str(out),
            "-q",
            "--no-report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "segments.csv")) == table.cleaning.customers


def test_placeholders_and_plain_numbers_do_not_change_how_prices_read(tmp_path):
    """A '-' among "$12.50" prices leaves the style alone (the '-' line is
    dropped, the others read); plain numbers in a ';' file keep their point."""
    dollars = tmp_path / "d.csv"
    pd.DataFrame(
        {
            "CustomerID": ["1", "1", "2", "2"],
            "InvoiceDate": ["2024-01-02", "2024-02-02", "2024-01-05", "2024-03-01"],
            "Amount": ["$12.50", "-", "$3.00", "$1,200.00"],
        }
    ).to_csv(dollars, index=False)
    table = aggregate_transactions(dollars)
    assert table.customers["monetary"].tolist() == [12.5, 1203.0]
    assert table.cleaning.dropped["missing_value"] == 1
    plain = tmp_path / "p.csv"
    amounts = [str(10 + i) for i in range(1200)] + ["1.250"]
    pd.DataFrame(
        {
            "CustomerID": [str(i % 7) for i in range(1201)],
            "InvoiceDate": ["2024-01-02"] * 1201,
            "Amount": amounts,
        }
    ).to_csv(plain, index=False, sep=";")
    table = aggregate_transactions(plain)
    total = sum(10 + i for i in range(1200)) + 1.25
    assert table.customers["monetary"].sum() == pytest.approx(total)


# -- logs without money: recency and frequency ----------------------------------


def test_a_log_without_money_gives_recency_and_frequency_and_says_so():
    """A who-bought-when log (invoice, date, customer): the scores and named
    segments come from R and F alone, and nothing pretends to be money."""
    log = pd.DataFrame(LINES, columns=HEADER)[
        ["InvoiceNo", "InvoiceDate", "CustomerID"]
    ]
    with pytest.warns(CustsegWarning, match="no money column"):
        result = rfm(log, n_clusters=2, stability_resamples=0)
    data = result.data.set_index("CustomerID").loc[[1, 2, 3, 4, 5]]
    expected = EXPECTED.set_index("CustomerID")
    assert {"monetary", "m_score", "avg_order_value"}.isdisjoint(data.columns)
    assert data["recency_days"].tolist() == expected["recency_days"].tolist()
    assert data["frequency"].tolist() == expected["frequency"].tolist()
    assert data["r_score"].tolist() == expected["r_score"].tolist()
    assert data["f_score"].tolist() == expected["f_score"].tolist()
    assert data["fm_score"].tolist() == data["f_score"].tolist()
    assert data["rfm_score"].tolist() == ["54", "41", "23", "11", "35"]
    # R x F through the default map: (5, 4) Champions, (4, 1) Promising, ...
    assert data["rfm_segment"].astype(str).tolist() == [
        "Champions",
        "Promising",
        "At Risk",
        "Lost",
        "Loyal",
    ]
    analysis = result.rfm
    assert analysis.cleaning.net_revenue is None
    assert analysis.features[:2] == ("recency_days", "frequency")
    assert "monetary" not in analysis.features
    assert analysis.segments["revenue_share"].isna().all()
    summary = analysis.to_dict()
    assert summary["fm_score"].startswith("F ")
    assert summary["cleaning"]["has_money"] is False
    assert any("no money column" in m for m in analysis.cleaning.messages())
    # customer 6 only cancelled (a C invoice): still listed, without a segment
    assert result.rfm.cleaning.unscored_customers == 1


def test_a_quantity_without_a_price_counts_items_and_returns():
    log = pd.DataFrame(LINES, columns=HEADER).drop(columns="UnitPrice")
    with pytest.warns(CustsegWarning, match="no money column"):
        table = aggregate_transactions(log)
    c = table.customers.set_index("CustomerID")
    assert "monetary" not in c.columns
    # customer 1: 2 + 1 + 4 + 1 items (the repeated line dropped) in 3 orders
    assert c.loc[1, "items_per_order"] == pytest.approx(8 / 3, abs=0.01)
    # customer 2 returned the one item bought: a negative quantity is a return
    assert c.loc[2, "return_rate"] == 1.0
    # the zero-price line is no longer a "bad price": no price is read
    assert "bad_price" not in table.cleaning.dropped


def test_a_price_without_a_quantity_is_refused_with_the_remedy(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame(LINES, columns=HEADER).drop(columns="Quantity").to_csv(
        path, index=False
    )
    res = CliRunner().invoke(cli, ["rfm", str(path), "-o", str(tmp_path / "out")])
    assert res.exit_code == 1
    assert "unit price column 'UnitPrice' but no quantity" in res.output
    assert "--amount-column" in res.output and "Traceback" not in res.output


def test_cli_rfm_on_a_basket_log_reports_recency_and_frequency_only(tmp_path):
    """A grocery basket log as published (member, date, item): every member
    segmented, the report says that M is absent and shows no revenue."""
    rng = np.random.default_rng(3)
    n = 2000
    members = rng.integers(1000, 1150, n)
    days = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D")
    path = tmp_path / "Groceries_dataset.csv"
    pd.DataFrame(
        {
            "Member_number": members,
            "Date": days.strftime("%d-%m-%Y"),
            "itemDescription": rng.choice(["whole milk", "soda", "yogurt"], n),
        }
    ).to_csv(path, index=False)
    out = tmp_path / "out"
    with pytest.warns(CustsegWarning, match="has no money column"):
        res = CliRunner().invoke(cli, ["rfm", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "no money column" in res.output
    assert "revenue" not in res.output.split("RFM segments")[1].split("Behavioural")[0]
    segments = pd.read_csv(out / "segments.csv")
    assert sorted(segments["Member_number"]) == sorted(set(members))
    assert segments["segment"].notna().all()
    # orders are purchase days: the hand count per member
    per_day = pd.DataFrame({"m": members, "d": days}).drop_duplicates()
    frequency = per_day.groupby("m").size()
    assert (
        segments.set_index("Member_number")["frequency"].sort_index().tolist()
        == frequency.sort_index().tolist()
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rfm"]["cleaning"]["net_revenue"] is None
    assert summary["rfm"]["features"] == ["recency_days", "frequency"]
    html = (out / "report.html").read_text()
    assert "No monetary value." in html and "Net revenue" not in html
    assert "Mean monetary" not in html
