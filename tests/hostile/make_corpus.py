"""Write the hostile-input corpus: customer tables as they arrive in real life.

Each file is one way a table can go wrong: encodings, delimiters, quoting,
numbers written for people, missing-value markers, broken structure, files that
are not tables at all. ``cases.toml`` says what custseg must do with each one,
and ``tests/test_hostile.py`` runs every case through ``custseg run``.

The small text files are checked in under ``files/`` so that a person can open
them; this script writes them (``python tests/hostile/make_corpus.py``), and
``--check`` exits with status 1 when a checked-in file differs from what it
would write. The binary and large files (workbooks, archives, images, 5,000
columns, 100,000-character cells) are written at test time by
:func:`write_generated` into a temporary folder. The contents are
deterministic (random bytes come from a seeded generator, archives carry fixed
dates); only the save time openpyxl stamps on a workbook differs.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"

# The first twelve customers of the mall customers data (Kaggle), the table
# most cases are built from.
HEADER = ["CustomerID", "Gender", "Age", "Annual Income (k$)", "Spending Score"]
ROWS = [
    [1, "Male", 19, 15, 39],
    [2, "Male", 21, 15, 81],
    [3, "Female", 20, 16, 6],
    [4, "Female", 23, 16, 77],
    [5, "Female", 31, 17, 40],
    [6, "Female", 22, 17, 76],
    [7, "Female", 35, 18, 6],
    [8, "Female", 23, 18, 94],
    [9, "Male", 64, 19, 3],
    [10, "Female", 30, 19, 72],
    [11, "Male", 67, 19, 14],
    [12, "Female", 35, 19, 99],
]
CITIES = [
    "Zürich",
    "Besançon",
    "Łódź",
    "São Paulo",
    "Malmö",
    "Kraków",
    "Córdoba",
    "Reykjavík",
    "Münster",
    "Nîmes",
    "Århus",
    "Sevilla",
]

TEXT: dict[str, Callable[[], bytes]] = {}
GENERATED: dict[str, Callable[[Path], None]] = {}


def text(name: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    """Register a checked-in file: ``make()`` returns its bytes."""

    def register(make: Callable[[], bytes]) -> Callable[[], bytes]:
        TEXT[name] = make
        return make

    return register


def generated(name: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    """Register a file written at test time: ``make(path)`` writes it."""

    def register(make: Callable[[Path], None]) -> Callable[[Path], None]:
        GENERATED[name] = make
        return make

    return register


def lines(rows: Sequence[Sequence[object]], sep: str = ",", end: str = "\n") -> str:
    """Rows joined as they are: no quoting (the cases quote where they mean to)."""
    return "".join(sep.join(str(v) for v in row) + end for row in rows)


def base(sep: str = ",", end: str = "\n") -> str:
    return lines([HEADER, *ROWS], sep, end)


def column(values: Sequence[object], name: str, sep: str = ",") -> str:
    """The base table with one more column at the end."""
    rows = [[*HEADER, name]] + [[*r, v] for r, v in zip(ROWS, values, strict=True)]
    return lines(rows, sep)


# -- empty and nearly empty --------------------------------------------------


@text("empty.csv")
def _empty() -> bytes:
    return b""


@text("header_only.csv")
def _header_only() -> bytes:
    return lines([HEADER]).encode()


@text("blank_lines_only.csv")
def _blank_lines_only() -> bytes:
    return b"\n\n   \n\t\n\r\n\n"


@text("leading_blank_lines.csv")
def _leading_blank_lines() -> bytes:
    return ("\n\n  \n" + base()).encode()


@text("one_row.csv")
def _one_row() -> bytes:
    return lines([HEADER, ROWS[0]]).encode()


@text("two_rows.csv")
def _two_rows() -> bytes:
    return lines([HEADER, *ROWS[:2]]).encode()


@text("three_rows.csv")
def _three_rows() -> bytes:
    return lines([HEADER, *ROWS[:3]]).encode()


# -- encodings -----------------------------------------------------------------


def cities(sep: str = ",") -> str:
    rows = [["CustomerID", "City", "Age", "Spending Score"]]
    rows += [[r[0], c, r[2], r[4]] for r, c in zip(ROWS, CITIES, strict=True)]
    return lines(rows, sep)


@text("utf8_bom.csv")
def _utf8_bom() -> bytes:
    return cities().encode("utf-8-sig")


@text("latin1.csv")
def _latin1() -> bytes:
    rows = [["CustomerID", "Name", "Age", "Spending Score"]]
    names = ["José", "Müller", "Françoise", "Øyvind", "Ñuñez", "Zoë"] * 2
    rows += [[r[0], n, r[2], r[4]] for r, n in zip(ROWS, names, strict=True)]
    return lines(rows).encode("latin-1")


@text("cp1252_euro.csv")
def _cp1252_euro() -> bytes:
    # A German Excel export: semicolons, decimal commas, the euro sign after the
    # amount, and typographic quotes in a text column, in Windows-1252.
    rows = [["Kundennr", "Name", "Alter", "Umsatz"]]
    amounts = ["1.234,56 €", "99,90 €", "0,50 €", "12.000,00 €", "45,00 €", "7,25 €"]
    names = ["„Meier“", "Schröder", "Weiß", "Groß", "Jäger", "Bäcker"]
    rows += [[r[0], names[i % 6], r[2], amounts[i % 6]] for i, r in enumerate(ROWS)]
    return lines(rows, ";").encode("cp1252")


@text("utf16le_bom.txt")
def _utf16le_bom() -> bytes:
    # Excel's "Unicode Text" export: UTF-16 little-endian with a BOM, tabs.
    return b"\xff\xfe" + cities("\t").encode("utf-16-le")


@text("utf16be_bom.csv")
def _utf16be_bom() -> bytes:
    return b"\xfe\xff" + cities().encode("utf-16-be")


@text("utf16le_no_bom.csv")
def _utf16le_no_bom() -> bytes:
    return cities().encode("utf-16-le")


# -- delimiters and quoting ------------------------------------------------------


@text("semicolon.csv")
def _semicolon() -> bytes:
    return base(";").encode()


@text("tab.tsv")
def _tab() -> bytes:
    return base("\t").encode()


@text("pipe.csv")
def _pipe() -> bytes:
    return base("|").encode()


@text("fixed_width.txt")
def _fixed_width() -> bytes:
    # A report export: columns at fixed positions, names with spaces over
    # right-aligned numbers, a blank cell where runs of spaces would shift
    # every value after it.
    widths = (12, 8, 5, 20, 16)
    out = ["".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
    for row in ROWS:
        cells = [str(v) for v in row]
        if row[0] == 4:
            cells[2] = ""
        out.append(
            cells[0].ljust(12)
            + cells[1].ljust(8)
            + cells[2].rjust(3).ljust(5)
            + cells[3].rjust(6).ljust(20)
            + cells[4].rjust(6)
        )
    return ("\n".join(out) + "\n").encode()


@text("cdnow_master.txt")
def _cdnow_master() -> bytes:
    # The CDNOW master file as published: customer, YYYYMMDD date, CDs bought
    # and dollars spent, split by runs of spaces, no header line.
    rows = [
        ("00001", "19970101", 1, "11.77"),
        ("00002", "19970112", 1, "12.00"),
        ("00002", "19970112", 5, "77.00"),
        ("00003", "19970102", 2, "20.76"),
        ("00003", "19970330", 2, "20.76"),
        ("00004", "19970101", 2, "29.33"),
        ("00004", "19970118", 2, "29.73"),
        ("00005", "19970101", 1, "13.97"),
        ("00005", "19970114", 1, "12.00"),
        ("00006", "19970101", 4, "63.36"),
    ]
    return "".join(f"{c} {d} {n:>2} {a:>7}\n" for c, d, n, a in rows).encode()


@text("sep_hint.csv")
def _sep_hint() -> bytes:
    return ("sep=;\r\n" + base(";", "\r\n")).encode()


@text("semicolon_commas_in_text.csv")
def _semicolon_commas_in_text() -> bytes:
    rows = [["CustomerID", "Name", "Age", "Spending Score"]]
    rows += [[r[0], f"Smith, J{i}, Jr", r[2], r[4]] for i, r in enumerate(ROWS)]
    return lines(rows, ";").encode()


@text("quoted_embedded.csv")
def _quoted_embedded() -> bytes:
    out = ["CustomerID,Name,Note,Age,Spending Score\n"]
    for r in ROWS:
        note = f'"said ""hi, there""\nthen left ({r[0]})"' if r[0] % 3 == 0 else "ok"
        out.append(f'{r[0]},"Doe, Jane {r[0]}",{note},{r[2]},{r[4]}\n')
    return "".join(out).encode()


@text("mixed_line_endings.csv")
def _mixed_line_endings() -> bytes:
    rows = [HEADER, *ROWS]
    ends = ["\r\n", "\n", "\r"]
    return "".join(
        ",".join(str(v) for v in row) + ends[i % 3] for i, row in enumerate(rows)
    ).encode()


@text("header_newline.csv")
def _header_newline() -> bytes:
    rows = [['"Customer\nID"', "Gender", "Age", '"Annual\r\nIncome"', "Spending Score"]]
    return lines(rows + ROWS).encode()


@text("trailing_empty.csv")
def _trailing_empty() -> bytes:
    # Excel saves a formatted-but-empty area as trailing delimiters and rows.
    rows = [[*HEADER, "", "", ""]] + [[*r, "", "", ""] for r in ROWS]
    rows += [[""] * 8, [""] * 8]
    return lines(rows).encode()


@text("short_blank_lines.csv")
def _short_blank_lines() -> bytes:
    # Lines of spaces, of a few delimiters, and of NUL padding (a writer that
    # crashed): too few fields, and nothing in them.
    rows = [",".join(str(v) for v in r) for r in [HEADER, *ROWS]]
    rows[4:4] = ["   "]
    rows[9:9] = [",,"]
    return ("\n".join(rows) + "\n\x00\x00\x00\x00\n").encode()


@text("repeated_header.csv")
def _repeated_header() -> bytes:
    # Two exports pasted together: the second one's header is now a row.
    return lines([HEADER, *ROWS[:6], HEADER, *ROWS[6:]]).encode()


@text("whitespace_cells.csv")
def _whitespace_cells() -> bytes:
    rows = [HEADER] + [list(r) for r in ROWS]
    rows[3][2] = "   "
    rows[5][1] = "\t "
    rows[7][4] = "  81  "
    return lines(rows).encode()


@text("pandas_index.csv")
def _pandas_index() -> bytes:
    # DataFrame.to_csv() without index=False: an unnamed first column 0..n-1.
    return lines([["", *HEADER]] + [[i, *r] for i, r in enumerate(ROWS)]).encode()


@text("duplicate_columns.csv")
def _duplicate_columns() -> bytes:
    rows = [[*HEADER, "Age", "Spending Score"]]
    rows += [[*r, r[2] + 1, r[4] // 2] for r in ROWS]
    return lines(rows).encode()


@text("long_emoji_names.csv")
def _long_emoji_names() -> bytes:
    money = ("Annual income in thousands of dollars 💰 as reported " * 3)[:99] + "💰"
    spend = ("Spending score from the loyalty programme 🛒 one to hundred " * 2)[
        :99
    ] + "🛒"
    rows = [["CustomerID", money, spend]] + [[r[0], r[3], r[4]] for r in ROWS]
    return lines(rows).encode()


# -- numbers written for people --------------------------------------------------


@text("decimal_comma.csv")
def _decimal_comma() -> bytes:
    amounts = ["1.234,56", "12,5", "0,99", "10.000,00", "250,1", "3,75"] * 2
    return column(amounts, "Umsatz", ";").encode()


@text("thousands_quoted.csv")
def _thousands_quoted() -> bytes:
    income = ['"1,234"', '"15,000"', "950", '"2,500"', '"1,000,000"', "12"] * 2
    return column(income, "Income").encode()


@text("thousands_ambiguous.csv")
def _thousands_ambiguous() -> bytes:
    values = ['"1,234"', '"15,000"', "950", '"2,500"', "812", "12"] * 2
    values[4] = '"12,5"'  # a decimal comma in a comma-delimited file
    return column(values, "Income").encode()


@text("currency.csv")
def _currency() -> bytes:
    usd = ['"$1,200"', "-$45.50", "$0", '"$12,345.67"', "$99", "$5"] * 2
    eur = ["€ 30", "€ 12.50", "€ 0", "€ 1", "€ 250", "€ 7"] * 2
    gbp = ["£5", "£12.99", "£0.50", "£100", "£3", "£42"] * 2
    rows = [["CustomerID", "Age", "Spend USD", "Spend EUR", "Spend GBP"]]
    rows += [
        [r[0], r[2], u, e, g] for r, u, e, g in zip(ROWS, usd, eur, gbp, strict=True)
    ]
    return lines(rows).encode()


@text("currency_mixed.csv")
def _currency_mixed() -> bytes:
    spend = ["$120", "$80", "€95", "$60", "$20", "€15"] * 2
    return column(spend, "Spend").encode()


@text("percent.csv")
def _percent() -> bytes:
    discount = ["45%", "12.5 %", "0%", "100%", "7%", "33.3%"] * 2
    return column(discount, "Discount").encode()


@text("french_numbers.csv")
def _french_numbers() -> bytes:
    # French Excel: semicolons, non-breaking spaces between thousands,
    # decimal commas, and percentages with a space before the sign.
    nbsp, nnbsp = "\u00a0", "\u202f"
    amount = [
        f"1{nbsp}234,56",
        "12,5",
        f"10{nnbsp}000",
        "0,99",
        f"2{nbsp}500,00",
        "7",
    ] * 2
    rate = [f"12,5{nbsp}%", "3 %", "0 %", "100 %", "45,25 %", "8 %"] * 2
    rows = [["Client", "Âge", "Montant", "Taux"]]
    rows += [[r[0], r[2], a, t] for r, a, t in zip(ROWS, amount, rate, strict=True)]
    return lines(rows, ";").encode()


@text("huge_ids.csv")
def _huge_ids() -> bytes:
    rows = [["CustomerID", "Age", "Spending Score"]]
    rows += [[f"{98765432109876543210 + r[0]}", r[2], r[4]] for r in ROWS]
    return lines(rows).encode()


# -- missing values and odd columns ----------------------------------------------


@text("na_markers.csv")
def _na_markers() -> bytes:
    rows = [HEADER] + [list(r) for r in ROWS]
    rows[2][2] = "N/A"
    rows[4][2] = "-"
    rows[6][2] = "?"
    rows[8][2] = ""
    rows[10][4] = "-"
    return lines(rows).encode()


@text("excel_errors.csv")
def _excel_errors() -> bytes:
    spend = ["12.5", "#DIV/0!", "7", "#VALUE!", "3.25", "#N/A"] * 2
    return column(spend, "Spend per Visit").encode()


@text("mostly_numeric.csv")
def _mostly_numeric() -> bytes:
    rows = [HEADER] + [list(r) for r in ROWS]
    rows[5][2] = "unknown"
    return lines(rows).encode()


@text("all_missing_column.csv")
def _all_missing_column() -> bytes:
    return column([""] * 12, "Notes").encode()


@text("constant_column.csv")
def _constant_column() -> bytes:
    return column(["DE"] * 12, "Country").encode()


@text("inf_and_huge.csv")
def _inf_and_huge() -> bytes:
    values = ["3.5", "inf", "2.25", "1e308", "4", "-inf"] + ["1.5", "2", "3"] * 2
    return column(values, "Balance").encode()


@text("negative_ages.csv")
def _negative_ages() -> bytes:
    rows = [HEADER] + [list(r) for r in ROWS]
    rows[1][2] = -1
    rows[9][2] = -30
    return lines(rows).encode()


@text("duplicate_ids.csv")
def _duplicate_ids() -> bytes:
    rows = [[*r] for r in ROWS] + [[r[0] + 12, *r[1:]] for r in ROWS[:8]]
    rows[15][0] = 7  # customer 7 twice
    return lines([HEADER, *rows]).encode()


@text("all_text_categorical.csv")
def _all_text_categorical() -> bytes:
    regions = ["North", "South", "East", "West"]
    plans = ["basic", "premium", "basic", "family"]
    channels = ["web", "store", "app"]
    rows = [["Gender", "Region", "Plan", "Channel"]]
    rows += [
        [r[1], regions[i % 4], plans[(i // 2) % 4], channels[i % 3]]
        for i, r in enumerate(ROWS)
    ]
    return lines(rows).encode()


@text("all_free_text.csv")
def _all_free_text() -> bytes:
    rows = [["Name", "Email", "Comment"]]
    rows += [
        [f"Customer {r[0]}", f"c{r[0]}@example.com", f"visited on day {r[0] * 7}"]
        for r in ROWS
    ]
    return lines(rows).encode()


@text("only_ids.csv")
def _only_ids() -> bytes:
    rows = [["CustomerID", "Email"]]
    rows += [[r[0], f"c{r[0]}@example.com"] for r in ROWS]
    return lines(rows).encode()


# -- broken structure ------------------------------------------------------------


@text("truncated_fields.csv")
def _truncated_fields() -> bytes:
    return (base() + "13,Fem").encode()


@text("unterminated_quote.csv")
def _unterminated_quote() -> bytes:
    return (base() + '13,Female,35,20,"4').encode()


@text("unterminated_quote_middle.csv")
def _unterminated_quote_middle() -> bytes:
    rows = [",".join(str(v) for v in r) for r in [HEADER, *ROWS]]
    rows[5] = '5,"Female,31,17,40'
    return ("\n".join(rows) + "\n").encode()


@text("ragged_middle.csv")
def _ragged_middle() -> bytes:
    rows = [",".join(str(v) for v in r) for r in [HEADER, *ROWS]]
    rows[4] = "4,Female,23,16,77,extra"
    return ("\n".join(rows) + "\n").encode()


@text("title_line.csv")
def _title_line() -> bytes:
    return ("Customer export, all stores\n" + base()).encode()


@text("no_header.csv")
def _no_header() -> bytes:
    # Gender as a code, so that every cell of the first line is a number.
    return lines([[r[0], 1 + (r[1] == "Female"), *r[2:]] for r in ROWS]).encode()


@text("nul_bytes.csv")
def _nul_bytes() -> bytes:
    data = cities().encode()
    data = data.replace(b"Malm\xc3\xb6", b"Malm\x00\xc3\xb6")
    return data.replace(b"\n6,", b"\n6\x00,").replace(b",72\n", b",7\x002\n")


# -- not tables at all -----------------------------------------------------------


@text("json_named.csv")
def _json_named() -> bytes:
    records = [dict(zip(HEADER, r, strict=True)) for r in ROWS[:3]]
    return json.dumps(records, indent=2).encode()


@text("html_named.csv")
def _html_named() -> bytes:
    return (
        b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
        b"<body><form>Please sign in to download customers.csv</form></body></html>\n"
    )


@generated("random_bytes.csv")
def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(20240611).randbytes(4096))


@generated("png_named.csv")
def _png_named(path: Path) -> None:
    # A 1x1 PNG, as a chart exported under the wrong name would be.
    ihdr = b"\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    png = (
        b"\x89PNG\r\n\x1a\n"
        + len(ihdr).to_bytes(4, "big")
        + b"IHDR"
        + ihdr
        + bytes(4)
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    path.write_bytes(png)


@generated("xlsx_named.csv")
def _xlsx_named(path: Path) -> None:
    buffer = io.BytesIO()
    _customer_workbook().save(buffer)
    path.write_bytes(buffer.getvalue())


# -- big ones --------------------------------------------------------------------


@generated("wide_5000_columns.csv")
def _wide(path: Path) -> None:
    rng = random.Random(5000)
    header = ["CustomerID"] + [f"f{i:04d}" for i in range(5000)]
    rows = [[r] + [rng.randint(0, 99) for _ in range(5000)] for r in range(1, 21)]
    path.write_text(lines([header, *rows]))


@generated("long_text_cells.csv")
def _long_text_cells(path: Path) -> None:
    rows = [[*HEADER, "Comment"]]
    for r in ROWS:
        comment = (f"customer {r[0]} wrote: " + "very long feedback " * 6000)[:100_000]
        rows.append([*r, f'"{comment}"'])
    path.write_text(lines(rows))


@generated("ten_megabyte_cell.csv")
def _ten_megabyte_cell(path: Path) -> None:
    # One cell of 10 MB among short notes, and notes of many lines.
    rows = [[*HEADER, "Note", "Memo"]]
    for r in ROWS:
        note = "y" * 10_000_000 if r[0] == 4 else "ok"
        memo = "line\n" * 60 if r[0] % 2 else "short"
        rows.append([*r, note, f'"{memo}"'])
    path.write_text(lines(rows))


@text("one_ulp_column.csv")
def _one_ulp() -> bytes:
    # 1.0 and the next float up: one value with rounding noise.
    rows = [[*HEADER, "Rate"]]
    for r in ROWS:
        rows.append([*r, "1.0000000000000002" if r[0] % 2 else "1.0"])
    return lines(rows).encode()


def _parquet(path: Path, columns: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns_of_rows = zip(*ROWS, strict=True)
    table = pa.table(dict(zip(HEADER, columns_of_rows, strict=True)))
    for name, column in columns.items():
        table = table.append_column(name, column)
    pq.write_table(table, path)


@generated("nested_columns.parquet")
def _nested(path: Path) -> None:
    import pyarrow as pa

    n = len(ROWS)
    _parquet(
        path,
        {
            "Tags": pa.array([["vip", "web"][: i % 3] for i in range(n)]),
            "Address": pa.array([{"city": CITIES[i % 5], "zip": i} for i in range(n)]),
            "Token": pa.array([bytes([i]) * 4 for i in range(n)], pa.binary()),
            "Key": pa.array([bytes(range(i, i + 16)) for i in range(n)], pa.uuid()),
        },
    )


@generated("uint64_and_half_floats.parquet")
def _wide_types(path: Path) -> None:
    import pyarrow as pa

    n = len(ROWS)
    _parquet(
        path,
        {
            "Visits": pa.array([2**63 + i for i in range(n)], pa.uint64()),
            "Score16": pa.array([0.5 * i for i in range(n)], pa.float16()),
        },
    )


# -- compressed and archived -----------------------------------------------------


@generated("customers.csv.gz")
def _gzip(path: Path) -> None:
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(base().encode())


@generated("truncated.csv.gz")
def _truncated_gzip(path: Path) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as fh:
        fh.write(base().encode() * 50)
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) // 2])


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 6, 11, 0, 0, 0))
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)


@generated("customers.zip")
def _zip_one(path: Path) -> None:
    # Zipped on a Mac: the resource-fork entry comes along.
    _zip(
        path,
        {
            "export/customers.csv": base().encode(),
            "__MACOSX/export/._customers.csv": b"\x00\x05\x16\x07",
        },
    )


@generated("two_tables.zip")
def _zip_two(path: Path) -> None:
    _zip(
        path,
        {"customers_2023.csv": base().encode(), "customers_2024.csv": base().encode()},
    )


# -- Excel -----------------------------------------------------------------------


def _customer_workbook() -> Any:
    """A report-style workbook: a title over a two-row header with merged
    cells, a merged region cell over three customers, and two more sheets."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Customers"
    sheet["A1"] = "Customer report, second quarter"
    sheet.merge_cells("A1:F1")
    for col, title in zip(
        "ABCF", ["CustomerID", "Gender", "Age", "Region"], strict=True
    ):
        sheet[f"{col}2"] = title
        sheet.merge_cells(f"{col}2:{col}3")
    sheet["D2"] = "Spend"
    sheet.merge_cells("D2:E2")
    sheet["D3"] = "Online"
    sheet["E3"] = "In store"
    regions = ["North", None, None, "South", "East", "West"] * 2
    for i, r in enumerate(ROWS, start=4):
        sheet.cell(i, 1, r[0])
        sheet.cell(i, 2, r[1])
        sheet.cell(i, 3, r[2])
        sheet.cell(i, 4, r[3] * 10 + 0.5)
        sheet.cell(i, 5, r[4])
        if regions[i - 4]:
            sheet.cell(i, 6, regions[i - 4])
    sheet.merge_cells("F4:F6")
    sheet.merge_cells("F10:F12")
    notes = book.create_sheet("Notes")
    notes["A1"] = "Exported from the CRM; do not edit."
    summary = book.create_sheet("Summary")
    summary.append(["Customers", 12])
    return book


@generated("report_workbook.xlsx")
def _workbook(path: Path) -> None:
    _customer_workbook().save(path)


@generated("empty_first_sheet.xlsx")
def _empty_first_sheet(path: Path) -> None:
    book = _customer_workbook()
    book.move_sheet(book.create_sheet("Cover"), offset=-3)
    book.save(path)


# -- writing ---------------------------------------------------------------------


def write_text(folder: Path = FILES) -> list[Path]:
    """Write the checked-in files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in TEXT.items():
        path = folder / name
        path.write_bytes(make())
        written.append(path)
    return written


def write_generated(folder: Path) -> list[Path]:
    """Write the binary and large files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in GENERATED.items():
        path = folder / name
        make(path)
        written.append(path)
    return written


def stale(folder: Path = FILES) -> list[str]:
    """Checked-in files that differ from what :func:`write_text` writes,
    are missing, or should not be there."""
    problems = [
        name
        for name, make in TEXT.items()
        if not (folder / name).is_file() or (folder / name).read_bytes() != make()
    ]
    extra = {p.name for p in folder.iterdir()} - set(TEXT) if folder.is_dir() else set()
    return problems + sorted(extra)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="only check the checked-in files"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for name in problems:
            print(f"out of date: {name}", file=sys.stderr)
        return 1 if problems else 0
    for path in write_text():
        print(path.relative_to(HERE))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
