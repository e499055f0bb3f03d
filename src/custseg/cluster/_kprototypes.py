"""K-prototypes for mixed numeric and categorical data, compiled by numba.

Algorithm
---------
K-prototypes (Huang, 1997) is K-Means on the numeric columns and k-modes on the
categorical columns at once. A prototype is a pair (numeric centre, modes); the
dissimilarity of a row ``(x, z)`` to a prototype ``(c, q)`` is::

    d = sum_j (x_j - c_j)^2  +  gamma * #{l : z_l != q_l}

the squared Euclidean distance on the numeric columns plus ``gamma`` times the
number of categorical columns where the row's code differs from the mode. The
cost of a partition is the sum of ``d`` over the rows, each to its prototype.

Fits are batch (Lloyd-style) iterations: every row goes to its nearest
prototype, then each prototype becomes the mean of its rows' numeric columns
and, per categorical column, the most frequent code among its rows. Both steps
can only lower the cost; the fit stops after a pass that changes no label, or
after ``max_iter`` passes. Each of the ``n_init`` fits starts from a greedy
k-means++ seeding on the mixed dissimilarity (rows drawn with probability
proportional to ``d`` to the nearest seed so far, the best of
``2 + int(log(k))`` candidates kept each time, as scikit-learn does), drawn
from ``numpy.random.default_rng(random_state)``; the fit with the lowest cost
wins.

Two things make a pass cheap without changing its result. Rows and prototypes
embed in one Euclidean space whose squared distance is ``d`` (numeric columns,
plus ``sqrt(gamma / 2)`` times a one-hot vector per categorical column), so
Hamerly's bounds apply: a row whose bounds prove its prototype nearer than any
other, by a relative margin far above rounding, is not looked at again; every
other row is compared with every prototype exactly as a plain pass would, so
the labels are those of the plain algorithm. And rows that change cluster are
moved between running sums and code counts; since float sums drift by
rounding, they are recounted from scratch before the fit may stop, so the
returned prototypes are the exact means and modes of the returned labels.

gamma
-----
``gamma`` is the price of one categorical mismatch in units of squared numeric
distance. A larger ``gamma`` lets the categorical columns dominate; with
``gamma = 0`` they are ignored. Huang suggests the average standard deviation
of the numeric columns; the ``kmodes`` package defaults to half of it
(``0.5`` for standardised columns).

Rules
-----
- Ties in the assignment go to the lowest prototype index; ties between codes
  in a mode go to the smallest code.
- A code of ``-1`` means missing: it mismatches every mode and is not counted
  when modes are computed. A cluster with no known code in a column gets the
  mode ``-1`` there (it mismatches every row).
- A cluster left empty by a pass is re-seeded with the row farthest from its
  own prototype (lowest row index on ties) taken from a cluster of two rows or
  more; empty clusters are filled in index order.
- Everything runs on one thread in a fixed order, so the same inputs and
  ``random_state`` give bitwise the same result.

Why our own implementation
--------------------------
``kmodes.kprototypes.KPrototypes`` (kmodes 0.12) loops over the rows in Python.
On planted data with 4 numeric and 3 categorical columns (k = 5, one fit,
``n_init=1``; ``benchmarks/kprototypes.py``, two runs on 2 shared, noisy
cores) it took 2.7-3.2 s at 5,000 rows and 10-14 s at 20,000 rows, this module
0.002-0.003 s and 0.008-0.010 s: some 1,200-1,500 times less, reaching the
same final cost (its default ``n_init=10`` runs ten such fits). The cost
functions agree exactly: its prototypes scored by :func:`assign_prototypes`
give its ``cost_``. At 100,000 rows one fit takes 0.05 s, and choosing k over
2..10 with ``n_init=3`` (27 fits) 3-4.5 s. Compiled code is cached on disk
(``cache=True``); the first call in a fresh checkout compiles for about 5 s.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

from custseg.errors import ParameterError

__all__ = ["KPrototypesFit", "assign_prototypes", "kprototypes"]

#: Most cells (clusters x categories summed over the columns) in the frequency
#: table that modes are counted in; more means the codes are not compact.
_MAX_FREQ_CELLS = 50_000_000
#: A row keeps its prototype without a check when its bounds prove it nearer than
#: any other by this factor (rounding errors are some 1e-14 relative).
_SAFE = 1.0 + 1e-9


@dataclass(frozen=True)
class KPrototypesFit:
    """The outcome of a k-prototypes fit.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,), int64
        Cluster of each row, ``0 .. k-1``.
    numeric_centers : ndarray of shape (k, n_numeric), float64
        Mean of the numeric columns over each cluster's rows.
    modes : ndarray of shape (k, n_categorical), int64
        Most frequent code of each categorical column in each cluster (the
        smallest code on ties; ``-1`` where the cluster has no known code).
    cost : float
        Sum over the rows of the squared numeric distance to their prototype
        plus ``gamma`` times their categorical mismatches.
    n_iter : int
        Number of assignment passes of the winning fit; when it converged, the
        last pass changed no label.
    """

    labels: np.ndarray
    numeric_centers: np.ndarray
    modes: np.ndarray
    cost: float
    n_iter: int


# --------------------------------------------------------------------------
# Compiled kernels
# --------------------------------------------------------------------------
# The loop over iterations runs in Python, and the work arrays are allocated
# there: compile time grows with every numba function and every numpy routine
# compiled into one, while a Python iteration costs microseconds.


@njit(cache=True, nogil=True, inline="always")
def _dist(
    X: np.ndarray,
    codes: np.ndarray,
    centers: np.ndarray,
    modes: np.ndarray,
    gamma: float,
    i: int,
    c: int,
) -> float:  # pragma: no cover - compiled
    """Dissimilarity of row ``i`` to prototype ``c``."""
    d = 0.0
    for j in range(X.shape[1]):
        diff = X[i, j] - centers[c, j]
        d += diff * diff
    mism = 0
    for q in range(codes.shape[1]):
        z = codes[i, q]
        if z < 0 or z != modes[c, q]:
            mism += 1
    return d + gamma * mism


@njit(cache=True, nogil=True, inline="always")
def _proto_dist(
    C1: np.ndarray,
    Q1: np.ndarray,
    a: int,
    C2: np.ndarray,
    Q2: np.ndarray,
    b: int,
    gamma: float,
) -> float:  # pragma: no cover - compiled
    """Dissimilarity between two prototypes in the embedding of the bounds.

    Rows and prototypes embed in one Euclidean space (the numeric columns,
    then ``sqrt(gamma / 2)`` times a one-hot vector per categorical column,
    where a row's ``-1`` and a mode's ``-1`` are two more categories) in which
    the squared distance from a row to a prototype is exactly :func:`_dist`.
    Between two prototypes a column counts when their modes differ.
    """
    d = 0.0
    for j in range(C1.shape[1]):
        diff = C1[a, j] - C2[b, j]
        d += diff * diff
    mism = 0
    for q in range(Q1.shape[1]):
        if Q1[a, q] != Q2[b, q]:
            mism += 1
    return d + gamma * mism


@njit(cache=True, nogil=True, inline="always")
def _move(
    X: np.ndarray,
    codes: np.ndarray,
    offsets: np.ndarray,
    i: int,
    c: int,
    add: bool,
    sums: np.ndarray,
    freq: np.ndarray,
    counts: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Add row ``i`` to (or remove it from) cluster ``c``'s sums and counts."""
    step = 1 if add else -1
    counts[c] += step
    for j in range(X.shape[1]):
        if add:
            sums[c, j] += X[i, j]
        else:
            sums[c, j] -= X[i, j]
    for q in range(codes.shape[1]):
        z = codes[i, q]
        if z >= 0:
            freq[c, offsets[q] + z] += step


@njit(cache=True, nogil=True)
def _assign(
    X: np.ndarray,
    codes: np.ndarray,
    centers: np.ndarray,
    modes: np.ndarray,
    gamma: float,
    labels: np.ndarray,
) -> float:  # pragma: no cover - compiled
    """Nearest prototype of every row (lowest index on ties); returns the cost.

    A prototype whose numeric part alone already reaches the best so far is
    not finished: it cannot win, whatever its mismatches.
    """
    n, p = X.shape
    m = codes.shape[1]
    cost = 0.0
    for i in range(n):
        best = np.inf
        best_c = 0
        for c in range(centers.shape[0]):
            d = 0.0
            for j in range(p):
                diff = X[i, j] - centers[c, j]
                d += diff * diff
            if d >= best:
                continue
            mism = 0
            for q in range(m):
                z = codes[i, q]
                if z < 0 or z != modes[c, q]:
                    mism += 1
            d += gamma * mism
            if d < best:
                best = d
                best_c = c
        labels[i] = best_c
        cost += best
    return cost


@njit(cache=True, nogil=True)
def _cost(
    X: np.ndarray,
    codes: np.ndarray,
    centers: np.ndarray,
    modes: np.ndarray,
    gamma: float,
    labels: np.ndarray,
) -> float:  # pragma: no cover - compiled
    """Cost of the given labels against the given prototypes (row order)."""
    cost = 0.0
    for i in range(X.shape[0]):
        cost += _dist(X, codes, centers, modes, gamma, i, labels[i])
    return cost


@njit(cache=True, nogil=True)
def _pass(
    X: np.ndarray,
    codes: np.ndarray,
    offsets: np.ndarray,
    gamma: float,
    centers: np.ndarray,
    modes: np.ndarray,
    shift: np.ndarray,
    half: np.ndarray,
    labels: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    sums: np.ndarray,
    freq: np.ndarray,
    counts: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """One assignment pass with Hamerly's bounds; returns the number of moves.

    ``upper[i]`` bounds from above the distance (the square root of the
    dissimilarity) of row ``i`` to its prototype and ``lower[i]`` from below
    its distance to every other prototype, as they were before the prototypes
    moved by ``shift``. A row whose bounds prove its prototype nearer than any
    other by a factor of ``_SAFE`` (far above rounding) keeps it unchecked;
    every other row gets the arithmetic of :func:`_assign`, so the labels are
    exactly those of a plain pass. A row that changes cluster is moved between
    the running sums and code counts. Unlabelled rows (``-1``) are added.
    """
    k = centers.shape[0]
    for a in range(k):  # half the gap to the nearest other prototype
        nearest = np.inf
        for b in range(k):
            if b != a:
                d = _proto_dist(centers, modes, a, centers, modes, b, gamma)
                nearest = min(nearest, d)
        half[a] = 0.5 * math.sqrt(nearest)
    top = 0  # the prototype that moved most, and how far the others moved
    for c in range(k):
        if shift[c] > shift[top]:
            top = c
    runner_up = 0.0
    for c in range(k):
        if c != top:
            runner_up = max(runner_up, shift[c])
    changed = 0
    for i in range(X.shape[0]):
        a = labels[i]
        full = True
        if a >= 0:
            upper[i] += shift[a]
            lower[i] = max(lower[i] - (runner_up if a == top else shift[top]), 0.0)
            bound = max(lower[i], half[a])
            if upper[i] * _SAFE < bound:
                full = False
            else:
                upper[i] = math.sqrt(_dist(X, codes, centers, modes, gamma, i, a))
                full = not upper[i] * _SAFE < bound
        if full:
            best = np.inf
            second = np.inf
            best_c = 0
            for c in range(k):
                d = _dist(X, codes, centers, modes, gamma, i, c)
                if d < best:
                    second = best
                    best = d
                    best_c = c
                elif d < second:
                    second = d
            upper[i] = math.sqrt(best)
            lower[i] = math.sqrt(second)
            if best_c != a:
                changed += 1
                if a >= 0:
                    _move(X, codes, offsets, i, a, False, sums, freq, counts)
                _move(X, codes, offsets, i, best_c, True, sums, freq, counts)
                labels[i] = best_c
    return changed


@njit(cache=True, nogil=True)
def _prototypes(
    X: np.ndarray,
    codes: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
    recount: bool,
    sums: np.ndarray,
    freq: np.ndarray,
    counts: np.ndarray,
    new_c: np.ndarray,
    new_q: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Means and modes of the clusters (smallest code on ties, -1 if none).

    With ``recount``, the sums and code counts are first recounted from
    scratch in row order.
    """
    k, p = new_c.shape
    m = new_q.shape[1]
    if recount:
        for c in range(k):
            counts[c] = 0
            for j in range(p):
                sums[c, j] = 0.0
            for z in range(freq.shape[1]):
                freq[c, z] = 0
        for i in range(X.shape[0]):
            _move(X, codes, offsets, i, labels[i], True, sums, freq, counts)
    for c in range(k):
        for j in range(p):
            new_c[c, j] = sums[c, j] / counts[c]
        for q in range(m):
            best_z = -1
            best_f = 0
            for z in range(offsets[q + 1] - offsets[q]):
                f = freq[c, offsets[q] + z]
                if f > best_f:
                    best_z = z
                    best_f = f
            new_q[c, q] = best_z


@njit(cache=True, nogil=True)
def _advance(
    new_c: np.ndarray,
    new_q: np.ndarray,
    centers: np.ndarray,
    modes: np.ndarray,
    gamma: float,
    shift: np.ndarray,
) -> bool:  # pragma: no cover - compiled
    """Move the prototypes to the new ones; whether none changed at all.

    ``shift[c]`` receives how far prototype ``c`` moved (in the embedding of
    :func:`_proto_dist`).
    """
    same = True
    for c in range(centers.shape[0]):
        shift[c] = math.sqrt(_proto_dist(new_c, new_q, c, centers, modes, c, gamma))
        for j in range(centers.shape[1]):
            if new_c[c, j] != centers[c, j]:
                same = False
                centers[c, j] = new_c[c, j]
        for q in range(modes.shape[1]):
            if new_q[c, q] != modes[c, q]:
                same = False
                modes[c, q] = new_q[c, q]
    return same


@njit(cache=True, nogil=True)
def _reseed(
    X: np.ndarray,
    codes: np.ndarray,
    centers: np.ndarray,
    modes: np.ndarray,
    gamma: float,
    labels: np.ndarray,
    counts: np.ndarray,
    dist: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Give each empty cluster the row farthest from its prototype.

    Candidates are rows of clusters with two rows or more; ties go to the
    lowest row index; empty clusters are filled in index order. Updates
    ``labels`` and ``counts``; ``dist`` is work space.
    """
    n = X.shape[0]
    for i in range(n):
        dist[i] = _dist(X, codes, centers, modes, gamma, i, labels[i])
    for e in range(centers.shape[0]):
        if counts[e] > 0:
            continue
        far = -1
        far_d = -1.0
        for i in range(n):
            if counts[labels[i]] > 1 and dist[i] > far_d:
                far = i
                far_d = dist[i]
        counts[labels[far]] -= 1
        labels[far] = e
        counts[e] = 1
        dist[far] = 0.0


@njit(cache=True, nogil=True)
def _seed(
    X: np.ndarray,
    codes: np.ndarray,
    gamma: float,
    uniforms: np.ndarray,
    chosen: np.ndarray,
    closest: np.ndarray,
    cum: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Greedy k-means++ on the mixed dissimilarity: row indices into ``chosen``.

    A seed is the prototype made of one row (its numeric values and codes).
    ``chosen[0]`` is given. ``uniforms[s]`` holds the draws in [0, 1) for the
    candidates of seed ``s + 1``: each picks a row with probability
    proportional to its dissimilarity to the nearest seed so far, and the
    candidate that lowers the summed dissimilarity most wins (the first on
    ties). ``closest`` and ``cum`` are work space.
    """
    n = X.shape[0]
    for i in range(n):
        closest[i] = _dist(X, codes, X, codes, gamma, i, chosen[0])
    for s in range(1, chosen.shape[0]):
        total = 0.0
        for i in range(n):
            total += closest[i]
            cum[i] = total
        best_r = -1
        best_pot = np.inf
        for t in range(uniforms.shape[1]):
            u = uniforms[s - 1, t]
            if total > 0.0:
                target = u * total
                lo = 0
                hi = n
                while lo < hi:  # the first row whose cumulative sum exceeds it
                    mid = (lo + hi) // 2
                    if cum[mid] > target:
                        hi = mid
                    else:
                        lo = mid + 1
                r = min(lo, n - 1)
                while closest[r] == 0.0 and r > 0:  # only rows not yet at a seed
                    r -= 1
            else:
                r = min(int(u * n), n - 1)
            pot = 0.0
            for i in range(n):
                pot += min(closest[i], _dist(X, codes, X, codes, gamma, i, r))
            if pot < best_pot:
                best_pot = pot
                best_r = r
        chosen[s] = best_r
        for i in range(n):
            closest[i] = min(closest[i], _dist(X, codes, X, codes, gamma, i, best_r))


def _fit_from(
    X: np.ndarray,
    Z: np.ndarray,
    gamma: float,
    offsets: np.ndarray,
    centers: np.ndarray,
    modes: np.ndarray,
    max_iter: int,
) -> tuple[np.ndarray, float, int]:
    """Batch iterations from the given prototypes (updated in place).

    Returns the labels, the cost and the number of assignment passes. Running
    float sums drift by rounding, so before stopping the sums are recounted
    from scratch: a fit ends only on a pass that changed no label against
    prototypes computed from exact sums, which are then the means and modes of
    the returned labels (and are so after ``max_iter`` passes too).
    """
    n, p = X.shape
    k, m = modes.shape[0], Z.shape[1]
    labels = np.full(n, -1, dtype=np.int64)
    upper = np.full(n, np.inf)
    lower = np.zeros(n)
    sums = np.zeros((k, p))
    freq = np.zeros((k, int(offsets[-1])), dtype=np.int64)
    counts = np.zeros(k, dtype=np.int64)
    shift = np.zeros(k)
    half = np.empty(k)
    new_c = np.empty((k, p))
    new_q = np.empty((k, m), dtype=np.int64)
    exact = False  # the prototypes come from sums recounted for these labels
    for it in range(1, max_iter + 1):
        moved = _pass(
            X, Z, offsets, gamma, centers, modes, shift, half,
            labels, upper, lower, sums, freq, counts,
        )  # fmt: skip
        if moved == 0:
            if exact:
                return labels, float(_cost(X, Z, centers, modes, gamma, labels)), it
            _prototypes(X, Z, offsets, labels, True, sums, freq, counts, new_c, new_q)
            exact = True
            if _advance(new_c, new_q, centers, modes, gamma, shift):
                return labels, float(_cost(X, Z, centers, modes, gamma, labels)), it
            continue
        exact = False
        if counts.min() == 0:
            _reseed(X, Z, centers, modes, gamma, labels, counts, np.empty(n))
            exact = True
            upper[:] = np.inf  # the bounds of the moved rows no longer hold
            lower[:] = 0.0
        _prototypes(X, Z, offsets, labels, exact, sums, freq, counts, new_c, new_q)
        _advance(new_c, new_q, centers, modes, gamma, shift)
    if not exact:
        _prototypes(X, Z, offsets, labels, True, sums, freq, counts, centers, modes)
    return labels, float(_cost(X, Z, centers, modes, gamma, labels)), max_iter


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} must be an integer; got {value!r}")
    if value < low:
        raise ParameterError(f"{name} must be >= {low}; got {value}")
    return int(value)


def _check_gamma(gamma: object) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise ParameterError(f"gamma must be a number; got {gamma!r}")
    value = float(gamma)
    if not math.isfinite(value) or value < 0:
        raise ParameterError(f"gamma must be finite and >= 0; got {gamma!r}")
    return value


def _check_data(X_num: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X_num)
    Z = np.asarray(codes)
    if X.ndim != 2:
        raise ParameterError(
            f"X_num must be a 2-D array (n_samples, n_numeric); got {X.ndim}-D"
        )
    if Z.ndim != 2:
        raise ParameterError(
            f"codes must be a 2-D array (n_samples, n_categorical); got {Z.ndim}-D"
        )
    if X.shape[0] != Z.shape[0]:
        raise ParameterError(
            f"X_num and codes must have the same number of rows; "
            f"got {X.shape[0]} and {Z.shape[0]}"
        )
    if X.shape[1] + Z.shape[1] == 0:
        raise ParameterError("X_num and codes have no columns between them")
    if X.dtype.kind not in "fiu":
        raise ParameterError(f"X_num must hold real numbers; got dtype {X.dtype}")
    if Z.dtype.kind not in "iu":
        raise ParameterError(
            f"codes must hold integer category codes; got dtype {Z.dtype}"
        )
    X = np.ascontiguousarray(X, dtype=np.float64)
    Z = np.ascontiguousarray(Z, dtype=np.int64)
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise ParameterError(
            f"X_num holds NaN or infinity in {bad.size} row(s), the first at "
            f"index {bad[0]}"
        )
    if Z.size and Z.min() < -1:
        raise ParameterError(
            f"codes must be >= 0, or -1 for missing; found {int(Z.min())}"
        )
    return X, Z


def _check_prototypes(
    numeric_centers: np.ndarray, modes: np.ndarray, p: int, m: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    C = np.asarray(numeric_centers)
    Q = np.asarray(modes)
    if C.ndim != 2 or C.shape[1] != p or C.dtype.kind not in "fiu":
        raise ParameterError(
            f"{what} numeric centres must be a numeric array of shape (k, {p}); "
            f"got shape {C.shape}"
        )
    if Q.ndim != 2 or Q.shape[1] != m or (Q.size and Q.dtype.kind not in "iu"):
        raise ParameterError(
            f"{what} modes must be an integer array of shape (k, {m}); "
            f"got shape {Q.shape}"
        )
    if C.shape[0] != Q.shape[0]:
        raise ParameterError(
            f"{what} numeric centres and modes must have the same number of "
            f"rows; got {C.shape[0]} and {Q.shape[0]}"
        )
    if C.shape[0] < 1:
        raise ParameterError(f"{what} must hold at least one prototype")
    C = np.array(C, dtype=np.float64, order="C")  # a copy: updated in place
    Q = np.array(Q, dtype=np.int64, order="C")
    if not np.isfinite(C).all():
        raise ParameterError(f"{what} numeric centres hold NaN or infinity")
    if Q.size and Q.min() < -1:
        raise ParameterError(f"{what} modes must be >= -1; found {int(Q.min())}")
    return C, Q


def _offsets(Z: np.ndarray, k: int) -> np.ndarray:
    """Start of each column's categories in a row of the frequency table."""
    n_cats = Z.max(axis=0) + 1 if Z.shape[0] else np.zeros(Z.shape[1], np.int64)
    offsets = np.zeros(Z.shape[1] + 1, dtype=np.int64)
    np.cumsum(np.maximum(n_cats, 0), out=offsets[1:])
    if k * int(offsets[-1]) > _MAX_FREQ_CELLS:
        raise ParameterError(
            f"codes are not compact: {int(offsets[-1]):,} categories over the "
            f"columns for k={k}; number the categories of each column 0, 1, ..."
        )
    return offsets


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def kprototypes(
    X_num: np.ndarray,
    codes: np.ndarray,
    k: int,
    *,
    gamma: float,
    n_init: int = 10,
    max_iter: int = 100,
    random_state: int = 0,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> KPrototypesFit:
    """Cluster mixed numeric and categorical rows by k-prototypes.

    Parameters
    ----------
    X_num : ndarray of shape (n_samples, n_numeric)
        Numeric columns, already scaled (``n_numeric`` may be 0). Converted to
        float64 once.
    codes : ndarray of shape (n_samples, n_categorical)
        Integer category codes ``0, 1, ...`` per column, ``-1`` for missing
        (``n_categorical`` may be 0). A column has ``codes[:, j].max() + 1``
        categories.
    k : int
        Number of clusters, ``1 <= k <= n_samples``.
    gamma : float
        Weight of one categorical mismatch against squared numeric distance
        (finite, >= 0).
    n_init : int, default=10
        Number of seeded fits; the one with the lowest cost wins (the first
        on ties). Ignored (one fit) when ``init`` is given.
    max_iter : int, default=100
        Maximum number of assignment passes of each fit.
    random_state : int, default=0
        Seed of the ``numpy.random.default_rng`` generator that draws the
        seedings, fit after fit.
    init : tuple of (ndarray of shape (k, n_numeric), ndarray of shape (k, n_categorical)), optional
        Starting numeric centres and modes instead of the seeding.

    Returns
    -------
    KPrototypesFit

    Raises
    ------
    ParameterError
        If ``k`` is outside ``1 .. n_samples``, the arrays disagree in rows or
        shape, ``X_num`` holds NaN or infinity, ``codes`` are not integers
        ``>= -1``, or another parameter is out of range.

    See Also
    --------
    assign_prototypes : Assign new rows to fitted prototypes.

    Notes
    -----
    The returned prototypes are the means and modes of the returned labels.
    When the fit converged (no label changed), the labels are also the nearest
    prototypes, so :func:`assign_prototypes` gives them back; after
    ``max_iter`` passes without convergence they may differ in a few rows.

    Examples
    --------
    >>> X = np.array([[0.0], [0.2], [5.0], [5.2]])
    >>> codes = np.array([[0], [0], [1], [1]])
    >>> fit = kprototypes(X, codes, 2, gamma=1.0, n_init=2)
    >>> sorted(fit.numeric_centers.ravel().round(3).tolist()), round(fit.cost, 3)
    ([0.1, 5.1], 0.04)
    >>> bool(fit.labels[0] == fit.labels[1] != fit.labels[2] == fit.labels[3])
    True
    """
    X, Z = _check_data(X_num, codes)
    n, p = X.shape
    m = Z.shape[1]
    k = _check_int(k, "k", 1)
    if k > n:
        raise ParameterError(f"k={k} is more than the number of rows ({n})")
    gamma = _check_gamma(gamma)
    n_init = _check_int(n_init, "n_init", 1)
    max_iter = _check_int(max_iter, "max_iter", 1)
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise ParameterError(f"random_state must be an integer; got {random_state!r}")
    offsets = _offsets(Z, k)

    if init is not None:
        if not isinstance(init, tuple) or len(init) != 2:
            raise ParameterError("init must be a tuple (numeric_centers, modes)")
        C, Q = _check_prototypes(init[0], init[1], p, m, "init")
        if C.shape[0] != k:
            raise ParameterError(f"init holds {C.shape[0]} prototypes; k={k}")
        labels, cost, n_iter = _fit_from(X, Z, gamma, offsets, C, Q, max_iter)
        return KPrototypesFit(labels, C, Q, cost, n_iter)

    rng = np.random.default_rng(int(random_state))
    n_trials = 2 + int(math.log(k))
    closest = np.empty(n)
    cum = np.empty(n)
    best: KPrototypesFit | None = None
    for _ in range(n_init):
        chosen = np.empty(k, dtype=np.int64)
        chosen[0] = rng.integers(n)
        _seed(X, Z, gamma, rng.random((k - 1, n_trials)), chosen, closest, cum)
        C, Q = X[chosen], Z[chosen]  # fancy indexing copies
        labels, cost, n_iter = _fit_from(X, Z, gamma, offsets, C, Q, max_iter)
        if best is None or cost < best.cost:
            best = KPrototypesFit(labels, C, Q, cost, n_iter)
    assert best is not None
    return best


def assign_prototypes(
    X_num: np.ndarray,
    codes: np.ndarray,
    numeric_centers: np.ndarray,
    modes: np.ndarray,
    gamma: float,
) -> tuple[np.ndarray, float]:
    """Assign rows to their nearest prototype, and the cost.

    Parameters
    ----------
    X_num : ndarray of shape (n_samples, n_numeric)
        Numeric columns, scaled as for the fit.
    codes : ndarray of shape (n_samples, n_categorical)
        Integer category codes, ``-1`` for missing (or a category unseen in
        the fit: it mismatches every mode alike).
    numeric_centers : ndarray of shape (k, n_numeric)
        E.g. ``KPrototypesFit.numeric_centers``.
    modes : ndarray of shape (k, n_categorical)
        E.g. ``KPrototypesFit.modes``.
    gamma : float
        Weight of one categorical mismatch, as in the fit.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64
        Index of the nearest prototype (the lowest index on ties).
    cost : float
        Sum of the rows' dissimilarities to their prototype.

    Raises
    ------
    ParameterError
        If the shapes disagree, or a value is out of range.

    Examples
    --------
    >>> labels, cost = assign_prototypes(
    ...     np.array([[0.0], [4.0]]), np.array([[1], [0]]),
    ...     np.array([[0.0], [5.0]]), np.array([[0], [0]]), gamma=2.0)
    >>> labels.tolist(), cost
    ([0, 1], 3.0)
    """
    X, Z = _check_data(X_num, codes)
    C, Q = _check_prototypes(numeric_centers, modes, X.shape[1], Z.shape[1], "the")
    gamma = _check_gamma(gamma)
    labels = np.empty(X.shape[0], dtype=np.int64)
    cost = _assign(X, Z, C, Q, gamma, labels)
    return labels, float(cost)
