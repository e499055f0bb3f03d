"""Exports that are safe to open in a spreadsheet."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner
from tests.conftest import INCOME, SPENDING

from custseg.cli import cli

HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]


def hostile_table(mall_df: pd.DataFrame) -> pd.DataFrame:
    df = mall_df.copy()
    df["Note"] = [HOSTILE[i % 4] if i < 8 else "ok" for i in range(len(df))]
    return df


def test_formulas_are_neutralised_in_segments_and_predictions(tmp_path, mall_df):
    data = tmp_path / "customers.csv"
    hostile_table(mall_df).to_csv(data, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(data),
            "-f",
            INCOME,
            "-f",
            SPENDING,
            "-o",
            str(out),
            "-q",
            "--no-report",
            "--stability-resamples",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    segments = pd.read_csv(out / "segments.csv", keep_default_na=False)
    assert segments["Note"].head(8).tolist() == ["'" + v for v in HOSTILE * 2]
    assert (segments["Note"].iloc[8:] == "ok").all()
    # numbers that happen to be negative are numbers, not text: untouched
    assert pd.api.types.is_numeric_dtype(segments[INCOME])
    scored = tmp_path / "scored.csv"
    result = CliRunner().invoke(
        cli, ["predict", str(out / "model.skops"), str(data), "-o", str(scored), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(scored)["Note"].iloc[0] == "'" + HOSTILE[0]


def test_allow_formulas_keeps_cells_as_they_are(tmp_path, mall_df):
    data = tmp_path / "customers.csv"
    hostile_table(mall_df).to_csv(data, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(data),
            "-f",
            INCOME,
            "-f",
            SPENDING,
            "-o",
            str(out),
            "-q",
            "--no-report",
            "--stability-resamples",
            "0",
            "--allow-formulas",
        ],
    )
    assert result.exit_code == 0, result.output
    segments = pd.read_csv(out / "segments.csv", keep_default_na=False)
    assert segments["Note"].head(4).tolist() == HOSTILE
