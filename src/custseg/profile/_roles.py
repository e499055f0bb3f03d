"""Roles from a column's name alone, and the short words names use.

The full guess, from names and values, with user overrides, is
:mod:`custseg.quality._roles`; this is its name-only form for callers that
have no values (an old model's profiles, a doctest).
"""

from __future__ import annotations

import re

from custseg.quality import guess_role, readable_label

__all__ = ["role_of", "short_label"]


def role_of(column: str) -> str:
    """The role of a column from its name (see :mod:`custseg.quality._roles`).

    Examples
    --------
    >>> [role_of(c) for c in ["Age", "Annual Income (k$)", "Spending Score (1-100)", "Milk"]]
    ['age', 'income', 'spend', 'number']
    >>> [role_of(c) for c in ["recency_days", "frequency", "monetary", "Orders per Year"]]
    ['recency', 'frequency', 'spend', 'frequency']
    """
    return guess_role(column)


def short_label(column: str) -> str:
    """A short lower-case label for names: units and brackets removed, and
    the marketing word for income, spending, age, recency and frequency.

    Examples
    --------
    >>> short_label("Annual Income (k$)"), short_label("Spending Score (1-100)")
    ('income', 'spending')
    >>> short_label("Detergents_Paper"), short_label("MntWines")
    ('detergents paper', 'spend on wines')
    """
    role = role_of(column)
    label = readable_label(column).lower()
    if role == "income":
        return "income"
    if role == "spend" and re.search(r"spending|monetary|^spend$", label):
        return "spending"
    if role in {"age", "recency"} or label == "frequency":
        return role
    text = re.sub(r"[\(\[\{].*?[\)\]\}]", " ", label)
    return " ".join(text.split()) or column
