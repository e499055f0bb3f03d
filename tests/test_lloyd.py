"""The fused Lloyd kernel against scikit-learn, and its own guarantees."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numba
import numpy as np
import pytest
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.metrics import adjusted_rand_score
from tests.conftest import planted_blobs

from custseg.cluster import _kpp, _lloyd
from custseg.cluster._lloyd import CHUNK_ROWS, assign, kmeans, lloyd

DTYPES = [np.float32, np.float64]


def blobs(k: int, seed: int, n_per: int = 300, dtype: type = np.float64) -> np.ndarray:
    X, _ = planted_blobs(k, seed, n_per=n_per, dim=4)
    return np.ascontiguousarray(X.to_numpy(), dtype=dtype)


def sklearn_lloyd(X: np.ndarray, init: np.ndarray, **kw: float) -> KMeans:
    km = KMeans(
        n_clusters=len(init), init=init.astype(X.dtype), n_init=1, algorithm="lloyd"
    )
    return km.set_params(**kw).fit(X)


def nearest(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, float]:
    d2 = ((X[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(axis=2)
    return d2.argmin(axis=1), float(d2.min(axis=1).sum())


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(
    ("k", "n_per"), [(5, 300), (3, 25_000)], ids=["1chunk", "3chunks"]
)
def test_same_init_gives_sklearn_partition(dtype: type, k: int, n_per: int) -> None:
    X = blobs(k, seed=1, n_per=n_per, dtype=dtype)
    # Random rows as starting centres: two may share a blob, so the fit has to
    # move through several iterations (and the same local optimum as sklearn).
    init = X[np.random.default_rng(2).choice(len(X), k, replace=False)].astype(float)
    fit = lloyd(X, init, max_iter=100, tol=1e-4)
    km = sklearn_lloyd(X, init, max_iter=100, tol=1e-4)
    assert adjusted_rand_score(fit.labels, km.labels_) == 1.0
    assert fit.inertia == pytest.approx(km.inertia_, rel=1e-3)
    assert abs(fit.n_iter - km.n_iter_) <= 1
    assert fit.centers.dtype == np.float64 and fit.centers.shape == (k, 4)
    assert fit.labels.dtype == np.int32 and fit.labels.shape == (len(X),)


def test_more_than_eight_clusters_matches_sklearn() -> None:
    X = blobs(11, seed=4, n_per=100)
    init = X[np.random.default_rng(5).choice(len(X), 11, replace=False)]
    fit = lloyd(X, init)
    km = sklearn_lloyd(X, init)
    assert adjusted_rand_score(fit.labels, km.labels_) == 1.0
    assert fit.inertia == pytest.approx(km.inertia_, rel=1e-9)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_labels_and_inertia_match_the_returned_centres(dtype: type) -> None:
    X = blobs(4, seed=3, dtype=dtype)
    init = X[:4].astype(float)  # all four in one blob: far from converged
    fit = lloyd(X, init, max_iter=2, tol=0)
    assert fit.n_iter == 2
    labels, inertia = nearest(X, fit.centers)
    np.testing.assert_array_equal(fit.labels, labels)
    assert fit.inertia == pytest.approx(inertia, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_assign_matches_sklearn_predict(dtype: type) -> None:
    X = blobs(6, seed=7, dtype=dtype)
    km = KMeans(n_clusters=6, n_init=1, random_state=0).fit(X)
    X_new = blobs(6, seed=8, n_per=50, dtype=dtype)
    labels, inertia = assign(X_new, km.cluster_centers_)
    np.testing.assert_array_equal(labels, km.predict(X_new))
    assert labels.dtype == np.int32
    rel = 1e-5 if dtype is np.float32 else 1e-12
    assert inertia == pytest.approx(-km.score(X_new), rel=rel)


def test_lloyd_example_by_hand() -> None:
    X = np.array([[0.0, 0.0], [0.0, 2.0], [6.0, 0.0], [6.0, 2.0], [6.0, 4.0]])
    fit = lloyd(X, [[0.0, 0.0], [6.0, 0.0]])
    assert fit.labels.tolist() == [0, 0, 1, 1, 1]
    np.testing.assert_array_equal(fit.centers, [[0.0, 1.0], [6.0, 2.0]])
    assert fit.inertia == 2.0 + 8.0  # 1 + 1, then 4 + 0 + 4
    assert fit.n_iter == 2  # the second iteration changes no label


def test_empty_cluster_is_relocated() -> None:
    X = blobs(3, seed=9)
    init = np.vstack([X[:2], X[:1] + 1e3])  # the third centre is far from all data
    fit = lloyd(X, init)
    assert (np.bincount(fit.labels, minlength=3) > 0).all()
    km = sklearn_lloyd(X, init)
    assert adjusted_rand_score(fit.labels, km.labels_) == 1.0
    assert fit.inertia == pytest.approx(km.inertia_, rel=1e-9)


def test_duplicate_starting_centres_end_distinct() -> None:
    X = blobs(3, seed=10)
    fit = lloyd(X, np.repeat(X[:1], 3, axis=0))
    assert len(np.unique(fit.labels)) == 3
    assert len(np.unique(fit.centers, axis=0)) == 3


def test_one_cluster_is_the_mean() -> None:
    X = blobs(3, seed=11)
    fit = lloyd(X, X[:1])
    assert (fit.labels == 0).all()
    np.testing.assert_allclose(fit.centers[0], X.mean(axis=0), rtol=1e-12)
    assert fit.inertia == pytest.approx(((X - X.mean(axis=0)) ** 2).sum(), rel=1e-12)


def test_as_many_clusters_as_rows() -> None:
    X = np.array([[0.0], [1.0], [3.0]])
    fit = lloyd(X, X[::-1])
    assert fit.labels.tolist() == [2, 1, 0]
    assert fit.inertia == 0.0


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_same_result_for_any_thread_count(
    dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Enough rows for the chunks to be spread over threads.
    X = blobs(5, seed=12, n_per=(_lloyd._PARALLEL_MIN_CHUNKS * CHUNK_ROWS) // 5 + 999)
    X = X.astype(dtype)
    init = X[np.random.default_rng(13).choice(len(X), 5, replace=False)]
    fits = []
    for threads in (1, 2, 3, 7):
        monkeypatch.setattr(_lloyd, "_configured_threads", lambda t=threads: t)
        with _lloyd._Runner(_lloyd._n_chunks(len(X))) as run:
            assert run.n_threads == threads
        fits.append(lloyd(X, init, max_iter=6, tol=0))
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.centers, fits[0].centers)
        np.testing.assert_array_equal(fit.labels, fits[0].labels)
        assert fit.inertia == fits[0].inertia


@pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="numba is limited to one thread here"
)
def test_numba_set_num_threads_is_honoured_and_changes_nothing() -> None:
    X = blobs(5, seed=14, n_per=(_lloyd._PARALLEL_MIN_CHUNKS * CHUNK_ROWS) // 5 + 1)
    init = X[:5]
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = lloyd(X, init, max_iter=4, tol=0)
        numba.set_num_threads(2)
        with _lloyd._Runner(_lloyd._n_chunks(len(X))) as run:
            assert run.n_threads == 2
        two = lloyd(X, init, max_iter=4, tol=0)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.centers, two.centers)
    np.testing.assert_array_equal(one.labels, two.labels)
    assert one.inertia == two.inertia


def test_kmeans_keeps_the_lowest_inertia_of_its_runs() -> None:
    X = np.random.default_rng(15).uniform(size=(3000, 4))  # many local optima
    shared = np.random.RandomState(16)
    runs = [kmeans(X, 6, random_state=shared) for _ in range(5)]
    best = kmeans(X, 6, n_init=5, random_state=np.random.RandomState(16))
    inertias = [r.inertia for r in runs]
    assert len(set(inertias)) > 1  # the runs differ, so the choice matters
    winner = runs[int(np.argmin(inertias))]
    assert best.inertia == min(inertias)
    np.testing.assert_array_equal(best.labels, winner.labels)


def test_kmeans_seeds_like_sklearn_and_is_reproducible() -> None:
    X = blobs(4, seed=17)
    fit = kmeans(X, 4, random_state=3)
    km = KMeans(n_clusters=4, n_init=1, random_state=3, algorithm="lloyd").fit(X)
    assert adjusted_rand_score(fit.labels, km.labels_) == 1.0
    assert fit.inertia == pytest.approx(km.inertia_, rel=1e-9)
    again = kmeans(X, 4, random_state=3)
    np.testing.assert_array_equal(again.centers, fit.centers)


def test_kmeans_plusplus_picks_the_rows_sklearn_picks() -> None:
    rng = np.random.default_rng(22)
    for seed in range(120):
        n, d, k = (
            int(rng.integers(12, 2000)),
            int(rng.integers(1, 12)),
            int(rng.integers(2, 11)),
        )
        X = rng.normal(size=(n, d)) * rng.uniform(0.1, 50.0, size=d)
        if seed % 3 == 0:
            X = X.astype(np.float32)
        want, _ = kmeans_plusplus(X, k, random_state=np.random.RandomState(seed))
        got = _kpp.kmeans_plusplus(X, k, np.random.RandomState(seed))
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want.astype(np.float64))


def test_kmeans_on_more_rows_than_the_seeding_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_lloyd, "KPP_SAMPLE_ROWS", 200)
    X = blobs(4, seed=18)  # 1,200 rows: k-means++ sees a sample of 200
    fit = kmeans(X, 4, n_init=2, random_state=0)
    _, y = planted_blobs(4, 18, n_per=300, dim=4)
    assert adjusted_rand_score(fit.labels, y) == 1.0
    np.testing.assert_array_equal(
        kmeans(X, 4, n_init=2, random_state=0).labels, fit.labels
    )


def test_progress_is_called_once_per_iteration() -> None:
    X = blobs(3, seed=19)
    calls: list[tuple[str, int, int]] = []
    fit = lloyd(X, X[:3], max_iter=50, progress=lambda *a: calls.append(a))
    assert calls == [("K-Means iteration", i, 50) for i in range(1, fit.n_iter + 1)]


def test_a_c_contiguous_float32_matrix_is_not_copied() -> None:
    X = np.random.default_rng(20).normal(size=(250_000, 4)).astype(np.float32)
    lloyd(X, X[:3], max_iter=2)  # compile outside the measurement
    tracemalloc.start()
    try:
        lloyd(X, X[:3], max_iter=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 2  # labels (1 MB) and small buffers, not X (4 MB)


def test_other_layouts_and_dtypes_give_the_same_fit() -> None:
    X = blobs(3, seed=21)
    ref = lloyd(X, X[:3])
    fortran = lloyd(np.asfortranarray(X), X[:3])
    np.testing.assert_array_equal(fortran.labels, ref.labels)
    ints = np.round(X * 100).astype(np.int64)
    fit = lloyd(ints, ints[:3])
    assert fit.inertia == pytest.approx(lloyd(ints / 1.0, ints[:3]).inertia)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lloyd(np.zeros(5), np.zeros((1, 1))), "must be a 2-D array"),
        (lambda: lloyd(np.zeros((2, 2, 2)), np.zeros((1, 2))), "must be a 2-D array"),
        (lambda: lloyd(np.zeros((0, 2)), np.zeros((1, 2))), "at least one row"),
        (lambda: lloyd(np.array([["a"]]), [[0.0]]), "must hold numbers"),
        (
            lambda: lloyd(np.zeros((3, 2)), np.zeros((4, 2))),
            "n_samples=3 should be >= n_clusters=4",
        ),
        (lambda: kmeans(np.zeros((3, 2)), 5), "n_samples=3 should be >= n_clusters=5"),
        (lambda: lloyd(np.zeros((3, 2)), np.zeros((2, 3))), r"shape \(n_clusters, 2\)"),
        (lambda: lloyd(np.zeros((3, 2)), np.zeros((0, 2))), r"shape \(n_clusters, 2\)"),
        (lambda: lloyd(np.zeros((3, 2)), [[np.nan, 0.0]]), "init contains NaN"),
        (
            lambda: lloyd(np.array([[0.0], [np.nan]]), [[0.0]]),
            "X contains NaN or infinity",
        ),
        (lambda: lloyd(np.array([[0.0], [np.inf]]), [[0.0]], tol=0), "X contains NaN"),
        (lambda: assign(np.array([[np.nan]]), [[0.0]]), "X contains NaN"),
        (
            lambda: assign(np.zeros((2, 2)), np.zeros((1, 3))),
            r"shape \(n_clusters, 2\)",
        ),
        (
            lambda: lloyd(np.zeros((3, 1)), [[0.0]], max_iter=0),
            "max_iter must be a positive",
        ),
        (
            lambda: lloyd(np.zeros((3, 1)), [[0.0]], tol=-1.0),
            "tol must be a number >= 0",
        ),
        (lambda: kmeans(np.zeros((3, 1)), 0), "n_clusters must be a positive"),
        (lambda: kmeans(np.zeros((3, 1)), 1, n_init=0), "n_init must be a positive"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_assign_accepts_more_centres_than_rows() -> None:
    labels, inertia = assign(np.array([[0.2]]), np.array([[0.0], [1.0], [2.0]]))
    assert labels.tolist() == [0]
    assert inertia == pytest.approx(0.04)


def test_wide_tables_skip_compilation_with_the_same_result(monkeypatch):
    from custseg.cluster import _lloyd

    X, _ = planted_blobs(4, seed=3, n_per=50, dim=12)
    X = X.to_numpy()
    compiled = _lloyd.kmeans(X, 4, n_init=2, random_state=0)
    labels, inertia = _lloyd.assign(X, compiled.centers)
    # Treat 12 features as "wide": scikit-learn's Lloyd and numpy assignment.
    monkeypatch.setattr(_lloyd, "MAX_COMPILED_FEATURES", 8)
    monkeypatch.setattr(_lloyd, "_kernels", None)  # would fail if called
    wide = _lloyd.kmeans(X, 4, n_init=2, random_state=0)
    assert (wide.labels == compiled.labels).all()
    assert wide.inertia == pytest.approx(compiled.inertia, rel=1e-9)
    wide_labels, wide_inertia = _lloyd.assign(X, compiled.centers)
    assert (wide_labels == labels).all()
    assert wide_inertia == pytest.approx(inertia, rel=1e-9)
