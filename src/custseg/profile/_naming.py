"""Plain-language segment names derived from each segment's profile.

A *trait* is a feature on which a segment stands out: a numeric feature whose
segment mean is at least ``TRAIT_Z`` overall standard deviations from the
overall mean, or a category that makes up at least ``DOMINANT_SHARE`` of the
segment while being much rarer overall. The name is the two strongest traits
("High income, low spending"); a segment without traits is "Average ...".
Names are unique within a run: clashing names take a third trait, then a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from custseg.profile._roles import role_of, short_label

__all__ = ["DOMINANT_SHARE", "TRAIT_Z", "Trait", "segment_traits", "unique_names"]

TRAIT_Z = 0.5
DOMINANT_SHARE = 0.75
Trait = tuple[float, str]  # (strength, phrase)


def _numeric_phrase(column: str, z: float) -> str:
    role = role_of(column)
    if role == "age":
        return "older" if z > 0 else "young"
    if role == "recency":  # more days since the last purchase
        return "lapsed" if z > 0 else "recent"
    if role == "frequency":
        return "frequent" if z > 0 else "infrequent"
    return f"{'high' if z > 0 else 'low'} {short_label(column)}"


def segment_traits(
    z: Mapping[str, float],
    categories: Mapping[str, Mapping[str, float]],
    overall_categories: Mapping[str, Mapping[str, float]],
    threshold: float = TRAIT_Z,
) -> list[Trait]:
    """Traits of one segment, strongest first.

    Examples
    --------
    >>> segment_traits({"Annual Income (k$)": 1.2, "Spending Score (1-100)": -1.4}, {}, {})
    [(1.4, 'low spending'), (1.2, 'high income')]
    """
    traits: list[Trait] = []
    for col, value in z.items():
        if not math.isnan(value) and abs(value) >= threshold:
            traits.append((abs(value), _numeric_phrase(col, value)))
    for col, shares in categories.items():
        for category, share in shares.items():
            base = overall_categories.get(col, {}).get(category, 0.0)
            if share >= DOMINANT_SHARE and base < share - 0.15 and 0 < base < 1:
                strength = (share - base) / math.sqrt(base * (1 - base))
                traits.append((strength, f"mostly {category}"))
    traits.sort(key=lambda t: (-t[0], t[1]))
    return traits


def _compose(traits: Sequence[Trait], n: int, fallback_columns: Sequence[str]) -> str:
    if not traits:
        labels = list(dict.fromkeys(short_label(c) for c in fallback_columns[:2]))
        text = "average " + " and ".join(labels) if labels else "average customers"
    else:
        text = ", ".join(sorted((p for _, p in traits[:n]), key=_phrase_rank))
    return text[:1].upper() + text[1:]


def _phrase_rank(phrase: str) -> int:
    """Age, recency, frequency, income, spending, other features, categories."""
    if phrase in {"young", "older"}:
        return 0
    if phrase in {"recent", "lapsed"}:
        return 1
    if phrase in {"frequent", "infrequent"}:
        return 2
    if phrase.endswith(" income"):
        return 3
    if phrase.endswith(" spending"):
        return 4
    return 6 if phrase.startswith("mostly ") else 5


def unique_names(
    traits: Sequence[Sequence[Trait]], fallback_columns: Sequence[str]
) -> list[str]:
    """One name per segment, unique within the run.

    Examples
    --------
    >>> unique_names([[(1.0, "high income")], [(1.0, "high income")]], ["Age"])
    ['High income', 'High income (2)']
    """
    names = [_compose(t, 2, fallback_columns) for t in traits]
    clashes = {n for n in names if names.count(n) > 1}
    if clashes:
        names = [
            _compose(t, 3, fallback_columns) if n in clashes else n
            for n, t in zip(names, traits, strict=True)
        ]
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return result
