"""The Spark engine's orchestrator: :func:`run_spark`."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg.cluster import Progress
from custseg.model import (
    EngineTable,
    Explanation,
    FittedSegments,
    PreparedFeatures,
    Segmenter,
    drop_unusable,
    output_prefix,
)
from custseg.prep import LARGEST, FeatureSelection, select_features
from custseg.profile import profiles_from_stats, segment_rules
from custseg.settings import Settings
from custseg.spark._kmeans import (
    fit_all_rows,
    mean_variance,
    scan_k,
    spark_tolerance,
    with_segments,
)
from custseg.spark._prepare import FEATURES, Preparation, fit_preparation
from custseg.spark._profile import segment_stats
from custseg.spark._read import read_source
from custseg.spark._session import quiet_pyspark, require_pyspark, spark_session
from custseg.spark._table import SAMPLE_KEY, ColumnFacts, TableInspection, inspect_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from custseg.model import SegmentationRun

__all__ = ["SparkEngine", "run_spark"]

_SEGMENT = "__seg"
_SQ_DIST = "__d2"


def run_spark(
    data: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    *,
    master: str | None = None,
    progress: Progress | None = None,
    spark: SparkSession | None = None,
    **options: Any,
) -> SegmentationRun:
    """Segment a customer table on Apache Spark, as :func:`custseg.pipeline.run` does.

    The rows stay in Spark, which reads the file and computes on every row:
    the column types and every number of the quality report, the preparation's
    statistics (Spark ML), K-Means at the chosen k, the segment profiles, and
    each row's segment (``segments_writer``). The driver works on fixed-seed
    samples: at most 50,000 rows in ``result.data`` (with their segments in
    ``segmenter.labels_``; the report draws them), and at most ``sample_size``
    (100,000) prepared rows to choose k on. See docs/spark.md for the details
    and for where the results can differ from the local engine's.

    Parameters
    ----------
    data : path or URI, optional
        A CSV or Parquet file (or a folder of part files), local or on a file
        system Spark reads (``hdfs://``, ``s3a://``). ``None`` uses the bundled
        mall customers demo (local masters only).
    settings, progress, **options
        As for :func:`custseg.pipeline.run`; this engine uses ``features``,
        ``n_clusters``, ``k_range``, ``scaler``, ``categorical_weight``,
        ``random_state``, ``id_columns``, ``delimiter``, ``encoding`` and
        ``na_values`` (it runs K-Means, without the bootstrap).
    master : str, optional
        Spark master URL when no session is running (default: the settings'
        ``spark_master``, else ``local[*]`` bound to 127.0.0.1; see
        :func:`custseg.spark.spark_session`).
    spark : SparkSession, optional
        A running session to use (e.g. the one spark-submit starts); ``master``
        is then ignored. The session is left running either way: the result's
        ``segments_writer`` needs it.

    Returns
    -------
    SegmentationRun
        ``engine="spark"``; ``data`` is the fixed-seed sample, ``total_rows``
        the row count, and ``segments_writer(out_dir)`` writes every row with
        its segment to ``out_dir/segments.parquet`` (a Spark folder).

    Raises
    ------
    BackendUnavailableError
        PySpark or Java is missing (the message says how to install them).
    InputError, ParameterError
        As for the local engine.

    Examples
    --------
    Not run as a doctest (starting Spark takes seconds)::

        from custseg.pipeline import write_outputs

        features = ["Annual Income (k$)", "Spending Score (1-100)"]
        result = run_spark(features=features, master="local[2]")
        result.k_selection.k, result.n_rows  # (5, 200)
        write_outputs(result, "custseg-output")
    """
    require_pyspark()
    from custseg.datasets import mall_customers_path
    from custseg.model import SegmentationRun, fit_stages

    settings = (settings or Settings()).replace(**options)
    features, id_columns = settings.features, settings.id_columns
    estimator = Segmenter(
        settings.n_clusters,
        k_range=settings.k_range,
        features=list(features) if features else None,
        id_columns=list(id_columns) if id_columns else None,
        scaler=settings.scaler,
        categorical_weight=settings.categorical_weight,
        random_state=settings.random_state,
    )
    estimator._validate_params()
    engine = SparkEngine(spark, master=master or settings.spark_master)
    source = mall_customers_path() if data is None else data
    table = engine.read(source, settings, progress=progress)
    seg = fit_stages(engine, table, estimator, progress)
    inspection: TableInspection = table.handle
    names = [c.name for c in inspection.columns]
    seg.feature_names_in_ = np.asarray(names, dtype=object)
    seg.n_features_in_ = len(names)
    record = {
        "data": str(source),
        "features": list(features) if features else None,
        "n_clusters": settings.n_clusters,
        "k_range": list(settings.k_range),
        "scaler": settings.scaler,
        "categorical_weight": settings.categorical_weight,
        "random_state": settings.random_state,
        "id_columns": list(id_columns) if id_columns else None,
        "engine": "spark",
        "spark_master": engine.master_url,
    }
    return SegmentationRun(
        table.frame,
        seg.quality_,
        seg,
        record,
        {**table.timings, **seg.timings_},
        total_rows=table.n_rows,
        segments_writer=engine.writer,
        engine="spark",
    )


class SparkEngine:
    """The stages of a run on Apache Spark (:class:`custseg.model.Engine`):
    Spark reads, checks and prepares every row, fits K-Means at the chosen k
    on them and computes the profiles' statistics; the driver chooses k on a
    fixed-seed sample of prepared rows and learns the rules on the data
    sample. The bootstrap stability is skipped (it would refit on the cluster
    twenty times)."""

    name = "spark"

    def __init__(
        self, spark: SparkSession | None = None, *, master: str | None
    ) -> None:
        self.spark = spark
        self.master = master
        self.master_url = str(master)
        self.writer: _SegmentsWriter | None = None

    def read(
        self, source: Any, settings: Settings, *, progress: Progress | None = None
    ) -> EngineTable:
        timings: dict[str, float] = {}
        clock = _Clock(timings, progress)
        if self.spark is None:
            clock.start("session", "starting Spark")
            self.spark = spark_session(self.master)
        self.master_url = self.spark.conf.get("spark.master", None) or str(self.master)
        clock.start("load", f"reading {source} with Spark")
        src = read_source(
            self.spark,
            source,
            delimiter=settings.delimiter,
            encoding=settings.encoding,
            na_values=settings.na_values,
        )
        clock.start("quality", "checking every row")
        id_columns = settings.id_columns
        table = inspect_table(
            src,
            random_state=settings.random_state,
            id_columns=list(id_columns) if id_columns else None,
        )
        clock.stop()
        return EngineTable(
            table.sample, table.report, table.n_rows, table, timings=timings
        )

    def prepare(
        self, table: EngineTable, segmenter: Segmenter, progress: Progress | None
    ) -> PreparedFeatures:
        inspection: TableInspection = table.handle
        if progress:
            progress("preparing features with Spark ML", 0, 1)
        selection, repairs = _features(inspection, segmenter.features)
        prep = fit_preparation(
            inspection.values,
            selection,
            {c.name: c for c in inspection.columns},
            inspection.sample,
            scaler=segmenter.scaler,
            categorical_weight=float(segmenter.categorical_weight),
            n_rows=inspection.n_rows,
            source=table.quality.source,
        )
        return PreparedFeatures(selection, prep.preprocessor, tuple(repairs), prep)

    def fit(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        segmenter: Segmenter,
        progress: Progress | None,
    ) -> FittedSegments:
        inspection: TableInspection = table.handle
        prep: Preparation = prepared.handle
        timings: dict[str, float] = {}
        clock = _Clock(timings, progress)
        clock.start("choose_k", "choosing k")
        values, n_rows = inspection.values, inspection.n_rows
        k_sample = _k_sample(values, prep, segmenter.sample_size, n_rows)
        try:
            X = _collect_features(k_sample, prep.n_features)
            selection_k, centers = scan_k(
                k_sample,
                X,
                n_rows=n_rows,
                k_range=segmenter.k_range,
                n_clusters=segmenter.n_clusters,
                random_state=segmenter.random_state,
                max_iter=segmenter.max_iter,
                silhouette_sample_size=segmenter.silhouette_sample_size,
                progress=progress,
            )
            k = selection_k.k
            clock.start("fit", f"fitting K-Means with k={k} on every row")
            prepared_rows = prep.transform(values)
            fit = fit_all_rows(
                # The sample already holds every row of a small table.
                k_sample if n_rows <= segmenter.sample_size else prepared_rows,
                k,
                centers.get(k),
                random_state=segmenter.random_state,
                max_iter=segmenter.max_iter,
                tol=spark_tolerance(mean_variance(X), k),
            )
            clock.start("segment_stats", "measuring the segments on every row")
            labelled = with_segments(
                prepared_rows, fit.centers, segment=_SEGMENT, sq_dist=_SQ_DIST
            )
            facts = {c.name: c for c in inspection.columns}
            stats = segment_stats(
                labelled, len(fit.centers), prepared.selection, facts, n_rows=n_rows
            )
            order = _canonical_order(stats.sizes, fit.centers)
            stats = stats.reordered(order)
            final = np.ascontiguousarray(fit.centers[order], dtype=np.float64)
            labels = _sample_labels(k_sample, final, inspection)
        finally:
            k_sample.unpersist()
        clock.stop()
        k = len(final)
        return FittedSegments(
            k_selection=selection_k,
            labels=labels,
            centers=final,
            algorithm="kmeans",
            predictor={"method": "centroid", "centers": final},
            label_map=np.arange(k),
            inertia=float(stats.sq_dist.sum()),
            n_iter=fit.n_iter,
            predict_agreement=1.0,
            n_fit_rows=n_rows,
            k_sample_is_all_rows=n_rows <= segmenter.sample_size,
            handle=stats,
            timings=timings,
        )

    def profile(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        fitted: FittedSegments,
        segmenter: Segmenter,
    ) -> Explanation:
        profiles = profiles_from_stats(*fitted.handle.profile_inputs())
        # Rules are learnt and measured on the driver's sample.
        rules = segment_rules(
            table.frame,
            fitted.labels,
            prepared.selection.numeric,
            prepared.selection.categorical,
            random_state=segmenter.random_state,
        )
        names = tuple(p.name for p in profiles)
        self.writer = self.write(table, prepared, fitted, names)
        return Explanation(profiles, rules)

    def write(
        self,
        table: EngineTable,
        prepared: PreparedFeatures,
        fitted: FittedSegments,
        names: tuple[str, ...],
    ) -> _SegmentsWriter:
        return _SegmentsWriter(table.handle, prepared.handle, fitted.centers, names)

    def release(self, table: EngineTable, prepared: PreparedFeatures | None) -> None:
        inspection: TableInspection = table.handle
        inspection.values.unpersist()


class _Clock:
    """Times the stages into ``timings`` and reports them to ``progress``."""

    def __init__(self, timings: dict[str, float], progress: Progress | None) -> None:
        self.timings = timings
        self.progress = progress
        self.stage: str | None = None
        self.t0 = 0.0

    def start(self, stage: str, words: str) -> None:
        self.stop()
        self.stage, self.t0 = stage, time.perf_counter()
        if self.progress:
            self.progress(words, 0, 1)

    def stop(self) -> None:
        if self.stage is not None:
            self.timings[self.stage] = time.perf_counter() - self.t0
            self.stage = None


def _features(
    table: TableInspection, explicit: Sequence[str] | None
) -> tuple[FeatureSelection, list[str]]:
    """The local feature rules, on the all-row report; features left with no
    usable value are dropped (or refused when named) as locally. Returns the
    selection and the repairs to announce."""
    report = table.report
    selection = select_features(report, explicit)
    facts = {c.name: c for c in table.columns}
    # The local rule looks at a frame of the prepared values; one row that is
    # missing exactly where a feature has no usable value is all it needs.
    usable = {
        c: facts[c].present - (facts[c].huge if c in selection.numeric else 0) > 0
        for c in selection.columns
    }
    probe = pd.DataFrame({c: [1.0 if ok else np.nan] for c, ok in usable.items()})
    selection, _ = drop_unusable(selection, probe, report.source, explicit)
    repairs = [
        f"treated {facts[c].huge} infinite or absurdly large values (beyond "
        f"±{LARGEST:g}) in '{c}' as missing"
        for c in selection.numeric
        if facts[c].huge
    ]
    return selection, repairs


def _k_sample(
    values: DataFrame, prep: Preparation, size: int, n_rows: int
) -> DataFrame:
    """The prepared rows of the k-selection sample, cached and spread over the
    session's cores (the fits need parallel tasks)."""
    sample = values if n_rows <= size else values.orderBy(SAMPLE_KEY).limit(size)
    spark = values.sparkSession
    parts = max(1, int(spark.conf.get("spark.sql.shuffle.partitions", "2") or 2))
    out = prep.transform(sample).select(SAMPLE_KEY, FEATURES).repartition(parts)
    out = out.persist()
    with quiet_pyspark():
        out.count()
    return out


def _collect_features(sample: DataFrame, width: int) -> np.ndarray:
    """The sample's prepared matrix, in sample-key order."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    with quiet_pyspark():
        table = (
            sample.orderBy(SAMPLE_KEY)
            .select(vector_to_array(F.col(FEATURES)).alias("x"))
            .toArrow()
        )
    flat = table.column("x").combine_chunks().flatten()
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float64).reshape(
        -1, width
    )


def _canonical_order(sizes: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """:func:`custseg.cluster.canonical_order` from the segment sizes (the
    labels of every row stay in Spark): largest first, ties by centroid."""
    k = len(centers)
    keys = sorted(range(k), key=lambda c: (-sizes[c], *np.round(centers[c], 10)))
    return np.asarray(keys)


def _sample_labels(
    k_sample: DataFrame, centers: np.ndarray, table: TableInspection
) -> np.ndarray:
    """Spark's segments of the rows in ``table.sample``, in its order (the data
    sample is the start, by sample key, of the k-selection sample)."""
    first = k_sample.orderBy(SAMPLE_KEY).limit(len(table.sample))
    with quiet_pyspark():
        got = (
            with_segments(first, centers, segment="s").select(SAMPLE_KEY, "s").toArrow()
        )
    keys = np.asarray(got.column(SAMPLE_KEY).to_numpy(zero_copy_only=False))
    segs = np.asarray(got.column("s").to_numpy(zero_copy_only=False), dtype=np.int64)
    if np.array_equal(keys, table.sample_keys):
        return segs
    # Identical rows share a key (and a segment); look each key up.
    lookup = dict(zip(keys.tolist(), segs.tolist(), strict=True))
    return np.array([lookup[k] for k in table.sample_keys.tolist()], dtype=np.int64)


class _SegmentsWriter:
    """``segments_writer`` of a Spark run: every input row, its segment and
    the segment's name, as Parquet written by Spark."""

    def __init__(
        self,
        table: TableInspection,
        prep: Preparation,
        centers: np.ndarray,
        names: tuple[str, ...],
    ) -> None:
        self.table = table
        self.prep = prep
        self.centers = centers
        self.names = names

    def frame(self) -> DataFrame:
        """The rows to write, as a Spark DataFrame (in input order)."""
        from pyspark.sql import functions as F

        cols: list[ColumnFacts] = self.table.columns
        prefix = output_prefix(c.name for c in cols)
        names = F.array(*[F.lit(n) for n in self.names])
        labelled = with_segments(
            self.prep.transform(self.table.output), self.centers, segment=_SEGMENT
        )
        return labelled.select(
            *[F.col(f"o{i}").alias(c.name) for i, c in enumerate(cols)],
            F.col(_SEGMENT).alias(prefix + "segment"),
            F.element_at(names, F.col(_SEGMENT) + 1).alias(prefix + "segment_name"),
        )

    def __call__(self, out_dir: Path) -> Path:
        """Write ``out_dir/segments.parquet`` (under a temporary name first)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        target = out / "segments.parquet"
        tmp = out / f".segments.parquet.{uuid.uuid4().hex}"
        try:
            with quiet_pyspark():
                self.frame().write.parquet("file://" + str(tmp.resolve()))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _replace(tmp, target)
        return target


def _replace(tmp: Path, target: Path) -> None:
    """Move ``tmp`` onto ``target``, a file or folder, replacing it."""
    old: Path | None = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
