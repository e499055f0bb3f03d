"""Exports that are safe to open in a spreadsheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from tests.conftest import INCOME, SPENDING

from custseg.cli import cli

HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]


def run_on_hostile(
    tmp_path: Path, mall_df: pd.DataFrame, *extra: str
) -> tuple[Path, pd.DataFrame]:
    """custseg run on the mall table plus a text column of would-be formulas;
    returns the data file and segments.csv read back as text."""
    df = mall_df.copy()
    df["Note"] = [HOSTILE[i % 4] if i < 8 else "ok" for i in range(len(df))]
    data = tmp_path / "customers.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "out"
    args = ["run", str(data), "-f", INCOME, "-f", SPENDING, "-o", str(out), "-q"]
    args += ["--no-report", "--stability-resamples", "0", *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return data, pd.read_csv(out / "segments.csv", keep_default_na=False)


def test_formulas_are_neutralised_in_segments_and_predictions(tmp_path, mall_df):
    data, segments = run_on_hostile(tmp_path, mall_df)
    assert segments["Note"].head(8).tolist() == ["'" + v for v in HOSTILE * 2]
    assert (segments["Note"].iloc[8:] == "ok").all()
    # numbers that happen to be negative are numbers, not text: untouched
    assert pd.api.types.is_numeric_dtype(segments[INCOME])
    scored = tmp_path / "scored.csv"
    model = tmp_path / "out" / "model.skops"
    result = CliRunner().invoke(
        cli, ["predict", str(model), str(data), "-o", str(scored), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(scored)["Note"].iloc[0] == "'" + HOSTILE[0]


def test_allow_formulas_keeps_cells_as_they_are(tmp_path, mall_df):
    _, segments = run_on_hostile(tmp_path, mall_df, "--allow-formulas")
    assert segments["Note"].head(4).tolist() == HOSTILE


def test_excel_predictions_hold_text_not_formulas(tmp_path, mall_df):
    import openpyxl

    data, _ = run_on_hostile(tmp_path, mall_df)
    model = tmp_path / "out" / "model.skops"
    for flag, formulas in (([], 0), (["--allow-formulas"], 1)):
        scored = tmp_path / f"scored{len(flag)}.xlsx"
        result = CliRunner().invoke(
            cli, ["predict", str(model), str(data), "-o", str(scored), "-q", *flag]
        )
        assert result.exit_code == 0, result.output
        sheet = openpyxl.load_workbook(scored)["segments"]
        header = [c.value for c in sheet[1]]
        notes = [
            sheet.cell(row=r, column=header.index("Note") + 1) for r in range(2, 6)
        ]
        # openpyxl marks a cell starting with '=' as a formula ('f'); text is 's'.
        assert sum(c.data_type == "f" for c in notes) == formulas
        assert sheet.max_row == len(mall_df) + 1
    assert pd.read_excel(tmp_path / "scored0.xlsx")["Note"].iloc[0] == "'" + HOSTILE[0]
