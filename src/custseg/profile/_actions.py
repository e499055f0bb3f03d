"""Suggested marketing actions, chosen by documented grids (docs/segments.md).

Each segment is placed, from its z-scores (segment mean minus overall mean,
in overall standard deviations) and the columns' roles
(:mod:`custseg.quality._roles`), on up to three axes:

* **value**: the segment's total of its spend features against the average
  total; without spend features, of the other money amounts (balance,
  credit limit); without those, the mean z of the plain numbers
  (spend-per-category tables whose columns say nothing of money). With both,
  high other money raises a low or middling spend by one level.
* **engagement**: a vote of the count features (their total against the
  average), the frequency features (mean z), recency (the other way round)
  and tenure (half a vote).
* **means**: the total of the income features against the average.

A total is ``high`` at ``LEVEL_RATIO`` times the average or more and ``low``
at its inverse or less; a mean z is ``high`` at ``LEVEL_Z`` or more and
``low`` at ``-LEVEL_Z`` or less (the z form also serves callers that pass no
means). A table with engagement features uses the value x engagement
grid (``ENGAGEMENT_GRID``), with income, when distinctive, adding a sentence;
a table without them uses the value x means grid (``ACTION_GRID``, the mall
demo's). Every cell of each grid has its own action, so segments in different
places get different actions, and the result never depends on the order of
rules. A segment whose recency is high has lapsed, and gets a win-back action
instead, whatever its cell: ``LAPSED_ACTIONS[value == "high"]``. Age, when
distinctive, adds a channel hint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from custseg.profile._roles import role_of

__all__ = [
    "ACTION_GRID",
    "ENGAGEMENT_GRID",
    "LAPSED_ACTIONS",
    "LEVEL_RATIO",
    "LEVEL_Z",
    "Action",
    "suggest_action",
]

LEVEL_Z = 0.5


@dataclass(frozen=True)
class Action:
    """A suggested action: a short title and one or two sentences."""

    title: str
    text: str
    value: str
    means: str
    engagement: str = "mid"


# (value level, means level) -> (title, text)
ACTION_GRID: dict[tuple[str, str], tuple[str, str]] = {
    ("high", "high"): (
        "Reward and retain",
        "Your most valuable customers: offer a VIP or loyalty tier, premium lines "
        "and early access, and protect them from competitors.",
    ),
    ("high", "mid"): (
        "Deepen loyalty",
        "Valuable regulars: use loyalty rewards, personalised recommendations "
        "and referral incentives.",
    ),
    ("high", "low"): (
        "Keep engaged, mind affordability",
        "They spend above their means: reward them with points, bundles and "
        "value packs rather than credit or premium upsells.",
    ),
    ("mid", "high"): (
        "Upsell",
        "Room to grow: promote premium products and cross-sell based on past "
        "purchases.",
    ),
    ("mid", "mid"): (
        "Nurture",
        "The core of the base: keep in touch with regular newsletters, cross-sell "
        "and test offers that move them up.",
    ),
    ("mid", "low"): (
        "Offer value",
        "Price-aware customers: highlight value lines, bundles and seasonal discounts.",
    ),
    ("low", "high"): (
        "Win share of wallet",
        "They could spend far more: find out what holds them back and approach "
        "them with personalised premium offers and exclusive events.",
    ),
    ("low", "mid"): (
        "Re-engage",
        "Low engagement: send reactivation offers and ask for feedback on what "
        "would bring them back.",
    ),
    ("low", "low"): (
        "Serve efficiently",
        "Limited budget and spend: reach them through low-cost channels with "
        "targeted discounts; keep acquisition spending low.",
    ),
}


# (value level, engagement level) -> (title, text), for tables that say how
# often or how recently customers buy.
ENGAGEMENT_GRID: dict[tuple[str, str], tuple[str, str]] = {
    ("high", "high"): (
        "Reward and retain",
        "Your best customers, who spend and come back: offer a VIP or loyalty "
        "tier, early access and personal service, and protect them from "
        "competitors.",
    ),
    ("high", "mid"): (
        "Deepen loyalty",
        "Valuable customers with room to come back more often: loyalty "
        "rewards, personalised recommendations and referral incentives.",
    ),
    ("high", "low"): (
        "Bring them back more often",
        "They spend a lot when they buy, but rarely: reminders, subscriptions "
        "and replenishment offers timed to their buying cycle.",
    ),
    ("mid", "high"): (
        "Grow the basket",
        "Regulars of average spend: cross-sell and bundles that raise what "
        "each visit is worth.",
    ),
    ("mid", "mid"): (
        "Nurture",
        "The core of the base: keep in touch with regular newsletters, "
        "cross-sell and test offers that move them up.",
    ),
    ("mid", "low"): (
        "Re-engage",
        "Average spenders drifting away: send reactivation offers and ask for "
        "feedback on what would bring them back.",
    ),
    ("low", "high"): (
        "Raise order value",
        "Frequent, small purchases: volume discounts, free-delivery thresholds "
        "and premium trials to lift spend per order.",
    ),
    ("low", "mid"): (
        "Offer value",
        "Price-aware customers: highlight value lines, bundles and seasonal discounts.",
    ),
    ("low", "low"): (
        "Serve efficiently",
        "Low spend and low engagement: reach them through low-cost channels "
        "with targeted discounts; keep acquisition spending low.",
    ),
}


# Lapsed segments: (title, text) for valuable ones (True) and the others.
LAPSED_ACTIONS: dict[bool, tuple[str, str]] = {
    True: (
        "Win back",
        "Valuable customers who have stopped buying: contact them personally "
        "with a strong, personalised offer before they are lost.",
    ),
    False: (
        "Reactivate or let go",
        "Lapsed customers of modest value: try one low-cost reactivation "
        "campaign, then leave them out of paid campaigns.",
    ),
}


def _level(z: float | None) -> str:
    if z is None or math.isnan(z):
        return "mid"
    if z >= LEVEL_Z:
        return "high"
    if z <= -LEVEL_Z:
        return "low"
    return "mid"


def _mean(values: list[float]) -> float | None:
    clean = [v for v in values if not math.isnan(v)]
    return sum(clean) / len(clean) if clean else None


# A segment whose total of a kind of amount is this many times the average
# (or less than its inverse) is high (low) on that axis.
LEVEL_RATIO = 1.3


def _ratio_level(
    columns: list[str], mean: Mapping[str, float], overall: Mapping[str, float]
) -> str | None:
    """Level of the segment's total of ``columns`` against the average total
    (None when the totals are not positive amounts)."""
    seg = sum(mean.get(c, math.nan) for c in columns)
    base = sum(overall.get(c, math.nan) for c in columns)
    if not (math.isfinite(seg) and math.isfinite(base)) or base <= 0 or seg < 0:
        return None
    ratio = seg / base
    if ratio >= LEVEL_RATIO:
        return "high"
    if ratio <= 1 / LEVEL_RATIO:
        return "low"
    return "mid"


def _vote(levels: list[tuple[str, float]]) -> str:
    score = sum({"high": w, "low": -w}.get(level, 0.0) for level, w in levels)
    return "high" if score > 0 else "low" if score < 0 else "mid"


def suggest_action(
    z: Mapping[str, float],
    roles: Mapping[str, str] | None = None,
    mean: Mapping[str, float] | None = None,
    overall: Mapping[str, float] | None = None,
) -> Action:
    """The action for a segment with these z-scores (``roles``: column ->
    role, guessed from the names when not given). With the segment's
    ``mean`` and the ``overall`` mean of each feature, amounts are compared
    as totals: a segment spending 1.6x the average on wine and meat together
    is high on value, however its spend splits between them.

    Examples
    --------
    >>> suggest_action({"Annual Income (k$)": 1.0, "Spending Score (1-100)": -1.2}).title
    'Win share of wallet'
    >>> suggest_action({"Age": -1.0, "Spending Score (1-100)": 1.0}).text.endswith(
    ...     "mobile and social channels.")
    True
    >>> suggest_action({"MntWines": 1.2, "NumWebPurchases": -0.9}).title
    'Bring them back more often'
    """
    roles = {col: (roles or {}).get(col) or role_of(col) for col in z}
    mean, overall = mean or {}, overall or {}

    def of(*wanted: str) -> list[str]:
        return [c for c, r in roles.items() if r in wanted]

    def z_level(columns: list[str], sign: float = 1.0) -> str:
        return _level(_mean([sign * z[c] for c in columns]))

    def axis(columns: list[str]) -> str | None:
        if not columns:
            return None
        by_ratio = _ratio_level(columns, mean, overall) if mean else None
        return by_ratio or z_level(columns)

    # Money spent first; other money (balance, credit limit) stands in
    # without it, and with it raises a value one level when it is high
    # (customers who hold large balances are worth something, spend or not).
    spend, money = axis(of("spend")), axis(of("money"))
    value = spend or money or z_level(of("number"))
    if spend and money == "high" and spend != "high":
        value = "mid" if spend == "low" else "high"
    means = axis(of("income")) or "mid"
    # How often and how recently they buy count fully; how long they have
    # been customers, half (a long-standing customer may have gone quiet).
    parts = [
        (axis(of("count")), 1.0),
        (z_level(of("frequency")) if of("frequency") else None, 1.0),
        (axis(of("tenure")), 0.5),
        (z_level(of("recency"), -1.0) if of("recency") else None, 1.0),
    ]
    engaged = [(p, w) for p, w in parts if p is not None]
    if engaged:
        level = _vote(engaged)
        title, text = ENGAGEMENT_GRID[(value, level)]
        if means == "high":
            text += " Their income leaves room for premium lines."
        elif means == "low":
            text += " Mind affordability: favour value over credit."
    else:
        level = "mid"
        title, text = ACTION_GRID[(value, means)]
    if z_level(of("recency")) == "high":
        title, text = LAPSED_ACTIONS[value == "high"]
    age = _level(_mean([z[c] for c in of("age")] + [-z[c] for c in of("birth_year")]))
    if age == "low":
        text += " Reach them on mobile and social channels."
    elif age == "high":
        text += " Favour email, direct mail and in-store service."
    return Action(title, text, value, means, level)
