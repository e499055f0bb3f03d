"""k-prototypes: planted structure, hand-worked cases, a slow reference, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from custseg.cluster._kprototypes import (
    KPrototypesFit,
    assign_prototypes,
    kprototypes,
)
from custseg.errors import ParameterError


def planted(
    n_per: int = 150,
    k: int = 4,
    p: int = 3,
    n_cats: tuple[int, ...] = (4, 5, 6),
    tie: float = 0.85,
    spread: float = 8.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numeric blobs whose categorical columns follow the blob.

    A row takes its blob's category with probability ``tie``, else a uniform
    draw over the column's categories. ``spread=0`` puts every blob at the
    origin, so that only the categorical columns tell the groups apart.
    """
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per)
    centres = rng.normal(0, spread, size=(k, p))
    X = centres[y] + rng.normal(size=(y.size, p))
    codes = np.empty((y.size, len(n_cats)), dtype=np.int64)
    for q, c in enumerate(n_cats):
        own = rng.permutation(max(c, k))[:k] % c
        keep = rng.random(y.size) < tie
        codes[:, q] = np.where(keep, own[y], rng.integers(c, size=y.size))
    return X, codes, y


def reference(
    X: np.ndarray,
    codes: np.ndarray,
    centers: np.ndarray,
    modes: np.ndarray,
    gamma: float,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
    """Plain batch k-prototypes in numpy with the documented rules (slow)."""
    k = len(centers)
    C = centers.astype(np.float64)
    Q = modes.astype(np.int64)
    n_cats = np.maximum(codes.max(axis=0) + 1, 0) if codes.size else []

    def dissim(C: np.ndarray, Q: np.ndarray) -> np.ndarray:
        num = ((X[:, None, :] - C[None]) ** 2).sum(axis=2)
        miss = (codes[:, None, :] < 0) | (codes[:, None, :] != Q[None])
        return num + gamma * miss.sum(axis=2)

    labels = np.full(len(X), -1)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        d = dissim(C, Q)
        new = d.argmin(axis=1)  # the first minimum: lowest index on ties
        if (new == labels).all():
            break
        labels = new
        dist = d[np.arange(len(X)), labels]
        counts = np.bincount(labels, minlength=k)
        for e in np.flatnonzero(counts == 0):
            far = int(np.argmax(np.where(counts[labels] > 1, dist, -1.0)))
            counts[labels[far]] -= 1
            labels[far] = e
            counts[e] = 1
            dist[far] = 0.0
        C = np.array([X[labels == c].mean(axis=0) for c in range(k)])
        Q = np.full_like(Q, -1)
        for c in range(k):
            for q, width in enumerate(n_cats):
                col = codes[labels == c, q]
                freq = np.bincount(col[col >= 0], minlength=width)
                if freq.any():
                    Q[c, q] = int(np.argmax(freq))  # smallest code on ties
    cost = float(dissim(C, Q)[np.arange(len(X)), labels].sum())
    return labels, C, Q, cost, n_iter


# --------------------------------------------------------------------------
# Planted structure
# --------------------------------------------------------------------------


def test_recovers_planted_mixed_groups() -> None:
    X, codes, y = planted()
    fit = kprototypes(X, codes, 4, gamma=0.5, n_init=5)
    assert adjusted_rand_score(y, fit.labels) >= 0.9
    assert fit.labels.dtype == np.int64 and fit.modes.dtype == np.int64
    assert fit.numeric_centers.shape == (4, 3) and fit.modes.shape == (4, 3)


def test_categorical_columns_separate_groups_numeric_cannot() -> None:
    # All blobs share one centre: only the codes tell the groups apart.
    X, codes, y = planted(k=3, spread=0.0, n_cats=(3, 4, 5, 3), tie=0.9, seed=1)
    numeric_only = kprototypes(X, codes[:, :0], 3, gamma=1.0, n_init=5)
    mixed = kprototypes(X, codes, 3, gamma=2.0, n_init=5)
    assert adjusted_rand_score(y, numeric_only.labels) < 0.2
    assert adjusted_rand_score(y, mixed.labels) >= 0.9


def test_only_categorical_columns() -> None:
    _, codes, y = planted(k=3, n_cats=(5, 5, 5, 5), seed=2)
    X = np.empty((len(codes), 0))
    fit = kprototypes(X, codes, 3, gamma=1.0, n_init=5)
    assert adjusted_rand_score(y, fit.labels) >= 0.9
    assert fit.numeric_centers.shape == (3, 0)
    # The cost is gamma times the mismatches against the modes.
    mism = (codes != fit.modes[fit.labels]).sum()
    assert fit.cost == float(mism)


def test_only_numeric_columns_match_kmeans() -> None:
    X, _, y = planted(k=5, p=4, seed=3)
    fit = kprototypes(X, np.empty((len(X), 0), np.int64), 5, gamma=0.5, n_init=5)
    km = KMeans(n_clusters=5, n_init=5, random_state=0).fit(X)
    assert adjusted_rand_score(km.labels_, fit.labels) == pytest.approx(1.0)
    assert adjusted_rand_score(y, fit.labels) == pytest.approx(1.0)
    assert fit.cost == pytest.approx(km.inertia_, rel=1e-9)
    assert fit.modes.shape == (5, 0)


def test_missing_codes_still_recover_groups() -> None:
    X, codes, y = planted(seed=4)
    rng = np.random.default_rng(0)
    codes[rng.random(codes.shape) < 0.2] = -1
    fit = kprototypes(X, codes, 4, gamma=0.5, n_init=5)
    assert adjusted_rand_score(y, fit.labels) >= 0.9
    assert (fit.modes >= 0).all()


# --------------------------------------------------------------------------
# Worked by hand
# --------------------------------------------------------------------------


def test_hand_worked_fit() -> None:
    # {0, 2} and {10, 11, 12}; in cluster 0 column 1 ties between codes 2 and 1
    # (the smaller, 1, wins), in cluster 1 column 1 is 0 twice and 1 once.
    X = np.array([[0.0], [2.0], [10.0], [12.0], [11.0]])
    codes = np.array([[0, 2], [0, 1], [1, 0], [1, 0], [1, 1]])
    init = (np.array([[0.0], [12.0]]), np.array([[0, 1], [1, 0]]))
    fit = kprototypes(X, codes, 2, gamma=1.0, init=init)
    assert fit.labels.tolist() == [0, 0, 1, 1, 1]
    assert fit.numeric_centers.tolist() == [[1.0], [11.0]]
    assert fit.modes.tolist() == [[0, 1], [1, 0]]
    # numeric: 1 + 1 and 1 + 1 + 0; mismatches: row 0 column 1, row 4 column 1
    assert fit.cost == 6.0
    assert fit.n_iter == 2  # one pass that moves the rows, one that confirms
    # Seeded fits find the same partition.
    seeded = kprototypes(X, codes, 2, gamma=1.0, n_init=3)
    assert adjusted_rand_score(fit.labels, seeded.labels) == 1.0
    assert seeded.cost == 6.0


def test_hand_worked_assignment_and_ties() -> None:
    centers = np.array([[0.0], [10.0], [10.0]])
    modes = np.array([[0], [1], [1]])
    X = np.array([[5.0], [5.0], [9.0], [0.0]])
    codes = np.array([[0], [1], [-1], [-1]])
    labels, cost = assign_prototypes(X, codes, centers, modes, gamma=3.0)
    # row 0: 25 + 0 vs 25 + 3 -> 0; row 1: 25 + 3 vs 25 + 0 -> 1 (not 2: the
    # lowest index wins ties); rows 2 and 3: -1 mismatches every mode.
    assert labels.tolist() == [0, 1, 1, 0]
    assert cost == 25.0 + 25.0 + (1.0 + 3.0) + (0.0 + 3.0)


def test_missing_codes_do_not_vote() -> None:
    X = np.zeros((5, 1))
    codes = np.array([[-1, -1], [-1, -1], [2, -1], [9, 1], [9, 1]])
    init = (np.array([[0.0], [0.0]]), np.array([[2, -1], [9, 1]]))
    fit = kprototypes(X, codes, 2, gamma=1.0, init=init)
    assert fit.labels.tolist() == [0, 0, 0, 1, 1]
    # Column 0 of cluster 0 holds -1, -1, 2: the mode is 2. Column 1 holds
    # only -1: there is no mode (-1), which mismatches every row.
    assert fit.modes.tolist() == [[2, -1], [9, 1]]
    assert fit.cost == 5.0  # rows 0, 1: 2 mismatches each; row 2: 1


def test_empty_cluster_takes_the_farthest_row() -> None:
    X = np.array([[0.0], [1.0], [10.0]])
    codes = np.empty((3, 0), dtype=np.int64)
    # Two identical prototypes: every row ties and goes to 0, leaving 1 empty;
    # the row farthest from prototype 0 (10.0) re-seeds it.
    fit = kprototypes(X, codes, 2, gamma=1.0, init=(np.zeros((2, 1)), codes[:2]))
    assert fit.labels.tolist() == [0, 0, 1]
    assert fit.numeric_centers.tolist() == [[0.5], [10.0]]
    assert fit.cost == 0.5
    assert fit.n_iter == 2


def test_k_equal_to_n_and_k_one() -> None:
    X, codes, _ = planted(n_per=3, k=2)
    fit = kprototypes(X, codes, len(X), gamma=0.5, n_init=2)
    assert sorted(fit.labels.tolist()) == list(range(len(X)))
    assert fit.cost == 0.0
    one = kprototypes(X, codes, 1, gamma=0.5, n_init=1)
    assert (one.labels == 0).all()
    np.testing.assert_allclose(one.numeric_centers[0], X.mean(axis=0))


# --------------------------------------------------------------------------
# Against the slow reference, and the contracts
# --------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 5, 8])
@pytest.mark.parametrize("data", ["continuous", "dyadic", "categorical"])
def test_matches_reference(k: int, data: str) -> None:
    # Overlapping data, so that many rows move and the bounds that skip rows
    # are exercised; "dyadic" and "categorical" data are full of exact ties.
    rng = np.random.default_rng(k)
    n = 400
    if data == "continuous":
        X = rng.normal(size=(n, 3))
    elif data == "dyadic":
        X = rng.integers(0, 6, size=(n, 2)) / 4.0
    else:
        X = np.empty((n, 0))
    codes = rng.integers(-1, 4, size=(n, 3))
    gamma = 0.75
    seeds = rng.choice(n, k, replace=False)
    init = (X[seeds], codes[seeds])
    fit = kprototypes(X, codes, k, gamma=gamma, init=init)
    labels, C, Q, cost, n_iter = reference(X, codes, *init, gamma)
    np.testing.assert_array_equal(fit.labels, labels)
    np.testing.assert_allclose(fit.numeric_centers, C, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fit.modes, Q)
    assert fit.cost == pytest.approx(cost, rel=1e-12)
    assert n_iter <= fit.n_iter <= n_iter + 1


def test_same_seed_same_result() -> None:
    X, codes, _ = planted(seed=5, spread=3.0)
    a = kprototypes(X, codes, 6, gamma=0.5, n_init=3, random_state=7)
    b = kprototypes(X, codes, 6, gamma=0.5, n_init=3, random_state=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.numeric_centers, b.numeric_centers)
    np.testing.assert_array_equal(a.modes, b.modes)
    assert (a.cost, a.n_iter) == (b.cost, b.n_iter)


def test_best_of_several_fits() -> None:
    X, codes, _ = planted(seed=6, spread=2.0)
    best = kprototypes(X, codes, 5, gamma=0.5, n_init=4, random_state=3)
    first = kprototypes(X, codes, 5, gamma=0.5, n_init=1, random_state=3)
    assert best.cost <= first.cost  # the first of the four fits is this one
    # A converged fit is a fixed point: restarting from it changes nothing.
    again = kprototypes(X, codes, 5, gamma=0.5, init=(best.numeric_centers, best.modes))
    np.testing.assert_array_equal(again.labels, best.labels)
    assert (again.cost, again.n_iter) == (best.cost, 2)


def test_float32_input_is_used_as_float64() -> None:
    X, codes, _ = planted(seed=7)
    X32 = X.astype(np.float32)
    a = kprototypes(X32, codes.astype(np.int32), 4, gamma=0.5, n_init=2)
    b = kprototypes(X32.astype(np.float64), codes, 4, gamma=0.5, n_init=2)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.cost == b.cost


def test_assign_reproduces_fit() -> None:
    X, codes, _ = planted(seed=8, spread=2.0)
    codes[::7, 1] = -1
    fit = kprototypes(X, codes, 6, gamma=0.5, n_init=3)
    assert fit.n_iter < 100  # converged
    labels, cost = assign_prototypes(X, codes, fit.numeric_centers, fit.modes, 0.5)
    np.testing.assert_array_equal(labels, fit.labels)
    assert cost == fit.cost
    assert labels.dtype == np.int64
    # The prototypes are the means and modes of the labels.
    for c in range(6):
        np.testing.assert_allclose(
            fit.numeric_centers[c], X[fit.labels == c].mean(axis=0), rtol=1e-12
        )


def test_returns_fit_dataclass() -> None:
    X, codes, _ = planted(n_per=20)
    fit = kprototypes(X, codes, 3, gamma=0.5, n_init=1, max_iter=1)
    assert isinstance(fit, KPrototypesFit)
    assert fit.n_iter == 1
    # Stopped early: the prototypes are still the means of the labels.
    np.testing.assert_allclose(
        fit.numeric_centers[0], X[fit.labels == 0].mean(axis=0), rtol=1e-12
    )


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

X4 = np.arange(8.0).reshape(4, 2)
Z4 = np.zeros((4, 1), dtype=np.int64)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be >= 1"),
        ({"k": 5}, r"k=5 is more than the number of rows \(4\)"),
        ({"k": 2.0}, "k must be an integer"),
        ({"codes": Z4[:3]}, "same number of rows; got 4 and 3"),
        ({"X_num": np.array([[0.0, np.nan]] + [[0.0, 0.0]] * 3)}, "NaN or infinity"),
        ({"X_num": np.array([[0.0, 0.0]] * 3 + [[np.inf, 0.0]])}, "index 3"),
        ({"X_num": X4[:, 0]}, "X_num must be a 2-D array"),
        ({"codes": Z4 - 2}, "codes must be >= 0, or -1 for missing"),
        ({"codes": Z4.astype(float)}, "integer category codes"),
        ({"X_num": X4[:, :0], "codes": Z4[:, :0]}, "no columns"),
        ({"gamma": -1.0}, "gamma must be finite and >= 0"),
        ({"gamma": np.nan}, "gamma must be finite"),
        ({"n_init": 0}, "n_init must be >= 1"),
        ({"max_iter": 0}, "max_iter must be >= 1"),
        ({"random_state": None}, "random_state must be an integer"),
        ({"init": (np.zeros((2, 3)), np.zeros((2, 1), int))}, r"shape \(k, 2\)"),
        ({"init": (np.zeros((3, 2)), np.zeros((3, 1), int))}, "3 prototypes; k=2"),
        ({"init": (np.zeros((2, 2)), np.zeros((2, 1)))}, "integer array"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"X_num": X4, "codes": Z4, "k": 2, "gamma": 1.0}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        kprototypes(**args)  # type: ignore[arg-type]


def test_assign_bad_prototypes() -> None:
    with pytest.raises(ParameterError, match=r"shape \(k, 1\)"):
        assign_prototypes(X4, Z4, np.zeros((2, 2)), np.zeros((2, 2), int), 1.0)
    with pytest.raises(ParameterError, match="same number of rows"):
        assign_prototypes(X4, Z4, np.zeros((2, 2)), np.zeros((3, 1), int), 1.0)
    with pytest.raises(ParameterError, match="NaN or infinity"):
        assign_prototypes(X4, Z4, np.full((2, 2), np.nan), np.zeros((2, 1), int), 1.0)
