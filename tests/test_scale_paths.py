"""The code paths that only large tables take, exercised on small ones by
shrinking their thresholds: chunked preparation, preparation on a sample, the
figure sample, the matrix-product silhouette, the quality shortcuts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score
from tests.conftest import INCOME, SPENDING, planted_blobs

from custseg import DataRepairWarning, Segmenter, check_table
from custseg.cluster._choose_k import _silhouette
from custseg.model import _segmenter
from custseg.prep import (
    build_preprocessor,
    model_frame,
    model_matrix,
    select_features,
)
from custseg.quality._check import _distinct


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_silhouette_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(700, 5))
    X[:40] = X[0]  # duplicated points: zero distances
    labels = rng.integers(0, 6, size=700)
    labels[5] = 9  # a singleton segment scores 0
    assert _silhouette(X, labels) == pytest.approx(
        silhouette_score(X, labels), abs=1e-9
    )


def test_chunked_matrix_equals_one_pass_and_names_global_rows(mall_df):
    df = mall_df.copy()
    df[INCOME] = df[INCOME].astype("float64")
    df.loc[[9, 150], INCOME] = [np.inf, -1e300]
    report = check_table(df)
    selection = select_features(report, None)
    frame, repairs = model_frame(df, selection, source="t.csv")
    pre = build_preprocessor(selection).fit(frame)
    Z, chunked_repairs = model_matrix(
        df, selection, pre.transform, source="t.csv", dtype=np.float64, chunk_rows=7
    )
    np.testing.assert_array_equal(Z, pre.transform(frame))
    assert chunked_repairs == repairs
    assert repairs[0].endswith("rows 10, 151")


def test_preparation_on_a_sample_keeps_rare_categories(monkeypatch):
    X, _ = planted_blobs(3, seed=4, n_per=100, dim=2)
    X["Tier"] = np.where(np.arange(300) % 2 == 0, "gold", "silver")
    X.loc[299, "Tier"] = "platinum"  # one row: almost surely outside a sample
    monkeypatch.setattr(_segmenter, "PREP_SAMPLE_SIZE", 50)
    seg = Segmenter(random_state=0).fit(X)
    encoder = seg.preprocessor_.named_transformers_["categorical"]["onehot"]
    assert list(encoder.categories_[0]) == ["gold", "platinum", "silver"]
    full = Segmenter(random_state=0).fit(X)
    monkeypatch.setattr(_segmenter, "PREP_SAMPLE_SIZE", 1_000_000)
    full = Segmenter(random_state=0).fit(X)
    # Statistics from 50 rows move the scaling a little, not the segments.
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(seg.labels_, full.labels_) > 0.95


def test_float32_features_unless_raw_units(mall_df):
    seg = Segmenter(features=[INCOME, SPENDING], n_clusters=5).fit(mall_df)
    assert seg.prepare(mall_df).dtype == np.float32
    raw = Segmenter(features=[INCOME, SPENDING], n_clusters=5, scaler="none")
    assert raw.fit(mall_df).prepare(mall_df).dtype == np.float64


def test_figures_come_from_a_sample_on_large_tables(monkeypatch):
    from custseg.pipeline import SegmentationRun
    from custseg.report import _figures

    X, _ = planted_blobs(3, seed=1, n_per=200, dim=3)
    seg = Segmenter(n_clusters=3).fit(X)
    monkeypatch.setattr(_figures, "FIGURE_SAMPLE", 100)
    df, labels, note = _figures.figure_sample(X, seg.labels_, 0)
    assert len(df) == len(labels) == 100
    assert (labels == seg.labels_[df.index.to_numpy()]).all()
    assert "100 of the 600 customers" in note
    figures = _figures.build_figures(SegmentationRun.from_segmenter(seg, X))
    captions = [f["caption"] for f in figures["segments"]]
    assert any("random sample of 100" in c for c in captions)


@pytest.mark.parametrize(
    "values",
    [
        np.arange(10, 1000),
        np.array([5, 5, 7, 2**40, -(2**40)]),
        np.array([3.5, 3.5, 1.0]),
    ],
    ids=["compact-ints", "sparse-ints", "floats"],
)
def test_distinct_counts(values):
    assert _distinct(pd.Series(values)) == len(np.unique(values))


def test_duplicate_rows_with_and_without_a_unique_column():
    rows = pd.DataFrame({"a": [1, 1, 2, 1], "b": ["x", "x", "y", "x"]})
    assert check_table(rows).duplicate_rows == 2
    with_id = rows.assign(CustomerID=[10, 11, 12, 13])
    assert check_table(with_id).duplicate_rows == 0


@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax", "none"])
def test_direct_preparation_equals_the_column_transformer(mall_df, scaler):
    from custseg.prep import direct_prep

    df = mall_df.copy()
    df["Age"] = df["Age"].astype("float64")
    df.loc[[3, 70], "Age"] = [np.nan, np.inf]
    df.loc[[5, 6], "Gender"] = [None, "Other"]  # missing, and unseen at fit time
    selection = select_features(check_table(df), None)
    fit_rows = df.drop(index=[5, 6])
    frame, _ = model_frame(fit_rows, selection)
    pre = build_preprocessor(selection, scaler).fit(frame)
    direct = direct_prep(pre)
    assert direct is not None
    expected, repairs = model_matrix(
        df, selection, pre.transform, dtype=np.float64, chunk_rows=64
    )
    got, direct_repairs = model_matrix(
        df, selection, pre.transform, dtype=np.float64, chunk_rows=64, direct=direct
    )
    np.testing.assert_array_equal(got, expected)
    assert direct_repairs == repairs and "rows 71" in repairs[0]


def test_fit_converts_each_feature_once_and_reports_repairs_once(mall_df, monkeypatch):
    """A table the preparation is fitted on in full is converted once: the
    matrix is built from that conversion, with the same repairs."""
    from custseg.prep import _features

    df = mall_df.copy()
    df[INCOME] = df[INCOME].astype("float64")
    df.loc[[9, 150], INCOME] = [np.inf, -1e300]
    calls: list[str] = []
    convert = _features._numeric_values

    def counted(col, name, source, positions):
        calls.append(name)
        return convert(col, name, source, positions)

    monkeypatch.setattr(_features, "_numeric_values", counted)
    with pytest.warns(DataRepairWarning, match="rows 10, 151"):
        seg = Segmenter(n_clusters=4, stability_resamples=0, rules=False).fit(df)
    numeric = seg.selection_.numeric
    assert sorted(calls) == sorted(numeric)  # once each, not twice
    assert sum("rows 10, 151" in r for r in seg.quality_.repairs) == 1
