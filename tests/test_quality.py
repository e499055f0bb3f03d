from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg import MissingColumnError, check_table
from custseg.quality import FINDING_GROUPS, FINDING_LEVELS, Finding


def test_mall_roles(mall_df):
    report = check_table(mall_df)
    kinds = {c.name: c.kind for c in report.columns}
    assert kinds == {
        "CustomerID": "id",
        "Gender": "categorical",
        "Age": "numeric",
        "Annual Income (k$)": "numeric",
        "Spending Score (1-100)": "numeric",
    }
    assert report.duplicate_rows == 0


def test_findings_on_a_messy_table():
    ids = list(range(1, 21))
    ids[2] = 2  # one duplicated customer id
    spend = [2.0] * 20
    spend[1] = spend[2] = 2.0
    spend[5], spend[6], spend[7] = np.nan, 1.0, 3.0
    spend[19] = 100.0
    df = pd.DataFrame(
        {
            "cust_id": ids,
            "plan": ["a"] * 20,
            "spend": spend,
            "name": [f"n{i}" for i in ids],
        }
    )
    report = check_table(df)
    assert report.column("cust_id").kind == "id"
    assert report.duplicate_ids == {"cust_id": 1}
    # rows 2 and 3 (1-based) are identical: row 3 duplicates row 2
    assert report.duplicate_rows == 1 and report.duplicate_row_numbers == (3,)
    assert report.constant_columns == ("plan",)
    col = report.column("spend")
    assert col.missing == 1
    # Q1 = Q3 = 2 -> IQR 0: 1.0, 3.0 and 100.0 all lie outside the fences
    assert col.outliers == 3
    text = " ".join(report.findings)
    assert "'spend' has 1 missing value (5.0%)" in text and "single value" in text


def test_explicit_id_column_unknown(mall_df):
    with pytest.raises(
        MissingColumnError, match="Did you mean .CustomerID. for .CustomerId."
    ):
        check_table(mall_df, id_columns=["CustomerId"])


def test_unique_floats_are_not_ids():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"income": rng.normal(50, 10, 500), "row": np.arange(500)})
    report = check_table(df)
    assert report.column("income").kind == "numeric"
    assert report.column("row").kind == "id"  # a 0..n-1 counter


# -- findings ranked by what matters ---------------------------------------------


def marketing_like(n: int = 2240, seed: int = 0) -> pd.DataFrame:
    """A table shaped like a marketing-campaign export, with planted problems:
    years of birth 1893 and 1899 (rows 10 and 20) among 1940-1996, an income of
    666666 (row 30) among lognormal incomes, 24 incomes missing, 0/1 flags, a
    0-1 visit frequency, two constant columns and a heavy-tailed spend."""
    rng = np.random.default_rng(seed)
    year = rng.integers(1940, 1997, n)
    year[[9, 19]] = [1893, 1899]
    income = np.round(rng.lognormal(np.log(51_000), 0.4, n))
    income[29] = 666_666
    missing = rng.choice(np.arange(100, n), 24, replace=False)
    income[missing] = np.nan
    spend = np.round(rng.lognormal(5, 1.3, n))
    spend[5] = np.nan  # one missing value
    return pd.DataFrame(
        {
            "ID": rng.permutation(20_000)[:n],
            "Year_Birth": year,
            "Education": rng.choice(["Graduation", "PhD", "Master", "Basic"], n),
            "Income": income,
            "Kidhome": rng.integers(0, 3, n),
            "Recency": rng.integers(0, 100, n),
            "MntWines": spend,
            "MntGoldProds": np.round(rng.pareto(1.5, n) * 20),
            "NumWebPurchases": rng.poisson(4, n),
            "WebVisitFreq": np.round(rng.beta(2, 5, n), 3),
            **{f"AcceptedCmp{i}": (rng.random(n) < 0.07).astype(int) for i in (1, 2)},
            "Complain": (rng.random(n) < 0.01).astype(int),
            "Z_CostContact": 3,
            "Response": (rng.random(n) < 0.15).astype(int),
        }
    )


def _groups(report):
    return [f.group for f in report.findings]


def test_findings_come_ranked_by_what_matters():
    report = check_table(marketing_like())
    findings = report.findings
    assert all(isinstance(f, Finding) for f in findings)
    # implausible values, missing values, duplicates, the rest, outliers last
    order = [FINDING_GROUPS.index(g) for g in _groups(report)]
    assert order == sorted(order)
    assert findings[0].group == findings[1].group == "values"
    assert [f.column for f in findings[:2]] == ["Year_Birth", "Income"]
    assert findings[2].startswith("Column 'Income' has 24 missing values (1.1%).")
    # within a group, the larger problem first
    outliers = [f for f in findings if f.group == "outliers"]
    assert [f.size for f in outliers] == sorted(
        (f.size for f in outliers), reverse=True
    )
    assert report.finding_levels == tuple(f.level for f in findings)
    assert set(report.finding_levels) <= set(FINDING_LEVELS)
    assert {f.level for f in findings if f.group == "values"} == {"problem"}
    assert {f.level for f in outliers} == {"note"}


def test_implausible_values_name_the_values_rows_and_fix():
    report = check_table(marketing_like())
    year, income = report.findings[:2]
    assert year == (
        "Column 'Year_Birth' has 2 years of birth before 1900 (1893, 1899) in rows "
        "10, 20; they are used as they are. Correct them in the source, or empty "
        "those cells to treat them as missing."
    )
    assert (year.size, income.size) == (2, 1)
    assert income.startswith(
        "Column 'Income' has 1 value that looks like a placeholder code, not data "
        "(666666) in row 30, where every other value is at most "
    )
    assert income.endswith(
        "; it is used as it is. Correct it in the source, or empty that cell to "
        "treat it as missing."
    )
    # the value is reported, not changed
    assert report.column("Income").max == 666_666
    # the two birth years are Year_Birth's only outliers: no second finding
    assert report.column("Year_Birth").outliers == 2
    assert "Year_Birth" not in {f.column for f in report.findings[2:]}


def test_flags_and_bounded_shares_get_no_outlier_finding():
    report = check_table(marketing_like())
    flagged = {f.column for f in report.findings if f.group == "outliers"}
    for name in ("AcceptedCmp1", "AcceptedCmp2", "Complain", "Response"):
        # the IQR rule still counts the rare 1s; they are just not findings
        assert report.column(name).outliers > 0
        assert name not in flagged
    assert "WebVisitFreq" not in flagged
    assert {"MntWines", "NumWebPurchases"} <= flagged  # ordinary columns keep theirs


def test_shares_are_recognised_by_name_or_bounds():
    rng = np.random.default_rng(1)
    inner = 0.4 + 0.02 * rng.standard_normal(500)
    inner[:5] = [0.1, 0.12, 0.85, 0.9, 0.95]  # IQR outliers inside (0, 1)
    df = pd.DataFrame(
        {
            "PRC_FULL_PAYMENT": inner,  # a share by its name
            "touches_bounds": np.r_[inner[:-2], 0.0, 1.0],  # by reaching 0 and 1
            "discount": inner,  # inside (0, 1), named like neither
            "coded": np.where(rng.random(500) < 0.05, 2, 1),  # a 1/2 code
        }
    )
    report = check_table(df)
    flagged = {f.column for f in report.findings if f.group == "outliers"}
    assert flagged == {"discount"}


def test_heavy_tailed_amounts_are_not_implausible():
    rng = np.random.default_rng(2)
    n = 8950
    df = pd.DataFrame(
        {
            # credit-card-like amounts: lognormal and Pareto tails, many zeros
            "BALANCE": rng.lognormal(6.5, 1.6, n),
            "PURCHASES": np.where(rng.random(n) < 0.25, 0, rng.lognormal(6, 1.5, n)),
            "CASH_ADVANCE": np.where(rng.random(n) < 0.5, 0, rng.pareto(1.2, n) * 500),
            "ONEOFF_PURCHASES": np.round(rng.pareto(1.0, n) * 100, 2),
            "CASH_ADVANCE_TRX": rng.negative_binomial(1, 0.2, n),
            "BALANCE_FREQUENCY": np.clip(rng.beta(5, 1, n), 0, 1),
            "TENURE": rng.choice([6, 7, 8, 9, 10, 11, 12], n),
        }
    )
    report = check_table(df)
    assert not [f for f in report.findings if f.group == "values"]
    # the money columns do have long tails, reported as (last-place) outliers
    assert report.findings[0].group == "outliers"


@pytest.mark.parametrize("seed", range(5))
def test_lognormal_money_with_no_planted_value_is_quiet(seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {f"spend_{s}": rng.lognormal(4, s, 3000) for s in (0.5, 1.0, 1.5, 2.0, 2.5)}
    )
    assert not [f for f in check_table(df).findings if f.group == "values"]


def test_wholesale_spend_is_not_implausible():
    from pathlib import Path

    path = Path(__file__).parent / "data" / "Wholesale customers data.csv"
    report = check_table(pd.read_csv(path))
    assert not [f for f in report.findings if f.group == "values"]


def test_a_value_orders_of_magnitude_above_the_rest():
    rng = np.random.default_rng(3)
    spend = rng.lognormal(3, 1, 2000)
    spend[41] = 1e6  # a typing slip: far above a column that ends near 500
    df = pd.DataFrame({"spend": spend})
    (finding,) = [f for f in check_table(df).findings if f.group == "values"]
    assert finding.startswith(
        "Column 'spend' has 1 value far above all the others (1000000) in row 42, "
        "more than 5 times the 99th percentile ("
    )
    assert finding.endswith(
        "; it is used as it is. Correct it in the source, or "
        "empty that cell to treat it as missing."
    )


def test_negative_codes_in_a_column_otherwise_never_negative():
    rng = np.random.default_rng(4)
    days = rng.integers(0, 400, 500).astype(float)
    days[[3, 7]] = -1
    report = check_table(pd.DataFrame({"days_since_visit": days}))
    assert report.findings[0] == (
        "Column 'days_since_visit' has 2 values that look like a placeholder code, "
        "not data (-1) in rows 4, 8, where the column is otherwise never negative; "
        "they are used as they are. Correct them in the source, or empty those "
        "cells to treat them as missing."
    )
    # a signed column with ordinary negative values is left alone
    signed = pd.DataFrame({"balance_change": rng.normal(0, 50, 500)})
    assert not [f for f in check_table(signed).findings if f.group == "values"]


def test_ages_below_0_and_above_110():
    ages = [34, -1, 45, 150, 29, 61, 38, 50, 27, 44, 33, 58]
    report = check_table(pd.DataFrame({"Age": ages}))
    assert report.findings[0] == (
        "Column 'Age' has 1 negative value in row 2, which an age cannot be, and 1 "
        "value above 110 (150) in row 4, which is not a plausible age; they are "
        "used as they are. Correct them in the source, or empty those cells to "
        "treat them as missing."
    )
    # -1 and 150 are the column's only IQR outliers: no second finding for them
    assert report.column("Age").outliers == 2 and len(report.findings) == 1
    # 67 is an outlier here and no impossible age: its outlier finding stays
    ages = [-1, 21, 20, 23, 31, 22, 35, 23, -30, 30, 67, 35]
    groups = [f.group for f in check_table(pd.DataFrame({"Age": ages})).findings]
    assert groups[0] == "values" and groups[-1] == "outliers"
    # "usage", "page" and "percentage" are not ages; an age in days may pass 110
    other = pd.DataFrame(
        {
            "Usage": [200] * 11 + [5],
            "page": [150] * 12,
            "account_age_days": [30, 400, 200, 900, 120, 50, 60, 70, 80, 90, 5, 7],
        }
    )
    assert not [f for f in check_table(other).findings if f.group == "values"]


def test_birth_years_after_this_year_and_names_that_are_not_years_of_birth():
    import datetime

    next_year = datetime.date.today().year + 1
    years = [1950 + i % 50 for i in range(100)]
    years[7] = next_year
    report = check_table(pd.DataFrame({"yob": years, "YearJoined": years}))
    values = [f for f in report.findings if f.group == "values"]
    assert [f.column for f in values] == ["yob"]
    assert f"after {next_year - 1} ({next_year}) in row 8;" in values[0]


def test_count_phrases_are_singular_for_one():
    ids = list(range(1, 21))
    ids[2] = 2  # one repeated id, in rows 2 and 3, which are the same row
    spend = [2.0] * 20
    spend[5], spend[6], spend[7] = np.nan, np.inf, 9.0
    df = pd.DataFrame(
        {"cust_id": ids, "spend": spend, "visits": [3] * 10 + [4] * 9 + [20]}
    )
    findings = check_table(df).findings
    assert list(findings) == [
        "Column 'spend' has 1 missing value (5.0%).",
        "Column 'spend' has 1 infinite value; it is treated as missing.",
        "ID column 'cust_id' has 1 duplicate value.",
        "1 row duplicates an earlier row exactly (row 3); it is kept and segmented "
        "like any other row.",
        "Column 'spend' has 1 outlier by the IQR rule (range 2 to 9).",
        "Column 'visits' has 1 outlier by the IQR rule (range 3 to 20).",
    ]
    assert [f.level for f in findings] == [
        "warning",
        "warning",
        "problem",
        "warning",
        "note",
        "note",
    ]


def test_tiny_missing_shares_do_not_read_zero():
    values = np.arange(30_000, dtype=float)
    values[5] = np.nan
    (finding,) = check_table(pd.DataFrame({"x": values})).findings
    assert finding == "Column 'x' has 1 missing value (<0.01%)."
    assert finding.level == "note"  # under 1% of the rows


def test_findings_stay_strings_in_json_and_copies():
    import copy
    import json

    report = check_table(marketing_like(n=400))
    data = report.to_dict()
    assert json.loads(json.dumps(data["findings"])) == list(report.findings)
    assert data["finding_levels"] == report.finding_levels
    f = report.findings[0]
    for other in (copy.deepcopy(f), f.replace("Column", "The column")):
        assert other.attributes() == f.attributes()
    with pytest.raises(ValueError, match="level='bad' is not one of"):
        Finding("x", level="bad")
