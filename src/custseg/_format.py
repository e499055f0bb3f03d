"""Numbers written for people, shared by the report, the notebook display and
the app so that a segment reads the same everywhere."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["by_role", "clip", "compare", "number", "printable", "signed"]


def number(value: Any, decimals: int | None = None) -> str:
    """Fixed decimals when asked, else 4 significant digits (thousands
    separated, whole numbers without a trailing .0); missing or infinite
    values are an empty string.

    Examples
    --------
    >>> number(1295.4), number(55.296), number(81.0), number(0.5, 2), number(None)
    ('1,295', '55.3', '81', '0.50', '')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def signed(z: float) -> str:
    """A z-score with its sign and one decimal: ``+1.2``, ``-0.3``, ``0.0``
    (never ``-0.0``); ``n/a`` when it is missing.

    Examples
    --------
    >>> signed(1.24), signed(-0.04), signed(float("nan"))
    ('+1.2', '0.0', 'n/a')
    """
    if z is None or not math.isfinite(z):
        return "n/a"
    text = f"{z:+.1f}"
    return "0.0" if text in {"+0.0", "-0.0"} else text


_PERCENT_ROLES = {"share", "frequency", "flag"}


def by_role(value: Any, role: str, *, bounded: bool = True) -> str:
    """A feature's value written for its role (see
    :mod:`custseg.quality._roles`): money and counts with separators, shares
    and 0-1 frequencies as %, flags as a % of customers, years as years.
    ``bounded`` says whether a frequency lies between 0 and 1.

    Examples
    --------
    >>> by_role(1295.4, "money"), by_role(0.2869, "share"), by_role(1970.4, "birth_year")
    ('1,295', '29%', '1970')
    >>> by_role(0.62, "flag"), by_role(4.25, "count"), by_role(41.6, "age")
    ('62% of customers', '4.2', '42')
    >>> by_role(0.9965, "frequency", bounded=False), by_role(847.6, "money")
    ('0.997', '848')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    v = float(value)
    if role == "flag":
        return f"{v:.0%} of customers"
    if role in _PERCENT_ROLES and bounded:
        return f"{v:.0%}" if abs(v) >= 0.01 or v == 0 else f"{v:.1%}"
    if role in {"year", "birth_year"}:
        return f"{v:.0f}"
    if role == "age":
        return f"{v:.0f}"
    if role in {"count", "tenure", "recency"}:
        return f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def compare(value: Any, overall: Any, role: str, *, bounded: bool = True) -> str:
    """How a segment's value compares with the average of all customers:
    a ratio for amounts and counts, points for shares, years for ages and
    years, a difference otherwise.

    Examples
    --------
    >>> compare(2300, 1000, "money"), compare(0.52, 0.34, "share"), compare(45, 39, "age")
    ('2.3x avg', '+18 points', '+6 years')
    >>> compare(56, 1000, "spend"), compare(370, 1000, "money")
    ('0.06x avg', '0.37x avg')
    >>> compare(1100, 1000, "spend"), compare(4.0, 4.0, "count")
    ('+10% vs avg', 'as avg')
    """
    try:
        v, o = float(value), float(overall)
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(v) and math.isfinite(o)):
        return ""
    if role in _PERCENT_ROLES and bounded:
        points = round(100 * (v - o))
        return "as avg" if points == 0 else f"{points:+d} points"
    if role in {"age", "year", "birth_year"}:
        years = round(v - o)
        return "as avg" if years == 0 else f"{years:+d} years"
    if role in {"score"} or o <= 0 or v < 0:
        diff = v - o
        text = number(abs(diff))
        return "as avg" if text in {"0", ""} else f"{'+' if diff > 0 else '-'}{text}"
    ratio = v / o
    if ratio >= 1.5 or ratio <= 0.67:
        if ratio >= 10:
            return f"{ratio:,.0f}x avg"
        return f"{ratio:.1f}x avg" if ratio >= 1 else f"{ratio:.2f}x avg"
    pct = round(100 * (ratio - 1))
    return "as avg" if pct == 0 else f"{pct:+d}% vs avg"


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked with an ellipsis.

    Examples
    --------
    >>> clip("Premium household subscription", 12), clip("Gold", 12)
    ('Premium hou…', 'Gold')
    """
    return text if len(text) <= width else text[: width - 1] + "…"


def printable(text: str) -> str:
    r"""``text`` as it can be printed and written as UTF-8: a file name that is
    not valid UTF-8 (its undecodable bytes arrive as lone surrogates) gets
    U+FFFD in their place. For messages and reports; files are opened by
    their real path.

    Examples
    --------
    >>> printable("customers.csv"), printable("bad\udcff.csv")
    ('customers.csv', 'bad\ufffd.csv')
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text
