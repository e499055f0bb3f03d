"""Open a CSV or Parquet source as a Spark DataFrame, sniffed like the local loader.

Columns are renamed to positional keys (``c0``, ``c1``, ...) straight away, so
that no later step has to quote a column name that holds dots, backticks or
another column's name in a different case; the cleaned names travel alongside.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd

from custseg.errors import EmptyDataError, FileFormatError, InputError, ParameterError
from custseg.io import (
    CSV_SUFFIXES,
    EXCEL_SUFFIXES,
    NA_VALUES,
    PARQUET_SUFFIXES,
    SNIFF_BYTES,
    TEXT_LAYOUTS,
    WHITESPACE,
    check_delimiter,
    clean_headers,
    guess_encoding,
    sniff_delimiter,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkSource", "key", "read_source"]

# Python codec names (what the sniffer returns) to Java charset names.
_JAVA_CHARSETS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "cp1252": "windows-1252",
    "latin-1": "ISO-8859-1",
}


def key(i: int) -> str:
    """Internal name of the ``i``-th input column."""
    return f"c{i}"


@dataclass
class SparkSource:
    """A table opened by Spark.

    ``df`` has one column per input column, named by :func:`key`, as read:
    text for CSV, typed for Parquet (decimals as doubles). ``names`` are the
    cleaned column names, in the same order. ``na_values`` are the markers
    read as missing in text columns (CSV only, as for the local loader).
    """

    df: DataFrame
    names: list[str]
    meta: dict[str, Any]
    na_values: frozenset[str] = field(default_factory=frozenset)

    @property
    def source(self) -> str:
        """The path or URI as the user gave it."""
        return str(self.meta["source"])

    @property
    def keys(self) -> list[str]:
        """Internal column names, in input order."""
        return [key(i) for i in range(len(self.names))]


def read_source(
    spark: SparkSession,
    data: str | os.PathLike[str],
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    na_values: Sequence[str] = (),
) -> SparkSource:
    """Open ``data`` (a local path, or a URI such as ``hdfs://`` or ``s3a://``).

    A CSV file's encoding and delimiter are sniffed from its head exactly as the
    local loader does (:mod:`custseg.io`). A local folder is read as a Spark
    output folder of Parquet (or CSV) part files. Excel is refused: the local
    engine reads it.

    Raises
    ------
    InputError, EmptyDataError, FileFormatError, EncodingError
    """
    name = os.fspath(data)
    remote = "://" in name and not name.startswith("file:")
    path: Path | None = None
    if not remote:
        path = Path(name.removeprefix("file://"))
        if not path.exists():
            raise InputError("no such file", path=name)
        if path.is_file() and path.stat().st_size == 0:
            raise EmptyDataError("the file is empty", path=name)
    fmt, sniff_file = _format_of(name, path)
    # Hadoop paths are not URIs: spaces stay as they are (no %20).
    location = name if path is None else "file://" + str(path.resolve())
    if fmt == "parquet":
        return _read_parquet(spark, name, location)
    return _read_csv(
        spark, name, location, sniff_file, delimiter, encoding, list(na_values)
    )


def _format_of(name: str, path: Path | None) -> tuple[str, Path | None]:
    """``("csv" | "parquet", file to sniff)`` from the suffix, or from the
    part files of a local folder."""
    if path is not None and path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.stat().st_size)
        for suffixes, fmt in ((PARQUET_SUFFIXES, "parquet"), (CSV_SUFFIXES, "csv")):
            found = [p for p in files if p.suffix.lower() in suffixes]
            if found:
                return fmt, found[0]
        raise FileFormatError(
            "is a folder with no .parquet or .csv files in it",
            path=name,
            hint="Point at a CSV or Parquet file, or at a folder of them.",
        )
    pure = PurePosixPath(name.rstrip("/"))
    suffix = pure.suffix.lower()
    if suffix == ".gz" and PurePosixPath(pure.stem).suffix.lower() in CSV_SUFFIXES:
        return "csv", path  # Spark reads gzip CSV as it is (one task per file)
    if suffix in PARQUET_SUFFIXES:
        return "parquet", path
    if suffix in CSV_SUFFIXES or suffix == "":
        return "csv", path
    if suffix in EXCEL_SUFFIXES:
        raise FileFormatError(
            "the Spark engine reads CSV and Parquet, not Excel",
            path=name,
            hint="Use --engine local for Excel files, or save the sheet as CSV.",
        )
    raise FileFormatError(
        f"files ending in '{suffix}' are not supported",
        path=name,
        hint="Use a .csv, .tsv, .txt or .parquet file (or a folder of them).",
    )


def _read_parquet(spark: SparkSession, name: str, location: str) -> SparkSource:
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    try:
        df = spark.read.parquet(location)
    except AnalysisException as exc:
        raise _read_error(exc, name, "Parquet") from exc
    if not df.columns:
        raise EmptyDataError("no columns found", path=name)
    repairs: list[str] = []
    names = clean_headers(pd.Index(df.columns), repairs)
    # Decimals (money amounts) are numbers to cluster on: as doubles.
    cols = [
        (
            F.col(f"`{f.name}`").cast("double")
            if isinstance(f.dataType, DecimalType)
            else F.col(f"`{f.name}`")
        ).alias(key(i))
        for i, f in enumerate(df.schema.fields)
    ]
    return SparkSource(
        df.select(*cols),
        names,
        {"source": name, "format": "parquet", "repairs": repairs},
    )


def _read_csv(
    spark: SparkSession,
    name: str,
    location: str,
    sniff_file: Path | None,
    delimiter: str | None,
    encoding: str | None,
    na_values: list[str],
) -> SparkSource:
    from pyspark.errors import AnalysisException
    from pyspark.sql.types import StringType, StructField, StructType

    if sniff_file is not None:
        gzipped = sniff_file.suffix.lower() == ".gz"
        with (gzip.open if gzipped else open)(sniff_file, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if not head.strip():
            raise EmptyDataError("the file has no text, only blank space", path=name)
        if gzipped and encoding is None:  # the head only: no pass over the file
            try:
                codecs.getincrementaldecoder("utf-8")().decode(head)
                encoding = "utf-8"
            except UnicodeDecodeError:
                encoding = "latin-1"
        encoding = encoding or guess_encoding(head, sniff_file, name)
        try:
            text = head.decode(encoding, errors="replace")
        except LookupError as exc:
            raise InputError(
                f"unknown encoding {encoding!r}",
                path=name,
                hint="Try --encoding utf-8.",
            ) from exc
    else:  # a remote file: its first lines, through Spark (read as UTF-8)
        try:
            lines = spark.read.text(location).limit(50).collect()
        except AnalysisException as exc:
            raise _read_error(exc, name, "CSV") from exc
        text = "\n".join(str(r[0]) for r in lines) + "\n"
        encoding = encoding or "utf-8"
    text = text.removeprefix("\ufeff")
    delimiter = check_delimiter(delimiter) or sniff_delimiter(text)
    if delimiter in TEXT_LAYOUTS:
        layout = (
            "split by runs of spaces"
            if delimiter == WHITESPACE
            else "at fixed positions"
        )
        raise ParameterError(
            f"{name}: its columns are {layout}, which the Spark engine does not "
            "read; use the local engine (leave out --engine spark), or convert "
            "the file to CSV"
        )
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    if not header:
        raise EmptyDataError("the file has no header and no rows", path=name)
    repairs: list[str] = []
    names = clean_headers(pd.Index(header), repairs)
    charset = _JAVA_CHARSETS.get(encoding.lower(), codecs.lookup(encoding).name)
    schema = StructType([StructField(key(i), StringType()) for i in range(len(names))])
    reader = (
        spark.read.schema(schema)
        .option("header", True)
        .option("enforceSchema", True)
        .option("sep", delimiter)
        .option("encoding", charset)
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "FAILFAST")
        # Spark reads UTF-16 only whole-file; other encodings line by line, so
        # big files split across tasks (values with line breaks need UTF-16).
        .option("multiLine", charset == "UTF-16")
    )
    try:
        df = reader.csv(location)
    except AnalysisException as exc:
        raise _read_error(exc, name, "CSV") from exc
    meta = {
        "source": name,
        "format": "csv",
        "encoding": encoding,
        "delimiter": delimiter,
        "repairs": repairs,
    }
    return SparkSource(df, names, meta, NA_VALUES | frozenset(na_values))


def _read_error(exc: Exception, name: str, what: str) -> InputError:
    text = str(exc)
    if "PATH_NOT_FOUND" in text or "does not exist" in text:
        return InputError("no such file", path=name)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return FileFormatError(f"is not a readable {what} source ({first})", path=name)
