"""Choose the columns to segment on, and turn them into a clean model frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from custseg.errors import (
    ColumnTypeError,
    MissingColumnError,
    ParameterError,
    format_rows,
)
from custseg.quality import QualityReport

__all__ = ["FeatureSelection", "model_frame", "select_features"]

# Values beyond this are treated as missing: their squares overflow float64
# sums, so no scaler or distance can use them (they are placeholders or errors).
_LARGEST = 1e100
# An explicitly named text feature with more categories than this would explode
# the one-hot encoding into a column per customer, which is never what is meant.
_MAX_EXPLICIT_CATEGORIES = 200


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
    if not numeric and not categorical:
        raise ColumnTypeError(
            "no column can be used as a feature ("
            + ", ".join(f"'{k}': {v}" for k, v in excluded.items())
            + ")",
            path=report.source,
            hint="Name the features with --features.",
        )
    return FeatureSelection(tuple(numeric), tuple(categorical), excluded)


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
    missing = [c for c in selection.columns if c not in df.columns]
    if missing:
        raise MissingColumnError(missing, [str(c) for c in df.columns], path=source)
    repairs: list[str] = []
    out: dict[str, np.ndarray] = {}
    for name in selection.numeric:
        col: pd.Series = df[name]
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
                    rows=[int(i) + 1 for i in bad],
                    hint="The model expects numbers in this column.",
                )
            col = pd.Series(values, index=df.index)
        arr = col.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            huge = ~np.isnan(arr) & ~(np.abs(arr) <= _LARGEST)
        if huge.any():
            arr = arr.copy()
            arr[huge] = np.nan
            rows = [int(i) + 1 for i in np.flatnonzero(huge)]
            repairs.append(
                f"treated {len(rows)} infinite or absurdly large values (beyond "
                f"±{_LARGEST:g}) in '{name}' as missing, rows {format_rows(rows)}"
            )
        out[name] = arr
    for name in selection.categorical:
        out[name] = df[name].astype("string").to_numpy(dtype=object, na_value=np.nan)
    frame = pd.DataFrame(out, index=df.index)
    for name in selection.categorical:
        frame[name] = frame[name].astype(object)
    return frame, repairs
