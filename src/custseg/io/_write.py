"""Write output tables atomically: to a temporary name first, then renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = [
    "EXCEL_SUFFIXES",
    "FORMULA_PREFIXES",
    "atomic_write",
    "neutralise_formulas",
    "write_table",
]

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
# Excel's sheet limit, header row included.
EXCEL_MAX_ROWS = 1_048_575

# A text cell starting with one of these can run as a formula when a CSV is
# opened in a spreadsheet (OWASP "CSV injection"): "=HYPERLINK(...)",
# "+cmd|...", "-2+3", "@SUM(...)", and tab or carriage return before them.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = r"^[=+\-@\t\r]"


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    A run that stops half-way never leaves a half-written file under the final
    name: the rename is atomic on POSIX file systems.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates the file 0600; give it the permissions a normal
        # open() would have had under the user's umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def neutralise_formulas(table: pa.Table) -> tuple[pa.Table, int]:
    """Prefix ``'`` to every text cell that a spreadsheet would run as a
    formula (see :data:`FORMULA_PREFIXES`); numbers are left alone. Returns
    the table and the number of cells changed.

    Examples
    --------
    >>> t = pa.table({"name": ["=1+2", "Ann", None], "n": [-1, 2, 3]})
    >>> safe, changed = neutralise_formulas(t)
    >>> safe.column("name").to_pylist(), safe.column("n").to_pylist(), changed
    (["'=1+2", 'Ann', None], [-1, 2, 3], 1)
    """
    import pyarrow.compute as pc

    def fix(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        mask = pc.fill_null(pc.match_substring_regex(arr, _FORMULA_RE), False)
        if not pc.any(mask).as_py():
            return arr, mask
        quote, empty = pa.scalar("'", arr.type), pa.scalar("", arr.type)
        quoted = pc.binary_join_element_wise(quote, arr, empty)
        return pc.if_else(mask, quoted, arr), mask

    changed = 0
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind) and _is_text(kind.value_type):
            chunks = []
            for chunk in column.chunks:
                # Fix each distinct value once; count the rows that use it.
                values, mask = fix(chunk.dictionary)
                used = pc.take(mask, chunk.indices)
                changed += pc.sum(pc.fill_null(used, False)).as_py() or 0
                chunks.append(pa.DictionaryArray.from_arrays(chunk.indices, values))
            columns.append(pa.chunked_array(chunks, type=kind))
        elif _is_text(kind):
            fixed = []
            for chunk in column.chunks:
                values, mask = fix(chunk)
                changed += pc.sum(mask).as_py() or 0
                fixed.append(values)
            columns.append(pa.chunked_array(fixed, type=kind))
        else:
            columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema), changed


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def write_table(
    df: pd.DataFrame, path: str | os.PathLike[str], *, safe_formulas: bool = True
) -> Path:
    """Write ``df`` as CSV, Excel (``.xlsx``) or Parquet (by the file's
    suffix), atomically.

    PyArrow writes CSV and Parquet: its CSV writer is several times faster than
    ``DataFrame.to_csv`` on large tables. In CSV and Excel, text cells that a
    spreadsheet would run as formulas get a leading ``'``
    (:func:`neutralise_formulas`) unless ``safe_formulas`` is False; Parquet
    keeps every value as it is.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = write_table(pd.DataFrame({"a": [1, 2]}), out)
    >>> out.read_text()
    '"a"\\n1\\n2\\n'
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    suffix = Path(path).suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    if safe_formulas:
        table, _ = neutralise_formulas(table)
    if suffix in EXCEL_SUFFIXES:
        return atomic_write(path, lambda tmp: _write_excel(table, tmp))
    return atomic_write(path, lambda tmp: pa_csv.write_csv(table, tmp))


def _write_excel(table: pa.Table, path: str) -> None:
    """One sheet, ``segments``; openpyxl stores a text cell that starts with
    ``=`` as a formula, which is why formulas are neutralised first."""
    if table.num_rows > EXCEL_MAX_ROWS:
        from custseg.errors import ParameterError

        raise ParameterError(
            f"{table.num_rows:,} rows do not fit in an Excel sheet (at most "
            f"{EXCEL_MAX_ROWS:,}); write CSV or Parquet instead"
        )
    import io

    buffer = io.BytesIO()  # the temporary name has no .xlsx for pandas to see
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        table.to_pandas().to_excel(writer, sheet_name="segments", index=False)
    Path(path).write_bytes(buffer.getvalue())
