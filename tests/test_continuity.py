"""Label continuity (--previous) and the algorithm comparison (custseg compare)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from tests.conftest import INCOME, SPENDING

from custseg import Segmenter
from custseg.cli import cli
from custseg.errors import ParameterError
from custseg.model._continuity import MATCH_JACCARD, continue_from
from custseg.pipeline import compare, run, write_outputs

FEATURES = [INCOME, SPENDING]


@pytest.fixture
def previous(mall_df, tmp_path):
    """Last month's model on the mall data, saved to a file. Its numbers are
    not the ones a fresh run would give (as after an earlier continuity run),
    so keeping them is something --previous has to do."""
    result = run(mall_df, features=FEATURES, stability_resamples=0)
    result.segmenter.renumber([3, 0, 4, 1, 2], result.segmenter.segment_names_)
    path = tmp_path / "previous.skops"
    result.segmenter.save(str(path))
    return result, path


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("CustomerID")[["segment", "segment_name"]].sort_index()


def test_shuffled_copy_keeps_every_number_and_name(previous, mall_df):
    """Re-running on the same customers in another order, with another seed,
    gives every customer the same segment number and name as before."""
    before, path = previous
    shuffled = mall_df.sample(frac=1.0, random_state=7).reset_index(drop=True)
    # Another seed as well: without --previous the numbering may differ.
    after = run(
        shuffled,
        features=FEATURES,
        random_state=3,
        previous=path,
        stability_resamples=0,
    )
    pd.testing.assert_frame_equal(
        by_id(before.segments_frame()),
        by_id(after.segments_frame()),
        check_index_type=False,
    )
    m = after.migration
    assert m.moved == 0 and m.stayed == 200
    assert m.persisted == (0, 1, 2, 3, 4) and m.new == () and m.vanished == ()
    fresh = run(shuffled, features=FEATURES, random_state=3, stability_resamples=0)
    moved = (
        by_id(fresh.segments_frame())["segment"]
        != by_id(before.segments_frame())["segment"]
    )
    assert moved.mean() > 0.5  # without --previous the numbers differ
    assert np.diag(m.matrix.to_numpy()).sum() == 200


def test_ten_percent_new_customers_keep_numbers(previous, mall_df):
    """Adding 10% new customers: segments that persist keep their numbers and
    names, and old customers stay where they were (nearly all of them)."""
    before, path = previous
    rng = np.random.default_rng(0)
    new = mall_df.sample(20, random_state=1).copy()
    new["CustomerID"] = np.arange(1001, 1021)
    new[INCOME] = new[INCOME] + rng.integers(-3, 4, 20)
    grown = pd.concat([mall_df, new], ignore_index=True)
    after = run(grown, features=FEATURES, previous=path, stability_resamples=0)
    m = after.migration
    assert m.persisted == (0, 1, 2, 3, 4)
    old = by_id(before.segments_frame())
    now = by_id(after.segments_frame()).loc[old.index]
    assert (now["segment"] == old["segment"]).mean() >= 0.97
    names_before = dict(zip(old["segment"], old["segment_name"], strict=True))
    names_after = dict(zip(now["segment"], now["segment_name"], strict=True))
    assert names_before == names_after


def test_new_and_vanished_segments_get_fresh_numbers(previous, mall_df):
    before, path = previous
    more = run(
        mall_df, features=FEATURES, n_clusters=6, previous=path, stability_resamples=0
    )
    m = more.migration
    assert len(m.persisted) >= 4
    assert all(n >= 5 for n in m.new)  # never reuse a previous number
    assert set(more.segmenter.segment_ids_) == set(m.persisted) | set(m.new)
    fewer = run(
        mall_df, features=FEATURES, n_clusters=4, previous=path, stability_resamples=0
    )
    assert fewer.migration.vanished  # one previous segment has no successor
    ids = list(fewer.segmenter.segment_ids_)
    assert ids == sorted(ids) and len(ids) == 4
    # The output shows the kept numbers, gaps and all.
    shown = sorted(fewer.segments_frame()["segment"].unique().tolist())
    assert shown == ids
    summary = json.loads(
        (
            write_outputs(
                fewer, fewer_dir := previous[1].parent / "fewer", report=False
            )["summary"]
        ).read_text()
    )
    assert summary["migration"]["vanished"] == list(fewer.migration.vanished)
    assert [s["segment"] for s in summary["segments"]] == ids
    assert fewer_dir.exists()


def test_matching_threshold_and_matrix_counts(mall_df):
    a = Segmenter(features=FEATURES, stability_resamples=0).fit(mall_df)
    b = Segmenter(features=FEATURES, stability_resamples=0, random_state=5).fit(mall_df)
    m = continue_from(b, a, mall_df)
    assert m.matrix.to_numpy().sum() == len(mall_df)
    assert all(x["jaccard"] >= MATCH_JACCARD for x in m.matches)
    assert m.stayed + m.moved == len(mall_df)
    assert "kept their numbers and names" in m.sentence()


def test_previous_model_needs_its_columns(previous, mall_df):
    _, path = previous
    with pytest.raises(ParameterError, match="uses columns the data do not have"):
        run(mall_df.drop(columns=[SPENDING]), features=[INCOME], previous=path)


def test_renumbered_model_predicts_kept_numbers(previous, mall_df, tmp_path):
    before, path = previous
    shuffled = mall_df.sample(frac=1.0, random_state=2).reset_index(drop=True)
    after = run(
        shuffled,
        features=FEATURES,
        random_state=9,
        previous=path,
        stability_resamples=0,
    )
    model = tmp_path / "after.skops"
    after.segmenter.save(str(model))
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            str(model),
            str(path.parent / "x.csv"),
            "-o",
            str(tmp_path / "p.csv"),
        ],
    )
    assert result.exit_code == 1  # no such file: a clean error
    mall_df.to_csv(tmp_path / "mall.csv", index=False)
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            str(model),
            str(tmp_path / "mall.csv"),
            "-o",
            str(tmp_path / "p.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(tmp_path / "p.csv").set_index("CustomerID").sort_index()
    expected = by_id(before.segments_frame())
    assert (scored["segment"] == expected["segment"]).all()


def test_cli_previous_reports_migration(tmp_path, mall_df):
    first = CliRunner().invoke(cli, ["run", "-o", str(tmp_path / "a"), "-q"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(
        cli,
        [
            "run",
            "-o",
            str(tmp_path / "b"),
            "--random-state",
            "4",
            "--previous",
            str(tmp_path / "a" / "model.skops"),
        ],
    )
    assert second.exit_code == 0, second.output
    assert (
        "Compared with" in second.output
        and "kept their numbers and names" in second.output
    )
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["migration"]["stayed"] + summary["migration"]["moved"] == 200
    assert summary["settings"]["previous"].endswith("model.skops")


def test_compare_table_and_agreement(mall_df):
    c = compare(
        mall_df,
        algorithms=["kmeans", "gmm", "agglomerative", "hdbscan"],
        features=FEATURES,
        stability_resamples=5,
    )
    assert list(c.table.index) == ["kmeans", "gmm", "agglomerative", "hdbscan"]
    assert (c.table.loc[["kmeans", "gmm", "agglomerative"], "k"] == 5).all()
    ari = c.agreement.to_numpy()
    assert np.allclose(ari, ari.T) and np.allclose(np.diag(ari), 1.0)
    assert ari[0, 1] >= 0.9  # K-Means and the mixture agree on the mall data
    sizes = c.table.loc["kmeans", "sizes"].split(" / ")
    assert sum(int(s.replace(",", "")) for s in sizes) == 200
    assert c.table.loc["hdbscan", "unassigned"] == int(
        (c.segmenters["hdbscan"].labels_ < 0).sum()
    )
    for column in (
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
        "stability",
        "seconds",
    ):
        assert c.table[column].notna().all(), column


def test_cli_compare_prints_and_writes(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "compare",
            "--algorithms",
            "kmeans,kprototypes,minibatch-kmeans",
            "-f",
            INCOME,
            "-f",
            SPENDING,
            "--stability-resamples",
            "3",
            "-o",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Agreement (adjusted Rand index)" in result.output
    for name in ("kmeans", "kprototypes", "minibatch-kmeans"):
        assert name in result.output
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert table["algorithm"].tolist() == ["kmeans", "kprototypes", "minibatch-kmeans"]
    agreement = pd.read_csv(tmp_path / "agreement.csv", index_col="algorithm")
    assert agreement.shape == (3, 3)
    html = (tmp_path / "comparison.html").read_text()
    assert "Agreement between algorithms" in html and "data:image/png;base64" in html
    bad = CliRunner().invoke(cli, ["compare", "--algorithms", "kmeans,dbscan"])
    assert bad.exit_code == 1 and "unknown algorithm 'dbscan'" in bad.output


def test_numbers_are_never_reused(mall_df):
    """A number that vanished stays retired: the next new segment gets a number
    above every number ever used (the model carries the high-water mark)."""
    first = run(mall_df, features=FEATURES, stability_resamples=0)  # 0..4
    fewer = run(
        mall_df,
        features=FEATURES,
        n_clusters=4,
        previous=first.segmenter,
        stability_resamples=0,
    )
    gone = fewer.migration.vanished
    assert gone and fewer.segmenter.max_segment_id_ == 4
    more = run(
        mall_df,
        features=FEATURES,
        n_clusters=6,
        previous=fewer.segmenter,
        stability_resamples=0,
    )
    assert more.migration.new and min(more.migration.new) >= 5
    assert not set(more.segmenter.segment_ids_) & set(gone) - set(
        more.migration.persisted
    )
