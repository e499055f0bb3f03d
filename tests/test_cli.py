from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner
from tests.conftest import INCOME, SPENDING

from custseg.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, args, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, args, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_run_without_arguments_uses_the_demo(runner, tmp_path):
    result = invoke(runner, ["run", "-q"], tmp_path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "custseg-output"
    assert sorted(p.name for p in out.iterdir()) == [
        "model.skops",
        "profiles.csv",
        "report.html",
        "segments.csv",
        "summary.json",
    ]


def test_run_prints_segments(runner, tmp_path):
    result = invoke(
        runner, ["run", "-f", INCOME, "-f", SPENDING, "--no-report"], tmp_path
    )
    assert result.exit_code == 0
    assert "k = 5 (silhouette 0.55)" in result.stdout
    assert "High income, low spending" in result.stdout
    assert "Win share of wallet" in result.stdout


def test_datasets(runner, tmp_path):
    result = invoke(runner, ["datasets"], tmp_path)
    assert result.exit_code == 0
    assert result.stdout.startswith("mall_customers  (customers: 200 rows x 5 columns)")
    assert "online_retail_sample  (transactions: 65,126 rows x 8 columns)" in (
        result.stdout
    )


def _error(runner, args, cwd):
    """Exit code and the last stderr line (progress lines may precede it)."""
    result = invoke(runner, args, cwd)
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr.splitlines(keepends=True)[-1]


def test_empty_file(runner, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    assert _error(runner, ["run", "empty.csv"], tmp_path) == (
        1,
        "Error: empty.csv: the file is empty.\n",
    )


def test_header_only(runner, tmp_path):
    (tmp_path / "head.csv").write_text("CustomerID,Age,Income\n")
    assert _error(runner, ["run", "head.csv"], tmp_path) == (
        1,
        "Error: head.csv: has a header but no data rows. Add customer rows below the header.\n",
    )


def test_unknown_feature(runner, tmp_path, mall_df):
    mall_df.to_csv(tmp_path / "mall.csv", index=False)
    code, err = _error(runner, ["run", "mall.csv", "-f", "Income"], tmp_path)
    assert code == 1
    assert err == (
        "Error: mall.csv: no feature named 'Income'; the columns are 'CustomerID', "
        "'Gender', 'Age', 'Annual Income (k$)', 'Spending Score (1-100)'. "
        "Did you mean 'Annual Income (k$)' for 'Income'?\n"
    )


def test_text_in_a_named_numeric_feature(runner, tmp_path, mall_df):
    df = mall_df.astype({"Age": str})
    df.loc[[3, 16], "Age"] = ["n/a?", "twenty"]
    df.to_csv(tmp_path / "mall.csv", index=False)
    code, err = _error(runner, ["run", "mall.csv", "-f", "Age", "-f", INCOME], tmp_path)
    assert (code, err) == (
        1,
        (
            "Error: mall.csv: column 'Age': 2 values are not numbers ('n/a?', 'twenty') "
            "in rows 4, 17. Fix those cells, or pass --na-values to read them as missing.\n"
        ),
    )
    # the suggested fix works
    ok = invoke(
        runner,
        [
            "run",
            "mall.csv",
            "-f",
            "Age",
            "-f",
            INCOME,
            "--na-values",
            "n/a?",
            "--na-values",
            "twenty",
            "-q",
            "--no-report",
        ],
        tmp_path,
    )
    assert ok.exit_code == 0


def test_more_segments_than_rows(runner, tmp_path):
    (tmp_path / "tiny.csv").write_text("id,spend\n1,10\n2,20\n3,30\n")
    assert _error(runner, ["run", "tiny.csv", "--k", "5"], tmp_path) == (
        1,
        "Error: tiny.csv: cannot make 5 segments from 3 rows; ask for at most 3\n",
    )


def test_usage_error_exits_2(runner, tmp_path):
    result = invoke(runner, ["run", "--k", "zero"], tmp_path)
    assert result.exit_code == 2
    assert "Invalid value for '-k' / '--k'" in result.stderr


def test_missing_file(runner, tmp_path):
    assert _error(runner, ["run", "nope.csv"], tmp_path) == (
        1,
        "Error: nope.csv: no such file.\n",
    )


def test_predict_round_trip(runner, tmp_path, mall_df):
    mall_df.to_csv(tmp_path / "mall.csv", index=False)
    assert (
        invoke(runner, ["run", "mall.csv", "-q", "--no-report"], tmp_path).exit_code
        == 0
    )
    result = invoke(
        runner,
        ["predict", "custseg-output/model.skops", "mall.csv", "-o", "scored.csv"],
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    trained = pd.read_csv(tmp_path / "custseg-output" / "segments.csv")
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["segment"].tolist() == trained["segment"].tolist()
    assert scored["segment_name"].tolist() == trained["segment_name"].tolist()


def test_predict_missing_column(runner, tmp_path, mall_df):
    mall_df.to_csv(tmp_path / "mall.csv", index=False)
    invoke(runner, ["run", "mall.csv", "-q", "--no-report"], tmp_path)
    mall_df.drop(columns=["Age"]).to_csv(tmp_path / "new.csv", index=False)
    code, err = _error(
        runner, ["predict", "custseg-output/model.skops", "new.csv"], tmp_path
    )
    assert code == 1
    assert err.startswith(
        "Error: new.csv: no column named 'Age'; the columns are 'CustomerID'"
    )


def test_predict_bad_model(runner, tmp_path, mall_df):
    mall_df.to_csv(tmp_path / "mall.csv", index=False)
    (tmp_path / "m.skops").write_bytes(b"garbage")
    code, err = _error(runner, ["predict", "m.skops", "mall.csv"], tmp_path)
    assert code == 1 and err.startswith("Error: m.skops: not a readable custseg model")


@pytest.mark.integration
def test_console_script_in_a_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "custseg", "run", "--no-report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "loading the bundled mall customers demo" in proc.stderr
    assert (tmp_path / "custseg-output" / "segments.csv").exists()
