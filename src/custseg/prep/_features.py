"""Choose the columns to segment on, and turn them into a clean model frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg.errors import (
    ColumnTypeError,
    InputError,
    MissingColumnError,
    ParameterError,
    format_rows,
)
from custseg.quality import QualityReport

if TYPE_CHECKING:
    from custseg.prep._preprocess import DirectPrep

__all__ = [
    "CHUNK_ROWS",
    "LARGEST",
    "FeatureSelection",
    "finite_values",
    "model_frame",
    "model_matrix",
    "model_rows",
    "select_features",
]

# Values beyond this are treated as missing: their squares overflow float64
# sums, so no scaler or distance can use them (they are placeholders or errors).
LARGEST = 1e100
# An explicitly named text feature with more categories than this would explode
# the one-hot encoding into a column per customer, which is never what is meant.
_MAX_EXPLICIT_CATEGORIES = 200
# Automatic feature choice stops here: a table with thousands of candidate
# columns (a wide export) is refused with a request to name the features,
# instead of a run that takes an hour and gigabytes to say little.
MAX_AUTO_FEATURES = 200
# Rows per chunk when building the prepared matrix of a large table: big enough
# that per-call overheads vanish, small enough that temporaries stay ~100 MB.
CHUNK_ROWS = 500_000


@dataclass(frozen=True)
class FeatureSelection:
    """The features used for segmentation, and why the other columns were not."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """All feature columns, numeric first."""
        return self.numeric + self.categorical


def select_features(
    report: QualityReport,
    features: Sequence[str] | None = None,
) -> FeatureSelection:
    """Pick the features: the user's, or the sensible ones.

    By default every numeric and categorical column is used, except identifiers,
    constant and empty columns, free text, dates, and numeric-looking columns
    with stray text (those are reported, not silently coerced).

    Raises
    ------
    MissingColumnError
        A named feature does not exist (the message lists the real columns).
    ColumnTypeError
        A named feature cannot be used: it is empty, or it is mostly numbers with
        some text in it (the message gives the rows and values).

    Examples
    --------
    >>> from custseg.datasets import load_mall_customers
    >>> from custseg.quality import check_table
    >>> sel = select_features(check_table(load_mall_customers()))
    >>> sel.numeric, sel.categorical
    (('Age', 'Annual Income (k$)', 'Spending Score (1-100)'), ('Gender',))
    """
    by_name = {c.name: c for c in report.columns}
    if features is not None:
        features = list(dict.fromkeys(features))
        if not features:
            raise ParameterError("features must name at least one column")
        unknown = [f for f in features if f not in by_name]
        if unknown:
            raise MissingColumnError(
                unknown, list(by_name), path=report.source, what="feature"
            )
        numeric, categorical = [], []
        for name in features:
            col = by_name[name]
            if name in report.mistyped:
                info = report.mistyped[name]
                values = ", ".join(repr(v) for v in info["values"][:3])
                raise ColumnTypeError(
                    f"{info['count']} values are not numbers ({values})",
                    path=report.source,
                    column=name,
                    rows=info["rows"],
                    hint="Fix those cells, or pass --na-values to read them as "
                    "missing.",
                )
            if col.kind == "empty":
                raise ColumnTypeError(
                    "every value is missing", path=report.source, column=name
                )
            if col.kind == "datetime":
                raise ColumnTypeError(
                    "dates cannot be used as a feature directly",
                    path=report.source,
                    column=name,
                    hint="Derive a number from them first (e.g. tenure in days).",
                )
            numeric_dtype = col.dtype.lower().startswith(("int", "uint", "float"))
            if col.kind == "numeric" or (col.kind == "id" and numeric_dtype):
                numeric.append(name)
            else:
                if col.distinct > _MAX_EXPLICIT_CATEGORIES:
                    raise ColumnTypeError(
                        f"is text with {col.distinct} distinct values, too many "
                        "to use as a category",
                        path=report.source,
                        column=name,
                    )
                categorical.append(name)
        not_chosen = {
            c: "identifier" if by_name[c].kind == "id" else "not selected"
            for c in by_name
            if c not in features
        }
        return FeatureSelection(tuple(numeric), tuple(categorical), not_chosen)

    numeric, categorical = [], []
    excluded: dict[str, str] = {}
    for col in report.columns:
        if col.name in report.mistyped:
            excluded[col.name] = "numbers mixed with text"
        elif col.kind == "id":
            excluded[col.name] = "identifier"
        elif col.kind == "empty":
            excluded[col.name] = "empty"
        elif col.constant:
            excluded[col.name] = "constant"
        elif col.kind == "numeric":
            numeric.append(col.name)
        elif col.kind == "categorical":
            categorical.append(col.name)
        else:
            excluded[col.name] = col.kind
    if len(numeric) + len(categorical) > MAX_AUTO_FEATURES:
        raise InputError(
            f"{len(numeric) + len(categorical):,} columns could be features, more "
            f"than the {MAX_AUTO_FEATURES} custseg picks on its own (distances "
            "over that many columns say little about customers, and every step "
            "slows down)",
            path=report.source,
            hint="Name the features to segment on with --features",
        )
    if not numeric and not categorical:
        raise ColumnTypeError(
            "no column can be used as a feature ("
            + ", ".join(f"'{k}': {v}" for k, v in excluded.items())
            + ")",
            path=report.source,
            hint="Name the features with --features.",
        )
    return FeatureSelection(tuple(numeric), tuple(categorical), excluded)


def finite_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 copy of ``values`` with infinite and absurdly large values (beyond
    ±1e100) set to NaN, and the mask of the values so set.

    Examples
    --------
    >>> finite_values(np.array([1.0, np.inf, -1e300]))[1]
    array([False,  True,  True])
    """
    arr = np.array(values, dtype="float64")
    with np.errstate(invalid="ignore"):
        huge = ~np.isnan(arr) & ~(np.abs(arr) <= LARGEST)
    if huge.any():
        arr[huge] = np.nan
    return arr, huge


def model_frame(
    df: pd.DataFrame,
    selection: FeatureSelection,
    *,
    source: str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Return the feature columns in the types the preprocessor expects.

    Numeric features become float64 with infinities turned into missing values;
    categorical features become object columns of strings with ``np.nan`` for
    missing. Returns the frame and the repairs made; announcing them
    (``DataRepairWarning``) is the caller's job, so that a repair is announced
    once however often the frame is rebuilt.

    Raises
    ------
    MissingColumnError, ColumnTypeError
        A feature is absent, or a numeric feature holds text.
    """
    return model_rows(df, selection, source=source)


def model_rows(
    df: pd.DataFrame,
    selection: FeatureSelection,
    *,
    source: str | None = None,
    positions: np.ndarray | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """:func:`model_frame` of some rows of a table; ``positions`` are their
    0-based positions in the whole table, so errors and repairs name the right
    rows (default: the rows are the whole table)."""
    frame, huge = converted_rows(df, selection, source=source, positions=positions)
    return frame, repair_messages(huge)


def converted_rows(
    df: pd.DataFrame,
    selection: FeatureSelection,
    *,
    source: str | None = None,
    positions: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """:func:`model_rows` with the repairs as data: for each numeric feature
    that had infinite or absurd values, their row numbers (1-based, whole
    table). :func:`repair_messages` words them."""
    if positions is None:
        positions = np.arange(len(df))
    return _model_frame(df, selection, source, positions)


def model_matrix(
    df: pd.DataFrame,
    selection: FeatureSelection,
    transform: Callable[[pd.DataFrame], np.ndarray],
    *,
    source: str | None = None,
    dtype: type[np.floating[Any]] = np.float32,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[str, int, int], None] | None = None,
    direct: DirectPrep | None = None,
    converted: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """The prepared feature matrix of every row, built ``chunk_rows`` at a time.

    Each chunk goes through :func:`model_frame` and ``transform`` (a fitted
    preprocessor's ``transform``) and is written into one preallocated C-ordered
    array of ``dtype``, so memory holds the result plus one chunk's worth of
    temporaries however large the table, never a float64 copy of all of it.

    With ``direct`` (from :func:`custseg.prep.direct_prep` on the same fitted
    preprocessor) the matrix is filled column by column without going through
    ``transform``: the same numbers, several times faster.

    With ``converted``, ``df`` is :func:`converted_rows`' frame already (clean
    float64 numbers, categories as strings): its values go in as they are, and
    the repairs returned are none (the conversion reported them).

    Returns the matrix and the repairs, worded as :func:`model_frame` words them.
    """
    n = len(df)
    huge: dict[str, list[int]] = {}
    out: np.ndarray | None = None
    if direct is not None:
        out = np.empty((n, direct.n_columns), dtype=dtype)
    n_chunks = max(1, -(-n // chunk_rows))
    for i, start in enumerate(range(0, max(n, 1), chunk_rows)):
        if progress and n_chunks > 1:
            progress(f"preparing features of {n:,} rows", i, n_chunks)
        chunk = df.iloc[start : start + chunk_rows]
        positions = np.arange(start, start + len(chunk))
        if direct is not None and out is not None:
            missing = [c for c in selection.columns if c not in df.columns]
            if missing:
                raise MissingColumnError(
                    missing, [str(c) for c in df.columns], path=source
                )
            part = out[start : start + len(chunk)]
            rows: dict[str, list[int]] = {}
            for j, name in enumerate(direct.numeric):
                if converted:
                    values = chunk[name].to_numpy(dtype="float64")
                else:
                    values, found = _numeric_values(
                        chunk[name], name, source, positions
                    )
                    if found:
                        rows[name] = found
                direct.fill_numeric(j, values, part[:, j])
            offset = len(direct.numeric)
            for j, name in enumerate(direct.categorical):
                width = len(direct.categories[j])
                direct.fill_categorical(
                    j, chunk[name], part[:, offset : offset + width]
                )
                offset += width
        else:
            frame, rows = (
                (chunk[list(selection.columns)], {})
                if converted
                else _model_frame(chunk, selection, source, positions)
            )
            block = transform(frame)
            if out is None:
                out = np.empty((n, block.shape[1]), dtype=dtype)
            out[start : start + len(block)] = block
        for name, found in rows.items():
            huge.setdefault(name, []).extend(found)
    assert out is not None
    return out, repair_messages(huge)


def _numeric_values(
    col: pd.Series, name: str, source: str | None, positions: np.ndarray
) -> tuple[np.ndarray, list[int]]:
    """A numeric feature as float64, infinite and absurd values as NaN, and the
    row numbers (1-based, whole table) of the values so treated."""
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        text = col.astype("string").str.strip()
        values = pd.to_numeric(text, errors="coerce")
        bad = np.flatnonzero((text.notna() & values.isna()).to_numpy())
        if len(bad):
            examples = ", ".join(
                repr(v) for v in dict.fromkeys(text.iloc[bad[:20]].tolist())
            )
            raise ColumnTypeError(
                f"{len(bad)} values are not numbers ({examples})",
                path=source,
                column=name,
                rows=[int(i) + 1 for i in positions[bad]],
                hint="The model expects numbers in this column.",
            )
        col = pd.Series(values, index=col.index)
    arr, huge = finite_values(col.to_numpy(dtype="float64", na_value=np.nan))
    return arr, [int(i) + 1 for i in positions[huge]] if huge.any() else []


def _category_strings(column: pd.Series) -> np.ndarray:
    """Object array of ``str`` values with ``np.nan`` for missing, built from
    category codes: a handful of distinct strings are formatted once and
    gathered, instead of one string object made per row (ten times slower on
    a million rows)."""
    cat = column if isinstance(column.dtype, pd.CategoricalDtype) else None
    if cat is None:
        cat = column.astype("category")
    names = np.array([str(v) for v in cat.cat.categories] + [np.nan], dtype=object)
    codes = cat.cat.codes.to_numpy()
    return names[np.where(codes >= 0, codes, len(names) - 1)]


def repair_messages(huge: dict[str, list[int]]) -> list[str]:
    """The repairs of :func:`converted_rows` in words, a sentence per column."""
    return [
        f"treated {len(rows)} infinite or absurdly large values (beyond "
        f"±{LARGEST:g}) in '{name}' as missing, rows {format_rows(rows)}"
        for name, rows in huge.items()
    ]


def _model_frame(
    df: pd.DataFrame,
    selection: FeatureSelection,
    source: str | None,
    positions: np.ndarray,
) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    missing = [c for c in selection.columns if c not in df.columns]
    if missing:
        raise MissingColumnError(missing, [str(c) for c in df.columns], path=source)
    huge_rows: dict[str, list[int]] = {}
    out: dict[str, np.ndarray] = {}
    for name in selection.numeric:
        arr, rows = _numeric_values(df[name], name, source, positions)
        if rows:
            huge_rows[name] = rows
        out[name] = arr
    for name in selection.categorical:
        out[name] = _category_strings(df[name])
    frame = pd.DataFrame(out, index=df.index)
    for name in selection.categorical:
        frame[name] = frame[name].astype(object)
    return frame, huge_rows
