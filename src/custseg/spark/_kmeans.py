"""Choosing k and fitting K-Means with Spark.

**Choosing k.** For each k in the range, Spark fits K-Means on the fixed-seed
sample of at most ``sample_size`` prepared rows, which Spark keeps cached; its
training cost is the inertia. Each fit starts from the best of ``n_init``
k-means++ seedings drawn on the driver (10 on samples of up to 10,000 rows, 3
above, as the local engine restarts; seeds ``random_state + i``, best = lowest
inertia of the seeding itself), and runs Lloyd's algorithm in Spark. One
k-means|| run per k (Spark ML's default) lands in poor local optima too often:
on the mall data it misses k = 5, and a full Spark fit per restart costs
seconds each. The fits for different k run concurrently, ``SCAN_THREADS`` at
a time: small Spark jobs spend most of their time waiting on the scheduler.

The sample's prepared matrix is also collected to the driver, where the other
three indices are computed exactly as the local engine computes them: the
silhouette on a fixed-seed subsample of at most ``silhouette_sample_size``
rows, Calinski-Harabasz and Davies-Bouldin (scikit-learn) on the whole sample.
The votes, the reconciliation and the structure check against random reference
data are the local engine's own functions (:mod:`custseg.cluster._choose_k`).

Spark's ``ClusteringEvaluator`` is not used for the silhouette: it computes
the silhouette of *squared* Euclidean distances, a different number from the
one the thresholds of the structure check (0.25, 0.5) and the reference
silhouette are defined for, so the two engines would disagree on what "clear
segments" means.

**Final fit.** Lloyd's algorithm on every row, in Spark, from the centres found
on the sample for the chosen k (as the local engine does).

Both use the RDD-based ``pyspark.mllib`` K-Means, the one Spark implementation
that accepts starting centres (``initialModel``). On Spark Connect, which has
no RDDs, Spark ML's ``KMeans`` (k-means||, seed ``random_state``) is used
instead and the starting centres are ignored.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.cluster import kmeans_plusplus
from sklearn.metrics import (
    pairwise_distances_argmin,
)
from sklearn.metrics.pairwise import euclidean_distances

from custseg.cluster import (
    KSelection,
    Progress,
    cap_k_range,
    check_k_range,
    decide_k,
    default_n_init,
    index_scores,
)
from custseg.spark._prepare import FEATURES
from custseg.spark._session import quiet_pyspark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = [
    "SCAN_THREADS",
    "Fitted",
    "SparkLloyd",
    "fit_all_rows",
    "mean_variance",
    "scan_k",
    "spark_tolerance",
    "with_segments",
]

# Spark fits run at once while choosing k.
SCAN_THREADS = 4
# The local engine's (scikit-learn's) relative tolerance.
TOL = 1e-4


def scan_k(
    sample: DataFrame,
    X: np.ndarray,
    *,
    n_rows: int,
    k_range: tuple[int, int],
    n_clusters: int | None,
    random_state: int,
    max_iter: int,
    silhouette_sample_size: int,
    n_references: int = 5,
    progress: Progress | None = None,
) -> tuple[KSelection, dict[int, np.ndarray]]:
    """Score every k on the sample and pick one by the local engine's rule.

    ``sample`` is the cached Spark frame of the sample's prepared rows
    (``FEATURES``), and ``X`` the same rows collected to the driver.
    Returns the selection and the centres found for each k.
    """
    n_sample = len(X)
    kmin, kmax = check_k_range(k_range, n_rows, n_clusters)
    kmin, kmax = cap_k_range(X, kmin, kmax, n_clusters, every_row=n_rows <= n_sample)
    rng = np.random.default_rng(random_state)
    sil_idx = None
    if n_sample > silhouette_sample_size:
        sil_idx = np.sort(rng.choice(n_sample, silhouette_sample_size, replace=False))
    X_sil = X if sil_idx is None else X[sil_idx]

    ks = list(range(kmin, kmax + 1))
    n_init = default_n_init(n_sample)
    variance = mean_variance(X)
    lloyd = SparkLloyd(sample, shared=True)

    def fit(k: int) -> tuple[np.ndarray, float]:
        seeds = _best_seeding(X, k, n_init, random_state)
        tol = spark_tolerance(variance, k)
        fitted = lloyd.fit(k, seeds, random_state, max_iter, tol)
        return fitted.centers, fitted.cost

    inertia: list[float] = []
    sil: list[float] = []
    ch: list[float] = []
    db: list[float] = []
    centers: dict[int, np.ndarray] = {}
    try:
        with quiet_pyspark(), ThreadPoolExecutor(SCAN_THREADS) as pool:
            for i, (k, (found, cost)) in enumerate(
                zip(ks, pool.map(fit, ks), strict=True)
            ):
                if progress:
                    progress(
                        f"scored k={k} on {n_sample:,} rows with Spark", i, len(ks)
                    )
                centers[k] = found
                inertia.append(cost)
                labels = pairwise_distances_argmin(X, found)
                for scores, value in zip(
                    (sil, ch, db),
                    index_scores(X, labels, X_sil, sil_idx),
                    strict=True,
                ):
                    scores.append(value)
    finally:
        lloyd.close()
    if progress:
        progress("scored", len(ks), len(ks))

    selection = decide_k(
        ks,
        inertia,
        sil,
        ch,
        db,
        X_sil,
        n_clusters=n_clusters,
        n_rows=n_rows,
        sample_size=n_sample,
        random_state=random_state,
        n_references=n_references,
        progress=progress,
    )
    return selection, centers


def _best_seeding(X: np.ndarray, k: int, n_init: int, random_state: int) -> np.ndarray:
    """The k-means++ seeding (of ``n_init``) with the lowest inertia."""
    best, best_cost = None, math.inf
    for i in range(n_init):
        seeds, _ = kmeans_plusplus(X, k, random_state=random_state + i)
        cost = float(
            np.sum(np.min(euclidean_distances(X, seeds, squared=True), axis=1))
        )
        if cost < best_cost:
            best, best_cost = seeds, cost
    assert best is not None
    return np.asarray(best, dtype=np.float64)


@dataclass(frozen=True)
class Fitted:
    """Centres found by Spark (in its order), their cost and the iterations."""

    centers: np.ndarray
    cost: float
    n_iter: int


def _old_vectors(prepared: DataFrame) -> Any:
    """The ``FEATURES`` column as a Java RDD of ``mllib`` vectors.

    Spark ML's own converter (``DatasetUtils.columnToOldVector``, what its
    KMeans calls) keeps the rows in the JVM; where it is not reachable, the
    rows go through Python workers instead (slower, same vectors).
    """
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]

    frame = prepared.select(FEATURES)
    sc = prepared.sparkSession.sparkContext
    try:
        utils = sc._jvm.org.apache.spark.ml.util.DatasetUtils  # type: ignore[union-attr]
        return utils.columnToOldVector(frame._jdf, FEATURES).toJavaRDD()
    except Py4JError:
        from pyspark.mllib.common import _to_java_object_rdd
        from pyspark.mllib.linalg import Vectors as OldVectors

        def to_old(row: Any) -> Any:
            return OldVectors.fromML(row[0])

        with quiet_pyspark():
            return _to_java_object_rdd(frame.rdd.map(to_old))


class SparkLloyd:
    """Lloyd's algorithm in Spark over the ``FEATURES`` of one DataFrame.

    The vectors are converted to the RDD the RDD-based K-Means reads. With
    ``shared``, that RDD is cached once for several fits (one per k):
    Spark's Python bridge persists, then unpersists, the RDD each fit is given,
    so each fit gets its own view of the cached one. :meth:`close` frees it.
    """

    def __init__(self, prepared: DataFrame, *, shared: bool = False) -> None:
        self.prepared = prepared
        self.connect = "connect" in type(prepared.sparkSession).__module__
        self._rdd: Any = None
        self.shared = shared
        if not self.connect:
            self._rdd = _old_vectors(prepared)
            if shared:
                self._rdd.cache()
                self._rdd.count()

    def fit(
        self,
        k: int,
        init: np.ndarray | None,
        random_state: int,
        max_iter: int,
        tol: float,
    ) -> Fitted:
        """K-Means with ``k`` centres, from ``init`` when it has ``k`` rows,
        else from k-means|| with seed ``random_state``. Stops when no centre
        moves more than ``tol`` (Spark's rule, in prepared units)."""
        if self.connect:
            return self._fit_ml(k, random_state, max_iter, tol)
        from pyspark.mllib.common import callJavaFunc, callMLlibFunc
        from pyspark.mllib.linalg import Vectors as OldVectors

        start = [] if init is None or len(init) != k else list(init)
        # What pyspark.mllib.clustering.KMeans.train does, keeping the Java
        # model for its cost and iteration count.
        java_model = callMLlibFunc(
            "trainKMeansModel",
            self._rdd.coalesce(self._rdd.getNumPartitions())
            if self.shared
            else self._rdd,
            k,
            max_iter,
            "k-means||",
            random_state,
            2,
            tol,
            [OldVectors.dense(c) for c in start],
            "euclidean",
        )
        sc = self.prepared.sparkSession.sparkContext
        found = callJavaFunc(sc, java_model.clusterCenters)
        return Fitted(
            np.array([c.toArray() for c in found], dtype=np.float64),
            float(java_model.trainingCost()),
            int(java_model.numIter()),
        )

    def _fit_ml(self, k: int, random_state: int, max_iter: int, tol: float) -> Fitted:
        from pyspark.ml.clustering import KMeans

        estimator = KMeans(
            k=k, seed=random_state, maxIter=max_iter, tol=tol, featuresCol=FEATURES
        )
        model = estimator.fit(self.prepared)
        found = [np.asarray(c, dtype=np.float64) for c in model.clusterCenters()]
        return Fitted(
            np.array(found),
            float(model.summary.trainingCost),
            int(model.summary.numIter),
        )

    def close(self) -> None:
        """Free the cached vectors."""
        if self._rdd is not None and self.shared:
            self._rdd.unpersist()
            self._rdd = None


def mean_variance(X: np.ndarray) -> float:
    """Mean variance of the columns of ``X`` (the sample's prepared matrix)."""
    return float(np.mean(np.var(X, axis=0)))


def spark_tolerance(variance: float, k: int, tol: float = TOL) -> float:
    """Spark's stopping distance for the local engine's tolerance.

    The local engine stops when the *summed* squared movement of the centres is
    at most ``tol`` times the mean variance of the features (scikit-learn's
    rule); Spark stops when *each* centre moves less than a distance. That
    distance is chosen so Spark stops no earlier: ``sqrt(tol * variance / k)``.

    Examples
    --------
    >>> spark_tolerance(1.0, 4)
    0.005
    """
    return math.sqrt(tol * variance / k)


def fit_all_rows(
    prepared: DataFrame,
    k: int,
    init: np.ndarray | None,
    *,
    random_state: int,
    max_iter: int,
    tol: float,
) -> Fitted:
    """K-Means on every row: Lloyd from ``init`` (the sample's centres) when
    given and complete, else k-means|| with seed ``random_state``."""
    lloyd = SparkLloyd(prepared)
    try:
        with quiet_pyspark():
            return lloyd.fit(k, init, random_state, max_iter, tol)
    finally:
        lloyd.close()


def with_segments(
    df: DataFrame,
    centers: np.ndarray,
    *,
    segment: str = "__seg",
    sq_dist: str | None = None,
) -> DataFrame:
    """``df`` with the nearest of ``centers`` to each row's ``FEATURES`` in
    column ``segment`` (the first nearest on a tie, as NumPy's argmin), and the
    squared distance to it in ``sq_dist`` when named.

    The distances are plain arithmetic on the vector's entries, which Spark
    compiles to Java code, rather than higher-order functions on arrays
    (``zip_with``, ``aggregate``), which it interprets row by row.
    """
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    x = vector_to_array(F.col(FEATURES))
    width = centers.shape[1]
    entries = [f"__x{i}" for i in range(width)]
    dists = [f"__dist{j}" for j in range(len(centers))]
    out = df.withColumn("__xs", x).withColumns(
        {e: F.col("__xs").getItem(i) for i, e in enumerate(entries)}
    )
    out = out.withColumns(
        {
            d: sum(
                (
                    (F.col(e) - float(c)) * (F.col(e) - float(c))
                    for e, c in zip(entries, center, strict=True)
                ),
                F.lit(0.0),
            )
            for d, center in zip(dists, centers, strict=True)
        }
    )
    nearest = F.least(*[F.col(d) for d in dists]) if len(dists) > 1 else F.col(dists[0])
    out = out.withColumn("__near", nearest).withColumn(
        segment,
        F.coalesce(
            *[F.when(F.col(d) == F.col("__near"), j) for j, d in enumerate(dists)]
        ).cast("int"),
    )
    if sq_dist is not None:
        out = out.withColumn(sq_dist, F.col("__near"))
    return out.drop("__xs", "__near", *entries, *dists)
