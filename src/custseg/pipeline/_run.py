"""The one orchestrator: load, check, segment, and write every output.

The CLI and (later) the web app both call :func:`run` and :func:`write_outputs`;
neither has logic of its own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from custseg._format import printable
from custseg._parallel import shared
from custseg.cluster import Progress
from custseg.datasets import mall_customers_path
from custseg.errors import ParameterError
from custseg.io import (
    DatabaseSource,
    DatabaseTarget,
    read_table,
    write_table,
)
from custseg.model import (
    NAME_COLUMN,
    SEGMENT_COLUMN,
    LocalEngine,
    SegmentationRun,
    Segmenter,
    attach_segments,
    used_prefix,
)
from custseg.quality import QualityReport
from custseg.settings import Settings

__all__ = [
    "NAME_COLUMN",
    "SEGMENT_COLUMN",
    "SegmentationRun",
    "Source",
    "attach_segments",
    "database_rows",
    "key_rows",
    "load_source",
    "predict",
    "run",
    "segment",
    "write_outputs",
    "write_predictions",
]

# What a run reads: a file, a DataFrame, or a table or query in a database.
Source = str | os.PathLike[str] | pd.DataFrame | DatabaseSource


# What run and predict read sources with: io.read_table takes files, frames
# and DatabaseSources alike (the name stays for callers of this module).
load_source = read_table


def predict(
    model: str | os.PathLike[str] | Segmenter,
    data: Source,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    na_values: Sequence[str] = (),
    max_bytes: int | str | None = None,
    header: bool = True,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Assign every row of ``data`` to a segment of a saved (or fitted) model.

    Parameters
    ----------
    model : path or Segmenter
        A ``model.skops`` written by :func:`write_outputs` (or
        :func:`custseg.save_model`), or a fitted :class:`custseg.Segmenter`.
    data : path, DataFrame or DatabaseSource
        The customers to score; they need the model's feature columns, and
        other columns are carried through unchanged.
    delimiter, encoding, sheet, na_values, max_bytes, header, names
        As for :func:`custseg.read_table`.

    Returns
    -------
    pandas.DataFrame
        The rows, in input order, with ``segment`` and ``segment_name`` (and
        ``unassigned_reason`` for rows no segment takes); the columns are
        prefixed ``custseg_`` when the input has such columns already. Write
        it with :func:`write_predictions`.

    Examples
    --------
    >>> fitted = run(features=["Annual Income (k$)", "Spending Score (1-100)"])
    >>> scored = predict(fitted.segmenter, fitted.data)
    >>> bool((scored["segment"] == fitted.labels).all())
    True
    """
    from custseg.model import load_model

    segmenter = model if isinstance(model, Segmenter) else load_model(model)
    table = load_source(
        data,
        delimiter=delimiter,
        encoding=encoding,
        sheet=sheet,
        na_values=na_values,
        max_bytes=max_bytes,
        header=header,
        names=names,
    )
    labels = segmenter.predict(
        table.frame, source=None if isinstance(data, pd.DataFrame) else table.source
    )
    return attach_segments(table.frame, labels, segmenter)


def run(
    data: Source | None = None,
    settings: Settings | None = None,
    *,
    progress: Progress | None = None,
    **options: Any,
) -> SegmentationRun:
    """Segment a customer table from start to finish.

    Parameters
    ----------
    data : path, DataFrame, DatabaseSource or None
        The table; ``None`` uses the bundled mall customers demo.
    settings : Settings, optional
        How to read, prepare and segment (:class:`custseg.Settings`, the one
        table of options the command line and the web app share). Default:
        ``Settings()``.
    progress : callable, optional
        Called as ``progress(step, done, total)`` while the run works.
    **options
        Any :class:`custseg.Settings` field (``features``, ``n_clusters``,
        ``algorithm``, ``previous``, ``engine``, ...), applied on top of
        ``settings``; an unknown name is a :class:`custseg.errors.ParameterError`.

    Returns
    -------
    SegmentationRun
        The rows, their quality report, the fitted :class:`custseg.Segmenter`
        and the timings; write it with :func:`write_outputs`.

    Examples
    --------
    >>> result = run(features=["Annual Income (k$)", "Spending Score (1-100)"])
    >>> result.k_selection.k, len(result.segments_frame())
    (5, 200)
    >>> same = run(None, Settings(features=("Annual Income (k$)",
    ...     "Spending Score (1-100)")))
    >>> bool((same.labels == result.labels).all())
    True
    """
    settings = (settings or Settings()).replace(**options)
    if settings.engine == "spark":
        from custseg.spark import run_spark

        if settings.algorithm != "kmeans" or settings.previous is not None:
            raise ParameterError(
                "the Spark engine runs K-Means only, without --previous; use the "
                "local engine for other algorithms and for label continuity"
            )
        if isinstance(data, (pd.DataFrame, DatabaseSource)):
            raise ParameterError(
                "engine='spark' reads files; pass a path (read DataFrames and "
                "database tables with the local engine)"
            )
        if settings.no_header or settings.names or settings.max_bytes:
            raise ParameterError(
                "the Spark engine reads files with a header line, as large as "
                "the cluster takes; --no-header, --names and --max-bytes are "
                "for the local engine"
            )
        return run_spark(data, settings, progress=progress)
    if settings.engine != "local":
        raise ParameterError(
            f"engine must be 'local' or 'spark'; got {settings.engine!r}"
        )
    source = mall_customers_path() if data is None else data
    table = LocalEngine().read(source, settings)
    quality = table.quality
    return segment(
        table.frame,
        settings,
        quality=quality,
        source=str(quality.source) if isinstance(source, pd.DataFrame) else str(source),
        timings=table.timings,
        progress=progress,
    )


def segment(
    table: pd.DataFrame,
    settings: Settings,
    *,
    quality: QualityReport,
    source: str,
    timings: dict[str, float] | None = None,
    progress: Progress | None = None,
) -> SegmentationRun:
    """Prepare, segment and explain a loaded, checked ``table``: the part of
    :func:`run` after loading (:func:`custseg.rfm` calls it on its
    per-customer table).

    Parameters
    ----------
    table : DataFrame
        The customers, one row each.
    settings : Settings
        How to prepare and segment (``engine`` is not read here).
    quality : QualityReport
        ``check_table(table, ...)``, already computed.
    source : str
        Where the rows came from, for messages and the summary.
    timings : dict of str to float, optional
        Seconds of the stages measured before (loading, checking).
    progress : callable(step, done, total), optional

    Returns
    -------
    SegmentationRun
        With ``timings`` holding the earlier stages and the fit's.

    Examples
    --------
    >>> from custseg import Settings, check_table, load_mall_customers
    >>> table = load_mall_customers()
    >>> quality = check_table(table)
    >>> result = segment(
    ...     table, Settings(n_clusters=3, stability_resamples=0),
    ...     quality=quality, source="mall",
    ... )
    >>> result.k_selection.k, result.n_rows
    (3, 200)
    """
    timings = dict(timings or {})
    previous = settings.previous
    previous_model = _load_previous(previous)  # fail early, before the fit
    column_roles = settings.column_roles
    roles_file = None
    if isinstance(column_roles, (str, os.PathLike)):
        from custseg.quality import read_column_file

        roles_file = os.fspath(column_roles)
        column_roles = read_column_file(column_roles)

    t0 = time.perf_counter()
    segmenter = Segmenter(
        **settings.replace(column_roles=column_roles).segmenter_params()
    ).fit(table, quality=quality, progress=progress)
    timings["segment"] = time.perf_counter() - t0
    timings.update({f"segment.{k}": v for k, v in segmenter.timings_.items()})
    migration = None
    if previous is not None:
        assert previous_model is not None
        migration = continue_with(segmenter, previous_model, table, source=previous)
    algorithm = segmenter.algorithm_
    record = {
        "data": source,
        "features": _listed(settings.features),
        "n_clusters": settings.n_clusters,
        "k_range": list(settings.k_range),
        "scaler": settings.scaler,
        "categorical_weight": settings.categorical_weight,
        "random_state": settings.random_state,
        "id_columns": _listed(settings.id_columns),
        "algorithm": algorithm,
        "linkage": settings.linkage if algorithm == "agglomerative" else None,
        "covariance_type": settings.covariance_type if algorithm == "gmm" else None,
        "min_cluster_size": settings.min_cluster_size,
        "stability_resamples": settings.stability_resamples,
        "log_transform": settings.log_transform,
        "log_features": list(segmenter.log_features_),
        "columns": roles_file,
        "previous": None if migration is None else migration.previous,
        "engine": "local",
    }
    return SegmentationRun(
        table, segmenter.quality_, segmenter, record, timings, migration=migration
    )


def _listed(names: Sequence[str] | None) -> list[str] | None:
    """Column names as a JSON list (``None`` when not given)."""
    return list(names) if names else None


def _load_previous(
    previous: str | os.PathLike[str] | Segmenter | None,
) -> Segmenter | None:
    from custseg.model import load_model

    if previous is None or isinstance(previous, Segmenter):
        return previous
    model: Segmenter = load_model(previous)
    return model


def continue_with(
    segmenter: Segmenter,
    previous: Segmenter,
    data: pd.DataFrame,
    *,
    source: str | os.PathLike[str] | Segmenter | None = None,
) -> Any:
    """Keep ``previous``'s numbers and names where its segments persist in
    ``segmenter`` (see :mod:`custseg.model._continuity`); the migration."""
    from custseg.model import continue_from

    name = (
        os.fspath(source)
        if isinstance(source, (str, os.PathLike))
        else "the previous model"
    )
    return continue_from(segmenter, previous, data, source=name)


def database_rows(
    result: SegmentationRun, segments: pd.DataFrame | None = None
) -> pd.DataFrame:
    """What goes to a database table: each customer's id column(s) (or a
    1-based ``row_number`` when the table has none), segment number and name,
    the reason for unassigned rows, and for an RFM run the RFM score and
    segment. One row per input row, in input order. ``segments`` is
    ``result.segments_frame()`` when the caller has it already."""
    rfm = ["rfm_score", "rfm_segment"] if result.rfm is not None else []
    return key_rows(
        result.segments_frame() if segments is None else segments,
        list(result.data.columns),
        result.quality.id_columns,
        rfm,
    )


def key_rows(
    scored: pd.DataFrame,
    input_columns: Sequence[str],
    id_columns: Sequence[str],
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """The id columns, the columns :func:`attach_segments` added to the input,
    and ``extra``; a 1-based ``row_number`` first when there is no id column."""
    added = [c for c in scored.columns if c not in set(input_columns)]
    ids = [c for c in id_columns if c in scored.columns]
    out = scored[[*ids, *added, *extra]].reset_index(drop=True)
    if not ids:
        out = out.copy(deep=False)
        out.insert(0, "row_number", np.arange(1, len(out) + 1, dtype=np.int64))
    return out


def write_outputs(
    result: SegmentationRun,
    out_dir: str | os.PathLike[str] = "custseg-output",
    *,
    report: bool = True,
    model: bool = True,
    safe_formulas: bool = True,
    database: DatabaseTarget | None = None,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Write segments, profiles, summary.json, report.html and the model
    (and rfm_segments.csv for an RFM run), and the segments to a database
    table when ``database`` is given.

    Segments are written as Parquet when the input was Parquet, else CSV. Each
    file is written under a temporary name and renamed when complete; the
    database table is written in one transaction (:func:`database_rows` says
    which columns). In CSV, text cells that a spreadsheet would run as formulas
    (starting with ``=``, ``+``, ``-`` or ``@``) get a leading ``'`` unless
    ``safe_formulas`` is False; database tables keep values as they are.
    ``result`` is not changed: the writing times go to summary.json.

    Parameters
    ----------
    result : SegmentationRun
        What :func:`run` or :func:`custseg.rfm` returned.
    out_dir : str or path
        The folder, created if needed.
    report : bool
        Write report.html.
    model : bool
        Write model.skops (see :func:`custseg.load_model`).
    safe_formulas : bool
        Escape text cells a spreadsheet would run as formulas.
    database : DatabaseTarget, optional
        Also write the segments to this table.
    progress : callable(step, done, total), optional

    Returns
    -------
    dict of str to Path
        Each file written, by name (``segments``, ``profiles``, ``summary``,
        ``report``, ``model``, ``rfm_segments``); ``database`` holds the row
        count written to the table.

    Examples
    --------
    >>> import tempfile
    >>> result = run(n_clusters=3, stability_resamples=0)
    >>> paths = write_outputs(result, tempfile.mkdtemp(), report=False)
    >>> sorted(paths)
    ['model', 'profiles', 'segments', 'summary']
    """
    from custseg.io import check_out_dir, out_dir_lock, record_digests

    out = check_out_dir(out_dir)
    # One run writes into a folder at a time, and summary.json's checksums are
    # those of the bytes it wrote.
    with out_dir_lock(out), record_digests():
        return _write_all(result, out, report, model, safe_formulas, database, progress)


def _write_all(
    result: SegmentationRun,
    out: Path,
    report: bool,
    model: bool,
    safe_formulas: bool,
    database: DatabaseTarget | None,
    progress: Progress | None,
) -> dict[str, Path]:
    """:func:`write_outputs` into ``out``, checked and locked."""
    from custseg.io import atomic_write, output_checksums, written_digest
    from custseg.report import summarize

    paths: dict[str, Path] = {}
    digests: dict[str, dict[str, Any]] = {}

    def digested(step: Callable[[], Path]) -> Callable[[], tuple[Path, Any]]:
        # taken in the process that wrote the file (perhaps the forked helper)
        return lambda: (path := step(), written_digest(path))

    timings: dict[str, float] = {}  # the result stays as it is; summary.json has these
    fmt = result.quality.file_info.get("format")
    seg_name = "segments.parquet" if fmt == "parquet" else "segments.csv"
    # The segments frame is a copy of every row: built once, and kept only
    # for the database table when there is one.
    kept: list[pd.DataFrame] = []

    def write_segments() -> Path:
        if result.segments_writer is not None:
            return result.segments_writer(out)
        frame = result.segments_frame()
        if database is not None:
            kept.append(frame)
        return write_table(frame, out / seg_name, safe_formulas=safe_formulas)

    steps: list[tuple[str, Callable[[], Path]]] = [
        ("segments", write_segments),
        (
            "profiles",
            lambda: write_table(
                result.profiles_frame(),
                out / "profiles.csv",
                safe_formulas=safe_formulas,
            ),
        ),
    ]
    if result.rfm is not None:
        steps.append(
            (
                "rfm_segments",
                lambda: write_table(result.rfm.segments, out / "rfm_segments.csv"),
            )
        )
    if database is not None and result.segments_writer is not None:
        raise ParameterError("writing segments to a database needs the local engine")
    if model:
        steps.append(("model", lambda: _save_model(result, out / "model.skops")))
    # The model, the tables and the report's figures are independent, and
    # mostly Python holding the GIL: shared with a forked helper process
    # (custseg._parallel), longest first. Not with Spark (its JVM connection
    # must not cross a fork), nor for the segments a database table reuses.
    parallel = result.segments_writer is None
    serial = [steps.pop(0)] if database is not None or not parallel else []
    plan = None
    if report:
        from custseg.report import plan_figures

        t0 = time.perf_counter()
        plan = plan_figures(result)
        timings["write_report"] = time.perf_counter() - t0
    # the serial steps, each shared job (segments, model, a figure, a table),
    # the report's page, the database and summary.json
    n_shared = len(steps) + (len(plan.jobs) if plan else 0)
    total = len(serial) + n_shared + 3
    for i, (name, step) in enumerate(serial):
        if progress:
            progress(f"writing {name}", i, total)
        t0 = time.perf_counter()
        paths[name], digests[name] = digested(step)()
        timings[f"write_{name}"] = time.perf_counter() - t0
    # Longest first: the segments and the model, the figures, the small tables.
    # A figure's job has no name: its data URI goes into the report.
    big = [(n, digested(f)) for n, f in steps if n in ("segments", "model")]
    small = [(n, digested(f)) for n, f in steps if n not in ("segments", "model")]
    named: list[tuple[str | None, Callable[[], Any]]] = [
        *big,
        *((None, f) for f in (plan.jobs if plan else ())),
        *small,
    ]
    jobs = [_timed(f) for _, f in named]
    if progress:
        titles = iter(
            f"figure: {e['title']}" for _, e in (plan.entries if plan else ())
        )
        labels = [n or next(titles) for n, _ in named]
        jobs = _ticking(jobs, labels, progress, len(serial), total)
    done = shared(jobs, parallel=parallel)
    written_by = {n: d for (n, _), d in zip(named, done, strict=True) if n}
    drawn = [d for (n, _), d in zip(named, done, strict=True) if n is None]
    for name, _ in steps:  # in the order summary.json lists them
        (paths[name], digests[name]), timings[f"write_{name}"] = written_by[name]
    if plan is not None:
        from custseg.report import write_report

        if progress:
            progress("writing the report's page", len(serial) + n_shared, total)
        t0 = time.perf_counter()
        paths["report"] = write_report(
            result, out / "report.html", plan.assemble([uri for uri, _ in drawn])
        )
        digests["report"] = written_digest(paths["report"])
        timings["write_report"] += time.perf_counter() - t0 + sum(s for _, s in drawn)

    written = None
    if database is not None:
        if progress:
            progress("writing the database table", total - 2, total)
        t0 = time.perf_counter()
        written = _write_database(result, database, kept[0] if kept else None)
        kept.clear()
        timings["write_database"] = time.perf_counter() - t0
    summary = summarize(replace(result, timings={**result.timings, **timings}))
    # Written last: its sizes and SHA-256s tell a reader whether the other
    # files all come from this run (custseg.io._write.check_outputs).
    summary["checksums"] = output_checksums(paths, digests)
    summary["outputs"] = {k: v.name for k, v in paths.items()} | {
        "summary": "summary.json"
    }
    if written is not None:
        summary["outputs"]["database"] = written
    # printable: a path that is not valid UTF-8 (its bytes arrive as lone
    # surrogates) is written with U+FFFD, so that the file stays UTF-8
    text = printable(json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False))
    paths["summary"] = atomic_write(
        out / "summary.json", lambda tmp: Path(tmp).write_text(text, encoding="utf-8")
    )
    if progress:
        progress("written", total, total)
    return paths


T = TypeVar("T")


def _ticking(
    jobs: list[Callable[[], T]],
    names: list[str],
    progress: Progress,
    start: int,
    total: int,
) -> list[Callable[[], T]]:
    """``jobs``, each reporting to ``progress`` before it runs. Only in this
    process: a job run by :func:`custseg._parallel.shared`'s helper says
    nothing (its output would mix with this process's), so the count may skip
    ahead, never back."""
    me = os.getpid()
    seen = [start]

    def wrap(job: Callable[[], T], name: str) -> Callable[[], T]:
        def run() -> T:
            if os.getpid() == me:
                progress(f"writing {name}", seen[0], total)
                seen[0] += 1
            return job()

        return run

    return [wrap(j, n) for j, n in zip(jobs, names, strict=True)]


def _timed(job: Callable[[], T]) -> Callable[[], tuple[T, float]]:
    """``job`` returning what it returns and the seconds it took."""

    def timed() -> tuple[T, float]:
        t0 = time.perf_counter()
        value = job()
        return value, time.perf_counter() - t0

    return timed


def write_predictions(
    scored: pd.DataFrame,
    path: str | os.PathLike[str],
    segmenter: Segmenter,
    *,
    database: DatabaseTarget | None = None,
    safe_formulas: bool = True,
) -> dict[str, Any]:
    """Write what :func:`predict` returned: every row to ``path`` (``.csv`` or
    ``.parquet``), and with ``database`` each customer's id column(s) (the
    ones ``segmenter`` was told were ids, else columns named like ids, else a
    ``row_number``) with the segment columns to a database table.

    Parameters
    ----------
    scored : DataFrame
        :func:`predict`'s result.
    path : str or path
        The file to write.
    segmenter : Segmenter
        The model that scored the rows (for the id columns).
    database : DatabaseTarget, optional
        Also write ids and segments to this table.
    safe_formulas : bool
        Escape text cells a spreadsheet would run as formulas.

    Returns
    -------
    dict
        ``{"predictions": Path}``, plus ``"database": rows written``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> fitted = run(features=["Annual Income (k$)", "Spending Score (1-100)"])
    >>> scored = predict(fitted.segmenter, fitted.data)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scored.csv"
    >>> written = write_predictions(scored, out, fitted.segmenter)
    >>> len(pd.read_csv(written["predictions"])) == len(scored)
    True
    """
    from custseg.io import write_database
    from custseg.quality import looks_like_id_name

    written: dict[str, Any] = {
        "predictions": write_table(scored, Path(path), safe_formulas=safe_formulas)
    }
    if database is None:
        return written
    prefix = used_prefix(scored.columns)
    added = {f"{prefix}segment", f"{prefix}segment_name", f"{prefix}unassigned_reason"}
    inputs = [c for c in scored.columns if c not in added]
    ids = [
        c
        for c, why in segmenter.selection_.excluded.items()
        if why == "identifier" and c in scored.columns
    ] or [c for c in inputs if looks_like_id_name(str(c))]
    rows = key_rows(scored, inputs, ids)
    written["database"] = write_database(
        rows, database.url, database.table, if_exists=database.if_exists
    )
    return written


def _write_database(
    result: SegmentationRun,
    target: DatabaseTarget,
    segments: pd.DataFrame | None = None,
) -> dict[str, Any]:
    from custseg.io import redact_url, write_database

    rows = write_database(
        database_rows(result, segments),
        target.url,
        target.table,
        if_exists=target.if_exists,
    )
    return {
        "database": redact_url(target.url),
        "table": target.table,
        "if_exists": target.if_exists,
        "rows": rows,
    }


def _save_model(result: SegmentationRun, path: Path) -> Path:
    result.segmenter.save(str(path))
    return path
