"""Transaction log -> one row per customer, in DuckDB.

The log is never loaded into a pandas frame: DuckDB scans the file (CSV, gzip
CSV or Parquet; Excel and DataFrames are handed to it in memory), types and
checks every line, and aggregates in two streaming group-bys, lines to orders
and orders to customers. Memory holds the orders being aggregated, not the
lines. Every line read ends up counted exactly once: used, or dropped for the
first reason that applies in :data:`DROP_REASONS`.

The cleaning rules
------------------
1. A line without a date, or whose date does not parse, is dropped.
2. With an as-of date, lines dated on or after it are dropped (they are in the
   future as seen from the snapshot).
3. A line without a customer id is dropped.
4. A line whose quantity, price or amount is missing or not a number is dropped.
5. A line with quantity 0 (or amount 0) is dropped.
6. A line with a unit price of zero or below is dropped (free samples,
   "Adjust bad debt" entries).
7. A line identical, in every column, to another line is a duplicate only when
   the log identifies its lines (a line id, or an invoice with a product
   code): one copy is used and the others are dropped. Without that, two
   identical lines are two purchases (the same thing bought twice on one
   day): they are counted and kept (``drop_duplicates=True`` drops them).
8. A cancellation is a line whose invoice number is "C" followed by a digit
   (UCI's convention) or whose quantity or amount is negative (a return). By
   default (``cancellations="net"``) its value counts against the customer's
   monetary value as a negative amount, and it is neither an order nor a
   purchase date. With ``cancellations="exclude"`` it is dropped.
9. A customer left with no purchase, only cancellations, is dropped with all
   their lines: recency and frequency have no meaning for them.

No customer is lost: a customer id whose every line was dropped is listed in
:attr:`CustomerTable.unscored` with the reason, and the pipeline writes it to
segments.csv without a segment.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import datetime as dt
import gzip
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from custseg.errors import (
    BackendUnavailableError,
    ColumnTypeError,
    CustsegWarning,
    EmptyDataError,
    EncodingError,
    FileFormatError,
    InputError,
    ParameterError,
)
from custseg.io import DatabaseSource
from custseg.transactions._columns import TransactionColumns, find_columns

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "DROP_REASONS",
    "PRICE_DISCOUNT",
    "TOP_CATEGORIES",
    "UNSCORED_REASONS",
    "Cleaning",
    "CustomerTable",
    "Preferences",
    "aggregate_transactions",
    "check_rules",
    "cleaning_from_groups",
    "customer_frame",
    "detect_date_format",
    "identical_rule",
    "preference_rule",
    "snapshot_date",
    "with_preferences",
]

# Why a line was not used, in the order the rules are applied.
DROP_REASONS: dict[str, str] = {
    "missing_date": "missing or unparseable date",
    "after_as_of": "dated on or after the as-of date",
    "missing_customer": "no customer id",
    "missing_value": "missing or non-numeric quantity, price or amount",
    "zero_quantity": "quantity (or amount) of zero",
    "bad_price": "unit price of zero or below",
    "duplicate": "exact duplicate of another line",
    "cancellation": "cancellation or return (cancellations='exclude')",
    "no_purchase": "customer has only cancellations or returns, no purchase",
}
# Why a customer in the log has no RFM values, by the reason that dropped most
# of their lines (segments.csv's unassigned_reason).
UNSCORED_REASONS: dict[str, str] = {
    "missing_date": "no usable purchase: no line with a date",
    "after_as_of": "no usable purchase: every line is on or after the as-of date",
    "missing_customer": "no usable purchase",
    "missing_value": "no usable purchase: no line with a numeric quantity, price "
    "or amount",
    "zero_quantity": "no usable purchase: every line has a quantity or amount of zero",
    "bad_price": "no usable purchase: every line has a unit price of zero or below",
    "duplicate": "no usable purchase",
    "cancellation": "no usable purchase: only cancellations or returns (excluded)",
    "no_purchase": "no usable purchase: only cancellations or returns",
}
CANCELLATION_RULES = ("net", "exclude")
# A unit price this far below its product's median price is a discount.
PRICE_DISCOUNT = 0.05
# Category shares kept per customer; the rest of their spend is "other".
TOP_CATEGORIES = 8
# DuckDB's memory limit: the aggregation spills to disk past it, so memory stays
# bounded however long the log (see benchmarks/rfm.py).
MEMORY_LIMIT = "512MB"

_CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".tab", ".dat"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
# Date formats tried on text dates, in this order; the one that parses the most
# of a sample wins (so 13/01/2011 settles day-first against month-first).
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
    "%d-%m-%Y",
    "%Y%m%d",
)
_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)


def _lines(n: int, what: str = "line") -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Cleaning:
    """What happened to every transaction line.

    ``lines == used + sum(dropped.values())`` always holds.
    """

    source: str
    lines: int
    used: int
    dropped: dict[str, int]
    netted: int
    cancellations: str
    customers: int
    orders: int
    net_revenue: float | None  # None: the log has no money column
    snapshot: dt.date
    first_date: dt.date | None
    last_date: dt.date | None
    columns: TransactionColumns
    date_format: str | None
    file_info: dict[str, Any] = field(default_factory=dict)
    # identical lines found (None: not looked for) and what was done with them
    identical_lines: int | None = 0
    identical_rule: str = "drop"
    unscored_customers: int = 0  # customer ids with no usable purchase
    unscored_reasons: dict[str, int] = field(default_factory=dict)
    # customers with purchases dated far from the rest of the log, and the
    # sentence that says so (None when the dates look plausible)
    far_dates: int = 0
    dates_note: str | None = None

    @property
    def identical_note(self) -> str | None:
        """The sentence on identical lines counted and kept as purchases
        (None when none were kept)."""
        if self.identical_rule != "keep" or not self.identical_lines:
            return None
        why = (
            "no invoice column"
            if self.columns.invoice is None
            else "no product or line id column"
        )
        return (
            f"{_lines(self.identical_lines, 'identical line')} kept: {why} to tell "
            "repeats from errors; --drop-identical-lines to drop them."
        )

    def drop_reasons(self) -> dict[str, str]:
        """Each key of ``dropped`` with its reason in words (:data:`DROP_REASONS`),
        so that a report need not import this module."""
        return {key: DROP_REASONS[key] for key in self.dropped}

    def messages(self) -> list[str]:
        """One plain sentence per reason with a non-zero count, for reports."""
        out = [self.columns.money_note] if self.columns.money_note else []
        for key, n in self.dropped.items():
            if n:
                out.append(f"{_lines(n)} dropped: {DROP_REASONS[key]}.")
        if self.identical_note:
            out.append(self.identical_note)
        if self.dates_note:
            out.append(self.dates_note)
        if self.netted:
            out.append(
                f"{_lines(self.netted, 'cancellation or return line')} netted against "
                "the customer's purchases (their value counts as negative)."
            )
        if self.unscored_customers:
            n = self.unscored_customers
            out.append(
                f"{n:,} customer{'s' if n != 1 else ''} with no usable purchase "
                "kept in segments.csv without a segment, with the reason."
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "lines": self.lines,
            "used": self.used,
            "dropped": dict(self.dropped),
            "dropped_reasons": self.drop_reasons(),
            "netted_cancellation_lines": self.netted,
            "customers_with_far_dates": self.far_dates,
            "cancellations": self.cancellations,
            "customers": self.customers,
            "orders": self.orders,
            "net_revenue": None
            if self.net_revenue is None
            else round(self.net_revenue, 2),
            "has_money": self.columns.has_money,
            "snapshot": self.snapshot.isoformat(),
            "first_date": self.first_date.isoformat() if self.first_date else None,
            "last_date": self.last_date.isoformat() if self.last_date else None,
            "columns": self.columns.to_dict(),
            "date_format": self.date_format,
            "file": self.file_info,
            "identical_lines": self.identical_lines,
            "identical_lines_rule": self.identical_rule,
            "unscored_customers": self.unscored_customers,
            "unscored_reasons": dict(self.unscored_reasons),
        }


@dataclass(frozen=True)
class CustomerTable:
    """The per-customer features and the cleaning record behind them;
    ``unscored`` lists the customer ids of the log with no usable purchase
    (id, reason, lines)."""

    customers: pd.DataFrame
    cleaning: Cleaning
    unscored: pd.DataFrame = field(default_factory=pd.DataFrame)
    # the preference share columns and the category (or product) each is for
    preference_labels: dict[str, str] = field(default_factory=dict)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect(
    threads: int | None, memory_limit: str | None
) -> duckdb.DuckDBPyConnection:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
        raise BackendUnavailableError(
            "RFM needs the duckdb package: pip install duckdb"
        ) from exc
    con = duckdb.connect(config={"preserve_insertion_order": False})
    # In a Jupyter kernel DuckDB refuses to touch the setting unless
    # ipywidgets is installed; there it is off already.
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_literal(memory_limit)}")
    return con


def _open_head(path: Path) -> bytes:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            return bytes(fh.read(64 * 1024))
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"cannot be read ({exc})", path=str(path)) from exc


def _sniff_csv(
    path: Path, name: str, delimiter: str | None, encoding: str | None
) -> tuple[str, str]:
    """(DuckDB encoding, delimiter) for a CSV file, from its first 64 KB."""
    from custseg.io import sniff_delimiter

    head = _open_head(path)
    if not head.strip():
        raise EmptyDataError("the file has no text, only blank space", path=name)
    if encoding is None:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        elif b"\x00" in head:
            raise FileFormatError(
                "does not look like a text table (it holds binary data)",
                path=name,
                hint="Export the transactions as CSV, Excel (.xlsx) or Parquet.",
            )
        else:
            try:  # the head only: DuckDB checks the rest as it reads
                codecs.getincrementaldecoder("utf-8")().decode(head)
                encoding = "utf-8"
            except UnicodeDecodeError:
                encoding = "latin-1"
    norm = encoding.lower().replace("_", "-")
    duck = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8"}.get(norm)
    if duck is None and norm in {"utf-16", "utf16", "utf-16-le", "utf-16le"}:
        duck = "utf-16"
    if duck is None and norm in {"latin-1", "latin1", "iso-8859-1", "cp1252"}:
        duck = "latin-1"
    if duck is None:
        raise EncodingError(
            f"encoding {encoding!r} is not supported for transaction logs",
            path=name,
            hint="Use UTF-8, UTF-16 or Latin-1 (--encoding latin-1).",
        )
    py = "utf-16" if duck == "utf-16" else duck
    text = head.decode(py, errors="replace").lstrip("\ufeff")
    return duck, delimiter or sniff_delimiter(text)


def _register_source(
    con: duckdb.DuckDBPyConnection,
    data: str | os.PathLike[str] | pd.DataFrame | DatabaseSource,
    *,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | int | None,
    na_values: Sequence[str],
    header: bool = True,
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Make the view ``tx`` over the transaction source; return its file info."""
    import duckdb

    from custseg.io import (
        NA_VALUES,
        TEXT_LAYOUTS,
        check_delimiter,
        check_file,
        read_arrow,
        read_table,
    )

    if isinstance(data, pd.DataFrame):
        con.register("tx_frame", data)
        con.execute("CREATE VIEW tx AS SELECT * FROM tx_frame")
        return {"source": "<DataFrame>", "format": "dataframe"}
    if isinstance(data, DatabaseSource):
        # Streamed into Arrow, which DuckDB scans in place (no pandas copy).
        con.register("tx_frame", read_arrow(data))
        con.execute("CREATE VIEW tx AS SELECT * FROM tx_frame")
        return {"source": str(data), "format": "database"}
    path = Path(data)
    name = str(data)
    check_file(path, name)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    base = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) == 2 else None
    suffix = path.suffix.lower()
    if suffix in _EXCEL_SUFFIXES:
        # Workbooks hold at most about a million lines: load them as run does.
        frame = read_table(path, sheet=sheet, na_values=na_values).frame
        con.register("tx_frame", frame)
        con.execute("CREATE VIEW tx AS SELECT * FROM tx_frame")
        return {"source": name, "format": "excel"}
    if suffix in _PARQUET_SUFFIXES:
        sql = f"CREATE VIEW tx AS SELECT * FROM read_parquet({_literal(str(path))})"
        info: dict[str, Any] = {"source": name, "format": "parquet"}
    elif suffix in _CSV_SUFFIXES or suffix == "" or base in _CSV_SUFFIXES:
        delimiter = check_delimiter(delimiter)
        duck_encoding, delim = _sniff_csv(path, name, delimiter, encoding)
        if delim in TEXT_LAYOUTS or not header or names is not None:
            # Columns split by runs of spaces or at fixed positions (DuckDB
            # splits on one character)
            # or named on the command line: read as custseg run reads them.
            loaded = read_table(
                path,
                delimiter=delim,
                encoding=encoding,
                na_values=na_values,
                header=header,
                names=names,
            )
            con.register("tx_frame", loaded.frame)
            con.execute("CREATE VIEW tx AS SELECT * FROM tx_frame")
            return {**loaded.notes, "repairs": list(loaded.notes["repairs"])}
        nulls = sorted(NA_VALUES | set(na_values) | {""})
        sql = (
            "CREATE VIEW tx AS SELECT * FROM read_csv("
            f"{_literal(str(path))}, header = true, all_varchar = true, "
            f"delim = {_literal(delim)}, quote = '\"', escape = '\"', "
            f"encoding = {_literal(duck_encoding)}, "
            f"nullstr = [{', '.join(_literal(v) for v in nulls)}])"
        )
        info = {
            "source": name,
            "format": "csv",
            "encoding": duck_encoding,
            "delimiter": delim,
            "compression": "gzip" if suffix == ".gz" else None,
        }
    else:
        raise FileFormatError(
            f"files ending in '{suffix}' are not supported",
            path=name,
            hint="Use a .csv (optionally .csv.gz), .xlsx or .parquet file.",
        )
    try:
        con.execute(sql)
        con.execute("SELECT * FROM tx LIMIT 1").fetchall()
    except duckdb.Error as exc:
        raise _read_error(exc, name) from exc
    return info


def _read_error(exc: Exception, name: str) -> InputError:
    text = str(exc).split("\n")[0]
    if "unicode" in text.lower() or "encoding" in text.lower():
        return EncodingError(
            f"cannot be decoded ({text})",
            path=name,
            hint="Pass --encoding (e.g. --encoding latin-1).",
        )
    return FileFormatError(f"cannot be read as a transaction table ({text})", path=name)


def _describe(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute("DESCRIBE SELECT * FROM tx").fetchall()
    return {str(r[0]): str(r[1]).upper() for r in rows}


def _is_numeric(duck_type: str) -> bool:
    return duck_type.split("(")[0] in _NUMERIC_TYPES


def _number(
    con: duckdb.DuckDBPyConnection, col: str, duck_type: str, decimal_comma: bool
) -> str:
    """SQL for a money or quantity column as a number. Text is read as the
    loader reads it (custseg.io.number_style, decided on the first thousand
    values): a currency symbol, thousands separators (``$1,234.56``), a
    decimal comma (``1.234,56 €``, only in a file not delimited by commas);
    a value written otherwise is read as a plain number, else it is not one
    (and its line is dropped and counted)."""
    from custseg.io import NA_VALUES, number_style

    q = _quote(col)
    if _is_numeric(duck_type):
        return f"CAST({q} AS DOUBLE)"
    text = f"trim(CAST({q} AS VARCHAR))"
    sample = [
        str(row[0])
        for row in con.execute(
            f"SELECT {text} FROM tx WHERE {q} IS NOT NULL AND {text} <> '' LIMIT 1000"
        ).fetchall()
    ]
    sample = [v for v in sample if v not in NA_VALUES]  # missing, as Spark reads it
    style = number_style(sample, decimal_comma) if sample else None
    # Otherwise a currency sign and spaces around a plain number are allowed.
    plain = rf"TRY_CAST(regexp_replace({text}, '^[£$€¥]\s*|\s+', '', 'g') AS DOUBLE)"
    if style is None:
        return plain
    digits = f"regexp_replace({text}, {_literal(style.remove)}, '', 'g')"
    if style.decimal == ",":
        digits = f"replace({digits}, ',', '.')"
    return (
        f"CASE WHEN regexp_full_match({text}, {_literal(style.pattern)}) "
        f"THEN TRY_CAST({digits} AS DOUBLE) ELSE {plain} END"
    )


def _customer(col: str, duck_type: str) -> str:
    q = _quote(col)
    base = duck_type.split("(")[0]
    if base in ("FLOAT", "DOUBLE", "DECIMAL"):
        # 17850.0 (a pandas export of an integer id with missing values) is 17850.
        return (
            f"CASE WHEN {q} = trunc({q}) AND abs({q}) < 9e15 "
            f"THEN CAST(CAST({q} AS BIGINT) AS VARCHAR) ELSE CAST({q} AS VARCHAR) END"
        )
    if _is_numeric(duck_type):
        return q  # integer ids group fastest as they are
    return (
        f"NULLIF(regexp_replace(trim(CAST({q} AS VARCHAR)), "
        r"'^([0-9]+)\.0+$', '\1'), '')"
    )


def _date_expr(
    con: duckdb.DuckDBPyConnection, col: str, duck_type: str, fmt: str | None, name: str
) -> tuple[str, str | None]:
    """SQL for the line's timestamp, and the text format used (None if typed)."""
    q = _quote(col)
    if duck_type.startswith(("TIMESTAMP", "DATE")):
        return f"CAST({q} AS TIMESTAMP)", None
    if _is_numeric(duck_type):
        # Dates written as numbers (19970101, the CDNOW file): read as text
        # with --date-format, or as YYYYMMDD when every value is one.
        low, high = con.execute(f"SELECT min({q}), max({q}) FROM tx").fetchone() or (
            None,
            None,
        )
        whole = fmt is not None or (
            low is not None and low >= 18_000_101 and high <= 21_001_231
        )
        if not whole:
            raise ColumnTypeError(
                f"holds numbers ({duck_type}), not dates",
                path=name,
                column=col,
                hint="Name the date column with --date-column, or give the "
                "format of dates written as numbers with --date-format.",
            )
        fmt = fmt or "%Y%m%d"
        text = f"lpad(CAST(CAST({q} AS BIGINT) AS VARCHAR), 8, '0')"  # 01021997
        return f"try_strptime({text}, {_literal(fmt)})", fmt
    text = f"trim(CAST({q} AS VARCHAR))"
    if not fmt:
        sample = [
            r[0]
            for r in con.execute(
                f"SELECT {text} FROM tx WHERE {q} IS NOT NULL LIMIT 5000"
            ).fetchall()
        ]
        if not sample:
            return "CAST(NULL AS TIMESTAMP)", None
        fmt = detect_date_format(sample, name, col)
    return f"try_strptime({text}, {_literal(fmt)})", fmt


def detect_date_format(sample: Sequence[str], name: str, column: str) -> str:
    """The strptime format in :data:`_DATE_FORMATS` that parses the most of
    ``sample`` (text dates); an error naming the column if none parses any."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("date_sample", pd.DataFrame({"d": list(sample)}))
        counts = [
            con.execute(
                f"SELECT count(try_strptime(d, {_literal(f)})) FROM date_sample"
            ).fetchall()[0][0]
            for f in _DATE_FORMATS
        ]
    finally:
        con.close()
    best = int(np.argmax(counts))
    if counts[best] == 0:
        raise ColumnTypeError(
            f"has no value that reads as a date (e.g. {sample[0]!r})",
            path=name,
            column=column,
            hint="Pass --date-format (e.g. --date-format '%d/%m/%Y %H:%M').",
        )
    return _DATE_FORMATS[best]


def check_rules(cancellations: str, as_of: str | dt.date | None) -> dt.date | None:
    """Validate the cleaning options; return the as-of date, if any."""
    if cancellations not in CANCELLATION_RULES:
        raise ParameterError(
            f"cancellations must be 'net' or 'exclude'; got {cancellations!r}"
        )
    if as_of is None or isinstance(as_of, dt.date):
        return as_of
    try:
        return dt.date.fromisoformat(str(as_of))
    except ValueError as exc:
        raise ParameterError(
            f"as_of must be a date like 2011-12-10; got {as_of!r}"
        ) from exc


def snapshot_date(
    lines: int, max_ts: dt.datetime | None, as_of: dt.date | None, name: str
) -> dt.date:
    """The as-of date, or the day after the last dated line."""
    if lines == 0:
        raise EmptyDataError("has a header but no transaction lines", path=name)
    if as_of is not None:
        return as_of
    if max_ts is not None:
        return max_ts.date() + dt.timedelta(days=1)
    return dt.date.today()  # no line has a date: every line is dropped anyway


def log_columns(
    data: str | os.PathLike[str] | pd.DataFrame | DatabaseSource,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
) -> list[str]:
    """The column names of a transaction log, read as
    :func:`aggregate_transactions` reads it (for a person to map roles to
    columns before the aggregation runs).

    Examples
    --------
    >>> log = pd.DataFrame({"CustomerID": [1], "InvoiceDate": ["2024-01-02"],
    ...                     "Amount": [9.5]})
    >>> log_columns(log)
    ['CustomerID', 'InvoiceDate', 'Amount']
    """
    con = _connect(1, MEMORY_LIMIT)
    try:
        _register_source(
            con, data, delimiter=delimiter, encoding=encoding, sheet=sheet, na_values=()
        )
        return list(_describe(con))
    finally:
        con.close()


def aggregate_transactions(
    data: str | os.PathLike[str] | pd.DataFrame | DatabaseSource,
    *,
    columns: Mapping[str, str | None] | None = None,
    as_of: str | dt.date | None = None,
    cancellations: str = "net",
    drop_duplicates: bool | None = None,
    date_format: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    na_values: Sequence[str] = (),
    header: bool = True,
    names: Sequence[str] | None = None,
    categories: str | os.PathLike[str] | pd.DataFrame | None = None,
    products_top: int | None = None,
    top_categories: int = TOP_CATEGORIES,
    distinct_products: bool = False,
    price_discounts: bool = False,
    threads: int | None = None,
    memory_limit: str | None = MEMORY_LIMIT,
) -> CustomerTable:
    """Clean a transaction log and aggregate it to one row per customer.

    Parameters
    ----------
    data : path, DataFrame or DatabaseSource
        CSV (also ``.csv.gz``), Parquet or Excel transaction lines, or a
        database table or query.
    columns : mapping of role to column name, optional
        Overrides for the roles ``customer``, ``invoice``, ``date``,
        ``quantity``, ``price`` and ``amount`` (see :func:`find_columns`).
    as_of : date or ISO string, optional
        Snapshot date recency is measured from; lines dated on or after it are
        dropped. Default: the day after the last dated line.
    cancellations : {"net", "exclude"}, default "net"
        What to do with cancellation and return lines (see the module notes).
    date_format : str, optional
        strptime format of text dates. Default: detected from a sample.
    drop_duplicates : bool or None, default None
        Lines identical in every column to another line (rule 7): None drops
        the copies when the log identifies its lines (a line id, or an invoice
        and a product code) and otherwise counts and keeps them; True drops
        them always; False does not look for them (faster, for logs known to
        hold none).
    delimiter, encoding, sheet, na_values, header, names
        How to read a file, as for :func:`custseg.read_table`: a log split
        by runs of spaces (``delimiter="whitespace"``, or sniffed), or one
        without a header line (``header=False``, with ``names``), is read by
        that reader and then aggregated.
    categories : path or DataFrame, optional
        A product -> category table (the product code column, named like the
        log's product column or first, and a category column) for logs
        without a category column.
    products_top : int, optional
        Without categories, each customer's share of spend on the N
        best-selling products (``share_product_<code>`` columns).
    top_categories : int, default 8
        Category shares kept; the rest of the spend is ``share_other``.
    distinct_products : bool, default False
        Count each customer's distinct products (with a product column). It
        keeps a hash per line until its customer is complete: about 40% more
        time at 10 million lines (docs/scale.md), so only when asked.
    price_discounts : bool, default False
        Without a discount column, with product and unit price columns: a
        line whose unit price is more than 5% below its product's median
        price counts as discounted (``discount_share``). A second pass over
        the lines, so only when asked.
    threads : int, optional
        DuckDB threads (default: one per core).
    memory_limit : str, default "512MB"
        DuckDB's memory limit; past it, aggregation spills to a temporary folder.

    Returns
    -------
    CustomerTable
        ``customers`` has one row per customer, sorted by id: the id column
        (under its own name), ``recency_days``, ``frequency``, ``monetary``,
        ``tenure_days``, ``avg_order_value``, ``purchase_interval_days``, the
        behaviour measures the log allows (``items_per_order``,
        ``interval_cv``, ``trend_90d``, ``return_rate``, ``discount_share``,
        ``weekend_share``, ``distinct_products``, ``favourite_weekday``,
        ``favourite_hour``; docs/rfm.md), ``first_purchase`` and
        ``last_purchase``. ``unscored`` lists the customers with no usable
        purchase.
    """
    import duckdb

    snapshot_given = check_rules(cancellations, as_of)
    con = _connect(threads, memory_limit)
    try:
        info = _register_source(
            con,
            data,
            delimiter=delimiter,
            encoding=encoding,
            sheet=sheet,
            na_values=na_values,
            header=header,
            names=names,
        )
        name = info["source"]
        types = _describe(con)
        cols = find_columns(list(types), columns, source=name)
        wanted = preference_rule(cols, categories, products_top, top_categories)
        try:
            return _aggregate(
                con,
                cols,
                types,
                info,
                snapshot_given,
                cancellations,
                drop_duplicates,
                date_format,
                wanted,
                distinct_products=distinct_products,
                price_discounts=price_discounts,
            )
        except duckdb.Error as exc:
            raise _read_error(exc, name) from exc
    finally:
        con.close()


def _discount_flag(col: str, duck_type: str) -> str:
    """SQL: whether a line is discounted, from a discount amount, rate or
    yes/no column (any positive number, or yes/true/y/1)."""
    q = _quote(col)
    if duck_type == "BOOLEAN":
        return f"coalesce({q}, false)"
    if _is_numeric(duck_type):
        return f"coalesce(CAST({q} AS DOUBLE) > 0, false)"
    text = f"lower(trim(CAST({q} AS VARCHAR)))"
    return (
        f"coalesce({text} IN ('y', 'yes', 'true', 't') OR TRY_CAST("
        rf"regexp_replace({text}, '^[£$€¥]\s*|\s+|%$', '', 'g') AS DOUBLE) > 0, false)"
    )


def _aggregate(
    con: duckdb.DuckDBPyConnection,
    cols: TransactionColumns,
    types: dict[str, str],
    info: dict[str, Any],
    snapshot_given: dt.date | None,
    cancellations: str,
    drop_duplicates: bool | None,
    date_format: str | None,
    preferences: Preferences | None = None,
    *,
    distinct_products: bool = False,
    price_discounts: bool = False,
) -> CustomerTable:
    name = info["source"]
    count_products = distinct_products and cols.product is not None
    ts, fmt = _date_expr(con, cols.date, types[cols.date], date_format, name)
    for role in ("quantity", "price", "amount"):
        col = getattr(cols, role)
        if col is not None and types[col] in ("DATE", "TIMESTAMP", "BOOLEAN"):
            raise ColumnTypeError(
                f"is the {role} column but holds {types[col]} values",
                path=name,
                column=col,
            )
    rule = identical_rule(cols, drop_duplicates)
    customer = _customer(cols.customer, types[cols.customer])
    # A decimal comma is possible only where the comma does not delimit.
    comma = info.get("format") == "csv" and info.get("delimiter") not in (",", None)
    if cols.amount is not None:
        value = _number(con, cols.amount, types[cols.amount], comma)
        qty = value
        price = "1.0"
        items = "NULL::DOUBLE"
    elif cols.price is not None:
        assert cols.quantity is not None
        qty = _number(con, cols.quantity, types[cols.quantity], comma)
        price = _number(con, cols.price, types[cols.price], comma)
        value = f"({qty}) * ({price})"
        items = "abs(q)"
    else:
        # No money: a line is worth its quantity (a negative one is a return),
        # or one; the customer table then has no monetary value.
        qty = (
            _number(con, cols.quantity, types[cols.quantity], comma)
            if cols.quantity is not None
            else "1.0"
        )
        price = "1.0"
        value = qty
        items = "abs(q)" if cols.quantity is not None else "NULL::DOUBLE"
    if cols.invoice is not None:
        invoice = f"trim(CAST({_quote(cols.invoice)} AS VARCHAR))"
        # The regular expression only runs on the few numbers starting with C.
        cancel_invoice = (
            "CASE WHEN left(inv, 1) IN ('C', 'c') "
            "THEN regexp_matches(inv, '^[Cc][0-9]') ELSE false END"
        )
    else:  # without order numbers, each purchase day is an order
        invoice = "strftime(ts, '%Y-%m-%d')"
        cancel_invoice = "false"
    product = (
        f"NULLIF(trim(CAST({_quote(cols.product)} AS VARCHAR)), '')"
        if cols.product is not None
        else "NULL::VARCHAR"
    )
    category = (
        f"NULLIF(trim(CAST({_quote(cols.category)} AS VARCHAR)), '')"
        if cols.category is not None
        else "NULL::VARCHAR"
    )
    discount = (
        _discount_flag(cols.discount, types[cols.discount])
        if cols.discount is not None
        else "false"
    )
    # Without a discount column, a line is discounted when its unit price is
    # more than 5% below its product's median price over the purchase lines:
    # a second pass over the lines, made only when asked for.
    by_price = (
        price_discounts
        and cols.discount is None
        and cols.product is not None
        and cols.price is not None
    )
    price_discount = (
        f""",
    reference AS (
        SELECT prod, median(p) AS usual FROM signed
        WHERE reason IS NULL AND NOT cx AND prod IS NOT NULL GROUP BY prod),
    lines AS (
        SELECT s.c, s.inv, s.ts, s.h, s.cx, s.prod, s.cat, s.p, s.v, s.it,
               CASE WHEN s.p < {1 - PRICE_DISCOUNT} * r.usual THEN s.v END AS dv,
               s.reason
        FROM signed s LEFT JOIN reference r ON s.prod = r.prod)"""
        if by_price
        else ""
    )
    check = rule != "unchecked"
    line_hash = "hash(" + ", ".join(_quote(c) for c in types) + ")" if check else "0"

    # Without an as-of date no line can be after the snapshot (the day after
    # the last date), so the rule needs the snapshot only when it is given; the
    # default snapshot and the line count come out of the same single scan.
    exclude = cancellations == "exclude"
    code = {key: i for i, key in enumerate(DROP_REASONS, start=1)}
    after = (
        f"WHEN ts >= TIMESTAMP {_literal(snapshot_given.isoformat())} "
        f"THEN {code['after_as_of']}"
        if snapshot_given is not None
        else ""
    )
    # Reasons travel as small integer codes: grouping on them is cheaper.
    reason = f"""CASE
        WHEN ts IS NULL THEN {code["missing_date"]}
        {after}
        WHEN c IS NULL THEN {code["missing_customer"]}
        WHEN q IS NULL OR p IS NULL OR v IS NULL THEN {code["missing_value"]}
        WHEN q = 0 THEN {code["zero_quantity"]}
        WHEN p <= 0 THEN {code["bad_price"]}
        {f"WHEN cx THEN {code['cancellation']}" if exclude else ""}
        END::TINYINT"""
    # Lines -> (customer, order, kind, reason) groups. Identical lines are
    # found within each group by the hash of every column: list_unique counts
    # the distinct hashes of the lines being used. Only groups holding an
    # identical pair pay for summing their distinct lines, and only when they
    # are dropped; exact, and memory holds a few bytes per line while the
    # groups are aggregated (DuckDB spills them past memory_limit).
    # Only the sums the log has are carried (items need a quantity column,
    # discounted spend a discount column).
    sums = {"amount": "v"}
    if cols.quantity is not None:
        sums["items"] = "it"
    if cols.discount is not None or by_price:
        sums["disc"] = "dv"
    if rule == "drop":
        # One list of (hash, values) per group: identical lines have identical
        # values, so the distinct entries are the distinct lines.
        fields = ", ".join(f"{x} := {x}" for x in ("h", *sums.values()))
        dedup_aggs = (
            f"list(struct_pack({fields})) FILTER (WHERE reason IS NULL) AS rows, "
            "CASE WHEN reason IS NULL THEN count(*) - list_unique(rows) "
            "ELSE 0 END AS dups, "
        )
        pick = {
            key: (
                f"CASE WHEN dups = 0 THEN s_{x} ELSE list_sum(list_transform("
                f"list_distinct(rows), lambda z: z.{x})) END"
            )
            for key, x in sums.items()
        }
        dropped_copies = "dups"
    else:
        dedup_aggs = (
            "CASE WHEN reason IS NULL THEN count(*) - list_unique(list(h)) "
            "ELSE 0 END AS dups, "
            if check
            else "0 AS dups, "
        )
        pick = {key: f"s_{x}" for key, x in sums.items()}
        dropped_copies = "0"
    pick.setdefault("items", "NULL::DOUBLE")
    pick.setdefault("disc", "NULL::DECIMAL(38, 4)")
    # Distinct products: each order's distinct product hashes, merged per
    # customer (8 bytes per line, not the product text).
    prods = (
        "list(hash(prod)) FILTER (WHERE reason IS NULL AND prod IS NOT NULL)"
        if count_products
        else "NULL::UBIGINT[]"
    )
    snap = (
        f"TIMESTAMP {_literal(snapshot_given.isoformat())}"
        if snapshot_given is not None
        else "(CAST(max(last_ts) OVER () AS DATE) + 1)::TIMESTAMP"
    )
    purchase = "reason IS NULL AND NOT cx"
    # Money is exact: each line's value is a DECIMAL(18, 4) (exact for prices
    # with up to four decimals), and sums of decimals do not drift. One scan
    # of the log: lines -> orders -> customers, the behaviour measures riding
    # along (docs/rfm.md has each formula).
    lines_sql = f"""
    WITH typed AS (
        SELECT {customer} AS c, {ts} AS ts, {qty} AS q, {price} AS p,
               TRY_CAST({value} AS DECIMAL(18, 4)) AS v,
               {line_hash} AS h,
               {invoice if cols.invoice else "NULL"} AS inv,
               {product} AS prod, {discount} AS disc, {category} AS cat
        FROM tx),
    flagged AS (
        SELECT c, ts, v, h, q, p, prod, disc, cat,
               {"inv" if cols.invoice else invoice} AS inv,
               ({cancel_invoice} OR v < 0) AS cx
        FROM typed),
    {"signed" if by_price else "lines"} AS (
        SELECT c, inv, ts, h, cx, prod, cat, p,
               CASE WHEN cx THEN -abs(v) ELSE v END AS v,
               {items} AS it,
               CASE WHEN disc THEN CASE WHEN cx THEN -abs(v) ELSE v END END AS dv,
               {reason} AS reason
        FROM flagged){price_discount}"""
    sql = (
        lines_sql
        + f""",
    groups AS (
        SELECT c, inv, cx, reason, count(*) AS n, {dedup_aggs}
               sum(v) AS s_v, sum(it) AS s_it, sum(dv) AS s_dv,
               {prods} AS prods,
               min(ts) AS first_ts, max(ts) AS last_ts
        FROM lines GROUP BY c, inv, cx, reason),
    orders AS MATERIALIZED (
        SELECT c, cx, reason, n, dups, first_ts, last_ts, prods,
               {pick["amount"]} AS amount, {pick["items"]} AS items,
               {pick["disc"]} AS disc,
               {snap} AS snap,
               CASE WHEN {purchase} THEN date_diff('day',
                   CAST(lag(first_ts) OVER (PARTITION BY c, cx, reason
                        ORDER BY first_ts) AS DATE),
                   CAST(first_ts AS DATE)) END AS gap
        FROM groups),
    weekdays AS (
        SELECT c, arg_max(d, n * 8 - d) AS fav_dow FROM (
            SELECT c, isodow(first_ts) AS d, count(*) AS n FROM orders
            WHERE {purchase} GROUP BY ALL) GROUP BY c),
    hours AS (
        SELECT c, arg_max(hr, n * 32 - hr) AS fav_hour FROM (
            SELECT c, hour(first_ts) AS hr, count(*) AS n FROM orders
            WHERE {purchase} GROUP BY ALL) GROUP BY c),
    customers AS (
        SELECT c AS customer, reason,
           sum(n)::BIGINT AS lines, sum(dups)::BIGINT AS dups,
           sum({dropped_copies})::BIGINT AS dropped_copies,
           (count(*) FILTER (WHERE NOT cx))::BIGINT AS frequency,
           (sum(n - {dropped_copies}) FILTER (WHERE cx))::BIGINT AS netted,
           min(first_ts) FILTER (WHERE NOT cx) AS first_ts,
           max(last_ts) FILTER (WHERE NOT cx) AS last_ts,
           max(last_ts) AS any_ts,
           sum(amount) AS monetary,
           sum(amount) FILTER (WHERE NOT cx) AS gross,
           -sum(amount) FILTER (WHERE cx) AS returned,
           sum(items) FILTER (WHERE NOT cx) AS items,
           sum(disc) FILTER (WHERE NOT cx) AS discounted,
           (count(*) FILTER (WHERE NOT cx
                AND first_ts >= snap - INTERVAL 90 DAY))::BIGINT AS recent_orders,
           avg(gap) AS gap_mean, stddev_pop(gap) AS gap_sd,
           count(gap)::BIGINT AS gaps,
           (count(*) FILTER (WHERE NOT cx AND isodow(first_ts) >= 6))::BIGINT
               AS weekend_orders,
           {
            "list_unique(flatten(list(prods) FILTER (WHERE NOT cx)))"
            if count_products
            else "NULL"
        }::BIGINT AS products,
           max(CAST(first_ts AS TIME) > TIME '00:00:00'
               OR CAST(last_ts AS TIME) > TIME '00:00:00') AS has_time
        FROM orders GROUP BY c, reason)
    SELECT customers.*, weekdays.fav_dow, hours.fav_hour
    FROM customers
    LEFT JOIN weekdays ON customers.reason IS NULL AND weekdays.c = customers.customer
    LEFT JOIN hours ON customers.reason IS NULL AND hours.c = customers.customer
    """
    )
    result = con.execute(sql).df()
    table = cleaning_from_groups(
        result,
        snapshot_given=snapshot_given,
        cancellations=cancellations,
        identical=rule,
        discounts=cols.discount is not None or by_price,
        columns=cols,
        date_format=fmt,
        info=info,
        name=name,
    )
    if preferences is None:
        return table
    # The spend per customer and category: a second scan of the log, made
    # only when the log has categories (or products are asked for).
    distinct = (
        "DISTINCT c, inv, h, v, prod, cat" if rule == "drop" else "c, v, prod, cat"
    )
    join = ""
    if preferences.kind == "product":
        key = "prod"
    elif preferences.categories is not None:
        con.register("cat_map", preferences.categories)
        join = "LEFT JOIN cat_map m ON l.prod = m.product"
        key = "m.category"
    else:
        key = "cat"
    spend = con.execute(
        lines_sql
        + f"""
        SELECT l.c AS customer, {key} AS key, sum(l.v)::DOUBLE AS spend
        FROM (SELECT {distinct} FROM lines WHERE reason IS NULL AND NOT cx) l
        {join} GROUP BY ALL"""
    ).df()
    return with_preferences(table, spend, preferences)


def preference_rule(
    cols: TransactionColumns,
    categories: str | os.PathLike[str] | pd.DataFrame | None,
    products_top: int | None,
    top_categories: int = 8,
) -> Preferences | None:
    """What spend is split by, if anything: the log's category column, a
    product -> category table, or the ``products_top`` best sellers."""
    if products_top is not None and products_top < 1:
        raise ParameterError(f"products_top must be 1 or more; got {products_top}")
    if top_categories < 1:
        raise ParameterError(f"top_categories must be 1 or more; got {top_categories}")
    if categories is not None:
        if cols.product is None:
            raise ParameterError(
                "a product -> category table needs the log's product column "
                "(name it with --product-column)"
            )
        return Preferences("category", top_categories, _category_map(categories, cols))
    if cols.category is not None:
        return Preferences("category", top_categories)
    if products_top is not None:
        if cols.product is None:
            raise ParameterError(
                "products_top needs a product column (name it with --product-column)"
            )
        return Preferences("product", products_top)
    return None


def _category_map(
    categories: str | os.PathLike[str] | pd.DataFrame, cols: TransactionColumns
) -> pd.DataFrame:
    """The product -> category table as two text columns, product and
    category: the product column named like the log's (else the first), the
    category column found by name (else the other one)."""
    from custseg.io import read_table
    from custseg.transactions._columns import guess_columns

    if isinstance(categories, pd.DataFrame):
        table, source = categories, "<categories>"
    else:
        loaded = read_table(categories)
        table, source = loaded.frame, loaded.source
    names = [str(c) for c in table.columns]
    if len(names) < 2:
        raise InputError(
            "a product -> category table needs two columns (product, category); "
            f"it has {', '.join(names) or 'none'}",
            path=source,
        )
    product = cols.product if cols.product in names else names[0]
    guess = guess_columns([n for n in names if n != product])
    category = guess["category"] or next(n for n in names if n != product)
    keys = table[product].astype("string").str.strip()
    repeated = keys.duplicated(keep=False) & keys.notna()
    if repeated.any():
        rows = (np.flatnonzero(repeated.to_numpy()) + 2).tolist()
        raise InputError(
            f"product {keys[repeated].iloc[0]!r} has more than one category",
            path=source,
            column=product,
            rows=rows,
        )
    return pd.DataFrame(
        {
            "product": keys.astype(object).to_numpy(),
            "category": table[category].astype("string").str.strip().astype(object),
        }
    ).dropna(subset=["product"])


@dataclass(frozen=True)
class Preferences:
    """What customers' spend is split by: ``kind`` is ``"category"`` (a
    category column, or ``categories``, a product -> category table) or
    ``"product"`` (the ``top`` best-selling products); ``top`` shares are
    kept, the rest go to ``other``."""

    kind: str
    top: int
    categories: pd.DataFrame | None = None


def _slug(text: str) -> str:
    return re.sub(r"\W+", "_", text.strip().lower()).strip("_") or "blank"


def with_preferences(
    table: CustomerTable, spend: pd.DataFrame, preferences: Preferences
) -> CustomerTable:
    """``table`` with each customer's share of purchase spend per category
    (or product): one ``share_<name>`` column per top category, ``share_other``
    for the rest, and for categories ``n_categories`` (categories bought) and
    ``top_category`` (the one with the most spend; ties to the first name).
    ``spend`` has one row per customer and key: customer, key, spend."""
    customers = table.customers
    id_name = table.cleaning.columns.customer
    unknown = "uncategorised" if preferences.categories is not None else "unknown"
    keys = spend["key"].astype(object).where(spend["key"].notna(), unknown).astype(str)
    spend = spend.assign(key=keys, customer=_id_text(spend["customer"]))
    spend = spend[spend["spend"] > 0]
    totals = spend.groupby("key")["spend"].sum()
    ranked = sorted(totals.index, key=lambda k: (-totals[k], k))
    top = ranked[: preferences.top]
    shown = spend["key"].where(spend["key"].isin(top), "other")
    wide = spend.assign(key=shown).pivot_table(
        index="customer", columns="key", values="spend", aggfunc="sum", fill_value=0.0
    )
    order = [*top, *(["other"] if len(ranked) > len(top) else [])]
    wide = wide.reindex(columns=order, fill_value=0.0)
    ids = _id_text(customers[id_name])
    wide = wide.reindex(ids.to_numpy(), fill_value=0.0)
    total = wide.sum(axis=1).to_numpy()
    labels: dict[str, str] = {}
    out = customers.copy()
    prefix = "share_" if preferences.kind == "category" else "share_product_"
    for key in order:
        col = prefix + _slug(key)
        while col in out.columns:
            col += "_"
        labels[col] = key
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total > 0, wide[key].to_numpy() / total, 0.0)
        out[col] = np.round(share, 4)
    if preferences.kind == "category":
        per = spend.groupby("customer")
        out["n_categories"] = (
            per["key"].nunique().reindex(ids.to_numpy(), fill_value=0).to_numpy()
        )
        best = spend.sort_values(
            ["customer", "spend", "key"], ascending=[True, False, True]
        )
        first = best.drop_duplicates("customer").set_index("customer")["key"]
        out["top_category"] = first.reindex(ids.to_numpy()).to_numpy()
    return dataclasses.replace(table, customers=out, preference_labels=labels)


def _id_text(ids: pd.Series) -> pd.Series:
    """Customer ids as text, the way :func:`customer_frame` reads them."""
    if pd.api.types.is_float_dtype(ids):
        ids = ids.astype("Int64")
    return ids.astype(str).reset_index(drop=True)


def identical_rule(cols: TransactionColumns, drop_duplicates: bool | None) -> str:
    """What happens to identical lines: ``"drop"`` (one copy kept: the log
    identifies lines, or dropping was asked for), ``"keep"`` (counted and kept:
    without an invoice and a product or line id, two identical lines are two
    purchases) or ``"unchecked"`` (``drop_duplicates=False``: not looked for)."""
    if drop_duplicates is None:
        return "drop" if cols.identifies_lines else "keep"
    return "drop" if drop_duplicates else "unchecked"


def _unscored(
    dropped_rows: pd.DataFrame, no_purchase: pd.DataFrame, kept_ids: pd.Index
) -> pd.DataFrame:
    """One row per customer id seen in the log but left with no usable
    purchase: the id, the reason (the one that dropped most of their lines)
    and their line count."""
    keys = list(DROP_REASONS)
    rows = dropped_rows[dropped_rows["customer"].notna()]
    rows = rows[~rows["customer"].isin(kept_ids)]
    parts = [
        pd.DataFrame(
            {
                "customer": rows["customer"].to_numpy(),
                "why": [keys[int(r) - 1] for r in rows["reason"]],
                "lines": rows["lines"].to_numpy(dtype=np.int64),
            }
        ),
        pd.DataFrame(
            {
                "customer": no_purchase["customer"].to_numpy(),
                "why": "no_purchase",
                "lines": (no_purchase["lines"] - no_purchase["dropped_copies"])
                .to_numpy(dtype=np.int64)
                .astype(np.int64),
            }
        ),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({"customer": [], "reason": [], "lines": []})
    both = pd.concat(parts, ignore_index=True)
    # The reason covering most of the customer's lines; ties go to the rule
    # applied first.
    both["order"] = both["why"].map({k: i for i, k in enumerate(keys)})
    both = both.sort_values(
        ["customer", "lines", "order"], ascending=[True, False, True]
    )
    total = both.groupby("customer", sort=False)["lines"].transform("sum")
    first = both.assign(total=total).drop_duplicates("customer")
    return pd.DataFrame(
        {
            "customer": first["customer"].to_numpy(),
            "reason": [UNSCORED_REASONS[w] for w in first["why"]],
            "lines": first["total"].to_numpy(dtype=np.int64),
        }
    )


def cleaning_from_groups(
    result: pd.DataFrame,
    *,
    snapshot_given: dt.date | None,
    cancellations: str,
    identical: str,
    columns: TransactionColumns,
    date_format: str | None,
    info: dict[str, Any],
    name: str,
    discounts: bool | None = None,
) -> CustomerTable:
    """The customer table and cleaning record from the final aggregation, which
    has one row per (customer, reason code): a null reason for the customer's
    used lines, and a row per drop reason (customer null for lines with no
    id). Columns: customer, reason, lines, dups (identical copies found),
    dropped_copies (those dropped), frequency, netted, first_ts, last_ts,
    any_ts (the last date of any line), monetary, and the behaviour sums that
    :func:`customer_frame` turns into features. ``identical`` is
    :func:`identical_rule`'s answer. Shared by the DuckDB and Spark engines."""
    lines = int(result["lines"].sum())
    any_ts = result["any_ts"].max()
    snapshot = snapshot_date(
        lines, None if pd.isna(any_ts) else pd.Timestamp(any_ts), snapshot_given, name
    )
    exclude = cancellations == "exclude"
    dropped_rows = result[result["reason"].notna()]
    dropped = dict.fromkeys(DROP_REASONS, 0)
    keys = list(DROP_REASONS)
    for reason_code, n in zip(
        dropped_rows["reason"], dropped_rows["lines"], strict=True
    ):
        dropped[keys[int(reason_code) - 1]] += int(n)
    per_customer = result[result["reason"].isna()]
    dropped["duplicate"] = int(per_customer["dropped_copies"].sum())
    found_identical = int(per_customer["dups"].sum())
    no_purchase = per_customer["frequency"] == 0
    dropped["no_purchase"] = int(
        (per_customer["lines"] - per_customer["dropped_copies"])[no_purchase].sum()
    )
    if not exclude:
        dropped.pop("cancellation")
    if identical != "drop":
        dropped.pop("duplicate")
    if snapshot_given is None:
        dropped.pop("after_as_of")
    # Rules on values the log does not have cannot drop anything.
    if columns.price is None:
        dropped.pop("bad_price")
    if not columns.value_columns:
        dropped.pop("missing_value")
        dropped.pop("zero_quantity")
    kept = per_customer[~no_purchase]
    netted = int(kept["netted"].fillna(0).sum())
    customers = customer_frame(
        kept,
        columns,
        snapshot,
        cancellations,
        discounts=columns.discount is not None if discounts is None else discounts,
    )
    unscored = _unscored(
        dropped_rows, per_customer[no_purchase], pd.Index(kept["customer"])
    )
    unscored = unscored.rename(columns={"customer": columns.customer})
    if len(unscored):
        unscored[columns.customer] = _typed_ids(
            unscored[columns.customer], customers[columns.customer]
        )
        unscored = unscored.sort_values(columns.customer, kind="stable")
    used = lines - sum(dropped.values())
    cleaning = Cleaning(
        source=name,
        lines=lines,
        used=used,
        dropped=dropped,
        netted=netted,
        cancellations=cancellations,
        customers=len(customers),
        orders=int(customers["frequency"].sum()),
        net_revenue=float(kept["monetary"].sum()) if columns.has_money else None,
        snapshot=snapshot,
        first_date=customers["first_purchase"].min().date() if len(customers) else None,
        last_date=customers["last_purchase"].max().date() if len(customers) else None,
        columns=columns,
        date_format=date_format,
        file_info=info,
        identical_lines=found_identical if identical != "unchecked" else None,
        identical_rule=identical,
        unscored_customers=len(unscored),
        unscored_reasons={
            str(k): int(v) for k, v in unscored["reason"].value_counts().items()
        }
        if len(unscored)
        else {},
    )
    if columns.money_note:
        warnings.warn(f"{name}: {columns.money_note}", CustsegWarning, stacklevel=3)
    far, note = _far_dates(customers, snapshot, snapshot_given)
    if note:
        cleaning = replace(cleaning, far_dates=far, dates_note=note)
        warnings.warn(f"{name}: {note}", CustsegWarning, stacklevel=3)
    if not len(customers):
        raise EmptyDataError(
            "no transaction line is usable: "
            + "; ".join(cleaning.messages() or ["no lines"]),
            path=name,
        )
    return CustomerTable(customers, cleaning, unscored.reset_index(drop=True))


# Customers needed to tell the bulk of a log's dates from stray ones.
_FAR_DATES_MIN_CUSTOMERS = 20


def _far_dates(
    customers: pd.DataFrame, snapshot: dt.date, as_of: dt.date | None
) -> tuple[int, str | None]:
    """Customers whose purchases lie far outside the bulk of the log (a year
    1900 or 2099 typed by mistake, a future date): later than today, later
    than the bulk's end by its own span (a year at least), or earlier than
    its start by three spans; with the sentence that says what it does to
    recency and what to do."""
    if len(customers) < _FAR_DATES_MIN_CUSTOMERS:
        return 0, None
    first, last = customers["first_purchase"], customers["last_purchase"]
    start = pd.Timestamp(cast(Any, first.quantile(0.01)))  # a date's quantile
    end = pd.Timestamp(cast(Any, last.quantile(0.99)))
    span = max(pd.Timedelta(end - start), pd.Timedelta(days=365))
    today = pd.Timestamp(dt.date.today()) + pd.Timedelta(days=1)
    if as_of is None:
        late = (last > end + span) | (last > today)
    else:  # lines after --as-of are dropped already
        late = pd.Series(False, index=last.index)
    early = first < start - 3 * span
    far = late | early
    if not far.any():
        return 0, None
    n = int(far.sum())
    parts = []
    if late.any():
        parts.append(f"latest {last[late].max().date().isoformat()}")
    if early.any():
        parts.append(f"earliest {first[early].min().date().isoformat()}")
    bulk = f"{start.date().isoformat()} to {end.date().isoformat()}"
    sentence = (
        f"{n:,} customer{'s have' if n != 1 else ' has'} purchases dated far "
        f"from the rest of the log ({bulk}): {', '.join(parts)}."
    )
    if late.any():
        sentence += (
            f" The snapshot, the day after the latest date, is "
            f"{snapshot.isoformat()}, so every recency counts from then: pass "
            f"--as-of {(end + pd.Timedelta(days=1)).date().isoformat()} to "
            "measure from the end of the log, or correct those dates."
        )
    else:
        sentence += " Their tenure counts from then: correct those dates."
    return n, sentence


def _typed_ids(ids: pd.Series, like: pd.Series) -> Any:
    """Unscored customers' ids as the scored ones are typed (integers when
    those are, else text)."""
    text = ids.astype(str).to_numpy()
    if pd.api.types.is_integer_dtype(like):
        as_int = pd.to_numeric(pd.Series(text), errors="coerce")
        if as_int.notna().all():
            return as_int.astype(np.int64).to_numpy()
    return text


_WEEKDAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


def customer_frame(
    kept: pd.DataFrame,
    columns: TransactionColumns,
    snapshot: dt.date,
    cancellations: str = "net",
    *,
    discounts: bool = False,
) -> pd.DataFrame:
    """Per-customer features from the aggregated rows (one per customer);
    docs/rfm.md gives each formula. A behaviour column is present only where
    the log allows it (items with a quantity column, discount share with a
    discount column, distinct products with a product column, the favourite
    hour where dates carry times, return rate when returns are netted)."""
    id_name = columns.customer
    raw = kept["customer"]
    if pd.api.types.is_float_dtype(raw):  # integer ids that met a NULL on the way
        raw = raw.astype("Int64")
    ids = raw.astype(str)
    # Ids that are all plain integers go back to integers (sorted numerically).
    as_int = pd.to_numeric(ids, errors="coerce")
    integral = as_int.notna().all() and bool(
        ids.str.fullmatch(r"-?[1-9][0-9]{0,17}|0").all()
    )
    snap = pd.Timestamp(snapshot)
    # Whole seconds: purchase times are never finer in a transaction log.
    first = pd.to_datetime(kept["first_ts"]).to_numpy().astype("datetime64[s]")
    last = pd.to_datetime(kept["last_ts"]).to_numpy().astype("datetime64[s]")
    first_day = first.astype("datetime64[D]")
    last_day = last.astype("datetime64[D]")
    snap_day = np.datetime64(snap.date(), "D")
    frequency = kept["frequency"].to_numpy(dtype=np.int64)
    monetary = kept["monetary"].to_numpy(dtype=np.float64)
    span = (last_day - first_day).astype(np.int64)
    tenure = (snap_day - first_day).astype(np.int64)

    def ratio(top: Any, bottom: Any, where: Any = True) -> np.ndarray:
        top = np.asarray(top, dtype=np.float64)
        bottom = np.asarray(bottom, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(where & (bottom != 0), top / bottom, np.nan)

    gross = kept["gross"].to_numpy(dtype=np.float64)
    columns_in_order: dict[str, Any] = {
        id_name: as_int.astype(np.int64).to_numpy() if integral else ids.to_numpy(),
        "recency_days": (snap_day - last_day).astype(np.int64),
        "frequency": frequency,
        "monetary": monetary,
        "tenure_days": tenure,
        "avg_order_value": np.round(monetary / frequency, 2),
        "purchase_interval_days": np.round(
            ratio(span, frequency - 1, frequency > 1), 1
        ),
    }
    if not columns.has_money:  # the sums counted lines or items, not money
        del columns_in_order["monetary"], columns_in_order["avg_order_value"]
    frame = pd.DataFrame(columns_in_order)
    if columns.quantity is not None:
        frame["items_per_order"] = np.round(ratio(kept["items"], frequency), 2)
    gaps = kept["gaps"].to_numpy(dtype=np.int64)
    frame["interval_cv"] = np.round(
        ratio(kept["gap_sd"], kept["gap_mean"], gaps >= 2), 3
    )
    # The customer's order rate in the last 90 days against their own rate
    # over their whole history (at least 90 days): 1 steady, 0 stopped.
    recent_rate = kept["recent_orders"].to_numpy(dtype=np.float64) / 90
    lifetime_rate = frequency / np.maximum(tenure, 90)
    frame["trend_90d"] = np.round(recent_rate / lifetime_rate, 3)
    # A return needs a value to be negative or an invoice to be a
    # cancellation: a log of customer and date alone has none.
    returnable = bool(columns.value_columns) or columns.invoice is not None
    if cancellations == "net" and returnable:
        returned = kept["returned"].fillna(0).to_numpy(dtype=np.float64)
        frame["return_rate"] = np.round(np.nan_to_num(ratio(returned, gross)), 4)
    if discounts:
        discounted = kept["discounted"].fillna(0).to_numpy(dtype=np.float64)
        frame["discount_share"] = np.round(np.nan_to_num(ratio(discounted, gross)), 4)
    frame["weekend_share"] = np.round(
        kept["weekend_orders"].to_numpy(dtype=np.float64) / frequency, 4
    )
    if columns.product is not None and kept["products"].notna().any():
        frame["distinct_products"] = kept["products"].to_numpy(dtype=np.int64)
    dow = kept["fav_dow"].to_numpy(dtype=np.int64)
    frame["favourite_weekday"] = pd.Categorical.from_codes(
        (dow - 1).astype(np.int64), categories=pd.Index(_WEEKDAYS)
    )
    if bool(kept["has_time"].fillna(False).any()):
        frame["favourite_hour"] = kept["fav_hour"].to_numpy(dtype=np.int64)
    frame["first_purchase"] = first
    frame["last_purchase"] = last
    return frame.sort_values(id_name, kind="stable").reset_index(drop=True)
