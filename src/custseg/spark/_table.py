"""Type the columns and check the quality of a table that Spark holds.

The rules are the local ones (:mod:`custseg.io` for types, :func:`custseg.
quality.check_table` for column kinds), applied in three ways:

* **on a fixed-seed sample** (``DATA_SAMPLE_ROWS`` rows, collected to pandas):
  each column's first guess of type, the pandas ``dtype`` shown in the report,
  and the rows the report draws;
* **on every row, with Spark aggregations**: whether a column that looks
  numeric in the sample holds text (or codes such as ``0001``) anywhere, and
  every number the quality report shows: row count, missing values, distinct
  values, min / max / mean, infinite values, IQR outliers, category counts,
  duplicate identifiers and duplicate rows; the column kinds are then decided
  from those all-row numbers;
* **approximately**, where exact answers would not scale: on tables of more
  than ``EXACT_ROWS`` rows, distinct counts of numeric and free-text columns
  come from HyperLogLog (about 5% relative error; exact for categories and for
  columns that may be identifiers); the quartiles for the IQR rule always come
  from ``percentile_approx`` (rank error 1/10,000, no interpolation).

The sample is the ``DATA_SAMPLE_ROWS`` rows with the smallest
``xxhash64(random_state, row)``: it depends on the seed and the data only, not
on how Spark splits the file.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg.errors import (
    EmptyDataError,
    FileFormatError,
    InputError,
    MissingColumnError,
)
from custseg.io import (
    CODE_PATTERN,
    NUMBER_PATTERN,
    NUMERIC_SHARE,
    as_string,
    frame_from_arrow,
)
from custseg.quality import (
    MAX_CATEGORIES,
    ColumnSummary,
    QualityReport,
    column_findings,
)
from custseg.quality import looks_like_id_name as _looks_like_id
from custseg.spark._read import SparkSource
from custseg.spark._session import quiet_pyspark

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = [
    "DATA_SAMPLE_ROWS",
    "SAMPLE_KEY",
    "ColumnFacts",
    "TableInspection",
    "inspect_table",
]

# Rows collected to pandas for typing, the report's figures and ``result.data``.
DATA_SAMPLE_ROWS = 50_000
# Name of the column that orders rows for every fixed-seed sample.
SAMPLE_KEY = "__r"
# Categories kept per column: enough for any explicitly named text feature.
_MAX_VALUES = 200
# HyperLogLog relative standard deviation for approximate distinct counts
# (Spark's default: smaller values make the aggregation several times slower).
_RSD = 0.05
# Columns whose approximate distinct count reaches this share of the present
# values get an exact count: they may be identifiers (the rule is 0.9, more
# than six standard errors of the approximation above this).
_ID_CANDIDATE_SHARE = 0.6
# Tables up to this many rows get exact distinct counts for every column.
EXACT_ROWS = 10_000
_QUANTILE_ACCURACY = 10_000
_TRIM = r"(?U)^\s+|\s+$"


@dataclass
class ColumnFacts:
    """What Spark found out about one column, over every row."""

    name: str
    key: str
    spark_kind: str  # string | number | bool | datetime | other
    dtype: str = "object"
    candidate: bool = False  # text in the file that may hold numbers
    role: str = "string"  # number | string | bool | datetime | other
    integer: bool = False
    present: int = 0
    distinct: int = 0
    distinct_exact: bool = False
    infinite: int = 0
    huge: int = 0
    non_integral: int = 0
    bad: int = 0
    codes: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    q1: float | None = None
    q3: float | None = None
    outliers: int = 0
    top: dict[str, int] = field(default_factory=dict)
    values: dict[str, int] | None = None  # every value's count, when few
    kind: str = ""

    @property
    def mode(self) -> str | None:
        """Most frequent value (the smallest on a tie, as scikit-learn picks)."""
        if not self.values:
            return None
        best = max(self.values.values())
        return min(v for v, c in self.values.items() if c == best)


@dataclass
class TableInspection:
    """The typed table, its quality report, and the pandas sample.

    ``values`` (cached: unpersist it when done) has one column per input
    column (by key) holding the value used for statistics and features
    (numbers as doubles, NaN as null; text trimmed, missing markers as null)
    plus ``SAMPLE_KEY``. ``output`` holds the columns
    as written to the segments file (numbers keep an integer type when every
    value is whole), aliased ``o0``, ``o1``, ... plus the ``values`` columns.
    """

    values: DataFrame
    output: DataFrame
    columns: list[ColumnFacts]
    n_rows: int
    sample: pd.DataFrame
    sample_keys: np.ndarray
    report: QualityReport

    def facts(self, name: str) -> ColumnFacts:
        """Facts of the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def inspect_table(
    src: SparkSource,
    *,
    random_state: int,
    id_columns: list[str] | None = None,
    sample_rows: int = DATA_SAMPLE_ROWS,
    max_categories: int = MAX_CATEGORIES,
) -> TableInspection:
    """Type every column and build the :class:`QualityReport` from all rows.

    Raises
    ------
    MissingColumnError
        A named id column does not exist.
    EmptyDataError, FileFormatError
        No data rows, or rows Spark cannot parse.
    """
    from pyspark.sql import functions as F

    if id_columns is not None:
        unknown = [c for c in id_columns if c not in src.names]
        if unknown:
            raise MissingColumnError(unknown, src.names, path=src.source)
    cols = _column_facts(src)
    keyed = src.df.withColumn(
        SAMPLE_KEY,
        F.xxhash64(F.lit(random_state), *[F.col(c.key) for c in cols if _hashable(c)]),
    )

    # 1. The sample, typed by the local loader's rules. (The first action on
    # the file: where Spark finds out that it cannot parse it.)
    with _reading(src):
        raw = keyed.orderBy(SAMPLE_KEY).limit(sample_rows).toArrow()
    sample_keys = np.asarray(raw.column(SAMPLE_KEY).to_numpy(zero_copy_only=False))
    raw_table = raw.select([c.key for c in cols]).rename_columns([c.name for c in cols])
    na = src.na_values or None
    sample_meta: dict[str, Any] = {"repairs": []}
    sample = frame_from_arrow(raw_table, sample_meta, na)
    for c in cols:
        series = sample[c.name]
        c.dtype = str(series.dtype)
        if c.spark_kind == "string":
            c.candidate = (
                pd.api.types.is_numeric_dtype(series)
                or c.name in sample_meta["mistyped"]
            )

    # 2. Every row: types and statistics, in one aggregation.
    n, stats = _first_pass(keyed, cols, src)
    if n == 0:
        raise EmptyDataError(
            "has a header but no data rows",
            path=src.source,
            hint="Add customer rows below the header.",
        )
    mistyped = _decide_types(cols, stats)
    for name, info in mistyped.items():
        info.update(_bad_examples(keyed, next(c for c in cols if c.name == name), src))
    output = keyed.select(
        *[_output(c, src).alias(f"o{i}") for i, c in enumerate(cols)],
        *[_value(c, src).alias(c.key) for c in cols],
        SAMPLE_KEY,
    )
    # Every later pass reads these values: cached (the caller unpersists).
    values = keyed.select(
        *[_value(c, src).alias(c.key) for c in cols], SAMPLE_KEY
    ).persist()
    try:
        # 3. Every row: exact distinct counts of identifier candidates,
        # outliers, the counts of each category, duplicate rows.
        _second_pass(values, cols, n, id_columns)
        _count_values(values, [c for c in cols if _counted(c, n)])
        for c in cols:
            c.kind = _kind(c, n, id_columns, max_categories)
        unique = [c for c in cols if c.distinct_exact and c.distinct == n == c.present]
        with quiet_pyspark():
            n_dup = 0 if unique else n - values.drop(SAMPLE_KEY).distinct().count()
    except BaseException:
        values.unpersist()
        raise
    duplicate_ids = {
        c.name: c.present - c.distinct
        for c in cols
        if c.kind == "id" and c.distinct_exact and c.present > c.distinct
    }

    # The pandas sample, with the all-row types.
    for c in cols:
        if c.candidate and c.role == "string":
            sample[c.name] = as_string(_clean_text(raw_table[c.name], na), c.name)
    summaries = tuple(_summary(c, n) for c in cols)
    constants = tuple(s.name for s in summaries if s.constant and s.kind != "empty")
    findings = column_findings(
        src.source, n, list(summaries), n_dup, (), duplicate_ids, constants, mistyped
    )
    info = {k: v for k, v in src.meta.items() if k not in {"repairs", "mistyped"}}
    info["sample_rows"] = len(sample)
    report = QualityReport(
        source=src.source,
        n_rows=n,
        n_columns=len(cols),
        columns=summaries,
        id_columns=tuple(c.name for c in cols if c.kind == "id"),
        duplicate_rows=n_dup,
        duplicate_row_numbers=(),
        duplicate_ids=duplicate_ids,
        constant_columns=constants,
        mistyped=mistyped,
        repairs=tuple(src.meta.get("repairs", ())),
        # Row numbers of duplicates are not collected from Spark: drop the
        # empty "(rows )" the local wording would show.
        findings=tuple(
            f.replace(" (rows )", "").replace(" in rows ;", ";") for f in findings
        ),
        file_info=info,
    )
    return TableInspection(values, output, cols, n, sample, sample_keys, report)


# -- columns -----------------------------------------------------------------


def _column_facts(src: SparkSource) -> list[ColumnFacts]:
    from pyspark.sql import types as T

    out = []
    for name, key, f in zip(src.names, src.keys, src.df.schema.fields, strict=True):
        t = f.dataType
        if isinstance(t, T.StringType):
            kind = "string"
        elif isinstance(t, T.BooleanType):
            kind = "bool"
        elif isinstance(t, T.NumericType):
            kind = "number"
        elif isinstance(t, (T.DateType, T.TimestampType, T.TimestampNTZType)):
            kind = "datetime"
        else:
            kind = "other"
        out.append(ColumnFacts(name, key, kind, role=kind))
    return out


def _hashable(c: ColumnFacts) -> bool:
    return c.spark_kind != "other"


def _text(c: ColumnFacts, src: SparkSource) -> Column:
    """A text column trimmed, with the missing-value markers as null."""
    from pyspark.sql import functions as F

    t = F.regexp_replace(F.col(c.key), _TRIM, "")
    if src.na_values:
        t = F.when(~t.isin(*sorted(src.na_values)), t)
    return t


def _number(c: ColumnFacts, src: SparkSource) -> Column:
    """The column as a double, NaN and text that is no number as null."""
    from pyspark.sql import functions as F

    if c.spark_kind == "string":
        t = _text(c, src)
        x = F.when(t.rlike(NUMBER_PATTERN), t.try_cast("double"))
    else:
        x = F.col(c.key).cast("double")
    return F.when(~F.isnan(x), x)


def _value(c: ColumnFacts, src: SparkSource) -> Column:
    """The value used for statistics and features."""
    from pyspark.sql import functions as F

    if c.role == "number":
        return _number(c, src)
    if c.spark_kind == "string":
        return _text(c, src)
    if c.spark_kind == "bool":
        # As pandas writes booleans, so categories read "True"/"False".
        return F.when(F.col(c.key), "True").when(~F.col(c.key), "False")
    return F.col(c.key)


def _output(c: ColumnFacts, src: SparkSource) -> Column:
    """The value written to the segments file."""
    from pyspark.sql import functions as F

    if c.spark_kind == "string" and c.role == "number":
        x = _number(c, src)
        small = max(abs(c.min or 0.0), abs(c.max or 0.0)) < 2.0**53
        return x.cast("bigint") if c.integer and small else x
    if c.spark_kind == "string":
        return _text(c, src)
    return F.col(c.key)


def _clean_text(column: Any, na: frozenset[str] | None) -> Any:
    """Arrow version of :func:`_text`, for the pandas sample."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(column.cast(pa.large_string()))
    if na:
        markers = pa.array(sorted(na), type=text.type)
        text = pc.if_else(pc.is_in(text, value_set=markers), None, text)
    return text


# -- passes over every row -----------------------------------------------------


def _first_pass(
    keyed: DataFrame, cols: list[ColumnFacts], src: SparkSource
) -> tuple[int, dict[str, Any]]:
    """Row count, and per column: present values, text that is not a number,
    codes, and the statistics of its numbers."""
    from pyspark.sql import functions as F

    aggs = [F.count(F.lit(1)).alias("__n")]
    for c in cols:
        k = c.key
        if c.spark_kind == "string":
            t = _text(c, src)
            aggs += [
                F.count(t).alias(f"{k}_present"),
                F.approx_count_distinct(t, _RSD).alias(f"{k}_distinct"),
            ]
            if c.candidate:
                aggs += [
                    F.count(F.when(~t.rlike(NUMBER_PATTERN), 1)).alias(f"{k}_bad"),
                    F.count(F.when(t.rlike(CODE_PATTERN), 1)).alias(f"{k}_codes"),
                ]
        elif c.spark_kind in {"bool", "datetime", "other"}:
            v = F.col(k) if c.spark_kind != "bool" else _value(c, src)
            aggs.append(F.count(v).alias(f"{k}_present"))
            if c.spark_kind != "other":
                aggs.append(F.approx_count_distinct(v, _RSD).alias(f"{k}_distinct"))
        if c.spark_kind == "number" or c.candidate:
            x = _number(c, src)
            inf = F.abs(x) == float("inf")
            finite = F.when(~inf, x)
            aggs += [
                F.count(x).alias(f"{k}_xpresent"),
                F.count(F.when(inf, 1)).alias(f"{k}_inf"),
                F.count(F.when(~(F.abs(x) <= 1e100), 1)).alias(f"{k}_huge"),
                F.count(F.when(finite % 1 != 0, 1)).alias(f"{k}_nonint"),
                F.min(finite).alias(f"{k}_min"),
                F.max(finite).alias(f"{k}_max"),
                F.avg(finite).alias(f"{k}_mean"),
                F.percentile_approx(finite, [0.25, 0.75], _QUANTILE_ACCURACY).alias(
                    f"{k}_q"
                ),
            ]
            if not c.candidate:
                aggs.append(F.approx_count_distinct(x, _RSD).alias(f"{k}_xdistinct"))
    with _reading(src):
        row = keyed.agg(*aggs).first()
    assert row is not None
    stats = row.asDict()
    return int(stats["__n"]), stats


def _decide_types(
    cols: list[ColumnFacts], stats: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Numbers or text, by the local loader's rule over every row; returns the
    columns that are mostly numbers with some text (``mistyped``)."""
    mistyped: dict[str, dict[str, Any]] = {}
    for c in cols:
        k = c.key
        numeric = c.spark_kind == "number"
        if c.spark_kind in {"string", "bool", "datetime", "other"}:
            c.present = int(stats[f"{k}_present"])
            c.distinct = int(stats.get(f"{k}_distinct") or 0)
        if c.candidate:
            c.bad = int(stats[f"{k}_bad"])
            c.codes = int(stats[f"{k}_codes"])
            numeric = c.bad == 0 and (c.codes == 0 or c.present == 0)
            if 0 < c.bad <= (1 - NUMERIC_SHARE) * c.present:
                mistyped[c.name] = {"rows": [], "values": [], "count": c.bad}
        if numeric:
            c.role = "number"
            c.present = int(stats[f"{k}_xpresent"])
            c.distinct = int(stats.get(f"{k}_xdistinct") or c.distinct)
            c.infinite = int(stats[f"{k}_inf"])
            c.huge = int(stats[f"{k}_huge"])
            c.non_integral = int(stats[f"{k}_nonint"])
            c.min, c.max, c.mean = (
                _float(stats[f"{k}_{s}"]) for s in ("min", "max", "mean")
            )
            q = stats[f"{k}_q"] or [None, None]
            c.q1, c.q3 = _float(q[0]), _float(q[1])
            c.integer = c.non_integral == 0 and c.infinite == 0
        elif c.candidate:
            c.role = "string"
        # An approximate count can overshoot; there are never more distinct
        # values than values.
        c.distinct = min(c.distinct, c.present)
    return mistyped


def _second_pass(
    values: DataFrame, cols: list[ColumnFacts], n: int, id_columns: list[str] | None
) -> None:
    """IQR outliers of numeric columns, and exact distinct counts of the
    columns that may be identifiers."""
    from pyspark.sql import functions as F

    aggs = []
    for c in cols:
        x = F.col(c.key)
        if c.role == "number" and c.q1 is not None and c.q3 is not None:
            iqr = c.q3 - c.q1
            lo, hi = c.q1 - 1.5 * iqr, c.q3 + 1.5 * iqr
            finite = F.when(F.abs(x) != float("inf"), x)
            aggs.append(
                F.count(F.when((finite < lo) | (finite > hi), 1)).alias(f"{c.key}_out")
            )
        if _id_candidate(c, n, id_columns):
            aggs.append(F.count_distinct(x).alias(f"{c.key}_exact"))
    if not aggs:
        return
    with quiet_pyspark():
        row = values.agg(*aggs).first()
    assert row is not None
    stats = row.asDict()
    for c in cols:
        if f"{c.key}_out" in stats:
            # Fewer than 4 values have no quartiles to speak of (as locally).
            c.outliers = (
                int(stats[f"{c.key}_out"]) if c.present - c.infinite >= 4 else 0
            )
        if f"{c.key}_exact" in stats:
            c.distinct = int(stats[f"{c.key}_exact"])
            c.distinct_exact = True


def _id_candidate(c: ColumnFacts, n: int, id_columns: list[str] | None) -> bool:
    if c.present == 0 or c.role == "other":
        return False
    if n <= EXACT_ROWS:
        return True
    if id_columns is not None:
        return c.name in id_columns
    if c.distinct < _ID_CANDIDATE_SHARE * c.present:
        return False
    if c.role != "number":
        return True
    integral = c.integer
    named = _looks_like_id(c.name)
    sequence = c.min is not None and c.max is not None and c.max - c.min == n - 1
    return integral and (named or (c.present == n and sequence))


def _counted(c: ColumnFacts, n: int) -> bool:
    """Columns whose value counts are collected: text and booleans that are
    not unique per row (those are identifiers; counting them is a shuffle of
    every row for nothing)."""
    if c.role not in {"string", "bool"} or c.present == 0:
        return False
    return not (c.distinct_exact and c.distinct >= 0.9 * c.present)


def _count_values(values: DataFrame, cols: list[ColumnFacts]) -> None:
    """Exact distinct counts, the ten most common values, and every value's
    count for columns with at most ``_MAX_VALUES`` values."""
    if not cols:
        return
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    pairs = F.explode(
        F.array(
            *[
                F.struct(F.lit(j).alias("j"), F.col(c.key).cast("string").alias("v"))
                for j, c in enumerate(cols)
            ]
        )
    ).alias("p")
    counts = (
        values.select(pairs)
        .select("p.j", "p.v")
        .where(F.col("v").isNotNull())
        .groupBy("j", "v")
        .count()
    )
    by_col = Window.partitionBy("j")
    ranked = (
        counts.withColumn(
            "rank", F.row_number().over(by_col.orderBy(F.desc("count"), "v"))
        )
        .withColumn("groups", F.count(F.lit(1)).over(by_col))
        .where(F.col("rank") <= _MAX_VALUES + 1)
    )
    with quiet_pyspark():
        rows = ranked.collect()
    found: dict[int, list[tuple[int, str, int, int]]] = {}
    for r in rows:
        found.setdefault(int(r["j"]), []).append(
            (int(r["rank"]), str(r["v"]), int(r["count"]), int(r["groups"]))
        )
    for j, c in enumerate(cols):
        entries = sorted(found.get(j, []))
        c.distinct = entries[0][3] if entries else 0
        c.distinct_exact = True
        c.top = {v: cnt for _, v, cnt, _ in entries[:10]}
        if c.distinct <= _MAX_VALUES:
            c.values = {v: cnt for _, v, cnt, _ in entries}


def _bad_examples(
    keyed: DataFrame, c: ColumnFacts, src: SparkSource
) -> dict[str, list[Any]]:
    """The first text values of a mostly numeric column, and their row numbers
    (1-based data rows, as the local loader gives them; at most 1,000)."""

    t = _text(c, src)
    bad = t.isNotNull() & ~t.rlike(NUMBER_PATTERN)
    with quiet_pyspark():
        found = [r[0] for r in keyed.where(bad).select(t).limit(1_000).collect()]
        try:
            flags = keyed.select(bad.alias("bad")).rdd
            rows = (
                flags.zipWithIndex()
                .filter(lambda pair: bool(pair[0][0]))
                .map(lambda pair: int(pair[1]) + 1)
                .take(1_000)
            )
        except Exception:  # Spark Connect has no RDDs; the rows stay unknown
            rows = []
    values = [str(v) for v in dict.fromkeys(found)][:5]
    return {"rows": [int(r) for r in rows], "values": values}


# -- kinds and summaries -------------------------------------------------------


def _kind(
    c: ColumnFacts, n: int, id_columns: list[str] | None, max_categories: int
) -> str:
    """The local :func:`custseg.quality.check_table` rule, on all-row facts."""
    if c.present == 0:
        return "empty"
    if c.role == "datetime":
        return "datetime"
    if c.role == "other":  # binary, arrays, maps, structs: never features
        return "text"
    if id_columns is not None and c.name in id_columns:
        return "id"
    auto = id_columns is None
    named = _looks_like_id(c.name)
    unique = c.distinct_exact and c.distinct == n and c.present == n and n > 1
    if c.role == "number":
        sequence = (
            c.min is not None and c.max is not None and c.max - c.min == c.present - 1
        )
        if (
            auto
            and c.integer
            and ((named and c.distinct >= 0.9 * c.present) or (unique and sequence))
        ):
            return "id"
        return "numeric"
    if auto and (unique or (named and c.distinct >= 0.9 * c.present)):
        return "id"
    if c.distinct <= max_categories:
        return "categorical"
    return "text"


def _summary(c: ColumnFacts, n: int) -> ColumnSummary:
    missing = n - c.present
    if c.kind == "empty":
        return ColumnSummary(c.name, "empty", c.dtype, missing, 0, True)
    if c.kind == "numeric":
        return ColumnSummary(
            c.name,
            "numeric",
            c.dtype,
            missing,
            c.distinct,
            c.distinct <= 1,
            c.outliers,
            c.infinite,
            c.min,
            c.max,
            c.mean,
        )
    top = c.top if c.kind in {"categorical", "text"} else {}
    return ColumnSummary(
        c.name, c.kind, c.dtype, missing, c.distinct, c.distinct <= 1, top=top
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) else out


@contextlib.contextmanager
def _reading(src: SparkSource) -> Iterator[None]:
    """Turn Spark's failures to parse the file into :class:`FileFormatError`."""
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    try:
        with quiet_pyspark():
            yield
    except (PySparkException, Py4JJavaError) as exc:
        raise _parse_error(exc, src) from exc


def _parse_error(exc: Exception, src: SparkSource) -> InputError:
    text = str(exc).strip()
    record = re.search(r"Malformed CSV record: (.*?)(?: SQLSTATE|\n|$)", text)
    if record or "MALFORMED" in text.upper():
        delim = src.meta.get("delimiter")
        found = f": {record.group(1)[:80]!r}" if record else ""
        return FileFormatError(
            "rows have different numbers of fields (delimiter "
            f"{delim!r}, {len(src.names)} columns in the header){found}",
            path=src.source,
            hint="Check the quoting in that line, or pass --delimiter.",
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return FileFormatError(f"Spark cannot read it ({first})", path=src.source)
