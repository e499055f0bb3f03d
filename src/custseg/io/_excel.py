"""Read one sheet of an Excel workbook as a table of text cells.

Report-style sheets are common: a title above the header, a header of two rows
whose upper cells are merged across the columns below them, a value written
once in a merged cell for several rows. openpyxl's fast read-only mode (the one
pandas uses) does not report merged cells, so they are read from the sheet's
XML; the repairs made with them are listed like every other.
"""

from __future__ import annotations

import difflib
import posixpath
import re
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pyarrow as pa

from custseg.errors import EmptyDataError, FileFormatError, InputError
from custseg.io._numbers import refuse_numeric_header

__all__ = ["read_excel", "text_table"]

_MERGE_CELL = re.compile(
    rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"'
)
# A cell holding a formula and no value (``<c r="E2"><f>SUM(A2:D2)</f></c>``):
# a workbook written by a program that does not compute formulas.
_EMPTY_FORMULA = re.compile(
    rb'<(?:\w+:)?c\s[^>]*?r="([A-Z]+)(\d+)"[^>]*>\s*'
    rb"<(?:\w+:)?f\b[^>]*(?:/>|>[^<]*</(?:\w+:)?f>)\s*"
    rb"(?:<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>)?\s*</(?:\w+:)?c>"
)
_SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# Merged cells deeper than this below the first header row are data, not header.
_MAX_HEADER_ROWS = 5

Merge = tuple[int, int, int, int]  # first row, first column, last row, last column


def read_excel(
    path: Path, name: str, sheet: str | int | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One sheet as a frame of cells (objects), with its header rows combined
    into names when they hold merged cells."""
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise FileFormatError(
            "reading Excel needs openpyxl", path=name, hint="pip install openpyxl"
        ) from exc
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        # The library's words (BadZipFile, KeyError ...) say nothing to a
        # person; they stay in the chained exception for --debug.
        raise FileFormatError(
            "is not a readable Excel workbook: it is damaged, or not an "
            ".xlsx/.xlsm file (an old .xls, or another file renamed)",
            path=name,
            hint="Open it in Excel and save it again as .xlsx, or export the "
            "table as CSV.",
        ) from exc
    with book:
        sheets = [str(s) for s in book.sheet_names]
        index = _sheet_index(sheet, sheets, name)
        try:
            raw = pd.read_excel(book, sheet_name=index, header=None, dtype=object)
        except Exception as exc:  # openpyxl raises many types for a bad sheet
            raise FileFormatError(
                f"sheet {sheets[index]!r} cannot be read: the workbook is damaged",
                path=name,
                hint="Open it in Excel and save it again, or export the sheet as CSV.",
            ) from exc
    others = [s for i, s in enumerate(sheets) if i != index]
    if raw.dropna(how="all").empty:
        raise EmptyDataError(
            f"sheet {sheets[index]!r} is empty",
            path=name,
            hint=f"Pass --sheet with one of {_quoted(others)}." if others else None,
        )
    repairs: list[str] = []
    merges, formulas = _scan_sheet(path, index)
    frame = _sheet_frame(raw, merges, repairs, name)
    for letters, rows in formulas.items():
        span = f"{letters}{rows[0]}" + (
            f":{letters}{rows[-1]}" if len(rows) > 1 else ""
        )
        repairs.append(
            f"read {len(rows):,} formula cell{'s' if len(rows) > 1 else ''} of "
            f"column {letters} ({span}) as empty: the workbook was saved without "
            "their values (open it in Excel and save it again to store them)"
        )
    meta: dict[str, Any] = {
        "source": name,
        "format": "excel",
        "sheet": sheets[index],
        "repairs": repairs,
    }
    if others:
        meta["sheets"] = sheets
    return frame, meta


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _sheet_index(sheet: str | int | None, sheets: list[str], name: str) -> int:
    if sheet is None:
        return 0
    if isinstance(sheet, int) and 0 <= sheet < len(sheets):
        return sheet
    if str(sheet) in sheets:
        return sheets.index(str(sheet))
    close = difflib.get_close_matches(str(sheet), sheets, n=1, cutoff=0.5)
    raise InputError(
        f"no sheet named {sheet!r}; the sheets are {_quoted(sheets)}",
        path=name,
        hint=f"Did you mean '{close[0]}'?" if close else None,
    )


def _merged_cells(path: Path, index: int) -> list[Merge]:
    """The merged cell ranges of sheet ``index``, read from the workbook's XML
    (openpyxl's fast read-only mode does not report them)."""
    return _scan_sheet(path, index)[0]


def _scan_sheet(path: Path, index: int) -> tuple[list[Merge], dict[str, list[int]]]:
    """The merged cell ranges of sheet ``index``, and its formula cells saved
    without a value (column letters to row numbers), read from the XML in one
    pass: openpyxl's fast mode reports neither (the second read as empty)."""
    formulas: dict[str, list[int]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
            sheets = book.find(f"{_SHEET_NS}sheets")
            if sheets is None:
                return [], formulas
            rid = list(sheets)[index].get(f"{_REL_NS}id")
            rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
            target = next((r.get("Target") for r in rels if r.get("Id") == rid), None)
            if not target:
                return [], formulas
            part = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath("xl/" + target)
            )
            found: set[bytes] = set()
            merges: list[Merge] = []
            with archive.open(part) as fh:
                carry = b""
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    data = carry + chunk
                    for m in _MERGE_CELL.finditer(data):
                        if m.group(0) not in found:
                            found.add(m.group(0))
                            c1, r1 = _column_number(m.group(1)), int(m.group(2))
                            c2 = _column_number(m.group(3) or m.group(1))
                            r2 = int(m.group(4) or m.group(2))
                            merges.append((r1, c1, r2, c2))
                    if b"<f" in data or b":f" in data:
                        # Only the part before the carried tail: a cell cut
                        # in two is found whole in the next round.
                        for m in _EMPTY_FORMULA.finditer(data, 0, len(data) - 256):
                            rows = formulas.setdefault(m.group(1).decode(), [])
                            rows.append(int(m.group(2)))
                    carry = data[-256:]
                for m in _EMPTY_FORMULA.finditer(carry):
                    formulas.setdefault(m.group(1).decode(), []).append(int(m.group(2)))
            return sorted(merges), {c: sorted(set(r)) for c, r in formulas.items()}
    except (KeyError, IndexError, OSError, zipfile.BadZipFile, ElementTree.ParseError):
        return [], {}


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ch - 64
    return number


def _cell_ref(merge: Merge) -> str:
    def letters(col: int) -> str:
        out = ""
        while col:
            col, rest = divmod(col - 1, 26)
            out = chr(65 + rest) + out
        return out

    r1, c1, r2, c2 = merge
    return f"{letters(c1)}{r1}:{letters(c2)}{r2}"


def _sheet_frame(
    raw: pd.DataFrame, merges: list[Merge], repairs: list[str], name: str
) -> pd.DataFrame:
    """Find the header rows (merged cells in the first row continue into the
    rows below them), name the columns, and give merged data cells their value.

    ``raw`` holds the sheet from cell A1 (pandas keeps leading empty rows and
    columns when ``header=None``), so Excel row r, column c is ``raw.iat[r-1, c-1]``.
    """
    n_rows, n_cols = raw.shape
    # pandas drops empty rows and columns at the end; merges there are moot.
    merges = [m for m in merges if m[0] <= n_rows and m[1] <= n_cols]
    filled = raw.notna().any(axis=1).to_numpy()
    top = int(np.argmax(filled)) + 1  # first row with a value, 1-based
    used_cols = np.flatnonzero(raw.notna().any(axis=0).to_numpy())
    first_col, last_col = int(used_cols[0]) + 1, int(used_cols[-1]) + 1
    # A merged cell across every used column in the first row is a title.
    for r1, c1, r2, c2 in merges:
        if r1 == top and c1 <= first_col and c2 >= last_col and top < n_rows:
            repairs.append(
                f"skipped the title {str(raw.iat[r1 - 1, c1 - 1])!r} (merged cells "
                f"{_cell_ref((r1, c1, r2, c2))}) above the header"
            )
            top = r2 + 1
            while top <= n_rows and not filled[top - 1]:
                top += 1
            break
    last = top
    changed = True
    while changed:
        changed = False
        for r1, _c1, r2, c2 in merges:
            if top <= r1 <= last:
                need = r2 + (1 if c2 > _c1 else 0)
                need = min(need, top + _MAX_HEADER_ROWS - 1, n_rows - 1)
                if need > last:
                    last, changed = need, True
    grid = raw.to_numpy(dtype=object, copy=True)
    header_merges = [m for m in merges if top <= m[0] <= last]
    body_merges = [m for m in merges if m[0] > last]
    for r1, c1, r2, c2 in header_merges + body_merges:
        grid[r1 - 1 : r2, c1 - 1 : c2] = grid[r1 - 1, c1 - 1]
    names: list[str] = []
    combined: list[str] = []
    for c in range(n_cols):
        parts: list[str] = []
        for r in range(top - 1, last):
            value = grid[r, c]
            if not _is_missing(value) and str(value).strip():
                text = str(value).strip()
                if not parts or parts[-1] != text:
                    parts.append(text)
        names.append(" ".join(parts))
        if len(parts) > 1:
            combined.append(names[-1])
    if last > top:
        repairs.append(
            f"combined the header rows {top} to {last} (merged cells "
            f"{', '.join(_cell_ref(m) for m in header_merges[:5])}) into column "
            f"names such as {_quoted(combined[:3] or names[:3])}"
        )
    if body_merges:
        repairs.append(
            f"gave the value of each merged cell range to all its cells: "
            f"{', '.join(_cell_ref(m) for m in body_merges[:5])}"
            + (f" (+{len(body_merges) - 5} more)" if len(body_merges) > 5 else "")
        )
    refuse_numeric_header(names, name, f"row {top}")
    frame = pd.DataFrame(grid[last:], columns=range(n_cols))
    frame.columns = pd.Index(names)
    return frame


def text_table(df: pd.DataFrame) -> pa.Table:
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
