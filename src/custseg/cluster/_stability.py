"""Bootstrap stability of a segmentation: are the segments real, or an accident?

A segmentation can look convincing and still be an artefact of the seed or of
the particular customers in the table. This module measures how well it is found
again when the data are resampled, after Hennig's ``clusterboot`` (C. Hennig,
"Cluster-wise assessment of cluster stability", *Computational Statistics & Data
Analysis* 52 (2007) 258-271; R package ``fpc``).

Method
------
1. When the data have more than ``sample_size`` rows, a fixed-seed sample of
   ``sample_size`` rows, drawn without replacement, stands in for them.
2. Each of ``n_resamples`` times, a bootstrap sample of that many rows is drawn
   with replacement, and the caller's ``fit_predict`` clusters it afresh with
   its own seed (derived from ``random_state`` and the resample number).
3. The new clustering is compared with the reference labels on the *distinct*
   rows of the bootstrap sample (a row drawn twice counts once, as ``fpc`` does
   by default):

   * **overall**: the adjusted Rand index (ARI) of the two labellings, with the
     noise label ``-1`` counted as one more label;
   * **per segment**: the Jaccard similarity ``|S & C| / |S | C|`` of each
     reference segment ``S`` with the bootstrap cluster ``C`` most like it.
     Rows the reference calls noise take no part in these figures, and a
     bootstrap noise label is never a match: a segment that dissolves into
     noise scores low, one that swallows some noise is not penalised.

   The figures reported are means over the resamples. A segment none of whose
   rows was drawn in a resample (a very small segment) skips that resample.

Thresholds
----------
For the mean Jaccard of a segment, Hennig (2007) and the ``fpc``
documentation give: 0.85 and above, highly stable; 0.75 and above, a valid,
stable cluster; 0.6 to 0.75, the segment points at a pattern in the data but
which customers belong to it is doubtful; below 0.6, not to be trusted; a
single resample with Jaccard 0.5 or less counts as the cluster having
*dissolved*. We use two cut-offs: :data:`STABLE` (0.85) and :data:`UNSTABLE`
(0.6), giving ``"stable"``, ``"fairly stable"`` and ``"unstable"``.

The overall ARI is on a different scale (it counts pairs of customers, and a
partition's ARI is pulled down by its weakest segments). For it we follow
Steinley's reading of the ARI as agreement with a known partition
("Properties of the Hubert-Arabie adjusted Rand index", *Psychological
Methods* 9 (2004) 386-396: above 0.9 excellent, above 0.8 good, above 0.65
moderate, below poor): a mean ARI below 0.8 is reported as only moderately
stable as a whole, below 0.65 as unstable. For scale: K-Means on four
well-separated blobs scores 1.0, while K-Means forced to k = 6 on uniform 2-D
noise scores 0.6 to 0.75, with most segments "fairly stable" and some
"unstable" (``tests/test_stability.py``).

Number of resamples and cost
----------------------------
``fpc`` defaults to 100 resamples. We default to :data:`DEFAULT_RESAMPLES` (20)
because each resample is a full clustering: the per-resample Jaccard of a
segment typically has a standard deviation of 0.05 to 0.2, so the mean of 20
has a standard error of about 0.01 to 0.045, enough to tell the bands apart
except within a few hundredths of a cut-off. Cost: ``n_resamples`` fits of
``fit_predict`` on ``min(n, sample_size)`` rows, plus O(rows) work per resample
for the comparison (one contingency table; no pairwise distances).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from custseg.errors import ParameterError

__all__ = [
    "ARI_GOOD",
    "ARI_MODERATE",
    "DEFAULT_RESAMPLES",
    "STABLE",
    "UNSTABLE",
    "Stability",
    "bootstrap_stability",
]

#: Mean Jaccard at or above which a segment is "stable" (Hennig's "highly stable").
STABLE = 0.85
#: Mean Jaccard below which a segment is "unstable" (Hennig: "should not be trusted").
UNSTABLE = 0.6
#: Resamples by default; each one is a full clustering (see the module notes).
DEFAULT_RESAMPLES = 20
# Share of the rows each resample keeps with scheme="subsample".
SUBSAMPLE_FRACTION = 0.8

#: Mean ARI below which the whole segmentation is called moderately stable /
#: unstable (Steinley 2004's "good" and "moderate" bounds; see the module notes).
ARI_GOOD = 0.8
ARI_MODERATE = 0.65

Progress = Callable[[str, int, int], None]
FitPredict = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class Stability:
    """How well a segmentation is found again in bootstrap resamples.

    Attributes
    ----------
    overall : float
        Mean adjusted Rand index between the reference labels and each
        bootstrap clustering, on the distinct rows of that resample.
    per_segment : tuple of float
        For each segment ``0..k-1``: the mean over resamples of its Jaccard
        similarity with its best-matching bootstrap cluster. NaN for a segment
        that appeared in no resample (it had no row in the sample).
    ari : tuple of float
        The adjusted Rand index of each resample.
    n_resamples : int
        Number of bootstrap resamples.
    sample_size : int
        Rows the bootstrap drew from (all rows, or the fixed-seed sample).
    random_state : int
        Seed of the sample, the resamples and the seeds given to ``fit_predict``.

    Examples
    --------
    >>> s = Stability(0.7, (0.95, 0.7, 0.4), (0.7,), 1, 100, 0)
    >>> [s.verdict(i) for i in range(3)]
    ['stable', 'fairly stable', 'unstable']
    >>> s.unstable_segments()
    (2,)
    """

    overall: float
    per_segment: tuple[float, ...]
    ari: tuple[float, ...]
    n_resamples: int
    sample_size: int
    random_state: int

    def verdict(self, segment: int) -> str:
        """``"stable"``, ``"fairly stable"`` or ``"unstable"`` for one segment.

        Parameters
        ----------
        segment : int
            Segment label, ``0..k-1``.

        Returns
        -------
        str
            ``"stable"`` when its mean Jaccard is at least :data:`STABLE`,
            ``"unstable"`` below :data:`UNSTABLE`, ``"fairly stable"`` between;
            ``"not measured"`` when the segment had no row in the sample.
        """
        if isinstance(segment, bool) or not isinstance(segment, Integral):
            raise ParameterError(f"segment must be an integer, got {segment!r}")
        if not 0 <= segment < len(self.per_segment):
            raise ParameterError(
                f"segment must be in 0..{len(self.per_segment) - 1}, got {segment}"
            )
        return _verdict(self.per_segment[segment])

    def unstable_segments(self) -> tuple[int, ...]:
        """Segments whose mean Jaccard is below :data:`UNSTABLE`."""
        return tuple(
            s for s, j in enumerate(self.per_segment) if _verdict(j) == "unstable"
        )

    def warnings(
        self, names: Sequence[str], numbers: Sequence[int] | None = None
    ) -> list[str]:
        """Plain-words warnings about unstable segments and an unstable whole.

        Parameters
        ----------
        names : sequence of str
            A name for each segment ``0..k-1``.
        numbers : sequence of int, optional
            The number shown for each segment (default ``0..k-1``).

        Returns
        -------
        list of str
            One sentence per segment that is unstable, fairly stable or could
            not be measured, then one about the segmentation as a whole when
            its mean adjusted Rand index is below 0.8 (see the module notes).
            Empty when everything is stable.

        Examples
        --------
        >>> s = Stability(0.9, (0.95, 0.48), (0.9,), 1, 100, 0)
        >>> s.warnings(["Loyal", "Budget shoppers"])  # doctest: +NORMALIZE_WHITESPACE
        ['Segment 1 "Budget shoppers" is unstable: in resampled data the
        best-matching segment shares only 48% of its customers with it (Jaccard
        0.48 < 0.60). Treat it as tentative; try fewer segments.']
        """
        names = list(names)
        if len(names) != len(self.per_segment):
            raise ParameterError(
                f"names has {len(names)} entries but there are "
                f"{len(self.per_segment)} segments"
            )
        out: list[str] = []
        shown = list(numbers) if numbers is not None else list(range(len(names)))
        for s, (name, exact) in enumerate(zip(names, self.per_segment, strict=True)):
            label = f'Segment {shown[s]} "{name}"'
            # Shown rounded down, so 0.849 never reads "0.85 < 0.85".
            j = math.floor(exact * 100) / 100 if math.isfinite(exact) else exact
            verdict = _verdict(exact)
            if verdict == "unstable":
                out.append(
                    f"{label} is unstable: in resampled data the best-matching "
                    f"segment shares only {j:.0%} of its customers with it "
                    f"(Jaccard {j:.2f} < {UNSTABLE:.2f}). Treat it as tentative; "
                    "try fewer segments."
                )
            elif verdict == "fairly stable":
                out.append(
                    f"{label} is only fairly stable (Jaccard {j:.2f} < "
                    f"{STABLE:.2f}): resampled data find a similar segment, but "
                    "which customers belong to it shifts from sample to sample."
                )
            elif verdict == "not measured":
                out.append(
                    f"{label} is too small to appear in the stability sample; "
                    "its stability was not measured."
                )
        if self.overall < ARI_MODERATE:
            out.append(
                "The segmentation as a whole is unstable: reclustering resampled "
                "data agrees with it poorly (mean adjusted Rand index "
                f"{self.overall:.2f} < {ARI_MODERATE:.2f}). The segments may "
                "be an artefact of the seed or the sample; try fewer segments."
            )
        elif self.overall < ARI_GOOD:
            out.append(
                "The segmentation as a whole is only moderately stable: "
                "reclustering resampled data agrees with it moderately (mean "
                f"adjusted Rand index {self.overall:.2f} < {ARI_GOOD:.2f}). "
                "Some boundaries between segments depend on the sample."
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (NaN becomes ``None``), with each segment's verdict."""
        return {
            "overall": _json_float(self.overall),
            "per_segment": [_json_float(j) for j in self.per_segment],
            "verdicts": [_verdict(j) for j in self.per_segment],
            "unstable_segments": list(self.unstable_segments()),
            "ari": [_json_float(a) for a in self.ari],
            "n_resamples": self.n_resamples,
            "sample_size": self.sample_size,
            "random_state": self.random_state,
            "thresholds": {"stable": STABLE, "unstable": UNSTABLE},
        }


def bootstrap_stability(
    X: np.ndarray,
    labels: np.ndarray,
    fit_predict: FitPredict,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    sample_size: int = 5_000,
    random_state: int = 0,
    scheme: str = "bootstrap",
    progress: Progress | None = None,
) -> Stability:
    """Recluster bootstrap resamples and measure how well ``labels`` come back.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        The prepared feature matrix the reference labels were found on.
    labels : ndarray of shape (n_rows,)
        Reference segments ``0..k-1``; ``-1`` marks a row in no segment (noise).
    fit_predict : callable(X_boot, seed) -> ndarray of shape (len(X_boot),)
        Clusters the rows it is given, seeded by ``seed``, and returns their
        integer labels (``-1`` for noise if the method has it).
    n_resamples : int, default=DEFAULT_RESAMPLES
        Number of bootstrap resamples, each one call of ``fit_predict``.
    sample_size : int, default=5000
        With more rows than this, the bootstrap draws from a fixed-seed sample
        of this many rows.
    random_state : int, default=0
        Seeds the sample, the resamples and the seed of each ``fit_predict``.
    scheme : {"bootstrap", "subsample"}, default="bootstrap"
        ``"subsample"`` draws :data:`SUBSAMPLE_FRACTION` of the rows without
        replacement instead (Hennig's "subset" scheme): for density-based
        methods such as HDBSCAN, the repeated rows of a bootstrap sample are
        artificial dense spots that change the clustering by themselves.
    progress : callable(step, done, total), optional
        Called before each resample and once at the end.

    Returns
    -------
    Stability

    Raises
    ------
    ParameterError
        On malformed inputs, or when ``fit_predict`` returns the wrong shape.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from custseg.cluster._lloyd import kmeans
    >>> X, _ = make_blobs(300, centers=3, cluster_std=0.5, random_state=1)
    >>> def fit_predict(X, seed):
    ...     return kmeans(X, 3, random_state=seed).labels
    >>> st = bootstrap_stability(X, fit_predict(X, 0), fit_predict, n_resamples=5)
    >>> round(st.overall, 2), [st.verdict(s) for s in range(3)]
    (1.0, ['stable', 'stable', 'stable'])
    """
    X, labels = _check_inputs(X, labels, fit_predict)
    if scheme not in ("bootstrap", "subsample"):
        raise ParameterError(
            f"scheme must be 'bootstrap' or 'subsample'; got {scheme!r}"
        )
    n_resamples = _check_int("n_resamples", n_resamples, 1)
    sample_size = _check_int("sample_size", sample_size, 2)
    random_state = _check_int("random_state", random_state, 0)
    k = int(labels.max()) + 1

    n = len(X)
    rng = np.random.default_rng(random_state)
    if n > sample_size:
        sample = np.sort(rng.choice(n, sample_size, replace=False))
        X, labels = X[sample], labels[sample]
    m = len(X)

    ari: list[float] = []
    jaccard = np.empty((n_resamples, k))
    for b in range(n_resamples):
        if progress is not None:
            progress(f"stability resample {b + 1} of {n_resamples}", b, n_resamples)
        if scheme == "subsample":
            size = max(2, int(SUBSAMPLE_FRACTION * m))
            idx = np.sort(rng.choice(m, size, replace=False))
        else:
            idx = rng.integers(0, m, size=m)
        seed = int(np.random.SeedSequence([random_state, b]).generate_state(1)[0])
        boot = np.asarray(fit_predict(X[idx], seed))
        if boot.shape != (len(idx),):
            raise ParameterError(
                f"fit_predict returned labels of shape {boot.shape} for "
                f"{len(idx)} rows; expected shape ({len(idx)},)"
            )
        if not (np.issubdtype(boot.dtype, np.integer) or boot.dtype == bool):
            raise ParameterError(
                f"fit_predict must return integer labels, got dtype {boot.dtype}"
            )
        rows, first = np.unique(idx, return_index=True)
        ref, new = labels[rows], boot[first]
        ari.append(float(adjusted_rand_score(ref, new)))
        jaccard[b] = _best_jaccard(ref, new, k)
    if progress is not None:
        progress("stability resamples done", n_resamples, n_resamples)

    counts = np.sum(~np.isnan(jaccard), axis=0)
    sums = np.nansum(jaccard, axis=0)
    per_segment = np.full(k, np.nan)
    np.divide(sums, counts, out=per_segment, where=counts > 0)
    return Stability(
        overall=float(np.mean(ari)),
        per_segment=tuple(float(j) for j in per_segment),
        ari=tuple(ari),
        n_resamples=n_resamples,
        sample_size=m,
        random_state=random_state,
    )


def _best_jaccard(ref: np.ndarray, new: np.ndarray, k: int) -> np.ndarray:
    """For each reference segment ``0..k-1``, its largest Jaccard similarity with
    a cluster of ``new``; NaN for a segment with no row here. Rows with reference
    label -1 are left out, and a ``new`` label -1 (noise) is no cluster.

    Examples
    --------
    >>> _best_jaccard(np.array([0, 0, 1, 1, -1]), np.array([5, 5, 5, 2, 2]), 3)
    array([0.66666667, 0.5       ,        nan])
    """
    keep = ref >= 0
    ref, new = ref[keep], new[keep]
    seg_size = np.bincount(ref, minlength=k).astype(np.float64)
    clustered = new != -1
    clusters, inverse = np.unique(new[clustered], return_inverse=True)
    q = len(clusters)
    out = np.full(k, np.nan)
    present = seg_size > 0
    if q == 0:
        out[present] = 0.0
        return out
    table = np.bincount(ref[clustered] * q + inverse.ravel(), minlength=k * q).reshape(
        k, q
    )
    cluster_size = table.sum(axis=0)
    union = seg_size[:, None] + cluster_size[None, :] - table
    with np.errstate(invalid="ignore", divide="ignore"):
        best = (table / union).max(axis=1)
    out[present] = best[present]
    return out


def _verdict(j: float) -> str:
    if math.isnan(j):
        return "not measured"
    if j >= STABLE:
        return "stable"
    if j >= UNSTABLE:
        return "fairly stable"
    return "unstable"


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ParameterError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_inputs(
    X: np.ndarray, labels: np.ndarray, fit_predict: object
) -> tuple[np.ndarray, np.ndarray]:
    if not callable(fit_predict):
        raise ParameterError(
            f"fit_predict must be a callable (X, seed) -> labels, got {fit_predict!r}"
        )
    X = np.asarray(X)
    if X.ndim != 2:
        raise ParameterError(f"X must be 2-D (rows, features), got shape {X.shape}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(X):
        raise ParameterError(
            f"labels must be 1-D with one entry per row of X ({len(X)} rows), "
            f"got shape {labels.shape}"
        )
    if len(X) < 2:
        raise ParameterError(f"need at least 2 rows to resample, got {len(X)}")
    whole = np.issubdtype(labels.dtype, np.integer) or (
        np.issubdtype(labels.dtype, np.floating)
        and bool(np.all(labels == np.round(labels)))
    )
    if not whole:
        raise ParameterError(
            "labels must be integers (segments 0..k-1, -1 for noise), "
            f"got dtype {labels.dtype}"
        )
    labels = labels.astype(np.int64)
    if labels.min() < -1:
        raise ParameterError(
            f"labels must be -1 (noise) or a segment 0..k-1, got {labels.min()}"
        )
    if labels.max() < 0:
        raise ParameterError("labels put every row in noise (-1); no segment to test")
    missing = np.setdiff1d(np.arange(labels.max() + 1), labels)
    if len(missing):
        raise ParameterError(
            f"labels must number the segments 0..k-1 without gaps; "
            f"segment {int(missing[0])} has no rows"
        )
    return X, labels
