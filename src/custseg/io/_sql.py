"""Read a customer table from a database and write segments back to one.

Any database SQLAlchemy reaches works where its driver is installed; custseg
ships the PostgreSQL driver (psycopg 3), which ``postgresql://`` URLs use.

Three promises, each for a reason:

- **The password never leaves this module.** A :class:`DatabaseSource` prints
  as its URL with the password replaced by ``***``, so the source name that
  travels into logs, errors, ``summary.json``, the report and the model file is
  safe; database error messages are scrubbed of it too.
- **Names are identifiers, never SQL.** ``--table`` and ``--write-table`` are
  looked up with SQLAlchemy's inspector and quoted by its dialect, so a table
  called ``customers; DROP TABLE x`` is only a name.
- **A write is all or nothing.** The target table is created (or emptied, or
  appended to) and filled in one transaction, and the row count is checked
  before the commit; any failure rolls back and leaves the table as it was.
  (PostgreSQL runs DDL inside transactions; databases that commit DDL on their
  own, such as MySQL, cannot promise this for ``replace``.)

Reading streams: rows arrive from a server-side cursor in chunks, each chunk
becomes an Arrow record batch, and the batches are typed and converted to
pandas column by column (:func:`custseg.io.frame_from_arrow`), so the
table is never held as Python rows and a DataFrame at once.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from custseg import _names
from custseg.errors import (
    BackendUnavailableError,
    EmptyDataError,
    InputError,
    ParameterError,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from custseg.io._load import LoadedTable

__all__ = [
    "IF_EXISTS",
    "DatabaseSource",
    "DatabaseTarget",
    "check_target",
    "is_database_url",
    "read_arrow",
    "read_database",
    "read_database_table",
    "redact_url",
    "write_database",
]

IF_EXISTS = _names.IF_EXISTS  # declared where the CLI reads it cheaply
# Rows fetched from the server per round trip, and rows per COPY message.
CHUNK_ROWS = 50_000
# ``postgresql://`` means psycopg2 to SQLAlchemy; custseg ships psycopg 3.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}
_NOT_DATABASES = {"file", "http", "https", "ftp", "s3", "gs", "az", "abfs", "hdfs"}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def is_database_url(text: object) -> bool:
    """True for ``dialect[+driver]://...`` strings (not ``http://`` or ``s3://``).

    Examples
    --------
    >>> is_database_url("postgresql://ana@db/shop"), is_database_url("a.csv")
    (True, False)
    """
    if not isinstance(text, str):
        return False
    match = _URL.match(text)
    return match is not None and match.group(1).lower() not in _NOT_DATABASES


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``.

    Examples
    --------
    >>> redact_url("postgresql://ana:s3cret@db:5432/shop")
    'postgresql://ana:***@db:5432/shop'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return str(make_url(url).render_as_string(hide_password=True))
    except (ArgumentError, ValueError):
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


@dataclass(frozen=True)
class DatabaseSource:
    """A table, or the rows of a query, in a database.

    ``str()`` and ``repr()`` show the URL without its password.

    Examples
    --------
    >>> src = DatabaseSource("postgresql://ana:s3cret@db/shop", table="customers")
    >>> str(src)
    "postgresql://ana:***@db/shop, table 'customers'"
    """

    url: str = field(repr=False)
    table: str | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise ParameterError(
                f"{redact_url(self.url)}: name a --table or give a --query "
                "(one of the two)"
            )

    def __str__(self) -> str:
        what = f"table {self.table!r}" if self.table is not None else "query"
        return f"{redact_url(self.url)}, {what}"

    def __repr__(self) -> str:
        return f"DatabaseSource({self})"


@dataclass(frozen=True)
class DatabaseTarget:
    """A table to write segments to: ``if_exists`` is ``fail``, ``replace`` or
    ``append``. ``str()`` hides the password.

    Examples
    --------
    >>> str(DatabaseTarget("postgresql://ana:s3cret@db/shop", "segments"))
    "postgresql://ana:***@db/shop, table 'segments'"
    """

    url: str = field(repr=False)
    table: str
    if_exists: str = "fail"

    def __post_init__(self) -> None:
        if self.if_exists not in IF_EXISTS:
            raise ParameterError(
                f"if_exists must be one of {', '.join(IF_EXISTS)}; "
                f"got {self.if_exists!r}"
            )
        if not self.table:
            raise ParameterError("the table to write to needs a name")

    def __str__(self) -> str:
        return f"{redact_url(self.url)}, table {self.table!r}"

    def __repr__(self) -> str:
        return f"DatabaseTarget({self}, if_exists={self.if_exists!r})"


def check_target(target: DatabaseTarget) -> None:
    """Fail now, before a long run, when ``target`` cannot be written: the
    database is unreachable, or the table exists and ``if_exists="fail"``."""
    import sqlalchemy as sa

    label = str(target)
    engine = make_engine(target.url, label)
    try:
        with _database_errors(label, target.url), engine.connect() as conn:
            schema, name = _split_name(conn, target.table)
            if target.if_exists == "fail" and sa.inspect(conn).has_table(
                name, schema=schema
            ):
                raise _exists_error(label)
    finally:
        engine.dispose()


def _exists_error(label: str) -> InputError:
    return InputError(
        "the table already exists",
        path=label,
        hint="Pass --if-exists replace to re-create it, or --if-exists append "
        "to add the rows.",
    )


def read_database(
    source: DatabaseSource,
    *,
    na_values: Sequence[str] = (),
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """Read ``source`` into a DataFrame typed like a loaded file.

    Database types are kept (numbers, dates, booleans); ``NUMERIC`` columns
    become floats; text columns are typed as in a CSV file (a text column of
    numbers becomes numeric, ``0001`` stays text, the missing-value markers
    apply). ``df.attrs["custseg"]`` describes the source, password hidden, as
    :func:`custseg.io.load_table` does (:func:`read_database_table` gives the
    frame and notes side by side).

    Raises
    ------
    InputError
        The database cannot be reached, the table does not exist, or the query
        fails; the message names the source (without the password).
    EmptyDataError
        The table or query has no rows.
    """
    table = read_database_table(source, na_values=na_values, chunk_rows=chunk_rows)
    df = table.frame
    df.attrs["custseg"] = table.notes
    return df


def read_database_table(
    source: DatabaseSource,
    *,
    na_values: Sequence[str] = (),
    chunk_rows: int = CHUNK_ROWS,
) -> LoadedTable:
    """:func:`read_database` as a :class:`custseg.io.LoadedTable`: the frame,
    and notes naming the source (password hidden), its dialect and table or
    query."""
    from custseg.io._load import NA_VALUES, LoadedTable, frame_from_arrow

    table = read_arrow(source, chunk_rows=chunk_rows)
    meta: dict[str, Any] = {
        "source": str(source),
        "format": "database",
        "dialect": _dialect_name(source.url),
        "repairs": [],
    }
    if source.table is not None:
        meta["table"] = source.table
    else:
        meta["query"] = source.query
    return LoadedTable(
        frame_from_arrow(table, meta, NA_VALUES | frozenset(na_values)), meta
    )


def read_arrow(source: DatabaseSource, *, chunk_rows: int = CHUNK_ROWS) -> pa.Table:
    """Stream ``source`` into an Arrow table (decimals as float64, dates as
    timestamps); used by :func:`read_database` and the RFM aggregation."""
    label = str(source)
    engine = make_engine(source.url, label)
    try:
        with _database_errors(label, source.url), engine.connect() as conn:
            table = None
            if source.table is not None:
                table = _resolve_table(conn, source.table, label)
            fetch = _fetch_postgres if conn.dialect.name == "postgresql" else _fetch
            names, batches = fetch(conn, table, source.query, chunk_rows)
    finally:
        engine.dispose()
    what = "table" if source.table is not None else "query"
    if not names:
        raise EmptyDataError(f"the {what} has no columns", path=label)
    if not batches:
        raise EmptyDataError(
            f"the {what} has no rows",
            path=label,
            hint="Check the table name, or the query's WHERE clause.",
        )
    return _concat(batches)


def write_database(
    frame: pd.DataFrame,
    url: str,
    table: str,
    *,
    if_exists: str = "fail",
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Write ``frame`` to ``table`` in one transaction; return the rows written.

    Parameters
    ----------
    frame : DataFrame
        The rows to write; its columns become the table's columns.
    url : str
        SQLAlchemy URL of the database.
    table : str
        Table name, optionally ``schema.table`` when that schema exists.
    if_exists : {"fail", "replace", "append"}
        What to do when the table exists: refuse, drop and re-create it, or
        add the rows to it (the columns must match).

    Raises
    ------
    InputError
        The table exists and ``if_exists="fail"``, or the database refused the
        rows (a constraint, a type, the connection); nothing was changed.
    """
    import sqlalchemy as sa

    where = str(DatabaseTarget(url, table, if_exists))  # checks if_exists
    engine = make_engine(url, where)
    frame = _plain_columns(frame)
    try:
        with _database_errors(where, url), engine.begin() as conn:
            schema, name = _split_name(conn, table)
            inspector = sa.inspect(conn)
            exists = inspector.has_table(name, schema=schema)
            if exists and if_exists == "fail":
                raise _exists_error(where)
            before = (
                _count(conn, name, schema) if exists and if_exists == "append" else 0
            )
            # pandas creates (or drops and re-creates) the table with types
            # that fit the frame; the rows follow, by COPY on PostgreSQL.
            mode: Literal["append", "replace"] = (
                "append" if exists and if_exists == "append" else "replace"
            )
            frame.iloc[:0].to_sql(
                name, conn, schema=schema, if_exists=mode, index=False
            )
            if conn.dialect.name == "postgresql":
                _copy_rows(conn, frame, name, schema, chunk_rows)
            else:
                frame.to_sql(
                    name,
                    conn,
                    schema=schema,
                    if_exists="append",
                    index=False,
                    chunksize=chunk_rows,
                    method="multi",
                )
            added = _count(conn, name, schema) - before
            if added != len(frame):
                raise InputError(
                    f"{len(frame):,} rows were sent but the table gained "
                    f"{added:,}; the write was rolled back",
                    path=where,
                )
    finally:
        engine.dispose()
    return len(frame)


# -- connections and errors ----------------------------------------------------


def make_engine(url: str, label: str) -> sa.Engine:
    """An SQLAlchemy engine for ``url``, with errors a user can act on."""
    try:
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise BackendUnavailableError(
            "reading databases needs SQLAlchemy: pip install sqlalchemy"
        ) from exc
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise InputError(
            "is not a database URL",
            path=label,
            hint="Write it as dialect://user@host:port/database, e.g. "
            "postgresql://ana@localhost/shop.",
        ) from exc
    driver = _DEFAULT_DRIVERS.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    try:
        # hide_parameters: a failed INSERT's error must not echo customer rows.
        return sa.create_engine(parsed, hide_parameters=True)
    except NoSuchModuleError as exc:
        raise InputError(
            f"no SQLAlchemy dialect called {parsed.drivername!r}",
            path=label,
            hint="Check the URL's scheme (postgresql://, mysql+pymysql://, "
            "sqlite:///...).",
        ) from exc
    except ImportError as exc:
        raise BackendUnavailableError(
            f"{label}: the database driver is not installed ({exc}). Install "
            f"the Python package for {parsed.drivername!r}."
        ) from exc


def _dialect_name(url: str) -> str:
    match = _URL.match(url)
    scheme = match.group(1).split("+")[0].lower() if match else "unknown"
    return "postgresql" if scheme == "postgres" else scheme


@contextlib.contextmanager
def _database_errors(label: str, url: str) -> Iterator[None]:
    """Turn driver errors into :class:`InputError` naming ``label``, with the
    password scrubbed from the driver's message."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        yield
    except DBAPIError as exc:
        text = _scrub(str(exc.orig).strip().splitlines()[0] if exc.orig else "", url)
        kind = type(exc.orig).__name__ if exc.orig else type(exc).__name__
        if (
            exc.connection_invalidated
            or "connect" in text.lower()
            and ("server" in text.lower() or "refused" in text.lower())
        ):
            raise InputError(
                f"cannot reach the database ({text})",
                path=label,
                hint="Check the host, port, user and password (or PGPASSWORD / "
                "~/.pgpass), and that the server is running.",
            ) from None
        raise InputError(f"the database refused: {kind}: {text}", path=label) from None
    except SQLAlchemyError as exc:
        raise InputError(
            f"database error: {_scrub(str(exc).splitlines()[0], url)}", path=label
        ) from None


@contextlib.contextmanager
def _driver_errors(conn: sa.Connection, what: str) -> Iterator[None]:
    """The driver's own errors, raised outside SQLAlchemy (COPY, server-side
    cursors), wrapped the way SQLAlchemy wraps them, for
    :func:`_database_errors` to report like every other one."""
    from sqlalchemy.exc import DBAPIError

    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(what, None, exc, dbapi.Error) from exc


def _scrub(text: str, url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # an unparsable URL has no password to hide
        password = None
    if password:
        text = text.replace(str(password), "***")
    return _PASSWORD_IN_URL.sub(r"\1***@", text)


# -- reading -------------------------------------------------------------------


def _resolve_table(
    conn: sa.Connection, table: str, label: str
) -> tuple[str | None, str]:
    """(schema, name) of the table or view called ``table``; a name that only
    differs in case is accepted when it is the only one."""
    import sqlalchemy as sa

    schema, name = _split_name(conn, table)
    inspector = sa.inspect(conn)
    if inspector.has_table(name, schema=schema):
        return schema, name
    tables = inspector.get_table_names(schema=schema) + inspector.get_view_names(
        schema=schema
    )
    folded = [t for t in tables if t.lower() == name.lower()]
    if len(folded) == 1:
        return schema, folded[0]
    close = difflib.get_close_matches(name, tables, n=1, cutoff=0.5)
    listing = ", ".join(repr(t) for t in sorted(tables)[:20]) or "none"
    raise InputError(
        f"no table or view named {name!r}; the tables are {listing}",
        path=label,
        hint=f"Did you mean {close[0]!r}?" if close else None,
    )


_Fetched = tuple[list[str], list[pa.RecordBatch]]


def _fetch(
    conn: sa.Connection,
    table: tuple[str | None, str] | None,
    query: str | None,
    chunk_rows: int,
) -> _Fetched:
    """Any database: SQLAlchemy's streamed result, a chunk at a time."""
    import sqlalchemy as sa

    if table is not None:
        statement: Any = sa.select(sa.text("*")).select_from(
            sa.table(table[1], schema=table[0])
        )
    else:
        assert query is not None
        # Escaped colons: ':name' is SQL here, not a bind parameter.
        statement = sa.text(query.replace(":", "\\:"))
    streaming = conn.execution_options(stream_results=True, yield_per=chunk_rows)
    result = streaming.execute(statement)
    names = [str(k) for k in result.keys()]  # noqa: SIM118 - a Result, not a dict
    batches = [_record_batch(rows, names) for rows in result.partitions(chunk_rows)]
    return names, batches


def _fetch_postgres(
    conn: sa.Connection,
    table: tuple[str | None, str] | None,
    query: str | None,
    chunk_rows: int,
) -> _Fetched:
    """PostgreSQL: a psycopg server-side cursor, read as plain tuples.

    SQLAlchemy's Row objects doubled the time of a 200k-row read, and a
    ``SELECT *`` has no result processors for them to apply. The query text
    goes to the driver without parameters, so '%' and ':' are plain SQL.
    """
    from psycopg import sql

    driver: Any = conn.connection.driver_connection
    if table is not None:
        parts = [p for p in table if p is not None]
        statement: Any = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*parts))
    else:
        statement = query
    with _driver_errors(conn, "SELECT"), driver.cursor(name="custseg_read") as cursor:
        cursor.itersize = chunk_rows
        cursor.execute(statement)
        names = [str(d.name) for d in cursor.description or ()]
        batches = []
        while rows := cursor.fetchmany(chunk_rows):
            batches.append(_record_batch(rows, names))
    return names, batches


def _split_name(conn: sa.Connection, table: str) -> tuple[str | None, str]:
    """``schema.table`` when the part before the dot is an existing schema;
    otherwise the whole text is the table's name (dots and all)."""
    import sqlalchemy as sa

    schema, dot, name = table.partition(".")
    if dot and name and schema in sa.inspect(conn).get_schema_names():
        return schema, name
    return None, table


# Field metadata marking a column of JSON documents Arrow could not type as
# one nested type (json holding objects in some rows and arrays in others):
# the reader keeps it as text and out of the features (io._load).
JSON_FIELD = {b"custseg": b"json"}


def _record_batch(rows: Sequence[Sequence[Any]], names: list[str]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [_arrow_array(list(values)) for values in columns]
    fields = [
        pa.field(name, a.type, metadata=JSON_FIELD if json_text else None)
        for name, (a, json_text) in zip(names, arrays, strict=True)
    ]
    return pa.RecordBatch.from_arrays([a for a, _ in arrays], schema=pa.schema(fields))


def _arrow_array(values: list[Any]) -> tuple[pa.Array, bool]:
    """Arrow's own type inference; a column it cannot type (mixed values, as
    SQLite allows, or UUIDs) is kept as text rather than refused, documents
    (dicts, lists) as JSON text. Returns the array and whether it is such
    JSON text."""
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        if any(isinstance(v, (dict, list, tuple)) for v in values):
            from custseg.io._load import documents_as_json

            return pa.array(documents_as_json(values), pa.string()), True
        array = pa.array([None if v is None else str(v) for v in values], pa.string())
    kind = array.type
    if pa.types.is_decimal(kind):
        return pc.cast(array, pa.float64()), False
    if pa.types.is_date(kind):
        return pc.cast(array, pa.timestamp("ms")), False
    if pa.types.is_time(kind):  # as the database writes it: 10:30:00
        return pa.array(
            [None if v is None else str(v) for v in values], pa.string()
        ), False
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        # bytes are not features
        return pc.cast(pc.binary_length(array), pa.int64()), False
    return array, False


def _concat(batches: list[pa.RecordBatch]) -> pa.Table:
    """One table from the chunks; a column typed differently in two chunks
    (all-null in one, say) is promoted, and kept as text if it cannot be; a
    column of JSON text in any chunk is marked so in the whole table."""
    tables = [pa.Table.from_batches([b]) for b in batches]
    json_text = {f.name for b in batches for f in b.schema if f.metadata == JSON_FIELD}
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        as_text = [
            pa.table([_as_text(c) for c in t.columns], names=t.column_names)
            for t in tables
        ]
        json_text |= {f.name for f in tables[0].schema if pa.types.is_nested(f.type)}
        table = pa.concat_tables(as_text)
    if not json_text:
        return table
    schema = pa.schema(
        [
            f.with_metadata(JSON_FIELD) if f.name in json_text else f
            for f in table.schema
        ]
    )
    return pa.Table.from_arrays(table.columns, schema=schema)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as text: documents (lists, records) as JSON."""
    from custseg.io._load import documents_as_json

    if not pa.types.is_nested(column.type):
        return pc.cast(column, pa.string())
    text = documents_as_json(column.to_pylist())
    return pa.chunked_array([pa.array(text, pa.string())])


# -- writing -------------------------------------------------------------------


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text, so the database gets plain TEXT columns."""
    out = frame.copy(deep=False)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def _count(conn: sa.Connection, name: str, schema: str | None) -> int:
    import sqlalchemy as sa

    statement = sa.select(sa.func.count()).select_from(sa.table(name, schema=schema))
    return int(conn.execute(statement).scalar_one())


def _copy_rows(
    conn: sa.Connection,
    frame: pd.DataFrame,
    name: str,
    schema: str | None,
    chunk_rows: int,
) -> None:
    """Send the rows with PostgreSQL's COPY, as CSV made by Arrow.

    COPY is PostgreSQL's bulk path: one message per chunk instead of one
    statement per row (about 20x faster than executemany at 100k rows). Every
    value is quoted except NULLs, which is how COPY's CSV format tells an
    empty string from a missing value.
    """
    from psycopg import sql

    target = sql.Identifier(*(p for p in (schema, name) if p is not None))
    columns = sql.SQL(", ").join(sql.Identifier(str(c)) for c in frame.columns)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
    driver: Any = conn.connection.driver_connection
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        target, columns
    )
    with (
        _driver_errors(conn, "COPY"),
        driver.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for batch in table.to_batches(max_chunksize=chunk_rows):
            copy.write(_csv_bytes(batch, options))


def _csv_bytes(batch: pa.RecordBatch, options: pa_csv.WriteOptions) -> bytes:
    sink = io.BytesIO()
    pa_csv.write_csv(batch, sink, write_options=options)
    return sink.getvalue()
