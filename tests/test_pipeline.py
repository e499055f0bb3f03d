from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import INCOME, SPENDING, WHOLESALE_CSV

from custseg.pipeline import run, write_outputs


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = run()
    return result, write_outputs(result, out)


def test_all_outputs_exist(demo_outputs):
    _, paths = demo_outputs
    assert set(paths) == {"segments", "profiles", "model", "report", "summary"}
    for path in paths.values():
        assert path.stat().st_size > 0


def test_segments_keep_every_row_in_order(demo_outputs, mall_df):
    _, paths = demo_outputs
    seg = pd.read_csv(paths["segments"])
    assert len(seg) == len(mall_df)
    assert list(seg.columns) == list(mall_df.columns) + ["segment", "segment_name"]
    assert seg["CustomerID"].tolist() == mall_df["CustomerID"].tolist()
    assert seg["segment_name"].notna().all()


def test_summary_json(demo_outputs):
    result, paths = demo_outputs
    summary = json.loads(paths["summary"].read_text())
    assert summary["k"] == result.k_selection.k
    assert summary["k_reason"] == result.k_selection.reason
    assert summary["random_state"] == 0
    assert [s["size"] for s in summary["segments"]] == [p.size for p in result.profiles]
    assert {"scikit-learn", "pandas", "numpy", "python"} <= set(summary["versions"])
    assert summary["quality"]["id_columns"] == ["CustomerID"]
    assert summary["n_rows"] == summary["n_segmented"] == 200
    assert len(summary["k_scores"]) == 9


def test_report_is_self_contained(demo_outputs):
    _, paths = demo_outputs
    html = paths["report"].read_text()
    assert "<script" not in html.lower()
    assert "http://" not in html and "https://" not in html
    assert html.count('src="data:image/png;base64,') >= 10
    for section in (
        "Data quality",
        "Exploration",
        "Choosing the number of segments",
        "Segments",
    ):
        assert section in html


def test_same_seed_same_files(tmp_path):
    files = []
    for name in ("a", "b"):
        result = run(features=[INCOME, SPENDING])
        paths = write_outputs(result, tmp_path / name, report=False, model=False)
        files.append((paths["segments"].read_bytes(), paths["profiles"].read_bytes()))
    assert files[0] == files[1]


def test_no_structure_is_said_plainly(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"income": rng.uniform(20, 120, 400), "spend": rng.uniform(1, 100, 400)}
    )
    result = run(df)
    paths = write_outputs(result, tmp_path)
    summary = json.loads(paths["summary"].read_text())
    assert summary["structure"]["has_structure"] is False
    assert summary["structure"]["explanation"].startswith(
        "No clear segment structure was found"
    )
    report = paths["report"].read_text()
    assert (
        "Segment structure: none.</strong> No clear segment structure was found"
        in report
    )


def test_parquet_in_parquet_out(tmp_path, mall_df):
    src = tmp_path / "m.parquet"
    mall_df.to_parquet(src)
    paths = write_outputs(run(src), tmp_path / "out", report=False)
    assert paths["segments"].name == "segments.parquet"
    assert len(pd.read_parquet(paths["segments"])) == 200


def test_wholesale_runs(tmp_path):
    result = run(WHOLESALE_CSV)
    assert len(result.labels) == 440
    assert len({p.name for p in result.profiles}) == result.k_selection.k
