"""Numbers as people write them: ``$1,200``, ``45%``, ``1.234,56``, ``-``.

:func:`custseg.io._load` reads every CSV column as text and casts it to numbers;
when the plain cast fails, :func:`read_written_numbers` tries these readings,
column by column, with vectorised PyArrow passes (never a Python loop per
cell). A reading applies only when every value of the column fits it, and is
listed as a repair with an example; a column of numbers written in several
ways (dollars and euros, decimal points and commas) is left as text, and the
reason goes to the quality report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custseg.errors import FileFormatError, format_rows

__all__ = [
    "NumberStyle",
    "number_style",
    "NUMBERISH_COMMA",
    "NUMBERISH_POINT",
    "NUMBER_PATTERN",
    "Written",
    "parse_numbers",
    "read_written_numbers",
    "refuse_numeric_header",
    "stray_text",
]

# A plain number, as a cast reads it.
NUMBER_PATTERN = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|inf|infinity|nan)$"
# The rest is RE2 syntax (pyarrow.compute): thousands grouped by ',' or '.', an
# apostrophe or a (non-breaking) space; a decimal point (US) or comma (EU); a
# currency symbol before or after; a percent sign.
_CURRENCIES = "$€£¥₹"
_SPACE = r"[\s\x{00a0}\x{202f}]"
_SPACES = " \t\u00a0\u202f"
_US_GROUP = r"[,'\x{00a0}\x{202f} ]"
_EU_GROUP = r"[.'\x{00a0}\x{202f} ]"
_US_BODY = r"(\d{1,3}(" + _US_GROUP + r"\d{3})+|\d+)(\.\d+)?|\.\d+"
_EU_BODY = r"(\d{1,3}(" + _EU_GROUP + r"\d{3})+|\d+)(,\d+)?"
_US_NUMBER = "^[+-]?(" + _US_BODY + ")$"
_EU_NUMBER = "^[+-]?(" + _EU_BODY + ")$"
# The characters removed as thousands separators, by decimal mark.
_US_SEPARATORS = (",", "'", " ", "\u00a0", "\u202f")
_EU_SEPARATORS = (".", "'", " ", "\u00a0", "\u202f")
# Placeholders read as missing only in a column whose other values are all
# numbers (a dash or a question mark is text in a text column): the usual
# "no value" marks and spreadsheet error values.
_SOFT_NA_VALUES = pa.array(
    [
        "-",
        "--",
        "---",
        "?",
        "??",
        ".",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#NULL!",
        "#N/A",
    ],
    type=pa.string(),
)
# Values looked at before any pass over a whole column.
_SAMPLE = 1000


def _written(body: str, money: str = f"[{_CURRENCIES}]?", percent: str = "%?") -> str:
    """A number whose digits follow ``body``, with an optional sign, currency
    symbol (``money``, before or after) and percent sign."""
    sign, s = "[+-]?", _SPACE
    return f"^{sign}{s}*{money}{s}*{sign}({body}){s}*{percent}{s}*{money}$"


def _numberish(body: str) -> str:
    return "(?i)(" + NUMBER_PATTERN[4:] + ")|(" + _written(body) + ")"


@dataclass(frozen=True)
class NumberStyle:
    """How a column writes its numbers, for an engine that converts them
    itself (DuckDB, in custseg.transactions): ``pattern`` is what a value so
    written matches (RE2, as DuckDB and Arrow read it); removing the
    characters of ``remove`` (a character class) and reading ``decimal`` as
    the decimal point leaves a plain number."""

    pattern: str
    remove: str
    decimal: str


def number_style(values: Sequence[str], decimal_comma: bool) -> NumberStyle | None:
    """The one way every value in ``values`` (a sample, trimmed) writes its
    numbers: a currency symbol, thousands separators, a decimal comma where
    ``decimal_comma`` (not in a comma-delimited file); None if they do not
    read one way.

    Examples
    --------
    >>> number_style(["$1,234.56", "$12.00"], decimal_comma=False).decimal
    '.'
    >>> number_style(["1.234,56 €", "12,5 €"], decimal_comma=True).decimal
    ','
    >>> number_style(["12", "3.5", "-"], decimal_comma=True) is None  # plain
    True
    """
    text = pa.chunked_array([pa.array(list(values), pa.string())])
    # Placeholders (-, ?, #DIV/0!) say nothing of the style, and plain numbers
    # need none (in a ';' file "1.250" is then 1.25, as the loader reads it).
    text = pc.drop_null(pc.filter(text, pc.invert(pc.is_in(text, _SOFT_NA_VALUES))))
    if not len(text) or parse_numbers(text) is not None:
        return None
    for eu in (True, False) if decimal_comma else (False,):
        pattern = _written(_EU_BODY if eu else _US_BODY)
        if pc.all(pc.match_substring_regex(text, pattern)).as_py():
            groups = _EU_SEPARATORS if eu else _US_SEPARATORS
            marks = _CURRENCIES + "%" + "".join(groups)
            remove = "[" + "".join("\\" + c if c in "]\\^-" else c for c in marks)
            remove += r"\s]"
            return NumberStyle(pattern, remove, "," if eu else ".")
    return None


# Anything that reads as a number, in a file with a decimal point only, or
# where a decimal comma is possible.
NUMBERISH_POINT = _numberish(_US_BODY)
NUMBERISH_COMMA = _numberish(_US_BODY + "|" + _EU_BODY)


def parse_numbers(text: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """``text`` cast to int64, else float64, else None."""
    for target in (pa.int64(), pa.float64()):
        try:
            return pc.cast(text, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


@dataclass(frozen=True)
class Written:
    """What :func:`read_written_numbers` made of a column."""

    numbers: pa.ChunkedArray | None
    repairs: list[str]
    checked: pa.ChunkedArray  # the text, placeholders read as missing
    problem: dict[str, Any] | None = None


def read_written_numbers(
    text: pa.ChunkedArray, name: str, decimal_comma: bool
) -> Written:
    """Numbers as people write them: placeholders for missing values (``-``,
    ``?``, ``#DIV/0!``), a currency symbol, a percent sign, thousands
    separators, decimal commas (only where ``decimal_comma``: the file is not
    delimited by commas). The whole column must read one way, or nothing is
    changed: ``problem`` then says why (several currencies, two number formats)
    when every value is a number of some kind.

    ``text`` is trimmed, with the missing-value markers already null. Nothing
    runs over the whole column unless its first thousand values all look like
    such numbers; then one regular expression checks every value, and literal
    replacements make the cast possible.

    Examples
    --------
    >>> col = pa.chunked_array([["$1,200", "-", "$35.50"]])
    >>> read = read_written_numbers(col, "spend", decimal_comma=False)
    >>> read.numbers.to_pylist(), read.repairs[1]
    ([1200.0, None, 35.5], "read 'spend' as numbers: removed the currency symbol '$' and the thousands separators ('$1,200' -> 1200)")
    """
    pattern = NUMBERISH_COMMA if decimal_comma else NUMBERISH_POINT
    sample = pc.drop_null(text.slice(0, _SAMPLE))
    looks = pc.or_(
        pc.match_substring_regex(sample, pattern),
        pc.is_in(sample, value_set=_SOFT_NA_VALUES),
    )
    if len(sample) and not pc.all(looks).as_py():
        return Written(None, [], text)
    soft = pc.fill_null(pc.is_in(text, value_set=_SOFT_NA_VALUES), False)
    n_soft = int(pc.sum(soft).as_py() or 0)
    checked = pc.if_else(soft, None, text) if n_soft else text
    repairs: list[str] = []
    if n_soft:
        rows = np.flatnonzero(soft.to_numpy(zero_copy_only=False)) + 1
        found = pc.unique(pc.filter(text, soft)).to_pylist()
        repairs.append(
            f"treated {n_soft} placeholder value{'s' if n_soft > 1 else ''} "
            f"({', '.join(repr(v) for v in found[:5])}) in '{name}' as missing, "
            f"rows {format_rows(rows.tolist())}"
        )
    if checked.null_count == len(checked):
        empty = pa.chunked_array([pa.nulls(len(checked), pa.float64())])
        return Written(empty, repairs, checked)
    numbers = parse_numbers(checked)
    if numbers is not None:
        return Written(numbers, repairs, checked)
    read = _reformat(checked, name, decimal_comma)
    if read is None:
        return Written(None, [], checked, _diagnose(checked, decimal_comma, pattern))
    numbers, how = read
    return Written(numbers, [*repairs, how], checked)


def _reformat(
    text: pa.ChunkedArray, name: str, decimal_comma: bool
) -> tuple[pa.ChunkedArray, str] | None:
    """The numbers in ``text`` and the repair that says how they were read, or
    None when the column does not read one way (one currency symbol at most,
    a percent sign on every value or on none, one decimal mark).

    The symbols are those of the first values; when the column does not read
    with them, those of the whole column (a "$" first seen in row 5,000).
    """
    sample = pc.drop_null(text.slice(0, _SAMPLE))
    seen = "".join(sample.to_pylist())
    marks = [s for s in _CURRENCIES + "%" if s in seen]
    read = _read_as(text, sample, name, decimal_comma, marks)
    if read is None:
        everywhere = [
            s
            for s in _CURRENCIES + "%"
            if pc.any(pc.fill_null(pc.match_substring(text, s), False)).as_py()
        ]
        if everywhere != marks:
            read = _read_as(text, None, name, decimal_comma, everywhere)
    return read


def _read_as(
    text: pa.ChunkedArray,
    sample: pa.Array | pa.ChunkedArray | None,
    name: str,
    decimal_comma: bool,
    marks: list[str],
) -> tuple[pa.ChunkedArray, str] | None:
    """:func:`_reformat` with the currency symbol and percent sign in ``marks``;
    ``sample`` (when given) rules out a decimal mark before the whole column is
    tried with it."""
    percent = "%" in marks
    symbols = [m for m in marks if m != "%"]
    if len(symbols) > 1 or (symbols and percent):
        return None
    symbol = symbols[0] if symbols else None
    money = f"{re.escape(symbol)}?" if symbol else ""
    for eu in (True, False) if decimal_comma else (False,):
        regex = _written(_EU_BODY if eu else _US_BODY, money, "%" if percent else "")
        if (
            sample is not None
            and not pc.all(pc.match_substring_regex(sample, regex)).as_py()
        ):
            continue
        if pc.all(pc.fill_null(pc.match_substring_regex(text, regex), True)).as_py():
            return _convert(text, name, eu, symbol, percent)
    return None


def _convert(
    text: pa.ChunkedArray, name: str, eu: bool, symbol: str | None, percent: bool
) -> tuple[pa.ChunkedArray, str] | None:
    """Strip what :func:`_reformat` found (every value fits its pattern, so
    plain replacements are safe), cast, and word the repair."""
    plain = text
    removed = []
    if symbol:
        plain = pc.replace_substring(plain, symbol, "")
        removed.append(f"the currency symbol {symbol!r}")
    if percent:
        plain = pc.replace_substring(plain, "%", "")
        removed.append("the percent sign")
    plain = pc.utf8_trim(plain, characters=_SPACES)
    grouped = False
    for separator in _EU_SEPARATORS if eu else _US_SEPARATORS:
        if pc.any(pc.match_substring(plain, separator)).as_py():
            plain = pc.replace_substring(plain, separator, "")
            grouped = True
    if grouped:
        removed.append("the thousands separators")
    decimal = eu and bool(pc.any(pc.match_substring(plain, ",")).as_py())
    if decimal:
        plain = pc.replace_substring(plain, ",", ".")
    numbers = parse_numbers(plain)
    if numbers is None:
        return None
    how = "removed " + " and ".join(removed) if removed else ""
    if percent:
        how += ", keeping the values in percent"
    if decimal:
        how += (", and " if percent else " and " if how else "") + (
            "read ',' as the decimal mark"
        )
    at = pc.index(pc.fill_null(pc.not_equal(text, plain), False), True).as_py()
    if at is not None and at >= 0:
        how += f" ({text[at].as_py()!r} -> {_show(numbers[at].as_py())})"
    return numbers, f"read '{name}' as numbers: {how}"


def _diagnose(
    text: pa.ChunkedArray, decimal_comma: bool, pattern: str
) -> dict[str, Any] | None:
    """Why a column of numbers does not read one way, as a ``mistyped`` entry
    naming the odd values; None when some values are not numbers at all (the
    usual stray-text check then applies). Runs only for such columns."""

    def has(sub: str) -> pa.ChunkedArray:
        return pc.fill_null(pc.match_substring(text, sub), False)

    def matches(regex: str, data: pa.ChunkedArray) -> pa.ChunkedArray:
        return pc.fill_null(pc.match_substring_regex(data, regex), True)

    if not pc.all(matches(pattern, text)).as_py():
        return None
    symbols = [s for s in _CURRENCIES if pc.any(has(s)).as_py()]
    percent = has("%")
    n_percent = int(pc.sum(percent).as_py() or 0)
    present = len(text) - text.null_count
    if symbols and n_percent:
        return _problem(text, percent, "amounts mixed with percentages")
    if len(symbols) > 1:
        counts = {s: int(pc.sum(has(s)).as_py() or 0) for s in symbols}
        main = max(symbols, key=lambda s: counts[s])
        others = [has(s) for s in symbols if s != main]
        bad = others[0]
        for mask in others[1:]:
            bad = pc.or_(bad, mask)
        listing = ", ".join(symbols)
        return _problem(text, bad, f"amounts in different currencies ({listing})")
    if 0 < n_percent < present:
        without = pc.and_(pc.is_valid(text), pc.invert(percent))
        bad = without if 2 * n_percent >= present else percent
        return _problem(text, bad, "some values have a percent sign and some do not")
    stripped = pc.utf8_trim(
        pc.replace_substring_regex(text, f"[{_CURRENCIES}%]", ""), characters=_SPACES
    )
    us_ok = matches(_US_NUMBER, stripped)
    if not decimal_comma:
        problem = _problem(text, pc.invert(us_ok), None)
    else:
        eu_ok = matches(_EU_NUMBER, stripped)
        n_us, n_eu = (int(pc.sum(m).as_py() or 0) for m in (us_ok, eu_ok))
        problem = _problem(
            text,
            pc.invert(eu_ok if n_eu >= n_us else us_ok),
            "numbers written in two formats (decimal point and decimal comma)",
        )
    return problem if problem["count"] else None


def _show(value: float | int | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _problem(
    text: pa.ChunkedArray, bad: pa.ChunkedArray, reason: str | None
) -> dict[str, Any]:
    """A ``mistyped`` entry: the rows (1-based) and first values flagged by
    ``bad``, and why, when it is not simply "not a number"."""
    bad = pc.and_(pc.fill_null(bad, False), pc.is_valid(text))
    idx = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    values = list(dict.fromkeys(text.take(pa.array(idx[:1000])).to_pylist()))
    entry: dict[str, Any] = {
        "rows": [int(i) + 1 for i in idx],
        "values": [str(v) for v in values[:5]],
        "count": len(idx),
    }
    if reason:
        entry["reason"] = reason
    return entry


def stray_text(
    text: pa.ChunkedArray, pattern: str, limit: float
) -> dict[str, Any] | None:
    """A ``mistyped`` entry for the values that are not numbers (by
    ``pattern``), when there are some but at most ``limit`` of them: a numeric
    column with stray text. None otherwise, and as early as it is certain: for a
    text column that is the usual answer, and the regular expression is the
    costly part.

    A column with few distinct values (Gender) is judged by its distinct values
    (one hashing pass, several times cheaper than a regular expression on every
    row); any other column in slices, stopping once there are more than
    ``limit`` non-numbers.
    """
    sample = pc.drop_null(text.slice(0, _SAMPLE))
    if len(sample) and len(pc.unique(sample)) <= 50:
        counts = pc.value_counts(pc.drop_null(text))
        values = counts.field("values")
        not_number = pc.invert(pc.match_substring_regex(values, pattern))
        n_bad = int(pc.sum(pc.filter(counts.field("counts"), not_number)).as_py() or 0)
        if not 0 < n_bad <= limit:
            return None
        found = pc.filter(values, not_number)
        return _problem(text, pc.is_in(text, value_set=found), None)
    masks: list[pa.Array] = []
    n_bad = 0
    step = 1 << 18
    for start in range(0, len(text), step):
        part = pc.match_substring_regex(text.slice(start, step), pattern)
        part = pc.fill_null(part, True)
        n_bad += len(part) - int(pc.sum(part).as_py() or 0)
        if n_bad > limit:
            return None
        masks.extend(pc.invert(part).chunks)
    if not n_bad:
        return None
    return _problem(text, pa.chunked_array(masks, type=pa.bool_()), None)


def refuse_numeric_header(header: list[str], name: str, where: str) -> None:
    """A first row made only of numbers is data, not column names.

    Examples
    --------
    >>> refuse_numeric_header(["id", "2024"], "c.csv", "line 1")
    >>> refuse_numeric_header(["1", "19", "15"], "c.csv", "line 1")
    Traceback (most recent call last):
    ...
    custseg.errors.FileFormatError: c.csv: the first row (line 1) holds only numbers (1, 19, 15), not column names. Add a header row that names the columns, or pass --no-header (and --names to name them).
    """
    cells = [str(h).strip() for h in header]
    filled = [c for c in cells if c]
    if len(filled) >= 2 and len(filled) == len(cells):
        number = re.compile(NUMBER_PATTERN[4:], re.IGNORECASE)
        if all(number.match(c) for c in filled):
            shown = ", ".join(filled[:4]) + (", ..." if len(filled) > 4 else "")
            raise FileFormatError(
                f"the first row ({where}) holds only numbers ({shown}), not column "
                "names",
                path=name,
                hint="Add a header row that names the columns, or pass --no-header "
                "(and --names to name them).",
            )
