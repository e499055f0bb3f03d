"""Read a customer table from CSV, Excel or Parquet into a pandas DataFrame.

What the loader learnt about the file (encoding, delimiter, repairs, columns that
look numeric but hold some text) travels with the frame in
``df.attrs["custseg"]`` so that :func:`custseg.quality.check_table` can report it.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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
# Integers written with a leading zero (0001) or in hexadecimal (0x1F) are codes.
_CODE_PATTERN = r"^[+-]?0[0-9xX]"
# What counts as a number when telling stray text from numbers.
_NUMBER_PATTERN = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"
# pandas' default missing-value markers (pandas.read_csv's ``na_values``).
_NA_VALUES = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
_UTF8 = {"utf-8", "utf8", "utf-8-sig"}
# PyArrow reads the file in blocks of this size, one block per thread at a time.
_BLOCK_BYTES = 8 << 20
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
    check_file(path, name)

    suffix = path.suffix.lower()
    na: frozenset[str] | None = None
    table: pa.Table | pq.ParquetFile
    if suffix in _EXCEL_SUFFIXES:
        frame, meta = _read_excel(path, name, sheet)
        table = _text_table(frame)
        na = _NA_VALUES | frozenset(na_values)
    elif suffix in _PARQUET_SUFFIXES:
        table, meta = _read_parquet(path, name)
    elif suffix in _CSV_SUFFIXES or suffix == "":
        table, meta = _read_csv(path, name, delimiter, encoding, list(na_values))
        na = _NA_VALUES | frozenset(na_values)
    else:
        raise FileFormatError(
            f"files ending in '{suffix}' are not supported",
            path=name,
            hint="Use a .csv, .tsv, .txt, .xlsx or .parquet file.",
        )

    n_columns, n_rows = (
        (len(table.schema_arrow.names), table.metadata.num_rows)
        if isinstance(table, pq.ParquetFile)
        else (table.num_columns, table.num_rows)
    )
    if n_columns == 0:
        raise EmptyDataError("no columns found", path=name)
    if n_rows == 0:
        raise EmptyDataError(
            "has a header but no data rows",
            path=name,
            hint="Add customer rows below the header.",
        )
    meta.pop("na_values", None)
    df = _frame_from_arrow(table, meta, na)
    df.attrs["custseg"] = meta
    return df


def check_file(path: Path, name: str) -> None:
    """Refuse a path that is missing, a folder, or an empty file."""
    if not path.exists():
        raise InputError("no such file", path=name)
    if path.is_dir():
        raise InputError("is a folder, not a file", path=name)
    if path.stat().st_size == 0:
        raise EmptyDataError("the file is empty", path=name)


# -- CSV ---------------------------------------------------------------------


def _read_csv(
    path: Path,
    name: str,
    delimiter: str | None,
    encoding: str | None,
    na_values: list[str],
) -> tuple[pa.Table, dict[str, Any]]:
    """Read every column as text with PyArrow's multi-threaded CSV reader.

    Types are inferred afterwards by :func:`_frame_from_arrow`, column by
    column, with vectorised checks (so ``0001`` can stay text).
    """
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head.strip():
        raise EmptyDataError("the file has no text, only blank space", path=name)
    encoding = encoding or _guess_encoding(head, path, name)
    try:
        text = head.decode(encoding, errors="replace")
    except LookupError as exc:
        raise EncodingError(
            f"unknown encoding {encoding!r}", path=name, hint="Try --encoding utf-8."
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    delimiter = delimiter or _sniff_delimiter(text)
    meta: dict[str, Any] = {
        "source": name,
        "format": "csv",
        "encoding": encoding,
        "delimiter": delimiter,
        "repairs": [],
        "na_values": sorted(_NA_VALUES | set(na_values)),
    }
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    if not header:
        raise EmptyDataError("the file has no header and no rows", path=name)
    names = [f"column_{i + 1}" for i in range(len(header))]
    bad_rows: list[tuple[int | None, str]] = []

    def on_bad_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.text))
        return "error"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding in _UTF8 else encoding,
                column_names=names,
                skip_rows=1,
                block_size=_BLOCK_BYTES,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                invalid_row_handler=on_bad_row,
            ),
            convert_options=pacsv.ConvertOptions(
                # Missing-value markers are found after parsing, and only in
                # columns that do not parse as numbers: asking the parser to
                # look for them in every cell made reading twice as slow.
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                null_values=[],
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if bad_rows:
            number, row = bad_rows[0]
            if number is None or number < 0:
                number = _line_of(path, encoding, row)
            where = f" at line {number}" if number is not None else ""
            raise FileFormatError(
                f"rows have different numbers of fields{where} (delimiter "
                f"{delimiter!r}, {len(header)} columns in the header): {row[:80]!r}",
                path=name,
                hint="Check the quoting in that line, or pass --delimiter.",
            ) from exc
        if "Empty CSV" in str(exc):
            raise EmptyDataError(
                "the file has no header and no rows", path=name
            ) from exc
        raise FileFormatError(f"cannot be read as CSV ({exc})", path=name) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise EncodingError(
            f"cannot be decoded as {encoding}",
            path=name,
            hint="Pass --encoding (e.g. --encoding latin-1).",
        ) from exc
    table = table.rename_columns(header)
    return table, meta


def _line_of(path: Path, encoding: str, row: str) -> int | None:
    """Line number (1-based) of the first line that reads ``row``: the parser
    does not always know it, and the error path can afford one more pass."""
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as fh:
            for number, line in enumerate(fh, start=1):
                if line.rstrip("\r\n") == row:
                    return number
    except (OSError, LookupError):
        pass
    return None


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


def _read_parquet(path: Path, name: str) -> tuple[pq.ParquetFile, dict[str, Any]]:
    try:
        parquet = pq.ParquetFile(path)
        parquet.schema_arrow  # noqa: B018 - fails early on a bad footer
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise FileFormatError(
            f"is not a readable Parquet file ({exc})", path=name
        ) from exc
    return parquet, {"source": name, "format": "parquet", "repairs": []}


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


def _text_table(df: pd.DataFrame) -> pa.Table:
    """An Excel sheet as a table of text, so that it is typed like a CSV file."""
    arrays = [
        pa.array(
            [None if _is_missing(v) else str(v) for v in df.iloc[:, i].tolist()],
            type=pa.string(),
        )
        for i in range(df.shape[1])
    ]
    return pa.table(arrays, names=[str(c) for c in df.columns])


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _frame_from_arrow(
    table: pa.Table | pq.ParquetFile,
    meta: dict[str, Any],
    na_values: frozenset[str] | None,
) -> pd.DataFrame:
    """Type and convert the columns, two at a time (PyArrow's compute functions
    release the GIL, and a 10-million-row column takes about half a second).

    A Parquet file is read column by column, so that its Arrow copy of a column
    is freed as soon as that column is converted: memory peaks at the frame
    plus two columns, not at the frame plus the whole Arrow table.
    """
    raw_names = (
        table.schema_arrow.names
        if isinstance(table, pq.ParquetFile)
        else table.column_names
    )
    names = _clean_headers(pd.Index(raw_names), meta["repairs"])
    if isinstance(table, pq.ParquetFile):
        parquet = table
        # One ParquetFile must not be read from two threads at once (it
        # deadlocked at a million rows): reads take turns, conversions overlap.
        lock = threading.Lock()

        def column(i: int) -> pa.ChunkedArray:
            with lock:
                return parquet.read(columns=[raw_names[i]]).column(0)

    else:
        columns: list[pa.ChunkedArray | None] = list(table.columns)
        del table

        def column(i: int) -> pa.ChunkedArray:
            arr = columns[i]
            columns[i] = None  # the converted column replaces the Arrow one
            assert arr is not None
            return arr

    mistyped: dict[str, dict[str, Any]] = {}

    def convert(i: int) -> pd.Series:
        return _to_pandas(column(i), names[i], na_values, mistyped)

    with ThreadPoolExecutor(max_workers=min(2, len(names))) as pool:
        converted = list(pool.map(convert, range(len(names))))
    meta["mistyped"] = {n: mistyped[n] for n in names if n in mistyped}
    # PyArrow's allocator keeps freed blocks for reuse; hand them back now that
    # the Arrow copies are gone.
    pa.default_memory_pool().release_unused()
    # copy=False keeps each column's array as it is instead of consolidating
    # them into one 2-D block (a full extra copy of the table).
    return pd.DataFrame(dict(zip(names, converted, strict=True)), copy=False)


def _to_pandas(
    column: pa.ChunkedArray,
    name: str,
    na_values: frozenset[str] | None,
    mistyped: dict[str, dict[str, Any]],
) -> pd.Series:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _infer_text(column, name, na_values, mistyped)
    if pa.types.is_dictionary(kind) and (
        pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
    ):
        return pd.Series(column.to_pandas(), name=name).astype("category")
    if pa.types.is_integer(kind) and column.null_count == 0:
        return pd.Series(_compact_ints(column.to_numpy()), name=name)
    return pd.Series(column.to_pandas(), name=name)


def _infer_text(
    column: pa.ChunkedArray,
    name: str,
    na_values: frozenset[str] | None,
    mistyped: dict[str, dict[str, Any]],
) -> pd.Series:
    """Turn a text column into numbers when every value is a number.

    Columns that are mostly numbers but hold a few other strings stay text and
    are listed in ``mistyped`` with the offending rows and values. Numbers with
    a leading zero (``0001``) or in hexadecimal stay text: they are codes.
    The common case, a clean numeric column, costs one vectorised cast; the
    trimming and missing-marker passes run only when that cast fails.
    """
    n = len(column)
    if column.null_count == n:
        return pd.Series(np.full(n, np.nan), name=name)
    text = column
    numbers = _parse_numbers(text)
    if numbers is None:
        text = pc.utf8_trim_whitespace(column)
        if na_values:
            markers = pa.array(sorted(na_values), type=text.type)
            text = pc.if_else(pc.is_in(text, value_set=markers), None, text)
        if text.null_count == n:
            return pd.Series(np.full(n, np.nan), name=name)
        numbers = _parse_numbers(text)
    n_present = n - text.null_count
    if numbers is not None:
        if _has_codes(text):
            return _as_string(text, name)
        if numbers.null_count == 0 and pa.types.is_floating(numbers.type):
            ints = _exact_int64(numbers)
            if ints is not None:
                numbers = ints
        values = numbers.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "i":
            values = _compact_ints(values)
        return pd.Series(values, name=name)
    ok = pc.fill_null(pc.match_substring_regex(text, _NUMBER_PATTERN), True)
    n_bad = n - int(pc.sum(ok).as_py() or 0)
    if 0 < n_bad <= (1 - _NUMERIC_SHARE) * n_present:
        idx = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
        values = list(dict.fromkeys(text.take(pa.array(idx[:1000])).to_pylist()))
        mistyped[name] = {
            "rows": [int(i) + 1 for i in idx],
            "values": [str(v) for v in values[:5]],
            "count": n_bad,
        }
    return _as_string(text, name)


def _has_codes(text: pa.ChunkedArray) -> bool:
    """Any value like 0001 or 0x1F? (A cheap prefix test first: the regular
    expression runs only on values that start with 0, +0 or -0.)"""
    maybe = pc.or_(
        pc.starts_with(text, "0"),
        pc.or_(pc.starts_with(text, "+0"), pc.starts_with(text, "-0")),
    )
    if not pc.any(maybe).as_py():
        return False
    candidates = pc.filter(text, maybe)
    return bool(pc.any(pc.match_substring_regex(candidates, _CODE_PATTERN)).as_py())


def _parse_numbers(text: pa.ChunkedArray) -> pa.ChunkedArray | None:
    for target in (pa.int64(), pa.float64()):
        try:
            return pc.cast(text, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def _compact_ints(values: np.ndarray) -> np.ndarray:
    """int32 when every value fits (ages, scores, counts, most ids): half the
    memory of int64 on large tables, and the same values."""
    info = np.iinfo(np.int32)
    fits = len(values) and info.min <= values.min() and values.max() <= info.max
    if values.dtype.itemsize > 4 and fits:
        return values.astype(np.int32)
    return values


def _exact_int64(numbers: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Whole-number floats (``3.0``) as int64, as a spreadsheet would show them."""
    values = numbers.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        if not (np.isfinite(values).all() and (values % 1 == 0).all()):
            return None
    if np.abs(values).max() >= 2.0**63:
        return None
    return pa.chunked_array([values.astype(np.int64)])


def _as_string(text: pa.ChunkedArray, name: str) -> pd.Series:
    return pd.Series(
        text.to_pandas(types_mapper={text.type: pd.StringDtype()}.get), name=name
    )
