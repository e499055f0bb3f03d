"""What a column means to a marketer, guessed from its name.

Names and actions speak of age, recency, frequency, income and spending when
the columns say so ("Annual Income (k$)", "spending_score", "age",
"recency_days", "frequency"); other columns keep their own (cleaned) names.
"""

from __future__ import annotations

import re

__all__ = ["role_of", "short_label"]

_ROLE_PATTERNS = (
    ("age", re.compile(r"(^|[^a-z])age([^a-z]|$)|^age", re.I)),
    (
        "recency",
        re.compile(
            r"recency|days.?since|since.?last|last.?(purchase|visit|order)", re.I
        ),
    ),
    (
        "frequency",
        re.compile(
            r"frequen|^(number.?of.?)?(orders|visits|purchases|transactions)\b"
            r"|(orders|visits|purchases).?per",
            re.I,
        ),
    ),
    ("income", re.compile(r"income|salary|wage|earning|wealth", re.I)),
    (
        "spending",
        re.compile(r"spend|purchase|monetary|revenue|sales|basket|order.?value", re.I),
    ),
)


def role_of(column: str) -> str:
    """``"age"``, ``"recency"``, ``"frequency"``, ``"income"``, ``"spending"``
    or ``"generic"``.

    Examples
    --------
    >>> [role_of(c) for c in ["Age", "Annual Income (k$)", "Spending Score (1-100)", "Milk"]]
    ['age', 'income', 'spending', 'generic']
    >>> [role_of(c) for c in ["recency_days", "frequency", "monetary", "Orders per Year"]]
    ['recency', 'frequency', 'spending', 'frequency']
    """
    for role, pattern in _ROLE_PATTERNS:
        if pattern.search(column):
            return role
    return "generic"


def short_label(column: str) -> str:
    """A short lower-case label for names: units and brackets removed.

    Examples
    --------
    >>> short_label("Annual Income (k$)"), short_label("Spending Score (1-100)")
    ('income', 'spending')
    >>> short_label("Detergents_Paper")
    'detergents paper'
    """
    role = role_of(column)
    if role in {"income", "spending", "age", "recency", "frequency"}:
        return role
    text = re.sub(r"[\(\[\{].*?[\)\]\}]", " ", column)
    text = re.sub(r"[_\-.]+", " ", text)
    return " ".join(text.split()).lower() or column
