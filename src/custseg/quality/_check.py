"""Data-quality summary of a customer table: what each column is and what is wrong."""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import MissingColumnError, format_rows
from custseg.io import table_meta

__all__ = ["ColumnSummary", "QualityReport", "check_table", "looks_like_id_name"]

# A text column with at most this many distinct values is a categorical feature.
MAX_CATEGORIES = 20
_ID_TOKENS = {"id", "key", "code", "number", "no", "nr", "num", "uuid", "guid", "ref"}
# Column names that mean a person's age (English, German, French, Spanish).
_AGE_TOKENS = {"age", "ages", "alter", "âge", "edad"}
_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_NOTHING_FOUND = "No data-quality problems found."


def looks_like_id_name(name: str) -> bool:
    """True when a column name reads like an identifier (``CustomerID``, ``cust_no``).

    Examples
    --------
    >>> [looks_like_id_name(n) for n in ["CustomerID", "customer_id", "Paid", "Age"]]
    [True, True, False, False]
    """
    return any(tok.lower() in _ID_TOKENS for tok in _TOKEN.findall(name))


@dataclass(frozen=True)
class ColumnSummary:
    """What one column holds.

    ``kind`` is one of ``numeric``, ``categorical``, ``id``, ``text`` (too many
    distinct values to be a category), ``datetime``, ``empty`` (all missing).
    """

    name: str
    kind: str
    dtype: str
    missing: int
    distinct: int
    constant: bool
    outliers: int | None = None
    infinite: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    top: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityReport:
    """Data-quality findings for one table.

    Attributes
    ----------
    findings : tuple of str
        Plain-language sentences, most important first.
    repairs : tuple of str
        Every change custseg made to the data (while loading or preparing it).
    """

    source: str
    n_rows: int
    n_columns: int
    columns: tuple[ColumnSummary, ...]
    id_columns: tuple[str, ...]
    duplicate_rows: int
    duplicate_row_numbers: tuple[int, ...]
    duplicate_ids: dict[str, int]
    constant_columns: tuple[str, ...]
    mistyped: dict[str, dict[str, Any]]
    repairs: tuple[str, ...]
    findings: tuple[str, ...]
    file_info: dict[str, Any]

    def column(self, name: str) -> ColumnSummary:
        """Summary of the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise MissingColumnError([name], [c.name for c in self.columns])

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view of the report."""
        return asdict(self)

    def _repr_html_(self) -> str:
        """Jupyter: counts, findings, repairs and the column table."""
        from custseg.report._notebook import quality_html

        return quality_html(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per column: kind, type, missing, distinct, outliers, ..."""
        rows = [
            {k: v for k, v in asdict(c).items() if k != "top"} for c in self.columns
        ]
        return pd.DataFrame(rows).set_index("name")

    def with_repairs(self, extra: Sequence[str]) -> QualityReport:
        """A copy with more repairs appended (used after preparation)."""
        from dataclasses import replace

        return replace(self, repairs=self.repairs + tuple(extra))


def check_table(
    df: pd.DataFrame,
    *,
    id_columns: Sequence[str] | None = None,
    max_categories: int = MAX_CATEGORIES,
) -> QualityReport:
    """Summarise the quality of a customer table.

    Parameters
    ----------
    df : DataFrame
        As returned by :func:`custseg.io.load_table` (or any frame).
    id_columns : list of str, optional
        Columns to treat as identifiers. By default, columns whose values are
        unique per row and that read as identifiers are found automatically.
    max_categories : int
        Text columns with more distinct values are ``text``, not ``categorical``.

    Examples
    --------
    >>> from custseg.datasets import load_mall_customers
    >>> report = check_table(load_mall_customers())
    >>> report.id_columns, report.column("Gender").kind
    (('CustomerID',), 'categorical')
    """
    meta = table_meta(df)
    source = str(meta.get("source", "<DataFrame>"))
    if id_columns is not None:
        unknown = [c for c in id_columns if c not in df.columns]
        if unknown:
            raise MissingColumnError(unknown, list(df.columns), path=source)
    n = len(df)

    def summarise(name: object) -> ColumnSummary:
        return _summarise_column(
            str(name),
            df[name],
            n,
            forced_id=id_columns is not None and name in id_columns,
            auto_id=id_columns is None,
            max_categories=max_categories,
        )

    # Columns are summarised two at a time: most of the work is in numpy and
    # pandas routines that release the GIL.
    with ThreadPoolExecutor(max_workers=min(2, max(df.shape[1], 1))) as pool:
        summaries = list(pool.map(summarise, df.columns))
    ids = [s.name for s in summaries if s.kind == "id"]

    # A column with a different value in every row rules out duplicate rows;
    # only without one is the (costly) row-by-row comparison needed.
    if n and not any(s.distinct == n and s.missing == 0 for s in summaries):
        dup_mask = df.duplicated(keep="first").to_numpy()
    else:
        dup_mask = np.zeros(n, dtype=bool)
    dup_rows = tuple(int(i) + 1 for i in np.flatnonzero(dup_mask)[:20])
    duplicate_ids = {}
    for col in ids:
        summary = summaries[list(df.columns).index(col)]
        if summary.distinct == n - summary.missing:
            continue
        count = int(df[col].dropna().duplicated().sum())
        if count:
            duplicate_ids[col] = count
    constants = tuple(s.name for s in summaries if s.constant and s.kind != "empty")
    info = {k: v for k, v in meta.items() if k not in {"repairs", "mistyped"}}
    report_findings = [
        *_file_findings(info),
        *_impossible_values(df, summaries),
        *_findings(
            source,
            n,
            summaries,
            int(dup_mask.sum()),
            dup_rows,
            duplicate_ids,
            constants,
            meta["mistyped"],
        ),
    ]
    if len(report_findings) > 1 and _NOTHING_FOUND in report_findings:
        report_findings.remove(_NOTHING_FOUND)
    return QualityReport(
        source=source,
        n_rows=n,
        n_columns=df.shape[1],
        columns=tuple(summaries),
        id_columns=tuple(ids),
        duplicate_rows=int(dup_mask.sum()),
        duplicate_row_numbers=dup_rows,
        duplicate_ids=duplicate_ids,
        constant_columns=constants,
        mistyped=dict(meta["mistyped"]),
        repairs=tuple(meta["repairs"]),
        findings=tuple(report_findings),
        file_info=info,
    )


def _summarise_column(
    name: str,
    series: pd.Series,
    n: int,
    *,
    forced_id: bool,
    auto_id: bool,
    max_categories: int,
) -> ColumnSummary:
    missing = int(series.isna().sum())
    present = series.dropna() if missing else series
    distinct = _distinct(present)
    constant = distinct <= 1
    dtype = str(series.dtype)
    if missing == n:
        return ColumnSummary(name, "empty", dtype, missing, 0, True)

    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(
        series
    )
    unique_per_row = distinct == n and missing == 0 and n > 1
    is_int = pd.api.types.is_integer_dtype(series.dtype)
    values = present.to_numpy() if numeric else np.empty(0)
    if pd.api.types.is_datetime64_any_dtype(series):
        kind = "datetime"
    elif forced_id:
        kind = "id"
    elif numeric:
        integral = is_int or _is_integral(values)
        named_id = looks_like_id_name(name)
        sequential = integral and unique_per_row and _is_sequence(values)
        if (
            auto_id
            and integral
            and ((named_id and distinct >= 0.9 * len(present)) or sequential)
        ):
            kind = "id"
        else:
            kind = "numeric"
    elif auto_id and (
        unique_per_row or (looks_like_id_name(name) and distinct >= 0.9 * len(present))
    ):
        kind = "id"
    elif distinct <= max_categories:
        kind = "categorical"
    else:
        kind = "text"

    if kind == "numeric":
        # Integer columns cannot hold inf; float columns are copied only when
        # they do (a 10-million-row column is 80 MB a copy).
        finite_mask = None if is_int else np.isfinite(values)
        if finite_mask is None or finite_mask.all():
            finite = values
        else:
            finite = values[finite_mask]
        infinite = int(len(values) - len(finite))
        # Values near the float64 limit (1e308) overflow sums and differences;
        # the summary then shows inf, and preparation treats them as missing.
        with np.errstate(over="ignore", invalid="ignore"):
            outliers = _iqr_outliers(finite)
            mean = float(finite.mean(dtype="float64")) if len(finite) else None
        return ColumnSummary(
            name,
            kind,
            dtype,
            missing,
            distinct,
            constant,
            outliers,
            infinite,
            float(finite.min()) if len(finite) else None,
            float(finite.max()) if len(finite) else None,
            mean,
        )
    top: dict[str, int] = {}
    if kind in {"categorical", "text"}:
        top = {str(k): int(v) for k, v in present.value_counts().head(10).items()}
    return ColumnSummary(name, kind, dtype, missing, distinct, constant, top=top)


def _distinct(present: pd.Series) -> int:
    """Number of distinct values; integer columns with a compact range (ids,
    ages, scores) are counted with a bitmap, ten times faster than hashing."""
    if pd.api.types.is_integer_dtype(present.dtype) and len(present):
        values = present.to_numpy()
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 4 * len(values) + 1024:
            seen = np.zeros(hi - lo + 1, dtype=bool)
            seen[values - lo] = True
            return int(np.count_nonzero(seen))
    return int(present.nunique())


def _is_integral(values: np.ndarray) -> bool:
    """Every value a finite whole number? Checked on a sample first, where a
    fractional value usually shows up, before the pass over every value."""
    with np.errstate(invalid="ignore"):
        head = values[:: max(1, len(values) // 1000)]
        if not (np.isfinite(head).all() and (head % 1 == 0).all()):
            return False
        return bool(np.isfinite(values).all() and (np.fmod(values, 1) == 0).all())


def _is_sequence(values: np.ndarray) -> bool:
    """Unique integers forming a run like 1..n (in any order): a row counter."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(float(values.max()) - float(values.min()) == len(values) - 1)


def _iqr_outliers(values: np.ndarray) -> int:
    """Count values outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] (Tukey's fences)."""
    if len(values) < 4:
        return 0
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    return int(np.sum((values < q1 - 1.5 * iqr) | (values > q3 + 1.5 * iqr)))


def _file_findings(info: dict[str, Any]) -> list[str]:
    """What the reader of the report should know about how the file was read."""
    out = []
    sheets = info.get("sheets")
    if sheets:
        listing = ", ".join(f"'{s}'" for s in sheets)
        out.append(
            f"Read the sheet '{info.get('sheet')}' of a workbook with {len(sheets)} "
            f"sheets ({listing}); pass --sheet to read another."
        )
    return out


def _impossible_values(df: pd.DataFrame, columns: Sequence[ColumnSummary]) -> list[str]:
    """Values a column's name rules out: negative ages. They are reported, not
    changed (-1 may be a code for "unknown"; only the user knows)."""
    out = []
    for c in columns:
        if c.kind != "numeric" or c.min is None or c.min >= 0:
            continue
        words = {t.lower() for t in _TOKEN.findall(c.name)}
        words |= set(re.findall(r"[^\W\d_]+", c.name.lower()))
        if not words & _AGE_TOKENS:
            continue
        with np.errstate(invalid="ignore"):
            values = df[c.name].to_numpy(dtype="float64", na_value=np.nan)
            rows = np.flatnonzero(values < 0) + 1
        out.append(
            f"Column '{c.name}' has {len(rows)} negative values in rows "
            f"{format_rows(rows.tolist())}, which an age cannot be; they are used "
            "as they are. Correct them, or empty those cells to treat them as "
            "missing."
        )
    return out


def _findings(
    source: str,
    n: int,
    columns: list[ColumnSummary],
    n_dup: int,
    dup_rows: tuple[int, ...],
    duplicate_ids: dict[str, int],
    constants: tuple[str, ...],
    mistyped: dict[str, dict[str, Any]],
) -> list[str]:
    out = []
    for col, info in mistyped.items():
        values = ", ".join(repr(v) for v in info["values"][:3])
        if info.get("reason"):
            # Numbers written inconsistently: several currencies, two formats.
            out.append(
                f"Column '{col}' holds {info['reason']}: {values} in rows "
                f"{format_rows(info['rows'])}; it is left out of the automatic "
                "features. Write every value of the column the same way."
            )
            continue
        out.append(
            f"Column '{col}' looks numeric but {info['count']} values are not "
            f"numbers ({values}) in rows {format_rows(info['rows'])}; it is left "
            "out of the automatic features. Fix the file or pass --na-values."
        )
    for col, count in duplicate_ids.items():
        out.append(f"ID column '{col}' has {count:,} duplicate values.")
    if n_dup:
        out.append(
            f"{n_dup:,} rows duplicate an earlier row exactly (rows "
            f"{format_rows(list(dup_rows))}); they are kept and segmented like "
            "any other row."
        )
    for c in columns:
        if c.kind == "empty":
            out.append(f"Column '{c.name}' is empty (every value is missing).")
        elif c.missing:
            out.append(
                f"Column '{c.name}' has {c.missing:,} missing values "
                f"({c.missing / n:.1%})."
            )
        if c.infinite:
            out.append(
                f"Column '{c.name}' has {c.infinite:,} infinite values; they are "
                "treated as missing."
            )
    for name in constants:
        out.append(f"Column '{name}' has a single value; it cannot separate customers.")
    for c in columns:
        if c.outliers:
            out.append(
                f"Column '{c.name}' has {c.outliers:,} outliers by the IQR rule "
                f"(range {c.min:g} to {c.max:g})."
            )
        if c.kind == "text":
            out.append(
                f"Column '{c.name}' is free text with {c.distinct} distinct values; "
                "it is not used as a feature."
            )
    if not out:
        out.append(_NOTHING_FOUND)
    return out
