"""Bootstrap stability (Hennig's clusterboot): real segments come back, noise does not."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from custseg.cluster._lloyd import kmeans
from custseg.cluster._stability import (
    DEFAULT_RESAMPLES,
    STABLE,
    UNSTABLE,
    Stability,
    _best_jaccard,
    bootstrap_stability,
)
from custseg.errors import ParameterError

FitPredict = Callable[[np.ndarray, int], np.ndarray]


def kmeans_fp(k: int) -> FitPredict:
    def fit_predict(X: np.ndarray, seed: int) -> np.ndarray:
        return kmeans(X, k, n_init=3, random_state=seed).labels

    return fit_predict


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, _ = make_blobs(600, centers=4, cluster_std=0.5, random_state=0)
    return X, kmeans_fp(4)(X, 0)


@pytest.fixture(scope="module")
def blobs_result(blobs: tuple[np.ndarray, np.ndarray]) -> Stability:
    X, labels = blobs
    return bootstrap_stability(X, labels, kmeans_fp(4))


@pytest.fixture(scope="module")
def noise_result() -> Stability:
    U = np.random.default_rng(0).uniform(size=(600, 2))
    return bootstrap_stability(U, kmeans_fp(6)(U, 0), kmeans_fp(6))


def test_separated_blobs_are_stable(blobs_result: Stability) -> None:
    # measured: overall 1.00, every segment 1.00
    assert blobs_result.overall >= 0.9
    assert all(j >= 0.9 for j in blobs_result.per_segment)
    assert blobs_result.n_resamples == DEFAULT_RESAMPLES
    assert len(blobs_result.ari) == DEFAULT_RESAMPLES
    assert blobs_result.sample_size == 600
    assert blobs_result.unstable_segments() == ()
    assert {blobs_result.verdict(s) for s in range(4)} == {"stable"}
    assert blobs_result.warnings(list("ABCD")) == []


def test_forced_segments_on_noise_are_less_stable(
    blobs_result: Stability, noise_result: Stability
) -> None:
    # measured: overall 0.72 (0.61 to 0.75 over data seeds 0-4); segments
    # 0.64 to 0.90, five of six "fairly stable"
    assert noise_result.overall < 0.8
    assert blobs_result.overall - noise_result.overall >= 0.15
    verdicts = [noise_result.verdict(s) for s in range(6)]
    assert set(verdicts) & {"unstable", "fairly stable"}
    warnings = noise_result.warnings([f"seg{s}" for s in range(6)])
    assert any("fairly stable" in w or "unstable" in w for w in warnings)
    assert "as a whole" in warnings[-1]


def test_exact_reproduction_up_to_permutation_scores_one() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    labels = rng.integers(0, 4, size=200)
    perm = np.array([2, 0, 3, 1])
    lookup = {tuple(row): lab for row, lab in zip(X, labels, strict=True)}

    def fit_predict(Xb: np.ndarray, seed: int) -> np.ndarray:
        return perm[np.array([lookup[tuple(row)] for row in Xb])]

    st = bootstrap_stability(X, labels, fit_predict, n_resamples=5)
    assert st.overall == 1.0
    assert st.per_segment == (1.0, 1.0, 1.0, 1.0)
    assert st.ari == (1.0,) * 5


def test_random_labels_score_low() -> None:
    X, _ = make_blobs(400, centers=3, random_state=2)
    labels = kmeans_fp(3)(X, 0)

    def fit_predict(Xb: np.ndarray, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).integers(0, 3, size=len(Xb))

    st = bootstrap_stability(X, labels, fit_predict, n_resamples=10)
    assert abs(st.overall) < 0.05
    assert all(j < 0.5 for j in st.per_segment)
    assert st.unstable_segments() == (0, 1, 2)
    assert "as a whole is unstable" in st.warnings(["a", "b", "c"])[-1]


def test_noise_label_is_left_out_of_segment_jaccard() -> None:
    # segment 0 is found exactly; segment 1 dissolves into bootstrap noise;
    # reference noise rows join cluster 0 in the bootstrap without penalty.
    ref = np.array([0, 0, 0, 1, 1, 1, -1, -1])
    new = np.array([4, 4, 4, -1, -1, 7, 4, 4])
    np.testing.assert_allclose(_best_jaccard(ref, new, 2), [1.0, 1 / 3])


def test_noise_reference_labels_end_to_end(
    blobs: tuple[np.ndarray, np.ndarray],
) -> None:
    X, labels = blobs
    noisy = labels.copy()
    noisy[::10] = -1  # 60 rows of "noise" in the reference
    centres = np.array([X[labels == s].mean(axis=0) for s in range(4)])

    def fit_predict(Xb: np.ndarray, seed: int) -> np.ndarray:
        # the true blobs, with the rows far from every centre called noise
        d = np.linalg.norm(Xb[:, None] - centres[None], axis=2)
        out = d.argmin(axis=1)
        out[d.min(axis=1) > 1.5] = -1
        return out

    st = bootstrap_stability(X, noisy, fit_predict, n_resamples=5)
    assert len(st.per_segment) == 4
    assert all(j >= 0.9 for j in st.per_segment)  # noise rows do not count
    assert st.overall < 1.0  # but noise is a label in the ARI


def test_deterministic() -> None:
    U = np.random.default_rng(3).uniform(size=(300, 2))
    labels = kmeans_fp(5)(U, 0)
    seeds: list[int] = []

    def fit_predict(Xb: np.ndarray, seed: int) -> np.ndarray:
        seeds.append(seed)
        return kmeans_fp(5)(Xb, seed)

    a = bootstrap_stability(U, labels, fit_predict, n_resamples=4, random_state=7)
    b = bootstrap_stability(U, labels, fit_predict, n_resamples=4, random_state=7)
    assert a == b
    assert seeds[:4] == seeds[4:] and len(set(seeds[:4])) == 4
    c = bootstrap_stability(U, labels, fit_predict, n_resamples=4, random_state=8)
    assert c.ari != a.ari
    assert c.random_state == 8


def test_large_data_are_subsampled() -> None:
    X, _ = make_blobs(3000, centers=3, cluster_std=0.5, random_state=4)
    labels = kmeans_fp(3)(X, 0)
    sizes: list[int] = []
    calls: list[tuple[int, int]] = []

    def fit_predict(Xb: np.ndarray, seed: int) -> np.ndarray:
        sizes.append(len(Xb))
        return kmeans_fp(3)(Xb, seed)

    st = bootstrap_stability(
        X,
        labels,
        fit_predict,
        n_resamples=3,
        sample_size=500,
        progress=lambda step, done, total: calls.append((done, total)),
    )
    assert st.sample_size == 500
    assert sizes == [500, 500, 500]
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert st.overall >= 0.9


def test_to_dict_is_plain_json() -> None:
    st = Stability(0.7, (0.9, 0.7, 0.4, float("nan")), (0.6, 0.8), 2, 100, 0)
    d = json.loads(json.dumps(st.to_dict(), allow_nan=False))
    assert d["per_segment"] == [0.9, 0.7, 0.4, None]
    assert d["verdicts"] == ["stable", "fairly stable", "unstable", "not measured"]
    assert d["unstable_segments"] == [2]
    assert d["thresholds"] == {"stable": STABLE, "unstable": UNSTABLE}
    assert d["sample_size"] == 100


def test_warning_wording() -> None:
    st = Stability(0.9, (0.95, 0.48, 0.7), (0.9,), 1, 100, 0)
    w = st.warnings(["Loyal", "Budget shoppers", "Occasional"])
    assert w[0] == (
        'Segment 1 "Budget shoppers" is unstable: in resampled data the '
        "best-matching segment shares only 48% of its customers with it "
        "(Jaccard 0.48 < 0.60). Treat it as tentative; try fewer segments."
    )
    assert w[1].startswith('Segment 2 "Occasional" is only fairly stable')
    assert len(w) == 2
    # Segment numbers kept from an earlier model are shown as such.
    shown = st.warnings(["Loyal", "Budget shoppers", "Occasional"], numbers=[4, 0, 7])
    assert shown[0].startswith('Segment 0 "Budget shoppers" is unstable')
    with pytest.raises(ParameterError, match="names has 2 entries but there are 3"):
        st.warnings(["a", "b"])
    with pytest.raises(ParameterError, match="segment must be in 0..2"):
        st.verdict(3)


def _fp(X: np.ndarray, seed: int) -> np.ndarray:
    return np.zeros(len(X), dtype=int)


@pytest.mark.parametrize(
    ("X", "labels", "kwargs", "match"),
    [
        (np.zeros(5), np.zeros(5, int), {}, "X must be 2-D"),
        (np.zeros((5, 2)), np.zeros(4, int), {}, "one entry per row of X"),
        (np.zeros((5, 2)), np.full(5, 0.5), {}, "labels must be integers"),
        (np.zeros((5, 2)), np.array([0, 1, -2, 0, 1]), {}, "got -2"),
        (np.zeros((5, 2)), np.full(5, -1), {}, "every row in noise"),
        (np.zeros((5, 2)), np.array([0, 2, 2, 0, 0]), {}, "segment 1 has no rows"),
        (np.zeros((5, 2)), np.zeros(5, int), {"n_resamples": 0}, "n_resamples"),
        (np.zeros((5, 2)), np.zeros(5, int), {"sample_size": 1.5}, "sample_size"),
        (np.zeros((5, 2)), np.zeros(5, int), {"random_state": -1}, "random_state"),
        (np.zeros((1, 2)), np.zeros(1, int), {}, "at least 2 rows"),
    ],
)
def test_bad_inputs(
    X: np.ndarray, labels: np.ndarray, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ParameterError, match=match):
        bootstrap_stability(X, labels, _fp, **kwargs)  # type: ignore[arg-type]


def test_bad_fit_predict() -> None:
    X, labels = np.zeros((5, 2)), np.zeros(5, int)
    with pytest.raises(ParameterError, match="must be a callable"):
        bootstrap_stability(X, labels, None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"shape \(4,\) for 5 rows"):
        bootstrap_stability(X, labels, lambda Xb, s: np.zeros(4, int))
    with pytest.raises(ParameterError, match="integer labels"):
        bootstrap_stability(X, labels, lambda Xb, s: np.zeros(5))


def test_subsample_scheme_draws_without_replacement() -> None:
    """scheme="subsample" hands fit_predict 80% of the rows, each once, and
    still scores a faithful clustering 1.0."""
    X, y = make_blobs(500, centers=3, cluster_std=0.4, random_state=3)
    seen: list[int] = []

    def fit_predict(Xb: np.ndarray, seed: int) -> np.ndarray:
        seen.append(len(Xb))
        assert len(np.unique(Xb, axis=0)) == len(Xb)
        return kmeans(Xb, 3, n_init=3, random_state=seed).labels

    st = bootstrap_stability(X, y, fit_predict, n_resamples=4, scheme="subsample")
    assert seen == [400] * 4
    assert st.overall == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="scheme must be"):
        bootstrap_stability(X, y, fit_predict, scheme="jackknife")
