"""The Segmenter is a scikit-learn estimator: it passes scikit-learn's estimator
checks (those it fails by design are declared, with the reason, in
``EXPECTED_FAILED_CHECKS``), and it works with clone, Pipeline, set_output and
GridSearchCV."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import estimator_checks
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted
from tests.conftest import planted_blobs

from custseg.errors import EmptyDataError, InputError, NotFittedError, ParameterError
from custseg.model._segmenter import EXPECTED_FAILED_CHECKS, Segmenter

# Fast enough for the ~50 estimator checks: no bootstrap, no rules, few k.
FAST = {"stability_resamples": 0, "rules": False, "k_range": (2, 4)}


def _estimator_checks():
    """scikit-learn's checks of the Segmenter, less ``check_array_api_input``:
    scikit-learn yields it for every estimator and skips it unless
    SCIPY_ARRAY_API is set; the Segmenter does not claim array-API support
    (its ``array_api_support`` tag is False), so the check has nothing to run."""
    for estimator, check in estimator_checks.estimator_checks_generator(
        Segmenter(**FAST),
        expected_failed_checks=EXPECTED_FAILED_CHECKS,
        mark="xfail",
        xfail_strict=True,
    ):
        inner = getattr(check, "func", check)
        if getattr(inner, "__name__", "") != "check_array_api_input":
            yield estimator, check


@pytest.mark.parametrize(
    "estimator, check",
    list(_estimator_checks()),
    ids=estimator_checks._get_check_estimator_ids,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_all_estimator_checks_run():
    names = {
        getattr(getattr(c, "func", c), "__name__", "") for _, c in _estimator_checks()
    }
    assert len(names) > 40 and "check_fit2d_1sample" in names
    assert "check_array_api_input" not in names
    assert not Segmenter().__sklearn_tags__().array_api_support


# scikit-learn runs these on its own transformers only (sklearn's test_common);
# the Segmenter passes them too.
EXTRA_CHECKS = [
    "check_param_validation",
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
]


@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names")
@pytest.mark.parametrize("name", EXTRA_CHECKS)
def test_scikit_learn_transformer_checks(name):
    getattr(estimator_checks, name)("Segmenter", Segmenter(**FAST))


def test_expected_failures_say_why():
    for check, reason in EXPECTED_FAILED_CHECKS.items():
        assert check.startswith("check_") and len(reason) > 20, check


@pytest.fixture
def blobs():
    """Four planted groups in two numeric columns, rows shuffled (so that every
    cross-validation fold holds every group), on a non-default index."""
    X, y = planted_blobs(4, seed=2, n_per=50, dim=2)
    order = np.random.default_rng(0).permutation(len(X))
    X = X.iloc[order].set_axis([f"c{i}" for i in range(len(X))])
    return X, y[order]


def test_invalid_parameters_raise_parameter_error_in_sklearns_words(blobs):
    X, _ = blobs
    cases = [
        ({"scaler": "zscore"}, "scaler", r"a str among \{.*'standard'.*\}", "'zscore'"),
        (
            {"n_clusters": 0},
            "n_clusters",
            r"an int in the range \[1, inf\) or None",
            "0",
        ),
        ({"rules": "yes"}, "rules", r"an instance of 'bool'.*", "'yes'"),
        ({"features": "f0"}, "features", r".*array-like or None", "'f0'"),
        (
            {"k_range": (5, 3)},
            "k_range",
            r"a pair of integers .* min <= max",
            r"\(5, 3\)",
        ),
        (
            {"features": []},
            "features",
            r"a non-empty list of column names or None",
            r"\[\]",
        ),
    ]
    for params, name, allowed, got in cases:
        pattern = (
            f"^The '{name}' parameter of Segmenter must be {allowed}. "
            f"Got {got} instead.$"
        )
        with pytest.raises(ParameterError, match=pattern) as info:
            Segmenter(**params).fit(X)
        # also scikit-learn's own error (and so a ValueError and a TypeError)
        assert isinstance(info.value, InvalidParameterError), params
        assert isinstance(info.value, ValueError), params


def test_aliases_of_algorithms_still_pass_validation(blobs):
    X, y = blobs
    seg = Segmenter(4, algorithm="K-Means", **FAST).fit(X)
    assert seg.algorithm_ == "kmeans"
    with pytest.raises(ParameterError, match="unknown algorithm 'dbscan'"):
        Segmenter(algorithm="dbscan").fit(X)


def test_not_fitted_is_custsegs_and_sklearns_error(blobs):
    X, _ = blobs
    seg = Segmenter(**FAST)
    for method in (seg.predict, seg.transform, seg.get_feature_names_out):
        with pytest.raises(NotFittedError) as info:
            method(X) if method != seg.get_feature_names_out else method()
        assert isinstance(info.value, SklearnNotFittedError)
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(seg)
    check_is_fitted(seg.fit(X))


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(blobs):
    X, y = blobs
    seg = Segmenter(4, features=["f0", "f1"], **FAST).fit(X)
    copy = clone(seg)
    assert copy.get_params() == seg.get_params()
    assert not hasattr(copy, "labels_")
    with pytest.raises(SklearnNotFittedError):
        copy.predict(X)
    np.testing.assert_array_equal(copy.fit(X).labels_, seg.labels_)
    assert adjusted_rand_score(y, copy.labels_) == pytest.approx(1.0)
    # the copy is independent of the original
    other = clone(seg).set_params(n_clusters=3).fit(X)
    assert other.n_clusters_ == 3 and seg.n_clusters == 4 and seg.n_clusters_ == 4


def test_feature_names_and_counts_follow_sklearn(blobs):
    X, _ = blobs
    framed = Segmenter(4, **FAST).fit(X)
    assert framed.n_features_in_ == 2
    assert framed.feature_names_in_.dtype == object
    assert framed.feature_names_in_.tolist() == ["f0", "f1"]
    arrayed = Segmenter(4, **FAST).fit(X.to_numpy())
    assert arrayed.n_features_in_ == 2 and not hasattr(arrayed, "feature_names_in_")
    np.testing.assert_array_equal(arrayed.labels_, framed.labels_)
    # an array is matched by position: the same width, scikit-learn's messages
    with pytest.raises(
        ValueError, match="X has 1 features, but Segmenter is expecting 2"
    ):
        arrayed.predict(X.to_numpy()[:, :1])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        positional = framed.predict(X.to_numpy())
    np.testing.assert_array_equal(positional, framed.labels_)
    with pytest.warns(UserWarning, match="fitted without feature names"):
        renamed = arrayed.predict(X.set_axis(["a", "b"], axis=1))
    np.testing.assert_array_equal(renamed, arrayed.labels_)
    # a frame is matched by name (by design: new customer files may order
    # their columns differently, or carry more)
    shuffled = X[["f1", "f0"]].assign(extra=1.0)
    np.testing.assert_array_equal(framed.predict(shuffled), framed.labels_)
    # refitting on an array forgets the frame's names
    assert not hasattr(framed.fit(X.to_numpy()), "feature_names_in_")


def test_unusable_input_is_refused_clearly(blobs):
    X, _ = blobs
    seg = Segmenter(4, **FAST)
    with pytest.raises(InputError, match="sparse input is not supported") as info:
        seg.fit(sparse.csr_matrix(X.to_numpy()))
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="Complex data not supported"):
        seg.fit(X.to_numpy() + 1j)
    with pytest.raises(ValueError, match="Complex data not supported"):
        seg.fit(X.assign(f0=X["f0"] + 1j))
    with pytest.raises(EmptyDataError, match=re.escape("0 feature(s) (shape=(5, 0))")):
        seg.fit(np.empty((5, 0)))
    with pytest.raises(EmptyDataError, match=re.escape("0 sample(s) (shape=(0, 2))")):
        seg.fit(np.empty((0, 2)))
    with pytest.raises(InputError, match="cannot segment 1 sample"):
        Segmenter(1, **FAST).fit(X.to_numpy()[:1])
    seg.fit(X)
    with pytest.raises(ValueError, match="Reshape your data"):
        seg.predict(X.to_numpy()[0])


def test_an_object_array_of_numbers_is_numbers(blobs):
    X, _ = blobs
    numbers = Segmenter(4, **FAST).fit(X.to_numpy())
    objects = Segmenter(4, **FAST).fit(X.to_numpy().astype(object))
    assert objects.selection_.numeric == ("x0", "x1")
    np.testing.assert_array_equal(objects.labels_, numbers.labels_)


def test_transform_and_feature_names_out(blobs):
    X, _ = blobs
    seg = Segmenter(4, **FAST).fit(X)
    distances = seg.transform(X)
    assert distances.shape == (len(X), 4)
    # the nearest centre is the segment (K-Means)
    np.testing.assert_array_equal(distances.argmin(axis=1), seg.labels_)
    names = seg.get_feature_names_out()
    assert names.dtype == object
    assert names.tolist() == ["segment_0", "segment_1", "segment_2", "segment_3"]
    assert seg.get_feature_names_out(["f0", "f1"]).tolist() == names.tolist()
    with pytest.raises(ValueError, match="input_features is not equal"):
        seg.get_feature_names_out(["a", "b"])
    # the names follow the segment numbers users see
    seg.renumber([7, 3, 5, 1], [f"s{i}" for i in range(4)])
    assert seg.get_feature_names_out().tolist() == [
        "segment_1",
        "segment_3",
        "segment_5",
        "segment_7",
    ]


def test_set_output_pandas(blobs):
    X, _ = blobs
    seg = Segmenter(4, **FAST).set_output(transform="pandas")
    out = seg.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == seg.get_feature_names_out().tolist()
    assert out.index.equals(X.index)
    plain = clone(seg).set_output(transform="default").fit(X).transform(X)
    assert isinstance(plain, np.ndarray)
    np.testing.assert_allclose(out.to_numpy(), plain)
    assert (out.idxmin(axis=1) == [f"segment_{i}" for i in seg.labels_]).all()


def test_in_a_pipeline_after_a_column_transformer(blobs):
    X, y = blobs
    X = X.assign(note="text that is dropped")
    prep = ColumnTransformer(
        [("num", FunctionTransformer(lambda d: d * 10.0), ["f0", "f1"])],
        remainder="drop",
    )
    pipe = Pipeline([("prep", prep), ("seg", Segmenter(4, **FAST))])
    labels = pipe.fit_predict(X)
    assert adjusted_rand_score(y, labels) == pytest.approx(1.0)
    np.testing.assert_array_equal(pipe.predict(X), labels)
    assert pipe.transform(X).shape == (len(X), 4)
    assert pipe["seg"].n_features_in_ == 2
    # with pandas output the Segmenter sees the transformer's column names
    pipe.set_output(transform="pandas").fit(X)
    assert pipe["seg"].feature_names_in_.tolist() == ["num__f0", "num__f1"]
    out = pipe.transform(X)
    assert list(out.columns) == [f"segment_{i}" for i in range(4)]
    assert pipe.get_feature_names_out().tolist() == list(out.columns)


def test_as_a_step_before_another(blobs):
    """The distances to the segment centres as features of a later step."""
    X, y = blobs
    pipe = make_pipeline(Segmenter(4, **FAST), StandardScaler())
    out = pipe.fit_transform(X)
    assert out.shape == (len(X), 4)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    assert adjusted_rand_score(y, pipe[0].labels_) == pytest.approx(1.0)


def _silhouette_scorer(estimator, X, y=None):
    """A clustering scorer: silhouette of the predicted segments, measured in the
    prepared (scaled) space the Segmenter clusters in."""
    return silhouette_score(estimator.prepare(X), estimator.predict(X))


def test_grid_search_with_a_clustering_scorer(blobs):
    X, _ = blobs
    search = GridSearchCV(
        Segmenter(**FAST),
        {"n_clusters": [3, 4, 5]},
        scoring=_silhouette_scorer,
        cv=3,
        error_score="raise",
    ).fit(X.to_numpy())
    assert search.best_params_ == {"n_clusters": 4}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] == max(scores) and scores[1] > 0.7
    assert search.best_estimator_.n_clusters_ == 4
    assert (
        search.predict(X.to_numpy()).tolist() == search.best_estimator_.labels_.tolist()
    )
