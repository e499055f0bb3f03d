"""Read a customer table from CSV, Excel or Parquet into a pandas DataFrame.

:func:`read_table` returns a :class:`LoadedTable`: the frame and, beside it,
what the loader learnt about the file (encoding, delimiter, repairs, rows it
dropped, columns that look numeric but hold some text), which
:func:`custseg.quality.check_table` reports. Every repair is listed in
``docs/errors.md``. :func:`load_table`, the notebook's one-liner, returns the
frame alone with the same notes in ``df.attrs["custseg"]``; nothing in custseg
reads them from there but ``check_table`` given such a frame.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import dataclasses
import gzip
import io
import json
import math
import os
import posixpath
import re
import threading
import uuid
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from custseg._format import printable
from custseg.errors import (
    EmptyDataError,
    EncodingError,
    FileFormatError,
    InputError,
    ParameterError,
    format_rows,
)
from custseg.io._excel import read_excel, text_table
from custseg.io._numbers import (
    NUMBERISH_COMMA,
    NUMBERISH_POINT,
    parse_numbers,
    read_written_numbers,
    refuse_numeric_header,
    stray_text,
)
from custseg.io._write import EXCEL_SUFFIXES

if TYPE_CHECKING:
    from custseg.io._sql import DatabaseSource

# The readers' shared rules, which the Spark engine and the RFM aggregation
# apply too, are exported beside the two entry points.
__all__ = [
    "CODE_PATTERN",
    "CSV_SUFFIXES",
    "NA_VALUES",
    "NUMERIC_SHARE",
    "PARQUET_SUFFIXES",
    "SNIFF_BYTES",
    "as_string",
    "WHITESPACE",
    "check_delimiter",
    "check_file",
    "clean_headers",
    "frame_from_arrow",
    "guess_encoding",
    "LoadedTable",
    "load_table",
    "parse_size",
    "read_budget",
    "read_table",
    "sniff_delimiter",
    "table_meta",
]

SNIFF_BYTES = 64 * 1024
_DELIMITERS = ",;\t|"
# A text column is read as numeric when at least this share of its non-missing
# values parse as numbers; below it, it is a categorical/text column.
NUMERIC_SHARE = 0.8
# Integers written with a leading zero (0001) or in hexadecimal (0x1F) are codes.
CODE_PATTERN = r"^[+-]?0[0-9xX]"
# Integers this long do not survive float64 (2**53 has 16 digits; int64 holds 18
# for sure): a column of them is a column of codes.
_LONG_INTEGER_DIGITS = 19
# pandas' default missing-value markers (pandas.read_csv's ``na_values``).
NA_VALUES = frozenset(
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
# pandas warns on inserting a column into a frame of more blocks than this; a
# table with more columns is consolidated (one block per dtype) when it has at
# most _CONSOLIDATE_CELLS cells, so that the copy is cheap.
_MAX_BLOCKS = 100
_CONSOLIDATE_CELLS = 20_000_000
CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".tab", ".dat"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2"}
# Files that are something else than text, by their first bytes.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image", None),
    (b"\xff\xd8\xff", "a JPEG image", None),
    (b"GIF87a", "a GIF image", None),
    (b"GIF89a", "a GIF image", None),
    (b"%PDF-", "a PDF document", None),
    (b"PAR1", "a Parquet file", "Rename it to end in .parquet."),
    (b"\x1f\x8b", "gzip-compressed data", "Rename it to end in .csv.gz."),
    (b"SQLite format 3\x00", "an SQLite database", None),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an old-style Office file (.xls or .doc)",
        "Open it in a spreadsheet and save it as .xlsx or CSV.",
    ),
    (b"PK\x03\x04", "a ZIP archive", "Rename it to end in .zip."),
)
_EXPORT_HINT = "Export the data as CSV, Excel (.xlsx) or Parquet."
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SEP_LINE = re.compile(r"(?i)sep=(.)")
_JSON_START = re.compile(r'\s*(\{\s*["}]|\[\s*[\[{"\]\d-])')
_MARKUP_START = re.compile(r"(?i)\s*<(!doctype\s+html|html|head|body|table|\?xml)\b")
# A decoded head with more than this share of control characters is binary
# (NUL is judged apart: a few stray ones are a damaged export, not binary).
_CONTROL_SHARE = 0.1
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


# The field metadata io._sql puts on a column of JSON documents as text.
_JSON_FIELD = {b"custseg": b"json"}
_FRAME_NOTES: dict[str, Any] = {"source": "<DataFrame>", "format": "dataframe"}


@dataclass(frozen=True)
class LoadedTable:
    """A table as read, and what the reader learnt about it.

    Attributes
    ----------
    frame : DataFrame
        The rows, typed (numbers, dates, text).
    notes : dict
        ``source`` (the name shown in messages), ``format`` (``csv``,
        ``excel``, ``parquet``, ``database``, ``dataframe``, ...), the
        reader's settings it found (``delimiter``, ``encoding``, ``sheet``),
        ``repairs`` (what was changed), ``dropped_rows`` (rows left out, with
        the reason) and ``mistyped`` (numeric-looking columns with stray text).

    Examples
    --------
    >>> table = LoadedTable(pd.DataFrame({"a": [1]}))
    >>> table.source, table.format, table.notes["repairs"]
    ('<DataFrame>', 'dataframe', [])
    """

    frame: pd.DataFrame
    notes: dict[str, Any] = field(default_factory=lambda: dict(_FRAME_NOTES))

    def __post_init__(self) -> None:
        notes = {**_FRAME_NOTES, **self.notes}
        notes.setdefault("repairs", [])
        notes.setdefault("mistyped", {})
        object.__setattr__(self, "notes", notes)

    @property
    def source(self) -> str:
        """The name of the source, as messages show it."""
        return str(self.notes["source"])

    @property
    def format(self) -> str:
        """What kind of source it was read from."""
        return str(self.notes["format"])


def table_meta(data: pd.DataFrame | LoadedTable) -> dict[str, Any]:
    """The loader's notes about ``data``: a :class:`LoadedTable`'s, or those
    :func:`load_table` left on a frame (none for other frames).

    Examples
    --------
    >>> table_meta(pd.DataFrame({"a": [1]}))["source"]
    '<DataFrame>'
    """
    if isinstance(data, LoadedTable):
        return data.notes
    meta = data.attrs.get("custseg")
    return LoadedTable(data, meta if isinstance(meta, dict) else {}).notes


# Columns split by runs of spaces or tabs (a classic text export, the CDNOW
# master file): named so with --delimiter, or sniffed.
WHITESPACE = "whitespace"
_WHITESPACE_NAMES = {"whitespace", "space", "spaces", "\\s", "\\s+"}
# Columns at fixed character positions, padded with spaces (a mainframe or
# report export, where a value may hold spaces: "New York"): named so with
# --delimiter, or sniffed.
FIXED_WIDTH = "fixed-width"
_FIXED_WIDTH_NAMES = {"fixed", "fixed-width", "fixedwidth", "fwf"}
# Text layouts that no one-character delimiter splits (DuckDB and Spark read
# neither): custseg turns them into tab-separated text itself.
TEXT_LAYOUTS = (WHITESPACE, FIXED_WIDTH)
# How people write a tab on a command line.
_DELIMITER_NAMES = {"\\t": "\t", "tab": "\t", "TAB": "\t", "\\|": "|"}


def check_delimiter(delimiter: str | None) -> str | None:
    r"""The one character a delimiter must be (``\t`` and ``tab`` mean a
    tab); a clear error for anything else.

    Examples
    --------
    >>> check_delimiter(";"), check_delimiter("\t"), check_delimiter("tab")
    (';', '\t', '\t')
    """
    if delimiter is None:
        return None
    if delimiter.lower() in _WHITESPACE_NAMES:
        return WHITESPACE
    if delimiter.lower() in _FIXED_WIDTH_NAMES:
        return FIXED_WIDTH
    delimiter = _DELIMITER_NAMES.get(delimiter, delimiter)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise ParameterError(
            "the delimiter must be a single character other than a quote or a "
            f"line break, 'whitespace' or 'fixed-width'; got {delimiter!r}. For "
            "a tab, pass "
            "'\\t' or 'tab'; leave the delimiter out to have it detected."
        )
    return delimiter


def read_table(
    source: str | os.PathLike[str] | pd.DataFrame | DatabaseSource,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    na_values: Sequence[str] = (),
    max_bytes: int | str | None = None,
    header: bool = True,
    names: Sequence[str] | None = None,
) -> LoadedTable:
    """Read a customer table from a file or a database, or take a DataFrame as
    it is, with what the reader learnt about it.

    CSV files are sniffed: the delimiter (comma, semicolon, tab or pipe, or a
    ``sep=;`` first line), the encoding (UTF-8, UTF-8 with BOM, UTF-16, then
    cp1252/Latin-1), and stray spaces around header names are handled. A
    ``.csv.gz``/``.csv.bz2`` file, or a ``.zip`` holding one CSV file, is read
    as that CSV. Columns are read as text first and turned into numbers only
    when their values are numbers, so identifiers such as ``0001`` keep their
    leading zeros; numbers written for people (``$1,200``, ``45%``, and
    ``1.234,56`` in a file not delimited by commas) are read as numbers, and
    the repair is listed. Rows that are entirely blank or repeat the header are
    dropped and listed. The repairs are described in ``docs/errors.md``.

    Parameters
    ----------
    source : path, DataFrame or DatabaseSource
        A ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``/``.bz2``), ``.zip``,
        ``.xlsx`` or ``.parquet`` file, or a table or query in a database
        (:func:`custseg.io.read_database`).
    delimiter, encoding : str, optional
        Override what the sniffer finds.
    sheet : str or int, optional
        Excel sheet name or index (default: the first sheet).
    na_values : sequence of str
        Extra strings to read as missing, on top of pandas' defaults
        (``""``, ``"NA"``, ``"N/A"``, ``"null"``, ``"nan"``, ...).
    header : bool
        Whether a text file's first line names its columns (default). With
        ``False`` it is data, and the columns are ``column_1``, ... or
        ``names``.
    names : sequence of str, optional
        The names of a text file's columns, in order (in place of its
        header line, or for a file without one).
    max_bytes : int or str, optional
        The most bytes of text a file may hold once decompressed (``"2G"``,
        ``"500M"`` or a number): a larger one is refused before it fills the
        memory (a "zip bomb" is a small file that expands to gigabytes).
        Default: a sixteenth of the memory this process can still use
        (:func:`read_budget`), scaled for a CSV by how short its cells are
        (half of it for one-digit cells, up to four times it for long ones).

    Returns
    -------
    LoadedTable
        The frame, and in ``notes`` the source: ``repairs`` (what was
        changed), ``dropped_rows`` (rows left out, with the reason),
        ``mistyped`` (numeric-looking columns with stray text).

    Raises
    ------
    EmptyDataError, EncodingError, FileFormatError, InputError

    Examples
    --------
    >>> from custseg.datasets import mall_customers_path
    >>> table = read_table(mall_customers_path())
    >>> table.frame.shape, table.format, table.notes["delimiter"]
    ((200, 5), 'csv', ',')
    """
    from custseg.io._sql import DatabaseSource, read_database_table

    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        frame.attrs.pop("custseg", None)
        return LoadedTable(frame)
    if isinstance(source, DatabaseSource):
        return read_database_table(source, na_values=na_values)

    delimiter = check_delimiter(delimiter)
    limit = read_budget() if max_bytes is None else parse_size(max_bytes)
    path = Path(source)
    name = printable(str(source))
    check_file(path, name)

    suffix = path.suffix.lower()
    na: frozenset[str] | None = None
    table: pa.Table | pq.ParquetFile
    if (not header or names is not None) and (
        suffix in EXCEL_SUFFIXES or suffix in PARQUET_SUFFIXES
    ):
        raise ParameterError(
            f"{name}: --no-header and --names are for text files; a workbook "
            "or Parquet file names its own columns"
        )
    if suffix in EXCEL_SUFFIXES:
        _check_workbook(path, name, limit)
        frame, meta = read_excel(path, name, sheet)
        table = text_table(frame)
        na = NA_VALUES | frozenset(na_values)
    elif suffix in PARQUET_SUFFIXES:
        table, meta = _read_parquet(path, name)
    elif suffix in CSV_SUFFIXES or suffix in {"", ".zip"} or suffix in _COMPRESSIONS:
        csv_source = _csv_source(path, name, limit, by_density=max_bytes is None)
        table, meta = _read_csv(
            csv_source, delimiter, encoding, list(na_values), header, names
        )
        na = NA_VALUES | frozenset(na_values)
    else:
        raise FileFormatError(
            f"files ending in '{suffix}' are not supported",
            path=name,
            hint="Use a .csv (optionally .csv.gz or in a .zip), .tsv, .txt, .xlsx "
            "or .parquet file.",
        )

    if isinstance(table, pa.Table):
        table = _tidy_table(table, meta)
    n_columns, n_rows = (
        (len(table.schema_arrow.names), table.metadata.num_rows)
        if isinstance(table, pq.ParquetFile)
        else (table.num_columns, table.num_rows)
    )
    if n_columns == 0:
        raise EmptyDataError("no columns found", path=meta["source"])
    if n_rows == 0:
        dropped = sum(d["count"] for d in meta.get("dropped_rows", []))
        raise EmptyDataError(
            "has a header but no data rows"
            + (f" ({dropped} blank or repeated-header rows)" if dropped else ""),
            path=meta["source"],
            hint="Add customer rows below the header.",
        )
    meta.pop("na_values", None)
    return LoadedTable(frame_from_arrow(table, meta, na), meta)


def load_table(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    na_values: Sequence[str] = (),
    max_bytes: int | str | None = None,
    header: bool = True,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """:func:`read_table`'s frame, with its notes in ``df.attrs["custseg"]``
    (so that ``check_table(load_table(path))`` reports the repairs): the
    one-liner for a notebook. custseg itself passes :class:`LoadedTable`.

    Examples
    --------
    >>> from custseg.datasets import mall_customers_path
    >>> df = load_table(mall_customers_path())
    >>> df.shape, df.attrs["custseg"]["delimiter"]
    ((200, 5), ',')
    """
    table = read_table(
        source,
        delimiter=delimiter,
        encoding=encoding,
        sheet=sheet,
        na_values=na_values,
        max_bytes=max_bytes,
        header=header,
        names=names,
    )
    df = table.frame
    df.attrs["custseg"] = table.notes
    return df


def check_file(path: Path, name: str) -> None:
    """Refuse a path that is missing, a folder, or an empty file."""
    if not path.exists():
        raise InputError("no such file", path=name)
    if path.is_dir():
        raise InputError("is a folder, not a file", path=name)
    if path.stat().st_size == 0:
        raise EmptyDataError("the file is empty", path=name)


# -- where the CSV bytes come from -------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A CSV file: plain, gzip- or bzip2-compressed, or one member of a zip."""

    path: Path
    name: str
    compression: str | None = None
    member: str | None = None
    limit: int | None = None  # the most decompressed bytes read

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The file's bytes, decompressed (at most ``limit`` of them)."""
        if self.member is not None:
            with (
                zipfile.ZipFile(self.path) as archive,
                archive.open(self.member) as fh,
            ):
                yield self._capped(fh)
        elif self.compression == "gzip":
            with gzip.open(self.path, "rb") as gz:
                yield self._capped(cast(IO[bytes], gz))
        elif self.compression == "bz2":
            with bz2.open(self.path, "rb") as bz:
                yield self._capped(cast(IO[bytes], bz))
        else:
            with self.path.open("rb") as fh:
                yield fh

    def _capped(self, fh: IO[bytes]) -> IO[bytes]:
        if self.limit is None:
            return fh
        capped = _Capped(fh, self.limit, self.name)
        return cast(IO[bytes], io.BufferedReader(capped, buffer_size=1 << 20))

    def arrow_input(self, stack: contextlib.ExitStack) -> str | IO[bytes]:
        """What pyarrow reads: the path of a plain file, or the stream (of a
        compressed file or zip member, decompressed by Python's zlib as fast
        as pyarrow's own, and counted against the limit; or of a path pyarrow
        cannot take, not valid UTF-8)."""
        if self.seekable and printable(str(self.path)) == str(self.path):
            return str(self.path)
        return stack.enter_context(self.open())

    @property
    def seekable(self) -> bool:
        return self.compression is None and self.member is None


# -- size limits ---------------------------------------------------------------

# Reading a table takes up to this many times its text in memory: Arrow's
# strings and offsets, then the typed columns, for a table of short cells
# ("1,2,3,4": 2 bytes a cell become 5 in Arrow and 8 as a number, with the
# temporaries of the conversion; 12x measured on one-digit cells, 3-5x on
# real tables). A worksheet's XML takes a few times as much again in cell
# objects. The default limit is the memory left over this.
READ_FACTOR = 16
_EXCEL_FACTOR = 3
_MIN_BUDGET = 64 << 20
_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]?)i?b?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: int | str) -> int:
    """A size in bytes from ``2G``, ``500M``, ``1.5GB``, ``64k`` or a number.

    Examples
    --------
    >>> parse_size("2G"), parse_size("500m"), parse_size(1000)
    (2147483648, 524288000, 1000)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ParameterError(
                f"--max-bytes must be a size such as 500M, 2G or 1000000; got "
                f"{printable(str(value))!r}"
            )
        amount = float(match.group(1)) * _UNITS[match.group(2).lower()]
        if not math.isfinite(amount):
            raise ParameterError(f"--max-bytes must be a finite size; got {value!r}")
        size = int(amount)
    if size < 1:
        raise ParameterError(f"--max-bytes must be at least 1 byte; got {value!r}")
    return size


def available_memory() -> int:
    """Bytes this process can still allocate: the system's available memory
    (``MemAvailable``), or less under an address-space limit (``ulimit -v``)."""
    avail: int | None = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    if avail is None:
        try:
            avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
        except (ValueError, OSError, AttributeError):
            avail = 8 << 30
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return avail
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        used = 0
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
        avail = min(avail, max(soft - used, 0))
    return avail


def read_budget() -> int:
    """The default ``max_bytes``: what the memory left can hold as a table
    (:data:`READ_FACTOR`), at least 64 MiB."""
    return max(available_memory() // READ_FACTOR, _MIN_BUDGET)


def _size_words(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def too_large(name: str, size: int | None, limit: int, what: str) -> InputError:
    """The error for a file past the limit: its size, the limit and what to do."""
    found = f"{_size_words(size)} of text, " if size else ""
    return InputError(
        f"{what} {found}more than the {_size_words(limit)} custseg reads at most "
        "(by default set from the memory free and how short the cells are)",
        path=name,
        hint="If the file is what you meant to read, pass a larger --max-bytes "
        "(e.g. --max-bytes 8G) on a machine with the memory, run it with "
        "--engine spark, or split it; a small file that expands to gigabytes "
        "is a 'zip bomb' and should not be read.",
    )


class _Capped(io.RawIOBase):
    """A stream that refuses to yield more than ``limit`` bytes: decompression
    stops at the limit instead of filling the memory."""

    def __init__(self, raw: IO[bytes], limit: int, name: str) -> None:
        self.raw, self.limit, self.name, self.count = raw, limit, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n or 0
        if self.count > self.limit:
            raise too_large(self.name, None, self.limit, "decompresses to")
        return int(n or 0)


def _check_declared_size(path: Path, name: str, suffix: str, limit: int) -> None:
    """Refuse a file whose size (plain) or zip entry already says it holds
    more than ``limit`` bytes. (A gzip trailer's size is not trusted: in a
    file cut short it is any four bytes. The stream is counted instead.)"""
    size: int | None = None
    what = "holds"
    try:
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:  # the CSV member(s) only
                size = max(
                    (
                        i.file_size
                        for i in archive.infolist()
                        if posixpath.splitext(i.filename)[1].lower() in CSV_SUFFIXES
                    ),
                    default=0,
                )
            what = "decompresses to"
        elif suffix not in _COMPRESSIONS:
            size = path.stat().st_size
    except (OSError, zipfile.BadZipFile):
        return  # the reader names the damage
    if size is not None and size > limit:
        raise too_large(name, size, limit, what)


def _check_workbook(path: Path, name: str, limit: int) -> None:
    """Refuse a workbook whose sheets' XML (as its zip directory declares it)
    would take more than ``limit`` to read: openpyxl builds an object per
    cell, a few times the XML's size."""
    try:
        with zipfile.ZipFile(path) as archive:
            xml = sum(
                i.file_size
                for i in archive.infolist()
                if i.filename.startswith("xl/worksheets/")
                or i.filename == "xl/sharedStrings.xml"
            )
    except (OSError, zipfile.BadZipFile):
        return  # read_excel names the damage
    if xml * _EXCEL_FACTOR > limit:
        raise too_large(name, xml, limit // _EXCEL_FACTOR, "is a workbook of")


# Ways a compressed file fails to decompress: a bad header, a cut-off stream.
_DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile)


def _csv_source(
    path: Path, name: str, limit: int | None = None, *, by_density: bool = False
) -> _Source:
    """The CSV inside ``path``: the file itself, its decompressed bytes, or the
    single CSV member of a zip archive; refused when it holds more than
    ``limit`` bytes (declared, or found while reading). ``by_density``: the
    limit is the default one, scaled by how short the cells are
    (:func:`_density_factor`)."""
    suffix = path.suffix.lower()
    source = _any_csv_source(path, name, suffix)
    if limit is None:
        return source
    if by_density:
        limit = int(limit * _density_factor(source))
    _check_declared_size(path, name, suffix, limit)
    return dataclasses.replace(source, limit=limit)


# Bytes of text per cell at which the default limit is READ_FACTOR's; shorter
# cells cost more memory per byte (a one-digit cell is 2 bytes of text and
# about 24 in memory), longer ones less.
_TYPICAL_CELL = 4


def _density_factor(source: _Source) -> float:
    """How much more (or less) text than the default limit the memory holds
    for this file's cells: bytes per cell in its first 64 KiB over
    :data:`_TYPICAL_CELL`, between 0.5 and 4. A file of "1,2,3,4" rows gets
    half the default limit, one of 40-character cells four times it, so that
    the memory a read may take stays about the same share of what is free."""
    try:
        with source.open() as fh:
            head = fh.read(SNIFF_BYTES)
    except (OSError, *_DECOMPRESS_ERRORS):
        return 1.0  # the reader names the damage
    cells = sum(head.count(c) for c in (b",", b";", b"\t", b"|", b"\n"))
    if not head or not cells:
        return 1.0
    return min(4.0, max(0.5, len(head) / cells / _TYPICAL_CELL))


def _any_csv_source(path: Path, name: str, suffix: str) -> _Source:
    """:func:`_csv_source` before any limit."""
    if suffix in _COMPRESSIONS:
        inner = Path(path.stem).suffix.lower()
        if inner and inner not in CSV_SUFFIXES:
            raise FileFormatError(
                f"compressed '{inner}' files are not supported",
                path=name,
                hint=f"Decompress it first, or compress a CSV file ({inner} "
                "files are already compressed).",
            )
        return _Source(path, name, compression=_COMPRESSIONS[suffix])
    if suffix != ".zip":
        return _Source(path, name)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                info.filename
                for info in archive.infolist()
                if not info.is_dir()
                and not info.filename.startswith("__MACOSX/")
                and not posixpath.basename(info.filename).startswith(".")
            ]
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileFormatError(
            f"is not a readable ZIP archive ({exc})", path=name
        ) from exc
    tables = [m for m in members if posixpath.splitext(m)[1].lower() in CSV_SUFFIXES]
    if len(tables) == 1:
        return _Source(path, f"{name} ({tables[0]})", member=tables[0])
    listing = ", ".join(f"'{m}'" for m in (tables or members)[:10])
    if len(tables) > 1:
        raise FileFormatError(
            f"the ZIP archive holds {len(tables)} CSV files ({listing}); custseg "
            "reads one table at a time",
            path=name,
            hint="Extract the one to segment and pass it, or zip it alone.",
        )
    raise FileFormatError(
        "the ZIP archive holds no CSV file"
        + (f" (it holds {listing})" if members else " (it is empty)"),
        path=name,
        hint="Extract the table and pass it as .csv, .xlsx or .parquet.",
    )


# -- CSV ---------------------------------------------------------------------


def _read_csv(
    source: _Source,
    delimiter: str | None,
    encoding: str | None,
    na_values: list[str],
    header_row: bool = True,
    given_names: Sequence[str] | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """Read every column as text with PyArrow's multi-threaded CSV reader.

    Types are inferred afterwards by :func:`frame_from_arrow`, column by
    column, with vectorised checks (so ``0001`` can stay text).
    """
    name = source.name
    try:
        with source.open() as fh:
            head = fh.read(SNIFF_BYTES)
    except _DECOMPRESS_ERRORS as exc:
        raise _decompress_error(source, exc) from exc
    _refuse_binary_formats(head, name)
    if not head.strip(b" \t\r\n\x00\x0b\x0c"):
        raise EmptyDataError("the file has no text, only blank space", path=name)
    repairs: list[str] = []
    nul = False
    if encoding is None:
        encoding, nul, note = _detect_encoding(head, source)
        if note:
            repairs.append(note)
    try:
        text = head.decode(encoding, errors="replace")
    except LookupError as exc:
        raise EncodingError(
            f"unknown encoding {encoding!r}", path=name, hint="Try --encoding utf-8."
        ) from exc
    text = text.removeprefix("\ufeff")
    _refuse_non_text(text, name)
    text = text.replace("\x00", "")
    lines = _LINE_BREAK.split(text)
    skip = _blank_lines(lines, 0)
    if skip < len(lines) and _SEP_LINE.fullmatch(lines[skip].strip()):
        hinted = lines[skip].strip()[-1]
        repairs.append(
            f"skipped the first line {lines[skip].strip()!r}, a spreadsheet's "
            f"note of the delimiter"
            + ("" if delimiter else f", and used the delimiter {hinted!r}")
        )
        delimiter = delimiter or hinted
        skip = _blank_lines(lines, skip + 1)
    body = "\n".join(lines[skip:])
    delimiter = delimiter or sniff_delimiter(body)
    spaced = delimiter in TEXT_LAYOUTS
    converted: io.BytesIO | None = None
    if delimiter == FIXED_WIDTH:
        with _decoding(source, encoding):
            converted, spans = _fixed_width_separated(
                source, encoding, skip, header_row
            )
        first = next((ln for ln in lines[skip:] if ln.strip()), "")
        header, used = _fixed_cells(first, spans), 1
        meta_spans = [[a + 1, b if b is not None else None] for a, b in spans]
    elif spaced:
        first = next((ln for ln in lines[skip:] if ln.strip()), "")
        header, used = first.split(), 1
    else:
        reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
        header = next(reader, [])
        used = reader.line_num
    if not header:
        raise EmptyDataError("the file has no header and no rows", path=name)
    header_line = skip + 1
    if header_row:
        skip += used
        if given_names is None:
            refuse_numeric_header(header, name, f"line {header_line}")
    if given_names is not None:
        if len(given_names) != len(header):
            raise ParameterError(
                f"{name}: --names gives {len(given_names)} names, but the file "
                f"has {len(header)} columns (line {header_line}: "
                f"{printable(' | '.join(header))[:200]})"
            )
        header = [str(n) for n in given_names]
    elif not header_row:
        header = [f"column_{i + 1}" for i in range(len(header))]
    meta: dict[str, Any] = {
        "source": name,
        "format": "csv",
        "encoding": encoding,
        "delimiter": delimiter,
        "repairs": repairs,
        "na_values": sorted(NA_VALUES | set(na_values)),
    }
    if source.compression:
        meta["compression"] = source.compression
    if source.member:
        meta["archive_member"] = source.member
    if nul:
        meta["nul_bytes"] = True
    if not header_row:
        meta["header"] = False
    if converted is not None:  # each column's first and last character
        meta["columns_at"] = meta_spans
    names = [f"column_{i + 1}" for i in range(len(header))]
    bad_rows: list[tuple[int | None, int, int, str]] = []
    blank_rows: list[int] = []
    # Columns split by spaces reach pyarrow split by tabs (one per run).
    split_by = "\t" if spaced else delimiter
    blank_chars = split_by + " \t\r\n\x00"

    def on_bad_row(row: pacsv.InvalidRow) -> str:
        if not row.text.strip(blank_chars):
            blank_rows.append(row.number if row.number is not None else -1)
            return "skip"
        bad_rows.append(
            (row.number, row.expected_columns, row.actual_columns, row.text)
        )
        return "error"

    try:
        with _decoding(source, encoding), contextlib.ExitStack() as stack:
            table = pacsv.read_csv(
                converted
                if converted is not None
                else _tab_separated(source, encoding)
                if spaced
                else source.arrow_input(stack),
                read_options=pacsv.ReadOptions(
                    encoding="utf8" if spaced or encoding in _UTF8 else encoding,
                    column_names=names,
                    skip_rows=skip,
                    block_size=_BLOCK_BYTES,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=split_by,
                    quote_char=False if spaced else '"',
                    newlines_in_values=True,
                    invalid_row_handler=on_bad_row,
                ),
                convert_options=pacsv.ConvertOptions(
                    # Missing-value markers are found after parsing, and only
                    # in columns that do not parse as numbers: asking the parser
                    # to look for them in every cell made reading twice as slow.
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    null_values=[],
                    quoted_strings_can_be_null=False,
                ),
            )
    except pa.ArrowInvalid as exc:
        if bad_rows:
            raise _ragged_error(
                source, encoding, delimiter, skip + 1, bad_rows, spaced=spaced
            ) from exc
        if "Empty CSV" in str(exc):
            raise EmptyDataError(
                "the file has no header and no rows", path=name
            ) from exc
        if "invalid UTF8" in str(exc):  # Arrow's own decoder, on --encoding utf-8
            found = re.search(r"column #(\d+)", str(exc))
            column = int(found[1]) if found else len(header)
            where = f" (column '{header[column]}')" if column < len(header) else ""
            raise EncodingError(
                f"cannot be decoded as {encoding}: it holds bytes that are not "
                f"UTF-8{where}",
                path=name,
                hint="Pass the file's encoding (e.g. --encoding cp1252 or "
                "latin-1), or leave --encoding out to have it detected.",
            ) from exc
        raise FileFormatError(f"cannot be read as CSV ({exc})", path=name) from exc
    if blank_rows:
        known = sorted(n for n in blank_rows if n > 0)
        if len(known) < len(blank_rows):  # the parallel reader does not know
            known = _blank_line_numbers(source, encoding, blank_chars)
        _note_dropped(
            meta,
            "a line of only delimiters or spaces",
            len(blank_rows),
            known,
            "lines",
        )
    if not spaced:  # quotes mean nothing between spaces
        _check_closing_quote(table, source, encoding, delimiter)
    table = table.rename_columns(header)
    return table, meta


@contextlib.contextmanager
def _decoding(source: _Source, encoding: str) -> Iterator[None]:
    """A wrong encoding, or damaged compression, met while reading
    ``source``: its clean error."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"cannot be decoded as {encoding}",
            path=source.name,
            hint="Pass --encoding (e.g. --encoding latin-1).",
        ) from exc
    except _DECOMPRESS_ERRORS as exc:
        raise _decompress_error(source, exc) from exc


def _all_lines(source: _Source, encoding: str) -> list[str]:
    """Every line of a text file, split as its lines were counted."""
    with source.open() as fh:  # strictly: a wrong encoding is an EncodingError
        text = fh.read().decode(encoding).removeprefix("\ufeff")
    return _LINE_BREAK.split(text.replace("\x00", ""))


def _tab_separated(source: _Source, encoding: str) -> io.BytesIO:
    """A file whose columns are split by runs of spaces, as UTF-8 text split
    by one tab each (the same lines, so line numbers stay right)."""
    lines = _all_lines(source, encoding)
    return io.BytesIO("".join("\t".join(ln.split()) + "\n" for ln in lines).encode())


# Lines whose layout decides the columns of a fixed-width file (the others
# are checked against it).
_FIXED_SAMPLE_LINES = 1000
_SPACE = 32  # the code point of " "


def _code_points(lines: Sequence[str], width: int) -> np.ndarray:
    """The lines, padded with spaces to ``width``, as a (lines, width) array
    of code points: one vectorised look at every character position."""
    padded = "".join(ln.ljust(width)[:width] for ln in lines)
    return np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).reshape(
        len(lines), width
    )


def fixed_width_spans(
    lines: Sequence[str], *, header: bool = True
) -> list[tuple[int, int | None]]:
    """The columns of fixed-width lines, as character spans ``(start, end)``:
    the runs of positions where some line has a character, split by the
    positions that are blank on every line (the way pandas' ``read_fwf``
    infers them). The last span is open-ended (``end`` None), so a long last
    value is kept whole.

    With a ``header`` (the first line), names decide where the spaces inside
    a column are: a span with no name above it continues the column before
    it (free text: "long-standing customer"); two words of the header one
    space apart are one name when one of them has no values below it (a
    word of a longer name over right-aligned numbers: "Annual Income (k$)")
    or, where columns are set apart by two spaces or more elsewhere, when a
    value spans that space too ("Customer Name" over "Ann Lee"). A named
    column with no values, two spaces or more from the next, stays a column.

    Examples
    --------
    >>> fixed_width_spans(["name       age  Annual Income", "Ann Lee     34      43076",
    ...                    "Bo          5        9737 x"])
    [(0, 7), (11, 14), (16, None)]
    """
    lines = [ln.expandtabs() for ln in lines if ln.strip()]
    width = max((len(ln) for ln in lines), default=0)
    if not width:
        return []
    used = (_code_points(lines, width) != _SPACE).any(axis=0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], used.astype(np.int8), [0]])))
    spans = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    if header and len(lines) > 1:
        spans = _named_spans(spans, lines[0], lines[1:])
    out: list[tuple[int, int | None]] = list(spans)
    if out:
        out[-1] = (out[-1][0], None)
    return out


def _named_spans(
    spans: list[tuple[int, int]], top: str, rows: list[str]
) -> list[tuple[int, int]]:
    """Spans joined where the header says a column goes on (see
    :func:`fixed_width_spans`)."""
    merged: list[tuple[int, int]] = []
    for a, b in spans:  # no name above: the column before goes on
        if merged and not top[a:b].strip():
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    # Columns set apart by two spaces or more somewhere: a single space can be
    # inside a value or a name.
    wide = any(b2 - a2 > 1 for (_, a2), (b2, _) in pairwise(merged))

    def empty(span: tuple[int, int]) -> bool:
        return not any(row[span[0] : span[1]].strip() for row in rows)

    def one_name(left: tuple[int, int], right: tuple[int, int]) -> bool:
        """Two words of the header one space apart are one column when one
        of them has no values (a word of a longer name over right-aligned
        numbers), or when a value spans the space too."""
        end, start = left[1], right[0]
        if start - end != 1 or not (
            top[end - 1 : end].strip() and top[start : start + 1].strip()
        ):
            return False
        if empty(left) or empty(right):
            return True
        return wide and any(
            row[end - 1 : end].strip() and row[start : start + 1].strip()
            for row in rows
        )

    i = 0
    while i < len(merged) - 1:
        if one_name(merged[i], merged[i + 1]):
            merged[i : i + 2] = [(merged[i][0], merged[i + 1][1])]
        else:
            i += 1
    return merged


def _fixed_cells(line: str, spans: Sequence[tuple[int, int | None]]) -> list[str]:
    line = line.expandtabs()
    return [line[a:b].strip() for a, b in spans]


def _fixed_width_separated(
    source: _Source, encoding: str, skip: int, header_row: bool
) -> tuple[io.BytesIO, list[tuple[int, int | None]]]:
    """A fixed-width file as UTF-8 text split by one tab per column (the same
    lines, so line numbers stay right), and its column spans: those of its
    first :data:`_FIXED_SAMPLE_LINES` lines after ``skip`` (with a header,
    each column starts under a name). A later line with
    text between two columns is an error naming the line, not a value cut
    in two."""
    lines = _all_lines(source, encoding)
    body = [ln.expandtabs() for ln in lines[skip:]]
    spans = fixed_width_spans(body[:_FIXED_SAMPLE_LINES], header=header_row)
    if len(spans) < 2:
        raise FileFormatError(
            "cannot find fixed-width columns: no character position is blank "
            "on every line",
            path=source.name,
            hint="Pass --delimiter for a delimited file, or 'whitespace' for "
            "columns split by runs of spaces.",
        )
    gaps = np.concatenate(
        [np.arange(cast(int, end), start) for (_, end), (start, _) in pairwise(spans)]
    )
    width = int(gaps.max()) + 1
    step = 20_000
    for first in range(_FIXED_SAMPLE_LINES, len(body), step):
        chunk = body[first : first + step]
        crossing = (_code_points(chunk, width)[:, gaps] != _SPACE).any(axis=1)
        if crossing.any():
            row = int(np.flatnonzero(crossing)[0])
            bad = chunk[row]
            at = next(int(i) for i in gaps if i < len(bad) and bad[i] != " ")
            raise FileFormatError(
                f"line {skip + first + row + 1:,} has text at character {at + 1}, "
                f"between two fixed-width columns (as the first "
                f"{_FIXED_SAMPLE_LINES:,} lines place them): {bad[:80]!r}",
                path=source.name,
                hint="Align that line with the others, or save the file as CSV.",
            )
    out = "".join(
        ("\t".join(_fixed_cells(ln, spans)) if ln.strip() else "") + "\n"
        for ln in lines[:skip] + body
    )
    return io.BytesIO(out.encode()), spans


def _blank_lines(lines: list[str], start: int) -> int:
    """Index of the first line at or after ``start`` that is not blank."""
    while start < len(lines) and not lines[start].strip():
        start += 1
    return start


def _decompress_error(source: _Source, exc: BaseException) -> FileFormatError:
    kind = "ZIP" if source.member else source.compression or "compressed"
    cut = isinstance(exc, EOFError) or "end-of-stream" in str(exc)
    return FileFormatError(
        f"cannot be decompressed as {kind} data"
        + (" (it is cut off)" if cut else f" ({exc})"),
        path=source.name,
        hint="Download or copy the file again.",
    )


def _refuse_binary_formats(head: bytes, name: str) -> None:
    """Name what a non-text file is, from its first bytes."""
    for magic, what, hint in _MAGIC:
        if head.startswith(magic):
            if magic == b"PK\x03\x04" and b"xl/" in head:
                what, hint = "an Excel workbook", "Rename it to end in .xlsx."
            raise FileFormatError(
                f"is {what}, not a text table", path=name, hint=hint or _EXPORT_HINT
            )


def _refuse_non_text(text: str, name: str) -> None:
    """Refuse binary data, JSON and web pages that happen to decode as text."""
    sample = text[:SNIFF_BYTES]
    controls = len(_CONTROL.findall(sample))
    if sample and controls > max(8, _CONTROL_SHARE * len(sample)):
        raise FileFormatError(
            "does not look like a text table (it holds binary data)",
            path=name,
            hint=_EXPORT_HINT,
        )
    if _JSON_START.match(sample):
        raise FileFormatError(
            "holds JSON, not a table of rows and columns",
            path=name,
            hint="Convert it to CSV (e.g. pandas.read_json(...).to_csv(...)), or "
            "export the data as CSV.",
        )
    if _MARKUP_START.match(sample):
        raise FileFormatError(
            "is a web page or XML document, not a CSV table",
            path=name,
            hint="A download may have saved a login or error page instead of "
            "the data; download the file again.",
        )


def _ragged_error(
    source: _Source,
    encoding: str,
    delimiter: str,
    first_data_line: int,
    bad_rows: list[tuple[int | None, int, int, str]],
    *,
    spaced: bool = False,
) -> FileFormatError:
    number, expected, actual, row = bad_rows[0]
    first_line = _LINE_BREAK.split(row, maxsplit=1)[0]
    last = False
    if number is None or number < 0:
        number, last = _line_of(source, encoding, first_line, spaced=spaced)
    where = f" at line {number}" if number is not None else ""
    if '"' in row and _LINE_BREAK.search(row):
        return FileFormatError(
            f"a quoted value that starts{where} is never closed (delimiter "
            f"{delimiter!r}): {first_line[:80]!r}",
            path=source.name,
            hint="Close the quote, or remove the stray quote character.",
        )
    if number == first_data_line and actual > expected:
        hint = (
            "The first line may be a title rather than the header; remove it, "
            "or pass --delimiter."
        )
    elif last and actual < expected:
        hint = "The file may be cut off there."
    else:
        hint = "Check the quoting in that line, or pass --delimiter."
    return FileFormatError(
        f"rows have different numbers of fields: {actual}{where}, {expected} in "
        f"the header (delimiter {delimiter!r}): {row[:80]!r}",
        path=source.name,
        hint=hint,
    )


def _line_of(
    source: _Source, encoding: str, line: str, *, spaced: bool = False
) -> tuple[int | None, bool]:
    """Line number (1-based) of the first line that reads ``line`` (split by
    tabs where the file's columns are split by runs of spaces), and whether
    it is the last line: the parser does not always know it, and the error
    path can afford one more pass."""
    found = None
    count = 0
    try:
        with (
            source.open() as raw,
            io.TextIOWrapper(
                raw, encoding=encoding, errors="replace", newline=""
            ) as fh,
        ):
            for count, text in enumerate(fh, start=1):
                read = text.rstrip("\r\n").replace("\x00", "")
                if spaced:
                    read = "\t".join(read.split())
                if found is None and read == line:
                    found = count
    except (OSError, LookupError, EOFError, zlib.error):
        pass
    return found, found is not None and found == count


def _blank_line_numbers(source: _Source, encoding: str, blank: str) -> list[int]:
    """Line numbers (1-based) of lines made only of ``blank`` characters (not
    empty ones, which the reader skips without a word), up to 1,000: one pass,
    made only when the reader dropped such lines."""
    found: list[int] = []
    with (
        source.open() as raw,
        io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="") as fh,
    ):
        for number, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            if text and not text.strip(blank):
                found.append(number)
                if len(found) == 1000:
                    break
    return found


def _check_closing_quote(
    table: pa.Table, source: _Source, encoding: str, delimiter: str
) -> None:
    """Refuse a file that ends inside a quoted value (cut off, or a stray
    quote): the parser reads the rest of the file into the last cell.

    Only the last cell and the file's tail are read, so this costs nothing
    on a good file.
    """
    if table.num_rows == 0 or table.num_columns == 0:
        return
    last = table.column(table.num_columns - 1)[-1].as_py()
    if last is None:
        return
    ends_open = last.endswith(("\n", "\r"))
    if source.seekable:
        width = 4 * len(last) + 16
        with source.path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - width)
            if encoding.lower().replace("_", "-").startswith("utf-16"):
                start -= start % 2
            fh.seek(start)
            tail = fh.read().decode(encoding, errors="replace")
    elif ends_open:
        tail = _whole_text(source, encoding)
    else:
        return
    if not _opens_last_cell(tail, last, delimiter):
        return
    text = _whole_text(source, encoding)
    quote = len(text) - len(last) - 1
    line = len(_LINE_BREAK.findall(text, 0, max(quote, 0))) + 1
    raise FileFormatError(
        f"a quoted value that starts at line {line} is never closed, so the rest "
        f"of the file would be one cell: {text[quote : quote + 40]!r}",
        path=source.name,
        hint="The file may be cut off there; close the quote, or remove the "
        "stray quote character.",
    )


def _opens_last_cell(tail: str, last: str, delimiter: str) -> bool:
    """Does ``tail`` (the end of the file) end with ``"`` + ``last``, the quote
    opening the last field (after a delimiter or a line break)?"""
    if not tail.endswith(last):
        return False
    quote = len(tail) - len(last) - 1
    if quote < 0 or tail[quote] != '"':
        return False
    return quote == 0 or tail[quote - 1] in (delimiter, "\n", "\r", "\ufeff")


def _whole_text(source: _Source, encoding: str) -> str:
    with source.open() as fh:
        return fh.read().decode(encoding, errors="replace").removeprefix("\ufeff")


def _note_dropped(
    meta: dict[str, Any], reason: str, count: int, numbers: list[int], unit: str
) -> None:
    """Record rows left out while loading, with the reason, as a repair too."""
    meta.setdefault("dropped_rows", []).append(
        {"reason": reason, "count": count, unit: numbers[:1000]}
    )
    where = f": {unit} {format_rows(numbers)}" if numbers else ""
    noun = "row" if count == 1 else "rows"
    meta["repairs"].append(f"dropped {count} {noun} ({reason}){where}")


def _detect_encoding(head: bytes, source: _Source) -> tuple[str, bool, str | None]:
    """The file's encoding, whether it holds NUL bytes, and a note for the
    repairs when the encoding is a guess (no BOM, not UTF-8)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", False, None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", False, None
    nul = b"\x00" in head
    if nul:
        utf16 = _utf16_without_bom(head)
        if utf16:
            return (
                utf16,
                False,
                f"decoded the file as {utf16.upper()}, which it looks like though "
                "it has no byte-order mark",
            )
        if not _text_with_nuls(head):
            raise FileFormatError(
                "does not look like a text table (it holds binary data)",
                path=source.name,
                hint=_EXPORT_HINT,
            )
    # Decoding the whole file costs one pass over its bytes; it is the only way
    # to be sure a non-UTF-8 byte is not hiding past the sniffed head.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with source.open() as fh:
            for chunk in iter(lambda: fh.read(16 * 1024 * 1024), b""):
                decoder.decode(chunk)
                nul = nul or b"\x00" in chunk
            decoder.decode(b"", final=True)
        return "utf-8", nul, None
    except UnicodeDecodeError:
        pass
    except _DECOMPRESS_ERRORS as exc:
        raise _decompress_error(source, exc) from exc
    try:
        cp1252 = codecs.getincrementaldecoder("cp1252")()
        with source.open() as fh:
            for chunk in iter(lambda: fh.read(16 * 1024 * 1024), b""):
                cp1252.decode(chunk)
        encoding = "cp1252"
    except UnicodeDecodeError:
        encoding = "latin-1"
    return (
        encoding,
        nul,
        f"decoded the file as {encoding}, as it is not valid UTF-8; pass "
        "--encoding if accented letters look wrong",
    )


def guess_encoding(head: bytes, path: Path, name: str) -> str:
    """The encoding of the plain file ``path`` (see :func:`_detect_encoding`)."""
    return _detect_encoding(head, _Source(path, name))[0]


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when every other byte is NUL, as in mostly
    ASCII text in UTF-16, and the bytes decode as such."""
    n = len(head) - len(head) % 2
    if n < 4:
        return None
    even, odd = head[0:n:2], head[1:n:2]
    half = n // 2
    for zeros, other, encoding in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros.count(0) > 0.3 * half and other.count(0) < 0.02 * half:
            text = head[:n].decode(encoding, errors="replace")
            if text.count("\ufffd") <= 2:
                return encoding
    return None


def _text_with_nuls(head: bytes) -> bool:
    """UTF-8 text with a few stray NUL bytes (a damaged export), as opposed to
    binary data: without the NULs it decodes, and has few control characters."""
    stripped = head.replace(b"\x00", b"")
    if head.count(0) > 0.1 * len(head):
        return False
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(stripped)
    except UnicodeDecodeError:
        return False
    controls = len(_CONTROL.findall(text))
    return controls <= _CONTROL_SHARE * max(len(text), 1)


def _whitespace_table(lines: list[str]) -> bool:
    """Lines with none of ``,;\\t|``, split by spaces into the same number
    (two or more) of fields, mostly numbers below the first line: a table
    whose columns are separated by spaces, not one column of text."""
    if len(lines) < 2 or any(d in ln for ln in lines for d in _DELIMITERS):
        return False
    fields = [ln.split() for ln in lines]
    if len({len(f) for f in fields}) != 1 or len(fields[0]) < 2:
        return False
    cells = [c for f in fields[1:] for c in f]
    numbers = sum(bool(re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", c)) for c in cells)
    return numbers >= len(cells) / 2


def _fixed_width_table(lines: list[str]) -> bool:
    """Lines with none of ``,;\\t|`` that runs of spaces split unevenly (a
    value holds a space) but whose columns sit at the same character
    positions, one of them at least holding numbers below the first line."""
    if len(lines) < 3 or any(d in ln for ln in lines for d in _DELIMITERS):
        return False
    spans = fixed_width_spans(lines)
    if len(spans) < 2:
        return False
    cells = [_fixed_cells(ln, spans) for ln in lines[1:]]
    number = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
    return any(
        sum(bool(number.fullmatch(row[i])) for row in cells) >= 0.9 * len(cells)
        for i in range(len(spans))
    )


def sniff_delimiter(text: str) -> str:
    """The delimiter of the CSV text ``text`` (the file's first bytes), one of
    ``,;\\t|``, :data:`WHITESPACE` for columns split by runs of spaces, or
    :data:`FIXED_WIDTH` for columns at fixed positions whose values may hold
    spaces; a comma when nothing else fits."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # the sniffed head may end mid-line
    sample = "\n".join(lines)
    if _whitespace_table(lines):
        return WHITESPACE
    if _fixed_width_table(lines):
        return FIXED_WIDTH
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


# -- Parquet -----------------------------------------------------------------


def _read_parquet(path: Path, name: str) -> tuple[pq.ParquetFile, dict[str, Any]]:
    try:
        # pyarrow takes only UTF-8 paths; any other name is opened by Python
        text = str(path)
        parquet = pq.ParquetFile(
            text if printable(text) == text else pa.PythonFile(path.open("rb"))
        )
        parquet.schema_arrow  # noqa: B018 - fails early on a bad footer
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        # Arrow's text ("footer's (1701273954bytes)") is for --debug.
        raise FileFormatError(
            "is not a readable Parquet file: it is damaged, cut off, or not Parquet",
            path=name,
            hint="Write or download it again, or export the table as CSV.",
        ) from exc
    return parquet, {"source": name, "format": "parquet", "repairs": []}


# -- shared clean-up ---------------------------------------------------------


def clean_headers(columns: pd.Index, repairs: list[str]) -> list[str]:
    """Column names stripped of stray spaces, unnamed columns named, repeated
    names numbered; each change is appended to ``repairs``.

    Examples
    --------
    >>> repairs = []
    >>> clean_headers(pd.Index(["id", "Age", "Age", "Age_2", ""]), repairs)
    ['id', 'Age', 'Age_3', 'Age_2', 'column_5']
    """
    names = {" ".join(str(c).split()) for c in columns}
    cleaned: list[str] = []
    for col in columns:
        text = str(col)
        stripped = " ".join(text.split())
        if stripped != text:
            repairs.append(f"stripped spaces in column name {text!r}")
        if not stripped or stripped.startswith("Unnamed:"):
            stripped = f"column_{len(cleaned) + 1}"
            while stripped in names:
                stripped += "_"
            repairs.append(f"named an unnamed column '{stripped}'")
        cleaned.append(stripped)
    # A new name is never one the header already has (id,Age,Age,Age_2: the
    # second Age becomes Age_3, not a second Age_2 whose values would be lost).
    taken = set(cleaned)
    seen: dict[str, int] = {}
    result = []
    for col in cleaned:
        if col in seen:
            n = seen[col] + 1
            while f"{col}_{n}" in taken:
                n += 1
            seen[col] = n
            new = f"{col}_{n}"
            taken.add(new)
            repairs.append(f"renamed a second column '{col}' to '{new}'")
            result.append(new)
        else:
            seen[col] = 1
            result.append(col)
    return result


def _tidy_table(table: pa.Table, meta: dict[str, Any]) -> pa.Table:
    """Drop columns with neither a name nor a value (trailing delimiters), and
    rows that are entirely blank or repeat the header (files pasted together).

    The usual file costs one pass over its first column: the other columns
    are looked at only for the rows that column flags.
    """
    names = [str(n) for n in table.column_names]
    if not names:
        return table
    keep = [
        i for i, n in enumerate(names) if n.strip() or not _all_blank(table.column(i))
    ]
    if keep and len(keep) < len(names):
        gone = [i + 1 for i in range(len(names)) if i not in set(keep)]
        meta["repairs"].append(
            f"dropped {len(gone)} empty column{'s' if len(gone) > 1 else ''} with "
            f"no name (column{'s' if len(gone) > 1 else ''} {format_rows(gone)})"
        )
        table = table.select(keep)
        names = [names[i] for i in keep]
    if table.num_rows == 0:
        return table
    blank = _blank(table.column(0))
    repeat = pc.fill_null(pc.equal(table.column(0), names[0]), False)
    for i in range(1, len(names)):
        if not (pc.any(blank).as_py() or pc.any(repeat).as_py()):
            return table
        column = table.column(i)
        if pc.any(blank).as_py():
            blank = pc.and_(blank, _blank(column))
        if pc.any(repeat).as_py():
            same = (
                _blank(column)
                if not names[i].strip()
                else pc.fill_null(pc.equal(column, names[i]), False)
            )
            repeat = pc.and_(repeat, same)
    drop = pc.or_(blank, repeat)
    if not pc.any(drop).as_py():
        return table
    for mask, reason in ((blank, "every cell blank"), (repeat, "repeats the header")):
        rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False)) + 1
        if len(rows):
            _note_dropped(meta, reason, len(rows), rows.tolist(), "rows")
    return table.filter(pc.invert(drop))


def _blank(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Missing, empty or only white space."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return pc.is_null(column)
    return pc.fill_null(pc.or_(pc.equal(column, ""), pc.utf8_is_space(column)), True)


def _all_blank(column: pa.ChunkedArray) -> bool:
    return bool(pc.all(_blank(column)).as_py())


@dataclass
class _Typing:
    """What typing a text column needs to know about its file, and what it
    found (per column name, so that the report lists them in column order)."""

    na_values: frozenset[str] | None
    decimal_comma: bool = False
    nul: bool = False
    repairs: dict[str, list[str]] = field(default_factory=dict)
    mistyped: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Columns of values custseg does not segment on (lists, records, maps),
    # read as text: their Arrow type, by name.
    as_text: dict[str, str] = field(default_factory=dict)


def frame_from_arrow(
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
    repairs = meta.setdefault("repairs", [])
    names = clean_headers(pd.Index(raw_names), repairs)
    json_text: set[int] = set()
    if isinstance(table, pq.ParquetFile):
        parquet = table
        # One ParquetFile must not be read from two threads at once (it
        # deadlocked at a million rows): reads take turns, conversions overlap.
        lock = threading.Lock()

        def column(i: int) -> pa.ChunkedArray:
            with lock:
                return parquet.read(columns=[raw_names[i]]).column(0)

    else:
        # Documents a database driver handed over as JSON text (io._sql).
        json_text.update(
            i for i, f in enumerate(table.schema) if f.metadata == _JSON_FIELD
        )
        columns: list[pa.ChunkedArray | None] = list(table.columns)
        del table

        def column(i: int) -> pa.ChunkedArray:
            arr = columns[i]
            columns[i] = None  # the converted column replaces the Arrow one
            assert arr is not None
            return arr

    ctx = _Typing(
        na_values,
        # A decimal comma is possible only where the comma does not delimit.
        decimal_comma=meta.get("format") == "csv" and meta.get("delimiter") != ",",
        nul=bool(meta.get("nul_bytes")),
    )

    def convert(i: int) -> pd.Series:
        if i in json_text:
            return _nested_text(column(i), names[i], ctx, words="JSON documents")
        return _to_pandas(column(i), names[i], ctx)

    with ThreadPoolExecutor(max_workers=min(2, len(names))) as pool:
        converted = list(pool.map(convert, range(len(names))))
    meta["mistyped"] = {n: ctx.mistyped[n] for n in names if n in ctx.mistyped}
    if ctx.as_text:
        meta["as_text"] = {n: ctx.as_text[n] for n in names if n in ctx.as_text}
    for n in names:
        repairs.extend(ctx.repairs.get(n, ()))
    # PyArrow's allocator keeps freed blocks for reuse; hand them back now that
    # the Arrow copies are gone.
    pa.default_memory_pool().release_unused()
    # copy=False keeps each column's array as it is instead of consolidating
    # them into one 2-D block (a full extra copy of the table).
    frame = pd.DataFrame(dict(zip(names, converted, strict=True)), copy=False)
    if len(names) > _MAX_BLOCKS and frame.size <= _CONSOLIDATE_CELLS:
        # Hundreds of one-column blocks make every later column insert slow
        # (and pandas warns); a wide table is small enough to copy.
        frame = frame.copy()
    return frame


def _to_pandas(column: pa.ChunkedArray, name: str, ctx: _Typing) -> pd.Series:
    kind = column.type
    if isinstance(kind, pa.BaseExtensionType):
        # UUIDs (PostgreSQL's uuid, Arrow's arrow.uuid) and other extension
        # types: their text, typed like a CSV column (unique ones are ids).
        return _infer_text(
            pa.chunked_array([_uuid_text(column)], pa.string()), name, ctx
        )
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        return _nested_text(column, name, ctx, words="binary values")
    if pa.types.is_nested(kind):
        return _nested_text(column, name, ctx)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _infer_text(column, name, ctx)
    if pa.types.is_dictionary(kind) and (
        pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
    ):
        return pd.Series(column.to_pandas(), name=name).astype("category")
    if pa.types.is_uint64(kind):
        column = _unsigned(column, name, ctx)
        kind = column.type
    elif pa.types.is_float16(kind):  # pandas computes poorly in half floats
        column = pc.cast(column, pa.float32())
    if pa.types.is_integer(kind) and column.null_count == 0:
        return pd.Series(_compact_ints(column.to_numpy()), name=name)
    return pd.Series(column.to_pandas(), name=name)


def _unsigned(column: pa.ChunkedArray, name: str, ctx: _Typing) -> pa.ChunkedArray:
    """An unsigned 64-bit column as int64 when every value fits, else as
    float64 (said: digits beyond the 16th are lost)."""
    top = pc.max(column).as_py()
    if top is None or top < 2**63:
        return pc.cast(column, pa.int64())
    ctx.repairs.setdefault(name, []).append(
        f"read '{name}' as decimal numbers: its unsigned 64-bit integers go "
        f"beyond the largest signed one (up to {top}), and keep 16 digits"
    )
    return pc.cast(column, pa.float64(), safe=False)


def _uuid_text(column: pa.ChunkedArray) -> list[str | None]:
    """Values of 16 bytes as UUIDs (``8-4-4-4-12`` hex digits), others as
    their bytes in hex; an extension type by its storage."""
    storage = pa.chunked_array(
        [c.storage if isinstance(c, pa.ExtensionArray) else c for c in column.chunks],
        column.type.storage_type
        if isinstance(column.type, pa.BaseExtensionType)
        else column.type,
    )
    out: list[str | None] = []
    for value in storage.to_pylist():
        if value is None:
            out.append(None)
        elif isinstance(value, bytes):
            out.append(str(uuid.UUID(bytes=value)) if len(value) == 16 else value.hex())
        else:
            out.append(str(value))
    return out


def documents_as_json(values: Sequence[Any]) -> list[str | None]:
    """Documents (lists, records, maps) as JSON text, as the loader keeps
    them (bytes in hex); missing stays missing.

    Examples
    --------
    >>> documents_as_json([{"tier": 1}, None, [1, bytes([10])]])
    ['{"tier": 1}', None, '[1, "0a"]']
    """
    return [
        None if v is None else json.dumps(v, default=_json_value, ensure_ascii=False)
        for v in values
    ]


def _json_value(value: object) -> str:
    """What JSON cannot hold, as text: bytes in hex, dates and the rest by str."""
    return value.hex() if isinstance(value, bytes) else str(value)


def _nested_text(
    column: pa.ChunkedArray, name: str, ctx: _Typing, *, words: str | None = None
) -> pd.Series:
    """A column of lists, records or maps as JSON text (``words`` names them
    for a column that is JSON text already), kept in the output and left out
    of the features (the quality report says why)."""
    kind = column.type
    if pa.types.is_nested(kind):
        values = documents_as_json(column.to_pylist())
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = column.to_pylist()
    else:  # bytes, in hex
        values = [None if v is None else _json_value(v) for v in column.to_pylist()]
    shown = "as hex text" if words == "binary values" else "as JSON text"
    words = words or (
        "records"
        if pa.types.is_struct(column.type)
        else "maps"
        if pa.types.is_map(column.type)
        else "lists"
    )
    ctx.as_text[name] = words
    ctx.repairs.setdefault(name, []).append(
        f"column '{name}' holds {words}"
        + (f" ({column.type})" if pa.types.is_nested(column.type) else "")
        + f": read {shown}, kept in the output and left out of the features"
    )
    return pd.Series(values, name=name, dtype="object")


def _infer_text(column: pa.ChunkedArray, name: str, ctx: _Typing) -> pd.Series:
    """Turn a text column into numbers when every value is a number.

    Columns that are mostly numbers but hold a few other strings stay text and
    are listed in ``ctx.mistyped`` with the offending rows and values. Numbers
    with a leading zero (``0001``), in hexadecimal, or too long for a float
    stay text: they are codes. The common case, a clean numeric column, costs
    one vectorised cast; the trimming and missing-marker passes run only when
    that cast fails, and the passes that read numbers written for people
    (:func:`custseg.io._numbers.read_written_numbers`) only when the first
    values look like them.
    """
    n = len(column)
    if column.null_count == n:
        return pd.Series(np.full(n, np.nan), name=name)
    repairs: list[str] = []
    if ctx.nul:
        column = _strip_nuls(column, name, repairs)
    text = checked = column
    problem: dict[str, Any] | None = None
    numbers = parse_numbers(text)
    if numbers is None:
        text = checked = pc.utf8_trim_whitespace(column)
        if ctx.na_values:
            markers = pa.array(sorted(ctx.na_values), type=text.type)
            text = checked = pc.if_else(pc.is_in(text, value_set=markers), None, text)
        if text.null_count == n:
            ctx.repairs[name] = repairs
            return pd.Series(np.full(n, np.nan), name=name)
        numbers = parse_numbers(text)
        if numbers is None:
            written = read_written_numbers(text, name, ctx.decimal_comma)
            numbers, checked, problem = (
                written.numbers,
                written.checked,
                written.problem,
            )
            repairs.extend(written.repairs)
    if repairs:
        ctx.repairs[name] = repairs
    n_present = n - checked.null_count
    if numbers is not None:
        if _has_codes(checked) or (
            pa.types.is_floating(numbers.type) and _long_integers(checked)
        ):
            return as_string(text, name)
        if numbers.null_count == 0 and pa.types.is_floating(numbers.type):
            ints = _exact_int64(numbers)
            if ints is not None:
                numbers = ints
        values = numbers.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "i":
            values = _compact_ints(values)
        return pd.Series(values, name=name)
    if problem is not None:
        ctx.mistyped[name] = problem
        return as_string(text, name)
    pattern = NUMBERISH_COMMA if ctx.decimal_comma else NUMBERISH_POINT
    stray = stray_text(checked, pattern, (1 - NUMERIC_SHARE) * n_present)
    if stray is not None:
        ctx.mistyped[name] = stray
    return as_string(text, name)


def _strip_nuls(
    column: pa.ChunkedArray, name: str, repairs: list[str]
) -> pa.ChunkedArray:
    """Remove NUL characters (damage from a crashed writer or a bad copy)."""
    found = pc.fill_null(pc.match_substring(column, "\x00"), False)
    if not pc.any(found).as_py():
        return column
    rows = np.flatnonzero(found.to_numpy(zero_copy_only=False)) + 1
    repairs.append(
        f"removed NUL characters (zero bytes) from {len(rows)} value"
        f"{'s' if len(rows) > 1 else ''} in '{name}', rows {format_rows(rows.tolist())}"
    )
    return pc.replace_substring(column, "\x00", "")


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
    return bool(pc.any(pc.match_substring_regex(candidates, CODE_PATTERN)).as_py())


def _long_integers(text: pa.ChunkedArray) -> bool:
    """A column of integers, some too long for int64 (so parsed as floats,
    losing digits): identifiers, to keep as text. The lengths come from the
    string offsets, so the usual float column costs almost nothing."""
    longest = pc.max(pc.binary_length(text)).as_py()
    if not longest or longest < _LONG_INTEGER_DIGITS:
        return False
    return bool(pc.all(pc.match_substring_regex(text, r"^[+-]?\d+$")).as_py())


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


def as_string(text: pa.ChunkedArray, name: str) -> pd.Series:
    """An Arrow text column as a pandas string column named ``name``."""
    return pd.Series(
        text.to_pandas(types_mapper={text.type: pd.StringDtype()}.get), name=name
    )
