"""Plain-language segment names from what sets each segment apart.

Each feature's *effect* is the standardised difference between the segment
and the rest of the customers: for a numeric feature (segment mean - mean of
the other customers) / overall standard deviation, which for a 0/1 flag is the
share difference over sqrt(p(1 - p)); for a category, the same for its most
over-represented value. A *trait* is a feature whose segment mean is at least
``TRAIT_Z`` overall standard deviations from the overall mean (or a category
making up at least ``DOMINANT_SHARE`` of the segment while much rarer
overall); traits are ranked by the size of their effect.

The name is the two strongest traits in words chosen by the column's role
("Older, high income", "Frequent purchases, low cash advance", "Recent,
many web purchases"); two traits with the same adjective share it ("High
income and spending"). No word appears twice in a name: a trait that would
repeat one is passed over for the next. A segment without traits is "Average
... and ..." on tables of up to three numeric features and "Typical
customers" on wider ones. Names are unique within a run: clashing names take
a third trait, then a number. The same rules serve every algorithm and RFM.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from custseg.profile._roles import role_of, short_label

__all__ = [
    "DOMINANT_SHARE",
    "TRAIT_Z",
    "Trait",
    "name_words",
    "segment_traits",
    "unique_names",
]

TRAIT_Z = 0.5
DOMINANT_SHARE = 0.75
Trait = tuple[float, str]  # (strength, phrase)
_GLUE = {"and", "of", "on", "per", "in", "at", "to", "the", "a", "for", "with"}


def _noun(label: str, *drop: str) -> str:
    text = label.lower()
    text = re.sub(r"[\(\[\{].*?[\)\]\}]", " ", text)
    for word in drop:
        text = re.sub(rf"(^|\s){word}(\s|$)", " ", text)
    return " ".join(text.split())


# The words for the behaviour measures custseg itself computes from an order
# log (custseg.transactions): (higher than the rest, lower than the rest).
OWN_MEASURES: dict[str, tuple[str, str]] = {
    "trend_90d": ("buying more lately", "slowing down"),
    "interval_cv": ("irregular orders", "regular orders"),
    "weekend_share": ("weekend shoppers", "weekday shoppers"),
    "items_per_order": ("big baskets", "small baskets"),
    "distinct_products": ("wide range of products", "narrow range of products"),
    "return_rate": ("often returns", "rarely returns"),
    "discount_share": ("buys on discount", "pays full price"),
    "avg_order_value": ("big orders", "small orders"),
    "purchase_interval_days": ("long gaps between orders", "short gaps between orders"),
    "n_categories": ("many categories", "few categories"),
}


def numeric_phrase(
    column: str,
    z: float,
    role: str | None = None,
    label: str | None = None,
    mean: float | None = None,
) -> str:
    """The words for a numeric trait, by the column's role.

    A share of spend on one thing (role ``share``, label ``spend on ...``)
    says so with the segment's share when it is the most of their spend
    (``mean``).

    Examples
    --------
    >>> numeric_phrase("Age", 1.0), numeric_phrase("NumWebPurchases", 1.0, "count")
    ('older', 'many web purchases')
    >>> numeric_phrase("PURCHASES_FREQUENCY", -1.0, "frequency")
    'rare purchases'
    >>> numeric_phrase("share_toys", 1.2, "share", "spend on toys", mean=0.62)
    'buys mostly toys (62% of spend)'
    >>> numeric_phrase("trend_90d", -0.8)
    'slowing down'
    """
    role = role or role_of(column)
    high = z > 0
    if column in OWN_MEASURES:
        return OWN_MEASURES[column][0 if high else 1]
    if role == "share" and label and label.lower().startswith("spend on "):
        thing = label[len("spend on ") :]
        if high and mean is not None and mean >= 0.5:
            return f"buys mostly {thing} ({mean:.0%} of spend)"
        return f"{'more' if high else 'little'} {thing}"
    if role == "age":
        return "older" if high else "younger"
    if role == "birth_year":
        return "younger" if high else "older"
    if role == "recency":  # more days since the last purchase
        return "lapsed" if high else "recent"
    if role == "tenure":
        return "long-standing" if high else "newer"
    if label is None:
        from custseg.quality import readable_label

        label = readable_label(column)
    if role == "frequency":
        noun = _noun(label, "frequency", "rate")
        if not noun:
            return "frequent" if high else "infrequent"
        if noun.endswith("s"):
            return f"{'frequent' if high else 'rare'} {noun}"
        return f"{'high' if high else 'low'} {_noun(label)}"
    if role == "count":
        noun = re.sub(r"^(number|count) of ", "", _noun(label))
        noun = re.sub(r" (count|number)$", "", noun)
        if not noun or noun in {"count", "number", "quantity"}:
            return f"{'high' if high else 'low'} {_noun(label) or short_label(column)}"
        return f"{'many' if high else 'few'} {noun}"
    if role == "flag":
        noun = re.sub(r"^(is|has|was|did) ", "", _noun(label))
        return f"{'often' if high else 'rarely'} {noun}"
    if role in {"income", "spend"}:
        short = short_label(column)
        if short in {"income", "spending"}:
            return f"{'high' if high else 'low'} {short}"
    return f"{'high' if high else 'low'} {_noun(label) or short_label(column)}"


def segment_traits(
    z: Mapping[str, float],
    categories: Mapping[str, Mapping[str, float]],
    overall_categories: Mapping[str, Mapping[str, float]],
    threshold: float = TRAIT_Z,
    roles: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    means: Mapping[str, float] | None = None,
) -> list[Trait]:
    """Traits of one segment, strongest first.

    Examples
    --------
    >>> segment_traits({"Annual Income (k$)": 1.2, "Spending Score (1-100)": -1.4}, {}, {})
    [(1.4, 'low spending'), (1.2, 'high income')]
    """
    roles = roles or {}
    labels = labels or {}
    traits: list[Trait] = []
    for col, value in z.items():
        if not math.isnan(value) and abs(value) >= threshold:
            phrase = numeric_phrase(
                col, value, roles.get(col), labels.get(col), (means or {}).get(col)
            )
            traits.append((abs(value), phrase))
    for col, shares in categories.items():
        for category, share in shares.items():
            base = overall_categories.get(col, {}).get(category, 0.0)
            if share >= DOMINANT_SHARE and base < share - 0.15 and 0 < base < 1:
                strength = (share - base) / math.sqrt(base * (1 - base))
                traits.append((strength, f"mostly {category}"))
    traits.sort(key=lambda t: (-t[0], t[1]))
    return traits


def name_words(name: str) -> list[str]:
    """The content words of a name (lower case, without glue words and the
    ``(2)`` of a repeated name), for the no-repeated-word rule.

    Examples
    --------
    >>> name_words("High income and spending (2)")
    ['high', 'income', 'spending']
    """
    text = re.sub(r"\(\d+\)$", "", name.lower())
    words = re.findall(r"[\w$%€£'-]+", text)
    return [w for w in words if w not in _GLUE]


def _join(phrases: Sequence[str]) -> str:
    """Phrases with the same adjective share it: 'high income' + 'high
    spending' + 'older' -> 'high income and spending, older'."""
    groups: list[tuple[str, list[str]]] = []
    for phrase in phrases:
        adjective, _, rest = phrase.partition(" ")
        for word, rests in groups:
            if rest and word == adjective and rests[0]:
                rests.append(rest)
                break
        else:
            groups.append((adjective, [rest]))
    parts = []
    for word, rests in groups:
        if len(rests) == 1:
            parts.append(f"{word} {rests[0]}".strip())
        else:
            parts.append(f"{word} {', '.join(rests[:-1])} and {rests[-1]}")
    return ", ".join(parts)


def _phrase_rank(phrase: str) -> int:
    """Age, recency, tenure, frequency, income, spending, others, categories."""
    if phrase in {"younger", "older", "young"}:
        return 0
    if phrase in {"recent", "lapsed"}:
        return 1
    if phrase in {"long-standing", "newer"}:
        return 2
    if phrase in {"frequent", "infrequent"}:
        return 3
    if phrase.endswith(" income"):
        return 4
    if phrase.endswith(" spending"):
        return 5
    return 7 if phrase.startswith("mostly ") else 6


# A trait joins the name only if it is at least this share of the strongest
# one: a segment that stands out on one feature is named by that feature,
# not by the small differences the other segments leave it with.
SECOND_TRAIT_SHARE = 0.5


def _pick(traits: Sequence[Trait], n: int) -> list[str]:
    """Up to ``n`` phrases, strongest first, skipping any that would repeat a
    word of the ones already taken."""
    chosen: list[str] = []
    top = traits[0][0] if traits else 0.0
    for strength, phrase in traits:
        if len(chosen) == n or strength < SECOND_TRAIT_SHARE * top:
            break
        trial = sorted([*chosen, phrase], key=_phrase_rank)
        words = name_words(_join(trial))
        if len(words) == len(set(words)):
            chosen.append(phrase)
    return sorted(chosen, key=_phrase_rank)


def _compose(
    traits: Sequence[Trait], n: int, fallback_columns: Sequence[str], wide: bool
) -> str:
    phrases = _pick(traits, n)
    if phrases:
        text = _join(phrases)
    elif wide:
        text = "typical customers"
    else:
        labels = list(dict.fromkeys(short_label(c) for c in fallback_columns[:2]))
        text = "average " + " and ".join(labels) if labels else "typical customers"
    return text[:1].upper() + text[1:]


def unique_names(
    traits: Sequence[Sequence[Trait]],
    fallback_columns: Sequence[str],
    *,
    wide: bool = False,
) -> list[str]:
    """One name per segment, unique within the run; ``wide`` tables (more than
    three numeric features) call a segment without traits "Typical customers".

    Examples
    --------
    >>> unique_names([[(1.0, "high income")], [(1.0, "high income")]], ["Age"])
    ['High income', 'High income (2)']
    """
    names = [_compose(t, 2, fallback_columns, wide) for t in traits]
    clashes = {n for n in names if names.count(n) > 1}
    if clashes:
        names = [
            _compose(t, 3, fallback_columns, wide) if n in clashes else n
            for n, t in zip(names, traits, strict=True)
        ]
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return result
