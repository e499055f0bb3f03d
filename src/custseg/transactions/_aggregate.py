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
7. A line identical, in every column, to another line is a duplicate: one copy
   is used and the others are dropped.
8. A cancellation is a line whose invoice number is "C" followed by a digit
   (UCI's convention) or whose quantity or amount is negative (a return). By
   default (``cancellations="net"``) its value counts against the customer's
   monetary value as a negative amount, and it is neither an order nor a
   purchase date. With ``cancellations="exclude"`` it is dropped.
9. A customer left with no purchase, only cancellations, is dropped with all
   their lines: recency and frequency have no meaning for them.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import gzip
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custseg.errors import (
    BackendUnavailableError,
    ColumnTypeError,
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
    "Cleaning",
    "CustomerTable",
    "aggregate_transactions",
    "check_rules",
    "cleaning_from_groups",
    "customer_frame",
    "detect_date_format",
    "snapshot_date",
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
CANCELLATION_RULES = ("net", "exclude")
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
    net_revenue: float
    snapshot: dt.date
    first_date: dt.date | None
    last_date: dt.date | None
    columns: TransactionColumns
    date_format: str | None
    file_info: dict[str, Any] = field(default_factory=dict)

    def drop_reasons(self) -> dict[str, str]:
        """Each key of ``dropped`` with its reason in words (:data:`DROP_REASONS`),
        so that a report need not import this module."""
        return {key: DROP_REASONS[key] for key in self.dropped}

    def messages(self) -> list[str]:
        """One plain sentence per reason with a non-zero count, for reports."""
        out = []
        for key, n in self.dropped.items():
            if n:
                out.append(f"{n:,} lines dropped: {DROP_REASONS[key]}.")
        if self.netted:
            out.append(
                f"{self.netted:,} cancellation or return lines netted against "
                "the customer's purchases (their value counts as negative)."
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
            "cancellations": self.cancellations,
            "customers": self.customers,
            "orders": self.orders,
            "net_revenue": round(self.net_revenue, 2),
            "snapshot": self.snapshot.isoformat(),
            "first_date": self.first_date.isoformat() if self.first_date else None,
            "last_date": self.last_date.isoformat() if self.last_date else None,
            "columns": self.columns.to_dict(),
            "date_format": self.date_format,
            "file": self.file_info,
        }


@dataclass(frozen=True)
class CustomerTable:
    """The per-customer features and the cleaning record behind them."""

    customers: pd.DataFrame
    cleaning: Cleaning


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
) -> dict[str, Any]:
    """Make the view ``tx`` over the transaction source; return its file info."""
    import duckdb

    from custseg.io import NA_VALUES, check_file, load_table, read_arrow

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
        frame = load_table(path, sheet=sheet, na_values=list(na_values))
        con.register("tx_frame", frame)
        con.execute("CREATE VIEW tx AS SELECT * FROM tx_frame")
        return {"source": name, "format": "excel"}
    if suffix in _PARQUET_SUFFIXES:
        sql = f"CREATE VIEW tx AS SELECT * FROM read_parquet({_literal(str(path))})"
        info: dict[str, Any] = {"source": name, "format": "parquet"}
    elif suffix in _CSV_SUFFIXES or suffix == "" or base in _CSV_SUFFIXES:
        duck_encoding, delim = _sniff_csv(path, name, delimiter, encoding)
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


def _number(col: str, duck_type: str) -> str:
    q = _quote(col)
    if _is_numeric(duck_type):
        return f"CAST({q} AS DOUBLE)"
    # Text: currency signs and spaces around the number are allowed.
    return (
        f"TRY_CAST(regexp_replace(trim(CAST({q} AS VARCHAR)), "
        r"'^[£$€¥]\s*|\s+', '', 'g') AS DOUBLE)"
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
        raise ColumnTypeError(
            f"holds numbers ({duck_type}), not dates",
            path=name,
            column=col,
            hint="Name the date column with --date-column.",
        )
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
    drop_duplicates: bool = True,
    date_format: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    na_values: Sequence[str] = (),
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
    drop_duplicates : bool, default True
        Drop lines identical in every column to another line (rule 7). False
        skips the check, for logs known to hold no duplicates: it is the most
        expensive step of the aggregation.
    threads : int, optional
        DuckDB threads (default: one per core).
    memory_limit : str, default "512MB"
        DuckDB's memory limit; past it, aggregation spills to a temporary folder.

    Returns
    -------
    CustomerTable
        ``customers`` has one row per customer, sorted by id: the id column
        (under its own name), ``recency_days``, ``frequency``, ``monetary``,
        ``tenure_days``, ``avg_order_value``, ``purchase_interval_days``,
        ``first_purchase`` and ``last_purchase``.
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
        )
        name = info["source"]
        types = _describe(con)
        cols = find_columns(list(types), columns, source=name)
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
            )
        except duckdb.Error as exc:
            raise _read_error(exc, name) from exc
    finally:
        con.close()


def _aggregate(
    con: duckdb.DuckDBPyConnection,
    cols: TransactionColumns,
    types: dict[str, str],
    info: dict[str, Any],
    snapshot_given: dt.date | None,
    cancellations: str,
    drop_duplicates: bool,
    date_format: str | None,
) -> CustomerTable:
    name = info["source"]
    ts, fmt = _date_expr(con, cols.date, types[cols.date], date_format, name)
    for role in ("quantity", "price", "amount"):
        col = getattr(cols, role)
        if col is not None and types[col] in ("DATE", "TIMESTAMP", "BOOLEAN"):
            raise ColumnTypeError(
                f"is the {role} column but holds {types[col]} values",
                path=name,
                column=col,
            )
    customer = _customer(cols.customer, types[cols.customer])
    if cols.amount is not None:
        value = _number(cols.amount, types[cols.amount])
        qty = value
        price = "1.0"
    else:
        assert cols.quantity is not None and cols.price is not None
        qty = _number(cols.quantity, types[cols.quantity])
        price = _number(cols.price, types[cols.price])
        value = f"({qty}) * ({price})"
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
    line_hash = "hash(" + ", ".join(_quote(c) for c in types) + ")"

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
    # Money is exact: each line's value is a DECIMAL(18, 4) (exact for prices
    # with up to four decimals), and sums of decimals do not drift.
    # Lines -> (customer, order, kind) groups. Duplicates are found within each
    # group by the hash of every column; the list of hashes is built only for
    # the lines being used, and list_unique counts the distinct ones.
    if drop_duplicates:
        # Duplicates are found within each (customer, order, kind) group by the
        # hash of every column: list_unique counts the distinct hashes of the
        # lines being used, and only groups holding a duplicate pay for summing
        # their distinct lines. Exact, and memory holds 16 bytes per line while
        # the groups are aggregated (DuckDB spills them past memory_limit).
        dedup_aggs = (
            "CASE WHEN reason IS NULL THEN count(*) - list_unique(list(h)) "
            "ELSE 0 END AS dups, "
            "list(h) FILTER (WHERE reason IS NULL) AS hs, "
            "list(v) FILTER (WHERE reason IS NULL) AS vs,"
        )
        amount = (
            "CASE WHEN dups = 0 THEN s ELSE list_sum(list_transform("
            "list_distinct(list_zip(hs, vs)), lambda x: x[2])) END"
        )
    else:
        dedup_aggs, amount = "0 AS dups,", "s"
    # Money is exact: each line's value is a DECIMAL(18, 4) (exact for prices
    # with up to four decimals), and sums of decimals do not drift.
    sql = f"""
    WITH typed AS (
        SELECT {customer} AS c, {ts} AS ts, {qty} AS q, {price} AS p,
               TRY_CAST({value} AS DECIMAL(18, 4)) AS v,
               {line_hash if drop_duplicates else "0"} AS h,
               {invoice if cols.invoice else "NULL"} AS inv
        FROM tx),
    flagged AS (
        SELECT c, ts, v, h, q, p,
               {"inv" if cols.invoice else invoice} AS inv,
               ({cancel_invoice} OR v < 0) AS cx
        FROM typed),
    lines AS (
        SELECT c, inv, ts, h, cx,
               CASE WHEN cx THEN -abs(v) ELSE v END AS v,
               {reason} AS reason
        FROM flagged),
    groups AS (
        SELECT c, inv, cx, reason, count(*) AS n, {dedup_aggs}
               sum(v) AS s, min(ts) AS first_ts, max(ts) AS last_ts
        FROM lines GROUP BY c, inv, cx, reason),
    orders AS (
        SELECT c, cx, reason, n, dups, first_ts, last_ts, {amount} AS amount
        FROM groups)
    SELECT CASE WHEN reason IS NULL THEN c END AS customer, reason,
           sum(n)::BIGINT AS lines, sum(dups)::BIGINT AS dups,
           (count(*) FILTER (WHERE NOT cx))::BIGINT AS frequency,
           (sum(n - dups) FILTER (WHERE cx))::BIGINT AS netted,
           min(first_ts) FILTER (WHERE NOT cx) AS first_ts,
           max(last_ts) FILTER (WHERE NOT cx) AS last_ts,
           max(last_ts) AS any_ts,
           sum(amount) AS monetary
    FROM orders GROUP BY ALL
    """
    result = con.execute(sql).df()
    return cleaning_from_groups(
        result,
        snapshot_given=snapshot_given,
        cancellations=cancellations,
        drop_duplicates=drop_duplicates,
        columns=cols,
        date_format=fmt,
        info=info,
        name=name,
    )


def cleaning_from_groups(
    result: pd.DataFrame,
    *,
    snapshot_given: dt.date | None,
    cancellations: str,
    drop_duplicates: bool,
    columns: TransactionColumns,
    date_format: str | None,
    info: dict[str, Any],
    name: str,
) -> CustomerTable:
    """The customer table and cleaning record from the final aggregation, which
    has one row per used customer (``reason`` null) and one per drop reason
    code: columns customer, reason, lines, dups, frequency, netted, first_ts,
    last_ts, any_ts (the last date of any line) and monetary. Shared by the
    DuckDB and Spark engines."""
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
    dropped["duplicate"] = int(per_customer["dups"].sum())
    no_purchase = per_customer["frequency"] == 0
    dropped["no_purchase"] = int(
        (per_customer["lines"] - per_customer["dups"])[no_purchase].sum()
    )
    if not exclude:
        dropped.pop("cancellation")
    if not drop_duplicates:
        dropped.pop("duplicate")
    if snapshot_given is None:
        dropped.pop("after_as_of")
    kept = per_customer[~no_purchase]
    netted = int(kept["netted"].fillna(0).sum())
    customers = customer_frame(kept, columns.customer, snapshot)
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
        net_revenue=float(customers["monetary"].sum()),
        snapshot=snapshot,
        first_date=customers["first_purchase"].min().date() if len(customers) else None,
        last_date=customers["last_purchase"].max().date() if len(customers) else None,
        columns=columns,
        date_format=date_format,
        file_info=info,
    )
    if not len(customers):
        raise EmptyDataError(
            "no transaction line is usable: "
            + "; ".join(cleaning.messages() or ["no lines"]),
            path=name,
        )
    return CustomerTable(customers, cleaning)


def customer_frame(kept: pd.DataFrame, id_name: str, snapshot: dt.date) -> pd.DataFrame:
    """Per-customer features from the aggregated rows (one per customer)."""
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
    with np.errstate(divide="ignore", invalid="ignore"):
        interval = np.where(frequency > 1, span / np.maximum(frequency - 1, 1), np.nan)
    frame = pd.DataFrame(
        {
            id_name: as_int.astype(np.int64).to_numpy() if integral else ids.to_numpy(),
            "recency_days": (snap_day - last_day).astype(np.int64),
            "frequency": frequency,
            "monetary": monetary,
            "tenure_days": (snap_day - first_day).astype(np.int64),
            "avg_order_value": np.round(monetary / frequency, 2),
            "purchase_interval_days": np.round(interval, 1),
            "first_purchase": first,
            "last_purchase": last,
        }
    )
    return frame.sort_values(id_name, kind="stable").reset_index(drop=True)
