from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg import MissingColumnError, check_table


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
    assert "'spend' has 1 missing values" in text and "single value" in text


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
