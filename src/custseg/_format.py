"""Numbers written for people, shared by the report, the notebook display and
the app so that a segment reads the same everywhere."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["number", "signed"]


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
