"""The Segmenter: a scikit-learn estimator that segments a customer table."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.compose import ColumnTransformer

from custseg.cluster._choose_k import KSelection, Progress, default_n_init, score_k
from custseg.cluster._lloyd import assign, kmeans, lloyd
from custseg.errors import (
    ColumnTypeError,
    DataRepairWarning,
    NotFittedError,
    ParameterError,
)
from custseg.prep import (
    SCALERS,
    FeatureSelection,
    build_preprocessor,
    direct_prep,
    model_matrix,
    model_rows,
    select_features,
)
from custseg.profile import SegmentProfile, profile_segments
from custseg.quality import QualityReport, check_table

__all__ = ["PREP_SAMPLE_SIZE", "Segmenter", "canonical_order"]

# Tables above this many rows have their preparation statistics learned on a
# fixed-seed sample of this size (see Segmenter._fit_preprocessor).
PREP_SAMPLE_SIZE = 1_000_000


def canonical_order(labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Order of clusters for deterministic numbering: largest first, ties broken
    by the centroid's coordinates (lexicographically).

    Returns ``order`` such that new segment ``i`` is old cluster ``order[i]``.

    Examples
    --------
    >>> canonical_order(np.array([1, 1, 0, 2, 2, 2]), np.array([[0.0], [1.0], [2.0]]))
    array([2, 1, 0])
    """
    k = len(centers)
    sizes = np.bincount(labels[labels >= 0], minlength=k)
    keys = sorted(range(k), key=lambda c: (-sizes[c], *np.round(centers[c], 10)))
    return np.asarray(keys)


class Segmenter(ClusterMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Segment customers: prepare features, choose k, fit K-Means, profile.

    Parameters
    ----------
    n_clusters : int, optional
        Number of segments. By default it is chosen over ``k_range`` by the rule
        in :func:`custseg.cluster.choose_k`.
    k_range : (int, int), default (2, 10)
        Smallest and largest k to consider.
    features : list of str, optional
        Columns to segment on. By default: numeric and low-cardinality
        categorical columns, minus identifiers, constant and empty columns.
    id_columns : list of str, optional
        Identifier columns (kept out of the features). Found automatically by default.
    scaler : {"standard", "robust", "minmax", "none"}, default "standard"
    categorical_weight : float, default 0.5
        Weight of one-hot encoded categories relative to a standardised numeric
        feature (see :func:`custseg.prep.build_preprocessor` for why not 1).
    log_features : list of str, optional
        Numeric features log-transformed (``asinh``) before scaling, for heavy
        right tails such as spend or order counts. Profiles stay in the
        original units.
    n_init : int, optional
        K-Means restarts; default 10 on up to 10,000 rows, 3 above.
    max_iter : int, default 300
    random_state : int, default 0
        Seed for every random step (sampling, k-means++ initialisation).
    sample_size : int, default 100_000
        Rows used to score k (a fixed-seed sample); the final fit uses every row.
    silhouette_sample_size : int, default 10_000
        Rows used for silhouettes.

    Attributes
    ----------
    labels_ : ndarray of int
        Segment of each training row (0 is the largest segment).
    n_clusters_ : int
    k_selection_ : KSelection
        Scores per k, the choice and its reason, and the structure verdict.
    profiles_ : tuple of SegmentProfile
    segment_names_ : tuple of str
    cluster_centers_ : ndarray
        Centroids in the prepared (scaled, encoded) space, in segment order.
    quality_ : QualityReport
    selection_ : FeatureSelection
    preprocessor_ : sklearn ColumnTransformer
    inertia_ : float
        Sum of squared distances of every row to its segment's centroid.
    n_iter_ : int
        Lloyd iterations of the final fit on every row.
    n_prepared_features_ : int
        Columns of the prepared matrix (numeric features plus one-hot columns).
    timings_ : dict of str to float
        Seconds spent preparing, choosing k, in the final fit and profiling.
    excluded_rows_ : DataFrame with columns ``row`` and ``reason``
        Rows that got no segment (none for K-Means, which imputes missing values).

    Examples
    --------
    >>> from custseg.datasets import load_mall_customers
    >>> df = load_mall_customers()
    >>> seg = Segmenter(features=["Annual Income (k$)", "Spending Score (1-100)"])
    >>> seg = seg.fit(df)
    >>> seg.n_clusters_, round(seg.k_selection_.silhouette_at_k, 2)
    (5, 0.55)
    >>> bool((seg.predict(df) == seg.labels_).all())
    True
    """

    _parameter_constraints: dict[str, Any] = {
        "n_clusters": "None or an integer >= 1",
        "k_range": "a pair of integers (min, max) with 2 <= min <= max",
        "features": "None or a list of column names",
        "id_columns": "None or a list of column names",
        "scaler": f"one of {', '.join(SCALERS)}",
        "categorical_weight": "a number >= 0",
        "log_features": "None or a list of numeric feature names",
        "n_init": "None or an integer >= 1",
        "max_iter": "an integer >= 1",
        "random_state": "an integer >= 0",
        "sample_size": "an integer >= 100",
        "silhouette_sample_size": "an integer >= 100",
    }

    def __init__(
        self,
        n_clusters: int | None = None,
        *,
        k_range: tuple[int, int] = (2, 10),
        features: Sequence[str] | None = None,
        id_columns: Sequence[str] | None = None,
        scaler: str = "standard",
        categorical_weight: float = 0.5,
        log_features: Sequence[str] | None = None,
        n_init: int | None = None,
        max_iter: int = 300,
        random_state: int = 0,
        sample_size: int = 100_000,
        silhouette_sample_size: int = 10_000,
    ) -> None:
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.features = features
        self.id_columns = id_columns
        self.scaler = scaler
        self.categorical_weight = categorical_weight
        self.log_features = log_features
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.sample_size = sample_size
        self.silhouette_sample_size = silhouette_sample_size

    # -- validation -----------------------------------------------------------

    def _validate_params(self) -> None:
        def is_int(v: object, low: int) -> bool:
            return isinstance(v, Integral) and not isinstance(v, bool) and int(v) >= low

        checks = {
            "n_clusters": self.n_clusters is None or is_int(self.n_clusters, 1),
            "k_range": isinstance(self.k_range, (tuple, list))
            and len(self.k_range) == 2
            and all(is_int(v, 2) for v in self.k_range)
            and self.k_range[0] <= self.k_range[1],
            "features": self.features is None
            or (not isinstance(self.features, str) and len(self.features) > 0),
            "id_columns": self.id_columns is None
            or not isinstance(self.id_columns, str),
            "scaler": self.scaler in SCALERS,
            "categorical_weight": isinstance(self.categorical_weight, Real)
            and not isinstance(self.categorical_weight, bool)
            and float(self.categorical_weight) >= 0,
            "log_features": self.log_features is None
            or not isinstance(self.log_features, str),
            "n_init": self.n_init is None or is_int(self.n_init, 1),
            "max_iter": is_int(self.max_iter, 1),
            "random_state": is_int(self.random_state, 0),
            "sample_size": is_int(self.sample_size, 100),
            "silhouette_sample_size": is_int(self.silhouette_sample_size, 100),
        }
        for name, ok in checks.items():
            if not ok:
                raise ParameterError(
                    f"The '{name}' parameter of Segmenter must be "
                    f"{self._parameter_constraints[name]}; got {getattr(self, name)!r}."
                )

    # -- fitting --------------------------------------------------------------

    def fit(
        self,
        X: pd.DataFrame | np.ndarray,
        y: object = None,
        *,
        quality: QualityReport | None = None,
        progress: Progress | None = None,
    ) -> Segmenter:
        """Choose k (unless given), fit K-Means on every row, and profile.

        Parameters
        ----------
        X : DataFrame (or 2-D array, whose columns are named x0, x1, ...)
        quality : QualityReport, optional
            A report already computed for ``X`` (saves a pass over the data).
        progress : callable(step, done, total), optional
        """
        self._validate_params()
        df = _as_frame(X)
        n = len(df)
        report = quality or check_table(df, id_columns=self.id_columns)
        selection = select_features(report, self.features)
        if self.n_clusters is not None and self.n_clusters > n:
            raise ParameterError(
                f"{report.source}: cannot make {self.n_clusters} segments from "
                f"{n} rows; ask for at most {n}"
            )
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        preprocessor, selection = self._fit_preprocessor(df, selection, report.source)
        Z, repairs = model_matrix(
            df,
            selection,
            preprocessor.transform,
            source=report.source,
            dtype=self._dtype(),
            progress=progress,
            direct=direct_prep(preprocessor),
        )
        _announce(repairs)
        timings["prepare"], clock = _lap(clock)
        self.n_prepared_features_ = int(Z.shape[1])

        selection_k, centers, sample_is_all = score_k(
            Z,
            self.k_range,
            n_clusters=self.n_clusters,
            random_state=self.random_state,
            n_init=self.n_init,
            sample_size=self.sample_size,
            silhouette_sample_size=self.silhouette_sample_size,
            progress=progress,
        )
        k = selection_k.k
        timings["choose_k"], clock = _lap(clock)

        def step(what: str, done: int, total: int) -> None:
            # Lloyd stops when it converges, long before max_iter: report the
            # iteration without a misleading time-left estimate.
            if progress:
                progress(
                    f"fitting K-Means with k={k} on {n:,} rows, iteration {done}",
                    done,
                    0,
                )

        if k in centers:
            # Start from the best centroids found on the sample: on all rows
            # Lloyd then converges in a few iterations (in one when the sample
            # was every row, so the result is the best of n_init restarts).
            fit = lloyd(Z, centers[k], max_iter=self.max_iter, progress=step)
        else:  # a k outside the scored range: fit from scratch on every row
            fit = kmeans(
                Z,
                k,
                n_init=self.n_init or default_n_init(n),
                max_iter=self.max_iter,
                random_state=self.random_state,
                progress=step,
            )
        order = canonical_order(fit.labels, fit.centers)
        remap = np.empty(k, dtype=np.int64)
        remap[order] = np.arange(k)
        labels = remap[fit.labels]
        del Z
        timings["final_fit"], clock = _lap(clock)

        self.quality_ = report.with_repairs(repairs) if repairs else report
        self.selection_ = selection
        self.preprocessor_ = preprocessor
        self.k_selection_: KSelection = selection_k
        self.n_clusters_ = k
        self.labels_ = labels
        self.cluster_centers_ = np.ascontiguousarray(fit.centers[order])
        self.inertia_ = float(fit.inertia)
        self.n_iter_ = int(fit.n_iter)
        self.k_sample_is_all_rows_ = sample_is_all
        if progress:
            progress("profiling segments", 0, 1)
        self.profiles_: tuple[SegmentProfile, ...] = profile_segments(
            df,
            self.labels_,
            selection.numeric,
            selection.categorical,
            log_columns=list(self.log_features or ()),
        )
        self.segment_names_ = tuple(p.name for p in self.profiles_)
        timings["profile"], clock = _lap(clock)
        self.timings_ = timings
        self.feature_names_in_ = np.asarray([str(c) for c in df.columns], dtype=object)
        self.n_features_in_ = df.shape[1]
        self.excluded_rows_ = pd.DataFrame(
            {"row": pd.Series(dtype="int64"), "reason": pd.Series(dtype="object")}
        )
        if progress:
            progress("fitted", 1, 1)
        return self

    def _dtype(self) -> type[np.floating[Any]]:
        """float32 for scaled features (ample for distances between standardised
        values, and half the memory); float64 when features keep their raw
        units (``scaler="none"``), where large amounts need the precision."""
        return np.float64 if self.scaler == "none" else np.float32

    def _fit_preprocessor(
        self, df: pd.DataFrame, selection: FeatureSelection, source: str
    ) -> tuple[ColumnTransformer, FeatureSelection]:
        """Fit imputation, encoding and scaling.

        On tables above ``PREP_SAMPLE_SIZE`` rows the statistics (medians, means,
        scales) are learned on a fixed-seed sample of that many rows: their
        standard error is then about 0.1% of a standard deviation, while a fit on
        every row would hold several float64 copies of the table at once. The
        one-hot categories always come from every row.
        """
        n = len(df)
        positions = None
        categories = None
        sample = df
        if n > PREP_SAMPLE_SIZE:
            rng = np.random.default_rng(self.random_state)
            positions = np.sort(rng.choice(n, PREP_SAMPLE_SIZE, replace=False))
            sample = df.iloc[positions]
            categories = {
                c: sorted(str(v) for v in pd.unique(df[c].dropna()))
                for c in selection.categorical
            }
        frame, _ = model_rows(sample, selection, source=source, positions=positions)
        selection, frame = _drop_unusable(selection, frame, source, self.features)
        logged = list(self.log_features or ())
        not_numeric = [c for c in logged if c not in selection.numeric]
        if not_numeric:
            raise ParameterError(
                f"log_features must be numeric features in use; "
                f"{', '.join(repr(c) for c in not_numeric)} is not "
                f"(numeric features: {', '.join(selection.numeric) or 'none'})"
            )
        preprocessor = build_preprocessor(
            selection,
            self.scaler,
            float(self.categorical_weight),
            {c: categories[c] for c in selection.categorical} if categories else None,
            log_columns=logged,
        )
        return preprocessor.fit(frame), selection

    # -- using a fitted model -------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError(
                "This Segmenter is not fitted yet; call fit(data) first."
            )

    def _prepared(self, X: pd.DataFrame | np.ndarray, source: str | None) -> np.ndarray:
        self._check_fitted()
        Z, repairs = model_matrix(
            _as_frame(X),
            self.selection_,
            self.preprocessor_.transform,
            source=source,
            dtype=self._dtype(),
            direct=direct_prep(self.preprocessor_),
        )
        _announce(repairs)
        return Z

    def prepare_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The prepared matrix for a frame already built by ``model_frame``."""
        return np.ascontiguousarray(
            self.preprocessor_.transform(frame), dtype=np.float64
        )

    def predict(
        self, X: pd.DataFrame | np.ndarray, *, source: str | None = None
    ) -> np.ndarray:
        """Segment of each row of ``X`` (which must have the feature columns)."""
        Z = self._prepared(X, source)
        labels, _ = assign(Z, self.cluster_centers_)
        return labels.astype(np.int64)

    def transform(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Distance of each row to each segment's centroid (prepared space)."""
        from sklearn.metrics.pairwise import euclidean_distances

        Z = self._prepared(X, None)
        return euclidean_distances(Z, self.cluster_centers_.astype(Z.dtype))

    def prepare(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The prepared (imputed, encoded, scaled) feature matrix for ``X``."""
        return self._prepared(X, None)

    def segment_names(self, labels: np.ndarray) -> np.ndarray:
        """Names for an array of segment numbers."""
        self._check_fitted()
        names = np.asarray(self.segment_names_, dtype=object)
        return names[np.asarray(labels)]

    def profiles_frame(self) -> pd.DataFrame:
        """The profiles as a table, one row per segment."""
        from custseg.profile import profiles_frame

        self._check_fitted()
        return profiles_frame(self.profiles_)

    def save(self, path: str) -> None:
        """Save the fitted model (preparation, clusterer, names) to ``path``."""
        from custseg.cluster._persist import save_model

        save_model(self, path)

    def write_report(self, path: str, X: pd.DataFrame) -> None:
        """Write the self-contained HTML report for the training data ``X``."""
        from custseg.pipeline import SegmentationRun
        from custseg.report import write_report

        self._check_fitted()
        write_report(SegmentationRun.from_segmenter(self, _as_frame(X)), path)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def _lap(start: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - start, now


def _announce(repairs: list[str]) -> None:
    for repair in repairs:
        warnings.warn(repair, DataRepairWarning, stacklevel=3)


def _drop_unusable(
    selection: FeatureSelection,
    frame: pd.DataFrame,
    source: str,
    explicit: Sequence[str] | None,
) -> tuple[FeatureSelection, pd.DataFrame]:
    """Drop features left with no usable value after repairs (all inf, say)."""
    empty = [c for c in selection.columns if frame[c].isna().all()]
    if not empty:
        return selection, frame
    if explicit is not None:
        raise ColumnTypeError(
            "has no usable values (all missing, infinite or too large)",
            path=source,
            column=empty[0],
        )
    kept = FeatureSelection(
        tuple(c for c in selection.numeric if c not in empty),
        tuple(c for c in selection.categorical if c not in empty),
        {**selection.excluded, **dict.fromkeys(empty, "no usable values")},
    )
    if not kept.columns:
        raise ColumnTypeError(
            "no column has usable values to segment on",
            path=source,
            hint="Check the file, or name the features with --features.",
        )
    return kept, frame[list(kept.columns)]


def _as_frame(X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ParameterError(
            f"expected a table (2-D), got an array of shape {arr.shape}"
        )
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
