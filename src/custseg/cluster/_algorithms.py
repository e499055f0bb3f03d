"""The clustering algorithms behind ``Segmenter(algorithm=...)``, and how each
chooses k, fits every row and assigns new customers.

Every algorithm works on the same prepared matrix (imputed, scaled, one-hot
encoded; see :func:`custseg.prep.build_preprocessor`), so their k choice,
indices, stability and agreement compare like with like.

=================  ======================================  ==============================
algorithm          k                                       assigns new customers by
=================  ======================================  ==============================
kmeans             chosen over the range (default)         nearest centroid
minibatch-kmeans   chosen over the range                   nearest centroid
gmm                chosen over the range; BIC also votes   highest posterior probability
agglomerative      chosen over the range (one tree)        fallback (see below)
hdbscan            found by the algorithm; some rows are   fallback (see below)
                   noise and stay unassigned
kprototypes        chosen over the range                   nearest prototype
=================  ======================================  ==============================

Agglomerative clustering and HDBSCAN
------------------------------------
Both cost O(n^2) memory or time, so on tables above :data:`EXACT_ROWS` rows they
cluster a fixed-seed sample of that many rows and the other rows are assigned
by the fallback below, like new customers. Neither can assign a new customer in
scikit-learn.

The fallback is the nearest centroid (the segment means) when that reproduces at
least :data:`CENTROID_AGREEMENT` of the training labels (no customer rows go
into the model file). Otherwise it is a vote of the :data:`NEIGHBOURS` nearest
of :data:`REFERENCE_ROWS` stored training customers (prepared features, not the
raw columns), which also follows non-convex shapes and HDBSCAN's noise. The
model records which method it uses and how often it reproduces the training
labels (``Segmenter.predict_agreement_``; leave-one-out for stored customers).

k-prototypes
------------
Huang's k-prototypes (our compiled implementation in
:mod:`custseg.cluster._kprototypes`) uses the numeric columns of the prepared
matrix as they are and reads each categorical column back from its one-hot
block as a category code. A mismatch costs ``gamma = 2 w^2`` for the
categorical weight ``w``: exactly the squared distance two different one-hot
categories are apart for K-Means, and at the default ``w = 0.5`` Huang's own
suggestion (half the standard deviation of standardised numeric columns).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from custseg import _names
from custseg.cluster._choose_k import (
    KSelection,
    Progress,
    cap_k_range,
    decide_k,
    default_n_init,
    draw_samples,
    index_scores,
    score_fits,
    score_k,
)
from custseg.cluster._lloyd import assign, kmeans, lloyd
from custseg.errors import ParameterError

__all__ = [
    "ALGORITHMS",
    "CENTROID_AGREEMENT",
    "EXACT_ROWS",
    "LINKAGES",
    "NEIGHBOURS",
    "NOISE_REASON",
    "REFERENCE_ROWS",
    "UNASSIGNED",
    "AlgorithmOptions",
    "Clustering",
    "Layout",
    "check_algorithm",
    "default_min_cluster_size",
    "fit_once",
    "predict_confidence",
    "predict_raw",
    "segment",
    "within_ss",
]

# Declared in custseg._names, which the CLI reads without importing this module.
ALGORITHMS = _names.ALGORITHMS
LINKAGES = _names.LINKAGES
COVARIANCE_TYPES = _names.COVARIANCE_TYPES
EXACT_ROWS = 10_000
REFERENCE_ROWS = 5_000
NEIGHBOURS = 15
CENTROID_AGREEMENT = 0.99
# Why a row has no segment (HDBSCAN's noise, or a new customer whose nearest
# customers were noise).
UNASSIGNED = "unassigned"
NOISE_REASON = "noise: in no dense group of customers (HDBSCAN)"
# Added to the diagonal of every Gaussian's covariance: the prepared features
# have unit variance, and a one-hot column that is constant within a component
# would otherwise make its covariance singular.
GMM_REG_COVAR = 1e-3


def check_algorithm(name: str) -> str:
    """The algorithm's canonical name, or a ParameterError listing the choices."""
    key = str(name).lower().replace("_", "-")
    key = {"k-means": "kmeans", "minibatch": "minibatch-kmeans"}.get(key, key)
    key = {"hierarchical": "agglomerative", "k-prototypes": "kprototypes"}.get(key, key)
    if key not in ALGORITHMS:
        raise ParameterError(
            f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}"
        )
    return key


@dataclass(frozen=True)
class AlgorithmOptions:
    """Settings that only some algorithms use."""

    linkage: str = "ward"  # agglomerative
    covariance_type: str = "full"  # gmm
    min_cluster_size: int | None = None  # hdbscan; default from the row count
    min_samples: int | None = None  # hdbscan; default min_cluster_size

    def check(self) -> None:
        if self.linkage not in LINKAGES:
            raise ParameterError(
                f"linkage must be one of {', '.join(LINKAGES)}; got {self.linkage!r}"
            )
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ParameterError(
                "covariance_type must be one of "
                f"{', '.join(COVARIANCE_TYPES)}; got {self.covariance_type!r}"
            )
        for name in ("min_cluster_size", "min_samples"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 2):
                raise ParameterError(f"{name} must be an integer >= 2; got {value!r}")


def default_min_cluster_size(n_rows: int) -> int:
    """HDBSCAN's smallest segment by default: 2% of the rows, at least 5.

    scikit-learn's default of 5 rows suits point clouds; on a customer table it
    returns dozens of micro-segments nobody can act on.
    """
    return max(5, round(0.02 * n_rows))


@dataclass(frozen=True)
class Layout:
    """Where the numeric columns and each categorical's one-hot block sit in
    the prepared matrix (numeric columns first, then the blocks in order)."""

    n_numeric: int
    groups: tuple[int, ...] = ()

    @classmethod
    def from_preprocessor(cls, preprocessor: Any) -> Layout:
        n_numeric = 0
        groups: tuple[int, ...] = ()
        for name, est, cols in preprocessor.transformers_:
            if name in ("numeric", "log"):
                n_numeric += len(cols)
            elif name == "categorical":
                groups = tuple(len(c) for c in est.named_steps["onehot"].categories_)
        return cls(n_numeric, groups)

    def split(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numeric block (float64) and category codes (int64, -1: none)."""
        numeric = np.ascontiguousarray(Z[:, : self.n_numeric], dtype=np.float64)
        codes = np.full((len(Z), len(self.groups)), -1, dtype=np.int64)
        start = self.n_numeric
        for j, size in enumerate(self.groups):
            block = Z[:, start : start + size]
            hot = block != 0
            codes[:, j] = np.where(hot.any(axis=1), np.argmax(hot, axis=1), -1)
            start += size
        return numeric, codes


@dataclass
class Clustering:
    """One algorithm's partition of some rows.

    ``labels`` are raw cluster ids ``0..k-1`` (``-1``: in no cluster);
    ``predictor`` is what assigning new rows needs (plain arrays, numbers and
    strings, so it can go into a model file); ``extra`` holds what only some
    algorithms have (the linkage matrix of a hierarchical fit).
    """

    labels: np.ndarray
    predictor: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Context:
    random_state: int
    n_init: int | None
    max_iter: int
    layout: Layout
    options: AlgorithmOptions
    categorical_weight: float
    total_rows: int = 0  # rows of the whole table (HDBSCAN's sizes are relative)

    @property
    def gamma(self) -> float:
        return 2.0 * self.categorical_weight**2

    def restarts(self, n_rows: int) -> int:
        return self.n_init or default_n_init(n_rows)


# -- fitting one algorithm at one k ----------------------------------------------


def fit_once(algorithm: str, Z: np.ndarray, k: int, ctx: _Context) -> Clustering:
    """Fit ``algorithm`` with ``k`` segments on the rows of ``Z`` (all of them:
    callers sample first). HDBSCAN ignores ``k``.

    scikit-learn's convergence warnings are silenced: on bootstrap resamples
    and small tables with repeated rows, "fewer distinct clusters than k" is
    expected, and the k choice and stability already judge the result.
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _fit_once(algorithm, Z, k, ctx)


def _fit_once(algorithm: str, Z: np.ndarray, k: int, ctx: _Context) -> Clustering:
    rs = ctx.random_state
    if algorithm == "kmeans":
        fit = kmeans(Z, k, n_init=ctx.restarts(len(Z)), random_state=rs)
        return Clustering(
            fit.labels.astype(np.int64), {"method": "centroid", "centers": fit.centers}
        )
    if algorithm == "minibatch-kmeans":
        from sklearn.cluster import MiniBatchKMeans

        with _small_blas(Z):
            mb = MiniBatchKMeans(
                k,
                batch_size=2048,
                n_init=ctx.restarts(len(Z)),
                max_iter=100,
                random_state=rs,
            ).fit(Z)
        return Clustering(
            mb.labels_.astype(np.int64),
            {"method": "centroid", "centers": mb.cluster_centers_.astype(np.float64)},
        )
    if algorithm == "gmm":
        # EM starts from a K-Means solution; above 10,000 rows one start is as
        # good as three here and each costs a full EM run (2-3 s at 100k rows).
        starts = 1 if len(Z) > 10_000 else min(ctx.restarts(len(Z)), 3)
        with _small_blas(Z):
            gm = _gmm(k, ctx, starts).fit(Z)
        return Clustering(
            gm.predict(Z).astype(np.int64),
            _gmm_state(gm),
            {"bic": float(gm.bic(Z)), "aic": float(gm.aic(Z))},
        )
    if algorithm == "kprototypes":
        return _fit_prototypes(Z, k, ctx)
    if algorithm == "agglomerative":
        tree = _linkage(Z, ctx.options.linkage)
        return Clustering(_cut(tree, k), {}, {"linkage": tree})
    if algorithm == "hdbscan":
        with _small_blas(Z):
            return Clustering(_hdbscan(Z, hdbscan_size(ctx, len(Z)), ctx.options), {})
    raise ParameterError(f"unknown algorithm {algorithm!r}")


def _fit_prototypes(
    Z: np.ndarray,
    k: int,
    ctx: _Context,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> Clustering:
    """k-prototypes on the numeric block and the category codes of ``Z``
    (restarts, or one run from ``init``)."""
    from custseg.cluster._kprototypes import kprototypes

    numeric, codes = ctx.layout.split(Z)
    kp = kprototypes(
        numeric,
        codes,
        k,
        gamma=ctx.gamma,
        n_init=ctx.restarts(len(Z)),
        max_iter=ctx.max_iter,
        random_state=ctx.random_state,
        init=init,
    )
    return Clustering(kp.labels.astype(np.int64), _prototype_state(kp, ctx))


def _gmm(k: int, ctx: _Context, n_init: int, **init: Any) -> Any:
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(
        k,
        covariance_type=ctx.options.covariance_type,
        reg_covar=GMM_REG_COVAR,
        n_init=n_init,
        max_iter=max(ctx.max_iter, 100),
        random_state=ctx.random_state,
        **init,
    )


def _small_blas(Z: np.ndarray) -> Any:
    """One BLAS and OpenMP thread for scikit-learn on up to 100,000 rows.

    Their fits make many tiny parallel calls (a Gaussian mixture's EM solves
    d x d triangular systems; mini-batch K-Means steps through small batches).
    Waking the thread pools for each, on this shared 2-core machine, made a
    200-row Gaussian mixture ten times slower (3 ms per 2 x 2 solve) and a
    200-row mini-batch K-Means 15 s instead of 1 s.
    """
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    if len(Z) > 100_000:
        return nullcontext()
    return threadpool_limits(limits=1)


def _gmm_state(gm: Any) -> dict[str, Any]:
    return {
        "method": "gmm",
        "covariance_type": gm.covariance_type,
        "weights": np.asarray(gm.weights_, dtype=np.float64),
        "means": np.asarray(gm.means_, dtype=np.float64),
        "covariances": np.asarray(gm.covariances_, dtype=np.float64),
        "precisions_cholesky": np.asarray(gm.precisions_cholesky_, dtype=np.float64),
    }


def _prototype_state(kp: Any, ctx: _Context) -> dict[str, Any]:
    return {
        "method": "prototypes",
        "numeric_centers": np.asarray(kp.numeric_centers, dtype=np.float64),
        "modes": np.asarray(kp.modes, dtype=np.int64),
        "gamma": ctx.gamma,
        "n_numeric": ctx.layout.n_numeric,
        "groups": np.asarray(ctx.layout.groups, dtype=np.int64),
    }


def _linkage(Z: np.ndarray, method: str) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage

    return np.asarray(linkage(np.asarray(Z, dtype=np.float64), method=method))


def _cut(tree: np.ndarray, k: int) -> np.ndarray:
    """Labels 0..k-1 from cutting a linkage tree into ``k`` clusters."""
    from scipy.cluster.hierarchy import cut_tree

    return np.asarray(cut_tree(tree, n_clusters=k)).ravel().astype(np.int64)


def hdbscan_size(ctx: _Context, n_rows: int) -> int:
    """HDBSCAN's smallest group on ``n_rows`` rows. A ``min_cluster_size`` given
    for the whole table is scaled to a sample of it (10,000 of a million rows:
    a 50-customer group is 0.5 rows of the sample... so at least 2)."""
    size = ctx.options.min_cluster_size
    if size is None:
        return default_min_cluster_size(n_rows)
    total = max(ctx.total_rows, n_rows)
    return max(2, round(size * n_rows / total))


def _hdbscan(Z: np.ndarray, size: int, options: AlgorithmOptions) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    size = min(size, len(Z))
    model = HDBSCAN(
        min_cluster_size=max(2, size),
        min_samples=options.min_samples,
        copy=True,
    ).fit(np.asarray(Z, dtype=np.float64))
    labels = model.labels_.astype(np.int64)
    return np.where(labels < 0, -1, labels)


# -- assigning rows ----------------------------------------------------------------


def _mixture(predictor: dict[str, Any]) -> Any:
    """The stored Gaussian mixture as a fitted scikit-learn estimator."""
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(
        len(predictor["weights"]), covariance_type=predictor["covariance_type"]
    )
    gm.weights_ = predictor["weights"]
    gm.means_ = predictor["means"]
    gm.covariances_ = predictor["covariances"]
    gm.precisions_cholesky_ = predictor["precisions_cholesky"]
    gm.n_features_in_ = predictor["means"].shape[1]
    return gm


def predict_confidence(predictor: dict[str, Any], Z: np.ndarray) -> np.ndarray | None:
    """Each row's probability of the component it is assigned to, for the
    algorithms that have one (a Gaussian mixture); None for the others,
    which assign by distance and state no probability."""
    if predictor["method"] != "gmm":
        return None
    gm = _mixture(predictor)
    with _small_blas(Z):
        proba = gm.predict_proba(np.asarray(Z, dtype=np.float64))
    return np.asarray(proba.max(axis=1), dtype=np.float64)


def predict_raw(predictor: dict[str, Any], Z: np.ndarray) -> np.ndarray:
    """Raw cluster id of each row of ``Z`` under a stored ``predictor``."""
    method = predictor["method"]
    if method == "centroid":
        labels, _ = assign(Z, predictor["centers"])
        return labels.astype(np.int64)
    if method == "gmm":
        gm = _mixture(predictor)
        with _small_blas(Z):
            return np.asarray(
                gm.predict(np.asarray(Z, dtype=np.float64)), dtype=np.int64
            )
    if method == "prototypes":
        from custseg.cluster._kprototypes import assign_prototypes

        layout = Layout(
            int(predictor["n_numeric"]), tuple(int(g) for g in predictor["groups"])
        )
        numeric, codes = layout.split(Z)
        labels, _ = assign_prototypes(
            numeric,
            codes,
            predictor["numeric_centers"],
            predictor["modes"],
            float(predictor["gamma"]),
        )
        return np.asarray(labels, dtype=np.int64)
    if method == "neighbours":
        return _vote(predictor["reference"], predictor["reference_labels"], Z)
    raise ParameterError(f"unknown prediction method {method!r} in the model")


def _vote(
    reference: np.ndarray,
    ref_labels: np.ndarray,
    Z: np.ndarray,
    *,
    exclude_self: bool = False,
) -> np.ndarray:
    """Majority label among the :data:`NEIGHBOURS` nearest reference rows (the
    nearer on ties); ``exclude_self``: ``Z`` is ``reference`` and each row's
    own vote is left out (leave-one-out)."""
    from sklearn.neighbors import NearestNeighbors

    n_neighbors = min(NEIGHBOURS + int(exclude_self), len(reference))
    nn = NearestNeighbors(n_neighbors=n_neighbors).fit(reference)
    out = np.empty(len(Z), dtype=np.int64)
    values = np.unique(ref_labels)
    for start in range(0, len(Z), 50_000):
        chunk = np.asarray(Z[start : start + 50_000], dtype=reference.dtype)
        dist, idx = nn.kneighbors(chunk)
        if exclude_self:
            dist, idx = dist[:, 1:], idx[:, 1:]
        votes = ref_labels[idx]
        # Votes weighted 1/(1 + rank): a clear majority wins, and a tie goes
        # to the label of the nearer neighbours.
        weights = 1.0 / (1.0 + np.arange(votes.shape[1]))
        tally = np.stack([((votes == v) * weights).sum(axis=1) for v in values])
        out[start : start + len(chunk)] = values[np.argmax(tally, axis=0)]
    return out


def _fallback(
    Z: np.ndarray, labels: np.ndarray, random_state: int
) -> tuple[dict[str, Any], float]:
    """The predictor for an algorithm without one, and how often it reproduces
    ``labels`` (see the module docstring)."""
    ids = np.unique(labels[labels >= 0])
    centers = np.vstack([Z[labels == c].mean(axis=0) for c in ids]).astype(np.float64)
    centroid = {
        "method": "centroid",
        "centers": centers,
        "centroid_ids": ids.astype(np.int64),
    }
    rng = np.random.default_rng(random_state)
    check = (
        np.arange(len(Z))
        if len(Z) <= 20_000
        else np.sort(rng.choice(len(Z), 20_000, replace=False))
    )
    by_centroid = ids[assign(np.ascontiguousarray(Z[check]), centers)[0]]
    centroid_agree = float(np.mean(by_centroid == labels[check]))
    if centroid_agree >= CENTROID_AGREEMENT or len(Z) <= NEIGHBOURS:
        return centroid, centroid_agree
    ref = (
        np.arange(len(Z))
        if len(Z) <= REFERENCE_ROWS
        else np.sort(rng.choice(len(Z), REFERENCE_ROWS, replace=False))
    )
    reference = np.ascontiguousarray(Z[ref], dtype=np.float32)
    ref_labels = labels[ref].astype(np.int64)
    # Agreement on rows outside the reference, or leave-one-out within it.
    outside = np.setdiff1d(check, ref)
    if len(outside):
        agree = np.mean(_vote(reference, ref_labels, Z[outside]) == labels[outside])
    else:
        agree = np.mean(
            _vote(reference, ref_labels, reference, exclude_self=True) == ref_labels
        )
    if agree <= centroid_agree:
        return centroid, centroid_agree
    return {
        "method": "neighbours",
        "reference": reference,
        "reference_labels": ref_labels,
    }, float(agree)


def _centroid_ids(predictor: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    """Map a fallback centroid's index to the cluster id it stands for."""
    ids = predictor.get("centroid_ids")
    return raw if ids is None else np.asarray(ids)[raw]


# -- indices -----------------------------------------------------------------------


def within_ss(Z: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances of the clustered rows to their cluster's mean
    (K-Means' inertia, for any partition; rows labelled -1 left out)."""
    keep = labels >= 0
    if not keep.any():
        return math.nan
    lab = labels[keep]
    k = int(lab.max()) + 1
    counts = np.bincount(lab, minlength=k).astype(np.float64)
    nonzero = counts > 0
    total = 0.0
    # One column at a time (no float64 copy of the whole matrix).
    for j in range(Z.shape[1]):
        x = np.asarray(Z[keep, j], dtype=np.float64)
        sums = np.bincount(lab, weights=x, minlength=k)
        total += float(x @ x) - float((sums[nonzero] ** 2 / counts[nonzero]).sum())
    return total


# -- the driver --------------------------------------------------------------------


@dataclass
class SegmentResult:
    """What :func:`segment` returns: the k choice, the partition of every row,
    and a function that refits the algorithm at that k on other rows (for the
    bootstrap): ``refit(X, seed) -> labels``."""

    selection: KSelection
    clustering: Clustering
    sample_is_all: bool
    predict_agreement: float
    n_fit_rows: int  # rows the algorithm itself clustered (the rest: predicted)
    refit: Callable[[np.ndarray, int], np.ndarray]


def segment(
    Z: np.ndarray,
    algorithm: str,
    *,
    layout: Layout,
    options: AlgorithmOptions,
    categorical_weight: float,
    n_clusters: int | None,
    k_range: Sequence[int],
    random_state: int,
    n_init: int | None,
    max_iter: int,
    sample_size: int,
    silhouette_sample_size: int,
    tie_breaker: Callable[[np.ndarray, np.ndarray, int, Any], float] | None = None,
    progress: Progress | None = None,
) -> SegmentResult:
    """Choose k for ``algorithm`` (unless given) and partition every row of ``Z``.

    ``tie_breaker(X, labels, k, fit_predict)`` scores a tied k (custseg passes
    the bootstrap stability); the most stable of equally voted k wins.

    Up to ``sample_size`` rows, every algorithm but K-Means sees the rows in a
    canonical order (sorted by their prepared values), so a shuffled copy of a
    table gets the same segments: their random starts and samples are drawn by
    row position. (K-Means' own result does not depend on the order there.)
    A cluster that ends with no row (a mixture component nobody is most
    likely in) is dropped, from the labels and from the predictor.
    """
    if algorithm == "hdbscan" and n_clusters is not None:
        raise ParameterError(
            "HDBSCAN finds its own number of segments; drop --k, or choose "
            "another --algorithm"
        )
    ctx = _Context(
        random_state,
        n_init,
        max_iter,
        layout,
        options,
        float(categorical_weight),
        len(Z),
    )
    order = None
    if algorithm != "kmeans" and len(Z) <= sample_size:
        order = np.lexsort(np.asarray(Z, dtype=np.float64).T[::-1])
        Z = np.ascontiguousarray(Z[order])
    result = _segment(
        Z,
        algorithm,
        ctx,
        n_clusters=n_clusters,
        k_range=k_range,
        sample_size=sample_size,
        silhouette_sample_size=silhouette_sample_size,
        tie_breaker=tie_breaker,
        progress=progress,
    )
    result = _drop_empty(result)
    if order is not None:
        labels = np.empty_like(result.clustering.labels)
        labels[order] = result.clustering.labels
        result.clustering.labels = labels
        tree = result.clustering.extra.get("linkage")
        if tree is not None and len(tree) + 1 == len(order):
            # The tree's leaves are rows in the sorted order: name them by
            # their input rows again (merged clusters keep their ids >= n).
            tree = tree.copy()
            for col in (0, 1):
                leaf = tree[:, col] < len(order)
                tree[leaf, col] = order[tree[leaf, col].astype(np.int64)]
            result.clustering.extra["linkage"] = tree
    return result


def _segment(
    Z: np.ndarray,
    algorithm: str,
    ctx: _Context,
    *,
    n_clusters: int | None,
    k_range: Sequence[int],
    sample_size: int,
    silhouette_sample_size: int,
    tie_breaker: Callable[[np.ndarray, np.ndarray, int, Any], float] | None,
    progress: Progress | None,
) -> SegmentResult:
    random_state = ctx.random_state
    if algorithm == "kmeans":
        return _segment_kmeans(
            Z,
            ctx,
            n_clusters=n_clusters,
            k_range=k_range,
            sample_size=sample_size,
            silhouette_sample_size=silhouette_sample_size,
            tie_breaker=tie_breaker,
            progress=progress,
        )
    n = len(Z)
    limit = sample_size
    if algorithm in ("agglomerative", "hdbscan"):
        limit = min(limit, EXACT_ROWS)
    sample, sil_idx = draw_samples(n, limit, silhouette_sample_size, random_state)
    Xs = Z if sample is None else np.ascontiguousarray(Z[sample])
    Xsil = Xs if sil_idx is None else Xs[sil_idx]

    if algorithm == "hdbscan":
        if progress:
            progress(f"HDBSCAN on {len(Xs):,} rows", 0, 1)
        fit = fit_once(algorithm, Xs, 0, ctx)
        selection = _density_selection(fit.labels, Xs, Xsil, sil_idx, n, ctx)
    else:
        fits, selection = _score_range(
            algorithm,
            Xs,
            Xsil,
            sil_idx,
            ctx,
            n_rows=n,
            n_clusters=n_clusters,
            k_range=k_range,
            every_row=sample is None,
            tie_breaker=tie_breaker,
            progress=progress,
        )
        k = selection.k
        fit = fits[k] if k in fits else fit_once(algorithm, Xs, k, ctx)
    if progress:
        progress(f"fitting {ALGORITHMS[algorithm]} on {n:,} rows", 0, 1)
    clustering, agreement, n_fit = _fit_all_rows(
        algorithm, Z, Xs, sample, fit, selection.k, ctx
    )
    if progress:
        progress("fitted", 1, 1)
    return SegmentResult(
        selection,
        clustering,
        sample is None,
        agreement,
        n_fit,
        _refitter(algorithm, ctx, selection.k),
    )


def compact(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0..k-1 without gaps (-1 stays -1)."""
    keep = labels >= 0
    out = np.full(len(labels), -1, dtype=np.int64)
    out[keep] = np.unique(labels[keep], return_inverse=True)[1]
    return out


def _drop_empty(result: SegmentResult) -> SegmentResult:
    """Remove clusters that ended with no row from the labels and predictor,
    and say so in the k choice."""
    c = result.clustering
    present = np.unique(c.labels[c.labels >= 0])
    n_raw = int(c.labels.max()) + 1 if len(present) else 0
    p = c.predictor
    if p.get("method") == "gmm":
        n_raw = len(p["weights"])
    elif p.get("method") == "prototypes":
        n_raw = len(p["modes"])
    if len(present) == n_raw:
        return result
    c.labels = compact(c.labels)
    if p.get("method") == "gmm":
        weights = p["weights"][present]
        p = {
            **p,
            "weights": weights / weights.sum(),
            "means": p["means"][present],
            "covariances": p["covariances"][present]
            if p["covariance_type"] != "tied"
            else p["covariances"],
            "precisions_cholesky": p["precisions_cholesky"][present]
            if p["covariance_type"] != "tied"
            else p["precisions_cholesky"],
        }
    elif p.get("method") == "prototypes":
        p = {
            **p,
            "numeric_centers": p["numeric_centers"][present],
            "modes": p["modes"][present],
        }
    elif p.get("method") == "centroid" and "centroid_ids" not in p:
        p = {**p, "centers": p["centers"][present]}
    elif p.get("method") == "neighbours":
        ref = p["reference_labels"]
        mapped = np.where(ref >= 0, np.searchsorted(present, ref), -1)
        p = {**p, "reference_labels": mapped.astype(np.int64)}
    elif "centroid_ids" in p:
        p = {**p, "centroid_ids": np.searchsorted(present, p["centroid_ids"])}
    c.predictor = p
    k = len(present)
    sel = result.selection
    note = (
        f" {n_raw - k} of the {n_raw} clusters fitted ended with no customer, "
        f"so there are {k} segments."
    )
    result.selection = replace(sel, k=k, reason=sel.reason + note)
    return result


def _segment_kmeans(
    Z: np.ndarray,
    ctx: _Context,
    *,
    n_clusters: int | None,
    k_range: Sequence[int],
    sample_size: int,
    silhouette_sample_size: int,
    tie_breaker: Callable[[np.ndarray, np.ndarray, int, Any], float] | None,
    progress: Progress | None,
) -> SegmentResult:
    """K-Means: score k on a sample, then Lloyd on every row from the sample's
    best centroids (a few iterations; one when the sample was every row)."""
    breaker = None
    if tie_breaker is not None:
        breaker = _tie_breaker("kmeans", ctx, tie_breaker)
    selection, centers, sample_is_all = score_k(
        Z,
        k_range,
        n_clusters=n_clusters,
        random_state=ctx.random_state,
        n_init=ctx.n_init,
        sample_size=sample_size,
        silhouette_sample_size=silhouette_sample_size,
        tie_breaker=breaker,
        progress=progress,
    )
    k = selection.k
    n = len(Z)

    def step(what: str, done: int, total: int) -> None:
        if progress:
            progress(
                f"fitting K-Means with k={k} on {n:,} rows, iteration {done}", done, 0
            )

    if k in centers:
        fit = lloyd(Z, centers[k], max_iter=ctx.max_iter, progress=step)
    else:  # a k outside the scored range: fit from scratch on every row
        fit = kmeans(
            Z,
            k,
            n_init=ctx.restarts(n),
            max_iter=ctx.max_iter,
            random_state=ctx.random_state,
            progress=step,
        )
    clustering = Clustering(
        fit.labels.astype(np.int64),
        {"method": "centroid", "centers": fit.centers},
        {"inertia": float(fit.inertia), "n_iter": int(fit.n_iter)},
    )
    return SegmentResult(
        selection, clustering, sample_is_all, 1.0, n, _refitter("kmeans", ctx, k)
    )


def _refitter(
    algorithm: str, ctx: _Context, k: int
) -> Callable[[np.ndarray, int], np.ndarray]:
    """``fit(X, seed) -> labels``: the algorithm at ``k`` on other rows, with at
    most 3 restarts (the bootstrap refits it many times)."""

    def fit(X: np.ndarray, seed: int) -> np.ndarray:
        local = replace(ctx, random_state=seed, n_init=min(ctx.restarts(len(X)), 3))
        return fit_once(algorithm, np.ascontiguousarray(X), k, local).labels

    return fit


def _tie_breaker(
    algorithm: str,
    ctx: _Context,
    score: Callable[[np.ndarray, np.ndarray, int, Any], float],
) -> Callable[[np.ndarray, np.ndarray, int], float]:
    def breaker(X: np.ndarray, labels: np.ndarray, k: int) -> float:
        return score(X, labels, k, _refitter(algorithm, ctx, k))

    return breaker


def _score_range(
    algorithm: str,
    Xs: np.ndarray,
    Xsil: np.ndarray,
    sil_idx: np.ndarray | None,
    ctx: _Context,
    *,
    n_rows: int,
    n_clusters: int | None,
    k_range: Sequence[int],
    every_row: bool,
    tie_breaker: Callable[[np.ndarray, np.ndarray, int, Any], float] | None,
    progress: Progress | None,
) -> tuple[dict[int, Clustering], KSelection]:
    from custseg.cluster._choose_k import check_k_range

    kmin, kmax = check_k_range(k_range, n_rows, n_clusters)
    kmin, kmax = cap_k_range(Xs, kmin, kmax, n_clusters, every_row=every_row)
    ks = list(range(kmin, kmax + 1))
    fits: dict[int, Clustering] = {}
    tree = None
    if algorithm == "agglomerative":
        if progress:
            progress(
                f"building the {ctx.options.linkage} tree on {len(Xs):,} rows", 0, 1
            )
        tree = _linkage(Xs, ctx.options.linkage)

    def fit_k(k: int) -> tuple[np.ndarray, float, dict[str, float]]:
        if tree is not None:
            fit = Clustering(_cut(tree, k), {}, {"linkage": tree})
        else:
            fit = fit_once(algorithm, Xs, k, ctx)
        fits[k] = fit
        scores: dict[str, float] = {
            key: fit.extra[key] for key in ("bic", "aic") if key in fit.extra
        }
        return fit.labels, within_ss(Xs, fit.labels), scores

    inertia, sil, ch, db, extra = score_fits(Xs, Xsil, sil_idx, ks, fit_k, progress)
    extra_votes: dict[str, int | None] = {}
    if "bic" in extra:
        values = extra["bic"]
        extra_votes["bic"] = ks[int(np.argmin(values))]
    breaker = None
    if tie_breaker is not None:
        inner = _tie_breaker(algorithm, ctx, tie_breaker)

        def breaker(k: int) -> float:
            return inner(Xs, compact(fits[k].labels), k)

    selection = decide_k(
        ks,
        inertia,
        sil,
        ch,
        db,
        Xsil,
        n_clusters=n_clusters,
        n_rows=n_rows,
        sample_size=len(Xs),
        random_state=ctx.random_state,
        progress=progress,
        algorithm=algorithm,
        extra_votes=extra_votes,
        extra_scores={key: tuple(v) for key, v in extra.items()},
        tie_breaker=breaker,
    )
    return fits, selection


def _density_selection(
    labels: np.ndarray,
    Xs: np.ndarray,
    Xsil: np.ndarray,
    sil_idx: np.ndarray | None,
    n_rows: int,
    ctx: _Context,
) -> KSelection:
    """A KSelection for HDBSCAN: k is what it found, not a choice over a range."""
    from custseg.errors import InputError

    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    size = hdbscan_size(ctx, len(Xs))
    if k < 2:
        raise InputError(
            f"HDBSCAN found {'no dense group' if k == 0 else 'only one dense group'} "
            f"(min_cluster_size={size}, {int((labels < 0).sum()):,} of "
            f"{len(labels):,} rows are noise)",
            hint="Try a smaller --min-cluster-size, or another --algorithm.",
        )
    keep = labels >= 0
    Xk, lk = Xs[keep], labels[keep]
    sub_keep = keep if sil_idx is None else keep[sil_idx]
    Xsil_k = Xsil[sub_keep]
    sil, ch, db = index_scores(Xk, lk, Xsil_k, None)
    selection = decide_k(
        [k],
        [within_ss(Xs, labels)],
        [sil],
        [ch],
        [db],
        Xsil_k,
        n_clusters=k,
        n_rows=n_rows,
        sample_size=len(Xs),
        random_state=ctx.random_state,
        algorithm="hdbscan",
    )
    noise = int((labels < 0).sum())
    reason = (
        f"k = {k}: HDBSCAN found {k} dense groups of at least {size} customers "
        f"(min_cluster_size) and called {noise:,} of {len(labels):,} "
        f"({noise / len(labels):.1%}) noise; those stay unassigned. "
        f"Silhouette of the assigned customers: {sil:.2f}."
    )
    return replace(selection, rule="density", reason=reason)


def _fit_all_rows(
    algorithm: str,
    Z: np.ndarray,
    Xs: np.ndarray,
    sample: np.ndarray | None,
    fit: Clustering,
    k: int,
    ctx: _Context,
) -> tuple[Clustering, float, int]:
    """Extend the sample's clustering to every row: warm-started refits for the
    algorithms that scale, the fallback predictor for those that do not."""
    n = len(Z)
    if algorithm in ("agglomerative", "hdbscan"):
        predictor, agreement = _fallback(Xs, fit.labels, ctx.random_state)
        if sample is None:
            labels = fit.labels
        else:
            labels = np.empty(n, dtype=np.int64)
            labels[sample] = fit.labels
            rest = np.setdiff1d(np.arange(n), sample)
            labels[rest] = _centroid_ids(predictor, predict_raw(predictor, Z[rest]))
        return Clustering(labels, predictor, fit.extra), agreement, len(Xs)
    if sample is None:
        final = fit
    elif algorithm == "minibatch-kmeans":
        from sklearn.cluster import MiniBatchKMeans

        mb = MiniBatchKMeans(
            k,
            init=fit.predictor["centers"],
            n_init=1,
            batch_size=2048,
            max_iter=100,
            random_state=ctx.random_state,
        ).fit(Z)
        final = Clustering(
            mb.labels_.astype(np.int64),
            {"method": "centroid", "centers": mb.cluster_centers_.astype(np.float64)},
        )
    elif algorithm == "gmm":
        p = fit.predictor
        with _small_blas(Z):
            weights = np.asarray(p["weights"], dtype=np.float64)
            gm = _gmm(
                k,
                ctx,
                1,
                # float32 data leave the sample's weights summing to 1 +- 3e-8,
                # which scikit-learn refuses as initial weights.
                weights_init=weights / weights.sum(),
                means_init=p["means"],
                precisions_init=_precisions(p),
            ).fit(Z)
        final = Clustering(gm.predict(Z).astype(np.int64), _gmm_state(gm))
    elif algorithm == "kprototypes":
        start = (fit.predictor["numeric_centers"], fit.predictor["modes"])
        final = _fit_prototypes(Z, k, ctx, init=start)
    else:
        raise ParameterError(f"unknown algorithm {algorithm!r}")
    rng = np.random.default_rng(ctx.random_state)
    check = np.arange(n) if n <= 20_000 else rng.choice(n, 20_000, replace=False)
    agreement = float(
        np.mean(predict_raw(final.predictor, Z[check]) == final.labels[check])
    )
    return final, agreement, n


def _precisions(p: dict[str, Any]) -> np.ndarray:
    """Precision matrices from stored Cholesky factors (GaussianMixture's
    ``precisions_init`` wants the matrices themselves)."""
    chol = p["precisions_cholesky"]
    kind = p["covariance_type"]
    if kind == "full":
        return np.asarray(np.einsum("kij,klj->kil", chol, chol))
    if kind == "tied":
        return np.asarray(chol @ chol.T)
    return np.asarray(chol**2)
