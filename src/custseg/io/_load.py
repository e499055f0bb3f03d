"""Read a customer table from CSV, Excel or Parquet into a pandas DataFrame.

What the loader learnt about the file (encoding, delimiter, repairs, columns that
look numeric but hold some text) travels with the frame in
``df.attrs["custseg"]`` so that :func:`custseg.quality.check_table` can report it.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custseg.errors import (
    EmptyDataError,
    EncodingError,
    FileFormatError,
    InputError,
)

__all__ = ["load_table", "table_meta"]

_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"
# A text column is read as numeric when at least this share of its non-missing
# values parse as numbers; below it, it is a categorical/text column.
_NUMERIC_SHARE = 0.8
_LEADING_ZERO = re.compile(r"^[+-]?0\d")
_CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".tab", ".dat"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


def table_meta(df: pd.DataFrame) -> dict[str, Any]:
    """Return the loader's notes about ``df`` (empty for frames not from a file).

    Examples
    --------
    >>> table_meta(pd.DataFrame({"a": [1]}))["source"]
    '<DataFrame>'
    """
    meta = df.attrs.get("custseg")
    if not isinstance(meta, dict):
        meta = {"source": "<DataFrame>", "format": "dataframe"}
    meta.setdefault("repairs", [])
    meta.setdefault("mistyped", {})
    return meta


def load_table(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    na_values: tuple[str, ...] | list[str] = (),
) -> pd.DataFrame:
    """Load a customer table from a file, or take a DataFrame as it is.

    CSV files are sniffed: the delimiter (comma, semicolon, tab or pipe), the
    encoding (UTF-8, UTF-8 with BOM, UTF-16, then cp1252/Latin-1), and stray
    spaces around header names are handled. Columns are read as text first and
    turned into numbers only when their values are numbers, so identifiers such
    as ``0001`` keep their leading zeros.

    Parameters
    ----------
    source : path or DataFrame
        A ``.csv``/``.tsv``/``.txt``, ``.xlsx`` or ``.parquet`` file.
    delimiter, encoding : str, optional
        Override what the sniffer finds.
    sheet : str or int, optional
        Excel sheet name or index (default: the first sheet).
    na_values : sequence of str
        Extra strings to read as missing, on top of pandas' defaults
        (``""``, ``"NA"``, ``"N/A"``, ``"null"``, ``"nan"``, ...).

    Returns
    -------
    pandas.DataFrame
        With ``df.attrs["custseg"]`` describing the source.

    Raises
    ------
    EmptyDataError, EncodingError, FileFormatError, InputError

    Examples
    --------
    >>> from custseg.datasets import mall_customers_path
    >>> df = load_table(mall_customers_path())
    >>> df.shape, df.attrs["custseg"]["delimiter"]
    ((200, 5), ',')
    """
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        df.attrs["custseg"] = {"source": "<DataFrame>", "format": "dataframe"}
        return df

    path = Path(source)
    name = str(source)
    if not path.exists():
        raise InputError("no such file", path=name)
    if path.is_dir():
        raise InputError("is a folder, not a file", path=name)
    if path.stat().st_size == 0:
        raise EmptyDataError("the file is empty", path=name)

    suffix = path.suffix.lower()
    if suffix in _EXCEL_SUFFIXES:
        df, meta = _read_excel(path, name, sheet)
    elif suffix in _PARQUET_SUFFIXES:
        df, meta = _read_parquet(path, name)
    elif suffix in _CSV_SUFFIXES or suffix == "":
        df, meta = _read_csv(path, name, delimiter, encoding, list(na_values))
    else:
        raise FileFormatError(
            f"files ending in '{suffix}' are not supported",
            path=name,
            hint="Use a .csv, .tsv, .txt, .xlsx or .parquet file.",
        )

    if df.shape[1] == 0:
        raise EmptyDataError("no columns found", path=name)
    if len(df) == 0:
        raise EmptyDataError(
            "has a header but no data rows",
            path=name,
            hint="Add customer rows below the header.",
        )
    df.columns = _clean_headers(df.columns, meta["repairs"])
    _infer_types(df, meta)
    df.attrs["custseg"] = meta
    return df


# -- CSV ---------------------------------------------------------------------


def _read_csv(
    path: Path,
    name: str,
    delimiter: str | None,
    encoding: str | None,
    na_values: list[str],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head.strip():
        raise EmptyDataError("the file has no text, only blank space", path=name)
    encoding = encoding or _guess_encoding(head, path, name)
    text = head.decode(encoding, errors="replace")
    if encoding.lower().startswith("utf-8") and text.startswith("\ufeff"):
        text = text[1:]
    delimiter = delimiter or _sniff_delimiter(text)
    meta: dict[str, Any] = {
        "source": name,
        "format": "csv",
        "encoding": encoding,
        "delimiter": delimiter,
        "repairs": [],
    }
    try:
        df = pd.read_csv(
            path,
            sep=delimiter,
            encoding=encoding,
            dtype=str,
            na_values=na_values or None,
            keep_default_na=True,
            skipinitialspace=True,
            on_bad_lines="error",
        )
    except pd.errors.EmptyDataError as exc:
        raise EmptyDataError("the file has no header and no rows", path=name) from exc
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f" at line {line.group(1)}" if line else ""
        raise FileFormatError(
            f"rows have different numbers of fields{where} (delimiter {delimiter!r})",
            path=name,
            hint="Check the quoting in that line, or pass --delimiter.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"cannot be decoded as {encoding}",
            path=name,
            hint="Pass --encoding (e.g. --encoding latin-1).",
        ) from exc
    return df, meta


def _guess_encoding(head: bytes, path: Path, name: str) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        raise FileFormatError(
            "does not look like a text table (it holds binary data)",
            path=name,
            hint="Export the data as CSV, Excel (.xlsx) or Parquet.",
        )
    # Decoding the whole file costs one pass over its bytes; it is the only way
    # to be sure a non-UTF-8 byte is not hiding past the sniffed head.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(16 * 1024 * 1024), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        path.read_bytes().decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # the sniffed head may end mid-line
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        pass
    # Fallback: the delimiter that appears the same non-zero number of times on
    # the most lines (ignoring quoted text is what csv.Sniffer tried first).
    best, best_score = ",", 0
    for delim in _DELIMITERS:
        counts = [ln.count(delim) for ln in lines]
        if not counts or max(counts) == 0:
            continue
        mode = max(set(counts), key=counts.count)
        score = counts.count(mode) if mode else 0
        if score > best_score:
            best, best_score = delim, score
    return best


# -- Excel and Parquet -------------------------------------------------------


def _read_excel(
    path: Path, name: str, sheet: str | int | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        df = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=object)
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise FileFormatError(
            "reading Excel needs openpyxl", path=name, hint="pip install openpyxl"
        ) from exc
    except ValueError as exc:
        raise InputError(str(exc), path=name) from exc
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise FileFormatError(
            f"is not a readable Excel workbook ({type(exc).__name__})", path=name
        ) from exc
    meta: dict[str, Any] = {
        "source": name,
        "format": "excel",
        "sheet": sheet or 0,
        "repairs": [],
    }
    return df, meta


def _read_parquet(path: Path, name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise FileFormatError(
            f"is not a readable Parquet file ({exc})", path=name
        ) from exc
    return df, {"source": name, "format": "parquet", "repairs": []}


# -- shared clean-up ---------------------------------------------------------


def _clean_headers(columns: pd.Index, repairs: list[str]) -> list[str]:
    cleaned: list[str] = []
    for col in columns:
        text = str(col)
        stripped = " ".join(text.split())
        if stripped != text:
            repairs.append(f"stripped spaces in column name {text!r}")
        if not stripped or stripped.startswith("Unnamed:"):
            stripped = f"column_{len(cleaned) + 1}"
            repairs.append(f"named an unnamed column '{stripped}'")
        cleaned.append(stripped)
    seen: dict[str, int] = {}
    result = []
    for col in cleaned:
        if col in seen:
            seen[col] += 1
            new = f"{col}_{seen[col]}"
            repairs.append(f"renamed a second column '{col}' to '{new}'")
            result.append(new)
        else:
            seen[col] = 1
            result.append(col)
    return result


def _infer_types(df: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Turn text columns whose values are numbers into numeric columns.

    Columns that are mostly numbers but hold a few other strings stay text and
    are listed in ``meta["mistyped"]`` with the offending rows and values.
    """
    mistyped: dict[str, dict[str, Any]] = {}
    for col in list(df.columns):
        series = df[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        if pd.api.types.is_datetime64_any_dtype(series):
            continue
        present = series.notna()
        n_present = int(present.sum())
        if n_present == 0:
            df[col] = pd.Series(np.nan, index=df.index, dtype="float64")
            continue
        as_text = series.astype("string").str.strip()
        numbers = pd.to_numeric(as_text, errors="coerce")
        bad = present & numbers.isna()
        n_bad = int(bad.sum())
        if n_bad == 0:
            if as_text[present].str.match(_LEADING_ZERO).any():
                df[col] = as_text  # identifiers such as 0001 stay text
                continue
            if numbers.notna().all() and (numbers % 1 == 0).all():
                df[col] = numbers.astype("int64")
            else:
                df[col] = numbers.astype("float64")
        elif n_bad <= (1 - _NUMERIC_SHARE) * n_present:
            idx = np.flatnonzero(bad.to_numpy())
            values = list(dict.fromkeys(as_text.iloc[idx].tolist()))
            mistyped[col] = {
                "rows": [int(i) + 1 for i in idx],
                "values": [str(v) for v in values[:5]],
                "count": n_bad,
            }
            df[col] = as_text
        else:
            df[col] = as_text
    meta["mistyped"] = mistyped
