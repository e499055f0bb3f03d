"""What each column means to a marketer, and a label a person can read.

A column's *role* is guessed from its name and its values, with no table's
names written in: ``MntWines`` is a money amount ("Spend on wines"),
``NumWebPurchases`` a count ("Number of web purchases"),
``PURCHASES_FREQUENCY`` a frequency between 0 and 1, ``Year_Birth`` a birth
year, ``AcceptedCmp1`` a 0/1 flag ("Accepted campaign 1"). The roles decide
how a value is written (money with separators, shares as %, years as years,
flags as a % of customers), which words name a segment, and where a segment
sits on value and engagement for its suggested action. A user overrides any
guess with a small file (``--columns FILE``: column, label, role).

Roles:

========== =========================================================
role       what it is
========== =========================================================
id         an identifier (never a feature)
age        age in years
birth_year a year of birth (a larger year is a younger customer)
year       another calendar year
income     income, salary, wealth
spend      money spent (purchases, revenue, a spending score)
money      other money amounts (balance, credit limit, cash advance)
count      a count of things (orders, transactions, children)
frequency  how often (a rate, or a 0-1 frequency)
share      a ratio or share between 0 and 1 (or a percentage)
recency    days or months since the last purchase or visit
tenure     how long someone has been a customer
flag       a 0/1 yes-or-no column
score      a score or rating
number     any other number
category   a categorical column
========== =========================================================
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ROLES",
    "ColumnRole",
    "check_overrides",
    "describe_columns",
    "guess_role",
    "read_column_file",
    "readable_label",
]

ROLES = (
    "id",
    "age",
    "birth_year",
    "year",
    "income",
    "spend",
    "money",
    "count",
    "frequency",
    "share",
    "recency",
    "tenure",
    "flag",
    "score",
    "number",
    "category",
)

# Abbreviations common in customer tables, expanded word by word.
_ABBREVIATIONS = {
    "mnt": "spend on",
    "num": "number of",
    "nr": "number of",
    "qty": "quantity",
    "amt": "amount",
    "avg": "average",
    "freq": "frequency",
    "trx": "transactions",
    "txn": "transactions",
    "txns": "transactions",
    "tx": "transactions",
    "cnt": "count",
    "pct": "percent",
    "prc": "percent",
    "perc": "percent",
    "dt": "date",
    "cmp": "campaign",
    "yr": "year",
    "yrs": "years",
    "cust": "customer",
    "acct": "account",
    "bal": "balance",
    "tot": "total",
    "oneoff": "one-off",
    "prods": "products",
    "prod": "product",
    "hh": "household",
    "addr": "address",
}
_SMALL_WORDS = {"of", "on", "and", "per", "in", "at", "to", "the", "a", "for", "with"}


def _words(name: str) -> list[str]:
    """Split snake_case, kebab-case, CamelCase and UPPER_CASE into words;
    bracketed units such as ``(k$)`` stay one word."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    text = re.sub(r"([A-Za-z])([0-9])", r"\1 \2", text)
    parts = re.findall(r"[\(\[\{][^\)\]\}]*[\)\]\}]|[^\s_\-.\(\[\{]+", text)
    return [p for p in parts if p]


def readable_label(name: str) -> str:
    """A label a person can read, derived from a column name.

    Examples
    --------
    >>> readable_label("MntWines"), readable_label("NumWebPurchases")
    ('Spend on wines', 'Number of web purchases')
    >>> readable_label("PURCHASES_FREQUENCY"), readable_label("CASH_ADVANCE_TRX")
    ('Purchases frequency', 'Cash advance transactions')
    >>> readable_label("Year_Birth"), readable_label("AcceptedCmp1")
    ('Birth year', 'Accepted campaign 1')
    >>> readable_label("Annual Income (k$)"), readable_label("customer_id")
    ('Annual income (k$)', 'Customer id')
    """
    words = _words(str(name))
    if not words:
        return str(name)
    out: list[str] = []
    for word in words:
        low = word.lower()
        if word[:1] in "([{":
            out.append(word)  # units stay as they are
        elif low in _ABBREVIATIONS:
            out.extend(_ABBREVIATIONS[low].split())
        elif word.isupper() and len(word) <= 3 and len(words) > 1 and low not in {"id"}:
            out.append(word)  # an acronym such as SMS or TV
        else:
            out.append(low)
    joined = " ".join(out)
    joined = re.sub(r"^year (of )?birth\b", "birth year", joined)
    joined = re.sub(r"\bspend on spent\b", "spend", joined)
    joined = re.sub(r"^number of of\b", "number of", joined)
    joined = re.sub(r"^date customer$", "customer since", joined)
    joined = re.sub(r"(\w+s) (month|week|year|day)$", r"\1 per \2", joined)
    return joined[:1].upper() + joined[1:]


def _has(label: str, *patterns: str) -> bool:
    return any(re.search(p, label) for p in patterns)


def _role_from_name(label: str) -> str | None:
    """A role from the label's words alone (lower case), or None."""
    if _has(label, r"\bbirth\b", r"\bborn\b", r"\byob\b"):
        return "birth_year"
    if _has(label, r"\b(to|per) income\b", r"\bratio\b", r"\bchurn", r"\breturn rate"):
        return "share"
    if _has(label, r"^((customer|client|member|person|contact) )?age\b(?! of)"):
        return "age"
    if _has(label, r"\b(account|membership|relationship|customer) age\b"):
        return "tenure"
    if _has(
        label,
        r"recency",
        r"days? since (the )?last",
        r"since (the )?last",
        r"last (purchase|visit|order|transaction)s?( (date|days?))?$",
        r"days? since (purchase|visit|order)",
    ):
        return "recency"
    if _has(label, r"days? since (signup|sign up|joining|registration|first)"):
        return "tenure"
    if _has(
        label,
        r"\btenure\b",
        r"customer since",
        r"member since",
        r"seniority",
        r"(months|years|days) (as|with)",
    ):
        return "tenure"
    if _has(label, r"income", r"salary", r"\bwages?\b", r"earning", r"wealth"):
        return "income"
    if label.startswith("number of "):
        return "count"
    if _has(label, r"frequen", r"\brate\b", r"\bper (day|week|month|year|visit)\b"):
        return "frequency"
    if _has(
        label,
        r"^number of",
        r"\bcount\b",
        r"\bquantity\b",
        r"transactions$",
        r"^(orders|visits|transactions|purchases made)\b",
        r"\bnumber of\b",
    ):
        return "count"
    if _has(label, r"percent", r"\bratio\b", r"\bshare\b", r"proportion", r"fraction"):
        return "share"
    if _has(label, r"\bscore\b", r"rating", r"satisfaction", r"\bnps\b"):
        return "spend" if _has(label, r"spend") else "score"
    if _has(
        label,
        r"spend",
        r"spent",
        r"purchases?\b",
        r"monetary",
        r"revenue",
        r"\bsales\b",
        r"basket",
        r"order value",
    ):
        return "spend"
    if _has(
        label,
        r"balance",
        r"\blimit\b",
        r"credit",
        r"payments?\b",
        r"amount",
        r"\bprice\b",
        r"\bcost\b",
        r"\bcash\b",
        r"\bdebt\b",
        r"\bloan\b",
        r"\bfees?\b",
        r"\bvalue\b",
        r"\(k?\$\)|\(€\)|\(£\)|\beur\b|\busd\b|\bgbp\b",
    ):
        return "money"
    if _has(label, r"\byear\b"):
        return "year"
    return None


def guess_role(
    name: str, values: Any = None, *, kind: str = "numeric", label: str | None = None
) -> str:
    """The role of a column from its name and (optionally) its values.

    ``kind`` is the column's kind from the quality check (``numeric``,
    ``categorical``, ``id``, ...).

    Examples
    --------
    >>> guess_role("MntWines"), guess_role("NumWebPurchases"), guess_role("Age")
    ('spend', 'count', 'age')
    >>> guess_role("Complain", [0, 1, 0, 0]), guess_role("BALANCE_FREQUENCY")
    ('flag', 'frequency')
    >>> guess_role("Year_Birth"), guess_role("TENURE"), guess_role("Usage")
    ('birth_year', 'tenure', 'number')
    >>> guess_role("Annual Income (k$)"), guess_role("Spending Score (1-100)")
    ('income', 'spend')
    """
    if kind == "id":
        return "id"
    if kind not in ("numeric", "flag"):
        return "category"
    label = (label or readable_label(name)).lower()
    arr = None
    if values is not None:
        arr = np.asarray(values, dtype="float64").ravel()
        arr = arr[np.isfinite(arr)]
        if len(arr) and np.isin(arr, (0.0, 1.0)).all() and len(np.unique(arr)) == 2:
            return "flag"
    role = _role_from_name(label)
    if (
        role == "year"
        and arr is not None
        and len(arr)
        and not (np.all(arr == np.round(arr)) and 1800 <= np.median(arr) <= 2200)
    ):
        role = None
    if role is not None:
        return role
    if arr is not None and len(arr) and arr.min() >= 0 and arr.max() <= 1:
        return "share"
    if arr is not None and len(arr):
        whole = bool(np.all(arr == np.round(arr)))
        if whole and arr.min() >= 1900 and arr.max() <= 2100 and np.ptp(arr) < 120:
            return "year"
    return "number"


@dataclass(frozen=True)
class ColumnRole:
    """A column's readable label and role; ``source`` says who set them."""

    name: str
    label: str
    role: str
    source: str = "guessed"  # or "user"

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "label": self.label,
            "role": self.role,
            "source": self.source,
        }


def describe_columns(
    columns: Iterable[tuple[str, str, Any]],
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, ColumnRole]:
    """Roles and labels for ``(name, kind, values)`` triples, with the user's
    ``overrides`` (column -> {"label": ..., "role": ...}) applied."""
    overrides = overrides or {}
    out: dict[str, ColumnRole] = {}
    for name, kind, values in columns:
        given = overrides.get(name, {})
        label = given.get("label") or readable_label(name)
        role = given.get("role") or guess_role(name, values, kind=kind)
        source = "user" if given else "guessed"
        out[name] = ColumnRole(name, label, role, source)
    return out


def check_overrides(
    overrides: Mapping[str, Mapping[str, str]], columns: Iterable[str], source: str
) -> None:
    """Refuse an override naming an unknown role or column."""
    from custseg.errors import MissingColumnError, ParameterError

    known = list(columns)
    for column, given in overrides.items():
        if column not in known:
            raise MissingColumnError([column], known, path=source)
        role = given.get("role")
        if role and role not in ROLES:
            raise ParameterError(
                f"{source}: column {column!r}: unknown role {role!r}; use one of "
                f"{', '.join(ROLES)}"
            )


def read_column_file(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """Read a column file: CSV (``column,label,role``) or YAML (a mapping of
    column to ``{label, role}``, or a list of such records with ``column``).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "c.csv"
    >>> _ = p.write_text("column,label,role\\nMntWines,Wine spend,spend\\n")
    >>> read_column_file(p)
    {'MntWines': {'label': 'Wine spend', 'role': 'spend'}}
    """
    from custseg.errors import FileFormatError, InputError

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: cannot read the column file ({exc})") from exc
    records: list[Mapping[str, Any]]
    if path.suffix.lower() in {".yaml", ".yml"}:
        import yaml

        try:
            # Every scalar as text: a column named No, On or 007 stays that
            # name (YAML 1.1 would read False, True and 7).
            data = yaml.load(text, Loader=yaml.BaseLoader) or {}
        except yaml.YAMLError as exc:
            raise FileFormatError(f"{path}: not valid YAML ({exc})") from exc
        if isinstance(data, Mapping):
            records = [
                {"column": k, **(v if isinstance(v, Mapping) else {"label": v})}
                for k, v in data.items()
            ]
        elif isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
            records = data
        else:
            raise FileFormatError(
                f"{path}: expected a mapping of column to label and role"
            )
    else:
        reader = csv.DictReader(text.splitlines())
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "column" not in fields:
            raise FileFormatError(
                f"{path}: the first line must name the fields: column,label,role"
            )
        records = [
            {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            for row in reader
        ]
    out: dict[str, dict[str, str]] = {}
    for i, record in enumerate(records, start=2):
        column = str(record.get("column") or "").strip()
        if not column:
            raise FileFormatError(f"{path}: entry {i - 1} has no column name")
        entry = {
            key: str(record[key]).strip()
            for key in ("label", "role")
            if record.get(key) not in (None, "")
            and not (isinstance(record.get(key), float) and math.isnan(record[key]))
        }
        out[column] = entry
    return out
