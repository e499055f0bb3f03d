"""Data-quality summary of a customer table: what each column is and what is wrong."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, SupportsIndex, cast

import numpy as np
import pandas as pd

from custseg._format import clip
from custseg._format import number as _human
from custseg.errors import MissingColumnError, format_rows
from custseg.io import LoadedTable, table_meta

__all__ = [
    "FINDING_GROUPS",
    "FINDING_LEVELS",
    "ColumnSummary",
    "Finding",
    "QualityReport",
    "check_table",
    "column_findings",
    "looks_like_id_name",
]

# A text column with at most this many distinct values is a categorical feature.
MAX_CATEGORIES = 20
# ... unless a value is longer than this: a paragraph is free text, not a
# category (and a 10 MB cell would be laid out in every chart and sentence).
MAX_CATEGORY_LENGTH = 200
# A float column whose values lie within this many units in the last place of
# each other is constant.
ULPS_CONSTANT = 16
# Values in the report's top-values lists are cut to this many characters.
SHOWN_LENGTH = 80
_ID_TOKENS = {"id", "key", "code", "number", "no", "nr", "num", "uuid", "guid", "ref"}
# Column names that mean a person's age (English, German, French, Spanish).
_AGE_TOKENS = {"age", "ages", "alter", "âge", "edad"}
# An "age" counted in these units is not a person's age in years.
_TIME_UNIT_TOKENS = {"day", "days", "week", "weeks", "month", "months", "hour", "hours"}
_OLDEST_AGE = 110
# Names of a year of birth: a birth word and a year word, or one of these.
_BIRTH_TOKENS = ("birth", "born", "geburt", "naissance", "nacimiento")
_YEAR_TOKENS = ("year", "yr", "jahr", "annee", "année", "año")
_BIRTH_YEAR_NAMES = {"yob", "birthyear", "geburtsjahr"}
_EARLIEST_BIRTH_YEAR = 1900
# Names of a share, a ratio or a frequency held as a fraction of 1.
_SHARE_TOKENS = {
    "frequency",
    "freq",
    "ratio",
    "rate",
    "share",
    "pct",
    "prc",
    "percent",
    "percentage",
    "proportion",
    "fraction",
    "prob",
    "probability",
    "propensity",
}
_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_NOTHING_FOUND = "No data-quality problems found."

#: How serious a finding is, most serious first: ``problem`` (values that
#: cannot be right, columns left out, repeated ids), ``warning`` (missing
#: values, duplicate rows), ``note`` (worth knowing; nothing to fix).
FINDING_LEVELS = ("problem", "warning", "note")
#: The order of findings in a report: implausible values, missing values,
#: duplicates, other findings (constant columns, free text, ...), outliers.
FINDING_GROUPS = ("values", "missing", "duplicates", "other", "outliers")


class Finding(str):
    """One data-quality finding: a plain sentence that also knows its weight.

    A finding *is* the ``str`` of its sentence (it prints, compares, joins and
    serialises to JSON like one), with four attributes for renderers that
    style or filter findings.

    Parameters
    ----------
    text : str
        The sentence, naming the column, the values and the rows.
    level : {"problem", "warning", "note"}
        How serious it is (see :data:`FINDING_LEVELS`).
    group : {"values", "missing", "duplicates", "other", "outliers"}
        What it is about; reports list the groups in this order.
    column : str, optional
        The column it is about (``None`` for the table as a whole).
    size : int
        How many values or rows it concerns: the larger comes first within a
        group.

    Examples
    --------
    >>> f = Finding("Column 'Age' has 1 missing value (0.5%).", level="warning",
    ...             group="missing", column="Age", size=1)
    >>> f == "Column 'Age' has 1 missing value (0.5%).", f.level, f.group
    (True, 'warning', 'missing')
    """

    level: str
    group: str
    column: str | None
    size: int

    def __new__(
        cls,
        text: str,
        *,
        level: str = "warning",
        group: str = "other",
        column: str | None = None,
        size: int = 0,
    ) -> Finding:
        if level not in FINDING_LEVELS:
            raise ValueError(f"level={level!r} is not one of {FINDING_LEVELS}")
        if group not in FINDING_GROUPS:
            raise ValueError(f"group={group!r} is not one of {FINDING_GROUPS}")
        self = super().__new__(cls, text)
        self.level = level
        self.group = group
        self.column = column
        self.size = int(size)
        return self

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, Any]]:
        # Copies and pickles keep the attributes.
        return (str(self),), self.attributes()

    def attributes(self) -> dict[str, Any]:
        """``level``, ``group``, ``column`` and ``size`` as a dict."""
        return {
            "level": self.level,
            "group": self.group,
            "column": self.column,
            "size": self.size,
        }

    def replace(self, old: str, new: str, count: SupportsIndex = -1, /) -> Finding:
        """``str.replace`` that keeps the attributes: a reworded finding (as the
        Spark engine words rows it does not list) is styled like the original."""
        return Finding(str.replace(self, old, new, count), **self.attributes())

    def to_dict(self) -> dict[str, Any]:
        """``{"text": ..., "level": ..., "group": ..., "column": ..., "size": ...}``."""
        return {"text": str(self), **self.attributes()}


def _as_finding(line: str) -> Finding:
    """A finding from a plain sentence (a ``warning``) or the finding itself."""
    return line if isinstance(line, Finding) else Finding(line)


def _ranked(findings: Iterable[Finding], columns: Sequence[str]) -> list[Finding]:
    """Findings in report order: by group (:data:`FINDING_GROUPS`), then the
    more serious level, the larger size, and column order (table-wide findings
    before a column's)."""
    position = {name: i for i, name in enumerate(columns)}

    def key(f: Finding) -> tuple[int, int, int, int]:
        where = -1 if f.column is None else position.get(f.column, len(position))
        return (
            FINDING_GROUPS.index(f.group),
            FINDING_LEVELS.index(f.level),
            -f.size,
            where,
        )

    return sorted(findings, key=key)


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """``"1 row"``, ``"2 rows"``, ``"1,234 values"``.

    Examples
    --------
    >>> _plural(1, "value"), _plural(2, "entry", "entries"), _plural(1200, "row")
    ('1 value', '2 entries', '1,200 rows')
    """
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {word}"


def _rows(rows: Sequence[int]) -> str:
    """``"row 4"`` or ``"rows 4, 17, 88 (+3 more)"``."""
    return ("row " if len(rows) == 1 else "rows ") + format_rows(list(rows))


def _share(count: int, n: int) -> str:
    """A share of the rows that never reads 0.0% or 100.0% when it is not.

    Examples
    --------
    >>> _share(24, 2240), _share(1, 2240), _share(1, 10**6), _share(9999, 10000)
    ('1.1%', '0.04%', '<0.01%', '>99.9%')
    """
    share = count / n if n else 0.0
    if count and share < 0.0001:
        return "<0.01%"
    if share < 0.001:
        return f"{share:.2%}"
    if count < n and share > 0.999:
        return ">99.9%"
    return f"{share:.1%}"


def _words(name: str) -> set[str]:
    """The lower-case words of a column name (``"Year_Birth"`` -> year, birth)."""
    words = {t.lower() for t in _TOKEN.findall(name)}
    return words | set(re.findall(r"[^\W\d_]+", name.lower()))


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
    findings : tuple of Finding
        Plain-language sentences (each a ``str``), most important first:
        values that cannot be right, then missing values, duplicates, other
        findings (constant columns, free text, ...) and outliers last. Each
        has a ``level`` (``problem``, ``warning`` or ``note``) to style it by.
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
    findings: tuple[Finding, ...]
    file_info: dict[str, Any]

    def __post_init__(self) -> None:
        # Sentences given as plain strings become (warning-level) findings.
        findings = tuple(_as_finding(f) for f in self.findings)
        object.__setattr__(self, "findings", findings)

    @property
    def finding_levels(self) -> tuple[str, ...]:
        """The ``level`` of each finding, in the order of :attr:`findings`."""
        return tuple(f.level for f in self.findings)

    def column(self, name: str) -> ColumnSummary:
        """Summary of the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise MissingColumnError([name], [c.name for c in self.columns])

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view of the report; ``finding_levels`` gives the level of
        each finding."""
        out = asdict(self)
        out["findings"] = tuple(str(f) for f in self.findings)
        out["finding_levels"] = self.finding_levels
        return out

    def _repr_html_(self) -> str:
        """Jupyter: counts, findings, repairs and the column table."""
        from custseg._display import html

        return html(self)

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
    data: pd.DataFrame | LoadedTable,
    *,
    id_columns: Sequence[str] | None = None,
    max_categories: int = MAX_CATEGORIES,
) -> QualityReport:
    """Summarise the quality of a customer table.

    Parameters
    ----------
    data : LoadedTable or DataFrame
        As returned by :func:`custseg.io.read_table`, whose notes (repairs,
        dropped rows, mistyped columns) the report includes; or a frame (from
        :func:`custseg.io.load_table`, with them, or any other).
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
    meta = table_meta(data)
    df = data.frame if isinstance(data, LoadedTable) else data
    source = str(meta.get("source", "<DataFrame>"))
    if id_columns is not None:
        unknown = [c for c in id_columns if c not in df.columns]
        if unknown:
            raise MissingColumnError(unknown, list(df.columns), path=source)
    n = len(df)
    as_text = meta.get("as_text", {})  # lists, records, maps: never features

    def summarise(name: object) -> ColumnSummary:
        return _summarise_column(
            str(name),
            df[name],
            n,
            forced_id=id_columns is not None and name in id_columns,
            auto_id=id_columns is None,
            max_categories=max_categories,
            forced_text=name in as_text,
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
    # An outlier finding says nothing more when its column's outliers are all
    # implausible values (1893 and 1899 among years of birth).
    implausible, covered = _implausible_values(df, summaries)
    report_findings = [
        *_file_findings(info),
        *implausible,
        *column_findings(
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
    report_findings = [
        f
        for f in report_findings
        if not (f.group == "outliers" and f.column in covered)
    ]
    if len(report_findings) > 1:
        report_findings = [f for f in report_findings if f != _NOTHING_FOUND]
    report_findings = _ranked(report_findings, [s.name for s in summaries])
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
    forced_text: bool = False,
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
    elif forced_text:
        kind = "text"
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
    elif distinct <= max_categories and _short_values(present):
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
        if not constant and not is_int and len(finite):
            # Values a few representable floats apart are one value written
            # with rounding noise: nothing to segment on, nothing to plot.
            lo, hi = float(finite.min()), float(finite.max())
            with np.errstate(over="ignore", invalid="ignore"):  # near ±1.8e308
                step = np.spacing(max(abs(lo), abs(hi)))
                constant = bool(hi - lo <= ULPS_CONSTANT * step)
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
        for value, count in present.value_counts().head(10).items():
            shown = clip(str(value), SHOWN_LENGTH)
            top[shown] = top.get(shown, 0) + int(count)
    return ColumnSummary(name, kind, dtype, missing, distinct, constant, top=top)


def _short_values(present: pd.Series) -> bool:
    """Whether every distinct value is short enough to be a category."""
    values = present.unique()
    return all(len(str(v)) <= MAX_CATEGORY_LENGTH for v in values)


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
    return int(_iqr_outside(values, values).sum())


def _iqr_outside(finite: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which of ``values`` lie outside Tukey's fences of ``finite``."""
    if len(finite) < 4:
        return np.zeros(len(values), dtype=bool)
    q1, q3 = np.percentile(finite, [25, 75])
    iqr = q3 - q1
    with np.errstate(invalid="ignore"):
        return cast(np.ndarray, (values < q1 - 1.5 * iqr) | (values > q3 + 1.5 * iqr))


def _file_findings(info: dict[str, Any]) -> list[Finding]:
    """What the reader of the report should know about how the file was read."""
    out = []
    sheets = info.get("sheets")
    if sheets:
        listing = ", ".join(f"'{s}'" for s in sheets)
        out.append(
            Finding(
                f"Read the sheet '{info.get('sheet')}' of a workbook with "
                f"{len(sheets)} sheets ({listing}); pass --sheet to read another.",
                level="note",
                group="other",
            )
        )
    return out


# -- values that cannot be right ------------------------------------------------

# A value is "far above the rest" when it is more than this many times the
# column's 99th percentile ...
_FAR_ABOVE = 5.0
# ... and improbably far above the column's own upper tail (_far_above_finding).
_TAIL_ALPHA = 1e-3
_MAX_FAR_ABOVE = 5  # at most this many such values: a few, not a tail
_MIN_VALUES = 100  # fewer values say too little about the bulk
# Placeholder codes: 1111 ... 999999999999999 (4 to 15 equal digits), and
# -1, -9, -99, -999, ... in a column that is otherwise never negative.
_REPEATED_DIGITS = frozenset(
    float(d * (10**k - 1) // 9) for k in range(4, 16) for d in range(1, 10)
)
_NEGATIVE_CODES = frozenset([-1.0] + [-(10.0**k - 1) for k in range(1, 10)])


def _raw(value: float) -> str:
    """A value as a person would type it: ``666666``, ``-1``, ``0.25``."""
    return str(int(value)) if float(value).is_integer() else f"{value:.15g}"


def _listing(values: np.ndarray, limit: int = 5) -> str:
    """Distinct values, smallest first: ``"1893, 1899"``, ``"-1"``."""
    distinct = np.unique(values)
    shown = ", ".join(_raw(v) for v in distinct[:limit])
    if len(distinct) > limit:
        shown += f" (+{len(distinct) - limit} more)"
    return shown


def _fix_hint(values: np.ndarray) -> str:
    """How to fix them. (Not ``--na-values``: the loader applies those markers
    only to columns whose values are not all numbers, and 666666 may be
    written ``666666.0``.)"""
    if len(values) == 1:
        return "Correct it in the source, or empty that cell to treat it as missing."
    return "Correct them in the source, or empty those cells to treat them as missing."


# A finding about some of a column's values, and which values (a mask).
_Flagged = tuple[Finding, np.ndarray]


def _values_finding(
    column: str, what: str, values: np.ndarray, bad: np.ndarray, detail: str = ""
) -> _Flagged:
    """``Column 'c' has <what> (<values>) in rows ...<detail>; ...`` and the fix."""
    rows = np.flatnonzero(bad) + 1
    as_is = "it is" if len(rows) == 1 else "they are"
    finding = Finding(
        f"Column '{column}' has {what} ({_listing(values[bad])}) in "
        f"{_rows(rows.tolist())}{detail}; {as_is} used as {as_is}. "
        f"{_fix_hint(values[bad])}",
        level="problem",
        group="values",
        column=column,
        size=len(rows),
    )
    return finding, bad


def _implausible_values(
    df: pd.DataFrame, columns: Sequence[ColumnSummary]
) -> tuple[list[Finding], set[str]]:
    """Values that cannot be right, from the column's name and its own values:

    - an age below 0 or above 110 (a column named ``age``; above 110 only where
      three quarters of the values are ages in years and no time unit such as
      ``days`` is in the name),
    - a year of birth before 1900 or after this year (a column named like
      ``Year_Birth`` or ``yob`` whose values are mostly such years),
    - a placeholder code: a number of 4 or more equal digits (``666666``,
      ``99999``) above every other value and at least 3 times their 99th
      percentile, or -1, -9, -99, ... in a column otherwise never negative,
    - a few values (at most 5) far above the rest: more than 5 times the 99th
      percentile and improbably far above the column's own upper tail (the
      gap is tested against the spread of the top 1% of values on a log
      scale), so that a long smooth tail of large amounts is not flagged.

    They are reported, not changed: only the user knows whether -1 means
    "unknown" or a typing slip. Also returned: the columns whose IQR outliers
    are all among these values (their outlier finding would add nothing).
    """
    out = []
    covered = set()
    this_year = datetime.date.today().year
    for c in columns:
        if c.kind != "numeric" or c.min is None or c.max is None:
            continue
        words = _words(c.name)
        age = bool(words & _AGE_TOKENS)
        birth = _is_birth_year_name(c.name, words)
        # Only a column with a negative value, an IQR outlier (which every
        # value far above the rest is) or a telling name needs its values.
        if not (age or birth or c.min < 0 or c.outliers):
            continue
        with np.errstate(invalid="ignore"):
            values = df[c.name].to_numpy(dtype="float64", na_value=np.nan)
        if age:
            found = _age_finding(c.name, values, words)
        elif birth:
            found = _birth_year_finding(c.name, values, this_year)
        else:
            found = _placeholder_finding(c, values) or _far_above_finding(c, values)
        if found is None:
            continue
        finding, bad = found
        out.append(finding)
        if _iqr_outside(values[np.isfinite(values)], values)[~bad].sum() == 0:
            covered.add(c.name)
    return out, covered


def _is_birth_year_name(name: str, words: set[str]) -> bool:
    """``Year_Birth``, ``birth_year``, ``YearOfBirth``, ``yob``, ``Geburtsjahr``."""
    lowered = name.lower()
    if words & _BIRTH_YEAR_NAMES:
        return True
    return any(b in lowered for b in _BIRTH_TOKENS) and any(
        y in words or y in lowered for y in _YEAR_TOKENS
    )


def _age_finding(name: str, values: np.ndarray, words: set[str]) -> _Flagged | None:
    with np.errstate(invalid="ignore"):
        negative = values < 0
        present = values[np.isfinite(values)]
        in_years = not words & _TIME_UNIT_TOKENS and bool(
            len(present) and np.mean((present >= 0) & (present <= _OLDEST_AGE)) >= 0.75
        )
        too_old = values > _OLDEST_AGE if in_years else np.zeros(len(values), bool)
    parts = []
    if negative.any():
        rows = np.flatnonzero(negative) + 1
        parts.append(
            f"{_plural(len(rows), 'negative value')} in {_rows(rows.tolist())}, "
            "which an age cannot be"
        )
    if too_old.any():
        rows = np.flatnonzero(too_old) + 1
        which = "is not a plausible age" if len(rows) == 1 else "are not plausible ages"
        parts.append(
            f"{_plural(len(rows), 'value')} above {_OLDEST_AGE} "
            f"({_listing(values[too_old])}) in {_rows(rows.tolist())}, which {which}"
        )
    if not parts:
        return None
    bad = negative | too_old
    count = int(bad.sum())
    as_is = "it is" if count == 1 else "they are"
    finding = Finding(
        f"Column '{name}' has {', and '.join(parts)}; {as_is} used as {as_is}. "
        f"{_fix_hint(values[bad])}",
        level="problem",
        group="values",
        column=name,
        size=count,
    )
    return finding, bad


def _birth_year_finding(
    name: str, values: np.ndarray, this_year: int
) -> _Flagged | None:
    present = values[np.isfinite(values)]
    if not len(present) or not _is_integral(present):
        return None
    plausible = (present >= _EARLIEST_BIRTH_YEAR) & (present <= this_year)
    if plausible.mean() < 0.9:
        return None  # not years of birth (or not mostly)
    with np.errstate(invalid="ignore"):
        early = values < _EARLIEST_BIRTH_YEAR
        late = values > this_year
    bad = early | late
    if not bad.any():
        return None
    when = " or ".join(
        text
        for text, hit in (
            (f"before {_EARLIEST_BIRTH_YEAR}", early.any()),
            (f"after {this_year}", late.any()),
        )
        if hit
    )
    return _values_finding(
        name,
        f"{_plural(int(bad.sum()), 'year')} of birth {when}",
        values,
        bad,
    )


def _placeholder_finding(c: ColumnSummary, values: np.ndarray) -> _Flagged | None:
    # Cheap first: a placeholder above every other value is the column's
    # maximum, a negative code its minimum.
    coded = np.zeros(len(values), dtype=bool)
    reasons = []
    if c.max in _REPEATED_DIGITS:
        rest = values[np.isfinite(values)]
        codes: list[float] = []
        while len(codes) < 3 and len(rest) and float(rest.max()) in _REPEATED_DIGITS:
            codes.append(float(rest.max()))
            rest = rest[rest < codes[-1]]
        if len(rest) >= _MIN_VALUES:
            p99 = float(np.percentile(rest, 99))
            codes = [v for v in codes if p99 > 0 and v >= 3 * p99]
            if codes:
                coded |= np.isin(values, codes)
                reasons.append(f"every other value is at most {_human(rest.max())}")
    if c.min in _NEGATIVE_CODES:
        with np.errstate(invalid="ignore"):
            negative = values < 0
        others = values[np.isfinite(values) & ~negative]
        n_negative = int(negative.sum())
        if (
            np.isin(values[negative], list(_NEGATIVE_CODES)).all()
            and len(others) >= _MIN_VALUES
            and n_negative <= 0.05 * (n_negative + len(others))
            and _distinct(pd.Series(others[:100_000])) > 2
        ):
            coded |= negative
            reasons.append("the column is otherwise never negative")
    if not coded.any():
        return None
    count = int(coded.sum())
    look = "looks" if count == 1 else "look"
    return _values_finding(
        c.name,
        f"{_plural(count, 'value')} that {look} like a placeholder code, not data",
        values,
        coded,
        f", where {' and '.join(reasons)}",
    )


def _far_above_finding(c: ColumnSummary, values: np.ndarray) -> _Flagged | None:
    """At most a few values far above an otherwise bounded column.

    The test: of the largest values ``x1 >= x2 >= ...``, ``xj`` (with all those
    above it) is far above the rest when it exceeds 5 times the 99th
    percentile and its log-distance above the tail's threshold ``u`` (the
    ``m + 1``-th largest of the rest, ``m`` = 1% of the values, at least 10)
    is improbably large against the mean log-distance of those ``m`` values:
    for an exponential (Pareto-like) tail their ratio exceeds ``t`` with
    probability at most ``(m + 1) * (1 + t/m) ** -m``, set to 1 in 1,000.
    Long smooth tails (lognormal or Pareto amounts) spread their top 1% too,
    and pass.
    """
    if c.min is None or c.max is None or c.min < 0 or c.max <= 0:
        return None
    finite = values[np.isfinite(values)]
    n = len(finite)
    if n < _MIN_VALUES:
        return None
    m = max(10, math.ceil(0.01 * n))
    # One partial sort gives the largest values and the 99th percentile
    # (interpolated as np.percentile does, between ranks lo and lo + 1).
    rank = 0.99 * (n - 1)
    lo = math.floor(rank)
    k = min(n, max(_MAX_FAR_ABOVE + m + 1, n - lo))
    ascending = np.sort(np.partition(finite, n - k)[n - k :])
    below, above = ascending[lo - (n - k)], ascending[min(lo + 1, n - 1) - (n - k)]
    p99 = float(below + (rank - lo) * (above - below))
    if p99 <= 0 or c.max <= _FAR_ABOVE * p99:
        return None
    top = ascending[::-1]
    threshold = m * ((_TAIL_ALPHA / (m + 1)) ** (-1 / m) - 1)
    flagged = 0
    for j in range(1, min(_MAX_FAR_ABOVE, k - m - 1) + 1):
        if top[j - 1] <= _FAR_ABOVE * p99:
            break
        u = top[j + m]
        if u <= 0:
            break
        spread = float(np.mean(np.log(top[j : j + m])) - np.log(u))
        gap = float(np.log(top[j - 1]) - np.log(u))
        if spread <= 0 or gap / spread > threshold:
            flagged = j
    if not flagged:
        return None
    with np.errstate(invalid="ignore"):
        bad = values >= top[flagged - 1]
    return _values_finding(
        c.name,
        f"{_plural(int(bad.sum()), 'value')} far above all the others",
        values,
        bad,
        f", more than {_FAR_ABOVE:g} times the 99th percentile ({_human(p99)}) "
        f"while the next largest value is {_human(top[flagged])}",
    )


# -- the other findings -----------------------------------------------------------


def _binary(c: ColumnSummary) -> bool:
    """Two values only (a 0/1 flag, a 1/2 code): no value is an outlier."""
    return c.distinct == 2


def _bounded_share(c: ColumnSummary) -> bool:
    """Every value in [0, 1] and the column a share: named like one
    (``PRC_FULL_PAYMENT``, ``BALANCE_FREQUENCY``) or reaching 0 or 1."""
    if c.min is None or c.max is None or c.min < 0 or c.max > 1:
        return False
    return bool(_words(c.name) & _SHARE_TOKENS) or c.min == 0 or c.max == 1


def column_findings(
    source: str,
    n: int,
    columns: list[ColumnSummary],
    n_dup: int,
    dup_rows: tuple[int, ...],
    duplicate_ids: dict[str, int],
    constants: tuple[str, ...],
    mistyped: dict[str, dict[str, Any]],
) -> list[Finding]:
    """Findings from the column summaries (both engines), in report order."""
    out = []
    for col, info in mistyped.items():
        values = ", ".join(repr(v) for v in info["values"][:3])
        where = f" in {_rows(info['rows'])}" if info.get("rows") else ""
        if info.get("reason"):
            # Numbers written inconsistently: several currencies, two formats.
            text = (
                f"Column '{col}' holds {info['reason']}: {values}{where}; it is "
                "left out of the automatic features. Write every value of the "
                "column the same way."
            )
        else:
            count = int(info["count"])
            verb = "is not a number" if count == 1 else "are not numbers"
            text = (
                f"Column '{col}' looks numeric but {_plural(count, 'value')} "
                f"{verb} ({values}){where}; it is left out of the automatic "
                "features. Fix the file or pass --na-values."
            )
        out.append(
            Finding(
                text,
                level="problem",
                group="values",
                column=col,
                size=int(info.get("count", len(info.get("rows", ())))),
            )
        )
    for col, count in duplicate_ids.items():
        out.append(
            Finding(
                f"ID column '{col}' has {_plural(count, 'duplicate value')}.",
                level="problem",
                group="duplicates",
                column=col,
                size=count,
            )
        )
    if n_dup:
        one = n_dup == 1
        where = f" ({_rows(dup_rows)})" if dup_rows else ""
        out.append(
            Finding(
                f"{_plural(n_dup, 'row')} {'duplicates' if one else 'duplicate'} "
                f"an earlier row exactly{where}; {'it is' if one else 'they are'} "
                "kept and segmented like any other row.",
                level="warning",
                group="duplicates",
                size=n_dup,
            )
        )
    for c in columns:
        if c.kind == "empty":
            out.append(
                Finding(
                    f"Column '{c.name}' is empty (every value is missing).",
                    level="warning",
                    group="missing",
                    column=c.name,
                    size=c.missing,
                )
            )
        elif c.missing:
            out.append(
                Finding(
                    f"Column '{c.name}' has {_plural(c.missing, 'missing value')} "
                    f"({_share(c.missing, n)}).",
                    level="warning" if c.missing >= 0.01 * n else "note",
                    group="missing",
                    column=c.name,
                    size=c.missing,
                )
            )
        if c.infinite:
            them = "it is" if c.infinite == 1 else "they are"
            out.append(
                Finding(
                    f"Column '{c.name}' has {_plural(c.infinite, 'infinite value')}; "
                    f"{them} treated as missing.",
                    level="warning",
                    group="missing",
                    column=c.name,
                    size=c.infinite,
                )
            )
    for name in constants:
        out.append(
            Finding(
                f"Column '{name}' has a single value; it cannot separate customers.",
                level="note",
                group="other",
                column=name,
            )
        )
    for c in columns:
        if c.outliers and not (_binary(c) or _bounded_share(c)):
            out.append(
                Finding(
                    f"Column '{c.name}' has {_plural(c.outliers, 'outlier')} by the "
                    f"IQR rule (range {c.min:g} to {c.max:g}).",
                    level="note",
                    group="outliers",
                    column=c.name,
                    size=c.outliers,
                )
            )
        if c.kind == "text":
            out.append(
                Finding(
                    f"Column '{c.name}' is free text with {c.distinct:,} distinct "
                    "values; it is not used as a feature.",
                    level="note",
                    group="other",
                    column=c.name,
                )
            )
    if not out:
        out.append(Finding(_NOTHING_FOUND, level="note", group="other"))
    return _ranked(out, [c.name for c in columns])
