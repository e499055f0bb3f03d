"""The mean silhouette coefficient, compiled with numba.

Choosing k computes a silhouette on a 10,000-row sample for every k, and the
structure check computes several more. scikit-learn's ``silhouette_score``
(pairwise distance blocks reduced label by label) took about 1 s per call on
that sample on this machine, most of a run's time at 100,000 rows; the kernel
here takes about a twentieth of that (``tests/test_scale_paths.py`` checks
that both give the same value).

How: the rows are sorted by label once, so each label's rows are one
contiguous range. For each row, the squared distances to every row are
accumulated feature by feature into one buffer (a loop over contiguous memory,
which LLVM vectorises), and the square roots are summed range by range. The
rows are split between two threads (numba functions compiled with
``nogil=True``; see ``_lloyd.py`` for why numba's own threading layer is not
used). Distances are exact differences in float64, not the expansion
``|x|^2 - 2 x.y + |y|^2``, so values are at least as precise as
scikit-learn's.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["silhouette"]


@numba.njit(nogil=True, fastmath=True, cache=True)
def _distance_sums(
    XT: np.ndarray, bounds: np.ndarray, start: int, stop: int, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    d, n = XT.shape
    k = len(bounds) - 1
    buf = np.empty(n)
    for i in range(start, stop):
        buf[:] = 0.0
        for f in range(d):
            xi = XT[f, i]
            row = XT[f]
            for j in range(n):
                t = row[j] - xi
                buf[j] += t * t
        for c in range(k):
            s = 0.0
            for j in range(bounds[c], bounds[c + 1]):
                s += math.sqrt(buf[j])
            out[i, c] = s


def silhouette(X: np.ndarray, labels: np.ndarray, n_threads: int = 2) -> float:
    """Mean silhouette coefficient of ``labels`` on ``X`` (Euclidean).

    As in scikit-learn, a row alone in its segment scores 0.

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> round(silhouette(X, np.array([0, 0, 1, 1])), 4)
    0.9703
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    _, lab = np.unique(labels[order], return_inverse=True)
    XT = np.ascontiguousarray(np.asarray(X, dtype=np.float64)[order].T)
    n = XT.shape[1]
    k = int(lab.max()) + 1
    counts = np.bincount(lab, minlength=k)
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    sums = np.empty((n, k))
    cuts = np.linspace(0, n, max(1, min(n_threads, n)) + 1).astype(int)
    if len(cuts) > 2:
        with ThreadPoolExecutor(len(cuts) - 2) as pool:
            jobs = [
                pool.submit(_distance_sums, XT, bounds, a, b, sums)
                for a, b in zip(cuts[1:-1], cuts[2:], strict=True)
            ]
            _distance_sums(XT, bounds, cuts[0], cuts[1], sums)
            for job in jobs:
                job.result()
    else:
        _distance_sums(XT, bounds, 0, n, sums)
    rows = np.arange(n)
    own = counts[lab].astype(np.float64)
    a = sums[rows, lab] / np.maximum(own - 1.0, 1.0)
    mean_other = sums / counts
    mean_other[rows, lab] = np.inf
    b = mean_other.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (b - a) / np.maximum(a, b)
    s[(own == 1) | ~np.isfinite(s)] = 0.0
    return float(s.mean())
