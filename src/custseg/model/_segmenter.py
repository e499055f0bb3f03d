"""The Segmenter: a scikit-learn estimator that segments a customer table."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import validate_data

from custseg import _display
from custseg._format import clip
from custseg.cluster import (
    UNASSIGNED,
    AlgorithmOptions,
    KSelection,
    Progress,
    Stability,
    bootstrap_stability,
    check_algorithm,
    predict_confidence,
    predict_raw,
)
from custseg.errors import (
    ColumnTypeError,
    CustsegWarning,
    DataRepairWarning,
    EmptyDataError,
    InputError,
    NotFittedError,
    ParameterError,
)
from custseg.prep import (
    PREP_SAMPLE_SIZE,
    FeatureSelection,
    build_preprocessor,
    converted_rows,
    direct_prep,
    heavy_tailed,
    model_matrix,
    repair_messages,
    select_features,
)
from custseg.profile import SegmentProfile, SegmentRule
from custseg.quality import (
    QualityReport,
    check_overrides,
    check_table,
    describe_columns,
)
from custseg.settings import DEFAULTS, constraints

__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "STABILITY_ROWS",
    "Segmenter",
    "SegmenterNotFittedError",
    "SegmenterParameterError",
    "canonical_order",
    "drop_unusable",
]

# Rows the bootstrap stability draws from (a fixed-seed sample): enough for a
# stable estimate, and twenty refits stay cheap for every algorithm.
STABILITY_ROWS = {"agglomerative": 2_000, "hdbscan": 2_000}
STABILITY_ROWS_DEFAULT = 3_000

# scikit-learn's estimator checks the Segmenter fails by design, with the
# reason (``parametrize_with_checks(..., expected_failed_checks=...)``; see
# tests/test_sklearn_compat.py). Every other check passes.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


class SegmenterParameterError(ParameterError, InvalidParameterError):  # type: ignore[misc]
    """A Segmenter parameter outside what it accepts: custseg's
    :class:`ParameterError` and scikit-learn's ``InvalidParameterError``."""


class SegmenterNotFittedError(NotFittedError, SklearnNotFittedError):  # type: ignore[misc]
    """A Segmenter used before ``fit``: custseg's :class:`NotFittedError` and
    scikit-learn's ``sklearn.exceptions.NotFittedError`` at once (custseg.errors
    itself imports nothing heavy, so the two meet here)."""


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
    """Segment customers: prepare features, choose k, cluster, profile, explain.

    Parameters
    ----------
    n_clusters : int, optional
        Number of segments. By default it is chosen over ``k_range`` by the rule
        in :func:`custseg.cluster.choose_k` (HDBSCAN finds its own).
    algorithm : str, default "kmeans"
        ``kmeans``, ``minibatch-kmeans``, ``agglomerative``, ``gmm``,
        ``hdbscan`` or ``kprototypes``; see :mod:`custseg.cluster._algorithms`
        for how each chooses k and assigns new customers.
    linkage : {"ward", "complete", "average", "single"}, default "ward"
        Linkage of ``agglomerative``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        Covariance of each ``gmm`` component.
    min_cluster_size : int, optional
        Smallest segment ``hdbscan`` keeps (default: 2% of the rows, at least 5).
    stability_resamples : int, default 20
        Bootstrap resamples for the stability of the segments (0: skip). The
        stability also breaks ties between equally supported k.
    rules : bool, default True
        Learn a short rule per segment (a shallow decision tree on the
        original-unit features), with its precision and coverage.
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
        original units. When given, exactly these are transformed, whatever
        ``log_transform`` says.
    log_transform : {"auto", "none"}, default "auto"
        ``auto`` log-transforms (``asinh``, which is log(2x) from x = 3 on and
        0 at 0) the heavy-tailed non-negative amounts and counts (skew above
        ``SKEW_LIMIT``; see :func:`custseg.prep.heavy_tailed`); ``none``
        clusters every feature as it is. ``log_features_`` lists the result.
    column_roles : dict, optional
        The user's labels and roles, column -> ``{"label": ..., "role": ...}``
        (read from a ``--columns`` file by :func:`custseg.read_column_file`);
        other columns' roles are guessed (see :mod:`custseg.quality._roles`).
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
        Segment index of each training row (0 is the largest segment; -1: in
        no segment, HDBSCAN's noise). Indexes ``cluster_centers_`` and
        ``profiles_``; the segment *numbers* shown to users are
        ``segment_ids_[labels_]`` (the same unless ``continue_from`` kept a
        previous model's numbers).
    segment_ids_ : ndarray of int
        Segment number of each segment index.
    algorithm_ : str
    predict_agreement_ : float
        Share of training rows that ``predict`` puts in their own segment
        (1.0 for K-Means; below 1 for a fallback or a sample-fitted algorithm).
    stability_ : Stability or None
        Bootstrap stability, overall and per segment.
    rules_ : tuple of SegmentRule
        One rule per segment, with precision and coverage.
    linkage_ : ndarray or None
        The hierarchical tree (``agglomerative``), for the dendrogram.
    n_clusters_ : int
    k_selection_ : KSelection
        Scores per k, the choice and its reason, and the structure verdict.
    profiles_ : tuple of SegmentProfile
    segment_names_ : tuple of str
    cluster_centers_ : ndarray
        Centroids in the prepared (scaled, encoded) space, in segment order.
    quality_ : QualityReport
    id_columns_ : tuple of str
        The training table's identifier columns (kept out of the features).
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

    # scikit-learn constraint objects, from the settings table; BaseEstimator's
    # _validate_params checks them (see _validate_params below).
    _parameter_constraints: dict[str, list[Any]] = constraints()

    # What fit learns (custseg.model._engine.fit_stages sets these; declared
    # here for the type checker only: an annotation creates no attribute).
    quality_: QualityReport
    id_columns_: tuple[str, ...]
    selection_: FeatureSelection
    preprocessor_: ColumnTransformer
    k_selection_: KSelection
    n_clusters_: int
    labels_: np.ndarray
    segment_ids_: np.ndarray
    cluster_centers_: np.ndarray
    algorithm_: str
    predictor_: dict[str, Any]
    label_map_: np.ndarray
    predict_agreement_: float
    n_fit_rows_: int
    linkage_: Any
    inertia_: float
    n_iter_: int
    k_sample_is_all_rows_: bool
    stability_: Stability | None
    profiles_: tuple[SegmentProfile, ...]
    segment_names_: tuple[str, ...]
    rules_: tuple[SegmentRule, ...]
    timings_: dict[str, float]
    excluded_rows_: pd.DataFrame

    def __init__(
        self,
        n_clusters: int | None = DEFAULTS.n_clusters,
        *,
        algorithm: str = DEFAULTS.algorithm,
        linkage: str = DEFAULTS.linkage,
        covariance_type: str = DEFAULTS.covariance_type,
        min_cluster_size: int | None = DEFAULTS.min_cluster_size,
        stability_resamples: int = DEFAULTS.stability_resamples,
        rules: bool = DEFAULTS.rules,
        k_range: tuple[int, int] = DEFAULTS.k_range,
        features: Sequence[str] | None = None,
        id_columns: Sequence[str] | None = None,
        scaler: str = DEFAULTS.scaler,
        categorical_weight: float = DEFAULTS.categorical_weight,
        log_features: Sequence[str] | None = None,
        log_transform: str = DEFAULTS.log_transform,
        column_roles: dict[str, dict[str, str]] | None = None,
        n_init: int | None = DEFAULTS.n_init,
        max_iter: int = DEFAULTS.max_iter,
        random_state: int = DEFAULTS.random_state,
        sample_size: int = DEFAULTS.sample_size,
        silhouette_sample_size: int = DEFAULTS.silhouette_sample_size,
    ) -> None:
        self.n_clusters = n_clusters
        self.algorithm = algorithm
        self.linkage = linkage
        self.covariance_type = covariance_type
        self.min_cluster_size = min_cluster_size
        self.stability_resamples = stability_resamples
        self.rules = rules
        self.k_range = k_range
        self.features = features
        self.id_columns = id_columns
        self.scaler = scaler
        self.categorical_weight = categorical_weight
        self.log_features = log_features
        self.log_transform = log_transform
        self.column_roles = column_roles
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state
        self.sample_size = sample_size
        self.silhouette_sample_size = silhouette_sample_size

    # -- validation -----------------------------------------------------------

    def _validate_params(self) -> None:
        """Check the parameters against ``_parameter_constraints`` (scikit-learn's
        validation, its error raised as a :class:`ParameterError`), then what
        constraint objects cannot say: ``k_range`` is a pair of integers
        ``2 <= min <= max``; ``features`` is not empty."""
        try:
            super()._validate_params()
        except InvalidParameterError as exc:
            raise SegmenterParameterError(str(exc)) from exc
        k_range = self.k_range
        if not (
            len(k_range) == 2
            and all(
                isinstance(v, Integral) and not isinstance(v, bool) and v >= 2
                for v in k_range
            )
            and k_range[0] <= k_range[1]
        ):
            raise _parameter_error(
                "k_range", "a pair of integers (min, max) with 2 <= min <= max", k_range
            )
        if self.features is not None and len(self.features) == 0:
            raise _parameter_error(
                "features", "a non-empty list of column names or None", self.features
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
            Dense: a sparse matrix is refused, as are complex numbers.
        quality : QualityReport, optional
            A report already computed for ``X`` (saves a pass over the data).
        progress : callable(step, done, total), optional
        """
        self._validate_params()
        df = self._check_X(X, reset=True)
        n = len(df)
        report = quality or check_table(df, id_columns=self.id_columns)
        select_features(report, self.features)  # unknown features fail first
        if self.n_clusters is not None and self.n_clusters > n:
            raise ParameterError(
                f"{report.source}: cannot make {self.n_clusters} segments from "
                f"{n} rows; ask for at most {n}"
            )
        if self.n_clusters is None and n < 3:
            raise ParameterError(
                f"{report.source}: choosing k needs at least 3 rows; the data "
                f"have {n}. Set the number of segments with --k"
            )
        from custseg.model._engine import EngineTable, LocalEngine, fit_stages

        return fit_stages(LocalEngine(), EngineTable(df, report, n), self, progress)

    def _options(self) -> AlgorithmOptions:
        return AlgorithmOptions(
            linkage=self.linkage,
            covariance_type=self.covariance_type,
            min_cluster_size=None
            if self.min_cluster_size is None
            else int(self.min_cluster_size),
        )

    def _stability_scorer(
        self,
    ) -> (
        Callable[[np.ndarray, np.ndarray, Callable[..., np.ndarray]], Stability] | None
    ):
        """Bootstrap stability with this Segmenter's settings (None when off)."""
        if not self.stability_resamples:
            return None
        algorithm = check_algorithm(self.algorithm)
        rows = STABILITY_ROWS.get(algorithm, STABILITY_ROWS_DEFAULT)

        def score(
            X: np.ndarray, labels: np.ndarray, refit: Callable[..., np.ndarray]
        ) -> Stability:
            return bootstrap_stability(
                X,
                labels,
                refit,
                n_resamples=int(self.stability_resamples),
                sample_size=rows,
                random_state=self.random_state,
                # Repeated rows are artificial dense spots for HDBSCAN.
                scheme="subsample" if algorithm == "hdbscan" else "bootstrap",
            )

        return score

    def _dtype(self) -> type[np.floating[Any]]:
        """float32 for scaled features (ample for distances between standardised
        values, and half the memory); float64 when features keep their raw
        units (``scaler="none"``), where large amounts need the precision."""
        return np.float64 if self.scaler == "none" else np.float32

    def _fit_preprocessor(
        self, df: pd.DataFrame, selection: FeatureSelection, source: str
    ) -> tuple[
        ColumnTransformer, FeatureSelection, tuple[pd.DataFrame, list[str]] | None
    ]:
        """Fit imputation, encoding and scaling; return them, the features
        kept, and (when the fit saw every row) the converted feature frame
        and its repairs, for the matrix to be built from.

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
        frame, huge = converted_rows(
            sample, selection, source=source, positions=positions
        )
        selection, frame = drop_unusable(selection, frame, source, self.features)
        overrides = dict(self.column_roles or {})
        check_overrides(overrides, [str(c) for c in df.columns], source)
        self.columns_ = describe_columns(
            [
                *((c, "numeric", frame[c].to_numpy()) for c in selection.numeric),
                *((c, "categorical", None) for c in selection.categorical),
            ],
            overrides,
        )
        if self.log_features is not None:
            logged = list(self.log_features)
        elif self.log_transform == "auto":
            roles = {c: r.role for c, r in self.columns_.items()}
            logged = heavy_tailed(frame, selection.numeric, roles)
        else:
            logged = []
        self.log_features_ = tuple(logged)
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
        converted = None
        if positions is None:  # every row: the repairs of the kept features
            kept = {c: rows for c, rows in huge.items() if c in selection.numeric}
            converted = (frame, repair_messages(kept))
        return preprocessor.fit(frame), selection, converted

    # -- using a fitted model -------------------------------------------------

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise SegmenterNotFittedError(
                "This Segmenter is not fitted yet; call fit(data) first."
            )

    def _check_X(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """``X`` as a frame with text column names, checked as scikit-learn
        checks input (and with its messages where it has one).

        Refused: sparse matrices, complex numbers, arrays that are not 2-D and,
        in ``fit`` (``reset``), arrays without rows or columns, or with one
        row. ``fit`` sets ``n_features_in_``, and ``feature_names_in_`` for a
        frame. A frame is matched to the features by column name (it may have
        more columns, in any order); an array by position, so it must have
        ``n_features_in_`` columns (scikit-learn's warning when a frame meets
        an array-fitted model, or the other way round).
        """
        if sparse.issparse(X):
            raise InputError(
                "sparse input is not supported: the Segmenter needs a dense "
                "table (a DataFrame or a 2-D array); convert it with X.toarray() "
                "if it fits in memory"
            )
        if isinstance(X, pd.DataFrame):
            return self._check_frame(X, reset=reset)
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ParameterError(
                f"expected a table (2-D), got an array of shape {arr.shape}. "
                "Reshape your data with array.reshape(-1, 1) if it has a single "
                "feature, or array.reshape(1, -1) if it is a single customer"
            )
        if arr.dtype.kind == "c":
            raise InputError(
                "Complex data not supported: the table holds complex numbers"
            )
        if reset:
            rows, cols = arr.shape
            if cols == 0 or rows == 0:
                what = "feature" if cols == 0 else "sample"
                raise EmptyDataError(
                    f"the table is empty: 0 {what}(s) (shape={arr.shape}) while "
                    "a minimum of 1 is required"
                )
            if rows == 1:
                raise InputError(
                    f"cannot segment 1 sample (shape={arr.shape}): segmenting "
                    "needs at least 2 rows"
                )
            self.n_features_in_ = cols
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            names = _array_names(cols)
        else:
            self._check_width(arr)
            names = self._positional_names()
        df = pd.DataFrame(arr, columns=names, copy=False)
        # an object array of numbers is numbers (scikit-learn's convention)
        return df.infer_objects() if arr.dtype == object else df

    def _check_frame(self, X: pd.DataFrame, *, reset: bool) -> pd.DataFrame:
        complex_columns = [c for c, t in X.dtypes.items() if t.kind == "c"]
        if complex_columns:
            raise ColumnTypeError(
                "holds complex numbers (Complex data not supported)",
                column=str(complex_columns[0]),
            )
        # Features are named by text everywhere (selection, model file, CLI);
        # a frame with integer column labels would not find its own columns.
        df = X if all(isinstance(c, str) for c in X.columns) else X.rename(columns=str)
        if reset:
            self.n_features_in_ = df.shape[1]
            self.feature_names_in_ = np.asarray(list(df.columns), dtype=object)
            return df
        if hasattr(self, "feature_names_in_") or set(self.selection_.columns) <= set(
            df.columns
        ):
            return df
        # a model fitted on an array meets a frame: columns by position
        self._check_width(X)
        return df.set_axis(self._positional_names(), axis=1)

    def _check_width(self, X: Any) -> None:
        """scikit-learn's check of the number of columns (and its warning on
        feature names) for input matched by position."""
        if getattr(self, "n_features_in_", None) is None:
            return
        try:
            validate_data(self, X, reset=False, skip_check_array=True)
        except ValueError as exc:
            raise InputError(str(exc)) from exc

    def _positional_names(self) -> list[str]:
        """The column names of the training table, in order."""
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(c) for c in names]
        return _array_names(int(self.n_features_in_))

    def _prepared(self, X: pd.DataFrame | np.ndarray, source: str | None) -> np.ndarray:
        self._check_fitted()
        df = self._check_X(X, reset=False)
        Z, repairs = model_matrix(
            df,
            self.selection_,
            self.preprocessor_.transform,
            source=source,
            dtype=self._dtype(),
            direct=direct_prep(self.preprocessor_),
        )
        _announce(repairs)
        for message in self._category_surprises(df, source):
            warnings.warn(message, CustsegWarning, stacklevel=3)
        return Z

    def _category_surprises(self, df: pd.DataFrame, source: str | None) -> list[str]:
        """What scoring ``df`` does silently to its categories: values the
        model never saw (``Other``, ``FEMALE``, ``male ``), which match no
        known category, and missing ones, which take the most frequent."""
        direct = direct_prep(self.preprocessor_)
        if direct is None or not direct.categorical:
            return []
        where = f"{source}: " if source else ""
        out = []
        for j, name in enumerate(direct.categorical):
            column = df[name]
            present = column.notna().to_numpy()
            text = column[present].astype(str)
            known = list(direct.categories[j])
            unseen = text[~text.isin(known)]
            shown = ", ".join(clip(v, 30) for v in known[:6])
            if len(unseen):
                counts = unseen.value_counts()
                listed = ", ".join(
                    f"{clip(str(v), 30)!r} ({n:,})" for v, n in counts.head(5).items()
                )
                more = f" and {len(counts) - 5:,} more" if len(counts) > 5 else ""
                out.append(
                    f"{where}column '{name}': {_customers(len(unseen))} a value the "
                    f"model was not trained on ({listed}{more}), counted as none "
                    f"of the known values ({shown})"
                )
            missing = int((~present).sum())
            if missing:
                out.append(
                    f"{where}column '{name}': {_customers(missing)} no value, "
                    f"counted as the most frequent, {direct.most_frequent[j]!r}"
                )
        return out

    def prepare_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The prepared matrix for a frame already built by ``model_frame``."""
        return np.ascontiguousarray(
            self.preprocessor_.transform(frame), dtype=np.float64
        )

    def predict(
        self, X: pd.DataFrame | np.ndarray, *, source: str | None = None
    ) -> np.ndarray:
        """Segment index of each row of ``X`` (which must have the feature
        columns), as in ``labels_``: -1 for a row in no segment (HDBSCAN's
        noise). See ``predict_agreement_`` for how well this reproduces the
        training segments."""
        Z = self._prepared(X, source)
        return self.predict_prepared(Z)

    def predict_confidence(
        self, X: pd.DataFrame | np.ndarray, *, source: str | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`predict`, and each row's probability of its segment's
        component for a Gaussian mixture (None for the algorithms that assign
        by distance or vote and state no probability)."""
        Z = self._prepared(X, source)
        return self.predict_prepared(Z), predict_confidence(self.predictor_, Z)

    def predict_prepared(self, Z: np.ndarray) -> np.ndarray:
        """:meth:`predict` for an already prepared matrix."""
        self._check_fitted()
        return self.labels_of_assigned(predict_raw(self.predictor_, Z))

    def labels_of_assigned(self, raw: np.ndarray) -> np.ndarray:
        """Segment index (-1: none) of each centre, prototype or component
        index the predictor assigns (what :meth:`predict_prepared` maps, and
        what a model exported as SQL maps the same way)."""
        raw = np.asarray(raw, dtype=np.int64)
        ids = self.predictor_.get("centroid_ids")
        if ids is not None:
            raw = np.asarray(ids)[raw]
        lm = self.label_map_
        inside = (raw >= 0) & (raw < len(lm))
        return np.where(inside, lm[np.where(inside, raw, 0)], -1).astype(np.int64)

    def renumber(self, ids: Sequence[int], names: Sequence[str]) -> None:
        """Give segment index ``i`` the number ``ids[i]`` and name ``names[i]``,
        then put the segments in order of their numbers (used by label
        continuity: see :mod:`custseg.model._continuity`)."""
        from dataclasses import replace

        self._check_fitted()
        numbers = np.asarray(ids, dtype=np.int64)
        k = len(self.segment_names_)
        if len(numbers) != k or len(names) != k or len(set(numbers.tolist())) != k:
            raise ParameterError(f"renumber needs {k} distinct numbers and names")
        order = np.argsort(numbers, kind="stable")  # new index j was order[j]
        inverse = np.empty(k, dtype=np.int64)
        inverse[order] = np.arange(k)
        self.labels_ = np.where(
            self.labels_ >= 0, inverse[np.maximum(self.labels_, 0)], -1
        )
        self.label_map_ = np.where(
            self.label_map_ >= 0, inverse[np.maximum(self.label_map_, 0)], -1
        )
        self.cluster_centers_ = np.ascontiguousarray(self.cluster_centers_[order])
        self.segment_ids_ = numbers[order]
        self.profiles_ = tuple(
            replace(self.profiles_[i], segment=int(numbers[i]), name=str(names[i]))
            for i in order
        )
        self.segment_names_ = tuple(p.name for p in self.profiles_)
        self.rules_ = (
            tuple(replace(self.rules_[i], segment=int(numbers[i])) for i in order)
            if self.rules_
            else ()
        )
        if self.stability_ is not None:
            self.stability_ = replace(
                self.stability_,
                per_segment=tuple(self.stability_.per_segment[i] for i in order),
            )

    def segment_numbers(self, labels: np.ndarray) -> np.ndarray:
        """Segment numbers (what users see) for segment indices; -1 stays -1."""
        self._check_fitted()
        labels = np.asarray(labels)
        ids = np.asarray(self.segment_ids_)
        return np.where(labels >= 0, ids[np.maximum(labels, 0)], -1)

    def transform(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Distance of each row to each segment's centroid (prepared space)."""
        from sklearn.metrics.pairwise import euclidean_distances

        Z = self._prepared(X, None)
        distances: np.ndarray = euclidean_distances(
            Z, self.cluster_centers_.astype(Z.dtype)
        )
        return distances

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the columns of :meth:`transform`: ``segment_<number>`` for
        each segment, in segment order (the numbers of ``segment_ids_``)."""
        self._check_fitted()
        if input_features is not None:
            given = np.asarray(input_features, dtype=object)
            names = getattr(self, "feature_names_in_", None)
            if names is not None and not np.array_equal(
                given, np.asarray(names, dtype=object)
            ):
                raise ParameterError("input_features is not equal to feature_names_in_")
            if len(given) != self.n_features_in_:
                raise ParameterError(
                    "input_features should have length equal to number of "
                    f"features ({self.n_features_in_}), got {len(given)}"
                )
        return np.asarray([f"segment_{i}" for i in self.segment_ids_], dtype=object)

    def prepared_feature_labels(self) -> list[str]:
        """A readable name for each column of the prepared matrix: the
        feature's label, or ``"Gender: Female"`` for a one-hot column."""
        self._check_fitted()
        columns = getattr(self, "columns_", {})
        categorical = sorted(self.selection_.categorical, key=len, reverse=True)
        out = []
        for name in self.preprocessor_.get_feature_names_out():
            name = str(name)
            if name in columns:
                out.append(columns[name].label)
                continue
            for c in categorical:
                if name.startswith(f"{c}_"):
                    label = columns[c].label if c in columns else c
                    out.append(f"{label}: {name[len(c) + 1 :]}")
                    break
            else:
                out.append(name)
        return out

    def prepare(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The prepared (imputed, encoded, scaled) feature matrix for ``X``."""
        return self._prepared(X, None)

    def segment_names(self, labels: np.ndarray) -> np.ndarray:
        """Names for an array of segment indices ("unassigned" for -1)."""
        self._check_fitted()
        names = np.asarray([*self.segment_names_, UNASSIGNED], dtype=object)
        labels = np.asarray(labels)
        return names[np.where(labels >= 0, labels, len(self.segment_names_))]

    def profiles_frame(self) -> pd.DataFrame:
        """The profiles as a table, one row per segment."""
        from custseg.profile import profiles_frame

        self._check_fitted()
        return profiles_frame(self.profiles_)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the fitted model (preparation, clusterer, names) to ``path``."""
        from custseg.model._persist import save_model

        save_model(self, path)

    def write_report(self, path: str, X: pd.DataFrame) -> None:
        """Write the self-contained HTML report for the training data ``X``."""
        from custseg.model._run import SegmentationRun
        from custseg.report import write_report

        self._check_fitted()
        write_report(
            SegmentationRun.from_segmenter(self, self._check_X(X, reset=False)), path
        )

    def _html_repr(self) -> str:
        """Jupyter (scikit-learn's hook behind ``_repr_html_`` and
        ``_repr_mimebundle_``): once fitted, the segments as cards and how k
        was chosen, above scikit-learn's parameter diagram."""
        from sklearn.utils import estimator_html_repr

        diagram = str(estimator_html_repr(self))
        if not hasattr(self, "profiles_"):
            return diagram
        return _display.html(self) + diagram

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # Missing values are imputed; text and category columns are one-hot
        # encoded (scikit-learn's ``categorical`` tag would instead feed its
        # checks integer codes, which the Segmenter rightly takes as numbers).
        # Sparse input is refused (input_tags.sparse stays False).
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def _segment_means(Z: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mean prepared row of each cluster id in ``ids`` (one bincount per column:
    ``np.add.at`` is many times slower on millions of rows)."""
    keep = labels >= 0
    index = np.searchsorted(ids, labels[keep])
    counts = np.bincount(index, minlength=len(ids)).astype(np.float64)
    out = np.empty((len(ids), Z.shape[1]))
    for j in range(Z.shape[1]):
        out[:, j] = np.bincount(index, weights=Z[keep, j], minlength=len(ids))
    return out / counts[:, None]


def _customers(n: int) -> str:
    """``"1 customer has"``, ``"3 customers have"``."""
    return f"{n:,} customer has" if n == 1 else f"{n:,} customers have"


def _announce(repairs: list[str]) -> None:
    for repair in repairs:
        warnings.warn(repair, DataRepairWarning, stacklevel=3)


def drop_unusable(
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


def _array_names(n: int) -> list[str]:
    """Column names of an array's features: x0, x1, ..."""
    return [f"x{i}" for i in range(n)]


def _parameter_error(name: str, allowed: str, value: object) -> ParameterError:
    """A ParameterError worded as scikit-learn words InvalidParameterError."""
    return SegmenterParameterError(
        f"The {name!r} parameter of Segmenter must be {allowed}. Got {value!r} instead."
    )
