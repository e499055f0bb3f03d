from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from tests.conftest import INCOME, SPENDING, planted_blobs

from custseg import (
    ColumnTypeError,
    CustsegError,
    CustsegWarning,
    DataRepairWarning,
    MissingColumnError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    Segmenter,
    load_model,
)
from custseg.cluster import ALGORITHMS
from custseg.model import canonical_order

FEATURES = [INCOME, SPENDING]


@pytest.fixture
def fitted(mall_df):
    return Segmenter(features=FEATURES).fit(mall_df)


def test_five_well_known_mall_segments(fitted):
    assert fitted.n_clusters_ == 5
    assert fitted.k_selection_.silhouette_at_k >= 0.55
    levels = set()
    for p in fitted.profiles_:
        inc, spend = p.mean[INCOME], p.mean[SPENDING]
        levels.add(
            (
                "low" if inc < 40 else "high" if inc > 70 else "mid",
                "low" if spend < 35 else "high" if spend > 65 else "mid",
            )
        )
    assert levels == {
        ("high", "low"),
        ("high", "high"),
        ("mid", "mid"),
        ("low", "low"),
        ("low", "high"),
    }
    names = {p.name for p in fitted.profiles_}
    assert names == {
        "High income, low spending",
        "High income and spending",
        "Average income and spending",
        "Low income and spending",
        "Low income, high spending",
    }


def test_numbering_is_by_size_and_deterministic(mall_df, fitted):
    sizes = [p.size for p in fitted.profiles_]
    assert sizes == sorted(sizes, reverse=True)
    again = Segmenter(features=FEATURES).fit(mall_df)
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    assert again.segment_names_ == fitted.segment_names_


def test_canonical_order_breaks_ties_by_centroid():
    labels = np.array([0, 0, 1, 1, 2])
    centers = np.array([[5.0, 0.0], [1.0, 9.0], [0.0, 0.0]])
    assert canonical_order(labels, centers).tolist() == [1, 0, 2]


def test_relabel_invariance_under_row_order(mall_df, fitted):
    perm = np.random.default_rng(1).permutation(len(mall_df))
    shuffled = Segmenter(features=FEATURES).fit(
        mall_df.iloc[perm].reset_index(drop=True)
    )
    # same customers end up with the same segment *numbers* (by size), not just grouping
    np.testing.assert_array_equal(shuffled.labels_, fitted.labels_[perm])


def test_predict_reproduces_training_labels(mall_df, fitted, tmp_path):
    np.testing.assert_array_equal(fitted.predict(mall_df), fitted.labels_)
    path = tmp_path / "m.skops"
    fitted.save(str(path))
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(mall_df), fitted.labels_)
    assert loaded.segment_names_ == fitted.segment_names_
    assert loaded.k_selection_.reason == fitted.k_selection_.reason


def test_default_features_and_row_accounting(mall_df):
    seg = Segmenter().fit(mall_df)
    assert seg.selection_.columns == ("Age", INCOME, SPENDING, "Gender")
    assert seg.selection_.excluded == {"CustomerID": "identifier"}
    assert len(seg.labels_) + len(seg.excluded_rows_) == len(mall_df)


class Untrusted:
    pass


def test_tampered_model_is_refused(fitted, tmp_path):
    path = tmp_path / "evil.skops"
    sio.dump({"format": "custseg-model", "payload": Untrusted()}, path)
    with pytest.raises(
        ModelFileError, match="refused to load.*test_segmenter.Untrusted"
    ):
        load_model(path)
    garbage = tmp_path / "garbage.skops"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a readable custseg model"):
        load_model(garbage)


def test_predict_with_missing_or_mistyped_columns(fitted, mall_df):
    with pytest.raises(MissingColumnError, match="no column named 'Spending Score"):
        fitted.predict(mall_df.drop(columns=[SPENDING]))
    bad = mall_df.copy()
    bad[INCOME] = bad[INCOME].astype(str)
    bad.loc[3, INCOME] = "lots"
    with pytest.raises(
        ColumnTypeError,
        match=r"column 'Annual Income \(k\$\)': 1 values are not numbers \('lots'\) in rows 4",
    ):
        fitted.predict(bad, source="new.csv")


def test_predict_with_a_categorical_feature_entirely_missing(fitted, mall_df):
    """New customers whose Gender is empty in every row: imputed, not an
    IndexError (the column then has no categories at all)."""
    seg = Segmenter(features=[*FEATURES, "Gender"]).fit(mall_df)
    new = mall_df.head(3).assign(Gender=None)
    with pytest.warns(CustsegWarning, match="3 customers have no value"):
        labels = seg.predict(new)
    assert labels.shape == (3,) and (labels >= 0).all()
    expected = seg.predict(new.assign(Gender=mall_df["Gender"].mode()[0]))
    np.testing.assert_array_equal(labels, expected)


def test_sklearn_contract(mall_df):
    seg = Segmenter(3, features=FEATURES, random_state=7)
    assert seg.get_params()["n_clusters"] == 3 and seg.get_params()["random_state"] == 7
    copy = clone(seg).set_params(n_clusters=4)
    assert copy.n_clusters == 4 and seg.n_clusters == 3
    with pytest.raises(NotFittedError):
        seg.predict(mall_df)
    labels = seg.fit_predict(mall_df)
    assert labels.tolist() == seg.labels_.tolist()
    assert seg.transform(mall_df).shape == (200, 3)


@pytest.mark.parametrize(
    "params",
    [
        {"scaler": "zscore"},
        {"k_range": (1, 4)},
        {"n_clusters": 0},
        {"random_state": -1},
        {"features": "Age"},
    ],
)
def test_bad_parameters(mall_df, params):
    with pytest.raises(ParameterError, match="parameter of Segmenter must be"):
        Segmenter(**params).fit(mall_df)


def test_arrays_are_accepted():
    X, y = planted_blobs(3, 0)
    seg = Segmenter().fit(X.to_numpy())
    assert adjusted_rand_score(y, seg.labels_) == pytest.approx(1.0)


def test_missing_values_are_imputed_not_dropped(mall_df):
    df = mall_df.copy()
    df.loc[[0, 5, 9], INCOME] = np.nan
    df.loc[[1, 2], "Gender"] = None
    seg = Segmenter(features=[INCOME, SPENDING, "Gender"]).fit(df)
    assert len(seg.labels_) == 200
    assert seg.excluded_rows_.empty


@pytest.mark.filterwarnings("ignore::custseg.errors.DataRepairWarning")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    missing=st.floats(0, 0.6),
    with_text=st.booleans(),
    with_dupes=st.booleans(),
    algorithm=st.sampled_from(sorted(ALGORITHMS)),
)
def test_any_table_is_segmented_or_refused_cleanly(
    n, seed, missing, with_text, with_dupes, algorithm
):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 5, size=n).astype(float),
            "c": rng.choice(["x", "y", "z"], size=n),
            "d": rng.choice([1e308, -1e308, 0.0, 1.0], size=n),
        }
    )
    for col in ["a", "b", "c"]:
        df.loc[rng.random(n) < missing, col] = None
    if with_text:
        df["t"] = [f"free text {i}" for i in range(n)]
    if with_dupes and n > 1:
        df.iloc[-1] = df.iloc[0]
    params = {
        "random_state": seed % 100,
        "algorithm": algorithm,
        "stability_resamples": 3,
    }
    try:
        seg = Segmenter(**params).fit(df)
    except CustsegError:
        return
    # Every row has a segment, or is listed (labelled -1) with its reason.
    assert len(seg.labels_) == n
    assert (
        seg.excluded_rows_["row"].tolist()
        == (np.flatnonzero(seg.labels_ < 0) + 1).tolist()
    )
    assert set(np.unique(seg.labels_)) <= set(range(-1, seg.n_clusters_))
    np.testing.assert_array_equal(Segmenter(**params).fit(df).labels_, seg.labels_)


def test_huge_values_are_repaired_and_announced(mall_df):
    df = mall_df.copy()
    df[INCOME] = df[INCOME].astype(float)
    df.loc[[4, 7], INCOME] = [np.inf, 1e308]
    with pytest.warns(
        DataRepairWarning,
        match=r"treated 2 infinite or absurdly large values .* rows 5, 8",
    ):
        seg = Segmenter(features=FEATURES).fit(df)
    assert any("rows 5, 8" in r for r in seg.quality_.repairs)
    assert len(seg.labels_) == 200


def test_an_independent_category_does_not_split_the_customers():
    """A 0/1 column forms two perfect groups on its own; at the default weight it
    must not win over the behavioural structure."""
    X, y = planted_blobs(4, 3, n_per=100, dim=3)
    rng = np.random.default_rng(3)
    X["Gender"] = rng.choice(["Female", "Male"], size=len(X))
    seg = Segmenter().fit(X)
    assert seg.n_clusters_ == 4
    assert adjusted_rand_score(y, seg.labels_) > 0.95
    assert seg.selection_.categorical == ("Gender",)
