"""Every file of the hostile-input corpus through ``custseg run``.

The corpus is in ``tests/hostile/`` (``make_corpus.py`` writes the files,
``cases.toml`` says what must happen to each). A case either succeeds, with
each change custseg made listed in the quality report and every input row
accounted for, or fails with exit status 1 and one line naming the file. No
case may end in a traceback or an "internal error".
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from tests.hostile import make_corpus

from custseg.cli import cli
from custseg.errors import DataRepairWarning
from custseg.io import load_table, table_meta

CASES: list[dict[str, Any]] = tomllib.loads(
    (make_corpus.HERE / "cases.toml").read_text(encoding="utf-8")
)["case"]
# Small runs: the corpus is about reading files, not about choosing k.
FAST = ["--no-report", "-q", "--k-max", "4", "--stability-resamples", "0"]


def case_id(case: dict[str, Any]) -> str:
    return str(case.get("id", case["file"]))


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The binary and large files, written once per test session."""
    folder = tmp_path_factory.mktemp("hostile")
    make_corpus.write_generated(folder)
    return folder


def corpus_path(case: dict[str, Any], generated: Path) -> Path:
    name = case["file"]
    if name in make_corpus.TEXT:
        return make_corpus.FILES / name
    assert name in make_corpus.GENERATED, f"{name} is made by neither list"
    return generated / name


def run_case(
    path: Path, out: Path, args: list[str]
) -> tuple[Any, list[warnings.WarningMessage]]:
    """``custseg run`` in process; the warnings it raised are returned, not
    turned into errors, so that the repairs they announce can be checked."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(
            cli, ["run", str(path), "--out", str(out), *FAST, *args]
        )
    return result, caught


def test_the_corpus_is_big_enough_and_complete() -> None:
    ids = [case_id(c) for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 45
    described = {c["file"] for c in CASES}
    made = set(make_corpus.TEXT) | set(make_corpus.GENERATED)
    assert described == made, "every file needs a case, and every case a file"
    for case in CASES:
        assert case["outcome"] in {"ok", "error"}, case_id(case)
        assert case.get("why"), case_id(case)
        required = {"rows", "repairs"} if case["outcome"] == "ok" else {"message"}
        assert required <= case.keys(), case_id(case)


def test_checked_in_files_are_what_the_script_writes() -> None:
    assert make_corpus.stale() == [], "run python tests/hostile/make_corpus.py"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_case(case: dict[str, Any], generated: Path, tmp_path: Path) -> None:
    path = corpus_path(case, generated)
    result, caught = run_case(path, tmp_path / "out", case.get("args", []))
    output = result.output
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not a clean error
    if case["outcome"] == "error":
        check_error(case, path, result)
    else:
        assert result.exit_code == 0, output
        check_success(case, tmp_path / "out", caught)


def check_error(case: dict[str, Any], path: Path, result: Any) -> None:
    assert result.exit_code == case["exit_code"], result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "an error must say what went wrong"
    message = lines[-1]
    assert message.startswith("Error: "), message
    assert path.name in message, f"the message must name the file: {message}"
    assert re.search(case["message"], message), message
    assert result.stdout == "", "-q: nothing but the error"


def check_success(
    case: dict[str, Any], out: Path, caught: list[warnings.WarningMessage]
) -> None:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    quality = summary["quality"]
    if (out / "segments.parquet").exists():  # Parquet in, Parquet out
        frame = pd.read_parquet(out / "segments.parquet")
        segments = frame.astype(object).where(frame.notna(), "").astype(str)
    else:
        segments = pd.read_csv(
            out / "segments.csv", dtype=str, keep_default_na=False, na_values=[]
        )

    # Every input row: one output row, with a segment or the reason it has none.
    rows = case["rows"]
    assert len(segments) == rows
    assert summary["n_rows"] == rows == quality["n_rows"]
    assert summary["n_segmented"] + summary["n_unassigned"] == rows
    unassigned = segments["segment"] == ""
    assert (segments.loc[unassigned, "segment_name"] == "unassigned").all()
    if unassigned.any():
        assert (segments.loc[unassigned, "unassigned_reason"] != "").all()
    dropped = quality["file"].get("dropped_rows", [])
    assert sum(d["count"] for d in dropped) == case.get("dropped", 0)
    assert all(d["reason"] for d in dropped)

    # Each repair expected, and no other.
    repairs = list(quality["repairs"])
    unmatched = list(repairs)
    for pattern in case["repairs"]:
        hit = next((r for r in unmatched if re.search(pattern, r)), None)
        assert hit is not None, f"no repair matches {pattern!r}: {repairs}"
        unmatched.remove(hit)
    assert unmatched == [], f"unexpected repairs: {unmatched}"
    # Repairs made while preparing the features are also announced as warnings.
    for warning in caught:
        assert issubclass(warning.category, DataRepairWarning), warning
        assert str(warning.message) in repairs

    for pattern in case.get("findings", []):
        assert any(re.search(pattern, f) for f in quality["findings"]), (
            f"no finding matches {pattern!r}: {quality['findings']}"
        )
    for key, expected in case.get("file_info", {}).items():
        assert quality["file"].get(key) == expected, quality["file"]
    dtypes = {c["name"]: c["dtype"] for c in quality["columns"]}
    for name in case.get("numeric", []):
        assert dtypes[name].startswith(("int", "float")), (name, dtypes[name])
    for name, reason in case.get("excluded", {}).items():
        assert summary["features"]["excluded"].get(name) == reason, summary["features"][
            "excluded"
        ]
    for name, expected in case.get("values", {}).items():
        assert_column(segments[name].tolist(), expected, name)


def assert_column(actual: list[str], expected: list[Any], name: str) -> None:
    """Cells of segments.csv (text) against the expected values: numbers as
    numbers (nan for an empty cell), text exactly."""
    assert len(actual) == len(expected), name
    for row, (cell, want) in enumerate(zip(actual, expected, strict=True), start=1):
        where = f"column {name!r}, row {row}"
        if isinstance(want, str):
            assert cell == want, f"{where}: {cell!r} != {want!r}"
        elif isinstance(want, float) and math.isnan(want):
            assert cell == "", f"{where}: {cell!r} is not empty"
        else:
            assert cell != "", f"{where}: empty, expected {want!r}"
            assert float(cell) == pytest.approx(want, rel=1e-12), where


def test_the_report_draws_infinite_and_huge_values(tmp_path: Path) -> None:
    """The HTML report too: its histograms and pair plot once overflowed
    matplotlib's axes on inf and 1e308 (the cases above skip the report)."""
    path = make_corpus.FILES / "inf_and_huge.csv"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(
            cli, ["run", str(path), "--out", str(tmp_path), "-q", *FAST[2:]]
        )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.html").stat().st_size > 0
    assert [w.category for w in caught] == [DataRepairWarning]


@pytest.mark.integration
def test_console_script_prints_no_traceback(generated: Path, tmp_path: Path) -> None:
    """The real entry point, in a subprocess: one clean error, no traceback."""
    case = next(c for c in CASES if c["file"] == "random_bytes.csv")
    path = corpus_path(case, generated)
    proc = subprocess.run(
        [sys.executable, "-m", "custseg", "run", str(path), "--out", "out", *FAST],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert re.search(case["message"], proc.stderr.strip().splitlines()[-1])


# -- the same rules on columns longer than the sample the loader looks at first


def _long_csv(tmp_path: Path, values: list[str], sep: str = ",") -> Path:
    """A CSV of ``id`` and ``value`` (quoted), one row per value."""
    path = tmp_path / "long.csv"
    lines = [f"id{sep}value"]
    lines += [f'{i}{sep}"{v}"' for i, v in enumerate(values, start=1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_symbol_first_seen_after_the_sample_is_read(tmp_path: Path) -> None:
    df = load_table(_long_csv(tmp_path, ["1200"] * 1500 + ["$1,300", "-", "$5"]))
    assert df["value"].tolist()[-3:][::2] == [1300, 5]
    assert math.isnan(df["value"].iloc[-2])
    assert len(table_meta(df)["repairs"]) == 2


@pytest.mark.parametrize(
    "values,reason",
    [
        (["12%"] * 1500 + ["13"], "some values have a percent sign and some do not"),
        (["$12"] * 1500 + ["€1"], "amounts in different currencies ($, €)"),
        (["12,5"] * 1500 + ["1.5"], "numbers written in two formats"),
    ],
    ids=["percent", "currencies", "decimal marks"],
)
def test_a_late_odd_value_keeps_the_column_as_text(
    tmp_path: Path, values: list[str], reason: str
) -> None:
    df = load_table(_long_csv(tmp_path, values, sep=";"))
    info = table_meta(df)["mistyped"]["value"]
    assert info["reason"].startswith(reason)
    assert info["rows"] == [1501] and info["count"] == 1
    assert df["value"].iloc[0] == values[0]  # the text, unchanged
    assert table_meta(df)["repairs"] == []


@pytest.mark.parametrize("distinct", [3, 300_000], ids=["few values", "many values"])
def test_stray_text_in_a_long_numeric_column(tmp_path: Path, distinct: int) -> None:
    """Both ways of counting non-numbers (by distinct value, by slices) agree."""
    values = [str(i % distinct) for i in range(300_000)]
    values[7], values[299_990] = "unknown", "n/a?"
    df = load_table(_long_csv(tmp_path, values))
    info = table_meta(df)["mistyped"]["value"]
    assert info["rows"] == [8, 299_991]
    assert info["values"] == ["unknown", "n/a?"]
