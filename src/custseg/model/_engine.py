"""Engines: where the stages of a segmentation run.

A run reads its rows, prepares the features, fits the segments, explains them
and writes every row with its segment. An *engine* does those five stages on
one system: :class:`LocalEngine` in this process (pandas, NumPy and
scikit-learn), ``custseg.spark.SparkEngine`` on Apache Spark, where the rows
stay. Each stage hands the next a small frozen record (:class:`EngineTable`,
:class:`PreparedFeatures`, :class:`FittedSegments`, :class:`Explanation`),
with an engine's own state in its ``handle``.

:func:`fit_stages` is the one sequence of the middle stages, prepare, fit and
profile, and the one place that fills a :class:`custseg.Segmenter` from them:
``Segmenter.fit`` calls it with the local engine, ``run_spark`` with Spark's.
docs/architecture.md says how to add an engine.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from custseg.cluster import KSelection, Progress, Stability, segment, within_ss
from custseg.errors import DataRepairWarning, ParameterError
from custseg.prep import FeatureSelection, direct_prep, model_matrix
from custseg.profile import SegmentProfile, SegmentRule, profile_segments, segment_rules
from custseg.quality import QualityReport

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer

    from custseg.model._segmenter import Segmenter
    from custseg.settings import Settings

__all__ = [
    "Engine",
    "EngineTable",
    "Explanation",
    "FittedSegments",
    "LocalEngine",
    "PreparedFeatures",
    "fit_stages",
]


@dataclass(frozen=True)
class EngineTable:
    """The rows a run segments, as an engine read them.

    Attributes
    ----------
    frame : DataFrame
        Every row (local), or the engine's fixed-seed sample of them (the
        report draws it, the rules learn on it).
    quality : QualityReport
        Of every row.
    n_rows : int
        How many rows there are in all.
    handle : object
        The engine's own hold on the rows (Spark: the cached table).
    timings : dict of str to float
        Seconds the reading took (``load``, ``quality``, ...).
    """

    frame: pd.DataFrame
    quality: QualityReport
    n_rows: int
    handle: Any = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedFeatures:
    """The features chosen and how they are prepared: ``preprocessor`` is the
    fitted scikit-learn ``ColumnTransformer`` the model file keeps; ``repairs``
    what preparing changed; ``handle`` the prepared rows (local: the matrix)."""

    selection: FeatureSelection
    preprocessor: ColumnTransformer
    repairs: tuple[str, ...]
    handle: Any = None


@dataclass(frozen=True)
class FittedSegments:
    """The segments found, numbered canonically (largest first).

    ``labels`` are those of ``EngineTable.frame``'s rows (-1 for a row in no
    segment), ``centers`` the segment centres in prepared units; ``predictor``
    is what ``Segmenter.predict`` uses, ``label_map`` maps its raw labels to
    segment numbers. ``handle`` holds what the engine needs to explain the
    segments (Spark: the statistics of every row). ``timings`` splits the
    stage's seconds where the engine measures its parts (else the stage is
    timed whole)."""

    k_selection: KSelection
    labels: np.ndarray
    centers: np.ndarray
    algorithm: str
    predictor: dict[str, Any]
    label_map: np.ndarray
    inertia: float
    n_iter: int
    predict_agreement: float
    n_fit_rows: int
    k_sample_is_all_rows: bool
    linkage: Any = None
    stability: Stability | None = None
    handle: Any = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Explanation:
    """The segments' profiles (sizes, means, names, actions) and rules."""

    profiles: tuple[SegmentProfile, ...]
    rules: tuple[SegmentRule, ...]
    timings: dict[str, float] = field(default_factory=dict)


class Engine(Protocol):
    """The five stages of a run on one system (see the module's docstring)."""

    name: str

    def read(self, source: Any, settings: Settings) -> EngineTable:
        """Read the rows and check every one of them."""

    def prepare(
        self, table: EngineTable, segmenter: Segmenter, progress: Progress | None
    ) -> PreparedFeatures:
        """Choose the features and fit their preparation (it may record on
        ``segmenter`` what it learns of the columns: roles, log features)."""

    def fit(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        segmenter: Segmenter,
        progress: Progress | None,
    ) -> FittedSegments:
        """Choose k (unless given) and fit the segments."""

    def profile(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        fitted: FittedSegments,
        segmenter: Segmenter,
    ) -> Explanation:
        """Describe the segments in the columns' own units, and their rules."""

    def write(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        fitted: FittedSegments,
        names: tuple[str, ...],
    ) -> Callable[[Path], Path] | None:
        """A writer of every row with its segment into a folder, or ``None``
        when ``table.frame`` holds every row (the pipeline writes it)."""

    def release(self, table: EngineTable, prepared: PreparedFeatures | None) -> None:
        """Free what the stages cached (called however the stages ended)."""


def fit_stages(
    engine: Engine,
    table: EngineTable,
    segmenter: Segmenter,
    progress: Progress | None = None,
) -> Segmenter:
    """Prepare, fit and profile ``table`` on ``engine`` and fill ``segmenter``
    with the result (its fitted attributes, and ``timings_``)."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    prepared: PreparedFeatures | None = None
    try:
        prepared = engine.prepare(table, segmenter, progress)
        for repair in prepared.repairs:
            warnings.warn(repair, DataRepairWarning, stacklevel=3)
        timings["prepare"], clock = _lap(clock)
        fitted = engine.fit(table, prepared, segmenter, progress)
        seconds, clock = _lap(clock)
        timings.update(fitted.timings or {"fit": seconds})
        if progress:
            progress("profiling segments", 0, 1)
        explained = engine.profile(table, prepared, fitted, segmenter)
        seconds, clock = _lap(clock)
        timings.update(explained.timings or {"profile": seconds})
    finally:
        engine.release(table, prepared)

    report = table.quality
    segmenter.quality_ = (
        report.with_repairs(list(prepared.repairs)) if prepared.repairs else report
    )
    # the training table's identifiers: what an export of the model to SQL
    # returns beside each customer's segment
    segmenter.id_columns_ = tuple(str(c) for c in report.id_columns)
    segmenter.selection_ = prepared.selection
    segmenter.preprocessor_ = prepared.preprocessor
    segmenter.k_selection_ = fitted.k_selection
    k = len(fitted.centers)
    segmenter.n_clusters_ = k
    segmenter.labels_ = fitted.labels
    segmenter.segment_ids_ = np.arange(k)
    segmenter.cluster_centers_ = np.ascontiguousarray(fitted.centers)
    segmenter.algorithm_ = fitted.algorithm
    segmenter.predictor_ = fitted.predictor
    segmenter.label_map_ = fitted.label_map
    segmenter.predict_agreement_ = float(fitted.predict_agreement)
    segmenter.n_fit_rows_ = int(fitted.n_fit_rows)
    segmenter.linkage_ = fitted.linkage
    segmenter.inertia_ = float(fitted.inertia)
    segmenter.n_iter_ = int(fitted.n_iter)
    segmenter.k_sample_is_all_rows_ = fitted.k_sample_is_all_rows
    segmenter.stability_ = fitted.stability
    segmenter.profiles_ = explained.profiles
    segmenter.segment_names_ = tuple(p.name for p in explained.profiles)
    segmenter.rules_ = explained.rules
    segmenter.timings_ = timings
    from custseg.cluster import NOISE_REASON

    unassigned = np.flatnonzero(np.asarray(fitted.labels) < 0)
    segmenter.excluded_rows_ = pd.DataFrame(
        {
            "row": pd.Series(unassigned + 1, dtype="int64"),
            "reason": pd.Series([NOISE_REASON] * len(unassigned), dtype="object"),
        }
    )
    if progress:
        progress("fitted", 1, 1)
    return segmenter


class LocalEngine:
    """The stages in this process, on every row: the preparation in float32
    (float64 for unscaled features), any of custseg's algorithms, the
    bootstrap stability, profiles and rules from the rows themselves."""

    name = "local"

    def read(self, source: Any, settings: Settings) -> EngineTable:
        """:func:`custseg.io.read_table` and :func:`custseg.quality.check_table`."""
        from custseg.io import read_table
        from custseg.quality import check_table

        timings: dict[str, float] = {}
        clock = time.perf_counter()
        loaded = read_table(source, **settings.load_options())
        timings["load"], clock = _lap(clock)
        quality = check_table(loaded, id_columns=settings.id_columns)
        timings["quality"], clock = _lap(clock)
        return EngineTable(
            loaded.frame, quality, len(loaded.frame), loaded, timings=timings
        )

    def prepare(
        self, table: EngineTable, segmenter: Segmenter, progress: Progress | None
    ) -> PreparedFeatures:
        from custseg.prep import select_features

        report = table.quality
        selection = select_features(report, segmenter.features)
        df = table.frame
        preprocessor, selection, converted = segmenter._fit_preprocessor(
            df, selection, report.source
        )
        # A table the preparation was fitted on in full is converted once.
        Z, repairs = model_matrix(
            df if converted is None else converted[0],
            selection,
            preprocessor.transform,
            source=report.source,
            dtype=segmenter._dtype(),
            progress=progress,
            direct=direct_prep(preprocessor),
            converted=converted is not None,
        )
        if converted is not None:
            repairs = converted[1]
        segmenter.n_prepared_features_ = int(Z.shape[1])
        # In a list, so that fit can let go of the matrix before profiling
        # (it is the largest thing a run holds).
        return PreparedFeatures(selection, preprocessor, tuple(repairs), [Z])

    def fit(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        segmenter: Segmenter,
        progress: Progress | None,
    ) -> FittedSegments:
        from custseg.cluster import Layout, check_algorithm
        from custseg.model._segmenter import _segment_means, canonical_order

        clock = time.perf_counter()
        Z: np.ndarray = prepared.handle.pop()  # freed once fit returns
        algorithm = check_algorithm(segmenter.algorithm)
        stability = segmenter._stability_scorer()
        result = segment(
            Z,
            algorithm,
            layout=Layout.from_preprocessor(prepared.preprocessor),
            options=segmenter._options(),
            categorical_weight=float(segmenter.categorical_weight),
            n_clusters=segmenter.n_clusters,
            k_range=segmenter.k_range,
            random_state=segmenter.random_state,
            n_init=segmenter.n_init,
            max_iter=segmenter.max_iter,
            sample_size=segmenter.sample_size,
            silhouette_sample_size=segmenter.silhouette_sample_size,
            tie_breaker=(lambda X, lab, k, refit: stability(X, lab, refit).overall)
            if stability
            else None,
            progress=progress,
        )
        timings = {"choose_k_and_fit": time.perf_counter() - clock}
        raw = result.clustering.labels
        ids = np.unique(raw[raw >= 0])
        k = len(ids)
        if k == 0:
            raise ParameterError(
                f"{table.quality.source}: no customer was assigned a segment"
            )
        predictor = result.clustering.predictor
        if algorithm == "kmeans":  # Lloyd's centroids are the segment means
            raw_centers = np.asarray(predictor["centers"], dtype=np.float64)[ids]
        else:
            raw_centers = _segment_means(Z, raw, ids)
        order = canonical_order(np.searchsorted(ids, raw[raw >= 0]), raw_centers)
        label_map = np.full(int(raw.max()) + 1, -1, dtype=np.int64)
        label_map[ids[order]] = np.arange(k)
        labels = np.where(raw >= 0, label_map[np.maximum(raw, 0)], -1)
        scored = None
        clock = time.perf_counter()
        if stability:
            if progress:
                progress("bootstrap stability", 0, 1)
            scored = stability(Z, labels, result.refit)
        timings["stability"] = time.perf_counter() - clock
        return FittedSegments(
            k_selection=result.selection,
            labels=labels,
            centers=raw_centers[order],
            algorithm=algorithm,
            predictor=predictor,
            label_map=label_map,
            inertia=within_ss(Z, labels)
            if algorithm != "kmeans"
            else float(result.clustering.extra["inertia"]),
            n_iter=int(result.clustering.extra.get("n_iter", 0)),
            predict_agreement=float(result.predict_agreement),
            n_fit_rows=int(result.n_fit_rows),
            k_sample_is_all_rows=result.sample_is_all,
            linkage=result.clustering.extra.get("linkage"),
            stability=scored,
            timings=timings,
        )

    def profile(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        fitted: FittedSegments,
        segmenter: Segmenter,
    ) -> Explanation:
        selection = prepared.selection
        clock = time.perf_counter()
        profiles = profile_segments(
            table.frame,
            fitted.labels,
            selection.numeric,
            selection.categorical,
            log_columns=list(segmenter.log_features_),
            columns=segmenter.columns_,
        )
        timings, clock = {"profile": time.perf_counter() - clock}, time.perf_counter()
        rules: tuple[SegmentRule, ...] = ()
        if segmenter.rules:
            rules = segment_rules(
                table.frame,
                fitted.labels,
                selection.numeric,
                selection.categorical,
                random_state=segmenter.random_state,
            )
        timings["rules"] = time.perf_counter() - clock
        return Explanation(profiles, rules, timings)

    def write(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        fitted: FittedSegments,
        names: tuple[str, ...],
    ) -> Callable[[Path], Path] | None:
        return None  # every row is in table.frame: the pipeline writes it

    def release(self, table: EngineTable, prepared: PreparedFeatures | None) -> None:
        return None  # nothing cached beyond this process's memory


def _lap(start: float) -> tuple[float, float]:
    now = time.perf_counter()
    return now - start, now
